"""Each fault's effect on a real 5-node etcd cluster, and that nothing outlives a test.

One module-scoped cluster keeps the time down; after every test all fault
families are healed and :func:`nemesis.leftovers` must come back empty.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator

import pytest

from harness.etcd import DockerCluster, EtcdError
from nemesis import (
    FAULTS,
    FaultNotApplied,
    Kill,
    Latency,
    Loss,
    NemesisPackage,
    NetemUnavailable,
    Partition,
    Pause,
    leftovers,
)
from nemesis._firewall import IPTABLES_VARIANTS, detect_backend
from nemesis._netem import ping_ms
from nemesis._pause import process_state

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def cluster() -> Iterator[DockerCluster]:
    c = DockerCluster(run_id="pytest-nemesis", size=5)
    try:
        c.start()
        yield c
    finally:
        c.teardown()


def heal_all(cluster: DockerCluster) -> None:
    for name, make in FAULTS.items():
        if name != "latency":  # Loss.heal removes the same netem layout
            make().heal(cluster)


@pytest.fixture(autouse=True)
def healed(cluster: DockerCluster) -> Iterator[None]:
    """Every test leaves a clean, healthy cluster: no fault outlives a test."""
    try:
        yield
    finally:
        heal_all(cluster)
    assert leftovers(cluster) == []
    cluster.wait_healthy(45)


def wait_for(predicate: object, timeout: float) -> bool:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_isolate_leader_the_majority_elects_a_new_leader(cluster: DockerCluster) -> None:
    old = cluster.leader()
    assert old is not None
    fault = Partition(shapes=("isolate-leader",))
    value = fault.start(cluster, random.Random(1))
    assert value["isolated"] == old and value["verified"]
    assert value["grudge"][old] == sorted(n.name for n in cluster.nodes if n.name != old)
    majority = [n for n in cluster.nodes if n.name != old]
    assert wait_for(lambda: cluster.leader(among=majority) not in (None, old), 15), "no new leader on the majority side"
    # The majority side still serves linearizable writes.
    with cluster.client(majority[0]) as c:
        c.put("/nemesis/after-isolation", "1")
    assert leftovers(cluster), "rules should be in place while partitioned"
    fault.stop(cluster)
    assert leftovers(cluster) == []


@pytest.mark.parametrize("backend", [*IPTABLES_VARIANTS, "tc"])
def test_partition_backend_applies_and_heals_without_residue(cluster: DockerCluster, backend: str) -> None:
    fault = Partition(shapes=("bridge",), backend=backend)
    value = fault.start(cluster, random.Random(2))
    assert value["verified"] and set(value["backends"].values()) == {backend}
    residue = leftovers(cluster)
    assert residue and all(("tc" in r or "nemesis-sink" in r) if backend == "tc" else backend in r for r in residue)
    fault.stop(cluster)
    assert leftovers(cluster) == []


def test_backend_detection_picks_an_iptables_variant(cluster: DockerCluster) -> None:
    assert detect_backend(cluster, cluster.nodes[0]) in IPTABLES_VARIANTS


def test_paused_node_does_not_answer(cluster: DockerCluster) -> None:
    fault = Pause(targets=("one",))
    value = fault.start(cluster, random.Random(3))
    (name,) = value["nodes"]
    node = cluster.node(name)
    assert process_state(cluster, node) == "T"
    with pytest.raises(EtcdError):
        cluster.status(node, timeout=1.0)
    fault.stop(cluster)
    assert process_state(cluster, node) != "T"
    assert cluster.status(node, timeout=2.0)["member_id"]


def test_kill_then_restart_rejoins(cluster: DockerCluster) -> None:
    fault = Kill(targets=("leader",))
    old = cluster.leader()
    assert old is not None
    value = fault.start(cluster, random.Random(4))
    assert value["nodes"] == [old]
    assert cluster.container_status(cluster.node(old)) == "exited"
    survivors = [n for n in cluster.nodes if n.name != old]
    # Move the raft index on while it is down, so the rejoin has to catch up.
    assert wait_for(lambda: cluster.leader(among=survivors) not in (None, old), 15)
    with cluster.client(survivors[0]) as c:
        for i in range(60):
            c.put(f"/nemesis/while-killed/{i}", str(i))
    done = fault.stop(cluster)
    assert done["verified"] and done["nodes"] == [old]
    cluster.wait_rejoined(cluster.node(old), 5, max_gap=50)


def test_latency_measurably_delays_a_peer_probe(cluster: DockerCluster) -> None:
    a, b = cluster.nodes[0], cluster.nodes[1]
    before = ping_ms(cluster, a, b)
    assert before is not None
    fault = Latency(delay_ms=100, jitter_ms=20)
    try:
        fault.start(cluster, random.Random(5))
    except NetemUnavailable as e:
        pytest.skip(f"no netem on this kernel: {e}")
    during = ping_ms(cluster, a, b)
    assert during is not None and during >= before + 100, (before, during)
    # Client traffic from the harness is not delayed.
    t0 = time.monotonic()
    cluster.status(a, timeout=2.0)
    assert time.monotonic() - t0 < 0.1
    fault.stop(cluster)
    after = ping_ms(cluster, a, b)
    assert after is not None and after < 50


def test_loss_applies_and_heals(cluster: DockerCluster) -> None:
    fault = Loss(percent=20)
    value = fault.start(cluster, random.Random(6))
    assert value["verified"] and value["backend"] in ("netem", "iptables-statistic")
    assert leftovers(cluster)
    fault.stop(cluster)
    assert leftovers(cluster) == []


RANDOM_OPS = 30


def test_random_ops_then_heal_leave_nothing(cluster: DockerCluster) -> None:
    """Thirty seeded starts and stops of every family (overlapping), then heal: nothing left behind.
    (Thirty, not fifty: every family still starts several times, in a third less of `make test`.)"""
    faults = [Partition(), Pause(), Latency(), Loss(), Kill(rejoin_timeout=5)]
    package = NemesisPackage(faults, interval=0.0)
    rng = random.Random(50)
    applied = errors = 0
    for n, planned in enumerate(package.schedule(rng)):
        if n == RANDOM_OPS:
            break
        fault = planned.fault
        try:
            if planned.f == fault.start_f:
                fault.start(cluster, rng)
            else:
                fault.stop(cluster)
            applied += 1
        except FaultNotApplied:
            errors += 1
        package.mark(fault, planned.f)
    for fault in package.active_faults():
        with contextlib.suppress(FaultNotApplied):
            fault.stop(cluster)
        package.mark(fault, fault.stop_f)
    for fault in faults:
        fault.heal(cluster)
    assert leftovers(cluster) == []
    assert all(cluster.container_status(n) == "running" for n in cluster.nodes)
    cluster.wait_healthy(45)
    assert applied >= RANDOM_OPS // 2, f"only {applied} of {RANDOM_OPS} ops applied ({errors} not applied)"
