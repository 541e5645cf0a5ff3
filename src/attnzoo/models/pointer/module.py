"""Training and evaluating Pointer Networks on sorting, convex hull and TSP.

Two ways to train, chosen per run:

- supervised (Vinyals et al. 2015, §4.4): maximise ``log p(C^P | P)`` of the target sequence
  (sorted order, hull, Held–Karp optimal tour) under teacher forcing;
- REINFORCE with a baseline (Bello et al. 2016, §4, eq. (4), TSP only):
  ``grad J = E[(L(pi) - b) grad log p(pi)]`` with tours ``pi`` sampled from the model and
  ``b`` either an exponential moving average of the tour length (Bello et al. §4) or the
  length of the model's own greedy tour ("greedy", the self-critical baseline of Rennie et
  al. 2017, as in Kool et al. 2019's greedy-rollout baseline).

:func:`train` runs either one and writes a run directory (``model.safetensors``,
``config.json``, ``task.json``); :func:`evaluate_model` computes each task's table.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, TensorDataset

from attnzoo.attention import reinforce_loss
from attnzoo.models.pointer.model import PointerConfig, PointerNet
from attnzoo.models.registry import create_model
from attnzoo.tasks import geometry

TASKS = ("sort", "hull", "tsp")
BASELINES = ("greedy", "ema")
SPLIT_SEEDS = {"train": 0, "valid": 1_000_000, "test": 2_000_000}  # added to the run's seed (test: fixed)


def split_seed(split: str, seed: int) -> int:
    """Generator seed of ``split``: train and valid follow the run's seed, test is the same for every run."""
    if split not in SPLIT_SEEDS:
        raise ValueError(f"split: expected one of {sorted(SPLIT_SEEDS)}, got {split!r}")
    return SPLIT_SEEDS[split] + (0 if split == "test" else seed)


@dataclass
class TaskData:
    """One split of a task, as tensors.

    inputs: ``(N, n, F)`` float32. targets: ``(N, T)`` int64 (hull: padded with the end index
    ``n``; TSP with ``solve=False``: None). lengths: ``(N,)`` target steps that count (hull:
    including the end). optimal: ``(N,)`` optimal tour lengths (TSP), else None.
    """

    inputs: Tensor
    targets: Tensor | None
    lengths: Tensor
    optimal: Tensor | None = None


def make_task_data(
    task: str, count: int, n: int, seed: int, *, solve: bool = True, cache_dir: str | Path | None = None
) -> TaskData:
    """``count`` instances of ``task`` with ``n`` inputs (TSP optima via Held–Karp when ``solve``)."""
    full = torch.full((count,), n, dtype=torch.long)
    if task == "sort":
        values, order = geometry.sort_instances(count, n, seed)
        return TaskData(torch.from_numpy(values), torch.from_numpy(order), full)
    if task == "hull":
        points, targets, lengths = geometry.hull_instances(count, n, seed)
        return TaskData(torch.from_numpy(points), torch.from_numpy(targets), torch.from_numpy(lengths))
    if task == "tsp":
        if not solve:
            return TaskData(torch.from_numpy(geometry.tsp_instances(count, n, seed)), None, full)
        points, tours, optimal = geometry.tsp_dataset(count, n, seed, cache_dir)
        return TaskData(torch.from_numpy(points), torch.from_numpy(tours), full, torch.from_numpy(optimal))
    raise ValueError(f"task: expected one of {TASKS}, got {task!r}")


def task_config(task: str, **overrides: Any) -> PointerConfig:
    """The :class:`PointerConfig` a task needs (input features, end input), with ``overrides``."""
    if task not in TASKS:
        raise ValueError(f"task: expected one of {TASKS}, got {task!r}")
    needs = {"input_dim": 1 if task == "sort" else 2, "end_token": task == "hull", "mask_chosen": True}
    return PointerConfig(**{**needs, **overrides})


def square_symmetries(points: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Each instance ``(B, n, 2)`` under a random one of the 8 symmetries of the unit square.

    Distances, and therefore optimal tours, are unchanged: free data augmentation for TSP.

    Returns:
        the moved points ``(B, n, 2)`` and ``mirrored`` ``(B,)`` bool: the symmetry is a
        reflection, which turns a counter-clockwise tour clockwise.
    """
    flips = torch.randint(0, 2, (points.size(0), 3), generator=generator, device=points.device).bool()
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
    """Closed tour lengths ``(B,)`` (float32, no gradient) of ``tours`` ``(B, n)`` through ``points``."""
    lengths = geometry.tour_length(points.detach().cpu().numpy(), tours.cpu().numpy())
    return torch.from_numpy(lengths).float().to(points.device)


class PointerModule(L.LightningModule):
    """LightningModule for :class:`PointerNet`.

    Args:
        config: the model's :class:`PointerConfig`.
        task: ``"sort"``, ``"hull"`` or ``"tsp"``.
        lr: Adam's learning rate; decayed along a cosine to ``lr * final_lr_ratio`` over ``max_steps``
            steps or ``max_minutes`` of training, whichever ends first.
        max_steps: the run's length in steps (for the schedule; None and no ``max_minutes``: constant rate).
        max_minutes: the run's length in wall-clock minutes, if it is limited by time too.
        rl: train by REINFORCE on tour length (TSP only) instead of supervised targets.
        baseline: ``"greedy"`` (greedy tour of the current model) or ``"ema"`` (moving average).
        ema_decay: ``b <- decay * b + (1 - decay) * mean L`` for the ``"ema"`` baseline.
        augment: train TSP on random symmetries of the unit square (targets turned to stay canonical).
    """

    def __init__(
        self,
        config: PointerConfig,
        task: str,
        *,
        lr: float = 1e-3,
        max_steps: int | None = None,
        max_minutes: float | None = None,
        final_lr_ratio: float = 0.01,
        rl: bool = False,
        baseline: str = "greedy",
        ema_decay: float = 0.8,
        augment: bool = True,
    ) -> None:
        super().__init__()
        if task not in TASKS:
            raise ValueError(f"task: expected one of {TASKS}, got {task!r}")
        if rl and task != "tsp":
            raise ValueError(f"rl: REINFORCE is implemented for the tsp task (reward: tour length), got task {task!r}")
        if baseline not in BASELINES:
            raise ValueError(f"baseline: expected one of {BASELINES}, got {baseline!r}")
        self.model: PointerNet = create_model("pointer", config)
        self.config = config
        self.task = task
        self.lr = lr
        self.max_steps = max_steps
        self.max_minutes = max_minutes
        self.started = time.monotonic()
        self.final_lr_ratio = final_lr_ratio
        self.rl = rl
        self.baseline = baseline
        self.ema_decay = ema_decay
        self.augment = augment and task == "tsp"
        self.register_buffer("ema", torch.tensor(float("nan")))  # the EMA baseline (NaN until the first batch)

    def supervised_loss(self, inputs: Tensor, targets: Tensor, lengths: Tensor) -> Tensor:
        """Mean negative log-likelihood per target step (steps past ``lengths`` are padding)."""
        log_probs = self.model(inputs, targets)  # (B, T, K)
        picked = log_probs.gather(-1, targets[..., None]).squeeze(-1)  # (B, T)
        counts = torch.arange(targets.size(1), device=targets.device)[None, :] < lengths[:, None]  # (B, T)
        return -(picked * counts).sum() / counts.sum()

    def reinforce(self, inputs: Tensor) -> tuple[Tensor, Tensor]:
        """REINFORCE loss (Bello et al. 2016, eq. (4)) and the mean sampled tour length."""
        sampled = self.model.decode(inputs, sample=True)
        cost = tour_lengths(inputs, sampled.tokens)  # (B,)
        if self.baseline == "greedy":
            baseline = tour_lengths(inputs, self.model.decode(inputs).tokens)
        else:
            mean = cost.mean()
            self.ema = mean if torch.isnan(self.ema) else self.ema_decay * self.ema + (1 - self.ema_decay) * mean
            baseline = self.ema.expand_as(cost)
        # reward = -length; reinforce_loss regresses nothing here (the baseline carries no gradient)
        return reinforce_loss(sampled.scores, -cost, -baseline), cost.mean()

    def training_step(self, batch: list[Tensor], batch_idx: int) -> Tensor:
        inputs, mirrored = square_symmetries(batch[0]) if self.augment else (batch[0], None)
        if self.rl:
            loss, cost = self.reinforce(inputs)
            self.log("length", cost, prog_bar=True)
        else:  # canonical tours run counter-clockwise: a reflected instance's target runs the other way
            targets = batch[1] if mirrored is None else reverse_tours(batch[1], mirrored)
            loss = self.supervised_loss(inputs, targets, batch[2])
        self.log("loss", loss, prog_bar=True)
        return loss

    def on_train_start(self) -> None:
        self.started = time.monotonic()

    def progress(self, step: int) -> float:
        """Fraction of the run done after ``step`` steps: of the steps or of the minutes, the larger."""
        done = step / self.max_steps if self.max_steps else 0.0
        if self.max_minutes:
            done = max(done, (time.monotonic() - self.started) / (60 * self.max_minutes))
        return min(done, 1.0)

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.parameters(), lr=self.lr)
        if not (self.max_steps or self.max_minutes):
            return optimizer

        def factor(step: int) -> float:
            progress = self.progress(step)
            return self.final_lr_ratio + (1 - self.final_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


def batches(data: TaskData, batch_size: int, seed: int, supervised: bool) -> DataLoader:
    """Shuffled batches of ``data``, each gathered with one index operation."""
    tensors = (data.inputs, data.targets, data.lengths) if supervised else (data.inputs,)
    sampler = BatchSampler(
        RandomSampler(range(len(data.inputs)), generator=torch.Generator().manual_seed(seed)),
        batch_size,
        drop_last=True,
    )
    return DataLoader(TensorDataset(*tensors), sampler=sampler, batch_size=None)


def train(
    out_dir: str | Path,
    *,
    task: str,
    n: int,
    config: PointerConfig | None = None,
    steps: int = 2000,
    batch_size: int = 128,
    lr: float = 1e-3,
    train_size: int = 100_000,
    rl: bool = False,
    baseline: str = "greedy",
    seed: int = 0,
    minutes: float | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> PointerModule:
    """Train a Pointer Network on ``task`` with ``n`` inputs and write the run directory ``out_dir``.

    Training checkpoints every 200 steps to ``out_dir/checkpoints/last.ckpt`` and resumes from
    it if present. ``minutes`` stops training after that long; the learning rate then decays
    over whichever budget, steps or minutes, runs out first.
    """
    from attnzoo.training import fit_resuming, make_trainer, save_model, seed_everything, write_task

    seed_everything(seed)
    config = config or task_config(task)
    data = make_task_data(task, train_size, n, split_seed("train", seed), solve=not rl, cache_dir=cache_dir)
    module = PointerModule(config, task, lr=lr, max_steps=steps, max_minutes=minutes, rl=rl, baseline=baseline)
    out_dir = Path(out_dir)
    trainer = make_trainer(
        out_dir,
        max_steps=steps,
        max_epochs=-1,
        checkpoint_every=200,
        progress=progress,
        max_time=None if minutes is None else {"minutes": minutes},
    )
    fit_resuming(trainer, module, batches(data, batch_size, seed, supervised=not rl))
    save_model(out_dir, "pointer", module.model, config)
    settings = {"task": task, "n": n, "rl": rl, "baseline": baseline if rl else None, "seed": seed}
    settings |= {"steps": trainer.global_step, "batch_size": batch_size, "lr": lr, "train_size": train_size}
    write_task(out_dir, settings)
    return module


def read_task(run_dir: str | Path) -> dict[str, Any]:
    """The ``task.json`` of a run directory written by :func:`train`."""
    from attnzoo.training import read_task as read_task_file

    return read_task_file(run_dir, "attnzoo train pointer")


@torch.no_grad()
def predict(model: PointerNet, inputs: Tensor, beam_size: int = 1, batch_size: int = 500) -> tuple[Tensor, Tensor]:
    """Decoded index sequences ``(N, T)`` and their lengths ``(N,)`` (including the end index), in batches."""
    model.eval()
    parts = [
        model.decode(inputs[lo : lo + batch_size], beam_size=beam_size) for lo in range(0, len(inputs), batch_size)
    ]
    width = max(part.tokens.size(1) for part in parts)
    fill = model.end_index(inputs.size(1)) or 0
    tokens = torch.cat([torch.nn.functional.pad(p.tokens, (0, width - p.tokens.size(1)), value=fill) for p in parts])
    return tokens, torch.cat([part.lengths for part in parts])


def evaluate_model(
    model: PointerNet, task: str, n: int, *, count: int = 1000, seed: int, beam_size: int = 8, cache_dir=None
) -> list[dict[str, Any]]:
    """The task's table for ``count`` instances generated with ``seed``: one dict per row.

    - tsp: average tour length of optimal (Held–Karp, ``n <= 12``), Ptr-Net greedy and beam,
      nearest neighbour and random tours, with the gap to the optimum in % (Vinyals et al. Table 2);
    - sort: exact-permutation accuracy, greedy and beam;
    - hull: exact-sequence accuracy and area coverage (predicted polygon area / hull area), greedy and beam.
    """
    solve = task != "tsp" or n <= geometry.MAX_HELD_KARP_N
    data = make_task_data(task, count, n, seed, solve=solve, cache_dir=cache_dir)
    decoders = {"Ptr-Net greedy": 1, f"Ptr-Net beam {beam_size}": beam_size}
    predictions = {name: predict(model, data.inputs, beam) for name, beam in decoders.items()}
    if task == "tsp":
        points = data.inputs.numpy()
        lengths = {name: geometry.tour_length(points, tokens.numpy()) for name, (tokens, _) in predictions.items()}
        lengths["nearest neighbour"] = geometry.tour_length(points, geometry.nearest_neighbour_tours(points))
        lengths["random"] = geometry.tour_length(points, geometry.random_tours(count, n, seed))
        if data.optimal is not None:
            lengths = {"optimal": data.optimal.numpy(), **lengths}
        best = lengths.get("optimal")
        return [
            {
                "method": name,
                "length": float(value.mean()),
                "gap": None if best is None else float((value.mean() / best.mean() - 1) * 100),
                "optimal": None if best is None else float(np.isclose(value, best, rtol=1e-5).mean() * 100),
            }
            for name, value in lengths.items()
        ]
    rows = []
    for name, (tokens, steps) in predictions.items():
        width = max(tokens.size(1), data.targets.size(1))
        fill = n if task == "hull" else 0
        padded = torch.nn.functional.pad(tokens, (0, width - tokens.size(1)), value=fill)
        target = torch.nn.functional.pad(data.targets, (0, width - data.targets.size(1)), value=fill)
        row = {"method": name, "accuracy": float((padded == target).all(dim=1).float().mean() * 100)}
        if task == "hull":
            points = data.inputs.numpy()
            predicted = np.abs(geometry.signed_area(points, padded.numpy(), (steps - 1).numpy()))  # without the end
            true = geometry.signed_area(points, target.numpy(), (data.lengths - 1).numpy())
            row["area"] = float((predicted / true).mean() * 100)
        rows.append(row)
    return rows


def format_rows(task: str, n: int, rows: list[dict[str, Any]]) -> list[str]:
    """Markdown table lines (header included) of :func:`evaluate_model`'s rows."""
    if task == "tsp":
        columns = {"length": ("average tour length", 3), "gap": ("gap to optimal (%)", 2)}
        columns["optimal"] = ("optimal tours (%)", 1)
    else:
        columns = {"accuracy": ("accuracy (%)", 1)} | ({"area": ("area coverage (%)", 2)} if task == "hull" else {})
    titles = ["n", "method", *(title for title, _ in columns.values())]
    lines = ["| " + " | ".join(titles) + " |", "|" + "---|" * len(titles)]
    for row in rows:
        cells = [str(n), row["method"]]
        cells += ["–" if row[key] is None else f"{row[key]:.{digits}f}" for key, (_, digits) in columns.items()]
        lines.append("| " + " | ".join(cells) + " |")
    return lines
