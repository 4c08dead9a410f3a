"""Runs a plan entry by entry (see :mod:`harness.run._plan` for the plan and the exit codes)."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from harness.core import (
    EXIT_VALID,
    HarnessError,
    ImageMissing,
    UsageError,
    new_stamped_dir,
    point_latest,
    signals_held,
)
from harness.etcd import docker_client
from harness.report import write_index
from harness.run._bugs import format_bug_summary, judge_bug, judge_bug_groups
from harness.run._entry import Runner, run_dir_of, run_entry, tear_down_leftovers
from harness.run._jobs import run_parallel
from harness.run._outcome import EntryResult, SuiteOutcome
from harness.run._outputs import format_summary, write_outputs
from harness.run._plan import Plan, expected_s, load_plan, nemesis_label
from harness.run._progress import Progress, format_seconds
from harness.run._runner import run_test, sigterm_as_interrupt
from harness.run._shard import Shard, load_durations, parse_shard, split_digest, split_plan, wall_time_s

if TYPE_CHECKING:
    import argparse

log = logging.getLogger(__name__)

#: The most entries run at once: each is a cluster of up to 7 containers.
MAX_JOBS = 64


def new_suite_dir(results_root: Path, suite_name: str) -> Path:
    """A fresh ``<results_root>/<suite>/<stamp>/``."""
    return new_stamped_dir(results_root / suite_name)


def suite_dir_name(plan: Plan, shard: Shard) -> str:
    """``<plan>`` for a whole plan, ``<plan>-shard-K-of-N`` for a shard of it."""
    return plan.name if shard.count == 1 else f"{plan.name}-shard-{shard.index}-of-{shard.count}"


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
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def run_plan(plan: Plan, results_root: str | Path = "results", *, stream: TextIO | None = None,
             tty: bool | None = None, runner: Runner | None = None, jobs: int = 1, shard: tuple[int, int] = (1, 1),
             durations: Mapping[str, float] | None = None) -> SuiteOutcome:
    """Run shard ``shard`` = (K, N) of ``plan`` (default: all of it), ``jobs`` entries at a time, and write
    ``junit.xml``, ``summary.txt`` and ``suite.json`` (see :mod:`harness.run._plan` and
    :mod:`harness.run._shard`). ``durations`` (entry name -> measured seconds) weighs the split."""
    stream = stream or sys.stdout
    tty = stream.isatty() if tty is None else tty
    runner = runner or run_test
    shards = split_plan(plan, shard[1], durations)
    mine = shards[shard[0] - 1]
    sub = mine.plan(plan)
    root = Path(results_root)
    suite_dir = new_suite_dir(root, suite_dir_name(plan, mine))
    with contextlib.suppress(OSError):
        shutil.copyfile(plan.path, suite_dir / "plan.yaml")
    progress = Progress(sub, stream, tty=tty, jobs=jobs)
    outcome = SuiteOutcome(plan=sub, suite_dir=suite_dir, started_at=datetime.now(UTC).isoformat(timespec="seconds"))
    which = "" if mine.count == 1 else f" shard {mine.label} ({len(sub.entries)} of {len(plan.entries)} entries)"
    progress.print(f"suite {plan.name}{which}: {len(sub.entries)} entries, about "
                   f"{format_seconds(wall_time_s([expected_s(e.spec) for e in sub.entries], jobs))}"
                   f"{f' with {jobs} at a time' if jobs > 1 else ''}; suite seed {plan.suite_seed}; "
                   f"results in {suite_dir}")
    results: dict[int, EntryResult] = {}

    def record(index: int, result: EntryResult) -> None:
        result = judge_bug(result)  # an entry's `bug:` expectation, from its run's results
        with signals_held():  # an interrupt now waits until the result is recorded
            results[index] = result
            update_results_root(root, result)
            progress.finish(result, index)

    t0 = time.monotonic()
    try:
        with sigterm_as_interrupt():
            if jobs <= 1:
                _run_in_turn(sub, suite_dir, progress, runner, record)
            elif run_parallel(sub.entries, suite_dir, progress, runner, jobs, record):
                raise KeyboardInterrupt
    except KeyboardInterrupt:
        outcome.interrupted = True
    finally:
        with _signals_ignored():
            if outcome.interrupted:
                progress.print("suite interrupted: the running cluster(s) were torn down; writing what ran")
            outcome.results = [results.get(i) or EntryResult(
                entry=e, status="skipped",
                message="not run: the suite was interrupted" if outcome.interrupted else "not run")
                for i, e in enumerate(sub.entries)]
            if mine.count == 1:  # a shard holds only some seeds of a bug's group: `merge` judges the group
                outcome.results = judge_bug_groups(outcome.results)  # `bug: ... expect: reproduced`, all seeds
            outcome.duration_s = time.monotonic() - t0
            write_outputs(outcome, full_plan=plan, shards=shards, shard_index=mine.index)
            progress.print(format_summary(outcome))
            if bugs := format_bug_summary(outcome):
                progress.print(bugs)
    return outcome


def _run_in_turn(plan: Plan, suite_dir: Path, progress: Progress, runner: Runner,
                 record: Callable[[int, EntryResult], None]) -> None:
    """``--jobs 1``: each entry in this process, one after the other. KeyboardInterrupt propagates once
    the interrupted entry is recorded."""
    for i, entry in enumerate(plan.entries):
        progress.start(i, entry)
        t_entry = time.monotonic()
        try:
            result = run_entry(entry, suite_dir, progress.update, runner)
        except KeyboardInterrupt:
            with _signals_ignored():
                run_dir = run_dir_of(dataclasses.replace(entry.spec, results_dir=str(suite_dir)))
                tear_down_leftovers(run_dir)
                record(i, EntryResult(entry=entry, status="interrupted", verdict="unknown",
                                      message="interrupted (Ctrl-C or SIGTERM); the cluster was torn down",
                                      run_dir=run_dir, duration_s=time.monotonic() - t_entry))
            raise
        record(i, result)


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


def format_plan(plan: Plan, shards: tuple[Shard, ...] | None = None, shard_index: int = 1, jobs: int = 1) -> str:
    """``--dry-run``: the entries (of one shard) with their expected times, then the expected wall times."""
    shards = shards or split_plan(plan, 1)
    mine = shards[shard_index - 1]
    header = ("#", "test", "workload", "nemesis", "nodes", "image", "seed", "time", "expected", "expect", "line")
    rows = [(str(plan.entries.index(e) + 1), e.name, e.spec.workload, nemesis_label(e.spec.nemesis),
             str(e.spec.nodes), e.spec.image, str(e.spec.seed), f"{e.spec.time_limit:g}s",
             format_seconds(expected_s(e.spec)), e.expect, str(e.line))
            for e in mine.entries]
    widths = [max(len(row[c]) for row in [header, *rows]) for c in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("")
    lines.append(f"{plan.name}: {len(plan.entries)} entries, expected {format_seconds(plan.estimated_s())} one "
                 f"after the other (time limits plus cluster start, recovery, check and teardown); "
                 f"suite seed {plan.suite_seed}, plan {plan.fingerprint()}")
    if mine.count > 1:
        loads = [s.expected_s for s in shards]
        lines.append(f"shard {mine.label}: {len(mine.entries)} entries, expected {format_seconds(mine.expected_s)}; "
                     f"the {mine.count} shards: {', '.join(format_seconds(x) for x in loads)} "
                     f"(split {split_digest(shards)})")
        lines.append(f"expected wall time on {mine.count} runners: {format_seconds(max(loads))} "
                     f"(the slowest shard), plus `etcd-harness merge`")
    else:
        lines.append(f"expected wall time on 1 runner: {format_seconds(mine.expected_s)}")
    if jobs > 1:
        lines.append(f"with --jobs {jobs}: expected wall time of this "
                     f"{'shard' if mine.count > 1 else 'suite'} "
                     f"{format_seconds(wall_time_s([expected_s(e.spec) for e in mine.entries], jobs))}")
    return "\n".join(lines)


def suite_command(args: argparse.Namespace) -> int:
    """``etcd-harness suite PLAN.yaml [--results-dir DIR] [--dry-run] [--shard K/N] [--jobs J] [--seed S]
    [--durations SUITE_JSON]``."""
    shard = parse_shard(args.shard) if getattr(args, "shard", None) else (1, 1)
    given_jobs = getattr(args, "jobs", None)
    jobs = 1 if given_jobs is None else int(given_jobs)
    if not 1 <= jobs <= MAX_JOBS:
        raise UsageError(f"--jobs {jobs}: give 1 to {MAX_JOBS} (each job is a cluster of its own)")
    seed = getattr(args, "seed", None)
    if seed is not None and seed < 0:
        raise UsageError(f"--seed {seed}: the suite seed is a whole number, 0 or more")
    plan = load_plan(args.plan, suite_seed=seed)
    if shard[1] > 1 and seed is None and any(not e.seed_given for e in plan.entries):
        raise UsageError(f"--shard {shard[0]}/{shard[1]}: give --seed S, the same in every shard (e.g. the CI "
                         f"pipeline's id), so that each entry gets the same seed whichever shard runs it; "
                         f"{sum(not e.seed_given for e in plan.entries)} entries of {args.plan} give no seed")
    durations = load_durations(args.durations) if getattr(args, "durations", None) else None
    if getattr(args, "dry_run", False):
        print(format_plan(plan, split_plan(plan, shard[1], durations), shard[0], jobs))
        return EXIT_VALID
    check_images(plan)
    outcome = run_plan(plan, args.results_dir, jobs=jobs, shard=shard, durations=durations)
    return outcome.exit_code
