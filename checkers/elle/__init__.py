"""Elle-style transactional consistency checking: list-append and rw-register histories.

See ``docs/elle.md``. The public names:

* :class:`ListAppendChecker`, :class:`RwRegisterChecker`: :class:`checkers.Checker`
  implementations (``name = "elle"``) for the two workloads;
* :data:`CONSISTENCY_MODELS`: the names ``consistency_model`` accepts, strongest first.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from checkers.elle._consistency import CONSISTENCY_MODELS

if TYPE_CHECKING:
    from checkers.elle._checker import ListAppendChecker, RwRegisterChecker


def __getattr__(name: str) -> Any:
    # The checkers load on first use: listing CONSISTENCY_MODELS (the CLI's --help) must not load them.
    if name not in ("ListAppendChecker", "RwRegisterChecker"):
        raise AttributeError(f"module 'checkers.elle' has no attribute {name!r}")
    value = getattr(importlib.import_module("checkers.elle._checker"), name)
    globals()[name] = value
    return value


__all__ = ["CONSISTENCY_MODELS", "ListAppendChecker", "RwRegisterChecker"]
