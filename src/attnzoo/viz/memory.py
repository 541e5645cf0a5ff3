"""Memory access of a Neural Turing Machine over one sequence (Graves et al. 2014, Figure 6 style).

Four panels: the inputs and the outputs over time (top), the write and the read weightings over
time (bottom, memory locations on the vertical axis). matplotlib is imported inside the function.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def used_rows(write_weights: np.ndarray, read_weights: np.ndarray, threshold: float = 0.01) -> np.ndarray:
    """The memory rows to draw: the shortest circular block holding every weight above ``threshold``.

    The NTM's memory is circular (the shifts of eq. (8) wrap around), so a head that walks past
    the last row goes on at row 0: the block may wrap too. One row of margin on each side.

    Returns:
        row indices in drawing order, e.g. ``[125, 126, 127, 0, 1, 2]``; all rows if none is used.
    """
    peak = np.maximum(write_weights.max(axis=0), read_weights.max(axis=0))  # (N,)
    rows = peak.size
    used = np.flatnonzero(peak > threshold)
    if used.size == 0:
        return np.arange(rows)
    gaps = np.diff(np.append(used, used[0] + rows))  # distance from each used row to the next, circularly
    widest = int(np.argmax(gaps))
    start, length = used[(widest + 1) % used.size], rows - int(gaps[widest]) + 1  # the block after the widest gap
    length = min(length + 2, rows)
    return (start - 1 + np.arange(length)) % rows


def plot_memory_access(
    inputs: np.ndarray,
    outputs: np.ndarray,
    write_weights: np.ndarray,
    read_weights: np.ndarray,
    path: str | Path,
    *,
    title: str | None = None,
    crop: bool = True,
) -> None:
    """Draw the inputs, outputs, write weightings and read weightings of one sequence.

    Args:
        inputs: ``(T, I)`` input vectors. outputs: ``(T, O)`` output probabilities.
        write_weights: ``(T, N)`` weighting of the (first) write head at each step.
        read_weights: ``(T, N)`` weighting of the (first) read head at each step.
        path: the PNG (or any format matplotlib writes) to write.
        title: a title over the figure.
        crop: show only the block of memory rows that the heads use (:func:`used_rows`).
    """
    from matplotlib.figure import Figure

    steps = inputs.shape[0]
    for name, array in [("outputs", outputs), ("write_weights", write_weights), ("read_weights", read_weights)]:
        if array.ndim != 2 or array.shape[0] != steps:
            raise ValueError(f"{name}: expected (T, *) with T = {steps} steps like inputs, got {array.shape}")
    if write_weights.shape != read_weights.shape:
        raise ValueError(
            f"read_weights: expected the shape of write_weights {write_weights.shape}, got {read_weights.shape}"
        )
    rows = used_rows(write_weights, read_weights) if crop else np.arange(write_weights.shape[1])
    figure = Figure(figsize=(10, 6.5), layout="constrained")
    axes = figure.subplots(2, 2, sharex=True, height_ratios=[1, 2])
    panels = [
        (axes[0, 0], inputs.T, "Inputs", "channel", "Greys"),
        (axes[0, 1], outputs.T, "Outputs", "channel", "Greys"),
        (axes[1, 0], write_weights[:, rows].T, "Write weightings", "location", "Greys"),
        (axes[1, 1], read_weights[:, rows].T, "Read weightings", "location", "Greys"),
    ]
    for axis, image, name, ylabel, colours in panels:
        axis.imshow(image, aspect="auto", interpolation="nearest", cmap=colours, vmin=0.0, vmax=1.0)
        axis.set_title(name)
        axis.set_ylabel(ylabel)
        if ylabel == "location":  # label the rows with their memory locations (the block may wrap around)
            ticks = np.linspace(0, rows.size - 1, min(rows.size, 8)).round().astype(int)
            axis.set_yticks(ticks, [str(rows[tick]) for tick in ticks])
    for axis in axes[1]:
        axis.set_xlabel("time")
    if title:
        figure.suptitle(title)
    figure.savefig(path, dpi=120)
