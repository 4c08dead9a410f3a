"""Runs a plan entry by entry (see :mod:`harness.run._plan` for the plan and the exit codes)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import shutil
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from harness.core import (
    EXIT_VALID,
    HarnessError,
    ImageMissing,
    TestSpec,
    new_stamped_dir,
    point_latest,
)
from harness.etcd import RUN_LABEL, docker_client, remove_labelled
from harness.report import write_index
from harness.run._outcome import EntryResult, SuiteOutcome, judge
from harness.run._outputs import format_summary, write_outputs
from harness.run._plan import OVERHEAD_GUESS_S, Plan, PlanEntry, load_plan, nemesis_label
from harness.run._progress import Progress, format_seconds
from harness.run._runner import RunOutcome, run_test, sigterm_as_interrupt

if TYPE_CHECKING:
    import argparse

#: What runs one spec: :func:`run_test`, or a stand-in in tests.
Runner = Callable[..., RunOutcome]

log = logging.getLogger(__name__)


def new_suite_dir(results_root: Path, suite_name: str) -> Path:
    """A fresh ``<results_root>/<suite>/<stamp>/``."""
    return new_stamped_dir(results_root / suite_name)


def _run_dir_of(spec: TestSpec) -> Path | None:
    """The newest run directory of ``spec`` (the runner does not return it when interrupted)."""
    runs = sorted((Path(spec.results_dir) / spec.test_name).glob("*/"), key=lambda p: p.stat().st_mtime)
    return runs[-1] if runs else None


def _tear_down_leftovers(run_dir: Path | None) -> None:
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


def run_entry(entry: PlanEntry, suite_dir: Path, progress: Progress, runner: Runner) -> EntryResult:
    """Run one entry on a fresh cluster. Re-raises KeyboardInterrupt after recording it in ``progress``."""
    spec = dataclasses.replace(entry.spec, results_dir=str(suite_dir))
    t0 = time.monotonic()
    try:
        outcome = runner(spec, progress=progress.update)
    except HarnessError as e:  # infrastructure: this entry has no verdict; the suite goes on
        return EntryResult(entry=entry, status="error", message=str(e).splitlines()[0], run_dir=_run_dir_of(spec),
                           duration_s=time.monotonic() - t0, detail=str(e))
    except Exception as e:  # a harness bug in one entry must not lose the suite's results
        return EntryResult(entry=entry, status="error", message=f"internal error: {type(e).__name__}: {e}",
                           run_dir=_run_dir_of(spec), duration_s=time.monotonic() - t0,
                           detail=traceback.format_exc())
    return judge(entry, outcome, time.monotonic() - t0)


def update_results_root(results_root: Path, result: EntryResult) -> None:
    """After an entry: ``<results root>/latest`` points at its run and ``<results root>/index.html`` lists it,
    as after a plain ``etcd-harness test`` (the runner keeps both in the suite's own folder). A failure
    to do so is logged, never fatal: the suite's results matter more."""
    if result.run_dir is None or not result.run_dir.is_dir():
        return
    try:
        point_latest(result.run_dir, results_root)
        write_index(results_root)
    except (OSError, ValueError, HarnessError) as e:
        log.warning("could not point %s/latest at %s or rewrite its index: %s", results_root, result.run_dir, e)


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    """While the suite writes its results after an interrupt, a second Ctrl-C must not cut it short."""
    if not _is_main_thread():
        yield
        return
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _is_main_thread() -> bool:

    return threading.current_thread() is threading.main_thread()


def run_plan(plan: Plan, results_root: str | Path = "results", *, stream: TextIO | None = None,
             tty: bool | None = None, runner: Runner | None = None) -> SuiteOutcome:
    """Run every entry of ``plan`` and write ``junit.xml``, ``summary.txt`` and ``suite.json``."""

    stream = stream or sys.stdout
    tty = stream.isatty() if tty is None else tty
    runner = runner or run_test
    suite_dir = new_suite_dir(Path(results_root), plan.name)
    with contextlib.suppress(OSError):
        shutil.copyfile(plan.path, suite_dir / "plan.yaml")
    progress = Progress(plan, stream, tty=tty)
    outcome = SuiteOutcome(plan=plan, suite_dir=suite_dir,
                           started_at=datetime.now(UTC).isoformat(timespec="seconds"))
    t0 = time.monotonic()
    progress.print(f"suite {plan.name}: {len(plan.entries)} entries, about {format_seconds(plan.estimated_s())}; "
                   f"results in {suite_dir}")
    current: PlanEntry | None = None
    try:
        with sigterm_as_interrupt():
            for i, entry in enumerate(plan.entries):
                current = entry
                progress.start(i, entry)
                t_entry = time.monotonic()
                try:
                    result = run_entry(entry, suite_dir, progress, runner)
                except KeyboardInterrupt:
                    spec = dataclasses.replace(entry.spec, results_dir=str(suite_dir))
                    result = EntryResult(entry=entry, status="interrupted", verdict="unknown",
                                         message="interrupted (Ctrl-C or SIGTERM); the cluster was torn down",
                                         run_dir=_run_dir_of(spec), duration_s=time.monotonic() - t_entry)
                    outcome.results.append(result)
                    with _signals_ignored():
                        update_results_root(Path(results_root), result)
                    raise
                outcome.results.append(result)
                update_results_root(Path(results_root), result)
                progress.finish(result)
                current = None
    except KeyboardInterrupt:
        outcome.interrupted = True
    finally:
        with _signals_ignored():
            if outcome.interrupted:
                last = outcome.results[-1] if outcome.results and outcome.results[-1].entry is current else None
                if last is not None:
                    _tear_down_leftovers(last.run_dir)
                    progress.finish(last)
                progress.print("suite interrupted: the current cluster was torn down; writing what ran")
            ran = {id(r.entry) for r in outcome.results}
            for entry in plan.entries:
                if id(entry) not in ran:
                    outcome.results.append(EntryResult(entry=entry, status="skipped",
                                                       message="not run: the suite was interrupted"
                                                       if outcome.interrupted else "not run"))
            outcome.duration_s = time.monotonic() - t0
            write_outputs(outcome)
            progress.print(format_summary(outcome))
    return outcome



def check_images(plan: Plan) -> None:
    """Before anything starts: Docker is reachable and every image of the plan is there."""

    client = docker_client()
    missing = []
    for image in sorted({e.spec.image for e in plan.entries}):
        try:
            client.images.get(image)
        except Exception:  # not found or unreadable: either way it cannot run
            missing.append(image)
    if missing:
        raise ImageMissing(f"{plan.path}: the plan needs image(s) that are not there: {', '.join(missing)}. "
                           "Build them with `make images` (docker/build-image.sh trixie|bookworm).")


def format_plan(plan: Plan) -> str:
    header = ("#", "test", "workload", "nemesis", "nodes", "image", "seed", "time", "expect", "line")
    rows = [(str(i), e.name, e.spec.workload, nemesis_label(e.spec.nemesis), str(e.spec.nodes), e.spec.image,
             str(e.spec.seed), f"{e.spec.time_limit:g}s", e.expect, str(e.line))
            for i, e in enumerate(plan.entries, 1)]
    widths = [max(len(row[c]) for row in [header, *rows]) for c in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(f"\n{plan.name}: {len(plan.entries)} entries, about {format_seconds(plan.estimated_s())} "
                 f"(time limits + ~{OVERHEAD_GUESS_S:.0f} s each)")
    return "\n".join(lines)


def suite_command(args: argparse.Namespace) -> int:
    """``etcd-harness suite PLAN.yaml [--results-dir DIR] [--dry-run]``."""
    plan = load_plan(args.plan)
    if getattr(args, "dry_run", False):
        print(format_plan(plan))
        return EXIT_VALID
    check_images(plan)
    outcome = run_plan(plan, args.results_dir)
    return outcome.exit_code
