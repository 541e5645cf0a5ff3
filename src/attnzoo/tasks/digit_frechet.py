"""How good generated digits are, judged by a small digit classifier trained here (not Inception).

The measure of generated 32×32 digits (:mod:`attnzoo.tasks.digits32`) in the Self-Attention GAN
experiment. It follows the Fréchet Inception Distance (Heusel et al. 2017, eq. 6) and the
Inception Score's two ingredients (Salimans et al. 2016), with a small convolutional classifier
trained on scikit-learn's digits in place of the Inception network, so its numbers are **not**
comparable with any published FID; call it the *digit-classifier Fréchet distance*:

- :func:`frechet_distance`: the Fréchet (2-Wasserstein) distance between two Gaussians fitted to
  two sets of features, ``‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁ Σ₂)^{1/2})``, here on the classifier's
  penultimate features of generated and real digits. 0 for identical statistics.
- confidence: the classifier's mean largest class probability on the generated images (high:
  they look like *some* digit).
- diversity: the entropy (bits) of the histogram of predicted classes (log₂ 10 ≈ 3.32 when all
  ten digits are generated equally often, 0 when one digit is).
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnzoo.tasks.digits32 import SIDE, digits32

CLASSES = 10  # the ten digits
FEATURES = 64  # size of the classifier's penultimate features, the space of the Fréchet distance
TRAIN_EPOCHS = 30  # passes over the 1,258 training digits
TRAIN_BATCH = 64  # digits per classifier step


class DigitClassifier(nn.Module):
    """Three 3×3 convolutions (16, 32, FEATURES channels; the first two max-pooled) → global average → 10 logits.

    ``features(images (B, 1, 32, 32)) → (B, FEATURES)``; ``forward(images) → logits (B, 10)``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, FEATURES, 3, padding=1), nn.ReLU(),
        )  # fmt: skip
        self.classify = nn.Linear(FEATURES, CLASSES)

    def features(self, images: Tensor) -> Tensor:
        if images.dim() != 4 or tuple(images.shape[1:]) != (1, SIDE, SIDE):
            raise ValueError(f"images: expected (B, 1, {SIDE}, {SIDE}), got {tuple(images.shape)}")
        return self.body(images).mean(dim=(2, 3))  # (B, FEATURES)

    def forward(self, images: Tensor) -> Tensor:
        return self.classify(self.features(images))  # (B, 10)


@lru_cache(maxsize=2)
def trained_classifier(seed: int = 0, epochs: int = TRAIN_EPOCHS) -> DigitClassifier:
    """The classifier trained on the ``seed`` split's training digits (cached: trained once per process).

    Adam at 2e-3 for ``epochs`` epochs, each batch of training digits shifted by up to 2 pixels
    (its 32×32 canvas has that margin). Deterministic for a seed; returned in eval mode. Trains with
    gradients on even when called under ``torch.no_grad`` or inference mode (an evaluation).
    """
    with torch.inference_mode(False), torch.enable_grad():
        return fit_classifier(seed, epochs)


def fit_classifier(seed: int, epochs: int) -> DigitClassifier:
    """The training loop of :func:`trained_classifier`."""
    images, labels = digits32("train", seed)
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        classifier = DigitClassifier()
    optimizer = torch.optim.Adam(classifier.parameters(), lr=2e-3)
    for _ in range(epochs):
        order = torch.randperm(len(images), generator=generator)
        for start in range(0, len(images), TRAIN_BATCH):
            chosen = order[start : start + TRAIN_BATCH]
            shift = torch.randint(-2, 3, (2,), generator=generator).tolist()
            batch = torch.roll(images[chosen], shifts=shift, dims=(2, 3))  # the background (-1) wraps around
            loss = F.cross_entropy(classifier(batch), labels[chosen])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return classifier.eval()


def frechet_distance(first: Tensor, second: Tensor) -> float:
    """The Fréchet distance between Gaussians fitted to two feature sets ``(N, D)`` and ``(M, D)``.

    ``‖μ₁ − μ₂‖² + Tr Σ₁ + Tr Σ₂ − 2 Tr (Σ₁ Σ₂)^{1/2}`` (Heusel et al. 2017, eq. 6) with unbiased
    covariances, in float64. ``Tr (Σ₁ Σ₂)^{1/2}`` is computed as ``Σ √λ`` over the eigenvalues ``λ`` of
    the symmetric ``Σ₁^{1/2} Σ₂ Σ₁^{1/2}`` (the same eigenvalues, and no complex square root).
    """
    if first.dim() != 2 or second.dim() != 2 or first.size(1) != second.size(1) or min(len(first), len(second)) < 2:
        raise ValueError(
            "first, second: expected (N, D) and (M, D) with N, M >= 2, "
            f"got {tuple(first.shape)} and {tuple(second.shape)}"
        )
    first, second = first.double(), second.double()
    mean_gap = first.mean(0) - second.mean(0)
    cov_first, cov_second = (
        torch.cov(first.T).reshape(first.size(1), -1),
        torch.cov(second.T).reshape(first.size(1), -1),
    )
    values, vectors = torch.linalg.eigh(cov_first)
    root_first = vectors @ torch.diag(values.clamp(min=0).sqrt()) @ vectors.T  # Σ₁^{1/2}
    middle = torch.linalg.eigvalsh(root_first @ cov_second @ root_first).clamp(min=0)
    trace = cov_first.trace() + cov_second.trace() - 2 * middle.sqrt().sum()
    return float(mean_gap @ mean_gap + trace)


def class_entropy(predictions: Tensor, classes: int = CLASSES) -> float:
    """The entropy in bits of the histogram of predicted classes ``(N,)`` int64: 0 to log₂ ``classes``."""
    shares = torch.bincount(predictions, minlength=classes).double() / max(len(predictions), 1)
    shares = shares[shares > 0]
    return float(-(shares * shares.log2()).sum()) + 0.0  # + 0.0: no "-0.0"


@torch.no_grad()
def digit_quality(images: Tensor, reference: Tensor, seed: int = 0) -> dict[str, float]:
    """Generated digits ``(N, 1, 32, 32)`` in [-1, 1] against real ones ``(M, 1, 32, 32)``.

    Returns ``{"frechet": the digit-classifier Fréchet distance, "confidence": mean largest class
    probability, "diversity": entropy (bits) of the predicted classes}``.
    """
    classifier = trained_classifier(seed)
    features = classifier.features(images)  # (N, FEATURES)
    probabilities = classifier.classify(features).softmax(-1)  # (N, 10)
    return {
        "frechet": frechet_distance(features, classifier.features(reference)),
        "confidence": float(probabilities.amax(-1).mean()),
        "diversity": class_entropy(probabilities.argmax(-1)),
        "diversity_max": math.log2(CLASSES),
    }
