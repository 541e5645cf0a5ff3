"""scikit-learn's handwritten digits as 32×32 images for a generator (Self-Attention GAN's real data).

The 1,797 digits of ``load_digits`` (upscaled to 28×28 by :mod:`attnzoo.tasks.digits`), centred on a
32×32 canvas with 2 pixels of margin, in ``[-1, 1]`` (a tanh generator's range), with the same
stratified train / valid / test split as the other digit tasks.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from attnzoo.tasks.digits import DIGIT_SIZE, load_digit_images, split_indices

SIDE = 32  # the canvas side


def digits32(split: str, seed: int = 0) -> tuple[Tensor, Tensor]:
    """The digits of ``split`` (``"train"``, ``"valid"`` or ``"test"``).

    Returns:
        images: ``(N, 1, 32, 32)`` float32 in ``[-1, 1]`` (background -1). labels: ``(N,)`` int64.
    """
    images, labels = load_digit_images()
    indices = split_indices(labels, seed)
    if split not in indices:
        raise ValueError(f"split: expected one of {', '.join(indices)}, got {split!r}")
    chosen = torch.from_numpy(np.array(images[indices[split]]))[:, None]  # (N, 1, 28, 28) in [0, 1]
    margin = (SIDE - DIGIT_SIZE) // 2
    padded = F.pad(chosen, (margin, margin, margin, margin))  # (N, 1, 32, 32)
    return padded * 2 - 1, torch.from_numpy(np.array(labels[indices[split]]))
