"""End-to-end memory networks (Sukhbaatar et al. 2015): several hops of soft attention over a memory of sentences."""

from attnzoo.models.memn2n.model import MemN2N, MemN2NConfig, MemoryOutput, position_encoding

__all__ = ["MemN2N", "MemN2NConfig", "MemoryOutput", "position_encoding"]
