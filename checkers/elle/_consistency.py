"""The consistency models a transactional check may be asked for: names only, so that the CLI can
list them without loading the checker (which imports networkx)."""

from __future__ import annotations

#: The models a check may be asked for, strongest first.
CONSISTENCY_MODELS: tuple[str, ...] = (
    "strict-serializable",
    "serializable",
    "snapshot-isolation",
    "repeatable-read",
    "read-committed",
    "read-uncommitted",
)
