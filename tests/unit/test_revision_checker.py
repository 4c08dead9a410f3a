"""RevisionChecker: histories from a simulated etcd are valid; each broken guarantee is caught by its check.

The simulator applies each op at a random instant inside its interval, in that order, to a
revisioned key-value store (etcd's rules: a write makes a new revision; a key's version counts
its writes since creation; a delete ends it), and records what a v3 workload records in ``extra``.
Known-bad histories are made by breaking one recorded field or one fact.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from checkers import CheckContext, RevisionChecker, run_checkers
from checkers.revisions import PROFILES, register_profile
from harness.core import History, Op, OpType


@dataclass
class Store:
    """etcd's keyspace in miniature: key → (value, mod, create, version)."""

    rev: int = 1
    kvs: dict[Any, tuple[Any, int, int, int]] = field(default_factory=dict)

    def put(self, key: Any, value: Any) -> int:
        self.rev += 1
        _, _, create, version = self.kvs.get(key, (None, 0, self.rev, 0))
        self.kvs[key] = (value, self.rev, create, version + 1)
        return self.rev

    def delete(self, key: Any) -> int:
        if key in self.kvs:
            self.rev += 1
            del self.kvs[key]
            return 1
        return 0

    def read(self, key: Any) -> dict[str, Any]:
        if key not in self.kvs:
            return {"rev": self.rev, "mod_rev": 0, "create_rev": 0, "version": 0}
        _, mod, create, version = self.kvs[key]
        return {"rev": self.rev, "mod_rev": mod, "create_rev": create, "version": version}


def simulate_register(seed: int, n: int = 300, processes: int = 5, keys: int = 2, info: float = 0.05) -> History:
    """A linearizable register history with revisions, like the register workload records."""
    rng = random.Random(seed)
    store = Store()
    planned: list[tuple[int, int, int, int, str, Any, Any]] = []  # (point, invoke, complete, p, f, key, value)
    free = [0] * processes
    for _ in range(n):
        p = rng.randrange(processes)
        start = free[p] + rng.randrange(1, 50)
        end = start + rng.randrange(1, 100)
        free[p] = end + 1
        r = rng.random()
        f, value = ("read", None) if r < 0.4 else ("write", rng.randrange(4)) if r < 0.7 else \
            ("cas", [rng.randrange(4), rng.randrange(4)])
        planned.append((rng.randrange(start, end), start, end, p, f, rng.randrange(keys), value))
    events: list[Op] = []
    for _point, start, end, p, f, key, value in sorted(planned):
        inv = Op(type=OpType.INVOKE, f=f, value=value, process=p, time=start, key=key)
        events.append(inv)
        if rng.random() < info and f != "read":
            if rng.random() < 0.5:  # applied, but the client never heard
                if f == "write":
                    store.put(key, value)
                elif key in store.kvs and store.kvs[key][0] == value[0]:
                    store.put(key, value[1])
            events.append(inv.with_(type=OpType.INFO, time=end, error="timeout"))
            continue
        if f == "read":
            x = store.read(key)
            got = store.kvs[key][0] if key in store.kvs else None
            events.append(inv.with_(type=OpType.OK, time=end, value=got, extra=x))
        elif f == "write":
            events.append(inv.with_(type=OpType.OK, time=end, extra={"rev": store.put(key, value)}))
        elif key in store.kvs and store.kvs[key][0] == value[0]:
            events.append(inv.with_(type=OpType.OK, time=end, extra={"rev": store.put(key, value[1]),
                                                                     "succeeded": True}))
        else:
            events.append(inv.with_(type=OpType.FAIL, time=end, error="compare failed",
                                    extra={"rev": store.rev, "succeeded": False}))
    return History.of(sorted(events, key=lambda o: (o.time, o.type is OpType.INVOKE)))


def check(history: History | list[Op], profile: str = "register", **ctx: Any) -> Any:
    h = history if isinstance(history, History) else History.of(history)
    return RevisionChecker(profile).check(h, CheckContext(**ctx))


def inv(t: int, p: int, f: str, value: Any = None, key: Any = 0) -> Op:
    return Op(type=OpType.INVOKE, f=f, value=value, process=p, time=t, key=key)


def ok(t: int, p: int, f: str, value: Any = None, key: Any = 0, **extra: Any) -> Op:
    return Op(type=OpType.OK, f=f, value=value, process=p, time=t, key=key, extra=extra or None)


def checks_failing(result: Any) -> set[str]:
    return set(result.details.get("violation_counts", {}))


# -- valid ----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(20))
def test_simulated_linearizable_histories_are_valid_and_checked(seed: int) -> None:
    history = simulate_register(seed)
    result = check(history)
    assert result.valid is True, result.reason
    counted = result.details["checked"]
    assert counted["realtime"] > 200 and counted["unique"] > 50 and counted["reads"] > 30 and counted["versions"] > 30


def test_no_revisions_at_all_says_nothing_was_checked() -> None:
    result = check([inv(0, 0, "write", 1), ok(1, 0, "write", 1)])
    assert result.valid is True and result.reason == "nothing to check: no op carries a revision"
    assert set(result.details["checked"].values()) == {0} and result.details["ops_with_rev"] == 0


def test_time_limit_gives_unknown() -> None:
    history = simulate_register(1, n=6000)
    result = check(history, time_limit=1e-9, started=1.0)  # the limit passed long ago
    assert result.valid == "unknown" and "time limit" in result.reason


def test_a_malformed_op_is_checked_for_its_header_only() -> None:
    out = run_checkers({"revisions": RevisionChecker("register")}, History.of([inv(0, 0, "cas", 5),
                                                                             ok(1, 0, "cas", 5, rev=3)]),
                       CheckContext())
    result = out["checkers"]["revisions"]
    assert result["valid"] is True and result["checked"] == {"realtime": 1, "write-after": 0, "unique": 0,
                                                             "reads": 0, "versions": 0}


def test_unknown_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown revision profile"):
        RevisionChecker("nope")
    assert "register" in PROFILES and PROFILES["register"] is register_profile


# -- realtime -----------------------------------------------------------------------------------


def test_header_revision_going_back_in_real_time_is_invalid() -> None:
    result = check([inv(0, 0, "read"), ok(10, 0, "read", 1, rev=9, mod_rev=9, create_rev=9, version=1),
                    inv(20, 1, "read"), ok(30, 1, "read", 1, rev=7, mod_rev=7, create_rev=7, version=1)])
    assert result.valid is False and "realtime" in checks_failing(result)
    v = next(v for v in result.details["violations"] if v["check"] == "realtime")
    assert [o["process"] for o in v["ops"]] == [0, 1] and [o["rev"] for o in v["ops"]] == [9, 7]
    assert "p1's read" in v["why"] and "p0's read" in v["why"] and "went back in real time" in v["why"]


def test_concurrent_ops_may_report_revisions_in_any_order() -> None:
    result = check([inv(0, 0, "write", 1), inv(1, 1, "read"),
                    ok(10, 1, "read", 1, rev=5, mod_rev=5, create_rev=5, version=1),
                    ok(11, 0, "write", 1, rev=5)])
    assert result.valid is True, result.reason


def test_serializable_reads_are_exempt_from_real_time_only() -> None:
    stale = [inv(0, 0, "write", 1), ok(10, 0, "write", 1, rev=9),
             inv(20, 1, "read"), ok(30, 1, "read", None, rev=4, mod_rev=0, create_rev=0, version=0,
                                     serializable=True)]
    assert check(stale).valid is True
    linear = [replace(o, extra={k: v for k, v in (o.extra or {}).items() if k != "serializable"}) for o in stale]
    assert check(linear).valid is False


# -- write-after ----------------------------------------------------------------------------------


def test_write_at_a_revision_already_seen_before_it_began_is_invalid() -> None:
    result = check([inv(0, 0, "read"), ok(10, 0, "read", None, rev=6, mod_rev=0, create_rev=0, version=0),
                    inv(20, 1, "write", 2), ok(30, 1, "write", 2, rev=6)])
    assert result.valid is False and checks_failing(result) == {"write-after"}
    assert "a write makes a new revision" in result.reason


# -- unique ------------------------------------------------------------------------------------------


def test_two_writes_at_one_revision_are_invalid() -> None:
    result = check([inv(0, 0, "write", 1, key=0), inv(1, 1, "write", 2, key=1),
                    ok(10, 0, "write", 1, key=0, rev=4), ok(11, 1, "write", 2, key=1, rev=4)])
    assert result.valid is False and checks_failing(result) == {"unique"}
    v = result.details["violations"][0]
    assert {o["index"] for o in v["ops"]} == {0, 1} and "both wrote at revision 4" in v["why"]


def test_failed_cas_shares_the_header_revision_without_being_a_write() -> None:
    result = check([inv(0, 0, "write", 1), ok(10, 0, "write", 1, rev=4),
                    inv(20, 1, "cas", [3, 2]),
                    Op(type=OpType.FAIL, f="cas", value=[3, 2], process=1, time=30, key=0, error="compare failed",
                       extra={"rev": 4, "succeeded": False})])
    assert result.valid is True, result.reason


# -- reads --------------------------------------------------------------------------------------------


def test_read_value_that_is_not_what_the_write_at_its_mod_revision_wrote_is_invalid() -> None:
    result = check([inv(0, 0, "write", 1), ok(10, 0, "write", 1, rev=4),
                    inv(20, 1, "read"), ok(30, 1, "read", 3, rev=4, mod_rev=4, create_rev=4, version=1)])
    assert result.valid is False and checks_failing(result) == {"reads"}
    assert "which wrote 1" in result.reason and "read 3" in result.reason


def test_read_whose_mod_revision_is_another_keys_write_is_invalid() -> None:
    result = check([inv(0, 0, "write", 1, key="a"), ok(10, 0, "write", 1, key="a", rev=4),
                    inv(20, 1, "read", key="b"), ok(30, 1, "read", 1, key="b", rev=4, mod_rev=4, create_rev=4,
                                                     version=1)])
    assert result.valid is False and "reads" in checks_failing(result)  # and versions: b was never written
    assert "which wrote 'a'" in result.reason


def test_reads_at_one_mod_revision_that_disagree_are_invalid() -> None:
    result = check([inv(0, 2, "write", 1), Op(type=OpType.INFO, f="write", value=1, process=2, time=1, key=0),
                    inv(2, 0, "read"), ok(10, 0, "read", 1, rev=5, mod_rev=5, create_rev=5, version=1),
                    inv(2, 1, "read"), ok(11, 1, "read", 2, rev=5, mod_rev=5, create_rev=5, version=1)])
    assert result.valid is False and checks_failing(result) == {"reads"}
    assert "disagree" in result.reason


def test_mod_revision_above_the_header_is_invalid() -> None:
    result = check([inv(0, 1, "write", 1), inv(1, 0, "read"),
                    ok(10, 0, "read", 1, rev=5, mod_rev=8, create_rev=8, version=1), ok(11, 1, "write", 1, rev=8)])
    assert result.valid is False and checks_failing(result) == {"reads"}


def test_version_one_with_a_later_mod_revision_is_invalid() -> None:
    result = check([inv(0, 2, "write", 0), Op(type=OpType.INFO, f="write", value=0, process=2, time=1, key=0),
                    inv(2, 1, "write", 1), ok(3, 1, "write", 1, rev=8),
                    inv(4, 0, "read"), ok(10, 0, "read", 1, rev=9, mod_rev=8, create_rev=3, version=1)])
    assert result.valid is False and checks_failing(result) == {"reads"}


# -- versions -------------------------------------------------------------------------------------------


def test_version_below_the_acknowledged_writes_since_creation_is_invalid() -> None:
    result = check([inv(0, 0, "write", 1), ok(10, 0, "write", 1, rev=4),
                    inv(20, 0, "write", 2), ok(30, 0, "write", 2, rev=5),
                    inv(40, 1, "read"), ok(50, 1, "read", 2, rev=5, mod_rev=5, create_rev=4, version=1)])
    assert "versions" in checks_failing(result) or "reads" in checks_failing(result)
    # version 1 with create 4 != mod 5 is a reads violation; with a consistent-looking version 1 at create 5:
    result = check([inv(0, 0, "write", 1), ok(10, 0, "write", 1, rev=4),
                    inv(20, 0, "write", 2), ok(30, 0, "write", 2, rev=5),
                    inv(32, 0, "write", 3), ok(34, 0, "write", 3, rev=6),
                    inv(40, 1, "read"), ok(50, 1, "read", 3, rev=6, mod_rev=6, create_rev=4, version=2)])
    assert result.valid is False and checks_failing(result) == {"versions"}
    assert "3 acknowledged writes" in result.reason


def test_version_above_every_possible_write_is_invalid() -> None:
    result = check([inv(0, 0, "write", 1), ok(10, 0, "write", 1, rev=4),
                    inv(40, 1, "read"), ok(50, 1, "read", 1, rev=4, mod_rev=4, create_rev=2, version=3)])
    assert result.valid is False and checks_failing(result) == {"versions"}
    assert "at most 1 writes" in result.reason


def test_an_unacknowledged_write_may_account_for_a_version() -> None:
    result = check([inv(0, 0, "write", 1), Op(type=OpType.INFO, f="write", value=1, process=0, time=5, key=0),
                    inv(6, 2, "write", 2), ok(10, 2, "write", 2, rev=4),
                    inv(40, 1, "read"), ok(50, 1, "read", 2, rev=4, mod_rev=4, create_rev=3, version=2)])
    assert result.valid is True, result.reason


def test_a_known_delete_between_creation_and_the_read_is_invalid() -> None:
    ops = [inv(0, 0, "put", ["k0", 1], key=1), ok(5, 0, "put", ["k0", 1], key=1, rev=3),
           inv(6, 0, "delete", "k0", key=1), ok(8, 0, "delete", True, key=1, rev=4, deleted=1),
           inv(9, 0, "put", ["k0", 2], key=1), ok(10, 0, "put", ["k0", 2], key=1, rev=5),
           inv(20, 1, "read", key=1), ok(30, 1, "read", {"k0": 2}, key=1, rev=5, mod_revs={"k0": [5, 3, 2]})]
    result = check(ops, "folder")
    assert result.valid is False and "versions" in checks_failing(result)
    assert any("deleted it in between" in v["why"] for v in result.details["violations"])
    good = [*ops[:-1], ok(30, 1, "read", {"k0": 2}, key=1, rev=5, mod_revs={"k0": [5, 5, 1]})]
    assert check(good, "folder").valid is True


def test_folder_read_of_a_deleted_revision_is_invalid() -> None:
    ops = [inv(0, 0, "put", ["k0", 1], key=1), ok(5, 0, "put", ["k0", 1], key=1, rev=3),
           inv(6, 0, "delete", "k0", key=1), ok(8, 0, "delete", True, key=1, rev=4, deleted=1),
           inv(20, 1, "read", key=1), ok(30, 1, "read", {"k0": 1}, key=1, rev=4, mod_revs={"k0": [4, 4, 1]})]
    result = check(ops, "folder")
    assert result.valid is False and "which deleted it" in result.reason


# -- mutations of simulated histories: every kind of lie is caught ------------------------------------------


def _mutate(history: History, rng: random.Random, how: str) -> History:
    ops = list(history)
    if how == "stale-header":  # a client that reports its previous answer's header revision
        previous: dict[Any, int] = {}
        for i, o in enumerate(ops):
            if o.extra and "rev" in o.extra:
                before = previous.get(o.process, o.extra["rev"])
                previous[o.process] = o.extra["rev"]
                ops[i] = o.with_(extra={**o.extra, "rev": before})
    elif how == "wrong-mod-rev":  # a read names, as its mod_revision, a known write of another key or value
        reads = [i for i, o in enumerate(ops) if o.is_ok and o.f == "read" and o.extra and o.extra["mod_rev"] > 0]
        i = rng.choice(reads)
        read = ops[i]
        writes = [o for o in ops if o.is_ok and o.f in ("write", "cas") and o.extra
                  and (o.key != read.key or (o.value if o.f == "write" else o.value[1]) != read.value)]
        other = rng.choice(writes).extra or {}
        x = read.extra or {}
        ops[i] = read.with_(extra={**x, "mod_rev": other["rev"]})
    elif how == "wrong-version":
        reads = [i for i, o in enumerate(ops) if o.is_ok and o.f == "read" and o.extra and o.extra["version"] > 1]
        i = rng.choice(reads)
        x = ops[i].extra or {}
        ops[i] = ops[i].with_(extra={**x, "version": x["version"] + 2})
    return History.of(ops)


@pytest.mark.parametrize("how", ["stale-header", "wrong-mod-rev", "wrong-version"])
@pytest.mark.parametrize("seed", range(5))
def test_each_mutation_of_a_valid_history_is_caught(how: str, seed: int) -> None:
    history = simulate_register(100 + seed)
    assert check(history).valid is True
    result = check(_mutate(history, random.Random(seed), how))
    assert result.valid is False, how
    for v in result.details["violations"]:
        assert v["ops"] and all({"index", "process", "rev", "value"} <= set(o) for o in v["ops"])


# -- the other workloads' profiles -------------------------------------------------------------------------


def test_counter_adds_at_one_revision_and_an_impossible_version_are_invalid() -> None:
    ops = [inv(0, 0, "add", 2, key=None), ok(5, 0, "add", 2, key=None, rev=3, succeeded=True),
           inv(1, 1, "add", 3, key=None), ok(6, 1, "add", 3, key=None, rev=3, succeeded=True),
           inv(10, 2, "read", key=None), ok(12, 2, "read", 5, key=None, rev=3, mod_rev=3, create_rev=2, version=3)]
    result = check(ops, "counter")
    assert result.valid is False and checks_failing(result) == {"unique", "versions"}


def test_counter_add_whose_compare_failed_is_not_a_write() -> None:
    ops = [inv(0, 0, "add", 2, key=None), ok(5, 0, "add", 2, key=None, rev=3, succeeded=True),
           inv(1, 1, "add", 3, key=None),
           Op(type=OpType.FAIL, f="add", value=3, process=1, time=6, error="compare failed",
              extra={"rev": 3, "succeeded": False}),
           inv(10, 2, "read", key=None), ok(12, 2, "read", 2, key=None, rev=3, mod_rev=3, create_rev=3, version=1)]
    assert check(ops, "counter").valid is True


def test_lock_acquire_with_a_header_below_a_completed_release_is_invalid() -> None:
    ops = [inv(0, 0, "acquire", key="l0"), ok(5, 0, "acquire", key="l0", rev=10, lock_key="/locks/l0/1"),
           inv(6, 0, "release", key="l0"), ok(8, 0, "release", key="l0", rev=11),
           inv(9, 1, "acquire", key="l0"), ok(12, 1, "acquire", key="l0", rev=9, lock_key="/locks/l0/2")]
    result = check(ops, "lock")
    assert result.valid is False and checks_failing(result) == {"realtime"}
    assert [o["process"] for o in result.details["violations"][0]["ops"]] == [0, 1]


def test_ttl_checks_v3_keys_and_leaves_v2_alone() -> None:
    ops = [inv(0, 0, "write", ["0.1", 2], key="v3/k1"), ok(5, 0, "write", ["0.1", 2], key="v3/k1", rev=4),
           inv(6, 1, "read", key="v3/k1"), ok(8, 1, "read", "9.9", key="v3/k1", rev=4, mod_rev=4, create_rev=4,
                                             version=1),
           inv(9, 2, "read", key="v2/k1"), ok(10, 2, "read", "x", key="v2/k1", index=1)]  # v2: an index
    result = check(ops, "ttl")
    assert result.valid is False and checks_failing(result) == {"reads"} and result.details["checked"]["reads"] == 1


def test_watch_delete_of_nothing_makes_no_revision() -> None:
    ops = [inv(0, 0, "put", ["k1", "0.1"], key="v3"), ok(5, 0, "put", ["k1", "0.1", 4], key="v3", rev=4),
           inv(6, 1, "delete", ["k2", None], key="v3"), ok(8, 1, "delete", ["k2", None, None], key="v3", rev=4,
                                                           deleted=0)]
    assert check(ops, "watch").valid is True
    deleted = [*ops[:3], ok(8, 1, "delete", ["k2", None, 4], key="v3", rev=4, deleted=1)]
    result = check(deleted, "watch")
    assert result.valid is False and checks_failing(result) == {"unique", "write-after"}
