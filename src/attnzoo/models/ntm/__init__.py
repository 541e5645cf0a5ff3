"""The Neural Turing Machine (Graves et al. 2014): attention as content- and location-based memory addressing."""

from attnzoo.models.ntm.addressing import access_memory, ntm_address, read_memory, write_memory
from attnzoo.models.ntm.model import NTM, LSTMBaseline, LSTMBaselineConfig, NTMConfig, NTMOutput

__all__ = [
    "NTM",
    "LSTMBaseline",
    "LSTMBaselineConfig",
    "NTMConfig",
    "NTMOutput",
    "access_memory",
    "ntm_address",
    "read_memory",
    "write_memory",
]
