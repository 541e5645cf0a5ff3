"""The digit-classifier Fréchet distance and its companions (attnzoo.tasks.digit_frechet)."""

import math

import pytest
import torch

from attnzoo.tasks.digit_frechet import DigitClassifier, class_entropy, frechet_distance


def correlated_features(count: int = 500, size: int = 6) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    mixing = torch.randn(size, size, generator=generator, dtype=torch.float64)
    return torch.randn(count, size, generator=generator, dtype=torch.float64) @ mixing  # (count, size)


def test_a_set_is_at_distance_zero_from_itself():
    features = correlated_features()
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-8)


def test_a_shifted_set_is_at_the_squared_shift_when_covariances_are_equal():
    features, shift = correlated_features(), torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0, 1.5], dtype=torch.float64)
    assert frechet_distance(features, features + shift) == pytest.approx(float(shift @ shift), rel=1e-8)


def test_a_scaled_set_matches_the_closed_form_trace_term():
    """Σ₂ = s² Σ₁ (the set times s, centred): Tr(Σ₁ + Σ₂ − 2 (Σ₁Σ₂)^{1/2}) = (1 − s)² Tr Σ₁."""
    features = correlated_features()
    centred = features - features.mean(0)
    trace = torch.cov(centred.T).trace().item()
    assert frechet_distance(centred, 3 * centred) == pytest.approx(4 * trace, rel=1e-8)


def test_two_independent_gaussians_against_the_diagonal_formula():
    """Diagonal covariances: Σ_k (μ₁ₖ − μ₂ₖ)² + (σ₁ₖ − σ₂ₖ)², within sampling error."""
    generator = torch.Generator().manual_seed(1)
    first = torch.randn(20_000, 3, generator=generator, dtype=torch.float64) * torch.tensor([1.0, 2.0, 0.5])
    second = torch.randn(20_000, 3, generator=generator, dtype=torch.float64) * torch.tensor([2.0, 2.0, 1.5]) + 1
    expected = 3 * 1.0 + (1 - 2) ** 2 + 0 + (0.5 - 1.5) ** 2
    assert frechet_distance(first, second) == pytest.approx(expected, rel=0.03)


def test_bad_feature_shapes_are_refused():
    with pytest.raises(ValueError, match=r"first, second: expected \(N, D\) and \(M, D\).*got \(5, 3\) and \(5, 4\)"):
        frechet_distance(torch.randn(5, 3), torch.randn(5, 4))


def test_class_entropy_of_uniform_and_single_class_predictions():
    assert class_entropy(torch.arange(10).repeat(7)) == pytest.approx(math.log2(10))
    assert class_entropy(torch.full((30,), 4)) == 0.0
    assert class_entropy(torch.tensor([0, 0, 1, 1])) == pytest.approx(1.0)


def test_the_classifier_shapes_and_refuses_other_images():
    classifier = DigitClassifier()
    assert classifier.features(torch.zeros(2, 1, 32, 32)).shape == (2, 64)
    assert classifier(torch.zeros(2, 1, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match=r"images: expected \(B, 1, 32, 32\), got \(2, 3, 32, 32\)"):
        classifier(torch.zeros(2, 3, 32, 32))


def test_the_classifier_trains_even_when_first_asked_for_inside_an_evaluation():
    """The first call comes from an evaluation under no_grad: training must still get gradients."""
    from attnzoo.tasks.digit_frechet import trained_classifier

    torch.manual_seed(0)
    untrained = DigitClassifier()
    with torch.no_grad():
        trained = trained_classifier(0, epochs=1)
    assert not trained.training
    assert not torch.equal(trained.classify.weight, untrained.classify.weight)
