"""Checkers: verdicts over histories. See ``checkers._result`` for the interface.

The linearizability checker is :class:`LinearizabilityChecker`; its models are
in :data:`MODELS` (``checkers._models``), behind the :class:`Model` base class.
"""

from checkers._model import Model
from checkers._models import MODELS, CasRegisterModel, CounterModel, KVModel, MutexModel, RegisterModel, model_named
from checkers._result import UNKNOWN, CheckContext, Checker, Result, Validity, merge_validity, run_checkers
from checkers.counter import CounterChecker
from checkers.linearizable import LinearizabilityChecker
from checkers.mutex import MutexChecker
from checkers.set import SetChecker

__all__ = [
    "MODELS",
    "UNKNOWN",
    "CasRegisterModel",
    "CheckContext",
    "Checker",
    "CounterChecker",
    "CounterModel",
    "KVModel",
    "LinearizabilityChecker",
    "Model",
    "MutexChecker",
    "MutexModel",
    "RegisterModel",
    "Result",
    "SetChecker",
    "Validity",
    "merge_validity",
    "model_named",
    "run_checkers",
]
