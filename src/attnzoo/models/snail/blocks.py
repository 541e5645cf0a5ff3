"""SNAIL's building blocks (Mishra, Rohaninejad, Chen & Abbeel 2018, §3 and Appendix B, Algorithms 1-3).

Every block maps a sequence ``(B, T, D_in)`` to ``(B, T, D_in + D_added)``: it *concatenates* what it
computes to its input, so later blocks see every earlier feature. Every block is causal: the output
at step ``t`` depends on the inputs at steps ``<= t`` only.

    DenseBlock(R, D)     xf, xg = CausalConv(x, dilation R, D filters), kernel 2          (Algorithm 1)
                         activations = tanh(xf) ⊙ σ(xg)             (the gated activation of WaveNet)
                         return concat(x, activations)
    TCBlock(T, D)        L = ⌈log2 T⌉ DenseBlocks of dilations 1, 2, 4, ..., 2^(L-1)       (Algorithm 2)
    AttentionBlock(K, V) keys = x W_K, query = x W_Q, values = x W_V                         (Algorithm 3)
                         read = softmax(causal(query keysᵀ) / √K) values
                         return concat(x, read)

The paper writes TCBlock's dilations as ``2^i`` for ``i = 1 .. ⌈log2 T⌉``; here they start at 1
(``2^0``), so that the receptive field is exactly ``2^L >= T`` steps (:meth:`TCBlock.receptive_field`)
and no step between is skipped. The attention is the library's :class:`~attnzoo.attention.Attention`
with :class:`~attnzoo.attention.ScaledDotScore` under :func:`~attnzoo.attention.causal_mask`.

Shape legend: ``B`` batch, ``T`` steps, ``D`` features.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnzoo.attention import Attention, ScaledDotScore, causal_mask
from attnzoo.attention.functional import check_shape


class DenseBlock(nn.Module):
    """Algorithm 1: a dilated causal convolution (kernel 2) with a gated activation, concatenated to the input.

    Args:
        in_features: ``D_in``. filters: ``D``, the features added. dilation: ``R``.
    """

    kernel_size = 2  # Appendix B: "causal convolutions with kernel size 2"

    def __init__(self, in_features: int, filters: int, dilation: int) -> None:
        super().__init__()
        self.in_features, self.filters, self.dilation = in_features, filters, dilation
        self.conv = nn.Conv1d(in_features, 2 * filters, self.kernel_size, dilation=dilation)  # xf and xg at once

    @property
    def out_features(self) -> int:
        return self.in_features + self.filters

    def forward(self, x: Tensor) -> Tensor:
        """``(B, T, D_in) -> (B, T, D_in + D)``; step ``t`` reads steps ``t`` and ``t - R`` (zero before 0)."""
        check_shape("x", x, (None, None, self.in_features), "(B, T, D_in)")
        padded = F.pad(x.transpose(1, 2), (self.dilation * (self.kernel_size - 1), 0))  # causal: pad the past only
        xf, xg = self.conv(padded).transpose(1, 2).chunk(2, dim=-1)  # (B, T, D) each
        activations = torch.tanh(xf) * torch.sigmoid(xg)  # tanh(xf) ⊙ σ(xg)
        return torch.cat([x, activations], dim=-1)


class TCBlock(nn.Module):
    """Algorithm 2: ``⌈log2 T⌉`` DenseBlocks of dilations 1, 2, 4, ...: a receptive field of ``2^L >= T`` steps.

    Args:
        in_features: ``D_in``. length: ``T``, the longest sequence the block must see whole.
        filters: ``D`` of every DenseBlock.
    """

    def __init__(self, in_features: int, length: int, filters: int) -> None:
        super().__init__()
        if length < 2:
            raise ValueError(f"length: expected a sequence of at least 2 steps, got {length}")
        layers, size = [], in_features
        for level in range(math.ceil(math.log2(length))):
            layers.append(DenseBlock(size, filters, dilation=2**level))
            size = layers[-1].out_features
        self.layers = nn.Sequential(*layers)
        self.in_features, self.out_features = in_features, size

    @property
    def receptive_field(self) -> int:
        """Steps that the output at ``t`` reads: ``t - 2^L + 1 .. t``."""
        return 1 + sum(layer.dilation for layer in self.layers)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, T, D_in) -> (B, T, D_in + L * D)``."""
        check_shape("x", x, (None, None, self.in_features), "(B, T, D_in)")
        return self.layers(x)


class AttentionBlock(nn.Module):
    """Algorithm 3: single-head causal key/query/value attention, its read concatenated to the input.

    Args:
        in_features: ``D_in``. key_size: ``K`` (keys and queries). value_size: ``V``, the features added.
        tied_start: start the key map as a copy of the query map (they train apart). The paper does not
            say how it initialises; independent random maps let the few-shot SNAIL settle on attending
            *away* from the query's class (see the model README), a copy starts it on like-to-like.
    """

    def __init__(self, in_features: int, key_size: int, value_size: int, tied_start: bool = True) -> None:
        super().__init__()
        self.in_features, self.value_size = in_features, value_size
        self.query = nn.Linear(in_features, key_size)  # query = affine(x, K)
        self.keys = nn.Linear(in_features, key_size)  # keys = affine(x, K)
        self.values = nn.Linear(in_features, value_size)  # values = affine(x, V)
        self.attention = Attention(ScaledDotScore())  # softmax(q kᵀ / √K) v, masked
        if tied_start:  # keys = query at the start: q·k = |W x + b|² for like steps, so like attends to like
            self.keys.load_state_dict(self.query.state_dict())

    @property
    def out_features(self) -> int:
        return self.in_features + self.value_size

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(B, T, D_in) -> (B, T, D_in + V)`` and the attention weights ``(B, T, T)`` (zero above the diagonal)."""
        check_shape("x", x, (None, None, self.in_features), "(B, T, D_in)")
        mask = causal_mask(x.size(1), device=x.device)  # (T, T): step t attends steps <= t
        read, weights = self.attention(self.query(x), self.keys(x), self.values(x), mask=mask)
        return torch.cat([x, read], dim=-1), weights
