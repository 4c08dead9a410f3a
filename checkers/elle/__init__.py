"""Elle-style transactional consistency checking: list-append and rw-register histories.

See ``docs/elle.md``. The public names:

* :class:`ListAppendChecker`, :class:`RwRegisterChecker`: :class:`checkers.Checker`
  implementations (``name = "elle"``) for the two workloads;
* :data:`CONSISTENCY_MODELS`: the names ``consistency_model`` accepts, strongest first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from checkers.elle._consistency import CONSISTENCY_MODELS
from harness.core import lazy_getattr

if TYPE_CHECKING:
    from checkers.elle._checker import ListAppendChecker, RwRegisterChecker


#: The checkers load on first use: listing CONSISTENCY_MODELS (the CLI's --help) must not load them.
_LAZY = {"ListAppendChecker": "checkers.elle._checker", "RwRegisterChecker": "checkers.elle._checker"}
__getattr__ = lazy_getattr(__name__, _LAZY, globals())


__all__ = ["CONSISTENCY_MODELS", "ListAppendChecker", "RwRegisterChecker"]
