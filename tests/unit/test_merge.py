"""``etcd-harness merge``: shards of one suite run combine into one junit.xml, summary, index and exit code;
shards of different plans, seeds or splits are refused (exit 3); a missing shard is named by number."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from harness.core import EXIT_INFRA, EXIT_INPUT, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_VALID, TestSpec
from harness.run import RunOutcome, parse_plan, run_plan
from harness.run._cli import main

PLAN = """
name: small
tests:
  - {name: a}
  - {name: b, time_limit: 30}
  - {name: c, expect: invalid}
  - {name: d, time_limit: 90}
"""


def verdict_runner(verdicts: dict[str, Any]) -> Any:
    """A stand-in for run_test: a run directory with results.json and report.html, and the verdict given."""

    def run(spec: TestSpec, *, progress: Any = None) -> RunOutcome:
        verdict = verdicts.get(spec.test_name, True)
        if verdict == "interrupt":
            raise KeyboardInterrupt
        run_dir = Path(spec.results_dir) / spec.test_name / "20260101T000000"
        run_dir.mkdir(parents=True)
        results = {"valid": verdict, "checkers": {"linear": {"valid": verdict, "reason": f"said {verdict}"}}}
        (run_dir / "config.json").write_text(json.dumps(spec.to_json()))
        (run_dir / "results.json").write_text(json.dumps(results))
        (run_dir / "report.html").write_text("<html></html>")
        return RunOutcome(run_dir=run_dir, valid=verdict, results=results)

    return run


def run_shards(tmp_path: Path, count: int, *, seed: int = 7, text: str = PLAN, root: str = "results",
               verdicts: dict[str, Any] | None = None, only: tuple[int, ...] | None = None) -> list[Path]:
    plan = parse_plan(text, tmp_path / "small.yaml", suite_seed=seed)
    dirs = []
    for k in only or range(1, count + 1):
        out = run_plan(plan, tmp_path / root, stream=io.StringIO(), tty=False, shard=(k, count),
                       runner=verdict_runner(verdicts or {"c": False}))
        dirs.append(out.suite_dir)
    return dirs


def merged_dir(root: Path) -> Path:
    [d] = (root / "small-merged").iterdir()
    return d


def cases(junit: Path) -> list[tuple[str, str]]:
    return [(c.get("name", ""), next((x.tag for x in c if x.tag in ("failure", "error", "skipped")), "pass"))
            for c in ET.parse(junit).getroot().iter("testcase")]


def test_two_shards_merge_into_one_junit_summary_index_and_exit_code(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    dirs = run_shards(tmp_path, 2)
    assert [d.parent.name for d in dirs] == ["small-shard-1-of-2", "small-shard-2-of-2"]
    assert main(["merge", *map(str, dirs), "--results-dir", str(tmp_path / "results")]) == EXIT_VALID
    out = merged_dir(tmp_path / "results")
    assert cases(out / "junit.xml") == [("a", "pass"), ("b", "pass"), ("c", "pass"), ("d", "pass")]  # plan order
    data = json.loads((out / "suite.json").read_text())
    assert [m["shard"] for m in data["merged_from"]] == ["1/2", "2/2"]
    assert data["exit_code"] == EXIT_VALID and data["missing_shards"] == []
    summary = (out / "summary.txt").read_text()
    assert "suite small: OK (4 pass)" in summary
    index = (tmp_path / "results" / "index.html").read_text()
    for entry in data["entries"]:
        assert Path(entry["run_dir"]).relative_to(tmp_path / "results").as_posix() + "/report.html" in index
    assert "merged 4 entries" in capsys.readouterr().out


def test_a_folder_of_shards_is_searched_and_copied_in_when_outside_the_results_folder(tmp_path: Path) -> None:
    run_shards(tmp_path, 3, root="artifacts")  # as a CI merge job downloads them
    results = tmp_path / "merged-results"
    assert main(["merge", str(tmp_path / "artifacts"), "--results-dir", str(results)]) == EXIT_VALID
    out = merged_dir(results)
    assert len(cases(out / "junit.xml")) == 4
    assert sorted(p.name for p in results.iterdir() if "shard" in p.name) == [
        "small-shard-1-of-3", "small-shard-2-of-3", "small-shard-3-of-3"]
    index = (results / "index.html").read_text()
    assert index.count("report.html") == 4  # every run linked, relative to the results folder
    # merging again finds the shards, not the earlier merge, and copies nothing twice
    assert main(["merge", str(tmp_path / "artifacts"), "--results-dir", str(results)]) == EXIT_VALID
    assert (results / "index.html").read_text().count("report.html") == 4


def test_the_exit_code_has_the_suites_semantics(tmp_path: Path) -> None:
    dirs = run_shards(tmp_path, 2, verdicts={"c": True})  # the canary came back valid: exit 1
    assert main(["merge", *map(str, dirs), "--results-dir", str(tmp_path / "results")]) == EXIT_INVALID
    dirs = run_shards(tmp_path / "x", 2, verdicts={"c": False, "a": "interrupt"})
    assert main(["merge", *map(str, dirs), "--results-dir", str(tmp_path / "x" / "results")]) == EXIT_INTERRUPTED


def test_a_missing_shard_is_named_and_its_entries_are_errors(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    dirs = run_shards(tmp_path, 3, only=(1, 3))
    assert main(["merge", *map(str, dirs), "--results-dir", str(tmp_path / "results")]) == EXIT_INFRA
    err = capsys.readouterr().err
    assert "shard 2/3 is missing" in err
    got = dict(cases(merged_dir(tmp_path / "results") / "junit.xml"))
    assert len(got) == 4 and list(got.values()).count("error") >= 1
    data = json.loads((merged_dir(tmp_path / "results") / "suite.json").read_text())
    assert data["missing_shards"] == [2]
    missing = [e for e in data["entries"] if e["status"] == "error"]
    assert missing and all(e["message"] == "not run: shard 2/3 is missing" for e in missing)


@pytest.mark.parametrize(("change", "why"), [
    ({"seed": 8}, "different suite seeds"),
    ({"text": PLAN.replace("time_limit: 30", "time_limit: 31")}, "different plans"),
])
def test_shards_of_different_seeds_or_plans_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        change: dict[str, Any], why: str) -> None:
    [one] = run_shards(tmp_path, 2, only=(1,))
    [two] = run_shards(tmp_path / "other", 2, only=(2,), **change)
    assert main(["merge", str(one), str(two), "--results-dir", str(tmp_path / "results")]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert why in err and str(one) in err and str(two) in err and "Traceback" not in err
    assert not (tmp_path / "results" / "small-merged").exists()  # nothing written


def test_different_shard_counts_twice_given_shards_and_foreign_files_are_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    [one] = run_shards(tmp_path / "a", 2, only=(1,))
    [two] = run_shards(tmp_path / "b", 3, only=(2,))
    assert main(["merge", str(one), str(two), "--results-dir", str(tmp_path / "r")]) == EXIT_INPUT
    assert "different numbers of shards" in capsys.readouterr().err
    [again] = run_shards(tmp_path / "c", 2, only=(1,))
    assert main(["merge", str(one), str(again), "--results-dir", str(tmp_path / "r")]) == EXIT_INPUT
    assert "shard 1/2 is given twice" in capsys.readouterr().err
    old = tmp_path / "old"
    old.mkdir()
    (old / "suite.json").write_text(json.dumps({"suite": "small", "entries": []}))
    assert main(["merge", str(old), "--results-dir", str(tmp_path / "r")]) == EXIT_INPUT
    assert "no shard record" in capsys.readouterr().err
    assert main(["merge", str(tmp_path / "nowhere"), "--results-dir", str(tmp_path / "r")]) == EXIT_INPUT
    assert "no such folder" in capsys.readouterr().err


def test_the_shard_record_rebuilds_the_same_plan(tmp_path: Path) -> None:
    plan = parse_plan(PLAN, tmp_path / "small.yaml", suite_seed=7)
    [d] = run_shards(tmp_path, 1)
    data = json.loads((d / "suite.json").read_text())
    assert data["plan_fingerprint"] == plan.fingerprint() and data["suite_seed"] == 7
    assert data["shard"]["count"] == 1 and [e["name"] for e in data["plan_entries"]] == ["a", "b", "c", "d"]
    assert main(["merge", str(d), "--results-dir", str(tmp_path / "results")]) == EXIT_VALID
    merged = json.loads((merged_dir(tmp_path / "results") / "suite.json").read_text())
    assert merged["plan_fingerprint"] == plan.fingerprint()


BUG_PLAN = """
name: small
tests:
  - name: b15247
    bug: {issue: 15247, evidence: invalid, expect: reproduced}
    seed: [1, 2, 3, 4]
    expect: any
"""


def _bug_entry_names(tmp_path: Path) -> list[str]:
    return [e.spec.test_name for e in parse_plan(BUG_PLAN, tmp_path / "small.yaml", suite_seed=7).entries]


def test_a_bug_reproduced_in_one_shard_is_judged_over_all_shards(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Each shard holds two of the bug's four seeds; only one seed reproduces it. The shard without it must
    not fail its entries (it cannot see the other seeds), and the merge says reproduced in 1 of 4."""
    names = _bug_entry_names(tmp_path)
    dirs = run_shards(tmp_path, 2, text=BUG_PLAN, verdicts={names[2]: False})
    assert [json.loads((d / "suite.json").read_text())["exit_code"] for d in dirs] == [EXIT_VALID, EXIT_VALID]
    capsys.readouterr()
    assert main(["merge", *map(str, dirs), "--results-dir", str(tmp_path / "results")]) == EXIT_VALID
    assert "etcd 15247 on etcd-harness/etcd:3.5.16: reproduced in 1 of 4 seed(s)" in capsys.readouterr().out


def test_a_bug_reproduced_in_no_shard_fails_the_merged_suite(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    dirs = run_shards(tmp_path, 2, text=BUG_PLAN, verdicts={})
    assert main(["merge", *map(str, dirs), "--results-dir", str(tmp_path / "results")]) == EXIT_INVALID
    out = capsys.readouterr().out
    assert "not reproduced in 0 of 4 seed(s)" in out
    assert cases(merged_dir(tmp_path / "results") / "junit.xml") == [(n, "failure") for n in _bug_entry_names(tmp_path)]
