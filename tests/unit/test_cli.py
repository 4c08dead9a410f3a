"""Bad input gets a clear message and a distinct exit code, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from checkers import MODELS
from harness.core import TestSpec
from harness.run._version import harness_version
from workloads import WORKLOADS


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


@pytest.mark.parametrize("args", [
    ["test", "--nodes", "4"],
    ["test", "--time-limit", "soon"],
    ["test", "--concurrency", "0"],
    ["test", "--read-mode", "sloppy"],
    ["frobnicate"],
])
def test_usage_errors_exit_2(args: list[str]) -> None:
    proc = run(*args)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "error" in proc.stderr


def test_unknown_workload_names_the_allowed_ones() -> None:
    proc = run("test", "--workload", "nope")
    assert proc.returncode == 2
    assert "register" in proc.stderr and "Traceback" not in proc.stderr


def test_unknown_nemesis_names_the_allowed_ones() -> None:
    proc = run("test", "--nemesis", "partition,meteor")
    assert proc.returncode == 2
    assert "meteor" in proc.stderr and "partition" in proc.stderr and "Traceback" not in proc.stderr


def test_docker_unreachable_is_an_infrastructure_error_that_says_how_to_fix_it(tmp_path: Path) -> None:
    proc = run("test", "--nodes", "1", "--time-limit", "1", "--results-dir", str(tmp_path),
               env={"DOCKER_HOST": f"unix://{tmp_path}/no-such.sock"})
    assert proc.returncode == 4, proc.stderr
    assert "Docker" in proc.stderr and "Traceback" not in proc.stderr


def test_replay_of_a_missing_run_is_a_usage_error(tmp_path: Path) -> None:
    proc = run("test", "--replay", str(tmp_path / "nothing"))
    assert proc.returncode == 2
    assert "config.json" in proc.stderr


def test_spec_command_reproduces_the_spec() -> None:
    spec = TestSpec(workload="register", nemesis=("partition",), nodes=3, seed=11, time_limit=30)
    cmd = spec.command()
    assert "--seed 11" in cmd and "--nodes 3" in cmd and "--time-limit 30" in cmd
    assert TestSpec.from_json(spec.to_json()) == TestSpec.from_json(TestSpec.from_json(spec.to_json()).to_json())


def test_workload_options_are_parsed_as_json_or_strings() -> None:
    from harness.run._cli import _parse_options

    assert _parse_options(["skip_event=true", "n=3", "mode=fast"]) == {"skip_event": True, "n": 3, "mode": "fast"}


def test_a_malformed_option_is_a_usage_error() -> None:
    proc = run("test", "--option", "no-equals-sign")
    assert proc.returncode == 2
    assert "KEY=VALUE" in proc.stderr and "Traceback" not in proc.stderr


# -- issue 13: the small things --------------------------------------------------------------------------


def test_version_prints_the_harness_version() -> None:
    proc = run("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"etcd-harness {harness_version()}"
    assert harness_version() == "0.1.0" or harness_version()[0].isdigit()


@pytest.mark.parametrize("command", ["test", "check", "report", "suite", "clean"])
def test_every_help_ends_with_examples(command: str) -> None:
    proc = run(command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "examples:\n" in proc.stdout, proc.stdout
    examples = proc.stdout.split("examples:\n", 1)[1].split("exit codes:")[0]
    assert examples.count(f"etcd-harness {command}") >= 2


def _help_of(text: str, flag: str) -> str:
    """The help of ``flag`` in ``--help`` output, on one line."""
    after = text.split(f"  {flag} ", 1)[1]
    lines = [after.splitlines()[0]]
    for line in after.splitlines()[1:]:
        if line.lstrip().startswith("-") or not line.startswith(" " * 10):
            break
        lines.append(line)
    return " ".join(" ".join(lines).split())


def test_workload_help_lists_every_workload() -> None:
    shown = _help_of(run("test", "--help").stdout, "--workload WORKLOAD")
    assert all(name in shown for name in WORKLOADS), shown


def test_check_model_help_lists_every_model() -> None:
    shown = _help_of(run("check", "--help").stdout, "--model MODEL")
    assert all(name in shown for name in MODELS), shown


@pytest.mark.parametrize("nemesis", ["", " ", ","])
def test_an_empty_nemesis_is_a_usage_error_not_none(tmp_path: Path, nemesis: str) -> None:
    proc = run("test", "--nemesis", nemesis, "--nodes", "1", "--time-limit", "1", "--results-dir", str(tmp_path),
               env={"DOCKER_HOST": f"unix://{tmp_path}/no-such.sock"})
    assert proc.returncode == 2, proc.stderr
    assert "--nemesis none" in proc.stderr and "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["../../x", "../x", "..", "a/b", "/tmp/x", "x\ny"])
def test_a_test_name_cannot_reach_outside_the_results_folder(tmp_path: Path, name: str) -> None:
    results = tmp_path / "inside" / "results"
    proc = run("test", "--name", name, "--nodes", "1", "--time-limit", "1", "--results-dir", str(results),
               env={"DOCKER_HOST": f"unix://{tmp_path}/no-such.sock"})
    assert proc.returncode == 2, proc.stderr
    assert "name must be" in proc.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == []


def test_a_replayed_config_with_a_bad_name_is_refused_too(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({**TestSpec().to_json(), "name": "../../escape"}))
    proc = run("test", "--replay", str(run_dir), "--results-dir", str(tmp_path / "results"),
               env={"DOCKER_HOST": f"unix://{tmp_path}/no-such.sock"})
    assert proc.returncode == 2 and "name must be" in proc.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path.parent / "escape").exists()


NON_ASCII_HISTORY = [
    {"index": 0, "time": 0, "process": 0, "type": "invoke", "f": "write", "value": "café"},
    {"index": 1, "time": 10, "process": 0, "type": "ok", "f": "write", "value": "café"},
    {"index": 2, "time": 20, "process": 1, "type": "invoke", "f": "read", "value": None},
    {"index": 3, "time": 30, "process": 1, "type": "ok", "f": "read", "value": "thé"},
]


@pytest.mark.parametrize("env", [
    {"PYTHONIOENCODING": "ascii"},
    {"LC_ALL": "C", "LANG": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0", "PYTHONIOENCODING": ""},
], ids=["PYTHONIOENCODING=ascii", "LANG=C"])
def test_output_a_terminal_cannot_encode_is_escaped_not_a_traceback(tmp_path: Path, env: dict[str, str]) -> None:
    history = tmp_path / "h.jsonl"
    history.write_text("".join(json.dumps(op, ensure_ascii=False) + "\n" for op in NON_ASCII_HISTORY),
                       encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "harness", "check", str(history)], capture_output=True,
                          timeout=60, env={**os.environ, **env})
    stderr = proc.stderr.decode("ascii", "replace")
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr and "UnicodeEncodeError" not in stderr
    out = proc.stdout.decode("ascii")  # nothing but ASCII reached the terminal
    assert "NOT linearizable" in out and "th\\xe9" in out
