"""The harness's own version, and the stamp a verdict carries.

The version comes from the installed distribution's metadata (``etcd-harness``);
from a source tree that was never installed, from ``pyproject.toml``. It goes into
``config.json`` (``harness_version``: which harness ran the test) and into
``results.json`` with ``checked_at`` (which harness computed the verdict, and when):
a verdict re-checked later by a newer harness says so.

``importlib.metadata`` takes about 0.1 s to import, so the command line loads this
module only for ``--version`` and the commands that run or check a test.

>>> harness_version()                       # doctest: +SKIP
'0.1.0'
>>> verdict_stamp()                         # doctest: +SKIP
{'checked_at': '2025-01-01T03:00:00+00:00', 'harness_version': '0.1.0'}
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

DISTRIBUTION = "etcd-harness"
_PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
_VERSION_LINE = re.compile(r'^version\s*=\s*"([^"]+)"', re.M)


@functools.cache
def harness_version() -> str:
    """``0.1.0``: the installed version, else pyproject.toml's, else ``unknown``."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        pass
    try:
        match = _VERSION_LINE.search(_PYPROJECT.read_text(encoding="utf-8"))
    except OSError:
        match = None
    return match.group(1) if match else "unknown"


def verdict_stamp() -> dict[str, str]:
    """``{"checked_at", "harness_version"}`` for a verdict computed now."""
    return {"checked_at": datetime.now(UTC).isoformat(timespec="seconds"), "harness_version": harness_version()}
