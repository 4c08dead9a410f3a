"""Elle-style transactional consistency checking: list-append and rw-register histories.

See ``docs/elle.md``. The public names:

* :class:`ListAppendChecker`, :class:`RwRegisterChecker`: :class:`checkers.Checker`
  implementations (``name = "elle"``) for the two workloads;
* :data:`CONSISTENCY_MODELS`: the names ``consistency_model`` accepts, strongest first.
"""

from checkers.elle._checker import ListAppendChecker, RwRegisterChecker
from checkers.elle._models import CONSISTENCY_MODELS

__all__ = ["CONSISTENCY_MODELS", "ListAppendChecker", "RwRegisterChecker"]
