"""Checkers: verdicts over histories. See ``checkers._result`` for the interface.

The linearizability checker is :class:`LinearizabilityChecker`; its models are
in :data:`MODELS` (``checkers._models``), behind the :class:`Model` base class.
"""

from checkers._model import Model
from checkers._models import MODELS, model_named
from checkers._result import UNKNOWN, CheckContext, Checker, Result, Validity, merge_validity, run_checkers
from checkers.linearizable import LinearizabilityChecker

__all__ = [
    "MODELS",
    "UNKNOWN",
    "CheckContext",
    "Checker",
    "LinearizabilityChecker",
    "Model",
    "Result",
    "Validity",
    "merge_validity",
    "model_named",
    "run_checkers",
]
