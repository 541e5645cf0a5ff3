"""Structured self-attentive classification (Lin et al. 2017) and multi-dimensional pooling (Shen et al. 2018)."""

from attnzoo.models.self_attentive.model import SelfAttentive, SelfAttentiveConfig, SelfAttentiveOutput

__all__ = ["SelfAttentive", "SelfAttentiveConfig", "SelfAttentiveOutput"]
