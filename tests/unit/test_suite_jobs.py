"""``suite --jobs J``: entries in child processes, J at a time, results in plan order, lines whole and
prefixed with their entry, a dead child an error entry, Ctrl-C forwarded once to every running child.

The runners here stand in for ``run_test`` (no Docker). They are module-level functions because a
child process gets its runner by reference (it imports this module by name).
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from harness.core import EXIT_INTERRUPTED, EXIT_VALID, TestSpec
from harness.run import EntryResult, RunOutcome, parse_plan, run_plan
from harness.run._progress import Progress

PLAN = "tests:\n" + "".join(f"  - {{name: e{i}, time_limit: 1}}\n" for i in range(4))


def _run_dir(spec: TestSpec) -> Path:
    run_dir = Path(spec.results_dir) / spec.test_name / "20260101T000000"
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps(spec.to_json()))
    return run_dir


def stamping_runner(spec: TestSpec, *, progress: Any = None) -> RunOutcome:
    """Writes when it started and ended (the suite folder's ``stamps``), logs a line and prints one."""
    run_dir = _run_dir(spec)
    stamps = Path(spec.results_dir) / "stamps"
    stamps.mkdir(exist_ok=True)
    (stamps / f"{spec.test_name}.start").write_text(str(time.monotonic()))
    (stamps / f"{spec.test_name}.pid").write_text(str(os.getpid()))
    print(f"a print from {spec.test_name}")  # must not corrupt the channel to the suite
    for _ in range(3):
        progress({"elapsed_s": 0.1, "remaining_s": 0.5, "events": 4, "ops_per_s": 2.0})
        time.sleep(0.3)
    (stamps / f"{spec.test_name}.end").write_text(str(time.monotonic()))
    if spec.test_name == "e3":
        os._exit(3)  # a process that dies without a word
    results = {"valid": True, "checkers": {}}
    (run_dir / "results.json").write_text(json.dumps(results))
    return RunOutcome(run_dir=run_dir, valid=True, results=results)


def slow_runner(spec: TestSpec, *, progress: Any = None) -> RunOutcome:
    """Runs until interrupted, then "tears down" (a marker file) and re-raises, as run_test does."""
    _run_dir(spec)
    marks = Path(spec.results_dir) / "marks"
    marks.mkdir(exist_ok=True)
    (marks / f"{spec.test_name}.started").write_text("")
    try:
        for _ in range(600):
            progress({"elapsed_s": 1.0, "remaining_s": 30.0, "events": 1, "ops_per_s": 1.0})
            time.sleep(0.1)
    except KeyboardInterrupt:
        (marks / f"{spec.test_name}.torn-down").write_text("")
        raise
    raise AssertionError("never interrupted")


def test_jobs_run_side_by_side_and_results_come_back_in_plan_order(tmp_path: Path) -> None:
    plan = parse_plan(PLAN, tmp_path / "p.yaml", suite_seed=1)
    stream = io.StringIO()
    out = run_plan(plan, tmp_path / "results", stream=stream, tty=False, runner=stamping_runner, jobs=2)
    assert [r.entry.name for r in out.results] == ["e0", "e1", "e2", "e3"]
    assert [r.status for r in out.results] == ["pass", "pass", "pass", "error"]
    assert "exited with code 3" in out.results[3].message
    stamps = out.suite_dir / "stamps"
    start = {p.stem: float(p.read_text()) for p in stamps.glob("*.start")}
    end = {p.stem: float(p.read_text()) for p in stamps.glob("*.end")}
    assert start["e1"] < end["e0"] and start["e0"] < end["e1"]  # two at once
    for t in start.values():  # never three
        assert sum(1 for n in start if start[n] <= t < end[n]) <= 2
    pids = {int(p.read_text()) for p in stamps.glob("*.pid")}
    assert len(pids) == 4 and os.getpid() not in pids  # a process of its own each
    text = stream.getvalue()
    assert re.search(r"^\[1/4\] e0: a print from e0$", text, re.M)  # the child's output, whole and prefixed
    for line in text.splitlines():
        assert line.startswith(("[", "suite ", "      report:", "#", "-", "junit:", "")), line
    data = json.loads((out.suite_dir / "suite.json").read_text())
    assert [e["status"] for e in data["entries"]] == ["pass", "pass", "pass", "error"]


def test_jobs_one_runs_in_the_suites_process(tmp_path: Path) -> None:
    plan = parse_plan("tests:\n  - {name: e0, time_limit: 1}\n", tmp_path / "p.yaml", suite_seed=1)
    out = run_plan(plan, tmp_path / "results", stream=io.StringIO(), tty=False, runner=stamping_runner, jobs=1)
    assert out.exit_code == EXIT_VALID
    assert int((out.suite_dir / "stamps" / "e0.pid").read_text()) == os.getpid()


SCRIPT = """
import sys
from pathlib import Path
from harness.run import parse_plan, run_plan
from test_suite_jobs import PLAN, slow_runner
plan = parse_plan(PLAN, Path(sys.argv[1]) / "p.yaml", suite_seed=1)
out = run_plan(plan, sys.argv[1], tty=False, runner=slow_runner, jobs=2)
sys.exit(out.exit_code)
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_reaches_every_running_child_once_and_skips_the_rest(tmp_path: Path, signum: int) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while len(list(tmp_path.glob("*/*/marks/*.started"))) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.2)
        proc.send_signal(signum)
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == EXIT_INTERRUPTED, output
    [suite_dir] = [p.parent for p in tmp_path.glob("*/*/suite.json")]
    assert sorted(p.name for p in (suite_dir / "marks").iterdir()) == [
        "e0.started", "e0.torn-down", "e1.started", "e1.torn-down"]
    data = json.loads((suite_dir / "suite.json").read_text())
    assert [e["status"] for e in data["entries"]] == ["interrupted", "interrupted", "skipped", "skipped"]
    assert "Traceback" not in output


def test_the_live_line_shows_every_running_entry_and_lines_are_never_cut(tmp_path: Path) -> None:
    plan = parse_plan(PLAN, tmp_path / "p.yaml", suite_seed=1)
    stream = io.StringIO()
    progress = Progress(plan, stream, tty=True, jobs=2)
    progress.start(0, plan.entries[0])
    progress.start(1, plan.entries[1])
    progress.update_entry(0, {"elapsed_s": 1.0, "remaining_s": 9.0, "ops_per_s": 3.0})
    progress.update_entry(1, {"elapsed_s": 2.0, "remaining_s": 8.0, "ops_per_s": 3.0})
    live = stream.getvalue().rsplit("\r\x1b[K", 1)[1]
    assert live.startswith("[1/4] e0 9s left | [2/4] e1 8s left  suite ~")
    progress.entry_line(1, "a warning from e1")
    progress.finish(EntryResult(entry=plan.entries[0], status="pass", verdict=True, duration_s=3.0), 0)
    after = stream.getvalue().split(live, 1)[1]
    assert after.startswith("\r\x1b[K[2/4] e1: a warning from e1\n")  # the live line is cleared first
    assert "[1/4] PASS        e0: valid (expected valid) in 3.0 s\n" in after
    assert list(progress.running) == [1]
