"""What a suite entry came to: its status and verdict, judged against what the plan expected."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness.core import (
    EXIT_INFRA,
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_UNKNOWN,
    EXIT_VALID,
)
from harness.run._plan import Expect, Plan, PlanEntry
from harness.run._runner import RunOutcome

Status = Literal["pass", "fail", "error", "interrupted", "skipped"]


@dataclass(slots=True)
class EntryResult:
    entry: PlanEntry
    status: Status
    verdict: bool | str | None = None  # True, False, "unknown"; None if there is none
    message: str = ""  # one sentence: why it failed / errored, or the checker's reason
    run_dir: Path | None = None
    duration_s: float = 0.0
    ops_per_s: float | None = None
    detail: str = ""  # longer text for junit (traceback, checker details)

    @property
    def report(self) -> Path | None:
        return self.run_dir / "report.html" if self.run_dir is not None else None


@dataclass(slots=True)
class SuiteOutcome:
    plan: Plan
    suite_dir: Path
    results: list[EntryResult] = field(default_factory=list)
    interrupted: bool = False
    started_at: str = ""
    duration_s: float = 0.0

    @property
    def exit_code(self) -> int:
        return suite_exit_code(self.results, self.interrupted)


def suite_exit_code(results: Sequence[EntryResult], interrupted: bool) -> int:
    """0 if every entry met its expectation; see the module docstring for the rest."""
    if interrupted:
        return EXIT_INTERRUPTED
    failed = [r for r in results if r.status == "fail"]
    if any(r.verdict is True or r.verdict is False for r in failed):
        return EXIT_INVALID
    if any(r.status == "error" for r in results):
        return EXIT_INFRA
    if failed:
        return EXIT_UNKNOWN
    return EXIT_VALID


def verdict_word(verdict: bool | str | None) -> str:
    if verdict is None:
        return "-"
    if verdict is True:
        return "valid"
    if verdict is False:
        return "invalid"
    return "unknown"


def matches(expect: Expect, verdict: bool | str | None) -> bool:
    return expect == "any" or verdict_word(verdict) == expect


def checker_reason(results: dict[str, Any]) -> str:
    """The one-sentence reason behind a verdict: the first invalid checker's, else the first unknown one's."""
    checkers = results.get("checkers") or {}
    for wanted in (False, "unknown"):
        for name, c in checkers.items():
            if isinstance(c, dict) and (c.get("valid") is wanted if wanted is False else c.get("valid") == wanted):
                return f"{name}: {c.get('reason') or 'no reason given'}"
    return str(results.get("reason") or "")


def judge(entry: PlanEntry, outcome: RunOutcome, duration_s: float) -> EntryResult:
    """Compare a finished run with what the entry expected."""
    verdict = outcome.valid
    reason = checker_reason(outcome.results)
    ops = outcome.results.get("stats", {}).get("ops_per_s")
    result = EntryResult(entry=entry, status="pass", verdict=verdict, message=reason, run_dir=outcome.run_dir,
                         duration_s=duration_s, ops_per_s=ops)
    if matches(entry.expect, verdict):
        return result
    result.status = "fail"
    if entry.expect == "invalid" and verdict is True:
        result.message = "expected an anomaly (expect: invalid), but every checker found the history valid"
    elif verdict is False:
        result.message = reason or "invalid"
    else:
        result.message = f"expected {entry.expect}, got {verdict_word(verdict)}: {reason or 'no reason given'}"
    result.detail = json.dumps({k: v.get("reason") for k, v in (outcome.results.get("checkers") or {}).items()
                                if isinstance(v, dict)}, indent=2)
    return result
