"""Canaries: real runs against real etcd that must be found invalid, proving the checkers bite.

Seeds are fixed; bench/canaries.py gives the firing rates across seeds.

* register, ``--read-mode serializable``, partitions: a partitioned member serves
  its stale local state, so the linearizability checker must find a stale read.
* lock-set, pauses, etcd 3.4.23: a lock waiter whose node is paused past its lease
  TTL is granted the lock on resume although its lease expired (3.4's lock service
  does not re-check the session), so two clients hold it: mutual-exclusion
  violations and lost set elements.
* counter, ``--counter-mode unsafe``: read-then-put increments overwrite each
  other, so the counter checker must find lost increments.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness._runner import run_test
from harness._spec import TestSpec

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.canary]


def run(tmp_path: Path, **kw: Any) -> dict[str, Any]:
    spec = TestSpec(nodes=3, results_dir=str(tmp_path), **kw)
    return run_test(spec).results


def test_serializable_reads_under_partitions_are_stale(tmp_path: Path) -> None:
    results = run(tmp_path, workload="register", read_mode="serializable", nemesis=("partition",),
                  time_limit=60, seed=1)
    linear = results["checkers"]["linear"]
    assert results["valid"] is False, linear["reason"]
    assert linear["valid"] is False
    assert any(u["f"] == "read" for fail in linear["failures"] for u in fail["unlinearizable"])


def test_lock_set_with_pauses_loses_mutual_exclusion_on_3_4(tmp_path: Path) -> None:
    results = run(tmp_path, workload="lock-set", nemesis=("pause",), time_limit=60, seed=1,
                  image="etcd-harness/etcd:3.4.23")
    mutex, sets = results["checkers"]["mutex"], results["checkers"]["set"]
    assert results["valid"] is False, (mutex["reason"], sets["reason"])
    assert mutex["violation_count"] > 0 or sets["lost_count"] > 0
    for v in mutex["violations"]:
        a, b = v["holders"]
        assert a["process"] != b["process"] and v["overlap_start"] < v["overlap_end"] and v["ttl_s"] == 2


def test_unsafe_counter_loses_increments(tmp_path: Path) -> None:
    results = run(tmp_path, workload="counter", counter_mode="unsafe", nemesis=(), time_limit=15, seed=1)
    counter = results["checkers"]["counter"]
    assert results["valid"] is False, counter["reason"]
    assert counter["lost"] > 0 and counter["final"]["value"] < counter["final"]["lower"]
