"""plot_panels: one labelled panel per matrix, padding cut off, mismatched inputs refused."""

import numpy as np
import pytest

from attnzoo.viz.panels import plot_panels


def test_one_panel_per_matrix_with_its_labels(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    saved = []
    monkeypatch.setattr(Figure, "savefig", lambda figure, path, **_: saved.append(figure))
    matrices = [np.eye(4), np.full((2, 3), 0.5)]  # the first has a padded row and column
    plot_panels(matrices, [list("abc"), list("de")], [list("xyz"), ["u"]], ["one", "two"], tmp_path / "p.png",
                axes=("source", "output"))  # fmt: skip
    panels = [axis for axis in saved[0].axes if axis.get_title()]
    assert [axis.get_title() for axis in panels] == ["one", "two"]
    assert [axis.get_xlabel() for axis in panels] == ["source", "source"]
    assert [tick.get_text() for tick in panels[0].get_xticklabels()] == ["a", "b", "c"]
    assert panels[0].images[0].get_array().shape == (3, 3) and panels[1].images[0].get_array().shape == (1, 2)


def test_mismatched_inputs_are_refused(tmp_path):
    with pytest.raises(ValueError, match="as many of each; got 1, 2, 1, 1"):
        plot_panels([np.eye(2)], [["a"], ["b"]], [["x"]], ["t"], tmp_path / "p.png")
