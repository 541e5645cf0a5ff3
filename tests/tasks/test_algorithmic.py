"""The NTM's algorithmic tasks: layouts, determinism from a seed, the bits-wrong cost."""

from __future__ import annotations

import pytest
import torch

from attnzoo.tasks.algorithmic import (
    AssociativeRecallTask,
    CopyTask,
    RepeatCopyTask,
    TaskStream,
    bits_wrong,
    make_task,
    task_name,
)

TASKS = [CopyTask(), RepeatCopyTask(), AssociativeRecallTask()]


def sample(task, seed, batch_size=5, **lengths):
    return task.sample(batch_size, torch.Generator().manual_seed(seed), **lengths)


@pytest.mark.parametrize("task", TASKS, ids=task_name)
def test_same_seed_same_batches_other_seed_other_batches(task):
    first, again, other = sample(task, 7), sample(task, 7), sample(task, 8)
    for a, b in zip(first, again, strict=True):
        assert torch.equal(a, b)
    assert first.inputs.shape != other.inputs.shape or not torch.equal(first.inputs, other.inputs)
    stream = TaskStream(task, batch_size=4, num_batches=3, seed=11)
    for one, two in zip(stream, stream, strict=True):  # every pass over a stream gives the same batches
        for a, b in zip(one, two, strict=True):
            assert torch.equal(a, b)


@pytest.mark.parametrize("task", TASKS, ids=task_name)
def test_shapes_binary_values_and_lengths_in_range(task):
    lengths = set()
    generator = torch.Generator().manual_seed(0)
    for _ in range(60):
        batch = task.sample(3, generator)
        steps = batch.inputs.size(1)
        assert batch.inputs.shape == (3, steps, task.input_size)
        assert batch.targets.shape == (3, steps, task.output_size) and batch.mask.shape == (3, steps)
        assert set(batch.targets.unique().tolist()) <= {0.0, 1.0}
        assert not batch.targets[~batch.mask].any()  # nothing to output outside the answer phase
        lengths.add(steps)
    assert len(lengths) > 3


def test_copy_layout():
    batch = sample(CopyTask(bits=8), 0, length=4)
    assert batch.inputs.shape == (5, 9, 9)
    assert torch.equal(batch.targets[:, 5:], batch.inputs[:, :4, :8])
    assert torch.equal(batch.inputs[:, 4, 8], torch.ones(5)) and not batch.inputs[:, 5:].any()
    assert batch.mask[:, 5:].all() and not batch.mask[:, :5].any()


def test_repeat_copy_layout():
    task = RepeatCopyTask(bits=8, min_repeats=1, max_repeats=10)
    batch = sample(task, 0, length=3, repeats=4)
    sequence = batch.inputs[:, :3, :8]
    assert batch.inputs.shape == (5, 3 + 2 + 12 + 1, 10)
    assert torch.equal(batch.inputs[:, 3, 8], torch.ones(5))
    assert batch.inputs[0, 4, 9] == pytest.approx(task.normalised_repeats(4))
    assert torch.equal(batch.targets[:, 5:17, :8], sequence.repeat(1, 4, 1))
    assert torch.equal(batch.targets[:, 17, 8], torch.ones(5)) and not batch.targets[:, :17, 8].any()
    counts = torch.tensor([task.normalised_repeats(r) for r in range(1, 11)], dtype=torch.float64)
    assert counts.mean() == pytest.approx(0.0, abs=1e-12) and counts.var(unbiased=False) == pytest.approx(1.0)


def test_associative_recall_answers_the_item_after_the_query():
    task = AssociativeRecallTask(bits=6, item_length=3)
    batch = sample(task, 0, batch_size=64, length=4)
    items = batch.inputs[:, :16].reshape(64, 4, 4, 8)  # (B, items, delimiter + 3 vectors, channels)
    assert items[:, :, 0, 6].all() and not items[:, :, 1:, 6:].any()
    query = batch.inputs[:, 17:20, :6]
    assert batch.inputs[:, 16, 7].all() and batch.inputs[:, 20, 7].all()
    for b in range(64):
        matches = [i for i in range(4) if torch.equal(items[b, i, 1:, :6], query[b])]
        assert matches and matches[0] < 3  # never the last item
        assert torch.equal(batch.targets[b, 21:], items[b, matches[0] + 1, 1:, :6])
    assert batch.mask[:, 21:].all() and not batch.mask[:, :21].any()


def test_bits_wrong_counts_scored_bits_only():
    batch = sample(CopyTask(), 0, length=6)
    perfect = batch.targets * 20 - 10  # logits: +10 where the target is 1, -10 where 0
    assert torch.equal(bits_wrong(perfect, batch), torch.zeros(5, dtype=torch.long))
    assert torch.equal(bits_wrong(-perfect, batch), torch.full((5,), 6 * 8))
    flipped = perfect.clone()
    flipped[:, 8, 2] *= -1  # one bit of the answer phase
    flipped[:, 0, 0] *= -1  # a step that is not scored
    assert torch.equal(bits_wrong(flipped, batch), torch.ones(5, dtype=torch.long))


def test_make_task_and_range_checks():
    assert make_task("repeat-copy", max_length=5) == RepeatCopyTask(max_length=5)
    assert task_name(make_task("recall")) == "recall"
    with pytest.raises(ValueError, match="task"):
        make_task("sort")
    with pytest.raises(ValueError, match="min_length"):
        CopyTask(min_length=5, max_length=2)
    with pytest.raises(ValueError, match="min_items"):
        AssociativeRecallTask(min_items=1)
