"""Every head of every layer of a Transformer, for one example, on one page.

Rows: the encoder's self-attention layers, then the decoder's self-attention layers, then its
cross-attention layers; columns: the heads. Each panel is one ``(T_q, T_k)`` weight matrix with
the query tokens on y and the key tokens on x, as in Vaswani et al. 2017's Figures 3-5.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from attnzoo.viz.alignment import font_families, token_labels


def plot_attention_heads(
    encoder_self: Sequence,
    decoder_self: Sequence,
    cross: Sequence,
    source_tokens: Sequence[str],
    output_tokens: Sequence[str],
    path: str | Path,
    *,
    title: str | None = None,
) -> None:
    """Draw all layers x heads of the three kinds of attention and write the grid to ``path``.

    Args:
        encoder_self: per encoder layer, ``(H, S, S)`` weights (source over source).
        decoder_self: per decoder layer, ``(H, T, T)`` weights (output over output, causal).
        cross: per decoder layer, ``(H, T, S)`` weights (output over source).
        source_tokens: the ``S`` source labels. output_tokens: the ``T`` labels of the decoder
            positions on y (the token each position *predicts*); the decoder's self-attention keys on
            x are its inputs, ``<bos>`` and the output shifted right.
        path: the PNG to write. title: text above the grid.
    """
    from matplotlib.figure import Figure  # lazily: `import attnzoo` must not load matplotlib

    kinds = [
        ("encoder self", encoder_self, source_tokens, source_tokens),
        ("decoder self", decoder_self, output_tokens, ["<bos>", *output_tokens[:-1]]),
        ("cross", cross, output_tokens, source_tokens),
    ]
    rows = [
        (f"{name} {index + 1}", np.asarray(weights), y, x)
        for name, layers, y, x in kinds
        for index, weights in enumerate(layers)
    ]
    if not rows:
        raise ValueError("expected at least one layer of attention weights, got none")
    heads = rows[0][1].shape[0]
    for label, weights, y_tokens, x_tokens in rows:
        if weights.shape != (heads, len(y_tokens), len(x_tokens)):
            raise ValueError(
                f"{label}: expected weights (H={heads}, {len(y_tokens)}, {len(x_tokens)}), got {weights.shape}"
            )
    panel = max(1.6, 0.16 * max(len(source_tokens), len(output_tokens)))
    figure = Figure(figsize=(panel * heads + 1.0, panel * len(rows) + 0.8), layout="constrained")
    axes = figure.subplots(len(rows), heads, squeeze=False)
    font = {"fontfamily": font_families(), "fontsize": 6}
    for row, (label, weights, y_tokens, x_tokens) in enumerate(rows):
        for head in range(heads):
            axis = axes[row, head]
            image = axis.imshow(weights[head], cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
            axis.set_xticks(range(len(x_tokens)), token_labels(x_tokens), rotation=90, **font)
            axis.set_yticks(range(len(y_tokens)), token_labels(y_tokens), **font)
            axis.tick_params(length=0, pad=1)
            if row == 0:
                axis.set_title(f"head {head + 1}", fontsize=9)
            if head == 0:
                axis.set_ylabel(label, fontsize=9)
    figure.colorbar(image, ax=axes, shrink=0.6, label="attention weight", location="right")  # one for all
    if title:
        figure.suptitle(textwrap.fill(title, 90), fontsize=10)
    figure.savefig(path, dpi=110)
