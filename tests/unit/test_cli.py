"""Bad input gets a clear message and a distinct exit code, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.core import TestSpec


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
