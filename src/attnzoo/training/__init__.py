"""What every model's training shares: the Lightning trainer factory and checkpoint I/O.

Importing this package imports Lightning; ``import attnzoo`` does not.
"""

from attnzoo.training.checkpoint import (
    SafeCheckpointIO,
    load_checkpoint_file,
    load_model,
    save_checkpoint_file,
    save_model,
)
from attnzoo.training.trainer import make_trainer, seed_everything

__all__ = [
    "SafeCheckpointIO",
    "load_checkpoint_file",
    "load_model",
    "make_trainer",
    "save_checkpoint_file",
    "save_model",
    "seed_everything",
]
