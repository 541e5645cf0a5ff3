"""Attention mechanisms: score functions; soft, local, hard, multi-head and multi-dimensional attention;
location-aware attention (speech); coverage; structured self-attention pooling; co-attention (VQA);
attention-over-attention; self-attention over feature maps (SAGAN); recording the weights that the fused
kernels never form (``record_attention``).

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
from attnzoo.attention.location import (
    LocationAwareAttention,
    LocationAwareScore,
    SmoothedLocationAwareAttention,
)
from attnzoo.attention.multidim import MultiDimensionalAttention
from attnzoo.attention.multihead import KVCache, MultiHeadAttention
from attnzoo.attention.over import AttentionOverAttention, attention_over_attention
from attnzoo.attention.pooling import StructuredSelfAttention, attention_penalty, hop_overlap
from attnzoo.attention.probe import Recording, attention_layers, record_attention
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
    "LocationAwareAttention",
    "LocationAwareScore",
    "LocationScore",
    "MultiDimensionalAttention",
    "MultiHeadAttention",
    "ParallelCoAttention",
    "Recording",
    "ScaledDotScore",
    "Score",
    "SmoothedLocationAwareAttention",
    "SpatialSelfAttention",
    "StructuredSelfAttention",
    "affinity",
    "attend",
    "attention_layers",
    "attention_penalty",
    "attention_over_attention",
    "causal_mask",
    "coverage_loss",
    "hop_overlap",
    "lengths_to_mask",
    "masked_softmax",
    "record_attention",
    "reinforce_loss",
]
