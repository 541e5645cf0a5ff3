"""Attention-Sum (Kadlec et al. 2016) and Attention-over-Attention (Cui et al. 2017) readers for cloze questions."""

from attnzoo.models.aoa.model import AoAReader, ASReader, Reader, ReaderConfig, ReaderOutput, sum_attention

__all__ = ["ASReader", "AoAReader", "Reader", "ReaderConfig", "ReaderOutput", "sum_attention"]
