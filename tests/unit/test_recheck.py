"""Re-checking a stored run (issue 13, item 4): ``etcd-harness report`` re-checks a stale verdict,
``etcd-harness check --run`` always does, and the new verdict says when and by which version.

The runs are :mod:`tests.register_run` directories: linearizable register histories with one
stale read, so the real checkers find one real failure, offline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.core import EXIT_INVALID, EXIT_USAGE, EXIT_VALID, RunDir
from harness.run._cli import main
from harness.run._recheck import recheck_reason, recheck_run
from harness.run._version import harness_version
from tests.register_run import make_register_run


def results_of(run: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(RunDir(run).results.read_text())
    return data


def a_run(tmp_path: Path, **kw: Any) -> Path:
    return make_register_run(tmp_path / "results" / "register-partition" / "20250101T030000", ops=600, **kw)


def test_report_rechecks_a_history_edited_after_its_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = a_run(tmp_path, stale_results=True)  # results.json says VALID, and is older than the history
    assert results_of(run)["valid"] is True
    assert main(["report", str(run)]) == EXIT_VALID
    assert "re-checked (history.jsonl is newer than results.json): INVALID" in capsys.readouterr().out
    results = results_of(run)
    assert results["valid"] is False
    assert "but the register can only be" in results["checkers"]["linear"]["reason"]
    assert results["harness_version"] == harness_version() and results["checked_at"].startswith("20")
    assert results["rechecked"]["previous_valid"] is True
    assert results["timing"]["cluster_start_s"] == 2.5  # the run's own timing is kept
    page = RunDir(run).report.read_text()
    assert '<span class="badge invalid">invalid</span>' in page and "but the register can only be" in page
    assert f"by etcd-harness {harness_version()}" in page and "before, it was valid" in page
    assert recheck_reason(run) is None  # fresh now: the next report does not check again


def test_report_checks_a_run_whose_results_json_is_missing(tmp_path: Path) -> None:
    run = a_run(tmp_path)
    assert not RunDir(run).results.exists()
    assert recheck_reason(run) == "there was no results.json"
    main(["report", str(run)])
    results = results_of(run)
    assert results["valid"] is False and results["stats"]["ops"] > 0  # stats computed from the history
    assert "nothing was checked" not in RunDir(run).report.read_text()


def test_report_leaves_a_fresh_verdict_alone_unless_asked(tmp_path: Path) -> None:
    run = a_run(tmp_path, stale_results=True)
    history = RunDir(run).history.stat().st_mtime_ns
    os.utime(RunDir(run).results, ns=(history + 10**9, history + 10**9))  # checked after the last edit
    main(["report", str(run)])
    assert results_of(run)["valid"] is True and "rechecked" not in results_of(run)
    main(["report", str(run), "--recheck"])
    assert results_of(run)["valid"] is False
    assert results_of(run)["rechecked"]["why"] == "asked for (--recheck)"


def test_check_run_rewrites_results_report_and_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = a_run(tmp_path, stale_results=True)
    root = tmp_path / "results"
    (root / "latest").symlink_to(run.relative_to(root))
    assert main(["check", "--run", str(root / "latest")]) == EXIT_INVALID
    out = capsys.readouterr().out
    assert "INVALID" in out and "linear" in out and "latest/report.html" in out and "index.html" in out
    assert results_of(run)["valid"] is False
    assert "invalid" in (root / "index.html").read_text()
    assert "key 0: read" in RunDir(run).report.read_text()


def test_check_run_of_a_valid_history_is_valid(tmp_path: Path) -> None:
    run = a_run(tmp_path, bad_at=None)
    assert main(["check", "--run", str(run)]) == EXIT_VALID
    assert results_of(run)["valid"] is True


def test_a_recheck_keeps_what_the_run_recorded(tmp_path: Path) -> None:
    run = a_run(tmp_path, bad_at=None, stale_results=True)
    old = results_of(run)
    old["notes"] = {"liveness": "the cluster did not recover within 60 s after healing"}
    old["fault_problems"] = [{"time": 5_000_000_000, "f": "stop-partition", "problem": "rules left on n2"}]
    RunDir(run).results.write_text(json.dumps(old))
    results = recheck_run(run)
    assert results["valid"] is False  # the history is fine, but the cluster never recovered
    assert results["checkers"]["liveness"]["valid"] is False and results["checkers"]["linear"]["valid"] is True
    assert results["fault_problems"] == old["fault_problems"] and results["notes"] == old["notes"]
    assert results["stats"] == old["stats"]


def test_a_run_unknown_whatever_its_checkers_said_stays_unknown(tmp_path: Path) -> None:
    run = a_run(tmp_path, bad_at=None, stale_results=True)
    old = results_of(run)
    old.update(valid="unknown", reason="the checkers found nothing wrong, but the cluster was not in the state "
                                       "the test claims: heal-partition at 31.0 s: rules left on n2")
    RunDir(run).results.write_text(json.dumps(old))
    results = recheck_run(run)
    assert results["valid"] == "unknown" and results["reason"] == old["reason"]


def test_check_run_needs_a_run_directory_with_a_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = a_run(tmp_path)
    RunDir(run).config.unlink()
    assert main(["check", "--run", str(run)]) == EXIT_USAGE
    assert "no config.json" in capsys.readouterr().err
    assert main(["check", "--run", str(tmp_path / "nothing")]) == EXIT_USAGE
    assert main(["check", "--run", str(run), "history.jsonl"]) == EXIT_USAGE


def test_report_of_a_run_that_cannot_be_rechecked_still_writes_the_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = a_run(tmp_path)
    with RunDir(run).history.open("a") as f:
        f.write('{"index": 99999, "ti')  # a torn last line
    assert main(["report", str(run)]) == EXIT_VALID
    assert "cannot be re-checked" in capsys.readouterr().err
    assert RunDir(run).report.exists()


def test_check_starts_without_loading_the_recheck_or_the_version() -> None:
    """The recheck needs the workloads and the runner (0.4 s); the version importlib.metadata (0.1 s):
    ``etcd-harness check`` on a history file must load neither."""
    code = ("import sys, harness.run._cli; print(sorted(m for m in ('harness.run._recheck', 'harness.run._version', "
            "'harness.run._runner', 'workloads', 'importlib.metadata') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
