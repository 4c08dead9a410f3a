"""One suite entry on a fresh cluster, as the suite runs it in its own process (``--jobs 1``) or in a
child process (``--jobs J``, :mod:`harness.run._jobs`)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.core import HarnessError, TestSpec
from harness.etcd import RUN_LABEL, docker_client, remove_labelled
from harness.run._outcome import EntryResult, judge
from harness.run._plan import PlanEntry
from harness.run._runner import RunOutcome

#: What runs one spec: :func:`harness.run.run_test`, or a stand-in in tests. With ``--jobs`` it must be
#: a module-level function: the child process gets it by reference.
Runner = Callable[..., RunOutcome]
#: The runner's progress callback.
ProgressFn = Callable[[dict[str, Any]], None]


def run_dir_of(spec: TestSpec) -> Path | None:
    """The newest run directory of ``spec`` (the runner does not return it when interrupted)."""
    runs = sorted((Path(spec.results_dir) / spec.test_name).glob("*/"), key=lambda p: p.stat().st_mtime)
    return runs[-1] if runs else None


def tear_down_leftovers(run_dir: Path | None) -> None:
    """After an interrupt: remove anything still labelled with the run's id (the runner should have)."""
    if run_dir is None:
        return
    try:
        run_id = json.loads((run_dir / "config.json").read_text()).get("run_id")
    except (OSError, ValueError):
        return
    if not run_id:
        return
    with contextlib.suppress(HarnessError):
        remove_labelled(docker_client(), {RUN_LABEL: run_id})


def run_entry(entry: PlanEntry, suite_dir: Path, progress: ProgressFn, runner: Runner) -> EntryResult:
    """Run one entry on a fresh cluster. KeyboardInterrupt propagates (the runner has torn down by then)."""
    spec = dataclasses.replace(entry.spec, results_dir=str(suite_dir))
    t0 = time.monotonic()
    try:
        outcome = runner(spec, progress=progress)
    except HarnessError as e:  # infrastructure: this entry has no verdict; the suite goes on
        return EntryResult(entry=entry, status="error", message=str(e).splitlines()[0], run_dir=run_dir_of(spec),
                           duration_s=time.monotonic() - t0, detail=str(e))
    except Exception as e:  # a harness bug in one entry must not lose the suite's results
        return EntryResult(entry=entry, status="error", message=f"internal error: {type(e).__name__}: {e}",
                           run_dir=run_dir_of(spec), duration_s=time.monotonic() - t0,
                           detail=traceback.format_exc())
    return judge(entry, outcome, time.monotonic() - t0)
