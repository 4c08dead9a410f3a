"""PEP 562 attribute loading for the packages' public facades (``checkers``, ``harness``, ...).

A facade lists the names it loads on first use and the module each comes from; its
``if TYPE_CHECKING:`` block imports the same names for the type checker (and for
``tests/unit/test_architecture.py``, which reads the imports from there).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(package: str, sources: Mapping[str, str], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """The module-level ``__getattr__`` of ``package``: ``sources`` maps each name loaded on first use to
    the module that defines it; the first access imports that module and stores the name in ``namespace``
    (the package's ``globals()``), so the next access is a plain attribute."""

    def __getattr__(name: str) -> Any:
        module = sources.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    return __getattr__
