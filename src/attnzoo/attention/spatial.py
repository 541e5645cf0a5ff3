"""Self-attention over a feature map: the block of Self-Attention GAN (Zhang et al. 2018, §3).

Every position of a ``(B, C, H, W)`` feature map attends to every other one, so a pixel can draw on
features far outside a convolution's receptive field. With ``x_i`` the feature vector at position
``i`` (``N = H·W`` positions) and ``f, g, h, v`` 1×1 convolutions:

    s_ij    = f(x_i)ᵀ g(x_j)                                   (eq. 1, the score)
    β_{j,i} = exp(s_ij) / Σ_i exp(s_ij)                         (eq. 1, softmax over the keys i)
    o_j     = v( Σ_i β_{j,i} h(x_i) )                           (eq. 2)
    y_i     = γ o_i + x_i,   γ a learned scalar initialised to 0 (eq. 3)

so the block starts as the identity and learns how much non-local evidence to mix in. ``f`` and
``g`` reduce the channels to ``C/8`` (the paper's ``C̄``); ``h`` to ``C/value_reduction`` (the
authors' code: ``C/2``), which ``v`` maps back to ``C``.

Shape legend: B batch, C channels, H × W the map, N = H·W positions (queries j and keys i).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from attnzoo.attention.functional import AttentionOutput, check_finite, in_query_chunks, masked_softmax


class SpatialSelfAttention(nn.Module):
    """SAGAN's self-attention block (Zhang et al. 2018, eqs. 1–3) for any ``(B, C, H, W)`` feature map.

    Args:
        channels: C, the feature map's channels.
        reduction: f and g map C to ``C // reduction`` channels (paper: 8).
        value_reduction: h maps C to ``C // value_reduction`` channels (authors' code: 2).
        chunk_size: queries per chunk (None: all at once). Peak memory of the scores is
            ``O(B · chunk_size · N)`` instead of ``O(B · N²)``; the result is identical.

    Call: ``block(x, need_weights=True)`` with ``x`` ``(B, C, H, W)`` returns ``AttentionOutput``:
        context: ``y``, ``(B, C, H, W)`` (eq. 3).
        weights: ``β``, ``(B, N, N)``, row ``j`` = where query position ``j`` looks (rows sum to 1;
            positions in row-major order, ``j = row · W + column``), or None.
    """

    def __init__(self, channels: int, reduction: int = 8, value_reduction: int = 2, chunk_size: int | None = None):
        super().__init__()
        if channels // reduction < 1 or channels // value_reduction < 1:
            raise ValueError(
                f"channels: expected at least reduction = {reduction} and value_reduction = {value_reduction}, "
                f"got {channels}"
            )
        self.channels, self.chunk_size = channels, chunk_size
        self.key = nn.Conv2d(channels, channels // reduction, 1, bias=False)  # f, W_f
        self.query = nn.Conv2d(channels, channels // reduction, 1, bias=False)  # g, W_g
        self.value = nn.Conv2d(channels, channels // value_reduction, 1, bias=False)  # h, W_h
        self.out = nn.Conv2d(channels // value_reduction, channels, 1, bias=False)  # v, W_v
        self.gamma = nn.Parameter(torch.zeros(()))  # γ, eq. (3): starts at 0, the block is the identity

    def forward(self, x: Tensor, need_weights: bool = True) -> AttentionOutput:
        if x.dim() != 4 or x.size(1) != self.channels:
            raise ValueError(f"x: expected (B, C, H, W) with C = {self.channels}, got {tuple(x.shape)}")
        check_finite("x", x)
        batch, _, height, width = x.shape
        keys = self.key(x).flatten(2).transpose(1, 2)  # f(x_i): (B, N, C/8)
        queries = self.query(x).flatten(2).transpose(1, 2)  # g(x_j): (B, N, C/8)
        values = self.value(x).flatten(2).transpose(1, 2)  # h(x_i): (B, N, Cv)

        def compute(rows: slice) -> tuple[Tensor, Tensor]:
            scores = queries[:, rows] @ keys.transpose(1, 2)  # s_ij for queries j in rows: (B, n, N)
            beta = masked_softmax(scores, dim=-1)  # β_{j,i}, eq. (1): (B, n, N)
            kept = beta if need_weights else beta.new_empty(batch, beta.size(1), 0)
            return beta @ values, kept  # Σ_i β_{j,i} h(x_i): (B, n, Cv)

        mixed, weights = in_query_chunks(compute, height * width, self.chunk_size, dim=1)
        mixed = mixed.transpose(1, 2).reshape(batch, -1, height, width)  # (B, Cv, H, W)
        y = self.gamma * self.out(mixed) + x  # y_i = γ o_i + x_i, eqs. (2)-(3): (B, C, H, W)
        return AttentionOutput(y, weights if need_weights else None)
