"""Sorting, convex hull and TSP data for the Pointer Network: exact solver, hull targets, baselines."""

from itertools import combinations, permutations

import numpy as np
import pytest

from attnzoo.tasks import geometry


def brute_force_lengths(points: np.ndarray) -> np.ndarray:
    """Shortest closed tour of each instance by trying every permutation of nodes 1 .. n-1."""
    dist = geometry.distance_matrices(points)
    best = np.full(len(points), np.inf)
    for rest in permutations(range(1, points.shape[1])):
        tour = np.array((0, *rest))
        best = np.minimum(best, dist[:, tour, np.roll(tour, -1)].sum(axis=1))
    return best


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6, 7])
def test_held_karp_equals_brute_force(n):
    points = geometry.tsp_instances(40, n, seed=n)
    lengths, tours = geometry.held_karp(points, chunk_size=16)  # several chunks
    np.testing.assert_allclose(lengths, brute_force_lengths(points), rtol=1e-6)
    np.testing.assert_allclose(geometry.tour_length(points, tours), lengths)
    assert (np.sort(tours, axis=1) == np.arange(n)).all()


def test_held_karp_tours_are_canonical_and_rejects_large_n():
    points = geometry.tsp_instances(64, 9, seed=3)
    _, tours = geometry.held_karp(points)
    assert (tours[:, 0] == 0).all() and (geometry.signed_area(points, tours) > 0).all()  # counter-clockwise
    with pytest.raises(ValueError, match="n = 13"):
        geometry.held_karp(geometry.tsp_instances(1, 13, seed=0))


def test_canonical_tours_identifies_rotations_and_reversals():
    points = geometry.tsp_instances(1, 8, seed=0)
    tour = np.random.default_rng(0).permutation(8)
    variants = np.stack([np.roll(tour, shift) for shift in range(8)] + [np.roll(tour[::-1], s) for s in range(8)])
    canonical = geometry.canonical_tours(np.repeat(points, 16, axis=0), variants)
    assert (canonical == canonical[0]).all() and canonical[0, 0] == 0
    assert geometry.signed_area(points, canonical[:1])[0] > 0


def test_baseline_tours_are_permutations_and_no_shorter_than_optimal():
    points = geometry.tsp_instances(50, 8, seed=1)
    optimal, _ = geometry.held_karp(points)
    for tours in (geometry.nearest_neighbour_tours(points), geometry.random_tours(50, 8, seed=2)):
        assert (np.sort(tours, axis=1) == np.arange(8)).all()
        assert (geometry.tour_length(points, tours) >= optimal - 1e-9).all()
    nearest = geometry.nearest_neighbour_tours(points)
    dist = geometry.distance_matrices(points)
    np.fill_diagonal(dist[0], np.inf)
    assert nearest[0, 1] == dist[0, 0].argmin()  # the first move goes to the closest city


def test_generators_are_deterministic():
    assert np.array_equal(geometry.tsp_instances(5, 6, seed=7), geometry.tsp_instances(5, 6, seed=7))
    assert not np.array_equal(geometry.tsp_instances(5, 6, seed=7), geometry.tsp_instances(5, 6, seed=8))
    for first, second in zip(geometry.hull_instances(4, 6, 1), geometry.hull_instances(4, 6, 1), strict=True):
        assert np.array_equal(first, second)
    values, order = geometry.sort_instances(20, 10, seed=0)
    assert values.shape == (20, 10, 1)
    assert (np.diff(np.take_along_axis(values[..., 0], order, axis=1), axis=1) >= 0).all()


def cross(o, a, b) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def in_triangle(p, a, b, c) -> bool:
    signs = [cross(a, b, p), cross(b, c, p), cross(c, a, p)]
    return all(s > 0 for s in signs) or all(s < 0 for s in signs)


def test_convex_hull_targets_independently_checked():
    """Each hull edge has every other point strictly on its left (counter-clockwise, nothing outside), and
    the vertices are exactly the points not inside a triangle of three others (Carathéodory)."""
    points, targets, lengths = geometry.hull_instances(30, 9, seed=5)
    for b in range(len(points)):
        hull = [int(i) for i in targets[b, : lengths[b] - 1]]
        assert (targets[b, lengths[b] - 1 :] == 9).all()  # the end index, then padding with it
        assert hull[0] == min(hull) and len(hull) >= 3
        p = points[b].astype(np.float64)
        for a, c in zip(hull, hull[1:] + hull[:1], strict=True):
            assert all(cross(p[a], p[c], p[k]) > 0 for k in range(9) if k not in (a, c))
        extreme = {
            k
            for k in range(9)
            if not any(in_triangle(p[k], *p[list(t)]) for t in combinations([i for i in range(9) if i != k], 3))
        }
        assert set(hull) == extreme


def test_signed_area():
    square = np.array([[[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.5]]], dtype=float)
    np.testing.assert_allclose(geometry.signed_area(square, np.array([[0, 1, 2, 3, 4]]), np.array([4])), [1.0])
    np.testing.assert_allclose(geometry.signed_area(square, np.array([[3, 2, 1, 0]])), [-1.0])  # clockwise
    np.testing.assert_allclose(geometry.signed_area(square, np.array([[0, 1, 2, 4]]), np.array([3])), [0.5])
    np.testing.assert_allclose(geometry.signed_area(square, np.array([[0, 1, 2]]), np.array([2])), [0.0])


def test_tsp_dataset_cache(tmp_path):
    first = geometry.tsp_dataset(30, 6, seed=4, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 1
    second = geometry.tsp_dataset(30, 6, seed=4, cache_dir=tmp_path)
    for a, b in zip(first, second, strict=True):
        assert np.array_equal(a, b)
