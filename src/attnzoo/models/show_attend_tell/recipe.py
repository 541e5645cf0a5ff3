"""How Show, Attend and Tell trains and is measured on generated scenes (:mod:`attnzoo.tasks.scenes`).

Every epoch draws new training scenes (``train_size`` of them, seeded by the run's seed and the
epoch) and one random paraphrase of each: by default (``order="reading"``) one of those that name
the objects in reading order, top row first, left to right. With any order (``"any"``), the
teacher's caption picks at random which object comes next, and the attention for an object's
size and colour words is computed before the decoder has read any word naming that object (the
query ``h_{t-1}`` has read the words up to ``t − 2``, eq. 4), so α hedges over the objects. The
losses, per caption and averaged over the batch:

- soft attention (§4.2, eq. 14):  ``-log p(y | a) + λ Σ_i (1 − Σ_t α_ti)²`` (default λ = 0: with
  ~15 words and L = 64 locations, any λ >= 0.02 measured here spreads α over the background);
- no attention:                   ``-log p(y | a)``;
- hard attention (§4.1, eqs. 11-12), the variational lower bound ``L_s`` with one sample of the
  locations ``s`` per caption:
  ``-log p(y | s, a)  −  λ_r (R − b) Σ_t log p(s_t | a)  −  λ_e Σ_t H[α_t]``,
  where the first term trains everything through the sampled contexts, the second (REINFORCE,
  through :func:`attnzoo.attention.reinforce_loss`) trains the attention MLP, and ``b`` is a
  moving average of the reward, ``b ← d b + (1 − d) mean(R)`` (kept in the checkpoints). For a random half
  of the images the model uses the expected context instead of a sample (the paper's trick; see
  :class:`HardShowAttendTell`), and those images have no REINFORCE term.

The reward ``R`` (``reward="caption"``): the paper's, the caption's log-likelihood under the
sampled locations, but per word (``log p(y | s, a) / |y|``), not summed: here captions are 4 to 21
words long with 1 to 3 objects, and a summed log-likelihood would mostly reward short captions,
whatever the locations (a variance the moving-average baseline cannot remove, since it is one
number). With ``reward="word"`` each location s_t earns only the log-likelihood of the word it
produced, as the authors' own code does (see :meth:`CaptionRecipe.reinforce`). Both come from the
same teacher-forced pass, so no caption has to be sampled (a sequence metric such as BLEU would
need one decoded caption per sample).

Metrics (:mod:`measures`): BLEU-1..4, object recall, BLEU-4 on 3-object scenes, and for the
attention models attention correctness, its uniform reference, argmax-in-box and coverage; the
``"test"`` split also measures the held-out colour-shape pairs (``novel_*``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from attnzoo.attention import reinforce_loss
from attnzoo.models.show_attend_tell import measures
from attnzoo.models.show_attend_tell.model import CaptionModel, doubly_stochastic_penalty
from attnzoo.recipes.base import Command, Recipe, Training, device_of, evaluating, shuffled_batches, split_seed
from attnzoo.tasks import scenes
from attnzoo.tasks.vocab import BOS_ID, EOS_ID, PAD_ID, Vocabulary

EVAL_BATCH = 200  # images per evaluation batch


@dataclass(frozen=True)
class CaptionTask:
    """The scenes, the loss weights and the decoding."""

    image_size: int = 48  # side of the square RGB scenes in pixels
    train_size: int = 20_000  # training scenes per epoch (new scenes every epoch)
    valid_size: int = 300  # validation scenes (1, 2 and 3 objects in equal shares)
    test_size: int = 600  # test scenes, and as many held-out-pair ("novel") scenes
    order: str = "reading"  # training captions: "reading" (objects named top row first, left to right) or "any"
    doubly_stochastic: float = 0.0  # λ of eq. (14) (soft attention); the paper's 1 keeps α spread here (README)
    reward_weight: float = 1.0  # λ_r of the REINFORCE term (hard attention)
    reward: str = "caption"  # hard: R of every location the caption's log p per word, or "word": its own word's
    entropy_weight: float = 0.01  # λ_e of the entropy bonus (hard attention)
    baseline_decay: float = 0.9  # d of the moving-average baseline b <- d b + (1 - d) mean(R) (hard)
    beam: int = 1  # beam size of the evaluation's captions (1: greedy)

    def __post_init__(self) -> None:
        checks = {
            "image_size": self.image_size >= 12,
            "train_size": self.train_size >= 1,
            "valid_size": self.valid_size >= 1,
            "test_size": self.test_size >= 1,
            "baseline_decay": 0 <= self.baseline_decay < 1,
            "beam": self.beam >= 1,
            "order": self.order in ("reading", "any"),
            "reward": self.reward in ("caption", "word"),
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"show-attend-tell task {name}: got {getattr(self, name)!r}, which is out of range")


class SceneStream(Dataset):
    """``size`` training scenes, new every epoch: item ``i`` of epoch ``e`` is scene ``(seed, e, i)``.

    An item is ``(image (S, S, 3) uint8 tensor, token ids of one random paraphrase)``: of those
    that name the objects in reading order (``order="reading"``), or of all (``"any"``).
    """

    def __init__(self, size: int, seed: int, image_size: int, vocabulary: Vocabulary, order: str = "any") -> None:
        self.size, self.seed, self.image_size, self.vocabulary, self.epoch = size, seed, image_size, vocabulary, 0
        self.order = order

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[Tensor, list[int]]:
        rng = scenes.scene_rng(self.seed, index, self.epoch)
        scene = scenes.generate_scene(rng, image_size=self.image_size)
        allowed = scene.reading_order() if self.order == "reading" else range(len(scene.captions))
        words = scene.captions[allowed[int(rng.integers(len(allowed)))]]
        return torch.from_numpy(scene.image), self.vocabulary.encode(words, add_eos=False)


@dataclass
class SceneData:
    """A run's scenes: the training stream and the fixed evaluation scenes (built on first use)."""

    vocabulary: Vocabulary
    image_size: int
    seed: int
    sizes: dict[str, int]  # scenes of each fixed split
    train: SceneStream
    fixed: dict[str, list[scenes.Scene]] = field(default_factory=dict)

    def split(self, name: str) -> list[scenes.Scene]:
        """The fixed scenes of ``"train"``, ``"valid"``, ``"test"`` or ``"novel"`` (held-out pairs)."""
        if name not in self.fixed:
            seed = split_seed("test" if name == "novel" else name, self.seed) + (7 if name == "novel" else 0)
            kind = "novel" if name == "novel" else "train"
            count = self.sizes.get(name, self.sizes["test"])
            self.fixed[name] = scenes.generate_scenes(count, seed, image_size=self.image_size, split=kind)
        return self.fixed[name]


def images_tensor(images: list[Tensor] | np.ndarray) -> Tensor:
    """uint8 images ``(B, S, S, 3)`` -> the model's float input ``(B, 3, S, S)`` in [0, 1]."""
    stacked = torch.stack(list(images)) if isinstance(images, list) else torch.tensor(np.asarray(images))
    return stacked.permute(0, 3, 1, 2).float() / 255


MAX_CAPTION = 24  # the most words a generated caption may have


@torch.no_grad()
def caption_images(model: CaptionModel, images: np.ndarray) -> Any:
    """Greedy captions of uint8 images ``(N, S, S, 3)`` in eval mode: the decoder's output (tokens, α)."""
    with evaluating(model):
        return model.generate(images_tensor(images).to(device_of(model)), max_len=MAX_CAPTION)


def caption_batch(ids: list[list[int]]) -> tuple[Tensor, Tensor]:
    """Teacher-forcing inputs ``<bos> w..`` and targets ``w.. <eos>``, both ``(B, T)`` padded with PAD_ID."""
    longest = max(len(item) for item in ids) + 1
    inputs = torch.full((len(ids), longest), PAD_ID, dtype=torch.long)
    targets = torch.full((len(ids), longest), PAD_ID, dtype=torch.long)
    for row, item in enumerate(ids):
        inputs[row, : len(item) + 1] = torch.tensor([BOS_ID, *item])
        targets[row, : len(item) + 1] = torch.tensor([*item, EOS_ID])
    return inputs, targets


def collate(items: list[tuple[Tensor, list[int]]]) -> tuple[Tensor, Tensor, Tensor]:
    """``(images (B, 3, S, S), inputs (B, T), targets (B, T))``."""
    inputs, targets = caption_batch([ids for _, ids in items])
    return images_tensor([image for image, _ in items]), inputs, targets


class CaptionRecipe(Recipe):
    """Soft, hard and no attention on :mod:`attnzoo.tasks.scenes` (see the module docstring)."""

    Task = CaptionTask
    training = Training(steps=3_000, batch_size=64, lr=3e-3, val_every=500, checkpoint_every=500)
    selection = ("bleu4", "max")
    keep_best = True

    def build_task(self, seed: int) -> SceneData:
        vocabulary, settings = Vocabulary(scenes.WORDS), self.settings
        stream = SceneStream(
            settings.train_size, split_seed("train", seed), settings.image_size, vocabulary, settings.order
        )
        sizes = {"train": settings.valid_size, "valid": settings.valid_size, "test": settings.test_size}
        return SceneData(vocabulary, settings.image_size, seed, sizes, stream)

    def task_documents(self, task: SceneData) -> dict[str, Any]:
        return {"vocabulary": list(task.vocabulary)}

    def sized_config(self, config: Any, task: SceneData) -> Any:
        import dataclasses

        return dataclasses.replace(config, vocab_size=len(task.vocabulary), image_size=task.image_size)

    def train_batches(self, task: SceneData, batch_size: int, seed: int) -> Any:
        generator = torch.Generator().manual_seed(seed)
        return shuffled_batches(task.train, batch_size, seed, collate_fn=collate, drop_last=True, generator=generator)

    def on_epoch_start(self, task: SceneData, epoch: int) -> None:
        task.train.epoch = epoch  # new scenes, and torch's draws (hard attention) from (seed, epoch)
        torch.manual_seed(task.seed * 1_000_003 + epoch)

    # ---- training ------------------------------------------------------------------------------

    def loss(self, model: CaptionModel, batch: Any, state: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        images, inputs, targets = batch
        output = model(images, inputs)
        mask = targets != PAD_ID  # (B, T)
        word_log_probs = output.log_probs.gather(-1, targets[..., None]).squeeze(-1) * mask  # (B, T)
        nll = -word_log_probs.sum(dim=1)  # -log p(y | a): (B,)
        logs = {"nll_per_word": nll.sum().detach() / mask.sum()}
        loss = nll.mean()
        if model.config.attention == "soft" and self.settings.doubly_stochastic:
            penalty = doubly_stochastic_penalty(output.weights, mask).mean()  # eq. (14)
            loss = loss + self.settings.doubly_stochastic * penalty
            logs["penalty"] = penalty.detach()
        if model.config.attention == "hard":
            reinforce, entropy, reward = self.reinforce(output, word_log_probs, mask, state)
            loss = loss + reinforce - self.settings.entropy_weight * entropy
            logs |= {"reward": reward, "entropy": entropy.detach()}
        return loss, logs

    def reinforce(self, output: Any, word_log_probs: Tensor, mask: Tensor, state: dict[str, Tensor]) -> tuple:
        """Eq. (12)'s location term with the moving-average baseline: ``(loss, mean Σ_t H, mean R)``.

        ``reward="caption"``: every location s_t of a caption shares R = its mean log p(y_t | s, a)
        per word, the loss ``-(R - b) Σ_t log p(s_t | a)``. ``"word"``: s_t earns the log-likelihood of
        the word it produced, R_t = log p(y_t | s, a), the loss ``-Σ_t (R_t - b) log p(s_t | a)`` (the
        authors' code, arctic-captions, does so by default: each location answers for its own word,
        not for the other words' luck). ``b`` tracks the batches' mean R (of the captions; of the words).
        """
        if self.settings.reward == "word":
            reward = (word_log_probs.sum() / mask.sum()).detach()  # mean R_t over the batch's words
            baseline = state.get("baseline", reward).to(reward.device)  # b (the first batch starts it)
            advantage = (word_log_probs.detach() - baseline) * mask  # R_t - b: (B, T)
            loss = -(advantage * output.log_pi).sum(dim=1).mean()  # -Σ_t (R_t - b) log p(s_t | a), mean over B
        else:
            per_caption = (word_log_probs.sum(dim=1) / mask.sum(dim=1)).detach()  # R: (B,)
            reward = per_caption.mean()
            baseline = state.get("baseline", reward).to(reward.device)  # b (the first batch starts it)
            log_pi = (output.log_pi * mask).sum(dim=1)  # Σ_t log p(s_t | a): (B,)
            loss = reinforce_loss(log_pi, per_caption - baseline)  # -(R - b) log p(s)
        decay = self.settings.baseline_decay
        state["baseline"] = (decay * baseline + (1 - decay) * reward).detach().cpu()
        entropy = (output.entropy * mask).sum(dim=1).mean()  # Σ_t H[α_t]
        return self.settings.reward_weight * loss, entropy, reward

    # ---- measuring -----------------------------------------------------------------------------

    @torch.no_grad()
    def describe(self, model: CaptionModel, task: SceneData, items: list[scenes.Scene]) -> dict[str, Any]:
        """Captions (word lists) and their α ``(N, T, L)``; the teacher-forced α of caption 0 too."""
        device, (words, alphas, forced, lengths) = device_of(model), ([], [], [], [])
        with evaluating(model):
            for start in range(0, len(items), EVAL_BATCH):
                chunk = items[start : start + EVAL_BATCH]
                images = images_tensor(np.stack([item.image for item in chunk])).to(device)
                decoded = model.generate(images, max_len=MAX_CAPTION, beam_size=self.settings.beam)
                words += [task.vocabulary.decode(row) for row in decoded.tokens.tolist()]
                inputs, targets = caption_batch(
                    [task.vocabulary.encode(item.captions[0], add_eos=False) for item in chunk]
                )
                output = model(images, inputs.to(device))
                if output.weights is not None:
                    alphas += list(decoded.alignments.cpu().numpy())
                    forced += list(output.weights.cpu().numpy())
                    lengths += (targets != PAD_ID).sum(dim=1).tolist()
        return {"words": words, "alphas": alphas, "forced": forced, "lengths": lengths}

    def measure(self, model: CaptionModel, task: SceneData, items: list[scenes.Scene]) -> dict[str, float]:
        """The metrics of the module docstring on ``items``."""
        seen = self.describe(model, task, items)
        hypotheses = [" ".join(words) for words in seen["words"]]
        metrics = measures.bleu_scores(hypotheses, [[" ".join(c) for c in item.captions] for item in items])
        metrics["object_recall"] = measures.object_recall(seen["words"], items)
        three = [index for index, item in enumerate(items) if len(item.objects) == 3]
        if three:
            references = [[" ".join(c) for c in items[index].captions] for index in three]
            metrics["bleu4_3objects"] = measures.bleu_scores([hypotheses[i] for i in three], references)["bleu4"]
        if seen["forced"]:
            longest = max(len(item) for item in seen["forced"])
            forced = np.stack([np.pad(item, ((0, longest - len(item)), (0, 0))) for item in seen["forced"]])
            metrics |= measures.attention_correctness(forced, items, task.image_size)
            metrics |= measures.coverage(forced, np.asarray(seen["lengths"]))
        return metrics

    def evaluate(self, model: nn.Module, task: SceneData, split: str) -> dict[str, float]:
        """The metrics on ``split``; ``"test"`` adds the held-out-pair scenes' as ``novel_*``."""
        metrics = self.measure(model, task, task.split(split))
        if split == "test":
            novel = self.measure(model, task, task.split("novel"))
            metrics |= {f"novel_{key}": value for key, value in novel.items()}
        return metrics

    # ---- pictures and the caption command ------------------------------------------------------

    def pictures(self, config: Any = None) -> dict[str, Any]:
        return {} if config is not None and config.attention == "none" else {"words": self.draw_words}

    def draw_words(self, model: CaptionModel, task: SceneData, path: Path, count: int = 4) -> None:
        """The first ``count`` 3-object test scenes: each word's α over the image (Xu et al. Fig. 2-3)."""
        chosen = [item for item in task.split("test") if len(item.objects) == 3][:count]
        self.draw_images(model, task, np.stack([item.image for item in chosen]), path)

    def draw_images(self, model: CaptionModel, task: SceneData, images: np.ndarray, path: Path) -> list[list[str]]:
        """Caption uint8 images ``(N, S, S, 3)``, draw each word's α (and hard attention's location) to ``path``."""
        from attnzoo.viz.captions import plot_word_attention

        decoded = caption_images(model, images)
        words = [task.vocabulary.decode(row) for row in decoded.tokens.tolist()]
        grid = model.config.grid
        alphas = (
            None
            if decoded.alignments is None
            else decoded.alignments.cpu().numpy().reshape(len(images), -1, grid, grid)
        )
        plot_word_attention(images, words, alphas, path, mark_argmax=model.config.attention == "hard")
        return words

    def commands(self) -> dict[str, Command]:
        return {
            "caption": Command(
                self.caption, ("IMAGE",), "Caption a PNG image (resized to the run's size).", self.write_example
            )
        }

    def caption(self, model: CaptionModel, task: SceneData, arguments: list[str], out: Path | None) -> str:
        """The caption of the image file ``arguments[0]``; with ``out``, each word's attention drawn there."""
        image = scenes.read_image(Path(arguments[0]), task.image_size)
        if out is not None:
            words = self.draw_images(model, task, image[None], out)[0]
            return " ".join(words) + f"\n(each word's attention drawn to {out})"
        decoded = caption_images(model, image[None])
        return " ".join(task.vocabulary.decode(decoded.tokens[0].tolist()))

    explore_input = "image"
    probes = 3  # 3-object test scenes the formation record follows

    @torch.no_grad()
    def attention_views(self, model: CaptionModel, task: SceneData, inputs: list[str] | None = None) -> list[dict]:
        """Each word's α over the image's grid (Xu et al. Fig. 2-3): of the generated caption of each
        PNG file ``inputs``, or (the probes) of the first 3-object test scenes' reference caption,
        teacher-forced, with the box of the object each word names as gold (the recipe's
        argmax-in-box measure). A model without attention has no view."""
        from attnzoo.explorer.views import image_view

        if model.config.attention == "none":
            return []
        if inputs is None:
            return self.reference_views(model, task)
        images = np.stack([scenes.read_image(Path(path), task.image_size) for path in inputs])
        decoded = caption_images(model, images)
        grid, views = model.config.grid, []
        for number, row in enumerate(decoded.tokens.tolist()):
            words = task.vocabulary.decode(row)
            alphas = decoded.alignments[number, : len(words)].cpu().view(len(words), grid, grid)  # (T, grid, grid)
            pixels = images_tensor(images[number : number + 1])[0]  # (3, S, S)
            views.append(image_view(pixels, words, maps=list(alphas), title=" ".join(words) or "(no word)"))
        return views

    def reference_views(self, model: CaptionModel, task: SceneData) -> list[dict]:
        """The probes of :meth:`attention_views`: reference captions teacher-forced, gold object boxes."""
        from attnzoo.explorer.views import image_view

        chosen = [item for item in task.split("test") if len(item.objects) == 3][: self.probes]
        images = images_tensor(np.stack([item.image for item in chosen]))
        inputs, _ = caption_batch([task.vocabulary.encode(item.captions[0], add_eos=False) for item in chosen])
        with evaluating(model):
            weights = model(images.to(device_of(model)), inputs.to(device_of(model))).weights.cpu()  # (N, T, L)
        grid, views = model.config.grid, []
        for number, item in enumerate(chosen):
            words = [*item.captions[0], "<eos>"]  # α of step t produced word t
            boxes = [item.objects[link].box if link >= 0 else None for link in [*item.links[0], -1]]
            gold = [None if box is None else [box[0], box[1], box[2] - box[0], box[3] - box[1]] for box in boxes]
            maps = list(weights[number, : len(words)].view(len(words), grid, grid))
            title = f"reference: {' '.join(item.captions[0])} (teacher-forced; gold: the named object's box)"
            views.append(image_view(images[number], words, maps=maps, gold=gold, title=title))
        return views

    def write_example(self, task: SceneData, arguments: list[str]) -> None:
        """A 3-object test scene as a PNG at ``arguments[0]``."""
        from PIL import Image

        scene = next(item for item in task.split("test") if len(item.objects) == 3)
        Image.fromarray(scene.image).save(arguments[0])

    def example(self) -> tuple[dict[str, Any], dict[str, Any]]:
        model = {
            "channels": (4, 4),
            "kernels": (4, 2),
            "strides": (2, 2),
            "embed_dim": 8,
            "hidden_size": 8,
            "attention_dim": 8,
        }
        return model, {"image_size": 24, "train_size": 16, "valid_size": 6, "test_size": 6}


RECIPE = CaptionRecipe
