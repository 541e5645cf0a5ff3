"""How the NTM and its LSTM baseline train and are measured on the algorithmic tasks (Graves et al. 2014, §4).

The tasks (:mod:`attnzoo.tasks.algorithmic`): copy (§4.1), repeat copy (§4.2) and associative
recall (§4.3), random binary vectors from a seeded ``torch.Generator``, one length per batch.

- Loss: the binary cross-entropy of the sigmoid outputs over the scored steps (the answer
  phase), averaged over their bits. The gradient's global norm is clipped at 1 (``Training.clip``):
  the loss is a mean over bits, so 1 here is about Collier & Beel's 50 on a per-sequence sum;
  with 10, copy stalled near 2 bits wrong per sequence and then blew up.
- Cost: the paper's, bits wrong per sequence after thresholding the outputs at 1/2
  (:func:`attnzoo.tasks.algorithmic.bits_wrong`), on a fixed set of sequences of one length
  (``eval_length``; None: the longest training length), logged as ``bits`` while training.
- Training batches: every epoch of :data:`EPOCH_BATCHES` batches draws new sequences (epoch
  ``e`` from the seed ``split_seed("train", seed) + e ·`` :data:`EPOCH_SEED_STRIDE`; a run resumed
  inside an epoch draws the rest of it from the start of the first epoch's stream); the
  validation and test sets are fixed per split by :func:`attnzoo.recipes.split_seed`.
- Training keeps the weights of the best validation (NTM training has loss spikes, and a run
  may end inside one). Picture: ``memory`` (the read and write weightings of one test sequence,
  the paper's Fig. 6), for the NTM only.

Shape legend: ``B`` sequences, ``T`` time steps, ``I``/``O`` input/output channels, ``N`` memory rows.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

from attnzoo.models.ntm.model import NTM
from attnzoo.recipes.base import Recipe, Training, device_of, evaluating, split_seed, to_device
from attnzoo.tasks.algorithmic import TASKS, AlgorithmicBatch, AlgorithmicTask, TaskStream, bits_wrong, make_task

EPOCH_BATCHES = 1_000  # training batches per epoch; every epoch draws new sequences
EPOCH_SEED_STRIDE = 10_000_019  # epoch e of the training stream is seeded split_seed("train", seed) + e * this
EVAL_CHUNK = 128  # sequences per forward pass when evaluating
ITEM_TASKS = ("recall",)  # tasks whose "length" counts items (of item_length vectors), not vectors


@dataclass(frozen=True)
class NTMTask:
    """Which algorithmic task, its training lengths, and the sequences it is measured on."""

    task: str = "copy"  # copy, repeat-copy or recall (Graves et al. 2014, §4.1-4.3)
    min_length: int | None = None  # shortest training sequence (recall: fewest items; None: the task's, 1 / 1 / 2)
    max_length: int | None = None  # longest training sequence (recall: most items; None: the task's, 20 / 10 / 6)
    eval_length: int | None = None  # evaluate at this length (recall: items; None: the longest training length)
    eval_repeats: int | None = None  # repeat-copy: evaluate with this many repeats (None: the most in training)
    valid_size: int = 128  # sequences of the validation set (fixed by its split seed)
    test_size: int = 256  # sequences of the test set (and of the train split when evaluated)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"ntm task: expected one of {', '.join(TASKS)}; got {self.task!r}")
        low, high = length_fields(self.task)
        defaults = make_task(self.task)
        resolved = {
            "min_length": getattr(defaults, low) if self.min_length is None else self.min_length,
            "max_length": getattr(defaults, high) if self.max_length is None else self.max_length,
        }
        resolved["eval_length"] = resolved["max_length"] if self.eval_length is None else self.eval_length
        if self.task == "repeat-copy" and self.eval_repeats is None:
            resolved["eval_repeats"] = defaults.max_repeats
        for name, value in resolved.items():
            object.__setattr__(self, name, value)
        self.generator()  # refuses a bad range of lengths, naming the task's fields
        for name in ("eval_length", "eval_repeats", "valid_size", "test_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"ntm task {name}: expected >= 1, got {value}")

    def generator(self) -> AlgorithmicTask:
        """The task object that draws the training sequences (:func:`attnzoo.tasks.algorithmic.make_task`)."""
        low, high = length_fields(self.task)
        return make_task(self.task, **{low: self.min_length, high: self.max_length})

    def eval_episode(self) -> dict[str, int]:
        """Keyword arguments of ``generator().sample`` for the evaluated episodes."""
        episode = {"length": self.eval_length}
        if self.task == "repeat-copy":
            episode["repeats"] = self.eval_repeats
        return episode


def length_fields(task: str) -> tuple[str, str]:
    """The names of the shortest and longest training length in task ``task``'s dataclass."""
    return ("min_items", "max_items") if task in ITEM_TASKS else ("min_length", "max_length")


class EpochStream(TaskStream):
    """:class:`TaskStream` of ``num_batches`` batches per epoch, epoch ``e`` drawn from the generator
    seeded ``seed + e ·`` :data:`EPOCH_SEED_STRIDE` (``set_epoch``): new sequences every epoch."""

    def __init__(self, task: AlgorithmicTask, batch_size: int, num_batches: int, seed: int) -> None:
        super().__init__(task, batch_size, num_batches, seed)
        self.first_seed = seed

    def __len__(self) -> int:
        return self.num_batches

    def set_epoch(self, epoch: int) -> None:
        self.seed = self.first_seed + epoch * EPOCH_SEED_STRIDE


class AlgorithmicData:
    """The data of one run: the task that draws the sequences, and fixed evaluation sets built on first use.

    Args:
        settings: the :class:`NTMTask`. seed: the run's seed.
    """

    def __init__(self, settings: NTMTask, seed: int) -> None:
        self.settings, self.seed = settings, seed
        self.sampler = settings.generator()
        self.stream: EpochStream | None = None  # the training stream (set by ``train_batches``)
        self.splits: dict[str, AlgorithmicBatch] = {}

    def split(self, name: str) -> AlgorithmicBatch:
        """The fixed sequences of split ``name`` (``valid``: ``valid_size``; ``train``, ``test``:
        ``test_size``), at ``eval_length``, drawn from the generator seeded ``split_seed(name, seed)``."""
        if name not in self.splits:
            size = self.settings.valid_size if name == "valid" else self.settings.test_size
            generator = torch.Generator().manual_seed(split_seed(name, self.seed))
            self.splits[name] = self.sampler.sample(size, generator, **self.settings.eval_episode())
        return self.splits[name]


def sequence_loss(logits: Tensor, batch: AlgorithmicBatch) -> Tensor:
    """Binary cross-entropy averaged over the bits of the scored steps.

    Args:
        logits: ``(B, T, O)`` pre-sigmoid outputs. batch: its :class:`AlgorithmicBatch`.
    """
    mask = batch.mask[..., None].expand_as(batch.targets)  # (B, T, O)
    return F.binary_cross_entropy_with_logits(logits[mask], batch.targets[mask])


@torch.no_grad()
def measure(model: nn.Module, batch: AlgorithmicBatch, *, chunk: int = EVAL_CHUNK) -> dict[str, float]:
    """The cost of ``model`` on ``batch`` (on the model's device, ``chunk`` sequences at a time).

    Returns:
        ``bits``: mean bits wrong per sequence (the paper's cost); ``bit_error``: the fraction of
        scored bits wrong (chance: 0.5); ``loss``: :func:`sequence_loss` over the whole batch.
    """
    device = device_of(model)
    with evaluating(model):
        wrong, loss, count = 0.0, 0.0, batch.inputs.size(0)
        for lo in range(0, count, chunk):
            part = to_device(AlgorithmicBatch(*(tensor[lo : lo + chunk] for tensor in batch)), device)
            logits = model(part.inputs).logits  # (b, T, O)
            wrong += float(bits_wrong(logits, part).sum())
            loss += float(sequence_loss(logits, part)) * part.inputs.size(0)
    scored = float(batch.mask.sum()) * batch.targets.size(-1)
    return {"bits": wrong / count, "bit_error": wrong / scored, "loss": loss / count}


class NTMRecipe(Recipe):
    """Copy, repeat copy or associative recall; loss :func:`sequence_loss`, cost bits wrong per sequence."""

    Task = NTMTask
    training = Training(
        steps=20_000, batch_size=32, lr=1e-3, schedule="constant", clip=1.0, val_every=100, checkpoint_every=500
    )
    selection = ("bits", "min")
    keep_best = True

    def build_task(self, seed: int) -> AlgorithmicData:
        return AlgorithmicData(self.settings, seed)

    def sized_config(self, config: Any, task: AlgorithmicData) -> Any:
        sampler = task.sampler
        return dataclasses.replace(config, input_size=sampler.input_size, output_size=sampler.output_size)

    def train_batches(self, task: AlgorithmicData, batch_size: int, seed: int) -> DataLoader:
        task.stream = EpochStream(task.sampler, batch_size, EPOCH_BATCHES, seed)
        return DataLoader(task.stream, batch_size=None)

    def on_epoch_start(self, task: AlgorithmicData, epoch: int) -> None:
        if task.stream is not None:
            task.stream.set_epoch(epoch)

    def loss(self, model: nn.Module, batch: Any, state: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        batch = AlgorithmicBatch(*batch)
        logits = model(batch.inputs).logits  # (B, T, O)
        return sequence_loss(logits, batch), {"bits": bits_wrong(logits.detach(), batch).float().mean()}

    def evaluate(self, model: nn.Module, task: AlgorithmicData, split: str) -> dict[str, float]:
        return measure(model, task.split(split))

    def pictures(self, config: Any = None) -> dict[str, Any]:
        return {} if self.model_name == "lstm-baseline" else {"memory": draw_memory}

    @torch.no_grad()
    def attention_views(self, model: nn.Module, task: AlgorithmicData, inputs: list[str] | None = None) -> list[dict]:
        """The first head's write and read weightings over the memory rows at every step, on the first
        test sequence (the paper's Fig. 6); the LSTM baseline has no memory, so no view."""
        from attnzoo.explorer.views import memory_view

        if inputs is not None:
            raise ValueError("an NTM run shows its test sequence: it takes no typed input")
        if not isinstance(model, NTM):
            return []
        batch = AlgorithmicBatch(*(tensor[:1] for tensor in task.split("test")))
        with evaluating(model):
            output = model(batch.inputs.to(device_of(model)), return_weights=True)
        weightings = {"write": output.write_weights[0, :, 0].cpu(), "read": output.read_weights[0, :, 0].cpu()}
        steps = [f"t{step}" for step in range(batch.inputs.size(1))]
        slots = [str(row) for row in range(weightings["write"].size(1))]
        wrong = int(bits_wrong(output.logits.cpu(), batch)[0])
        title = f"{task.settings.task}, length {task.settings.eval_length}: {wrong} bits wrong"
        return [memory_view(weightings, steps, slots, title=title)]

    def example(self) -> tuple[dict[str, Any], dict[str, Any]]:
        sizes = {"controller_size": 8, "memory_rows": 8, "memory_width": 4}
        model = {"hidden_size": 8} if self.model_name == "lstm-baseline" else sizes
        return model, {"max_length": 3, "eval_repeats": 2, "valid_size": 4, "test_size": 4}


@torch.no_grad()
def draw_memory(model: nn.Module, task: AlgorithmicData, path: str | Path, title: str | None = None) -> int:
    """Draw the first read and write weightings of an NTM on the first test sequence (the paper's Fig. 6).

    The sequence has the task's ``eval_length``. ``title`` (default: the task and length) is
    followed by the sequence's bits wrong, which are returned.
    """
    from attnzoo.viz.memory import plot_memory_access

    if not isinstance(model, NTM):
        raise ValueError(f"{type(model).__name__} has no memory to draw: the memory picture is the NTM's")
    with evaluating(model):
        batch = AlgorithmicBatch(*(tensor[:1] for tensor in task.split("test")))
        output = model(batch.inputs.to(device_of(model)), return_weights=True)
    logits = output.logits.cpu()
    wrong = int(bits_wrong(logits, batch)[0])
    title = title or f"{task.settings.task}, length {task.settings.eval_length}"
    plot_memory_access(
        batch.inputs[0].numpy(),
        torch.sigmoid(logits[0]).numpy(),
        output.write_weights[0, :, 0].cpu().numpy(),
        output.read_weights[0, :, 0].cpu().numpy(),
        path,
        title=f"{title}: {wrong} bits wrong",
    )
    return wrong


RECIPE = NTMRecipe
