"""The algorithmic tasks of the Neural Turing Machine paper (Graves et al. 2014, §4.1-4.3).

Every task draws random binary vectors from a ``torch.Generator``, so a seed fixes every batch.
A batch is an :class:`AlgorithmicBatch`: the whole episode as inputs ``(B, T, I)``, the targets
``(B, T, O)`` aligned with them and a mask ``(B, T)`` of the steps whose outputs are scored (the
answer phase); a model reads every step and is judged on the masked ones. All sequences of a
batch share one length (drawn per batch), so no padding is needed.

Layouts (``L`` = sequence length, ``bits`` = width of a vector):

- :class:`CopyTask` (§4.1): ``L`` vectors on the first ``bits`` channels, one delimiter step on
  the extra channel, then ``L`` blank steps during which the model writes the sequence back.
  ``T = 2L + 1``; inputs ``bits + 1`` channels, outputs ``bits``.
- :class:`RepeatCopyTask` (§4.2): ``L`` vectors, a delimiter step, then one step carrying the
  number of repeats ``R`` (normalised to mean 0, variance 1 over the training range) on its own
  channel; the model then writes the sequence ``R`` times and finally raises an end marker on
  the extra output channel. ``T = L + 2 + L R + 1``; inputs ``bits + 2``, outputs ``bits + 1``.
- :class:`AssociativeRecallTask` (§4.3): ``n`` items of ``item_length`` vectors, each item
  preceded by a delimiter step (channel ``bits``); then a query delimiter (channel
  ``bits + 1``), a copy of one item chosen at random (never the last), a query delimiter, and
  ``item_length`` blank steps during which the model writes the item that followed the query.
  ``T = n (item_length + 1) + 2 item_length + 2``; inputs ``bits + 2``, outputs ``bits``.

:func:`bits_wrong` is the paper's cost: output bits wrong per sequence after thresholding.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor
from torch.utils.data import IterableDataset


class AlgorithmicBatch(NamedTuple):
    """One batch of an algorithmic task.

    inputs: ``(B, T, I)`` float, 0 or 1 (the repeat count channel excepted).
    targets: ``(B, T, O)`` float, 0 or 1; zero outside the answer phase.
    mask: ``(B, T)`` bool, True at the steps whose outputs are scored.
    """

    inputs: Tensor
    targets: Tensor
    mask: Tensor


def random_bits(generator: torch.Generator, *shape: int) -> Tensor:
    """Fair coin flips as a float tensor of ``shape``."""
    return torch.randint(0, 2, shape, generator=generator).float()


def draw(generator: torch.Generator, low: int, high: int) -> int:
    """An integer uniformly in ``[low, high]``."""
    return int(torch.randint(low, high + 1, (), generator=generator))


def check_range(name: str, low: int, high: int, minimum: int) -> None:
    if not minimum <= low <= high:
        raise ValueError(f"{name}: expected {minimum} <= min <= max, got min={low}, max={high}")


@dataclass(frozen=True)
class CopyTask:
    """Graves et al. 2014, §4.1: read a sequence of random binary vectors, then write it back."""

    bits: int = 8  # width of a vector (paper: 8)
    min_length: int = 1  # shortest training sequence (paper: 1)
    max_length: int = 20  # longest training sequence (paper: 20)

    def __post_init__(self) -> None:
        check_range("min_length, max_length", self.min_length, self.max_length, 1)

    @property
    def input_size(self) -> int:
        return self.bits + 1

    @property
    def output_size(self) -> int:
        return self.bits

    def sample(self, batch_size: int, generator: torch.Generator, length: int | None = None) -> AlgorithmicBatch:
        """A batch of ``batch_size`` sequences of ``length`` vectors (default: drawn from the task's range)."""
        length = draw(generator, self.min_length, self.max_length) if length is None else length
        sequence = random_bits(generator, batch_size, length, self.bits)  # (B, L, bits)
        steps = 2 * length + 1
        inputs = torch.zeros(batch_size, steps, self.input_size)
        inputs[:, :length, : self.bits] = sequence
        inputs[:, length, self.bits] = 1.0  # delimiter
        targets = torch.zeros(batch_size, steps, self.output_size)
        targets[:, length + 1 :] = sequence
        mask = torch.zeros(batch_size, steps, dtype=torch.bool)
        mask[:, length + 1 :] = True
        return AlgorithmicBatch(inputs, targets, mask)


@dataclass(frozen=True)
class RepeatCopyTask:
    """Graves et al. 2014, §4.2: write a sequence back a given number of times, then an end marker."""

    bits: int = 8  # width of a vector (paper: 8)
    min_length: int = 1  # shortest training sequence (paper: 1)
    max_length: int = 10  # longest training sequence (paper: 10)
    min_repeats: int = 1  # fewest training repeats (paper: 1)
    max_repeats: int = 10  # most training repeats (paper: 10)

    def __post_init__(self) -> None:
        check_range("min_length, max_length", self.min_length, self.max_length, 1)
        check_range("min_repeats, max_repeats", self.min_repeats, self.max_repeats, 1)

    @property
    def input_size(self) -> int:
        return self.bits + 2

    @property
    def output_size(self) -> int:
        return self.bits + 1

    def normalised_repeats(self, repeats: int) -> float:
        """The repeat count as the model sees it: mean 0, variance 1 over the uniform training range."""
        mean = (self.min_repeats + self.max_repeats) / 2
        count = self.max_repeats - self.min_repeats + 1
        std = math.sqrt((count * count - 1) / 12) or 1.0
        return (repeats - mean) / std

    def sample(
        self, batch_size: int, generator: torch.Generator, length: int | None = None, repeats: int | None = None
    ) -> AlgorithmicBatch:
        """A batch of ``batch_size`` sequences of ``length`` vectors to repeat ``repeats`` times (default: drawn)."""
        length = draw(generator, self.min_length, self.max_length) if length is None else length
        repeats = draw(generator, self.min_repeats, self.max_repeats) if repeats is None else repeats
        sequence = random_bits(generator, batch_size, length, self.bits)  # (B, L, bits)
        answer = length * repeats + 1
        steps = length + 2 + answer
        inputs = torch.zeros(batch_size, steps, self.input_size)
        inputs[:, :length, : self.bits] = sequence
        inputs[:, length, self.bits] = 1.0  # delimiter
        inputs[:, length + 1, self.bits + 1] = self.normalised_repeats(repeats)
        targets = torch.zeros(batch_size, steps, self.output_size)
        targets[:, length + 2 : steps - 1, : self.bits] = sequence.repeat(1, repeats, 1)  # (B, L R, bits)
        targets[:, steps - 1, self.bits] = 1.0  # end marker
        mask = torch.zeros(batch_size, steps, dtype=torch.bool)
        mask[:, length + 2 :] = True
        return AlgorithmicBatch(inputs, targets, mask)


@dataclass(frozen=True)
class AssociativeRecallTask:
    """Graves et al. 2014, §4.3: given one item of a list, write the item that followed it."""

    bits: int = 6  # width of a vector (paper: 6)
    item_length: int = 3  # vectors per item (paper: 3)
    min_items: int = 2  # shortest training list (paper: 2)
    max_items: int = 6  # longest training list (paper: 6)

    def __post_init__(self) -> None:
        check_range("min_items, max_items", self.min_items, self.max_items, 2)
        if self.item_length < 1:
            raise ValueError(f"item_length: expected at least 1, got {self.item_length}")

    @property
    def input_size(self) -> int:
        return self.bits + 2

    @property
    def output_size(self) -> int:
        return self.bits

    def sample(self, batch_size: int, generator: torch.Generator, length: int | None = None) -> AlgorithmicBatch:
        """A batch of ``batch_size`` lists of ``length`` items (default: drawn from the task's range)."""
        items = draw(generator, self.min_items, self.max_items) if length is None else length
        if items < 2:
            raise ValueError(f"length: expected at least 2 items (one to query, one to recall), got {items}")
        size, bits = self.item_length, self.bits
        contents = random_bits(generator, batch_size, items, size, bits)  # (B, n, item_length, bits)
        query = torch.randint(0, items - 1, (batch_size,), generator=generator)  # (B,) never the last item
        rows = torch.arange(batch_size)
        listed = torch.zeros(batch_size, items, size + 1, self.input_size)  # each item: delimiter + vectors
        listed[:, :, 0, bits] = 1.0
        listed[:, :, 1:, :bits] = contents
        start = items * (size + 1)  # first query delimiter
        steps = start + 2 * size + 2
        inputs = torch.zeros(batch_size, steps, self.input_size)
        inputs[:, :start] = listed.flatten(1, 2)
        inputs[:, start, bits + 1] = 1.0
        inputs[:, start + 1 : start + 1 + size, :bits] = contents[rows, query]  # (B, item_length, bits)
        inputs[:, start + 1 + size, bits + 1] = 1.0
        targets = torch.zeros(batch_size, steps, self.output_size)
        targets[:, steps - size :] = contents[rows, query + 1]
        mask = torch.zeros(batch_size, steps, dtype=torch.bool)
        mask[:, steps - size :] = True
        return AlgorithmicBatch(inputs, targets, mask)


AlgorithmicTask = CopyTask | RepeatCopyTask | AssociativeRecallTask
TASKS: dict[str, type] = {"copy": CopyTask, "repeat-copy": RepeatCopyTask, "recall": AssociativeRecallTask}


def make_task(name: str, **settings) -> AlgorithmicTask:
    """The task called ``name`` (``copy``, ``repeat-copy``, ``recall``) with ``settings`` overriding its defaults."""
    if name not in TASKS:
        raise ValueError(f"task: expected one of {sorted(TASKS)}, got {name!r}")
    return TASKS[name](**settings)


def task_name(task: AlgorithmicTask) -> str:
    """The name :func:`make_task` knows ``task`` by."""
    return next(name for name, kind in TASKS.items() if isinstance(task, kind))


class TaskStream(IterableDataset):
    """``num_batches`` batches of ``task`` drawn from a generator seeded with ``seed``: the same every pass.

    Use with ``DataLoader(stream, batch_size=None)``; the stream is already batched.
    """

    def __init__(self, task: AlgorithmicTask, batch_size: int, num_batches: int, seed: int) -> None:
        self.task, self.batch_size, self.num_batches, self.seed = task, batch_size, num_batches, seed

    def __iter__(self) -> Iterator[AlgorithmicBatch]:
        generator = torch.Generator().manual_seed(self.seed)
        for _ in range(self.num_batches):
            yield self.task.sample(self.batch_size, generator)


def bits_wrong(logits: Tensor, batch: AlgorithmicBatch) -> Tensor:
    """The paper's cost: output bits wrong per sequence, outputs thresholded at probability 1/2.

    Args:
        logits: ``(B, T, O)`` pre-sigmoid outputs. batch: its :class:`AlgorithmicBatch`.

    Returns:
        ``(B,)`` wrong bits of each sequence over its scored steps.
    """
    wrong = (logits > 0) != (batch.targets > 0.5)  # (B, T, O)
    return (wrong & batch.mask[..., None]).sum(dim=(1, 2))
