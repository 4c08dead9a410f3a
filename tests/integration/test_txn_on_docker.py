"""append and wr against a real 3-node cluster: one canary that must fire, and the safe runs under partitions.

The full matrix (5 seeds x etcd 3.5.16 and 3.4.23 x partition, kill, pause, and both canaries
over 5 seeds) is ``suites/txn.yaml``; ``suites/nightly.yaml`` runs it at full size.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.core import TestSpec
from harness.run import run_test

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def run(tmp_path: Path, workload: str, *, nemesis: tuple[str, ...] = (), options: dict[str, Any] | None = None,
        time_limit: float = 15) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    spec = TestSpec(workload=workload, nemesis=nemesis, nodes=3, time_limit=time_limit, nemesis_interval=3,
                    seed=1, options=options or {}, results_dir=str(tmp_path))
    outcome = run_test(spec)
    ops = [json.loads(line) for line in (outcome.run_dir / "history.jsonl").read_text().splitlines()]
    return outcome.results, ops


@pytest.mark.canary
def test_append_without_guards_loses_appends(tmp_path: Path) -> None:
    results, _ = run(tmp_path, "append", options={"guard": False}, time_limit=10)
    elle = results["checkers"]["elle"]
    assert results["valid"] is False, elle["reason"]
    # Overwritten lists: an acknowledged append no later read holds, or two reads that disagree on the order.
    assert {"lost-append", "incompatible-order", "G-single", "G-single-realtime"} & set(elle["counts"]), elle["counts"]
    assert elle["anomalies"] and all(a["explanation"] and a["ops"] for a in elle["anomalies"])


@pytest.mark.parametrize("workload", ["append", "wr"])
def test_safe_txns_stay_strict_serializable_under_partitions(tmp_path: Path, workload: str) -> None:
    results, ops = run(tmp_path, workload, nemesis=("partition",))
    elle = results["checkers"]["elle"]
    assert results["valid"] is True, elle["reason"]
    assert elle["consistency_model"] == "strict-serializable"
    partitions = [op for op in ops if op["process"] == "nemesis" and op["f"] == "start-partition"
                  and op["type"] == "info" and (op.get("value") or {}).get("verified")]
    assert partitions, "no partition was applied: a valid verdict would prove nothing"
    txns = [op for op in ops if op["f"] == "txn" and op["type"] == "ok"]
    writers = [op for op in txns if any(f != "r" for f, _, _ in op["value"])]
    readers = [op for op in txns if any(f == "r" and v not in (None, []) for f, _, v in op["value"])]
    assert len(writers) >= 50 and len(readers) >= 50, (len(writers), len(readers))
    for op in txns:  # the contract with the checker: revisions of every committed txn
        extra = op["extra"]
        assert isinstance(extra["rev"], int) and extra["rev"] > 0
        assert [m is None for m in extra["mod_revs"]] == [f != "r" for f, _, _ in op["value"]]
        assert all(m is None or 0 <= m <= extra["rev"] for m in extra["mod_revs"])
        if workload == "append":
            assert extra["read_rev"] <= extra["rev"]
    if workload == "append":
        # A guard that did not hold is a definite failure, recorded with the read phase's revision.
        guarded = [op for op in ops if op["f"] == "txn" and op["type"] == "fail" and "guard" in op.get("error", "")]
        assert guarded and all(isinstance(op["extra"]["read_rev"], int) for op in guarded)
