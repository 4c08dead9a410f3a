"""Partition shapes are pure grudges: who stops hearing whom."""

from __future__ import annotations

import random

import pytest

from harness.core import UsageError
from nemesis import FAULTS, SHAPES, Partition, make_package, parse_nemesis
from nemesis._partition import (
    Grudge,
    ShapeUnavailable,
    bridge,
    complete_grudge,
    halves,
    isolate_leader,
    isolate_one,
    majorities_ring,
    majority,
    shapes_for,
)

FIVE = ["n1", "n2", "n3", "n4", "n5"]
SEEDS = range(30)


def sees(grudge: Grudge, node: str) -> set[str]:
    """The nodes ``node`` still hears, itself included."""
    return set(grudge) - set(grudge[node])


def assert_symmetric(grudge: Grudge) -> None:
    for a, cut in grudge.items():
        for b in cut:
            assert a in grudge[b], f"{a} drops {b} but {b} hears {a}"


@pytest.mark.parametrize("seed", SEEDS)
def test_majorities_ring_every_node_sees_a_distinct_majority(seed: int) -> None:
    grudge = majorities_ring(FIVE, random.Random(seed))
    views = [frozenset(sees(grudge, n)) for n in FIVE]
    assert all(len(v) >= majority(5) for v in views)
    assert len(set(views)) == len(FIVE), "two nodes see the same majority"
    assert all(len(v) < 5 for v in views), "a node sees everyone: no partition"
    assert_symmetric(grudge)


@pytest.mark.parametrize("size", [5, 7])
def test_majorities_ring_larger_clusters(size: int) -> None:
    names = [f"n{i}" for i in range(1, size + 1)]
    grudge = majorities_ring(names, random.Random(1))
    views = [frozenset(sees(grudge, n)) for n in names]
    assert all(majority(size) <= len(v) < size for v in views)
    assert len(set(views)) == size


def test_majorities_ring_needs_five_nodes() -> None:
    with pytest.raises(ShapeUnavailable, match="at least 5"):
        majorities_ring(["n1", "n2", "n3"], random.Random(0))


@pytest.mark.parametrize("seed", SEEDS)
def test_bridge_node_sees_everyone_and_the_halves_are_cut(seed: int) -> None:
    grudge = bridge(FIVE, random.Random(seed))
    bridges = [n for n in FIVE if not grudge[n]]
    assert len(bridges) == 1
    middle = bridges[0]
    others = [n for n in FIVE if n != middle]
    assert all(middle in sees(grudge, n) for n in others)
    # Without the bridge the rest falls into two groups that cannot hear each other.
    groups = {frozenset(sees(grudge, n) - {middle}) for n in others}
    assert len(groups) == 2
    a, b = groups
    assert not a & b and a | b == set(others)
    assert_symmetric(grudge)


@pytest.mark.parametrize("seed", SEEDS)
def test_halves_cut_a_minority_from_a_majority(seed: int) -> None:
    grudge = halves(FIVE, random.Random(seed))
    sizes = sorted(len(sees(grudge, n)) for n in FIVE)
    assert sizes == [2, 2, 3, 3, 3]
    assert_symmetric(grudge)


def test_isolate_one_cuts_exactly_one_node() -> None:
    grudge = isolate_one(FIVE, random.Random(3))
    lone = [n for n in FIVE if len(grudge[n]) == 4]
    assert len(lone) == 1
    assert all(grudge[n] == lone for n in FIVE if n not in lone)


def test_isolate_leader_cuts_the_leader() -> None:
    grudge = isolate_leader(FIVE, random.Random(0), "n4")
    assert grudge["n4"] == ["n1", "n2", "n3", "n5"]
    assert all(grudge[n] == ["n4"] for n in FIVE if n != "n4")


def test_isolate_leader_without_a_leader_is_not_applied() -> None:
    with pytest.raises(ShapeUnavailable, match="no leader"):
        isolate_leader(FIVE, random.Random(0), None)


def test_complete_grudge_of_one_component_cuts_nothing() -> None:
    assert complete_grudge([FIVE]) == {n: [] for n in FIVE}


def test_shapes_for_three_nodes_leave_out_the_ring() -> None:
    assert "majorities-ring" not in shapes_for(3)
    assert set(shapes_for(5)) == set(SHAPES)


def test_same_seed_same_grudge() -> None:
    for shape in ("halves", "majorities-ring", "bridge", "isolate-one"):
        assert SHAPES[shape](FIVE, random.Random(9), None) == SHAPES[shape](FIVE, random.Random(9), None)


def test_partition_rejects_an_unknown_shape() -> None:
    with pytest.raises(ValueError, match="allowed: halves"):
        Partition(shapes=("triangle",))


def test_parse_nemesis_all_none_and_unknown() -> None:
    assert parse_nemesis("all") == tuple(FAULTS)
    assert parse_nemesis("none") == ()
    assert parse_nemesis("kill, partition,kill") == ("kill", "partition")
    with pytest.raises(UsageError, match=r"unknown nemesis flood; allowed: partition, pause, latency, loss, kill"):
        parse_nemesis("partition,flood")


def test_package_orders_faults_for_healing() -> None:
    names = [f.name for f in make_package(["kill", "pause", "partition"], 1.0).faults]
    assert names == ["partition", "pause", "kill"]


def test_kill_and_pause_ops_use_the_documented_names() -> None:
    kill, pause = FAULTS["kill"](), FAULTS["pause"]()
    assert (kill.start_f, kill.stop_f) == ("kill", "restart")
    assert (pause.start_f, pause.stop_f) == ("pause", "resume")
    assert (FAULTS["latency"]().start_f, FAULTS["partition"]().stop_f) == ("start-latency", "stop-partition")
