"""shuffled_batches: an order drawn from (seed, epoch) alone, one-index batches of tensors, resuming mid-epoch."""

import torch
from torch.utils.data import DataLoader, TensorDataset

from attnzoo.recipes.base import EpochShuffle, shuffled_batches


def epoch_batches(loader, epoch):
    loader.sampler.set_epoch(epoch)
    return list(loader)


def test_tensor_batches_are_the_default_collation_of_the_same_order():
    data = TensorDataset(torch.arange(10.0)[:, None].repeat(1, 3), torch.arange(10) * 7)
    ours = shuffled_batches(data, 4, seed=3)
    default = DataLoader(data, batch_size=4, sampler=EpochShuffle(10, 3))
    for epoch in (0, 1):
        default.sampler.set_epoch(epoch)
        for mine, theirs in zip(epoch_batches(ours, epoch), list(default), strict=True):
            assert len(mine) == 2 and all(torch.equal(a, b) for a, b in zip(mine, theirs, strict=True))


def test_the_order_depends_on_seed_and_epoch_only():
    data = TensorDataset(torch.arange(12))
    first, again = shuffled_batches(data, 5, seed=1), shuffled_batches(data, 5, seed=1)
    orders = [torch.cat([batch[0] for batch in epoch_batches(first, epoch)]) for epoch in (0, 1)]
    assert torch.equal(orders[1], torch.cat([batch[0] for batch in epoch_batches(again, 1)]))
    assert not torch.equal(orders[0], orders[1]) and sorted(orders[0].tolist()) == list(range(12))


def test_resuming_within_an_epoch_passes_over_what_was_served_once():
    sampler = EpochShuffle(10, seed=0)
    sampler.set_epoch(2)
    whole = list(sampler)
    sampler.resume_within(2, 4)
    assert list(sampler) == whole[4:]
    assert list(sampler) == whole  # once only
    sampler.resume_within(5, 4)  # another epoch than the next pass's: nothing skipped
    assert list(sampler) == whole


def test_resuming_with_a_stream_of_unknown_length_leaves_it_alone():
    """A recipe's loader may be an endless stream (no length): its start must not ask for one."""
    from types import SimpleNamespace

    from torch.utils.data import IterableDataset

    from attnzoo.training.callbacks import resume_within_epoch

    class Stream(IterableDataset):
        def __iter__(self):
            yield torch.zeros(1)

    trainer = SimpleNamespace(
        train_dataloader=DataLoader(Stream(), batch_size=None),
        num_training_batches=float("inf"),
        global_step=3,
        current_epoch=0,
    )
    resume_within_epoch(trainer)  # no TypeError from len()
    loader = shuffled_batches(TensorDataset(torch.arange(10)), 2, seed=0)
    trainer = SimpleNamespace(train_dataloader=loader, num_training_batches=5, global_step=7, current_epoch=1)
    resume_within_epoch(trainer)
    assert loader.sampler.resumed == (1, 4)  # 7 steps = one epoch of 5 and 2 batches of 2 examples
