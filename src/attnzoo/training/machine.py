"""The machine a command runs on: torch's CPU threads (no Lightning here, so reading a run stays quick)."""

from __future__ import annotations

import torch


def set_threads(threads: int | None) -> None:
    """torch's CPU threads for this process (None: leave torch's choice)."""
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads: expected >= 1, got {threads}")
        torch.set_num_threads(threads)
