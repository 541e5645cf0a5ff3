"""Visual question answering: a baseline, stacked attention (Yang et al. 2016), co-attention (Lu et al. 2016)."""

from attnzoo.models.vqa.model import (
    Baseline,
    HierarchicalCoAttention,
    StackedAttention,
    VQAConfig,
    VQAModel,
    VQAOutput,
)

__all__ = ["Baseline", "HierarchicalCoAttention", "StackedAttention", "VQAConfig", "VQAModel", "VQAOutput"]
