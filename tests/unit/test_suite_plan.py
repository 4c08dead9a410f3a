"""YAML test plans: validation (file:line + allowed values), matrix expansion, junit and exit codes."""

from __future__ import annotations

import io
import json
import random
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from harness import PlanError
from harness.core import EXIT_INFRA, EXIT_INPUT, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_UNKNOWN, EXIT_VALID, TestSpec
from harness.run import (
    ENTRY_KEYS,
    EntryResult,
    Plan,
    PlanEntry,
    RunOutcome,
    SuiteOutcome,
    junit_xml,
    load_plan,
    parse_plan,
    run_plan,
    suite_exit_code,
)
from harness.run._cli import main
from harness.run._plan import derive_seed
from nemesis import FAULTS
from workloads import WORKLOADS

A_WORKLOAD = next(iter(WORKLOADS))
A_FAULT = next(iter(FAULTS))


def plan_error(text: str, path: str = "suites/x.yaml") -> PlanError:
    with pytest.raises(PlanError) as e:
        parse_plan(text, path)
    return e.value


# -- validation ---------------------------------------------------------------------------


def test_unknown_entry_key_names_file_line_and_allowed_keys() -> None:
    e = plan_error(f"tests:\n  - workload: {A_WORKLOAD}\n    time_limt: 10\n")
    assert (e.path, e.line) == ("suites/x.yaml", 3)
    assert str(e).startswith("suites/x.yaml:3: unknown key 'time_limt'")
    assert "did you mean 'time_limit'" in str(e)
    for key in ENTRY_KEYS:
        assert key in e.detail


def test_unknown_top_level_key() -> None:
    e = plan_error("name: a\ntest:\n  - {}\n")
    assert e.line == 2
    assert "allowed: name, description, defaults, tests" in str(e)


def test_unknown_key_in_defaults() -> None:
    e = plan_error("defaults:\n  nodez: 3\ntests:\n  - {}\n")
    assert e.line == 2 and "'nodez'" in str(e) and "nodes" in e.detail


def test_unknown_workload_lists_the_workloads() -> None:
    e = plan_error(f"tests:\n  - workload: {A_WORKLOAD}\n  - workload: [{A_WORKLOAD}, nosuch]\n")
    assert e.line == 3
    assert "unknown workload 'nosuch'" in str(e)
    assert f"allowed: {', '.join(WORKLOADS)}" in str(e)


def test_unknown_nemesis_in_a_combination_lists_the_faults() -> None:
    e = plan_error(f"tests:\n  - workload: {A_WORKLOAD}\n    nemesis: [none, {A_FAULT}+nosuch]\n")
    assert e.line == 3
    assert "unknown nemesis 'nosuch'" in str(e)
    assert f"allowed: {', '.join([*FAULTS, 'all', 'none'])}" in str(e)


@pytest.mark.parametrize(("line", "expected"), [
    ("time_limit: ten", "time_limit must be a positive number of seconds, not 'ten'"),
    ("time_limit: -5", "time_limit must be a positive number of seconds, not -5"),
    ("nodes: 4", "nodes must be a cluster size, one of 1, 3, 5, 7, not 4"),
    ("concurrency: true", "concurrency must be a whole number of client processes, 1 or more, not True"),
    ("concurrency: 2.5", "not 2.5"),
    ("read_mode: stale", "read_mode must be one of linearizable, serializable, not 'stale'"),
    ("expect: broken", "expect must be one of valid, invalid, unknown, any, not 'broken'"),
    ("seed: [1, x]", "seed must be a whole number, 0 or more, not 'x'"),
    ("options: [1]", "options must be a mapping"),
    ("name: 'has space'", "name must be a name of letters"),
    ("nodes: []", "an empty list would expand to no test"),
])
def test_bad_values_name_the_line_and_what_is_allowed(line: str, expected: str) -> None:
    e = plan_error(f"tests:\n  - workload: {A_WORKLOAD}\n    {line}\n")
    assert e.line == 3
    assert expected in str(e)


def test_repeated_key_is_an_error() -> None:
    e = plan_error(f"tests:\n  - workload: {A_WORKLOAD}\n    nodes: 3\n    nodes: 5\n")
    assert e.line == 4 and "repeated" in str(e) and "line 3" in str(e)


def test_yaml_syntax_error_names_the_line() -> None:
    e = plan_error("tests:\n  - workload: register\n    nodes: [3, 5\n  - x: 1\n")
    assert e.line is not None and "not valid YAML" in str(e)


@pytest.mark.parametrize(("text", "expected"), [
    ("", "the plan is empty"),
    ("name: x\n", "no 'tests:' list"),
    ("tests: []\n", "non-empty list"),
    ("- workload: register\n", "the plan must be a mapping"),
    ("tests:\n  - register\n", "a test entry must be a mapping"),
])
def test_plan_shape_errors(text: str, expected: str) -> None:
    assert expected in str(plan_error(text))


def test_missing_plan_file(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="no such plan file"):
        load_plan(tmp_path / "nope.yaml")


def test_cli_reports_a_bad_plan_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = tmp_path / "bad.yaml"
    plan.write_text(f"tests:\n  - workload: {A_WORKLOAD}\n    nemesis: nosuch\n")
    assert main(["suite", str(plan), "--dry-run"]) == EXIT_INPUT == 3
    err = capsys.readouterr().err
    assert f"{plan}:3: unknown nemesis 'nosuch'" in err
    assert "Traceback" not in err


# -- expansion --------------------------------------------------------------------------------


def test_matrix_expands_to_the_product_with_defaults_and_overrides() -> None:
    plan = parse_plan(f"""
name: demo
defaults:
  time_limit: 30
  nodes: 3
tests:
  - workload: {A_WORKLOAD}
    nemesis: [none, {A_FAULT}]
    nodes: [3, 5]
    image: [etcd-harness/etcd:3.5.16, etcd-harness/etcd:3.4.23]
    seed: 7
  - name: canary
    workload: index
    read_mode: serializable
    time_limit: 12.5
    options: {{read_fraction: 0.9}}
    expect: invalid
""", "p.yaml")
    assert plan.name == "demo"
    assert len(plan.entries) == 2 * 2 * 2 + 1
    names = [e.name for e in plan.entries]
    assert len(set(names)) == len(names)
    assert f"{A_WORKLOAD}-{A_FAULT}-n5-3.4.23" in names
    first = plan.entries[0]
    assert first.spec == TestSpec(workload=A_WORKLOAD, nemesis=(), nodes=3, image="etcd-harness/etcd:3.5.16", seed=7,
                                  time_limit=30.0, name=first.name)
    assert first.expect == "valid" and first.line == 7
    canary = plan.entries[-1]
    assert canary.name == "canary" and canary.expect == "invalid" and canary.line == 12
    assert (canary.spec.time_limit, canary.spec.nodes, canary.spec.read_mode) == (12.5, 3, "serializable")
    assert canary.spec.options == {"read_fraction": 0.9}  # a declared option (an undeclared one is an error)


def test_nemesis_values_combine_and_none_and_all() -> None:
    plan = parse_plan(f"tests:\n  - nemesis: [none, all, '{A_FAULT}', [{A_FAULT}]]\n")
    assert [e.spec.nemesis for e in plan.entries] == [(), tuple(FAULTS), (A_FAULT,), (A_FAULT,)]


def test_seeds_axis_and_drawn_seeds_are_recorded() -> None:
    plan = parse_plan("tests:\n  - seed: [1, 2]\n  - {}\n", seeds=random.Random(5))
    assert [e.spec.seed for e in plan.entries[:2]] == [1, 2]
    assert plan.entries[0].name.endswith("-s1")
    suite_seed = random.Random(5).randrange(1 << 31)
    assert plan.suite_seed == suite_seed
    assert plan.entries[2].spec.seed == derive_seed(suite_seed, plan.entries[2].name)
    assert [e.seed_given for e in plan.entries] == [True, True, False]


def test_repeated_names_are_made_unique() -> None:
    plan = parse_plan("tests:\n  - name: a\n  - name: a\n")
    assert [e.name for e in plan.entries] == ["a", "a-2"]
    assert plan.entries[1].spec.test_name == "a-2"


def test_merge_keys_are_understood() -> None:
    plan = parse_plan("defaults: &base {nodes: 3}\ntests:\n  - <<: *base\n    time_limit: 5\n")
    assert (plan.entries[0].spec.nodes, plan.entries[0].spec.time_limit) == (3, 5.0)


@pytest.mark.parametrize("path", sorted(Path(__file__).parents[2].glob("suites/*.yaml")))
def test_shipped_plans_are_valid(path: Path) -> None:
    plan = load_plan(path)
    assert plan.entries


def test_ci_plan_is_the_register_partition_test() -> None:
    plan = load_plan(Path(__file__).parents[2] / "suites" / "ci.yaml")
    [entry] = plan.entries
    s = entry.spec
    assert (s.workload, s.nemesis, s.nodes, s.time_limit, entry.expect) == ("register", ("partition",), 5, 60.0,
                                                                             "valid")


# -- outcomes, junit and exit codes (pure logic) ----------------------------------------------


def entry(name: str = "e", expect: Any = "valid") -> PlanEntry:
    return PlanEntry(name=name, spec=TestSpec(name=name, seed=1), expect=expect, line=3)


def outcome(results: list[EntryResult], tmp_path: Path, interrupted: bool = False) -> SuiteOutcome:
    plan = Plan(name="s", path=Path("suites/s.yaml"), description="", entries=tuple(r.entry for r in results))
    return SuiteOutcome(plan=plan, suite_dir=tmp_path, results=results, interrupted=interrupted)


@pytest.mark.parametrize(("results", "interrupted", "code"), [
    ([EntryResult(entry(), "pass", True)], False, EXIT_VALID),
    ([EntryResult(entry(expect="invalid"), "pass", False)], False, EXIT_VALID),
    ([EntryResult(entry(), "fail", False)], False, EXIT_INVALID),
    ([EntryResult(entry(expect="invalid"), "fail", True)], False, EXIT_INVALID),
    ([EntryResult(entry(), "fail", "unknown")], False, EXIT_UNKNOWN),
    ([EntryResult(entry(), "error")], False, EXIT_INFRA),
    ([EntryResult(entry(), "error"), EntryResult(entry(), "fail", False)], False, EXIT_INVALID),
    ([EntryResult(entry(), "pass", True)], True, EXIT_INTERRUPTED),
])
def test_exit_codes(results: list[EntryResult], interrupted: bool, code: int) -> None:
    assert suite_exit_code(results, interrupted) == code


def test_junit_failure_carries_reason_and_report_path(tmp_path: Path) -> None:
    run_dir = tmp_path / "e" / "20240101T000000"
    results = [
        EntryResult(entry("ok"), "pass", True, run_dir=run_dir, duration_s=1.5),
        EntryResult(entry("bad"), "fail", False, message="linear: key 3: read 3, but the register can only be 1 here",
                    run_dir=run_dir, duration_s=2.0),
        EntryResult(entry("boom"), "error", message="the etcd image 'x' is not there \x1b[31m"),
        EntryResult(entry("cut"), "interrupted", "unknown", message="interrupted"),
        EntryResult(entry("later"), "skipped", message="not run: the suite was interrupted"),
    ]
    root = junit_xml(outcome(results, tmp_path)).getroot()
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("5", "1", "2",
                                                                                                       "1")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    failure = cases["bad"].find("failure")
    assert failure is not None
    assert failure.get("message") == "linear: key 3: read 3, but the register can only be 1 here"
    assert str(run_dir / "report.html") in (failure.text or "")
    assert f"etcd-harness test --replay {run_dir}" in (failure.text or "")
    assert cases["ok"].find("failure") is None and cases["ok"].find("error") is None
    error = cases["boom"].find("error")
    assert error is not None and "\x1b" not in (error.get("message") or "")
    cut = cases["cut"].find("error")
    assert cut is not None and cut.get("type") == "interrupted"
    assert cases["later"].find("skipped") is not None
    props = {p.get("name"): p.get("value") for p in cases["ok"].iter("property")}
    assert props["seed"] == "1" and props["verdict"] == "valid" and props["expect"] == "valid"


class FakeRunner:
    """Stands in for run_test in the suite's bookkeeping (no cluster): verdicts, then an interrupt."""

    def __init__(self, verdicts: list[Any]) -> None:
        self.verdicts = verdicts
        self.specs: list[TestSpec] = []

    def __call__(self, spec: TestSpec, *, progress: Any = None) -> RunOutcome:
        self.specs.append(spec)
        verdict = self.verdicts[len(self.specs) - 1]
        run_dir = Path(spec.results_dir) / spec.test_name / "t"
        run_dir.mkdir(parents=True)
        if progress:
            progress({"elapsed_s": 1.0, "remaining_s": 2.0, "events": 10, "ops_per_s": 5.0})
        if verdict == "interrupt":
            raise KeyboardInterrupt
        results = {"valid": verdict, "checkers": {"linear": {"valid": verdict, "reason": f"reason {verdict}"}},
                   "stats": {"ops_per_s": 12.5}}
        return RunOutcome(run_dir=run_dir, valid=verdict, results=results)


def test_run_plan_interrupted_writes_junit_for_what_ran(tmp_path: Path) -> None:
    plan = parse_plan("tests:\n  - name: a\n  - name: b\n    expect: invalid\n  - name: c\n  - name: d\n",
                      tmp_path / "p.yaml")
    runner = FakeRunner([True, True, "interrupt", True])
    stream = io.StringIO()
    out = run_plan(plan, tmp_path / "results", stream=stream, tty=True, runner=runner)
    assert len(runner.specs) == 3
    assert all(Path(s.results_dir) == out.suite_dir for s in runner.specs)
    assert out.interrupted and out.exit_code == EXIT_INTERRUPTED
    assert [r.status for r in out.results] == ["pass", "fail", "interrupted", "skipped"]
    assert out.suite_dir.parent.parent == tmp_path / "results"
    cases = ET.parse(out.suite_dir / "junit.xml").getroot().iter("testcase")
    assert [c.get("name") for c in cases] == ["a", "b", "c", "d"]
    summary = (out.suite_dir / "summary.txt").read_text()
    assert "INTERRUPTED" in summary and "expected an anomaly" in summary
    data = json.loads((out.suite_dir / "suite.json").read_text())
    assert data["exit_code"] == EXIT_INTERRUPTED and data["entries"][0]["spec"]["name"] == "a"
    assert "\r\x1b[K[1/4] a  1s elapsed, 2s left  5 ops/s  suite ~" in stream.getvalue()  # the live line


def test_run_plan_exit_code_is_the_single_tests_code(tmp_path: Path) -> None:
    plan = parse_plan("tests:\n  - name: a\n", tmp_path / "p.yaml")
    for verdict, code in ((True, EXIT_VALID), (False, EXIT_INVALID), ("unknown", EXIT_UNKNOWN)):
        out = run_plan(plan, tmp_path / str(verdict), stream=io.StringIO(), tty=True, runner=FakeRunner([verdict]))
        assert out.exit_code == code
