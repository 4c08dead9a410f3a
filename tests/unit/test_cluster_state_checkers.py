"""The end-of-run checkers (hashkv, logs, alarms): known-bad facts and logs they must flag, and real
etcd logs of normal fault runs (tests/unit/etcd_logs/) they must pass."""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from checkers import CheckContext
from checkers.cluster_state import (
    AlarmChecker,
    HashKVChecker,
    LogChecker,
    cluster_checkers,
    damaged_nodes,
    judge_alarms,
    judge_hashkv,
    judge_logs,
    scan_log,
)
from harness.core import CLUSTER_FACTS, NEMESIS, History, Op, OpType

LOGS = Path(__file__).parent / "etcd_logs"


def facts(**hashes: int) -> dict[str, Any]:
    """Three settled members at revision 120, each with the given HashKV (default: all equal)."""
    names = ("n1", "n2", "n3")
    return {
        "members": {n: {"revision": 120, "applied_index": 300, "raft_term": 2, "member_id": str(i), "error": None}
                    for i, n in enumerate(names, start=1)},
        "settled": True,
        "hashkv": {"revision": 120, "method": "etcdctl",
                   "members": {n: {"hash": hashes.get(n, 777), "compact_revision": -1} for n in names}},
        "alarms": {"members": {n: [] for n in names}},
    }


# -- hashkv --------------------------------------------------------------------------------------


def test_equal_hashes_are_valid() -> None:
    result = judge_hashkv(facts())
    assert result.valid is True and "3 members agree" in result.reason


def test_a_differing_hash_is_invalid_naming_the_member_and_the_revision() -> None:
    result = judge_hashkv(facts(n3=1234))
    assert result.valid is False
    assert "revision 120" in result.reason and "n3 disagree with n1, n2" in result.reason
    assert result.details["hash_mismatch"]["members"] == ["n3"]


def test_same_applied_index_with_different_revisions_is_invalid() -> None:
    data = facts()
    data["members"]["n2"]["revision"] = 119  # etcd 13766: the same log applied, a revision lost
    result = judge_hashkv(data)
    assert result.valid is False
    assert "same index 300" in result.reason and "n2 at revision 119" in result.reason


def test_an_unreachable_member_is_unknown_with_the_reason() -> None:
    data = facts()
    data["members"]["n2"] = {"error": "connection refused"}
    del data["hashkv"]["members"]["n2"]
    result = judge_hashkv(data)
    assert result.valid == "unknown" and "n2 did not answer: connection refused" in result.reason


def test_a_compacted_member_is_unknown_not_a_mismatch() -> None:
    data = facts()
    data["hashkv"]["members"]["n1"] = {"error": "mvcc: required revision has been compacted"}
    result = judge_hashkv(data)
    assert result.valid == "unknown" and "compacted" in result.reason


def test_different_compact_revisions_are_not_compared() -> None:
    data = facts(n3=5)
    data["hashkv"]["members"]["n3"]["compact_revision"] = 50
    result = judge_hashkv(data)
    assert result.valid == "unknown" and "different revisions" in result.reason


def test_a_mismatch_wins_over_an_unsettled_cluster() -> None:
    data = facts(n1=1)
    data["settled"] = False
    assert judge_hashkv(data).valid is False
    assert judge_hashkv({**facts(), "settled": False}).valid == "unknown"


def test_no_members_is_unknown() -> None:
    assert judge_hashkv({}).valid == "unknown"


# -- alarms ------------------------------------------------------------------------------------


@pytest.mark.parametrize("alarm", ["CORRUPT", "NOSPACE"])
def test_corrupt_and_nospace_alarms_are_invalid(alarm: str) -> None:
    data = facts()
    data["alarms"]["members"]["n1"] = [{"member": "n3", "alarm": alarm}]
    result = judge_alarms(data)
    assert result.valid is False and f"{alarm} on n3" in result.reason


def test_no_alarms_is_valid_and_no_answer_is_unknown() -> None:
    assert judge_alarms(facts()).valid is True
    silent = {"alarms": {"members": {"n1": {"error": "timeout"}, "n2": {"error": "timeout"}}}}
    assert judge_alarms(silent).valid == "unknown"
    assert judge_alarms({}).valid == "unknown"


# -- logs ----------------------------------------------------------------------------------------

BAD_LINES = {
    "panic": 'panic: runtime error: invalid memory address or nil pointer dereference',
    "fatal": '{"level":"fatal","ts":"2026-12-02T11:00:00Z","caller":"etcdserver/server.go:1","msg":"failed to apply"}',
    "corruption": '{"level":"error","ts":"2026-12-02T11:00:00Z","msg":"checkInitialHashKV failed",'
                  '"error":"8e9e05c52164694d found data inconsistency with peers"}',
    "alarm": '{"level":"warn","ts":"2026-12-02T11:00:00Z","caller":"etcdserver/server.go:2","msg":"alarm raised",'
             '"alarm":"CORRUPT","from":"8e9e05c52164694d"}',
}


@pytest.mark.parametrize("kind", sorted(BAD_LINES))
def test_each_bad_line_is_found_with_file_and_line(kind: str) -> None:
    text = '{"level":"info","msg":"ready to serve client requests"}\n' + BAD_LINES[kind] + "\n"
    result = judge_logs({"n2": text})
    assert result.valid is False
    first = result.details["findings"][0]
    assert (first["kind"], first["where"]) == (kind, "nodes/n2/etcd.log:2")


def test_hash_mismatch_of_the_periodic_check_is_found() -> None:
    line = ('{"level":"error","msg":"found hash mismatch","revision-1":12,"hash-1":1,"revision-2":12,'
            '"hash-2":2}')
    assert [f["kind"] for f in scan_log("n1", line)] == ["corruption"]


def test_benign_error_lines_are_not_findings() -> None:
    benign = [
        '{"level":"warn","msg":"failed hash kv request","error":"dial tcp 172.30.27.13:2380: i/o timeout"}',
        '{"level":"info","msg":"enabled corruption checking","interval":"10s"}',
        '{"level":"info","msg":"finished peer corruption check","number-of-peers-checked":1}',
        '{"level":"warn","msg":"lost TCP streaming connection with remote peer","error":"EOF"}',
        '{"level":"error","msg":"failed to publish local member to cluster through raft"}',
        '{"level":"info","msg":"initial corruption checking passed; no corruption","local-member-id":"x"}',
    ]
    assert scan_log("n1", "\n".join(benign)) == []


REAL_LOGS = sorted(LOGS.glob("*.log.gz"))


@pytest.mark.parametrize("path", REAL_LOGS, ids=[p.name for p in REAL_LOGS])
def test_logs_of_normal_fault_runs_are_valid(path: Path) -> None:
    text = gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
    assert len(text.splitlines()) > 50  # a real log, not an empty file
    result = judge_logs({path.name: text})
    assert result.valid is True, result.details["findings"]


def test_real_logs_are_there() -> None:
    assert len(REAL_LOGS) >= 4


def test_no_logs_is_unknown() -> None:
    assert judge_logs({}).valid == "unknown"


# -- the checkers on a run directory -----------------------------------------------------------


def run_dir(tmp_path: Path, data: dict[str, Any], logs: dict[str, str]) -> Path:
    (tmp_path / CLUSTER_FACTS).write_text(json.dumps(data))
    for node, text in logs.items():
        (tmp_path / "nodes" / node).mkdir(parents=True)
        (tmp_path / "nodes" / node / "etcd.log").write_text(text)
    return tmp_path


def test_the_checkers_read_the_run_directory(tmp_path: Path) -> None:
    data = facts(n2=9)
    data["alarms"]["members"]["n2"] = [{"member": "n2", "alarm": "CORRUPT"}]
    ctx = CheckContext(out_dir=run_dir(tmp_path, data, {"n1": BAD_LINES["panic"] + "\n"}))
    empty = History.of([])
    assert HashKVChecker().check(empty, ctx).valid is False
    assert AlarmChecker().check(empty, ctx).valid is False
    assert LogChecker().check(empty, ctx).valid is False
    assert sorted(cluster_checkers(tmp_path)) == ["alarms", "hashkv", "logs"]


def test_a_run_without_facts_gets_no_cluster_checkers(tmp_path: Path) -> None:
    assert cluster_checkers(tmp_path) == {}
    assert cluster_checkers(None) == {}


def test_unreadable_facts_are_unknown(tmp_path: Path) -> None:
    (tmp_path / CLUSTER_FACTS).write_text("[1, 2")
    ctx = CheckContext(out_dir=tmp_path)
    assert HashKVChecker().check(History.of([]), ctx).valid == "unknown"
    assert AlarmChecker().check(History.of([]), ctx).valid == "unknown"


def test_judging_does_not_change_the_facts() -> None:
    data = facts(n3=4)
    before = copy.deepcopy(data)
    judge_hashkv(data)
    judge_alarms(data)
    assert data == before


def test_findings_on_a_node_whose_files_were_damaged_on_purpose_are_expected(tmp_path: Path) -> None:
    history = History.of([
        Op(type=OpType.INVOKE, f="corrupt-file", process=NEMESIS, time=1),
        Op(type=OpType.INFO, f="corrupt-file", process=NEMESIS, time=2, value={"mode": "flip-db", "node": "n2"}),
    ])
    assert damaged_nodes(history) == frozenset({"n2"})
    logs = {"n1": "ok\n", "n2": BAD_LINES["panic"] + "\n"}
    result = judge_logs(logs, damaged_nodes(history))
    assert result.valid is True and result.details["expected_finding_count"] == 1
    assert "whose files a fault damaged on purpose" in result.reason
    # A finding on another node still counts.
    assert judge_logs({**logs, "n3": BAD_LINES["fatal"]}, damaged_nodes(history)).valid is False
    ctx = CheckContext(out_dir=run_dir(tmp_path, facts(), logs))
    assert LogChecker().check(history, ctx).valid is True
    assert LogChecker().check(History.of([]), ctx).valid is False
