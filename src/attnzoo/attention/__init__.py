"""Attention mechanisms: score functions, soft, local, hard and multi-head attention.

Only torch is imported here, so the layers can be used without the training stack.
"""

from attnzoo.attention.coverage import CoverageAttention, coverage_loss
from attnzoo.attention.functional import (
    AttentionOutput,
    attend,
    causal_mask,
    lengths_to_mask,
    masked_softmax,
)
from attnzoo.attention.hard import HardAttention, HardAttentionOutput, reinforce_loss
from attnzoo.attention.local import LocalAttention
from attnzoo.attention.multihead import KVCache, MultiHeadAttention
from attnzoo.attention.scores import (
    AdditiveScore,
    CosineScore,
    DotScore,
    GeneralScore,
    LocationScore,
    ScaledDotScore,
    Score,
)
from attnzoo.attention.soft import Attention

__all__ = [
    "AdditiveScore",
    "Attention",
    "AttentionOutput",
    "CosineScore",
    "CoverageAttention",
    "DotScore",
    "GeneralScore",
    "HardAttention",
    "HardAttentionOutput",
    "KVCache",
    "LocalAttention",
    "LocationScore",
    "MultiHeadAttention",
    "ScaledDotScore",
    "Score",
    "attend",
    "causal_mask",
    "coverage_loss",
    "lengths_to_mask",
    "masked_softmax",
    "reinforce_loss",
]
