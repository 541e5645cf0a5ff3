"""The Pointer Network tasks (Vinyals et al. 2015, §4): sorting, planar convex hull, planar TSP.

Every generator is deterministic: ``(count, n, seed)`` always gives the same instances
(``numpy.random.default_rng(seed)``). Outputs are sequences of *input indices*:

- sorting: ``n`` numbers uniform in ``[0, 1)``; the target is ``argsort`` (ascending).
- convex hull: ``n`` points uniform in the unit square; the target is the hull's vertices
  counter-clockwise, starting from the lowest index (Vinyals et al. §4.2), then :data:`END`
  (index ``n``), padded with ``n``. Computed with Andrew's monotone chain.
- TSP: ``n`` points uniform in the unit square; the target is an optimal closed tour from
  :func:`held_karp` (exact, for ``n <= 12``), written canonically: it starts at node 0 and
  runs counter-clockwise, so each instance has one target instead of ``2n`` equivalent ones.
  (An optimal Euclidean tour never crosses itself, so its orientation is well defined. The
  direction is geometric on purpose: choosing the direction whose second node has the smaller
  index made the model learn several times slower.)

Baselines for TSP: :func:`nearest_neighbour_tours` and :func:`random_tours`.
Shapes: ``B`` instances, ``n`` points; points are ``(B, n, 2)``, tours ``(B, n)``.
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np

MAX_HELD_KARP_N = 12  # 2^(n-1) * (n-1)^2 work per instance: 0.2M for n = 10, 1.4M for n = 12


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


# ---------------------------------------------------------------------------------------------- sorting


def sort_instances(count: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` lists of ``n`` numbers uniform in ``[0, 1)`` and their ascending order.

    Returns:
        values ``(count, n, 1)`` float32 (one feature per input), targets ``(count, n)`` int64.
    """
    values = _rng(seed).random((count, n)).astype(np.float32)
    return values[..., None], np.argsort(values, axis=1, kind="stable").astype(np.int64)


# ---------------------------------------------------------------------------------------------- convex hull


def _cross(o: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """z of ``(a - o) x (b - o)``: positive when ``o -> a -> b`` turns counter-clockwise."""
    return float((a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]))


def convex_hull(points: np.ndarray) -> list[int]:
    """Vertices of the convex hull of ``points`` ``(n, 2)``: counter-clockwise, lowest index first.

    Andrew's monotone chain (1979): sort by ``(x, y)``, build the lower and the upper chain,
    popping every point that does not make a left turn (collinear points are dropped).
    """
    order = sorted(range(len(points)), key=lambda i: (points[i, 0], points[i, 1]))
    if len(order) < 3:
        return sorted(order)

    def chain(indices: list[int]) -> list[int]:
        kept: list[int] = []
        for i in indices:
            while len(kept) >= 2 and _cross(points[kept[-2]], points[kept[-1]], points[i]) <= 0:
                kept.pop()
            kept.append(i)
        return kept

    hull = chain(order)[:-1] + chain(order[::-1])[:-1]  # lower then upper chain, counter-clockwise
    start = hull.index(min(hull))
    return hull[start:] + hull[:start]


def hull_instances(count: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``count`` sets of ``n`` points uniform in the unit square and their convex hulls.

    Returns:
        points ``(count, n, 2)`` float32; targets ``(count, n + 1)`` int64: hull indices, then
        the end index ``n``, padded with ``n``; lengths ``(count,)``: hull size + 1 (the end).
    """
    points = _rng(seed).random((count, n, 2)).astype(np.float32)
    targets = np.full((count, n + 1), n, dtype=np.int64)
    lengths = np.empty(count, dtype=np.int64)
    for b in range(count):
        hull = convex_hull(points[b].astype(np.float64))
        targets[b, : len(hull)] = hull
        lengths[b] = len(hull) + 1
    return points, targets, lengths


def signed_area(points: np.ndarray, order: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
    """Shoelace area ``sum (x_i y_{i+1} - x_{i+1} y_i) / 2`` of the polygons ``points[b, order[b, :len]]``.

    Positive for a counter-clockwise polygon, negative for a clockwise one.

    Args:
        points: ``(B, n, 2)``. order: ``(B, T)`` vertex indices. lengths: ``(B,)`` vertices
            used per polygon (default ``T``); fewer than 3 give area 0.
    """
    batch, width = order.shape
    lengths = np.full(batch, width) if lengths is None else lengths
    position = np.arange(width)[None, :]  # (1, T)
    used = position < lengths[:, None]  # (B, T)
    vertices = np.take_along_axis(points.astype(np.float64), np.where(used, order, 0)[..., None], axis=1)  # (B, T, 2)
    following = np.where(position + 1 < lengths[:, None], position + 1, 0)  # (B, T): i + 1, wrapping to 0
    nxt = np.take_along_axis(vertices, following[..., None], axis=1)  # (B, T, 2)
    terms = vertices[..., 0] * nxt[..., 1] - nxt[..., 0] * vertices[..., 1]  # (B, T)
    return np.where(used, terms, 0.0).sum(axis=1) / 2 * (lengths >= 3)


# ---------------------------------------------------------------------------------------------- TSP


def tsp_instances(count: int, n: int, seed: int) -> np.ndarray:
    """``count`` TSP instances of ``n`` cities uniform in the unit square: ``(count, n, 2)`` float32."""
    return _rng(seed).random((count, n, 2)).astype(np.float32)


def distance_matrices(points: np.ndarray) -> np.ndarray:
    """Euclidean distances ``(B, n, n)`` (float64) between the points ``(B, n, 2)``."""
    points = points.astype(np.float64)
    return np.linalg.norm(points[:, :, None, :] - points[:, None, :, :], axis=-1)


def tour_length(points: np.ndarray, tours: np.ndarray) -> np.ndarray:
    """Length ``(B,)`` of each closed tour ``tours`` ``(B, n)`` through ``points`` ``(B, n, 2)``."""
    ordered = np.take_along_axis(points.astype(np.float64), tours[..., None], axis=1)  # (B, n, 2)
    return np.linalg.norm(ordered - np.roll(ordered, -1, axis=1), axis=-1).sum(axis=1)


def canonical_tours(points: np.ndarray, tours: np.ndarray) -> np.ndarray:
    """The same closed tours ``(B, n)``, rotated to start at node 0 and turned counter-clockwise."""
    start = np.argmax(tours == 0, axis=1)  # (B,)
    rolled = np.take_along_axis(tours, (start[:, None] + np.arange(tours.shape[1])) % tours.shape[1], axis=1)
    clockwise = signed_area(points, rolled) < 0
    rolled[clockwise, 1:] = rolled[clockwise, :0:-1]
    return rolled


def _subsets_by_size(m: int) -> list[np.ndarray]:
    """Bitmasks over ``m`` nodes grouped by popcount: entry ``s`` holds every subset of size ``s``."""
    return [np.array([sum(1 << i for i in c) for c in combinations(range(m), s)], dtype=np.int64) for s in range(m + 1)]


def held_karp(points: np.ndarray, chunk_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact TSP by Held–Karp dynamic programming (Held & Karp 1962), vectorised over instances.

    With node 0 as the start and ``S`` a subset of the other nodes,
    ``C(S, j) = min_{k in S \\ {j}} C(S \\ {j}, k) + d(k, j)`` is the shortest path from 0 through
    ``S`` ending at ``j in S``; the tour length is ``min_j C(all, j) + d(j, 0)``. All subsets of one
    size are done at once for a whole chunk of instances, the instances on the last (contiguous)
    axis: arrays ``(subsets, j, k, b)``, ``O(2^n n^2)`` work per instance. The tour is read back
    from ``C`` (the ``k`` that attains each minimum), so no parent table is kept.

    The table is float32 (half the memory traffic of float64; ties closer than float32's
    precision may be broken either way); the returned lengths are float64 lengths of the tours.

    Args:
        points: ``(B, n, 2)`` with ``2 <= n <= 12``.
        chunk_size: instances per numpy pass (bounds memory); default chosen from ``n``.

    Returns:
        lengths ``(B,)`` float64 and canonical optimal tours ``(B, n)`` int64 (:func:`canonical_tours`).
    """
    batch, n = points.shape[:2]
    if not 2 <= n <= MAX_HELD_KARP_N:
        raise ValueError(f"points: expected 2 <= n <= {MAX_HELD_KARP_N} cities for Held-Karp, got n = {n}")
    m = n - 1  # nodes other than the start: bit i is node i + 1
    subsets = _subsets_by_size(m)
    largest = max(len(sets) for sets in subsets) * m * m  # elements of the biggest (M, j, k) block
    chunk_size = chunk_size or int(np.clip(2**20 // largest, 32, 256))
    bits = 1 << np.arange(m)  # (m,)
    tours = np.zeros((batch, n), dtype=np.int64)
    for lo in range(0, batch, chunk_size):
        dist = distance_matrices(points[lo : lo + chunk_size]).astype(np.float32).transpose(1, 2, 0)  # (n, n, b)
        b = dist.shape[-1]
        to_j_from_k = np.ascontiguousarray(dist[1:, 1:].transpose(1, 0, 2))[None]  # (1, j, k, b) = d(k, j)
        cost = np.full((2**m, m, b), np.inf, dtype=np.float32)  # C(S, j)
        cost[bits, np.arange(m)] = dist[0, 1:]  # C({j}, j) = d(0, j)
        for size in range(2, m + 1):
            sets = subsets[size]  # (M,)
            previous = sets[:, None] & ~bits[None, :]  # (M, j): S \ {j}
            value = (cost[previous] + to_j_from_k).min(axis=2)  # (M, j, b); inf where k not in S \ {j}
            value[(sets[:, None] & bits[None, :]) == 0] = np.inf  # j must be in S
            cost[sets] = value
        columns = np.arange(b)
        last = (cost[-1] + dist[1:, 0]).argmin(axis=0)  # (b,): the node before returning to 0
        remaining = np.full(b, 2**m - 1)
        for position in range(n - 1, 0, -1):  # walk back: which k attains C(S, last)?
            tours[lo + columns, position] = last + 1
            remaining = remaining & ~(1 << last)
            if position > 1:
                last = (cost[remaining, :, columns] + dist[1:, 1:][:, last, columns].T).argmin(axis=1)  # (b,)
    tours = canonical_tours(points, tours)
    return tour_length(points, tours), tours


def nearest_neighbour_tours(points: np.ndarray, start: int = 0) -> np.ndarray:
    """Greedy tours ``(B, n)``: from ``start``, always go to the closest unvisited city."""
    dist = distance_matrices(points)
    batch, n = points.shape[:2]
    rows = np.arange(batch)
    visited = np.zeros((batch, n), dtype=bool)
    tours = np.empty((batch, n), dtype=np.int64)
    current = np.full(batch, start)
    for position in range(n):
        tours[:, position] = current
        visited[rows, current] = True
        current = np.where(visited, np.inf, dist[rows, current]).argmin(axis=1)
    return tours


def random_tours(count: int, n: int, seed: int) -> np.ndarray:
    """``count`` uniformly random tours ``(count, n)`` of ``n`` cities."""
    return _rng(seed).permuted(np.tile(np.arange(n), (count, 1)), axis=1)


def tsp_dataset(count: int, n: int, seed: int, cache_dir: str | Path | None = None) -> tuple[np.ndarray, ...]:
    """TSP instances with their optimal tours, cached in ``cache_dir/tsp_n{n}_{count}_s{seed}.npz``.

    Returns:
        points ``(count, n, 2)`` float32, canonical optimal tours ``(count, n)`` int64,
        optimal lengths ``(count,)`` float64.
    """
    path = None if cache_dir is None else Path(cache_dir) / f"tsp_n{n}_{count}_s{seed}.npz"
    if path is not None and path.is_file():
        with np.load(path) as stored:  # canonical_tours again: files written before a change of canonical form
            return stored["points"], canonical_tours(stored["points"], stored["tours"]), stored["lengths"]
    points = tsp_instances(count, n, seed)
    lengths, tours = held_karp(points)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.stem + ".tmp.npz")
        np.savez_compressed(temporary, points=points, tours=tours, lengths=lengths)
        temporary.replace(path)
    return points, tours, lengths
