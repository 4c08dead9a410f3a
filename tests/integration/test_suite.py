"""Suites against real clusters: a tiny plan runs and writes junit.xml; a replay reproduces the run's
config and fault schedule; Ctrl-C / SIGTERM of a running suite leaves no containers and still writes junit.xml.

Each test starts ``etcd-harness`` as a subprocess, as a user or CI would.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.core import EXIT_INTERRUPTED, EXIT_VALID
from harness.etcd import DEFAULT_IMAGE, LABEL, RUN_LABEL, docker_client

pytestmark = [pytest.mark.docker, pytest.mark.slow]

CLI = [sys.executable, "-m", "harness"]
TINY = """
name: tiny
defaults:
  nodes: 3
  time_limit: 10
  concurrency: 5
  rate: 50
  nemesis_interval: 2
tests:
  - workload: register
    nemesis: partition
    seed: 4242
    expect: valid
"""


def docker_api() -> Any:
    try:
        client = docker_client()
        client.images.get(DEFAULT_IMAGE)
    except Exception as e:  # no engine or no image: these tests cannot run here
        pytest.skip(f"needs Docker and {DEFAULT_IMAGE} (`make image`): {e}")
    return client


def run_cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, check=False)


def the_run_dir(suite_dir: Path, entry: str) -> Path:
    [run_dir] = [p for p in (suite_dir / entry).iterdir() if p.is_dir()]
    return run_dir


def history(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def tiny_suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[subprocess.CompletedProcess[str], Path]]:
    docker_api()
    root = tmp_path_factory.mktemp("suite")
    plan = root / "tiny.yaml"
    plan.write_text(TINY)
    proc = run_cli("suite", str(plan), "--results-dir", str(root / "results"))
    [suite_dir] = (root / "results" / "tiny").iterdir()
    yield proc, suite_dir


def test_tiny_plan_runs_and_writes_junit(tiny_suite: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    proc, suite_dir = tiny_suite
    assert proc.returncode == EXIT_VALID, proc.stdout + proc.stderr
    assert "PASS" in proc.stdout and "register-partition" in proc.stdout
    suite = ET.parse(suite_dir / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    [case] = list(suite.iter("testcase"))
    assert case.get("name") == "register-partition"
    assert case.find("failure") is None and case.find("error") is None
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["seed"] == "4242" and props["verdict"] == "valid" and props["nodes"] == "3"
    run_dir = the_run_dir(suite_dir, "register-partition")
    assert props["run_dir"] == str(run_dir)
    assert json.loads((run_dir / "results.json").read_text())["valid"] is True
    assert (suite_dir / "summary.txt").read_text().count("PASS") == 1


def test_replay_reproduces_config_and_fault_schedule(
        tiny_suite: tuple[subprocess.CompletedProcess[str], Path], tmp_path: Path) -> None:
    _, suite_dir = tiny_suite
    original = the_run_dir(suite_dir, "register-partition")
    proc = run_cli("test", "--replay", str(original), "--results-dir", str(tmp_path))
    assert proc.returncode == EXIT_VALID, proc.stdout + proc.stderr
    [replay] = [p for p in (tmp_path / "register-partition").iterdir() if p.is_dir()]

    a, b = (json.loads((d / "config.json").read_text()) for d in (original, replay))
    spec_fields = set(a) - {"results_dir", "started_at", "run_id", "nodes_detail", "command", "clock_zero_unix_ns"}
    assert {k: a[k] for k in spec_fields} == {k: b[k] for k in spec_fields}
    assert a["seed"] == 4242

    def faults(run_dir: Path) -> list[tuple[str, Any]]:
        """Each nemesis op that was applied: what it did, and to whom (the partition's grudge)."""
        return [(op["f"], (op.get("value") or {}).get("grudge")) for op in history(run_dir)
                if op["process"] == "nemesis" and op["type"] == "info"]

    fa, fb = faults(original), faults(replay)
    n = min(len(fa), len(fb))  # how many fit in the time limit depends on the machine's load
    assert n >= 1 and fa[0][0] == "start-partition"
    assert fa[:n] == fb[:n]

    def first_ops(run_dir: Path, process: int) -> list[tuple[Any, ...]]:
        return [(op["f"], op.get("key"), op["value"]) for op in history(run_dir)
                if op["process"] == process and op["type"] == "invoke"][:8]

    for p in range(2):  # the per-process op plan is seeded too
        assert first_ops(original, p) == first_ops(replay, p)


def leftovers(api: Any, pid: int) -> list[str]:
    """Containers and networks of any run started by process ``pid`` (run ids end with -<pid>)."""
    found = []
    for c in api.containers.list(all=True, filters={"label": f"{LABEL}=1"}):
        if c.labels.get(RUN_LABEL, "").endswith(f"-{pid}"):
            found.append(c.name)
    for net in api.networks.list(filters={"label": f"{LABEL}=1"}):
        if (net.attrs.get("Labels") or {}).get(RUN_LABEL, "").endswith(f"-{pid}"):
            found.append(net.name)
    return found


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupted_suite_tears_down_and_writes_junit(signum: int, tmp_path: Path) -> None:
    api = docker_api()
    plan = tmp_path / "long.yaml"
    plan.write_text("name: long\ndefaults: {nodes: 3, time_limit: 60, concurrency: 4, rate: 20}\n"
                    "tests:\n  - name: first\n  - name: second\n")
    out = (tmp_path / "stdout.txt").open("w")
    proc = subprocess.Popen([*CLI, "suite", str(plan), "--results-dir", str(tmp_path / "results")],
                            stdout=out, stderr=subprocess.STDOUT)
    try:
        run_id = None
        deadline = time.monotonic() + 120
        while run_id is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
            for config in (tmp_path / "results").glob("long/*/first/*/config.json"):
                with contextlib.suppress(ValueError):  # still being written
                    run_id = json.loads(config.read_text()).get("run_id")
        assert run_id, "the first entry's cluster never came up:\n" + (tmp_path / "stdout.txt").read_text()
        assert api.containers.list(filters={"label": f"{RUN_LABEL}={run_id}"}), "the cluster should be running"
        time.sleep(2)  # let clients and the nemesis work a little
        proc.send_signal(signum)
        rc = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        out.close()
    output = (tmp_path / "stdout.txt").read_text()
    assert rc == EXIT_INTERRUPTED, output
    assert leftovers(api, proc.pid) == []
    assert "Traceback" not in output
    [suite_dir] = (tmp_path / "results" / "long").iterdir()
    cases = {c.get("name"): c for c in ET.parse(suite_dir / "junit.xml").getroot().iter("testcase")}
    error = cases["first"].find("error")
    assert error is not None and error.get("type") == "interrupted"
    assert cases["second"].find("skipped") is not None
    [run_dir] = [p for p in (suite_dir / "first").iterdir() if p.is_dir()]
    assert json.loads((run_dir / "results.json").read_text())["valid"] == "unknown"
    assert "INTERRUPTED" in (suite_dir / "summary.txt").read_text()
    assert os.path.getsize(run_dir / "history.jsonl") > 0
