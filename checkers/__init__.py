"""Checkers: verdicts over histories. See ``checkers._result`` for the interface.

The linearizability checker is :class:`LinearizabilityChecker`; its models are
in :data:`MODELS` (``checkers._models``), behind the :class:`Model` base class.
"""

import importlib
from typing import TYPE_CHECKING, Any

from checkers._model import Model
from checkers._models import MODELS, CasRegisterModel, CounterModel, KVModel, MutexModel, RegisterModel, model_named
from checkers._result import UNKNOWN, CheckContext, Checker, Result, Validity, merge_validity, run_checkers
from checkers.linearizable import LinearizabilityChecker

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


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'checkers' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next access is a plain attribute
    return value


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
