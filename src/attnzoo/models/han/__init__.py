"""Hierarchical Attention Networks (Yang et al. 2016): word, then sentence attention, for document classification."""

from attnzoo.models.han.model import HAN, HANConfig, HANOutput, MeanPooling

__all__ = ["HAN", "HANConfig", "HANOutput", "MeanPooling"]
