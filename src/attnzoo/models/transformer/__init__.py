"""The Transformer (Vaswani et al. 2017): encoder-decoder built on attnzoo's MultiHeadAttention."""

from attnzoo.models.transformer.model import Transformer, TransformerConfig

__all__ = ["Transformer", "TransformerConfig"]
