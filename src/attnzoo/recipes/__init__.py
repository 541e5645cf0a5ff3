"""Recipes: how each paper trains and measures its models (torch + tasks + viz; no Lightning, no I/O).

:class:`Recipe` is the base every ``models/<paper>/recipe.py`` subclasses; :class:`Training` holds
the shared training settings; :mod:`attnzoo.recipes.translation` is the recipe every text
encoder-decoder shares.
"""

from attnzoo.recipes.base import (
    SPLIT_SEEDS,
    Command,
    Recipe,
    Training,
    count_parameters,
    device_of,
    evaluating,
    shuffled_batches,
    split_seed,
    to_device,
)

__all__ = [
    "SPLIT_SEEDS",
    "Command",
    "Recipe",
    "Training",
    "count_parameters",
    "device_of",
    "evaluating",
    "shuffled_batches",
    "split_seed",
    "to_device",
]
