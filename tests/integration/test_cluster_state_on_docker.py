"""End-of-run consistency on real etcd: the corrupt_member canary must be caught by hashkv, a normal
run must pass the hashkv, logs and alarms checkers, and a re-check must judge the saved facts again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.core import CLUSTER_FACTS, TestSpec
from harness.run import run_test
from harness.run._recheck import recheck_run

pytestmark = [pytest.mark.docker, pytest.mark.canary]


def test_a_member_with_an_overwritten_value_is_caught_by_hashkv(tmp_path: Path) -> None:
    spec = TestSpec(workload="register", nemesis=(), nodes=3, time_limit=5, seed=3, results_dir=str(tmp_path),
                    options={"corrupt_member": True})
    outcome = run_test(spec)
    facts = json.loads((outcome.run_dir / CLUSTER_FACTS).read_text())
    assert facts["corrupted"]["overwritten"] >= 1, facts["corrupted"]
    hashkv = outcome.results["checkers"]["hashkv"]
    assert outcome.valid is False and hashkv["valid"] is False, hashkv["reason"]
    assert hashkv["hash_mismatch"]["members"] == [facts["corrupted"]["node"]]
    # The verdict comes again from the saved facts, without the cluster.
    again = recheck_run(outcome.run_dir)
    assert again["checkers"]["hashkv"]["valid"] is False


def test_a_normal_run_with_kills_passes_the_cluster_checks(tmp_path: Path) -> None:
    spec = TestSpec(workload="register", nemesis=("kill",), nodes=3, time_limit=10, nemesis_interval=3, seed=5,
                    results_dir=str(tmp_path))
    outcome = run_test(spec)
    checkers = outcome.results["checkers"]
    for name in ("hashkv", "logs", "alarms"):
        assert checkers[name]["valid"] is True, (name, checkers[name]["reason"])
    args = json.loads((outcome.run_dir / "config.json").read_text())
    assert args["etcd_version"]  # the run knew which etcd it ran
    log = (outcome.run_dir / "nodes" / "n1" / "etcd.log").read_text()
    assert "--experimental-initial-corrupt-check=true" in log  # etcd's own checks were on
