"""Attention mechanisms: score functions; soft, local, hard, multi-head and multi-dimensional attention;
structured self-attention pooling; co-attention; attention-over-attention; self-attention over feature maps (SAGAN).

Only torch is imported here, so the layers can be used without the training stack.
"""

from attnzoo.attention.coattention import AlternatingCoAttention, CoAttentionOutput, ParallelCoAttention, affinity
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
from attnzoo.attention.multidim import MultiDimensionalAttention
from attnzoo.attention.multihead import KVCache, MultiHeadAttention
from attnzoo.attention.over import AttentionOverAttention, attention_over_attention
from attnzoo.attention.pooling import StructuredSelfAttention, attention_penalty, hop_overlap
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
from attnzoo.attention.spatial import SpatialSelfAttention

__all__ = [
    "AdditiveScore",
    "AlternatingCoAttention",
    "Attention",
    "AttentionOutput",
    "AttentionOverAttention",
    "CoAttentionOutput",
    "CosineScore",
    "CoverageAttention",
    "DotScore",
    "GeneralScore",
    "HardAttention",
    "HardAttentionOutput",
    "KVCache",
    "LocalAttention",
    "LocationScore",
    "MultiDimensionalAttention",
    "MultiHeadAttention",
    "ParallelCoAttention",
    "ScaledDotScore",
    "Score",
    "SpatialSelfAttention",
    "StructuredSelfAttention",
    "affinity",
    "attend",
    "attention_penalty",
    "attention_over_attention",
    "causal_mask",
    "coverage_loss",
    "hop_overlap",
    "lengths_to_mask",
    "masked_softmax",
    "reinforce_loss",
]
