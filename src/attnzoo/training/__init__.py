"""The ONE way anything trains: :func:`train` (Lightning underneath) and :class:`Run` (a run directory).

``Run`` (reading and using a trained run) imports no Lightning; ``train`` imports it on first use.
"""

from attnzoo.training.run import Run, RunError

__all__ = ["Run", "RunError", "train", "train_once"]


def __getattr__(name: str):
    if name in ("train", "train_once"):  # Lightning is imported only by what trains
        from attnzoo.training import fit

        return getattr(fit, name)
    raise AttributeError(f"module 'attnzoo.training' has no attribute {name!r}")
