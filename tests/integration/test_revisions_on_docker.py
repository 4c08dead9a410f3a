"""Revisions from real etcd: every v3 workload records them and they check out; a lying client is caught.

Short runs (8 s of ops, 3 nodes, no faults). The register under partition and kill
over several seeds is in the evidence plan of docs/revisions.md (too long for a test).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.core import TestSpec
from harness.run import run_test

pytestmark = [pytest.mark.docker, pytest.mark.slow]

#: workload → the ops whose ok completions must carry ``extra.rev`` (v3 ops only).
RECORDED = {
    "register": {"read", "write", "cas"},
    "counter": {"read", "add"},
    "folder": {"read", "put", "delete"},
    "lock": {"acquire", "release"},
    "lock-etcd-set": {"acquire", "add"},
    "ttl": {"write", "read"},
    "watch": {"put", "delete"},
}


def run(tmp_path: Path, workload: str, **kw: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    spec = TestSpec(workload=workload, nodes=3, time_limit=5, concurrency=6, seed=3, nemesis=(),
                    results_dir=str(tmp_path), **kw)
    outcome = run_test(spec)
    ops = [json.loads(line) for line in (outcome.run_dir / "history.jsonl").read_text().splitlines()]
    return outcome.results, ops


@pytest.mark.parametrize("workload", sorted(RECORDED))
def test_every_v3_workload_records_revisions_that_check_out(tmp_path: Path, workload: str) -> None:
    results, ops = run(tmp_path, workload)
    revisions = results["checkers"]["revisions"]
    assert revisions["valid"] is True, revisions["reason"]
    assert revisions["ops_with_rev"] > 0 and revisions["checked"]["realtime"] > 0
    v3 = [o for o in ops if o["type"] == "ok" and o["f"] in RECORDED[workload]
          and not str(o.get("key", "")).startswith("v2")]
    assert v3, f"{workload}: no ok v3 ops to look at"
    missing = [o for o in v3 if not isinstance((o.get("extra") or {}).get("rev"), int)]
    assert missing == [], f"{workload}: ok ops without extra.rev, e.g. {missing[:2]}"
    if workload in ("register", "counter", "ttl"):
        reads = [o for o in v3 if o["f"] == "read"]
        assert reads and all({"mod_rev", "create_rev", "version"} <= set(o["extra"]) for o in reads)
        assert revisions["checked"]["reads"] > 0 and revisions["checked"]["versions"] > 0


@pytest.mark.canary
def test_a_client_reporting_stale_header_revisions_is_caught(tmp_path: Path) -> None:
    results, _ = run(tmp_path, "register", options={"lie_revision": True})
    revisions = results["checkers"]["revisions"]
    assert revisions["valid"] is False, revisions["reason"]
    assert results["checkers"]["linear"]["valid"] is True  # the values are honest: only the revisions lie
    first = revisions["violations"][0]
    assert len(first["ops"]) >= 1 and all(isinstance(o["rev"], int) for o in first["ops"])
