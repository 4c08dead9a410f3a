"""Re-checking a stored run: the verdict computed again from its ``history.jsonl``.

``etcd-harness report DIR`` re-checks when the history is newer than the verdict
(it was edited, or the check never finished) or when ``--recheck`` is given;
``etcd-harness check --run DIR`` always does. Either way the new ``results.json``
says when and by which harness version the verdict was computed
(``checked_at``, ``harness_version``), and ``rechecked`` says why and what the
verdict was before.

A re-check runs what the run's own check ran: the workload ``config.json`` names,
built from that spec, with its checkers, its time and memory limits, and the
liveness verdict the run recorded (a cluster that did not recover stays a
failure); a run whose verdict was ``unknown`` whatever its checkers said (an
interrupt, a crash, faults that went wrong) stays unknown if the checkers find
nothing. The run's stats, timing, notes and ``fault_problems`` are kept;
``timing.check_s`` becomes the re-check's time.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from checkers import UNKNOWN, CheckContext, merge_validity, run_checkers
from checkers.cluster_state import cluster_checkers
from harness.core import RESULTS, History, RunDir, TestSpec, UsageError, read_history, write_json
from harness.run._runner import history_stats
from harness.run._validate import validate_spec
from harness.run._version import verdict_stamp
from workloads import WORKLOADS

#: Keys of ``results.json`` that belong to one verdict and are replaced by the re-check's.
_VERDICT_KEYS = ("valid", "checkers", "reason", "checked_at", "harness_version", "rechecked")


def recheck_reason(run_dir: Path) -> str | None:
    """Why the stored verdict of ``run_dir`` is stale (a re-check is due), or None if it is not.

    It is stale when ``results.json`` is missing, or older than ``history.jsonl``
    (which was edited after the check, or the check never finished). A run without
    a history or a config cannot be re-checked: None.
    """
    files = RunDir(run_dir)
    try:
        history_mtime = files.history.stat().st_mtime_ns
    except OSError:
        return None
    if not files.config.exists():
        return None
    try:
        results_mtime = files.results.stat().st_mtime_ns
    except OSError:
        return f"there was no {RESULTS}"
    if history_mtime > results_mtime:
        return f"history.jsonl is newer than {RESULTS}"
    return None


def _old_results(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def check_history(spec: TestSpec, history: History, run_dir: Path, notes: dict[str, Any]) -> dict[str, Any]:
    """``{"valid", "checkers", "checked_at", "harness_version"}``: the checkers of ``spec``'s workload on
    ``history``, plus ``liveness`` when ``notes`` say the cluster did not recover (as the runner checks)."""
    workload = WORKLOADS[spec.workload](spec)
    ctx = CheckContext(config=spec.to_json(), out_dir=run_dir, time_limit=spec.check_time_limit,
                       memory_limit=spec.check_memory_mb * 1024 * 1024)
    results = run_checkers({**workload.checkers(), **cluster_checkers(run_dir)}, history, ctx)
    if "liveness" in notes:
        results["checkers"]["liveness"] = {"valid": False, "reason": str(notes["liveness"])}
        results["valid"] = merge_validity([c["valid"] for c in results["checkers"].values()])
    results.update(verdict_stamp())
    return results


def run_level_reason(old: dict[str, Any], notes: dict[str, Any]) -> str | None:
    """Why the run's verdict was ``unknown`` whatever its checkers said, if it was: an interrupt, a crash,
    or faults that left the cluster in a state the test did not claim (the old verdict was unknown while
    every checker it ran was valid). A re-check that finds nothing wrong keeps that verdict."""
    if notes.get("interrupted"):
        return "the run was interrupted, so its history may stop short of what the test claims"
    if notes.get("error"):
        return f"the run failed before its check: {notes['error']}"
    checkers = old.get("checkers")
    if (old.get("valid") not in (True, False) and old.get("reason") and isinstance(checkers, dict) and checkers
            and all(isinstance(c, dict) and c.get("valid") is True for c in checkers.values())):
        return str(old["reason"])
    return None


def recheck_run(run_dir: Path, why: str = "asked for (--recheck)") -> dict[str, Any]:
    """Check ``run_dir``'s history again, rewrite its ``results.json`` and return the new results.

    Raises :class:`~harness.core.UsageError` if ``run_dir`` has no ``config.json`` or no
    ``history.jsonl``, :class:`~harness.core.InputError` (naming the line) if the history
    cannot be read. ``report.html`` is not written here.
    """
    run_dir = Path(run_dir)
    files = RunDir(run_dir)
    if not files.config.exists():
        raise UsageError(f"{run_dir}: no config.json, so its workload and checkers are unknown; "
                         f"re-check the history with `etcd-harness check {files.history} --model MODEL` instead")
    if not files.history.exists():
        raise UsageError(f"{run_dir}: no history.jsonl to re-check")
    spec = validate_spec(TestSpec.load(files.config))
    history = read_history(files.history, "jsonl")
    old = _old_results(files.results)
    notes: dict[str, Any] = old["notes"] if isinstance(old.get("notes"), dict) else {}
    started = time.monotonic()
    results = check_history(spec, history, run_dir, notes)
    held = run_level_reason(old, notes)
    if held and results["valid"] is True:
        results.update(valid=UNKNOWN, reason=held)
    timing = dict(old["timing"]) if isinstance(old.get("timing"), dict) else {}
    timing["check_s"] = round(time.monotonic() - started, 3)
    kept = {k: v for k, v in old.items() if k not in _VERDICT_KEYS}
    stats = old["stats"] if isinstance(old.get("stats"), dict) else history_stats(
        history, op_phase=(0, int(spec.time_limit * 1e9)), offered=spec.rate or None)
    new = {**results, **kept, "stats": stats, "timing": timing, "notes": notes,
           "rechecked": {"why": why, "previous_valid": old.get("valid", None) if old else None,
                         "previous_checked_at": old.get("checked_at")}}
    write_json(files.results, new)
    # The verdict is now newer than the history, whatever the clocks of the files said.
    history_mtime = files.history.stat().st_mtime_ns
    if files.results.stat().st_mtime_ns <= history_mtime:
        os.utime(files.results, ns=(history_mtime + 1, history_mtime + 1))
    return new
