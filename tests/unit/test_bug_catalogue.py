"""Known-bug entries of a plan: the `bug:` key, the evidence read from a run's results, the bug
expectation applied to an entry, and the per-bug summary; and suites/bugs.yaml itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.core import PlanError
from harness.etcd import DockerCluster
from harness.run._bugs import EVIDENCE, format_bug_summary, judge_bug, judge_bug_groups
from harness.run._outcome import EntryResult, SuiteOutcome
from harness.run._plan import load_plan, parse_plan

ROOT = Path(__file__).resolve().parents[2]

ENTRY = """
tests:
  - name: etcd-15247
    bug: {issue: 15247, evidence: mutex-lease-alive, expect: reproduced}
    workload: lock-set
    nemesis: pause:lock-holder
    seed: [1, 2]
    expect: any
"""


def violation(expired: bool, at_s: float) -> dict[str, Any]:
    return {"lease": {"expired": expired}, "grantee_lease_expired": False, "overlap_start": int(at_s * 1e9),
            "explanation": "why"}


def results(*violations: dict[str, Any]) -> dict[str, Any]:
    return {"valid": False, "checkers": {"mutex": {"valid": False, "violations": list(violations)}},
            "stats": {"op_phase_s": 60.0}}


def finished(tmp_path: Path, entry: Any, data: dict[str, Any], seconds: float) -> EntryResult:
    run_dir = tmp_path / entry.name
    run_dir.mkdir()
    (run_dir / "results.json").write_text(json.dumps(data))
    return EntryResult(entry=entry, status="pass", verdict=data["valid"], run_dir=run_dir, duration_s=seconds)


def test_the_bug_key_is_read_into_each_entry() -> None:
    plan = parse_plan(ENTRY)
    assert [e.bug for e in plan.entries] == [({"issue": 15247, "evidence": "mutex-lease-alive",
                                               "expect": "reproduced"},)] * 2


def test_one_entry_may_name_several_bugs() -> None:
    plan = parse_plan("tests:\n  - workload: lock\n    bug: [{issue: 1, evidence: mutex-lease-alive},"
                      " {issue: 2, evidence: mutex-grantee-expired}]\n")
    assert [b["issue"] for b in plan.entries[0].bug] == [1, 2]


@pytest.mark.parametrize("bad", ["{issue: x, evidence: hashkv}", "{issue: 1, evidence: nope}",
                                 "{issue: 1, evidence: hashkv, expect: maybe}", "{issue: 1, evidence: hashkv, x: 1}",
                                 "15247"])
def test_a_bad_bug_value_is_a_plan_error_naming_the_line(bad: str) -> None:
    with pytest.raises(PlanError) as e:
        parse_plan(f"tests:\n  - workload: register\n    bug: {bad}\n", "suites/b.yaml")
    assert "suites/b.yaml:3" in str(e.value) and "bug must be" in str(e.value)


def test_lease_alive_evidence_ignores_expired_leases() -> None:
    found = EVIDENCE["mutex-lease-alive"](results(violation(True, 3.0), violation(False, 7.5)))
    assert found.found and found.at_s == 7.5
    assert not EVIDENCE["mutex-lease-alive"](results(violation(True, 3.0))).found
    assert not EVIDENCE["mutex-lease-alive"]({"checkers": {}}).found


def test_a_grant_on_the_grantees_expired_lease_is_other_evidence() -> None:
    stale = {**violation(False, 4.0), "grantee_lease_expired": True}
    unknown = {**violation(False, 5.0), "grantee_lease_expired": None}
    assert not EVIDENCE["mutex-lease-alive"](results(stale, unknown)).found
    found = EVIDENCE["mutex-grantee-expired"](results(unknown, stale))
    assert found.found and found.at_s == 4.0


def test_stale_revoke_evidence_needs_the_logs_to_name_the_member() -> None:
    alive = violation(False, 6.0)
    blamed = {**violation(False, 9.0), "stale_revoke": {"node": "n1", "last_led_term": 6, "term": 7}}
    assert not EVIDENCE["mutex-stale-revoke"](results(alive)).found  # live leases alone are not enough
    found = EVIDENCE["mutex-stale-revoke"](results(alive, blamed))
    assert found.found and found.at_s == 9.0


def test_hashkv_evidence_is_its_checker_invalid() -> None:
    bad = {"valid": False, "checkers": {"hashkv": {"valid": False, "reason": "differs"}}, "stats": {"op_phase_s": 31}}
    assert EVIDENCE["hashkv"](bad).found and EVIDENCE["hashkv"](bad).at_s == 31
    assert not EVIDENCE["hashkv"]({"checkers": {"hashkv": {"valid": True}}}).found


def test_an_expected_bug_found_in_no_seed_fails_its_group(tmp_path: Path) -> None:
    first, second = parse_plan(ENTRY).entries
    runs = [finished(tmp_path, first, results(violation(True, 3.0)), 70),
            finished(tmp_path, second, results(violation(True, 4.0)), 70)]
    assert [judge_bug(r).status for r in runs] == ["pass", "pass"]
    judged = judge_bug_groups(runs)
    assert [r.status for r in judged] == ["fail", "fail"]
    assert "did in none of 2 seed(s)" in judged[0].message


def test_an_expected_bug_found_in_one_seed_passes_its_group(tmp_path: Path) -> None:
    first, second = parse_plan(ENTRY).entries
    runs = [finished(tmp_path, first, results(violation(True, 3.0)), 70),
            finished(tmp_path, second, results(violation(False, 4.0)), 70)]
    assert [r.status for r in judge_bug_groups(runs)] == ["pass", "pass"]


def test_a_bug_found_where_it_should_be_absent_fails_the_entry(tmp_path: Path) -> None:
    entry = parse_plan(ENTRY.replace("expect: reproduced", "expect: absent")).entries[0]
    judged = judge_bug(finished(tmp_path, entry, results(violation(False, 2.0)), 70))
    assert judged.status == "fail" and "fixed it" in judged.message


def test_the_summary_gives_the_rate_and_the_time_to_detection(tmp_path: Path) -> None:
    plan = parse_plan(ENTRY)
    first, second = plan.entries
    outcome = SuiteOutcome(plan=plan, suite_dir=tmp_path)
    outcome.results = [finished(tmp_path, first, results(violation(True, 1.0)), 70),
                       finished(tmp_path, second, results(violation(False, 12.5)), 80)]
    text = format_bug_summary(outcome)
    assert "etcd 15247 on etcd-harness/etcd:3.5.16: reproduced in 1 of 2 seed(s)" in text
    assert "first in seed 2 at 12.5 s into the run; 150 s of runs to the first detection" in text


def test_no_bug_entries_no_summary(tmp_path: Path) -> None:
    plan = parse_plan("tests:\n  - workload: register\n")
    assert format_bug_summary(SuiteOutcome(plan=plan, suite_dir=tmp_path)) == ""


def test_the_bug_catalogue_loads_and_names_its_bugs() -> None:
    plan = load_plan(ROOT / "suites" / "bugs.yaml")
    issues = {b["issue"] for e in plan.entries for b in e.bug}
    assert {15247, 13766} <= issues
    for entry in plan.entries:
        assert entry.bug, f"{entry.name}: every entry of the catalogue names its bug"


def test_corruption_checks_are_on_only_where_the_version_has_them() -> None:
    cluster = DockerCluster(run_id="unit", size=3)
    both = frozenset({"experimental-initial-corrupt-check", "experimental-corrupt-check-time", "name"})
    assert cluster.corrupt_check_args(both) == ["--experimental-initial-corrupt-check=true",
                                                "--experimental-corrupt-check-time=10s"]
    assert cluster.corrupt_check_args(frozenset({"name"})) == []
    given = DockerCluster(run_id="unit", size=3, extra_args=["--experimental-corrupt-check-time=1m"])
    assert given.corrupt_check_args(both) == ["--experimental-initial-corrupt-check=true"]
