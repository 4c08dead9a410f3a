"""The README's commands work right after ``make test-partition`` (issue 13, item 6).

``make test-partition`` runs ``etcd-harness suite suites/ci.yaml``; the README then says
``etcd-harness report results/latest`` and ``etcd-harness test --replay results/latest``.
This runs exactly that sequence, shortened (one entry, one node, 5 s), in a temporary results
folder, as a user would: each command a subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.core import EXIT_VALID

pytestmark = [pytest.mark.docker]

CLI = [sys.executable, "-m", "harness"]
PLAN = """
name: ci
description: the README's sequence, shortened
tests:
  - name: register-partition
    workload: register
    nemesis: none
    nodes: 1
    time_limit: 5
    concurrency: 3
    rate: 50
    expect: valid
"""


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300, check=False)


def test_suite_then_report_latest_then_replay_latest(tmp_path: Path) -> None:
    root = tmp_path / "results"
    plan = tmp_path / "ci.yaml"
    plan.write_text(PLAN)

    suite = run_cli("suite", str(plan), "--results-dir", str(root))
    assert suite.returncode == EXIT_VALID, suite.stdout + suite.stderr
    latest = root / "latest"
    assert latest.is_symlink(), sorted(p.name for p in root.iterdir())
    entry_run = latest.resolve()
    assert entry_run.is_relative_to(root / "ci")  # results/ci/<stamp>/register-partition/<stamp>/
    assert (latest / "history.jsonl").exists() and (latest / "report.html").exists()
    index = (root / "index.html").read_text()
    assert entry_run.relative_to(root).as_posix() in index

    report = run_cli("report", str(latest))
    assert report.returncode == EXIT_VALID, report.stdout + report.stderr
    assert "report.html" in report.stdout and "Traceback" not in report.stderr

    replay = run_cli("test", "--replay", str(latest), "--results-dir", str(root))
    assert replay.returncode == EXIT_VALID, replay.stdout + replay.stderr
    replayed = latest.resolve()
    assert replayed != entry_run and replayed.parent == root / "register-partition"
    old, new = (json.loads((d / "config.json").read_text()) for d in (entry_run, replayed))
    assert (new["seed"], new["workload"], new["nodes"]) == (old["seed"], old["workload"], old["nodes"])
    index = (root / "index.html").read_text()
    assert index.count("<tr data-verdict=") == 2
