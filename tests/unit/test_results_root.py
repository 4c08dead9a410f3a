"""One results root (issue 13, item 6): every run, a suite's entries included, updates
``<results>/latest`` and ``<results>/index.html``, so the README's follow-up commands work after
``make test-partition``. The runs are whole runs of the real runner on fakes (tests/fakes.py).
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

from harness.core import RunDir, TestSpec
from harness.report import write_index
from harness.run import RunOutcome, parse_plan, run_plan, run_test
from harness.run._version import harness_version
from tests.fakes import FakeCluster, FakeWorkload

PLAN = """
name: ci
defaults:
  workload: register
  nemesis: none
  nodes: 3
  time_limit: 0.2
  concurrency: 2
  rate: 200
  request_timeout: 0.5
  recovery_timeout: 1
tests:
  - name: first
  - name: second
"""


def fake_runner(spec: TestSpec, *, progress: Any = None) -> RunOutcome:
    return run_test(spec, progress=progress, cluster=FakeCluster(), workload=FakeWorkload(spec), faults=[])


def test_a_suite_points_the_results_roots_latest_at_its_newest_entry_and_lists_every_entry(tmp_path: Path) -> None:
    root = tmp_path / "results"
    out = run_plan(parse_plan(PLAN, tmp_path / "ci.yaml"), root, stream=io.StringIO(), tty=False, runner=fake_runner)
    first, second = (r.run_dir for r in out.results)
    assert first is not None and second is not None
    assert second.is_relative_to(out.suite_dir)  # results/ci/<stamp>/second/<stamp>/
    assert (root / "latest").is_symlink() and (root / "latest").resolve() == second.resolve()
    assert (root / "latest" / "report.html").exists() and (root / "latest" / "config.json").exists()
    index = (root / "index.html").read_text()
    listed = re.findall(r'<a href="([^"]*)">', index)
    assert listed == [f"{run.relative_to(root).as_posix()}/report.html" for run in (second, first)]


def test_the_index_finds_runs_nested_under_suites(tmp_path: Path) -> None:
    root = tmp_path / "results"
    nested = root / "ci" / "20250101T030000" / "register-partition" / "20250101T030001"
    plain = root / "register-partition" / "20250101T040000"
    for run in (nested, plain):
        run.mkdir(parents=True)
        (run / "results.json").write_text(json.dumps({"valid": True, "checkers": {}}))
    (root / "ci" / "20250101T030000" / "junit.xml").write_text("<testsuites/>")  # a suite's own files: not a run
    page = write_index(root).read_text()
    assert "ci/20250101T030000/register-partition/20250101T030001" in page
    assert "register-partition/20250101T040000" in page
    assert page.count("<tr data-verdict=") == 2


def test_a_run_records_the_harness_version_that_ran_and_checked_it(tmp_path: Path) -> None:
    spec = TestSpec(name="v", workload="register", nemesis=(), nodes=3, time_limit=0.2, concurrency=2, rate=200,
                    request_timeout=0.5, recovery_timeout=1.0, results_dir=str(tmp_path))
    outcome = fake_runner(spec)
    files = RunDir(outcome.run_dir)
    assert json.loads(files.config.read_text())["harness_version"] == harness_version()
    results = json.loads(files.results.read_text())
    assert results["harness_version"] == harness_version() and results["checked_at"].startswith("20")
    page = files.report.read_text()
    assert f"<th>harness version</th><td>{harness_version()}</td>" in page
    assert f"by etcd-harness {harness_version()}" in page
