"""The admin, member, file and snapshot faults on a real 3-node etcd cluster: each applied, verified
and healed, with nothing left behind (:func:`nemesis.leftovers`, which also compares the member list
with the configured n1..n3).

One module-scoped cluster, started with ``--snapshot-count=100`` so the snapshot fault can force a
snapshot transfer; a background writer keeps traffic going, as a workload would.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator

import pytest

from harness.etcd import DockerCluster, EtcdError
from nemesis import Admin, FileCorruption, MemberChange, Snapshot, leftovers

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def cluster() -> Iterator[DockerCluster]:
    c = DockerCluster(run_id="pytest-new-faults", size=3, extra_args=["--snapshot-count=100"])
    try:
        c.start()
        yield c
    finally:
        c.teardown()


@pytest.fixture(autouse=True)
def traffic_and_no_leftovers(cluster: DockerCluster) -> Iterator[None]:
    """Writes during each test; afterwards every fault is healed and nothing of it is left."""
    stop = threading.Event()

    def write() -> None:
        i = 0
        while not stop.is_set():
            node = cluster.nodes[i % len(cluster.nodes)]
            try:
                with cluster.client(node, request_timeout=2.0) as c:
                    c.put(f"/traffic/{i % 20}", str(i))
            except EtcdError:
                stop.wait(0.1)
            i += 1

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        yield
    finally:
        stop.set()
        writer.join(5)
        for fault in (Snapshot(), FileCorruption(), Admin(), MemberChange()):
            fault.heal(cluster)
    assert leftovers(cluster) == []
    assert [n.name for n in cluster.nodes] == ["n1", "n2", "n3"]
    cluster.wait_healthy(45)


def test_admin_compacts_and_defragments(cluster: DockerCluster) -> None:
    fault = Admin()
    value = fault.start(cluster, random.Random(1))
    assert value["verified"] and value["compaction_verified"]
    assert 1 < value["compact_to"] < value["revision"]
    node = cluster.node(value["node"])
    with cluster.client(node) as c, pytest.raises(EtcdError, match="compacted"):
        c.post("/v3/kv/range", {"key": "AA==", "revision": str(value["compact_to"] - 1)})
    assert fault.stop(cluster)["verified"]


def test_member_replace_gives_a_fresh_member_under_the_same_name(cluster: DockerCluster) -> None:
    fault = MemberChange(actions=("replace",))
    value = fault.start(cluster, random.Random(2))
    gone = value["nodes"][0]
    assert value["verified"] and gone not in value["members_after"] and len(cluster.nodes) == 2
    assert gone not in {m.name for m in cluster.members()}
    undo = fault.stop(cluster)
    assert undo["verified"]
    assert undo["members_after"][gone] != value["members_before"][gone]  # a new member id
    assert {m.name for m in cluster.members()} == {"n1", "n2", "n3"}


def test_member_grow_to_five_and_back(cluster: DockerCluster) -> None:
    fault = MemberChange(actions=("grow",))
    value = fault.start(cluster, random.Random(3))
    assert value["verified"] and value["nodes"] == ["n4", "n5"]
    assert {m.name for m in cluster.members()} == {"n1", "n2", "n3", "n4", "n5"}
    assert cluster.leader() is not None
    assert fault.stop(cluster)["verified"]
    assert {m.name for m in cluster.members()} == {"n1", "n2", "n3"}


def test_member_shrink_from_five_to_three_and_back(cluster: DockerCluster) -> None:
    grow, shrink = MemberChange(actions=("grow",)), MemberChange(actions=("shrink",))
    assert grow.start(cluster, random.Random(3))["verified"]
    try:
        value = shrink.start(cluster, random.Random(5))
        removed = value["nodes"]
        assert value["verified"] and len(removed) == 2 and len(value["members_before"]) == 5
        assert set(value["members_after"]) == set(value["members_before"]) - set(removed)
        assert {m.name for m in cluster.members()} == set(value["members_after"])
        cluster.wait_healthy(30)  # the leader may have been removed: the three left elect one
        undo = shrink.stop(cluster)
        assert undo["verified"] and len(undo["members_after"]) == 5
        for name in removed:  # added back fresh: a new member id under the same name
            assert undo["members_after"][name] != value["members_before"][name]
    finally:
        grow.stop(cluster)
    assert {m.name for m in cluster.members()} == {"n1", "n2", "n3"}


@pytest.mark.parametrize("mode", ["truncate-wal", "flip-wal"])
def test_file_damage_is_refused_or_recovered(cluster: DockerCluster, mode: str) -> None:
    fault = FileCorruption(modes=(mode,))
    value = fault.start(cluster, random.Random(4))
    assert value["verified"] and value["mode"] == mode
    victim = cluster.node(value["node"])
    assert cluster.container_status(victim) == "exited"
    outcome = fault.stop(cluster)
    assert outcome["verified"] and outcome["outcome"] in ("refused", "recovered")
    if outcome["outcome"] == "refused":
        assert outcome["evidence"], "a refusal must quote etcd's reason"
        assert outcome["members_after"][victim.name] != outcome["members_before"][victim.name]
    # Acknowledged writes are kept: the writer's keys read back through the victim.
    with cluster.client(cluster.node(victim.name)) as c:
        assert c.get_prefix("/traffic/")[1]


def test_snapshot_forces_a_snapshot_transfer(cluster: DockerCluster) -> None:
    fault = Snapshot()
    value = fault.start(cluster, random.Random(5))
    assert value["verified"] and value["log_compacted_past_follower"]
    assert value["compact_index"] > value["follower_index"]
    undo = fault.stop(cluster)
    assert undo["verified"]
    assert undo["snapshot_transferred"], undo
    assert undo["follower_lines"] or undo["leader_lines"]
