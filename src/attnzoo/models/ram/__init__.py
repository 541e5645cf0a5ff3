"""The Recurrent Attention Model (Mnih et al. 2014): hard visual attention with glimpses, trained by REINFORCE."""

from attnzoo.models.ram.glimpse import GlimpseSensor, glimpse_boxes, glimpse_centres
from attnzoo.models.ram.model import (
    RAM,
    DigitsConvNet,
    DigitsConvNetConfig,
    DigitsMLP,
    DigitsMLPConfig,
    RAMConfig,
    RAMOutput,
)

__all__ = [
    "RAM",
    "DigitsConvNet",
    "DigitsConvNetConfig",
    "DigitsMLP",
    "DigitsMLPConfig",
    "GlimpseSensor",
    "RAMConfig",
    "RAMOutput",
    "glimpse_boxes",
    "glimpse_centres",
]
