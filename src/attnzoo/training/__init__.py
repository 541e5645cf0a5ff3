"""The ONE way anything trains: :func:`train` (Lightning underneath) and :class:`Run` (a run directory).

Importing this package imports Lightning; ``import attnzoo`` does not.
"""

from attnzoo.training.fit import train
from attnzoo.training.run import Run, RunError

__all__ = ["Run", "RunError", "train"]
