"""attnzoo: attention mechanisms and the research models built on them.

``import attnzoo`` loads torch and the layers only; the training stack (Lightning), the
pictures (matplotlib) and the command line (Typer) are imported where they are used.
"""

from attnzoo.attention import *  # noqa: F403
from attnzoo.attention import __all__ as _attention_names
from attnzoo.registry import create_model, list_models, presets, register_model

__version__ = "0.1.0"

__all__ = [*_attention_names, "create_model", "list_models", "presets", "register_model"]
