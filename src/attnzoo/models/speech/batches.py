"""Batches of utterances of similar length: the training epochs' buckets and the evaluation batches."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

from attnzoo.recipes.base import EpochShuffle

EVAL_FRAMES = 40_000  # 10 ms frames per evaluation batch


class LengthBuckets(Sampler[list[int]]):
    """Training batches of similar lengths (less padding for the LSTMs to run over), in a new order
    every epoch: the epoch's random order (:class:`EpochShuffle`, whose ``set_epoch`` Lightning calls)
    is cut into pools of ``POOL`` batches, each pool sorted by length and cut into full batches, and
    the batches shuffled."""

    POOL = 50  # batches per pool sorted by length

    def __init__(self, lengths: list[int], batch_size: int, seed: int) -> None:
        self.lengths, self.batch_size, self.seed = lengths, batch_size, seed
        self.sampler = EpochShuffle(len(lengths), seed)
        self.resumed: tuple[int, int] | None = None  # (epoch, batches of it already trained on)

    def resume_within(self, epoch: int, served: int) -> None:
        """Start the next pass, if it is epoch ``epoch``, after that epoch's first ``served`` batches
        (a run resumed in the middle of an epoch; the trainer's ``EpochStart`` calls this)."""
        self.resumed = (epoch, served)

    def __iter__(self) -> Iterator[list[int]]:
        """A generator: the order is drawn at the first batch, after Lightning's ``set_epoch`` (the
        DataLoader calls ``iter`` earlier, when it makes its iterator)."""
        order = self.epoch_batches()
        skipped = self.resumed[1] if self.resumed is not None and self.resumed[0] == self.sampler.epoch else 0
        self.resumed = None
        yield from order[skipped:]

    def epoch_batches(self) -> list[list[int]]:
        """The batches of the current epoch, in their order."""
        order, size, batches = list(self.sampler), self.batch_size, []
        for start in range(0, len(order), self.POOL * size):
            pool = sorted(order[start : start + self.POOL * size], key=lambda index: self.lengths[index])
            batches += [pool[first : first + size] for first in range(0, len(pool) - size + 1, size)]
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.sampler.epoch + 1)
        return [batches[index] for index in torch.randperm(len(batches), generator=generator).tolist()]

    def __len__(self) -> int:
        pools = [
            min(self.POOL * self.batch_size, len(self.lengths) - start)
            for start in range(0, len(self.lengths), self.POOL * self.batch_size)
        ]
        return sum(pool // self.batch_size for pool in pools)


def eval_batches(lengths: list[int]) -> list[list[int]]:
    """Indices in batches of at most ``EVAL_FRAMES`` frames (by padded length), similar lengths together."""
    order = sorted(range(len(lengths)), key=lambda index: lengths[index])
    batches: list[list[int]] = [[]]
    for index in order:
        if batches[-1] and (len(batches[-1]) + 1) * lengths[index] > EVAL_FRAMES:
            batches.append([])
        batches[-1].append(index)
    return batches if batches[0] else []
