"""Rocktäschel et al. 2016: conditional encoding, attention and word-by-word attention for entailment."""

from attnzoo.models.entailment.model import (
    READERS,
    AttentionReader,
    ConditionalReader,
    EntailmentConfig,
    EntailmentModel,
    IndependentReader,
    WordByWordReader,
)

__all__ = [
    "READERS",
    "AttentionReader",
    "ConditionalReader",
    "EntailmentConfig",
    "EntailmentModel",
    "IndependentReader",
    "WordByWordReader",
]
