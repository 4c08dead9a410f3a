"""Verdicts and the checker interface.

A verdict is tri-state: ``True`` (valid), ``False`` (invalid) or ``"unknown"``
(the checker could not decide, e.g. it hit its time or memory limit). When
verdicts combine, invalid ranks above unknown, and unknown above valid.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TypeAlias

from harness.core import History

Validity: TypeAlias = bool | Literal["unknown"]
UNKNOWN: Literal["unknown"] = "unknown"


@dataclass(slots=True)
class Result:
    """What a checker found.

    ``reason`` is one sentence a person can read in a report header.
    ``details`` is JSON-serialisable data for the report (violations, explanations).
    """

    valid: Validity
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"valid": self.valid, "reason": self.reason, **self.details}


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckContext:
    """What a checker may know besides the history.

    ``time_limit`` (seconds) and ``memory_limit`` (bytes) bound the check; 0 means
    no limit. A checker that passes either returns ``unknown`` with the reason.
    ``started``: the ``time.monotonic()`` the time limit counts from, when the caller
    spent some of it already (reading the history); 0 = when the check starts.
    """

    config: Mapping[str, Any] = field(default_factory=dict)
    out_dir: Path | None = None
    time_limit: float = 0.0
    memory_limit: int = 0
    started: float = 0.0


class Checker(Protocol):
    """Checks a history. Must not raise for a bad history: return ``False`` or ``unknown``."""

    name: str

    def check(self, history: History, ctx: CheckContext) -> Result: ...


def merge_validity(values: list[Validity]) -> Validity:
    """Invalid beats unknown beats valid; no values is valid."""
    if any(v is False for v in values):
        return False
    if any(v == UNKNOWN for v in values):
        return UNKNOWN
    return True


def run_checkers(checkers: Mapping[str, Checker], history: History, ctx: CheckContext) -> dict[str, Any]:
    """Run each checker; a checker that crashes yields ``unknown`` with the error, not a crash.

    Returns ``{"valid": merged, "checkers": {name: result-json}}``.
    """
    results: dict[str, Any] = {}
    for name, checker in checkers.items():
        try:
            result = checker.check(history, ctx)
        except MemoryError:
            result = Result(UNKNOWN, "the checker ran out of memory")
        except Exception as e:
            result = Result(UNKNOWN, f"the checker crashed: {type(e).__name__}: {e}")
        results[name] = result.to_json()
    return {"valid": merge_validity([r["valid"] for r in results.values()]), "checkers": results}
