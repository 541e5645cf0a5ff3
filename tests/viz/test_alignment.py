"""Alignment pictures read at word level: no overlapping labels, the title and colour bar apart."""

from __future__ import annotations

import itertools

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg

from attnzoo.viz.alignment import PANEL_COLUMNS, alignment_figure

SENTENCE = (
    "the quick brown fox jumps over the lazy dog while seven tired zebras watch from behind a long wooden fence"
).split()


def extents(labels, renderer):
    return [label.get_window_extent(renderer) for label in labels if label.get_text()]


def overlapping(boxes) -> list:
    return [(a, b) for a, b in itertools.combinations(boxes, 2) if a.overlaps(b)]


def drawn(figure):
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return canvas.get_renderer()


def test_a_twenty_word_sentence_has_no_overlapping_tick_labels():
    assert len(SENTENCE) == 20
    weights = np.random.default_rng(0).dirichlet(np.ones(20), size=12)
    output = [f"word{i}" for i in range(12)]
    figure = alignment_figure(weights, SENTENCE, output, title="a long title " * 12, reference="the reference " * 6)
    renderer = drawn(figure)
    axis = figure.axes[0]
    assert not overlapping(extents(axis.get_xticklabels(), renderer))
    assert not overlapping(extents(axis.get_yticklabels(), renderer))
    title = figure._suptitle.get_window_extent(renderer)
    for other in figure.axes:  # the heat map and the colour bar stay clear of the title
        assert not title.overlaps(other.get_tightbbox(renderer)), other


def test_a_long_input_is_split_across_panels():
    width = PANEL_COLUMNS + 5
    figure = alignment_figure(np.full((3, width), 1 / width), [f"w{i}" for i in range(width)], ["a", "b", "c"])
    heat_maps = [axis for axis in figure.axes if axis.get_label() != "<colorbar>"]
    assert len(heat_maps) == 2
    assert [len(axis.get_xticklabels()) for axis in heat_maps] == [PANEL_COLUMNS, 5]
