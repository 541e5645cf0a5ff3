"""Pointer Networks (Vinyals et al. 2015): attention over the inputs is the output distribution."""

from attnzoo.models.pointer.model import START, PointerConfig, PointerNet

__all__ = ["START", "PointerConfig", "PointerNet"]
