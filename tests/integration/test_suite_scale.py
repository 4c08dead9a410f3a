"""Scaling out on real Docker: a small plan (4 entries, 3 nodes, 10 s) as shards 1/2 and 2/2 merged into
one junit.xml, and the same plan with ``--jobs 2``: correct verdicts, the right exit code, no leftovers;
Ctrl-C of ``--jobs 2`` tears both running clusters down.

Each test starts ``etcd-harness`` as a subprocess, as a CI runner would.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from harness.core import EXIT_INTERRUPTED, EXIT_VALID
from harness.etcd import DEFAULT_IMAGE, RUN_LABEL, docker_client

pytestmark = [pytest.mark.docker, pytest.mark.slow]

CLI = [sys.executable, "-m", "harness"]
#: Three entries that must be valid and a canary that must be invalid (its watcher drops its 5th event,
#: whatever the timing), so "the right verdicts" means something in both directions.
SMALL = """
name: small
defaults:
  nodes: 3
  time_limit: 10
  concurrency: 5
  rate: 50
  nemesis_interval: 2
tests:
  - workload: register
    nemesis: [partition, kill]
  - workload: counter
    nemesis: pause
  - name: canary-watch-skip-event
    workload: watch
    nemesis: none
    options: {skip_event: true}
    expect: invalid
"""
SEED = "4242"


def docker_api() -> Any:
    try:
        client = docker_client()
        client.images.get(DEFAULT_IMAGE)
    except Exception as e:  # no engine or no image: these tests cannot run here
        pytest.skip(f"needs Docker and {DEFAULT_IMAGE} (`make image`): {e}")
    return client


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, check=False)


def junit_cases(junit: Path) -> dict[str, dict[str, str]]:
    """name -> the testcase's properties, plus "outcome" (pass / failure / error / skipped)."""
    out = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        props = {p.get("name", ""): p.get("value", "") for p in case.iter("property")}
        props["outcome"] = next((c.tag for c in case if c.tag in ("failure", "error", "skipped")), "pass")
        out[case.get("name", "")] = props
    return out


def run_ids(suite_json: Path) -> list[str]:
    ids = []
    for entry in json.loads(suite_json.read_text())["entries"]:
        config = Path(entry["run_dir"]) / "config.json"
        ids.append(json.loads(config.read_text())["run_id"])
    return ids


def assert_no_leftovers(client: Any, ids: list[str]) -> None:
    """Nothing labelled with these runs' ids (other suites may run on this engine meanwhile)."""
    for run_id in ids:
        assert not client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={run_id}"}), run_id
        assert not client.networks.list(filters={"label": f"{RUN_LABEL}={run_id}"}), run_id


def assert_right_verdicts(cases: dict[str, dict[str, str]]) -> None:
    """Every entry reached a verdict, the one its run directory holds, and met its expectation."""
    assert len(cases) == 4
    for name, props in cases.items():
        results = json.loads((Path(props["run_dir"]) / "results.json").read_text())
        word = {True: "valid", False: "invalid"}.get(results["valid"], "unknown")
        assert props["verdict"] == word, name
        assert props["verdict"] == props["expect"], (name, props)
        assert props["outcome"] == "pass", (name, props)


def test_two_shards_merge_into_one_junit(tmp_path: Path) -> None:
    client = docker_api()
    plan = tmp_path / "small.yaml"
    plan.write_text(SMALL)
    results = tmp_path / "results"
    shard_dirs = []
    # Side by side, as two CI runners would run them (and in half the time).
    shards = [subprocess.Popen([*CLI, "suite", str(plan), "--shard", f"{k}/2", "--seed", SEED,
                                "--results-dir", str(results)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True) for k in (1, 2)]
    outputs = [shard.communicate(timeout=600)[0] for shard in shards]
    for k, shard, output in zip((1, 2), shards, outputs, strict=True):
        assert shard.returncode == EXIT_VALID, output
        [shard_dir] = (results / f"small-shard-{k}-of-2").iterdir()
        shard_dirs.append(shard_dir)
        assert json.loads((shard_dir / "suite.json").read_text())["shard"]["index"] == k
        assert_no_leftovers(client, run_ids(shard_dir / "suite.json"))

    proc = run_cli("merge", *map(str, shard_dirs), "--results-dir", str(results))
    assert proc.returncode == EXIT_VALID, proc.stdout + proc.stderr
    [merged] = (results / "small-merged").iterdir()
    cases = junit_cases(merged / "junit.xml")
    assert_right_verdicts(cases)
    # The seeds are the plan's with this suite seed, whatever the split: an unsharded dry run says the same.
    dry = run_cli("suite", str(plan), "--seed", SEED, "--dry-run")
    for name, props in cases.items():
        assert f"  {props['seed']}  " in next(line for line in dry.stdout.splitlines() if f" {name} " in line)
    index = (results / "index.html").read_text()
    for props in cases.values():
        assert Path(props["run_dir"]).relative_to(results).as_posix() in index


def test_jobs_two_runs_side_by_side_and_leaves_nothing(tmp_path: Path) -> None:
    client = docker_api()
    plan = tmp_path / "small.yaml"
    plan.write_text(SMALL)
    results = tmp_path / "results"
    proc = run_cli("suite", str(plan), "--jobs", "2", "--seed", SEED, "--results-dir", str(results))
    assert proc.returncode == EXIT_VALID, proc.stdout + proc.stderr
    [suite_dir] = (results / "small").iterdir()
    assert_right_verdicts(junit_cases(suite_dir / "junit.xml"))
    assert_no_leftovers(client, run_ids(suite_dir / "suite.json"))
    # Two entries ran at once: some entry started before another one finished.
    starts = [i for i, line in enumerate(proc.stdout.splitlines()) if ": register, nemesis" in line]
    first_done = next(i for i, line in enumerate(proc.stdout.splitlines()) if "PASS" in line)
    assert len(starts) == 2 and starts[1] < first_done, proc.stdout


def test_ctrl_c_with_jobs_two_tears_down_both_clusters(tmp_path: Path) -> None:
    client = docker_api()
    plan = tmp_path / "small.yaml"
    plan.write_text(SMALL.replace("time_limit: 10", "time_limit: 60"))
    results = tmp_path / "results"
    proc = subprocess.Popen([*CLI, "suite", str(plan), "--jobs", "2", "--seed", SEED, "--results-dir", str(results)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 240
        ids: list[str] = []
        while len(ids) < 2:  # both clusters up: each run's config.json has its run id once it started
            assert proc.poll() is None and time.monotonic() < deadline, "the suite ended or never started two runs"
            time.sleep(1)
            configs = [json.loads(p.read_text()) for p in results.glob("small/*/*/*/config.json")]
            ids = [c["run_id"] for c in configs if c.get("run_id")]
        assert all(client.containers.list(filters={"label": f"{RUN_LABEL}={i}"}) for i in ids)
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == EXIT_INTERRUPTED, output
    assert_no_leftovers(client, ids)
    [suite_json] = results.glob("small/*/suite.json")
    statuses = [e["status"] for e in json.loads(suite_json.read_text())["entries"]]
    assert statuses == ["interrupted", "interrupted", "skipped", "skipped"], output
