"""How Pointer Networks train and are measured: sorting, convex hull and TSP (Vinyals et al. 2015).

Two ways to train, chosen by the task settings:

- supervised (Vinyals et al. 2015, §4.4): maximise ``log p(C^P | P)`` of the target sequence
  (ascending order, hull vertices then the end input, the Held–Karp optimal tour) under teacher
  forcing;
- REINFORCE with a baseline (Bello et al. 2016, §4, eq. (4), TSP only, ``rl=True``):
  ``grad J = E[(L(pi) - b) grad log p(pi)]`` with tours ``pi`` sampled from the model and ``b``
  either the length of the model's own greedy tour (``baseline="greedy"``, self-critical: Rennie
  et al. 2017, Kool et al. 2019) or an exponential moving average of the sampled lengths
  (``baseline="ema"``, Bello et al. §4), kept in the recipe's training ``state`` (so in the
  checkpoints).

TSP instances are trained under a random symmetry of the unit square (``augment``): tour lengths
are unchanged and a reflection reverses the canonical target's direction.

Evaluation decodes greedily (and, except on the validation split run during training, with a beam
of ``beam``): TSP mean tour length, gap to the Held–Karp optimum in % and share of optimal tours
(Vinyals et al. Table 2), beside nearest-neighbour and random tours; sorting and hull: exact
accuracy in %, hull: area coverage in %. Picture: ``tours`` (TSP tours, convex hulls).

Shape legend: ``N`` instances, ``B`` batch, ``n`` inputs, ``F`` features, ``T`` output steps.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

from attnzoo.attention import reinforce_loss
from attnzoo.models.pointer.model import PointerConfig, PointerNet
from attnzoo.recipes.base import Recipe, Training, device_of, evaluating, shuffled_batches, split_seed
from attnzoo.tasks import geometry

PROBLEMS = ("sort", "hull", "tsp")
BASELINES = ("greedy", "ema")
PICTURE_COUNT = 8  # instances drawn by the ``tours`` picture
PROBES = 3  # test instances the explorer (and the formation record) shows


@dataclass(frozen=True)
class PointerTask:
    """The problem, its size and data, and how it is trained."""

    problem: str = "tsp"  # sort (numbers → ascending order), hull (points → convex hull) or tsp (cities → tour)
    n: int = 10  # inputs per instance (supervised tsp needs Held–Karp targets: n <= 12)
    train_size: int = 100_000  # training instances generated (and solved, for supervised tsp)
    eval_size: int = 1_000  # instances of the valid and test splits (and evaluated of the train split)
    beam: int = 8  # beam width evaluated beside greedy decoding (not on valid during training; 1: greedy only)
    rl: bool = False  # tsp: REINFORCE on tour length (Bello et al. 2016 eq. 4) instead of optimal targets
    baseline: str = "greedy"  # REINFORCE baseline: greedy (the model's greedy tour) or ema (moving average)
    baseline_decay: float = 0.8  # ema baseline: b <- decay · b + (1 - decay) · mean sampled length
    augment: bool = True  # tsp: train on random symmetries of the unit square (targets kept canonical)
    cache_dir: str | None = None  # folder where solved TSP sets are kept and reused (None: solve each time)

    def __post_init__(self) -> None:
        checks = {
            "problem": (self.problem in PROBLEMS, f"one of {', '.join(PROBLEMS)}"),
            "n": (self.n >= 2, ">= 2"),
            "train_size": (self.train_size >= 1, ">= 1"),
            "eval_size": (self.eval_size >= 1, ">= 1"),
            "beam": (self.beam >= 1, ">= 1"),
            "rl": (not self.rl or self.problem == "tsp", "False unless problem is tsp (the reward is a tour length)"),
            "baseline": (self.baseline in BASELINES, f"one of {', '.join(BASELINES)}"),
            "baseline_decay": (0 <= self.baseline_decay < 1, "in [0, 1)"),
        }
        for name, (ok, expected) in checks.items():
            if not ok:
                raise ValueError(f"pointer task {name}: expected {expected}, got {getattr(self, name)!r}")


@dataclass
class Instances:
    """One split as tensors: ``inputs`` ``(N, n, F)``; ``targets`` ``(N, T)`` (hull: padded with the
    end index ``n``; unsolved TSP: None); ``lengths`` ``(N,)`` target steps that count (hull: with the
    end); ``optimal`` ``(N,)`` optimal tour lengths (solved TSP), else None."""

    inputs: Tensor
    targets: Tensor | None
    lengths: Tensor
    optimal: Tensor | None = None

    def head(self, count: int) -> Instances:
        """The first ``count`` instances."""
        values = (getattr(self, item.name) for item in dataclasses.fields(self))
        return Instances(*(None if value is None else value[:count] for value in values))


def make_instances(settings: PointerTask, count: int, seed: int, solve: bool) -> Instances:
    """``count`` instances of ``settings.problem`` with ``settings.n`` inputs (TSP: Held–Karp solved if ``solve``)."""
    n = settings.n
    full = torch.full((count,), n, dtype=torch.long)
    if settings.problem == "sort":
        values, order = geometry.sort_instances(count, n, seed)
        return Instances(torch.from_numpy(values), torch.from_numpy(order), full)
    if settings.problem == "hull":
        points, targets, lengths = geometry.hull_instances(count, n, seed)
        return Instances(torch.from_numpy(points), torch.from_numpy(targets), torch.from_numpy(lengths))
    if not solve:
        return Instances(torch.from_numpy(geometry.tsp_instances(count, n, seed)), None, full)
    points, tours, optimal = geometry.tsp_dataset(count, n, seed, settings.cache_dir)
    return Instances(torch.from_numpy(points), torch.from_numpy(tours), full, torch.from_numpy(optimal))


class PointerData:
    """The splits of a pointer task for run seed ``seed``, each generated (and solved) on first use,
    so that evaluating a run at another ``n`` never builds (or solves) its training set."""

    def __init__(self, settings: PointerTask, seed: int) -> None:
        self.settings, self.seed = settings, seed
        self.splits: dict[str, Instances] = {}

    def split(self, name: str) -> Instances:
        """Split ``name``: train (``train_size``), valid, test (``eval_size`` each); seeds from :func:`split_seed`."""
        if name not in self.splits:
            settings, seed = self.settings, split_seed(name, self.seed)
            tsp_solvable = settings.n <= geometry.MAX_HELD_KARP_N
            if name == "train":
                if settings.problem == "tsp" and not settings.rl and not tsp_solvable:
                    raise ValueError(f"supervised tsp needs Held–Karp targets: n <= {geometry.MAX_HELD_KARP_N}, or rl")
                self.splits[name] = make_instances(settings, settings.train_size, seed, solve=not settings.rl)
            else:
                self.splits[name] = make_instances(settings, settings.eval_size, seed, solve=tsp_solvable)
        return self.splits[name]


def square_symmetries(points: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Each instance ``(B, n, 2)`` under a random one of the 8 symmetries of the unit square.

    Distances, so optimal tours, are unchanged: free data augmentation for TSP.

    Returns:
        the moved points ``(B, n, 2)`` and ``mirrored`` ``(B,)`` bool: the symmetry is a
        reflection, which turns a counter-clockwise tour clockwise.
    """
    flips = torch.randint(0, 2, (points.size(0), 3), generator=generator).bool().to(points.device)  # (B, 3)
    x, y = points.unbind(-1)  # (B, n) each
    x, y = torch.where(flips[:, :1], y, x), torch.where(flips[:, :1], x, y)  # reflect in the diagonal
    x = torch.where(flips[:, 1:2], 1 - x, x)  # reflect in x = 1/2
    y = torch.where(flips[:, 2:3], 1 - y, y)  # reflect in y = 1/2
    return torch.stack([x, y], dim=-1), flips.sum(dim=1) % 2 == 1


def reverse_tours(tours: Tensor, rows: Tensor) -> Tensor:
    """``tours`` ``(B, n)`` with the direction of rows ``rows`` ``(B,)`` reversed, keeping the first node."""
    reversed_tours = torch.cat([tours[:, :1], tours[:, 1:].flip(1)], dim=1)
    return torch.where(rows[:, None], reversed_tours, tours)


def tour_lengths(points: Tensor, tours: Tensor) -> Tensor:
    """Closed tour lengths ``(B,)`` (no gradient) of ``tours`` ``(B, n)`` through ``points`` ``(B, n, 2)``."""
    ordered = points.detach().gather(1, tours[..., None].expand(-1, -1, points.size(-1)))  # (B, n, 2)
    return (ordered - ordered.roll(-1, dims=1)).norm(dim=-1).sum(dim=1)


def supervised_loss(model: PointerNet, inputs: Tensor, targets: Tensor, lengths: Tensor) -> Tensor:
    """Vinyals et al. §4.4: mean ``-log p(C_i | C_<i, P)`` per target step of ``targets`` ``(B, T)``.

    Steps past ``lengths`` ``(B,)`` are padding; ``inputs`` ``(B, n, F)``.
    """
    log_probs = model(inputs, targets)  # (B, T, K)
    picked = log_probs.gather(-1, targets[..., None]).squeeze(-1)  # (B, T)
    counts = torch.arange(targets.size(1), device=targets.device)[None, :] < lengths[:, None]  # (B, T)
    return -(picked * counts).sum() / counts.sum()


@torch.no_grad()
def predict(model: PointerNet, inputs: Tensor, beam_size: int = 1, batch_size: int = 500) -> tuple[Tensor, Tensor]:
    """Decoded index sequences ``(N, T)`` and their lengths ``(N,)`` (with the end index), on the CPU.

    ``inputs`` ``(N, n, F)`` are decoded in batches on the model's device (greedy, or beam search).
    """
    device = device_of(model)
    with evaluating(model):
        parts = [
            model.decode(inputs[lo : lo + batch_size].to(device), beam_size=beam_size)
            for lo in range(0, len(inputs), batch_size)
        ]
    width = max(part.tokens.size(1) for part in parts)
    fill = model.end_index(inputs.size(1)) or 0
    tokens = torch.cat([F.pad(part.tokens, (0, width - part.tokens.size(1)), value=fill) for part in parts])
    return tokens.cpu(), torch.cat([part.lengths for part in parts]).cpu()


def tsp_metrics(data: Instances, tours: dict[str, Tensor], seed: int) -> dict[str, float]:
    """``{method}_length``, and against the optimum ``{method}_gap`` (% longer on average) and
    ``{method}_optimal`` (% of tours optimal) for the decoded ``tours`` and the nearest-neighbour and
    random baselines; ``optimal_length`` (Vinyals et al. Table 2)."""
    points = data.inputs.numpy()
    count, n = points.shape[:2]
    lengths = {name: geometry.tour_length(points, tokens.numpy()) for name, tokens in tours.items()}
    lengths["nearest"] = geometry.tour_length(points, geometry.nearest_neighbour_tours(points))
    lengths["random"] = geometry.tour_length(points, geometry.random_tours(count, n, seed))
    metrics = {} if data.optimal is None else {"optimal_length": float(data.optimal.mean())}
    for name, value in lengths.items():
        metrics[f"{name}_length"] = float(value.mean())
        if data.optimal is not None:
            best = data.optimal.numpy()
            metrics[f"{name}_gap"] = float((value.mean() / best.mean() - 1) * 100)
            metrics[f"{name}_optimal"] = float(np.isclose(value, best, rtol=1e-5).mean() * 100)
    return metrics


def sequence_metrics(data: Instances, decoded: dict[str, tuple[Tensor, Tensor]], hull: bool) -> dict[str, float]:
    """``{method}_accuracy``: % of outputs exactly right; hull: ``{method}_area``, the mean % of the
    true hull's area that the predicted polygon (without the end input) covers."""
    n, metrics = data.inputs.size(1), {}
    for name, (tokens, steps) in decoded.items():
        width = max(tokens.size(1), data.targets.size(1))
        fill = n if hull else 0
        padded = F.pad(tokens, (0, width - tokens.size(1)), value=fill)
        target = F.pad(data.targets, (0, width - data.targets.size(1)), value=fill)
        metrics[f"{name}_accuracy"] = float((padded == target).all(dim=1).float().mean() * 100)
        if hull:
            points = data.inputs.numpy()
            predicted = np.abs(geometry.signed_area(points, padded.numpy(), (steps - 1).numpy()))
            true = geometry.signed_area(points, target.numpy(), (data.lengths - 1).numpy())
            metrics[f"{name}_area"] = float((predicted / true).mean() * 100)
    return metrics


class PointerRecipe(Recipe):
    """Supervised NLL or REINFORCE on tour length; greedy/beam evaluation against exact answers."""

    Task = PointerTask
    training = Training(steps=2_000, batch_size=128, lr=1e-3, schedule="cosine", final_lr_fraction=0.01)

    @property
    def selection(self) -> tuple[str, str]:
        """TSP: the greedy gap to the optimum (the greedy length when n is too large to solve); else accuracy."""
        if self.settings.problem != "tsp":
            return ("greedy_accuracy", "max")
        return ("greedy_gap", "min") if self.settings.n <= geometry.MAX_HELD_KARP_N else ("greedy_length", "min")

    def build_task(self, seed: int) -> PointerData:
        return PointerData(self.settings, seed)

    def sized_config(self, config: PointerConfig, task: PointerData) -> PointerConfig:
        """Sorting reads one feature per input; the hull's output ends at a learned end input."""
        problem = self.settings.problem
        return dataclasses.replace(config, input_dim=1 if problem == "sort" else 2, end_token=problem == "hull")

    def train_batches(self, task: PointerData, batch_size: int, seed: int) -> DataLoader:
        """Shuffled batches ``(inputs, targets, lengths)`` (REINFORCE: ``(inputs,)``), each one index operation."""
        data = task.split("train")
        tensors = (data.inputs,) if self.settings.rl else (data.inputs, data.targets, data.lengths)
        return shuffled_batches(TensorDataset(*tensors), batch_size, seed, drop_last=len(data.inputs) >= batch_size)

    def loss(self, model: PointerNet, batch: list[Tensor], state: dict[str, Tensor]) -> tuple[Tensor, dict]:
        """Supervised NLL (Vinyals §4.4) or REINFORCE (Bello eq. 4), on augmented TSP instances."""
        inputs, mirrored = batch[0], None
        if self.settings.augment and self.settings.problem == "tsp":
            inputs, mirrored = square_symmetries(inputs)
        if self.settings.rl:
            return self.reinforce(model, inputs, state)
        targets = batch[1] if mirrored is None else reverse_tours(batch[1], mirrored)  # canonical: counter-clockwise
        return supervised_loss(model, inputs, targets, batch[2]), {}

    def reinforce(self, model: PointerNet, inputs: Tensor, state: dict[str, Tensor]) -> tuple[Tensor, dict]:
        """Bello et al. 2016 eq. (4) with reward ``-L(pi)`` for sampled tours ``pi`` of ``inputs`` ``(B, n, 2)``.

        The ``ema`` baseline ``b <- decay · b + (1 - decay) · mean L`` lives in ``state["baseline"]``.
        """
        sampled = model.decode(inputs, sample=True)
        cost = tour_lengths(inputs, sampled.tokens)  # (B,)
        if self.settings.baseline == "greedy":
            baseline = tour_lengths(inputs, model.decode(inputs).tokens)  # (B,)
        else:
            decay, mean = self.settings.baseline_decay, cost.mean()
            previous = state.get("baseline")
            state["baseline"] = mean if previous is None else decay * previous.to(mean.device) + (1 - decay) * mean
            baseline = state["baseline"].expand_as(cost)
        # reward = -length; the baseline carries no gradient, so reinforce_loss regresses nothing
        return reinforce_loss(sampled.scores, -cost, -baseline), {"length": cost.mean()}

    def evaluate(self, model: PointerNet, task: PointerData, split: str) -> dict[str, float]:
        """Greedy (and beam, except on valid) decoding of ``eval_size`` instances of ``split``.

        Returns ``greedy_*`` and ``beam_*`` metrics: TSP ``length``, ``gap`` and ``optimal`` (in %;
        with ``nearest_*``, ``random_*`` and ``optimal_length``), sort and hull ``accuracy`` (%),
        hull ``area`` (%). Without an optimum (n > 12) TSP has lengths only.
        """
        data = task.split(split).head(self.settings.eval_size)
        beams = {"greedy": 1} | ({"beam": self.settings.beam} if split != "valid" and self.settings.beam > 1 else {})
        decoded = {name: predict(model, data.inputs, width) for name, width in beams.items()}
        if self.settings.problem == "tsp":
            tours = {name: tokens for name, (tokens, _) in decoded.items()}
            return tsp_metrics(data, tours, split_seed(split, task.seed))
        return sequence_metrics(data, decoded, hull=self.settings.problem == "hull")

    def pictures(self, config: PointerConfig | None = None) -> dict[str, Any]:
        if config is not None and config.input_dim == 1:
            return {}  # a sorted list of numbers has no picture on the plane
        return {"tours": self.draw_tours}

    def draw_tours(self, model: PointerNet, task: PointerData, path: Any) -> None:
        """Greedy Ptr-Net tours against the optimal ones (nearest-neighbour ones when n > 12), or
        predicted against true convex hulls, for the first test instances (Vinyals et al. Figure 2)."""
        from attnzoo.viz.tours import plot_tours

        if self.settings.problem == "sort":
            raise ValueError("a pointer run on sort draws no tours: the picture is for tsp and hull runs")
        data = task.split("test").head(PICTURE_COUNT)
        points = data.inputs.numpy()
        tokens, lengths = predict(model, data.inputs)
        if self.settings.problem == "tsp":
            reference = geometry.nearest_neighbour_tours(points) if data.targets is None else data.targets.numpy()
            ours, theirs = geometry.tour_length(points, tokens.numpy()), geometry.tour_length(points, reference)
            label = "optimal" if data.targets is not None else "nearest neighbour"
            titles = [f"Ptr-Net {a:.3f} / {label} {b:.3f}" for a, b in zip(ours, theirs, strict=True)]
            plot_tours(points, tokens.tolist(), reference.tolist(), path, titles=titles, labels=("Ptr-Net", label))
            return
        predicted = [row[: size - 1] for row, size in zip(tokens.tolist(), lengths.tolist(), strict=True)]
        true = [row[: size - 1] for row, size in zip(data.targets.tolist(), data.lengths.tolist(), strict=True)]
        titles = ["exact" if p == r else "wrong" for p, r in zip(predicted, true, strict=True)]
        plot_tours(points, predicted, true, path, titles=titles, labels=("Ptr-Net", "true hull"))

    @torch.no_grad()
    def attention_views(self, model: PointerNet, task: PointerData, inputs: list[str] | None = None) -> list[dict]:
        """The pointer distribution of every greedy step (eq. 3's softmax over the inputs, and the end
        input for hulls) with the chosen input, on the first :data:`PROBES` test instances."""
        from attnzoo.explorer.views import pointer_view

        if inputs is not None:
            raise ValueError("a pointer run shows its test instances: it takes no typed input")
        data = task.split("test").head(PROBES)
        tokens, lengths = predict(model, data.inputs)
        with evaluating(model):
            log_probs = model(data.inputs.to(device_of(model)), tokens.to(device_of(model))).cpu()  # (N, T, K)
        views = []
        for number, (points, chosen, length) in enumerate(zip(data.inputs, tokens, lengths.tolist(), strict=True)):
            title = f"{self.settings.problem}, test instance {number + 1}: {chosen[:length].tolist()}"
            views.append(pointer_view(points, log_probs[number, :length].exp(), chosen[:length].tolist(), title=title))
        return views

    def example(self) -> tuple[dict[str, Any], dict[str, Any]]:
        model = {"embed_dim": 8, "hidden_size": 8, "attention_dim": 8}
        return model, {"n": 5, "train_size": 32, "eval_size": 8, "beam": 2}


RECIPE = PointerRecipe
