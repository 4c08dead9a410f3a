"""Checkers: verdicts over histories. See ``checkers._result`` for the interface.

The linearizability checker is :class:`LinearizabilityChecker`; its models are
in :data:`MODELS` (``checkers._models``), behind the :class:`Model` base class.
"""

from typing import TYPE_CHECKING

from checkers._model import Model
from checkers._models import MODELS, CasRegisterModel, CounterModel, KVModel, MutexModel, RegisterModel, model_named
from checkers._result import UNKNOWN, CheckContext, Checker, Result, Validity, merge_validity, run_checkers
from checkers.linearizable import LinearizabilityChecker
from harness.core import lazy_getattr

if TYPE_CHECKING:
    from checkers.counter import CounterChecker
    from checkers.elle import CONSISTENCY_MODELS, ListAppendChecker, RwRegisterChecker
    from checkers.mutex import MutexChecker
    from checkers.revisions import RevisionChecker
    from checkers.set import SetChecker

#: Names loaded on first use (PEP 562): ``etcd-harness check`` needs only the
#: linearizability checker, and the Elle checkers import networkx (about 1 s of CPU).
_LAZY = {
    "CONSISTENCY_MODELS": "checkers.elle._consistency",
    "ListAppendChecker": "checkers.elle",
    "RwRegisterChecker": "checkers.elle",
    "RevisionChecker": "checkers.revisions",
    "CounterChecker": "checkers.counter",
    "MutexChecker": "checkers.mutex",
    "SetChecker": "checkers.set",
}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())


__all__ = [
    "CONSISTENCY_MODELS",
    "MODELS",
    "UNKNOWN",
    "CasRegisterModel",
    "CheckContext",
    "Checker",
    "CounterChecker",
    "CounterModel",
    "KVModel",
    "LinearizabilityChecker",
    "ListAppendChecker",
    "Model",
    "MutexChecker",
    "MutexModel",
    "RegisterModel",
    "Result",
    "RevisionChecker",
    "RwRegisterChecker",
    "SetChecker",
    "Validity",
    "merge_validity",
    "model_named",
    "run_checkers",
]
