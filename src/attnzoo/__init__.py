"""attnzoo: attention mechanisms and the research models built on them.

``import attnzoo`` loads torch and the layers only; the training stack (Lightning), the
pictures (matplotlib) and the command line (Typer) are imported where they are used.
"""

from attnzoo.attention import *  # noqa: F403
from attnzoo.attention import __all__ as _attention_names
from attnzoo.registry import create_model, list_models, presets, register_model

__version__ = "0.1.0"


def load_run(path):
    """A trained run directory: ``run.translate(["..."], beam=4)``, ``run.evaluate(pairs)``,
    ``run.model``, ``run.task`` (:class:`attnzoo.training.Run`; imports the training stack)."""
    from attnzoo.training.run import Run

    run = Run(path)
    run.config()  # a clear error now if this is not a run directory
    return run


__all__ = [*_attention_names, "create_model", "list_models", "load_run", "presets", "register_model"]
