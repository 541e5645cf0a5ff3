"""How the self-attentive classifier trains and is measured: generated reviews or feature routing.

- Loss: cross-entropy, plus ``penalty · ||A A^T - I||_F^2`` averaged over the batch (Lin et al.
  2017, §2.2) for structured attention (a multi-dimensional model has no hops to penalise).
- Metrics: ``accuracy`` (%), ``penalty`` (the mean ``||A A^T - I||_F^2``) and, with ``r >= 2``
  hops, ``overlap``: the mean ``sum_t min(A_it, A_jt)`` over pairs of hops (0 = disjoint, 1 = the
  same). Routing also measures ``routed`` (%): the attention's top tokens include both marked
  tokens (structured: the hops' top tokens, or a single hop's two top tokens; multidim: the top
  token of the colour features is the colour-marked one and that of the shape features the
  shape-marked one).
- Picture ``hops``: the first test example's hops over its tokens (Lin et al. Fig. 2); for
  multi-dimensional attention, the weights of each input field's features.

Reviews are read flat (every word of a review in one sequence, :func:`attnzoo.tasks.reviews.flatten_documents`).
Shape legend: ``N`` examples, ``T`` tokens, ``F`` fields, ``r`` hops.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import TensorDataset

from attnzoo.attention import attention_penalty, hop_overlap
from attnzoo.models.han.recipe import ReviewSplits, ReviewTask
from attnzoo.models.self_attentive.model import SelfAttentive, SelfAttentiveConfig, SelfAttentiveOutput
from attnzoo.recipes.base import Recipe, Training, device_of, evaluating, shuffled_batches, split_seed
from attnzoo.tasks.reviews import CLASSES, flatten_documents
from attnzoo.tasks.routing import FIELDS, describe_token, field_size, generate_routing

EVAL_BATCH = 250  # examples per forward pass when evaluating


@dataclass(frozen=True)
class SelfAttentiveTask:
    """Which problem, the penalty, and the sizes of the data."""

    problem: str = "reviews"  # "reviews" (generated, read flat) or "routing" (feature bundles)
    penalty: float = 0.0  # coefficient of ||A A^T - I||_F^2 in the loss (Lin et al. 2017 §2.2 use 1.0)
    length: int = 10  # routing: tokens per sequence
    values: int = 8  # routing: values of colour, shape and size (= the classes)
    min_sentences: int = 8  # reviews: fewest sentences
    max_sentences: int = 30  # reviews: most sentences
    train_size: int = 10_000  # training examples
    eval_size: int = 1_000  # validation and test examples each

    def __post_init__(self) -> None:
        if self.problem not in ("reviews", "routing"):
            raise ValueError(f"problem: expected 'reviews' or 'routing', got {self.problem!r}")
        if self.penalty < 0:
            raise ValueError(f"penalty: expected >= 0, got {self.penalty}")


@dataclass(frozen=True)
class Examples:
    """One split: ``inputs`` ``(N, T)`` or ``(N, T, F)``, ``labels`` ``(N,)``, and for routing the
    marked positions ``marked`` ``(N, 2)`` (colour token, shape token)."""

    inputs: Tensor
    labels: Tensor
    marked: Tensor | None = None


class SelfAttentiveData:
    """The splits of one run, generated on first use from ``split_seed(split, seed)``."""

    def __init__(self, settings: SelfAttentiveTask, seed: int) -> None:
        self.settings, self.seed = settings, seed
        fields = {field.name for field in dataclasses.fields(ReviewTask)}
        self.reviews = ReviewSplits(ReviewTask(**{k: v for k, v in vars(settings).items() if k in fields}), seed)
        self.splits: dict[str, Examples] = {}

    def split(self, name: str) -> Examples:
        if name not in self.splits:
            s = self.settings
            if s.problem == "reviews":
                data = self.reviews.split(name)
                self.splits[name] = Examples(flatten_documents(data.words)[0], data.labels)
            else:
                count = s.train_size if name == "train" else s.eval_size
                data = generate_routing(count, s.length, s.values, split_seed(name, self.seed))
                self.splits[name] = Examples(
                    data.tokens, data.labels, torch.stack([data.colour_token, data.shape_token], 1)
                )
        return self.splits[name]


@torch.no_grad()
def predict(model: SelfAttentive, inputs: Tensor) -> SelfAttentiveOutput:
    """``model``'s outputs for ``inputs``, in batches on its device, on the CPU."""
    device = device_of(model)
    with evaluating(model):
        parts = [model(inputs[lo : lo + EVAL_BATCH].to(device)) for lo in range(0, len(inputs), EVAL_BATCH)]
    fields = [[getattr(part, name) for part in parts] for name in SelfAttentiveOutput._fields]
    return SelfAttentiveOutput(*(None if items[0] is None else torch.cat(items).cpu() for items in fields))


def routed(output: SelfAttentiveOutput, marked: Tensor, embed_dim: int) -> Tensor:
    """``(N,)`` bool: the attention's top tokens include both marked tokens (see the module doc)."""
    if output.feature_weights is not None:  # colour features: the first embed_dim, shape: the next
        colour = output.feature_weights[..., :embed_dim].mean(-1).argmax(1)
        shape = output.feature_weights[..., embed_dim : 2 * embed_dim].mean(-1).argmax(1)
        return (colour == marked[:, 0]) & (shape == marked[:, 1])
    hops = output.weights.size(1)
    tops = output.weights[:, 0].topk(2).indices if hops == 1 else output.weights.argmax(dim=-1)  # (N, 2 or r)
    return (tops == marked[:, :1]).any(1) & (tops == marked[:, 1:]).any(1)


class SelfAttentiveRecipe(Recipe):
    """Cross-entropy (+ Lin's penalty); accuracy, penalty, hop overlap and, on routing, the tokens found."""

    Task = SelfAttentiveTask
    training = Training(steps=1_500, batch_size=64, lr=2e-3, val_every=250, checkpoint_every=250)
    selection = ("accuracy", "max")
    keep_best = True

    def build_task(self, seed: int) -> SelfAttentiveData:
        return SelfAttentiveData(self.settings, seed)

    def sized_config(self, config: SelfAttentiveConfig, task: SelfAttentiveData) -> SelfAttentiveConfig:
        if self.settings.problem == "reviews":
            sizes = {"vocab_size": len(task.reviews.vocabulary), "fields": 1, "classes": CLASSES}
        else:
            values = self.settings.values
            sizes = {"vocab_size": field_size(values), "fields": len(FIELDS), "classes": values}
        return dataclasses.replace(config, **sizes)

    def train_batches(self, task: SelfAttentiveData, batch_size: int, seed: int):
        data = task.split("train")
        return shuffled_batches(TensorDataset(data.inputs, data.labels), batch_size, seed)

    def loss(self, model: SelfAttentive, batch: list[Tensor], state: dict[str, Tensor]) -> tuple[Tensor, dict]:
        inputs, labels = batch
        output = model(inputs)
        loss = F.cross_entropy(output.logits, labels)
        if output.feature_weights is not None:
            return loss, {}
        penalty = attention_penalty(output.weights).mean()  # Lin et al. §2.2
        return loss + self.settings.penalty * penalty, {"penalty": penalty.detach()}

    def evaluate(self, model: SelfAttentive, task: SelfAttentiveData, split: str) -> dict[str, float]:
        data = task.split(split)
        output = predict(model, data.inputs)
        metrics = {"accuracy": float((output.logits.argmax(1) == data.labels).float().mean() * 100)}
        if output.feature_weights is None:
            metrics["penalty"] = float(attention_penalty(output.weights).mean())
            if output.weights.size(1) >= 2:
                metrics["overlap"] = float(hop_overlap(output.weights).mean())
        if data.marked is not None:
            metrics["routed"] = float(routed(output, data.marked, model.config.embed_dim).float().mean() * 100)
        return metrics

    def pictures(self, config: Any = None) -> dict[str, Any]:
        return {"hops": self.draw_hops}

    def draw_hops(self, model: SelfAttentive, task: SelfAttentiveData, path: Path) -> None:
        """The first test example's attention: hops (rows) over tokens, or each field's features."""
        from attnzoo.viz.evidence import plot_hops

        weights, labels, rows, title = self.hop_matrix(model, task)
        plot_hops(weights.numpy(), labels, path, rows=rows, title=title)

    def attention_views(self, model: SelfAttentive, task: SelfAttentiveData, inputs: list[str] | None = None) -> list:
        """The first test example's attention as an alignment: hops (or fields) over its tokens."""
        from attnzoo.explorer.views import alignment_view

        if inputs is not None:
            raise ValueError("a self-attentive run shows its first test example: it takes no typed input here")
        weights, labels, rows, title = self.hop_matrix(model, task)
        rows = rows or [f"hop {hop + 1}" for hop in range(weights.size(0))]
        return [alignment_view(weights, labels, rows, title=title)]

    def hop_matrix(self, model: SelfAttentive, task: SelfAttentiveData) -> tuple[Tensor, list[str], list | None, str]:
        """The first test example's weights ``(rows, T)``, its token labels, the row labels (None:
        hops) and a title."""
        inputs = task.split("test").inputs[:1]
        output = predict(model, inputs)
        if self.settings.problem == "routing":
            labels = [describe_token(token) for token in inputs[0]]
        else:
            labels = task.reviews.vocabulary.decode(inputs[0].tolist())
        weights, rows = output.weights[0, :, : len(labels)], None
        if output.feature_weights is not None:  # (T, F * E) -> per field (F, T)
            E = model.config.embed_dim
            weights = output.feature_weights[0, : len(labels)].unflatten(-1, (-1, E)).mean(-1).T
            rows = list(FIELDS[: weights.size(0)]) if self.settings.problem == "routing" else None
        return weights, labels, rows, f"label {int(task.split('test').labels[0])}"

    def example(self) -> tuple[dict[str, Any], dict[str, Any]]:
        model = {"embed_dim": 4, "hidden": 4, "attention_dim": 4, "hops": 2, "mlp": 8}
        return model, {"min_sentences": 2, "max_sentences": 4, "length": 4, "train_size": 32, "eval_size": 8}


RECIPE = SelfAttentiveRecipe
