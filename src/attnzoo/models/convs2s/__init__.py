"""ConvS2S (Gehring et al. 2017): gated convolutions with attention in every decoder layer."""

from attnzoo.models.convs2s.model import ConvS2S, ConvS2SConfig, MultiStepAttention

__all__ = ["ConvS2S", "ConvS2SConfig", "MultiStepAttention"]
