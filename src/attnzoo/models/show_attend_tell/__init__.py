"""Show, Attend and Tell (Xu et al. 2015): image captioning with soft and hard attention."""

from attnzoo.models.show_attend_tell.model import (
    CaptionModel,
    CaptionOutput,
    HardShowAttendTell,
    ShowAndTell,
    ShowAttendTell,
    ShowAttendTellConfig,
    doubly_stochastic_penalty,
)

__all__ = [
    "CaptionModel",
    "CaptionOutput",
    "HardShowAttendTell",
    "ShowAndTell",
    "ShowAttendTell",
    "ShowAttendTellConfig",
    "doubly_stochastic_penalty",
]
