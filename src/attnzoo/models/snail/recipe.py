"""How SNAIL, its ablations and ProtoNet train and are measured on few-shot episodes (Mishra et al. 2018, §5.1).

Training: batches of episodes drawn from the training classes of :mod:`attnzoo.tasks.glyphs`, new
ones every epoch (a new font and distortion for every drawing); the loss is the cross-entropy of
the query's label. Evaluation: ``episodes`` fixed episodes of the split's classes (seeded by
``split_seed``), disjoint from the training classes: the accuracy (%) with its 95% confidence
interval, ``1.96 · sqrt(p (1 - p) / episodes)`` (one query per episode, as the paper), and for
each attention block the share of the query's attention over the support set that lands on
support items of the query's own class (``same_class_a1``, ``a2``, ...; chance: ``1 / N``).
``--task dataset=digits`` evaluates on scikit-learn's handwritten digits instead.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, IterableDataset

from attnzoo.models.snail.model import FewShotOutput
from attnzoo.recipes.base import Recipe, Training, device_of, evaluating, split_seed, to_device
from attnzoo.tasks import fewshot
from attnzoo.tasks.fewshot import EpisodeBatch

EPOCH_BATCHES = 100  # batches of episodes per training epoch
EVAL_BATCH = 100  # episodes per evaluation batch


@dataclass(frozen=True)
class FewShotTask:
    """Which episodes: the data, N and K, and how many are measured."""

    dataset: str = "glyphs"  # "glyphs" (disjoint train/valid/test classes) or "digits" (scikit-learn's, 10 classes)
    ways: int = 5  # N: classes per episode
    shots: int = 1  # K: labelled examples of each class in the support set
    episodes: int = 1000  # evaluation episodes per split (the 95% interval is over these)

    def __post_init__(self) -> None:
        if self.dataset not in fewshot.DATASETS:
            raise ValueError(f"task dataset: expected one of {', '.join(fewshot.DATASETS)}, got {self.dataset!r}")
        if self.ways < 2 or self.shots < 1 or self.episodes < 1:
            raise ValueError(
                f"task ways, shots, episodes: expected >= 2, >= 1, >= 1; got {self.ways}, {self.shots}, {self.episodes}"
            )


class FewShotData:
    """The pools of one run, built on first use, and the training stream."""

    def __init__(self, settings: FewShotTask, seed: int) -> None:
        self.settings, self.seed = settings, seed
        self.pools: dict[str, Any] = {}
        self.stream: EpisodeStream | None = None
        self.fixed: dict[str, EpisodeBatch] = {}

    def pool(self, split: str) -> Any:
        if split not in self.pools:
            self.pools[split] = fewshot.make_pool(self.settings.dataset, split)
        return self.pools[split]

    def episodes(self, split: str) -> EpisodeBatch:
        """The fixed evaluation episodes of ``split`` (``settings.episodes`` of them, seeded by ``split_seed``)."""
        if split not in self.fixed:
            generator = torch.Generator().manual_seed(split_seed(split, self.seed))
            settings = self.settings
            self.fixed[split] = fewshot.sample_episodes(
                self.pool(split), settings.ways, settings.shots, settings.episodes, generator
            )
        return self.fixed[split]


class EpisodeStream(IterableDataset):
    """``EPOCH_BATCHES`` batches of training episodes; epoch ``e`` from the generator seeded ``(seed, e)``."""

    def __init__(self, data: FewShotData, batch_size: int, seed: int) -> None:
        self.data, self.batch_size, self.seed, self.epoch = data, batch_size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return EPOCH_BATCHES

    def __iter__(self) -> Iterator[EpisodeBatch]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        settings, pool = self.data.settings, self.data.pool("train")
        for _ in range(EPOCH_BATCHES):
            yield fewshot.sample_episodes(pool, settings.ways, settings.shots, self.batch_size, generator)


def same_class_share(weights: Tensor, batch: EpisodeBatch) -> Tensor:
    """``(B,)``: of the query's attention on the support items, the share on items of the query's class.

    Args:
        weights: ``(B, T, T)`` one attention block's weights (``T = S + 1``, the query last).
        batch: the episodes.
    """
    on_support = weights[:, -1, :-1]  # (B, S): the query's row, without its weight on itself
    same = batch.support_labels == batch.query_labels[:, None]  # (B, S)
    return (on_support * same).sum(-1) / on_support.sum(-1).clamp_min(1e-12)


@torch.no_grad()
def run_episodes(model: nn.Module, batch: EpisodeBatch) -> tuple[Tensor, list[Tensor]]:
    """Whether each episode's query is classified right ``(B,)`` and each attention block's same-class share."""
    device, correct, shares = device_of(model), [], []
    for start in range(0, len(batch.query_labels), EVAL_BATCH):
        chunk = EpisodeBatch(*(to_device(part[start : start + EVAL_BATCH], device) for part in batch))
        output: FewShotOutput = model(chunk.support, chunk.support_labels, chunk.query)
        correct.append((output.logits.argmax(-1) == chunk.query_labels).cpu())
        shares.append([same_class_share(weights, chunk).cpu() for weights in output.attention])
    return torch.cat(correct), [torch.cat(block) for block in zip(*shares, strict=True)]


class FewShotRecipe(Recipe):
    """SNAIL, TC-only, attention-only and ProtoNet on ``N``-way ``K``-shot episodes (one recipe, four presets)."""

    Task = FewShotTask
    training = Training(steps=3000, batch_size=32, lr=1e-3, val_every=500, checkpoint_every=500)
    selection = ("accuracy", "max")
    keep_best = True

    def build_task(self, seed: int) -> FewShotData:
        return FewShotData(self.settings, seed)

    def sized_config(self, config: Any, task: FewShotData) -> Any:
        """N and K come from the task."""
        return dataclasses.replace(config, ways=task.settings.ways, shots=task.settings.shots)

    def train_batches(self, task: FewShotData, batch_size: int, seed: int) -> DataLoader:
        task.stream = EpisodeStream(task, batch_size, seed)
        return DataLoader(task.stream, batch_size=None)

    def on_epoch_start(self, task: FewShotData, epoch: int) -> None:
        if task.stream is not None:
            task.stream.set_epoch(epoch)

    def loss(self, model: nn.Module, batch: Any, state: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        batch = EpisodeBatch(*batch)
        logits = model(batch.support, batch.support_labels, batch.query).logits  # (B, N)
        accuracy = (logits.argmax(-1) == batch.query_labels).float().mean()
        return F.cross_entropy(logits, batch.query_labels), {"accuracy": accuracy.detach()}

    def evaluate(self, model: nn.Module, task: FewShotData, split: str) -> dict[str, float]:
        """``accuracy`` (%), ``ci95`` (±, points) and ``same_class_aI`` (%) per attention block ``I``."""
        with evaluating(model):
            correct, shares = run_episodes(model, task.episodes(split))
        accuracy = float(correct.float().mean())
        metrics = {"accuracy": 100 * accuracy, "ci95": 100 * 1.96 * math.sqrt(accuracy * (1 - accuracy) / len(correct))}
        for index, share in enumerate(shares, start=1):
            metrics[f"same_class_a{index}"] = 100 * float(share.mean())
        return metrics

    def pictures(self, config: Any = None) -> dict[str, Any]:
        has_attention = config is None or (config.classifier == "snail" and "attention" in config.blocks)
        return {"episode": draw_episode} if has_attention else {}

    probes = 2  # test episodes the explorer shows and the formation record follows (the first ones)

    def attention_views(self, model: nn.Module, task: FewShotData, inputs: list[str] | None = None) -> list[dict]:
        """:func:`episode_views` of the first :attr:`probes` test episodes (TC-only and ProtoNet: none)."""
        if inputs is not None:
            raise ValueError("snail takes no typed input: its inputs are episodes of images")
        config = model.config
        attends = config.classifier == "snail" and "attention" in config.blocks
        return episode_views(model, task, self.probes) if attends else []

    def example(self) -> tuple[dict[str, Any], dict[str, Any]]:
        sizes = {"channels": 4, "key_sizes": (4, 4, 4), "value_sizes": (4, 4, 4), "tc_filters": 4}
        return sizes, {"ways": 3, "shots": 1, "episodes": 8}


@torch.no_grad()
def episode_views(model: nn.Module, task: FewShotData, count: int) -> list[dict[str, Any]]:
    """The first ``count`` test episodes: the query's attention of each block (a row) over the support
    items (labelled by their class) and itself; gold: the first support item of the query's class."""
    from attnzoo.explorer.views import alignment_view

    batch = task.episodes("test")
    chosen = EpisodeBatch(*(part[:count] for part in batch))
    with evaluating(model):
        output = model(*(to_device(part, device_of(model)) for part in chosen[:3]))
    pool, views = task.pool("test"), []
    for number in range(len(chosen.query_labels)):
        names = [pool.name(int(index)) for index in chosen.classes[number]]
        labels, query = chosen.support_labels[number].tolist(), int(chosen.query_labels[number])
        items = [f"{position}: {names[label]}" for position, label in enumerate(labels)] + ["query"]
        rows = torch.stack([block[number, -1].cpu() for block in output.attention])  # (blocks, T)
        blocks = [f"attention block {block + 1}" for block in range(len(rows))]
        guess = names[int(output.logits[number].argmax())]
        title = f"query: {names[query]}, answered {guess} (gold: the first support item of its class)"
        views.append(alignment_view(rows, items, blocks, title=title, gold=[labels.index(query)] * len(blocks)))
    return views


@torch.no_grad()
def draw_episode(model: nn.Module, task: FewShotData, path: Any) -> None:
    """The first test episode: the support images and the query, the query's attention of each block under them."""
    from attnzoo.viz.episodes import plot_episode

    batch = task.episodes("test")
    first = EpisodeBatch(*(part[:1] for part in batch))
    with evaluating(model):
        output = model(*(to_device(part, device_of(model)) for part in first[:3]))
    weights = torch.stack([block[0, -1].cpu() for block in output.attention])  # (blocks, T): the query's rows
    pool = task.pool("test")
    names = [pool.name(int(index)) for index in first.classes[0]]
    plot_episode(
        first.support[0, :, 0].numpy(),
        first.support_labels[0].tolist(),
        first.query[0, 0].numpy(),
        int(first.query_labels[0]),
        int(output.logits.argmax(-1)[0]),
        weights.numpy(),
        path,
        class_names=names,
    )


RECIPE = FewShotRecipe
