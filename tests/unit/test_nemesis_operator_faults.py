"""The admin, member, snapshot and file faults: their pure parts, names, and the member fault's
flow against the in-memory cluster (no Docker; tests/integration/test_new_faults_on_docker.py runs
them on real etcd)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from harness.core import RunDir, TestSpec, UsageError
from harness.etcd import Member
from harness.run import run_test
from nemesis import (
    FAULTS,
    TARGETS,
    FaultSkipped,
    FileCorruption,
    MemberChange,
    build_fault,
    check_fault_name,
    leftovers,
    parse_nemesis,
)
from nemesis._admin import compaction_target
from nemesis._file import MODES, evidence_lines, newest_wal, plan_damage, used_length
from nemesis._member import fitting_actions, membership_problems, restore_membership, restore_plan, step_size
from nemesis._snapshot import FOLLOWER_EVIDENCE, compact_index, matching_lines, snapshot_count
from tests.fakes import FakeCluster, FakeWorkload


def started(size: int = 3) -> FakeCluster:
    cluster = FakeCluster(size)
    cluster.start()
    return cluster


# -- names ------------------------------------------------------------------------------------

def test_all_includes_the_new_families_and_their_targets_parse() -> None:
    assert {"admin", "member", "snapshot", "file"} <= set(parse_nemesis("all"))
    assert parse_nemesis("member:grow,file:flip-db") == ("member:grow", "file:flip-db")
    assert TARGETS["file"] == MODES
    built = build_fault("file:flip-wal")
    assert isinstance(built, FileCorruption) and built.modes == ("flip-wal",)
    member = build_fault("member:replace")
    assert isinstance(member, MemberChange) and member.actions == ("replace",)


def test_unknown_targets_name_what_is_allowed() -> None:
    why = check_fault_name("member:explode")
    assert why is not None and "member:replace" in why and "member:shrink" in why
    assert check_fault_name("admin:x") == "admin takes no target (got 'admin:x'); write just 'admin'"
    with pytest.raises(UsageError, match="file:truncate-wal"):
        parse_nemesis("file:zero-db")


def test_membership_is_healed_after_the_node_faults() -> None:
    order = list(FAULTS)
    assert order.index("kill") < order.index("file") < order.index("member")


# -- admin ------------------------------------------------------------------------------------

def test_compaction_target_keeps_a_few_hundred_revisions_or_half() -> None:
    assert compaction_target(1000, 300) == 700
    assert compaction_target(400, 300) == 200  # a short test: half of it
    assert compaction_target(2, 300) is None
    assert compaction_target(3, 100) is None


# -- member -----------------------------------------------------------------------------------

def test_member_actions_stay_between_three_and_five() -> None:
    actions = ("replace", "grow", "shrink")
    assert fitting_actions(actions, 3) == ["replace", "grow"]
    assert fitting_actions(actions, 5) == ["replace", "shrink"]
    assert fitting_actions(actions, 4) == ["replace", "grow", "shrink"]
    assert fitting_actions(actions, 1) == ["grow"]
    assert (step_size("grow", 3), step_size("grow", 4), step_size("shrink", 5), step_size("shrink", 7)) == (2, 1, 2, 2)
    assert step_size("replace", 5) == 1


def test_restore_plan_finds_strays_missing_and_extra_nodes() -> None:
    stray = Member(id=0xABC, name="", peer_urls=("http://10.0.0.99:2380",))
    known = Member(id=1, name="n1", peer_urls=("http://10.0.0.11:2380",))
    strays, to_add, to_remove = restore_plan(3, ["n1", "n3", "n4"], [known, stray],
                                             {"n1": "http://10.0.0.11:2380", "n3": "x", "n4": "y"})
    assert strays == [stray]
    assert to_add == ["n2"]
    assert to_remove == ["n4"]


def test_replace_records_member_lists_and_a_new_id() -> None:
    cluster = started(3)
    fault = MemberChange(actions=("replace",))
    value = fault.start(cluster, random.Random(3))
    gone = value["nodes"][0]
    assert value["verified"] and gone in value["members_before"] and gone not in value["members_after"]
    assert gone not in {n.name for n in cluster.nodes}
    assert leftovers(cluster), "a removed member must count as a leftover until it is back"
    undo = fault.stop(cluster)
    assert undo["verified"] and undo["members_after"][gone] != value["members_before"][gone]
    assert leftovers(cluster) == []


def test_grow_then_stop_shrinks_back() -> None:
    cluster = started(3)
    fault = MemberChange(actions=("grow",))
    value = fault.start(cluster, random.Random(1))
    assert value["nodes"] == ["n4", "n5"] and len(cluster.nodes) == 5
    assert fault.stop(cluster)["verified"]
    assert [n.name for n in cluster.nodes] == ["n1", "n2", "n3"]


def test_heal_restores_membership_and_stop_still_verifies() -> None:
    cluster = started(5)
    fault = MemberChange(actions=("shrink",))
    fault.start(cluster, random.Random(2))
    assert len(cluster.nodes) == 3
    cluster.stray_members.append(Member(id=0xDEAD, name="", peer_urls=("http://10.0.0.99:2380",)))
    assert any("unstarted" in p for p in membership_problems(cluster))
    fault.heal(cluster)
    assert membership_problems(cluster) == []
    assert fault.stop(cluster)["verified"]


def test_restore_membership_is_a_no_op_on_a_whole_cluster() -> None:
    cluster = started(3)
    assert restore_membership(cluster) == {"strays_removed": [], "added": [], "removed": []}


def test_member_start_skips_while_a_node_is_down() -> None:
    cluster = started(3)
    cluster.kill(cluster.nodes[1])
    with pytest.raises(Exception, match="wait for every node"):
        MemberChange().start(cluster, random.Random(0))
    assert [n.name for n in cluster.nodes] == ["n1", "n2", "n3"]


# -- file -------------------------------------------------------------------------------------

def test_used_length_and_newest_wal() -> None:
    assert used_length(b"abc\0\0\0") == 3
    assert used_length(b"\0" * 10) == 0
    listing = ("64000000 /d/member/wal/0000000000000001-0000000000000abc.wal\n"
               "64000000 /d/member/wal/0000000000000000-0000000000000000.wal\n"
               "64000000 /d/member/wal/0.tmp\n")
    assert newest_wal(listing) == "/d/member/wal/0000000000000001-0000000000000abc.wal"
    assert newest_wal("64000000 /d/member/wal/0.tmp\n") is None


@pytest.mark.parametrize("seed", range(30))
def test_damage_stays_inside_the_records(seed: int) -> None:
    rng = random.Random(seed)
    used = rng.choice([1, 7, 4096, 50_000])
    cut = plan_damage("truncate-wal", used, rng)
    assert 0 <= cut["size"] < used and used - cut["size"] <= 4096
    flip = plan_damage("flip-wal", used, rng)
    assert max(0, used - 4096) <= flip["offset"] < used and 0 <= flip["bit"] < 8
    db = plan_damage("flip-db", used, rng)
    assert 0 <= db["offset"] < used


def test_damage_refuses_an_empty_file_and_unknown_modes() -> None:
    with pytest.raises(ValueError, match="no data"):
        plan_damage("flip-wal", 0, random.Random(0))
    with pytest.raises(ValueError, match="unknown file mode"):
        plan_damage("zero-db", 10, random.Random(0))


def test_evidence_lines_pick_the_refusal() -> None:
    log = ('{"level":"info","msg":"starting an etcd server"}\n'
           '{"level":"warn","msg":"unrecognized environment variable"}\n'
           '{"level":"info","msg":"initial corruption checking passed; no corruption"}\n'
           '{"level":"panic","msg":"tocommit(451) is out of range [lastIndex(418)]. Was the raft log corrupted?"}\n'
           "panic: tocommit(451) is out of range\n"
           "goroutine 1 [running]:\n")
    assert evidence_lines(log) == ['{"level":"panic","msg":"tocommit(451) is out of range [lastIndex(418)]. '
                                   'Was the raft log corrupted?"}', "panic: tocommit(451) is out of range"]


def test_evidence_falls_back_to_warnings_without_a_panic() -> None:
    log = '{"level":"info","msg":"x"}\n{"level":"error","msg":"failed to dial"}\n'
    assert evidence_lines(log) == ['{"level":"error","msg":"failed to dial"}']


def test_member_stop_without_a_change_is_skipped() -> None:
    with pytest.raises(FaultSkipped, match="no membership change"):
        MemberChange().stop(started(3))


def test_file_start_skips_without_three_running_nodes() -> None:
    cluster = started(1)
    with pytest.raises(Exception, match="minority"):
        FileCorruption().start(cluster, random.Random(0))


# -- snapshot ---------------------------------------------------------------------------------

def test_snapshot_log_parsing() -> None:
    log = ('{"msg":"compacted Raft logs","compact-index":1019}\n'
           '{"msg":"compacted Raft logs","compact-index":1227}\n'
           '{"msg":"starting an etcd server","snapshot-count":100,"x":1}\n'
           '{"msg":"applied snapshot","current-snapshot-index":6227}\n')
    assert compact_index(log) == 1227
    assert compact_index("nothing") == 0
    assert snapshot_count(log) == 100
    assert snapshot_count("{}") is None
    assert matching_lines(log, FOLLOWER_EVIDENCE) == ['{"msg":"applied snapshot","current-snapshot-index":6227}']


# -- through the runner -----------------------------------------------------------------------

def test_a_run_with_member_changes_ends_at_the_configured_size(tmp_path: Path) -> None:
    """The runner with the member fault on the in-memory cluster: the history records the member
    lists, workers follow the changing node list, and the run ends healed at n1..n3."""
    spec = TestSpec(name="members", workload="register", nemesis=(), nodes=3, time_limit=0.6, concurrency=3,
                    rate=300, seed=4, nemesis_interval=0.05, request_timeout=0.5, recovery_timeout=1.0,
                    results_dir=str(tmp_path))
    cluster = FakeCluster(3)
    run_test(spec, cluster=cluster, workload=FakeWorkload(spec), faults=[MemberChange(actions=("grow",))])
    (run_dir,) = (tmp_path / spec.test_name).iterdir()
    ops = [json.loads(line) for line in RunDir(run_dir).history.read_text().splitlines()]
    grown = [op for op in ops if op["f"] == "start-member" and op["type"] == "info"]
    assert grown and grown[0]["value"]["verified"], grown
    assert sorted(grown[0]["value"]["members_after"]) == ["n1", "n2", "n3", "n4", "n5"]
    assert [n.name for n in cluster.nodes] == ["n1", "n2", "n3"]
    results = json.loads(RunDir(run_dir).results.read_text())
    assert results["fault_problems"] == []
