"""lock, lock-set, lock-etcd-set, lock-v2, lock-v2-set and counter against a real 3-node cluster: valid runs.

Short runs (10 s of ops each) without faults for the lock family (a lease lock
is not mutual exclusion under faults: see the canaries), and with partitions
for the counter. Each asserts the checkers had something to check.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.core import TestSpec
from harness.etcd import RUN_LABEL, docker_client
from harness.run import run_test

pytestmark = pytest.mark.docker


def run(tmp_path: Path, workload: str, *, nemesis: tuple[str, ...] = (), seed: int = 7) -> dict[str, Any]:
    spec = TestSpec(workload=workload, nemesis=nemesis, nodes=3, time_limit=10, concurrency=6, seed=seed,
                    nemesis_interval=3, results_dir=str(tmp_path))
    outcome = run_test(spec)
    config = json.loads((outcome.run_dir / "config.json").read_text())
    leftovers = docker_client().containers.list(all=True, filters={"label": [f"{RUN_LABEL}={config['run_id']}"]})
    assert leftovers == []
    return outcome.results


def history(results_dir: Path) -> list[dict[str, Any]]:
    (path,) = results_dir.glob("*/*/history.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("workload", ["lock", "lock-v2"])
def test_lock_is_valid_without_faults(tmp_path: Path, workload: str) -> None:
    results = run(tmp_path, workload)
    checkers = results["checkers"]
    assert results["valid"] is True, {k: c["reason"] for k, c in checkers.items()}
    assert checkers["mutex"]["hold_count"] >= 5
    assert checkers["mutex"]["violations"] == []
    # The workload's own checkers, the end-of-run cluster checks, and revisions where the client is v3.
    cluster_checks = {"hashkv", "logs", "alarms"}
    expected = {"mutex", "linear", *cluster_checks} | ({"revisions"} if workload == "lock" else set())
    assert set(checkers) == expected
    acquired = [op for op in history(tmp_path) if op["f"] == "acquire" and op["type"] == "ok"]
    for op in acquired:
        if workload == "lock-v2":  # the v2 recipe records every X-Etcd-Index and its instance id
            assert op["extra"]["x_etcd_index"] and all(isinstance(i, int) for i in op["extra"]["x_etcd_index"])
            assert int(op["extra"]["instance_id"]) > 0
        else:
            assert op["extra"]["lock_key"].startswith("/locks/")
    # Every release records its keepalives; without faults the lease never went a TTL unrefreshed.
    released = [op for op in history(tmp_path) if op["f"] == "release" and op["type"] == "ok"]
    assert released
    for op in released:
        keepalive = op["extra"]["keepalive"]
        assert keepalive["failed"] == 0 and 0 <= keepalive["last_ack_sent_s_ago"] < 2, op


@pytest.mark.parametrize("workload", ["lock-set", "lock-etcd-set", "lock-v2-set"])
def test_lock_set_variants_keep_every_element(tmp_path: Path, workload: str) -> None:
    results = run(tmp_path, workload)
    checkers = results["checkers"]
    assert results["valid"] is True, {k: c["reason"] for k, c in checkers.items()}
    assert sum(s["acknowledged"] for s in checkers["set"]["sets"].values()) >= 3


def test_counter_is_valid_under_partitions(tmp_path: Path) -> None:
    results = run(tmp_path, "counter", nemesis=("partition",))
    counter = results["checkers"]["counter"]
    assert results["valid"] is True, counter["reason"]
    assert counter["read_count"] >= 10 and counter["acknowledged"] > 0
    assert counter["final"]["lower"] <= counter["final"]["value"] <= counter["final"]["upper"]
