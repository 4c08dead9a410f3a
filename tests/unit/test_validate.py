"""One validation of a test spec: the CLI, YAML plans, the pytest plugin and the runner agree.

Known-bad values must fail everywhere with the same message: exit 2 on the command line,
a PlanError naming file:line (exit 3, also at ``suite --dry-run``), a UsageError from
``spec_from_fields`` (what ``jepsen_run(**fields)`` calls) and from ``Run(...)`` before
it touches Docker.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import harness.run._runner as runner_module
from harness.core import EXIT_INPUT, EXIT_USAGE, PlanError, TestSpec, UsageError
from harness.run import ENTRY_KEYS, Run, load_plan, main, parse_plan, spec_from_fields, validate_spec
from harness.run._cli import _parse_options
from harness.run._validate import FIELDS, field_problem, options_help, options_markdown
from workloads import WORKLOADS, Option, read_option
from workloads.folder import FolderWorkload
from workloads.index import IndexWorkload
from workloads.lock import LockSetWorkload, LockWorkload
from workloads.ttl import TTLWorkload
from workloads.watch import WatchWorkload

ROOT = Path(__file__).resolve().parents[2]

#: (field, the value as YAML writes it, as the CLI flag takes it, the message both must give)
BAD_VALUES = [
    ("time_limit", "0", "0", "time_limit must be a positive number of seconds, not 0"),
    ("request_timeout", "0", "0", "request_timeout must be a positive number of seconds, not 0"),
    ("seed", "-3", "-3", "seed must be a whole number, 0 or more, not -3"),
    ("time_limit", "-5", "-5", "time_limit must be a positive number of seconds, not -5"),
    ("recovery_timeout", "0", "0", "recovery_timeout must be a positive number of seconds, not 0"),
    ("check_time_limit", "0", "0", "check_time_limit must be a positive number of seconds, not 0"),
    ("nemesis_interval", "0", "0", "nemesis_interval must be a positive number of seconds, not 0"),
    ("rate", "-1", "-1", "rate must be a number of ops/s, 0 or more (0 = as fast as possible), not -1"),
    ("nodes", "4", "4", "nodes must be a cluster size, one of 1, 3, 5, 7, not 4"),
    ("concurrency", "0", "0", "concurrency must be a whole number of client processes, 1 or more, not 0"),
    ("concurrency", "2.5", "2.5", "concurrency must be a whole number of client processes, 1 or more, not 2.5"),
    ("ops_per_key", "0", "0", "ops_per_key must be a whole number, 1 or more, not 0"),
    ("ttl", "0", "0", "ttl must be a whole number of seconds, 1 or more, not 0"),
    ("check_memory_mb", "0", "0", "check_memory_mb must be a whole number of MiB, 1 or more, not 0"),
    ("read_mode", "stale", "stale", "read_mode must be one of linearizable, serializable, not 'stale'"),
    ("counter_mode", "fast", "fast", "counter_mode must be one of safe, unsafe, not 'fast'"),
    ("name", "'has space'", "has space", "name must be a name of letters, digits and . _ + - (up to 80), "
                                         "not 'has space'"),
]

#: (workload, options as YAML, as CLI flags, the message all must give)
BAD_OPTIONS = [
    ("lock-set", "{hold_max: -1}", ["hold_max=-1"],
     "option hold_max=-1 for workload lock-set: hold_max must be a number, 0 or more"),
    ("lock", "{hold_mx: 5}", ["hold_mx=5"],
     "unknown option 'hold_mx' for workload lock (did you mean 'hold_max'?); allowed: hold_max, locks"),
    ("lock", "{locks: 0}", ["locks=0"], "option locks=0 for workload lock: locks must be a whole number, 1 or more"),
    ("index", "{read_fraction: 1.5}", ["read_fraction=1.5"],
     "option read_fraction=1.5 for workload index: read_fraction must be a number from 0 to 1"),
    ("index", "{quorum: 'no'}", ["quorum=no"], "option quorum='no' for workload index: quorum must be true or false"),
    ("watch", "{skip_event: 1}", ["skip_event=1"],
     "option skip_event=1 for workload watch: skip_event must be true or false"),
    ("counter", "{hold_max: 5}", ["hold_max=5"],
     "unknown option 'hold_max' for workload counter, which takes no options "
     "(hold_max is an option of lock, lock-etcd-set, lock-set, lock-v2, lock-v2-set)"),
]


def cli_error(args: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> str:
    """Run ``etcd-harness test ARGS`` in-process; it must exit 2 without creating anything. Its message."""
    assert main(["test", "--results-dir", str(tmp_path / "results"), *args]) == EXIT_USAGE == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert not (tmp_path / "results").exists(), "a rejected spec must not leave a run directory"
    prefix = "etcd-harness: error: "
    assert err.startswith(prefix), err
    return err[len(prefix):].rstrip("\n")


def plan_error(text: str, path: str = "suites/x.yaml") -> PlanError:
    with pytest.raises(PlanError) as e:
        parse_plan(text, path)
    return e.value


# -- the same bounds and message everywhere -----------------------------------------------------


@pytest.mark.parametrize(("field", "yaml_value", "cli_value", "message"), BAD_VALUES)
def test_a_bad_value_gets_the_same_message_from_the_cli_a_plan_and_the_plugin(
        field: str, yaml_value: str, cli_value: str, message: str, capsys: pytest.CaptureFixture[str],
        tmp_path: Path) -> None:
    e = plan_error(f"tests:\n  - workload: register\n    {field}: {yaml_value}\n")
    assert (e.path, e.line, e.detail) == ("suites/x.yaml", 3, message)
    assert str(e) == f"suites/x.yaml:3: {message}"

    assert cli_error([f"--{field.replace('_', '-')}", cli_value], capsys, tmp_path) == message

    value: Any = yaml_value.strip("'") if field in ("read_mode", "counter_mode", "name") else float(yaml_value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    with pytest.raises(UsageError) as u:
        spec_from_fields(workload="register", **{field: value})
    assert str(u.value) == message
    with pytest.raises(UsageError) as u:
        validate_spec(TestSpec(**{field: value}))
    assert str(u.value) == message


@pytest.mark.parametrize(("workload", "yaml_options", "cli_options", "message"), BAD_OPTIONS)
def test_a_bad_workload_option_gets_the_same_message_everywhere(
        workload: str, yaml_options: str, cli_options: list[str], message: str,
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    e = plan_error(f"tests:\n  - workload: {workload}\n    nemesis: none\n    options: {yaml_options}\n")
    assert (e.line, e.detail) == (4, message)

    flags = [f for item in cli_options for f in ("--option", item)]
    assert cli_error(["--workload", workload, *flags], capsys, tmp_path) == message

    with pytest.raises(UsageError) as u:  # the pytest plugin: jepsen_run(workload=..., options={...})
        spec_from_fields(workload=workload, options=_parse_options(cli_options))
    assert str(u.value) == message


def test_a_bad_option_in_a_plan_fails_at_dry_run_naming_file_and_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = tmp_path / "p.yaml"
    plan.write_text("tests:\n  - workload: lock-set\n    nemesis: pause:lock-holder\n"
                    "    options:\n      locks: 2\n      hold_max: -1\n")
    assert main(["suite", str(plan), "--dry-run"]) == EXIT_INPUT == 3
    err = capsys.readouterr().err
    assert f"{plan}:6: option hold_max=-1 for workload lock-set: hold_max must be a number, 0 or more" in err
    with pytest.raises(PlanError) as e:
        load_plan(plan)
    assert e.value.line == 6  # the option's own line, not the entry's


def test_an_option_typo_says_did_you_mean_in_a_plan_and_on_the_command_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    e = plan_error("defaults:\n  options: {hold_mx: 5}\ntests:\n  - workload: lock\n")
    assert e.line == 2 and "did you mean 'hold_max'?" in e.detail and "allowed: hold_max, locks" in e.detail
    message = cli_error(["--workload", "lock-v2", "--option", "hold_mx=5"], capsys, tmp_path)
    assert "unknown option 'hold_mx' for workload lock-v2 (did you mean 'hold_max'?)" in message


def test_options_are_checked_for_every_workload_of_a_matrix() -> None:
    e = plan_error("tests:\n  - workload: [lock, register]\n    options: {hold_max: 3}\n")
    assert e.line == 3 and "unknown option 'hold_max' for workload register" in e.detail


def test_the_plugin_rejects_unknown_fields_and_bad_nemeses() -> None:
    with pytest.raises(UsageError, match=r"unknown test field 'time_limt' \(did you mean 'time_limit'\?\)"):
        spec_from_fields(time_limt=10)
    with pytest.raises(UsageError, match="unknown nemesis 'meteor'"):
        spec_from_fields(nemesis="partition+meteor")
    with pytest.raises(UsageError, match="needs a workload that reports it"):
        spec_from_fields(workload="register", nemesis="pause:lock-holder")


def test_the_plugin_accepts_good_fields_and_normalizes_them() -> None:
    spec = spec_from_fields(workload="lock-set", nemesis="pause:lock-holder+kill", time_limit=10, seed=3,
                            options={"hold_max": 5})
    assert spec.nemesis == ("pause:lock-holder", "kill")
    assert spec.time_limit == 10.0 and isinstance(spec.time_limit, float)
    assert spec_from_fields(nemesis="none").nemesis == ()
    assert spec_from_fields(nemesis="all").nemesis == validate_spec(TestSpec(nemesis=("all",))).nemesis


def test_the_runner_rejects_a_bad_spec_before_touching_docker(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_docker(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("Run must validate the spec before it builds a cluster")

    monkeypatch.setattr(runner_module, "DockerCluster", no_docker)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-such.sock")
    for spec, message in [
        (TestSpec(time_limit=0), "time_limit must be a positive number of seconds, not 0"),
        (TestSpec(seed=-3), "seed must be a whole number, 0 or more, not -3"),
        (TestSpec(workload="lock", options={"hold_mx": 5}), "did you mean 'hold_max'?"),
        (TestSpec(workload="nosuch"), "unknown workload 'nosuch'"),
        (TestSpec(nemesis=("partition", "meteor")), "unknown nemesis 'meteor'"),
    ]:
        with pytest.raises(UsageError) as e:
            Run(spec, tmp_path / "run", None)
        assert message in str(e.value)


def test_the_default_spec_and_the_shipped_plans_are_valid() -> None:
    assert validate_spec(TestSpec()) == TestSpec()
    for path in sorted((ROOT / "suites").glob("*.yaml")):
        for entry in load_plan(path).entries:
            assert validate_spec(entry.spec) == entry.spec, (path, entry.name)


def test_every_plan_key_has_the_specs_rule() -> None:
    assert set(ENTRY_KEYS) == ({*FIELDS, "workload", "nemesis", "expect", "bug"} - {"results_dir"})
    assert field_problem("time_limit", math.inf) is not None
    assert field_problem("time_limit", True) is not None
    assert field_problem("options", {"a": object()}) is not None


# -- workload option declarations --------------------------------------------------------------


def test_declarations_are_well_formed() -> None:
    for name, workload in WORKLOADS.items():
        names = [o.name for o in workload.options]
        assert len(set(names)) == len(names), name
        for o in workload.options:
            assert o.help and o.kind in ("bool", "int", "number", "str"), (name, o)
            assert (o.default is None and o.default_text) or o.accepts(o.default), (name, o)


def test_workloads_read_the_declared_defaults() -> None:
    lock = LockWorkload(TestSpec(workload="lock", concurrency=10))
    assert (lock.option("hold_max"), lock.hold_max_s, len(lock.locks)) == (2.0, 2.0, math.ceil(10 / 3))
    index = IndexWorkload(TestSpec(workload="index"))
    assert (index.quorum, index.read_fraction) == (True, 0.5)
    ttl = TTLWorkload(TestSpec(workload="ttl"))
    assert (ttl.tolerance, ttl.lie) == (2.0, False)
    assert WatchWorkload(TestSpec(workload="watch")).skip_event is False
    assert FolderWorkload(TestSpec(workload="folder")).stale_reads is False
    given = LockSetWorkload(TestSpec(workload="lock-set", options={"hold_max": 5, "locks": 2}))
    assert (given.hold_max_s, len(given.locks)) == (5.0, 2)
    canary = IndexWorkload(TestSpec(workload="index", options={"quorum": False, "read_fraction": 0.95}))
    assert (canary.quorum, canary.read_fraction) == (False, 0.95)


def test_read_option_refuses_an_undeclared_name() -> None:
    declared = (Option("a", "int", "an a", default=1),)
    assert read_option(declared, TestSpec(), "a") == 1
    assert read_option(declared, TestSpec(options={"a": 4}), "a") == 4
    with pytest.raises(KeyError):
        read_option(declared, TestSpec(), "b")


def test_option_rules() -> None:
    number = Option("x", "number", "x", default=0.5, minimum=0, maximum=1)
    assert number.accepts(0) and number.accepts(1) and number.accepts(0.25)
    assert not any(number.accepts(v) for v in (-0.1, 1.5, True, "0.5", None, math.nan))
    whole = Option("n", "int", "n", default=1, minimum=1)
    assert whole.accepts(3) and not whole.accepts(1.5) and not whole.accepts(0)
    assert Option("b", "bool", "b", default=False).accepts(True)
    assert not Option("b", "bool", "b", default=False).accepts(0)
    assert Option("c", "str", "c", default="a", choices=("a", "b")).allowed() == "one of a, b"


# -- documentation from the declarations -------------------------------------------------------


def test_the_readme_holds_the_generated_options_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert options_markdown() in readme, "README.md drifted: paste options_markdown() under 'Workload options'"


def test_test_help_lists_every_workload_and_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["test", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert options_help() in out and "exit codes:" in out
    for name, workload in WORKLOADS.items():
        assert name in out
        for o in workload.options:
            assert o.name in out


def test_check_does_not_import_the_workloads() -> None:
    code = ("import sys\nfrom harness.run._cli import build_parser\n"
            "build_parser().parse_args(['check', 'x.jsonl'])\n"
            "print(sorted(m for m in ('workloads', 'nemesis', 'harness.etcd', 'harness.run._validate') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
