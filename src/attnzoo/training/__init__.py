"""What every model's training shares: the Lightning trainer factory and checkpoint I/O.

Importing this package imports Lightning; ``import attnzoo`` does not.
"""

from attnzoo.training.checkpoint import (
    SafeCheckpointIO,
    load_checkpoint_file,
    load_model,
    read_task,
    save_checkpoint_file,
    save_model,
    write_task,
)
from attnzoo.training.trainer import fit_resuming, make_trainer, seed_everything

__all__ = [
    "SafeCheckpointIO",
    "fit_resuming",
    "load_checkpoint_file",
    "load_model",
    "make_trainer",
    "read_task",
    "save_checkpoint_file",
    "save_model",
    "seed_everything",
    "write_task",
]
