"""Property tests of the Elle checker against simulated stores (``tests/elle_sim.py``).

* A strictly serializable store never yields a flagged history, whatever the seed,
  concurrency, failure and info rates, with or without recorded revisions.
* A store whose reads come from the transaction's start and whose writes land at its end
  without a conflict check is caught, and every cycle it reports is a real cycle of the
  class it is named after.
* A store whose read-only transactions read a lagging replica is serializable but not
  strictly: flagged only under strict-serializable, with -process/-realtime cycles.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkers import CheckContext, ListAppendChecker, RwRegisterChecker
from tests.elle_sim import Kind, simulate

KINDS: tuple[Kind, ...] = ("list-append", "rw-register")


def _checker(kind: Kind, model: str = "strict-serializable") -> ListAppendChecker | RwRegisterChecker:
    return ListAppendChecker(model) if kind == "list-append" else RwRegisterChecker(model)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(KINDS), seed=st.integers(0, 2**32 - 1), processes=st.integers(1, 8),
       keys=st.integers(1, 6), fail_rate=st.sampled_from([0.0, 0.1, 0.3]), info_rate=st.sampled_from([0.0, 0.1, 0.3]),
       revisions=st.booleans())
def test_serializable_store_is_never_flagged(kind: Kind, seed: int, processes: int, keys: int, fail_rate: float,
                                             info_rate: float, revisions: bool) -> None:
    h = simulate(kind, store="serializable", txns=120, processes=processes, keys=keys, seed=seed,
                 fail_rate=fail_rate, info_rate=info_rate, revisions=revisions)
    r = _checker(kind).check(h, CheckContext())
    assert r.valid is True, r.reason
    assert r.details["anomaly_types"] == []


def _assert_real_cycle(anomaly: dict[str, Any]) -> None:
    """The edges close a loop through the nodes, and their types fit the class name."""
    cycle = anomaly["cycle"]
    order = [n["index"] for n in cycle["nodes"]]
    assert [e["from"] for e in cycle["edges"]] == order
    assert [e["to"] for e in cycle["edges"]] == [*order[1:], order[0]]
    types = [e["type"] for e in cycle["edges"]]
    name = anomaly["type"]
    base = name.removesuffix("-process").removesuffix("-realtime")
    rw = types.count("rw")
    assert {"G0": rw == 0 and "wr" not in types, "G1c": rw == 0 and "wr" in types,
            "G-single": rw == 1, "G2": rw >= 2}[base], (name, types)
    assert ("realtime" in types) == name.endswith("-realtime"), (name, types)
    if name.endswith("-process"):
        assert "process" in types
    if base == name:
        assert not {"process", "realtime"} & set(types), (name, types)


def test_stale_store_is_caught_and_its_cycles_are_real() -> None:
    for kind in KINDS:
        caught = 0
        for seed in range(12):
            h = simulate(kind, store="stale", txns=150, seed=seed)
            r = _checker(kind).check(h, CheckContext())
            caught += r.valid is False
            if r.valid is False:
                assert r.details["not"][:2] == ["strict-serializable", "serializable"]
            for a in r.details["anomalies"]:
                if "cycle" in a:
                    _assert_real_cycle(a)
        assert caught == 12, (kind, caught)


def test_stale_store_without_revisions_is_mostly_caught() -> None:
    # registers without revisions show only what reads reveal: fewer orders, fewer cycles
    caught = sum(RwRegisterChecker().check(simulate("rw-register", store="stale", txns=200, seed=seed,
                                                    revisions=False), CheckContext()).valid is False
                 for seed in range(20))
    assert caught >= 12, caught


def test_lagging_replica_is_serializable_but_not_strict() -> None:
    for kind in KINDS:
        for seed in range(6):
            h = simulate(kind, store="stale-read-only", txns=150, seed=seed)
            strict = _checker(kind).check(h, CheckContext())
            assert strict.valid is False, (kind, seed)
            assert all(a.endswith(("-process", "-realtime")) or a == "lost-append"
                       for a in strict.details["anomaly_types"]), strict.details["anomaly_types"]
            for a in strict.details["anomalies"]:
                if "cycle" in a:
                    _assert_real_cycle(a)
            assert _checker(kind, "serializable").check(h, CheckContext()).valid is True


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1))
def test_lagging_replica_is_never_flagged_as_serializable(seed: int) -> None:
    for kind in KINDS:
        h = simulate(kind, store="stale-read-only", txns=150, seed=seed, info_rate=0.2, fail_rate=0.1)
        r = _checker(kind, "serializable").check(h, CheckContext())
        assert r.valid is True, r.reason
