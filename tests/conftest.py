"""Shared set-up of every test."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread_and_seed():
    """One intra-op thread: the tensors here are tiny, and on a shared CPU OpenMP threads that
    spin-wait for each other make a tiny op ~40x slower. Seeded, so every test is reproducible."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)
