"""Known-bad transactional histories: the Elle checker finds and names every anomaly class.

Each history is a handful of transactions written out by hand; each test checks that the
anomaly is found, named, explained from the ops, and judged against the consistency model.
"""

from __future__ import annotations

from typing import Any

import pytest

from checkers import CONSISTENCY_MODELS, CheckContext, ListAppendChecker, Result, RwRegisterChecker
from harness.core import History
from tests.elle_sim import HistoryBuilder, simulate

Mops = list[list[Any]]


def concurrent(*txns: tuple[Mops, str] | Mops, extras: dict[int, dict[str, Any]] | None = None) -> History:
    """Every transaction invoked (one process each) before any completes: no order edges.
    A transaction is its ok micro-ops, or ``(micro-ops, outcome)``."""
    b = HistoryBuilder()
    specs = [t if isinstance(t, tuple) else (t, "ok") for t in txns]
    for p, (mops, _) in enumerate(specs):
        b.invoke(p, [[f, k, None if f == "r" else v] for f, k, v in mops])
    for p, (mops, outcome) in enumerate(specs):
        b.complete(p, mops if outcome == "ok" else [[f, k, None if f == "r" else v] for f, k, v in mops], outcome,
                   (extras or {}).get(p))
    return b.history()


def sequential(*txns: tuple[int, Mops]) -> History:
    """Each ``(process, ok micro-ops)`` invoked after the previous one completed."""
    b = HistoryBuilder()
    for p, mops in txns:
        b.ok(p, mops)
    return b.history()


def check(history: History, kind: str = "list-append", model: str = "strict-serializable") -> Result:
    checker = ListAppendChecker(model) if kind == "list-append" else RwRegisterChecker(model)
    return checker.check(history, CheckContext())


def found(result: Result, anomaly: str) -> dict[str, Any]:
    """The first example of ``anomaly``; fails naming what was found instead."""
    assert anomaly in result.details["anomaly_types"], (anomaly, result.details["anomaly_types"], result.reason)
    return next(a for a in result.details["anomalies"] if a["type"] == anomaly)


def edge_types(anomaly: dict[str, Any]) -> list[str]:
    return [e["type"] for e in anomaly["cycle"]["edges"]]


# ---- list-append: cycles ------------------------------------------------------------------

def test_g0_write_cycle() -> None:
    h = concurrent([["append", 1, 1], ["append", 2, 2]], [["append", 1, 2], ["append", 2, 1]],
                   [["r", 1, [1, 2]], ["r", 2, [1, 2]]])
    r = check(h)
    a = found(r, "G0")
    assert r.valid is False
    assert set(edge_types(a)) == {"ww"}
    assert sorted(a["ops"]) == [0, 1]
    assert any("T1 appended 2 to key 1 after T0's append of 1" in s for s in a["explanation"])
    assert check(h, model="read-uncommitted").valid is False


def test_g1c_circular_information_flow() -> None:
    h = concurrent([["append", 1, 1], ["r", 2, [1]]], [["append", 2, 1], ["r", 1, [1]]])
    r = check(h)
    a = found(r, "G1c")
    assert edge_types(a) == ["wr", "wr"]
    assert "T1 < T0: T0 read T1's append of 1 to key 2" in a["explanation"]
    assert check(h, model="read-committed").valid is False
    assert check(h, model="read-uncommitted").valid is True


def test_g_single_read_skew() -> None:
    h = concurrent([["append", 1, 1], ["append", 2, 1]], [["r", 1, []], ["r", 2, [1]]],
                   [["r", 1, [1]]])
    r = check(h)
    a = found(r, "G-single")
    assert sorted(edge_types(a)) == ["rw", "wr"]
    assert "T1 < T0: T1 read key 1 without T0's append of 1 (it read an empty list)" in a["explanation"]
    assert check(h, model="snapshot-isolation").valid is False
    assert check(h, model="read-committed").valid is True


def test_g2_write_skew_is_allowed_by_snapshot_isolation_only() -> None:
    h = concurrent([["r", 2, []], ["append", 1, 1]], [["r", 1, []], ["append", 2, 1]],
                   [["r", 1, [1]], ["r", 2, [1]]])
    r = check(h)
    a = found(r, "G2")
    assert edge_types(a) == ["rw", "rw"]
    assert "G-single" not in r.details["anomaly_types"]
    verdicts = {m: check(h, model=m).valid for m in CONSISTENCY_MODELS}
    assert verdicts == {"strict-serializable": False, "serializable": False, "snapshot-isolation": True,
                        "repeatable-read": False, "read-committed": True, "read-uncommitted": True}
    assert r.details["strongest_allowed"] == ["snapshot-isolation"]


def test_g_single_process() -> None:
    # p0 appends, then p0 itself reads the key without its own acknowledged append
    h = sequential((0, [["append", 1, 1]]), (0, [["r", 1, []]]), (1, [["r", 1, [1]]]))
    r = check(h)
    a = found(r, "G-single-process")
    assert sorted(edge_types(a)) == ["process", "rw"]
    assert "process 0 ran T0 and then T2" in " ".join(a["explanation"])
    assert check(h, model="serializable").valid is True


def test_g_single_realtime() -> None:
    h = sequential((0, [["append", 1, 1]]), (1, [["r", 1, []]]), (2, [["r", 1, [1]]]))
    r = check(h)
    a = found(r, "G-single-realtime")
    assert sorted(edge_types(a)) == ["realtime", "rw"]
    assert any("T0 completed (at " in s and "before T2 began" in s for s in a["explanation"])
    assert check(h, model="serializable").valid is True


def test_g0_realtime() -> None:
    h = sequential((0, [["append", 1, 1]]), (1, [["append", 1, 2]]), (2, [["r", 1, [2, 1]]]))
    a = found(check(h), "G0-realtime")
    assert sorted(edge_types(a)) == ["realtime", "ww"]


def test_g1c_process() -> None:
    h = sequential((0, [["r", 2, [1]]]), (0, [["append", 2, 1]]))
    a = found(check(h), "G1c-process")
    assert sorted(edge_types(a)) == ["process", "wr"]


def test_g2_realtime() -> None:
    b = HistoryBuilder()
    b.invoke(1, [["append", 1, 1], ["r", 2, None]])  # B, concurrent with everything
    b.ok(2, [["append", 2, 1]])  # C
    b.ok(0, [["r", 1, []]])  # A, after C completed
    b.complete(1, [["append", 1, 1], ["r", 2, []]])
    b.ok(3, [["r", 1, [1]], ["r", 2, [1]]])
    a = found(check(b.history()), "G2-realtime")
    assert sorted(edge_types(a)) == ["realtime", "rw", "rw"]


def test_g0_process() -> None:
    h = sequential((0, [["append", 1, 1]]), (0, [["append", 1, 2]]), (1, [["r", 1, [2, 1]]]))
    a = found(check(h), "G0-process")
    assert sorted(edge_types(a)) == ["process", "ww"]


def test_g1c_realtime() -> None:
    h = sequential((0, [["r", 2, [1]]]), (1, [["append", 2, 1]]))
    a = found(check(h), "G1c-realtime")
    assert sorted(edge_types(a)) == ["realtime", "wr"]


def test_g2_process() -> None:
    b = HistoryBuilder()
    b.invoke(1, [["append", 1, 1], ["r", 2, None]])  # B, concurrent with everything
    b.ok(0, [["append", 2, 1]])  # C
    b.ok(0, [["r", 1, []]])  # A, the same process after C
    b.complete(1, [["append", 1, 1], ["r", 2, []]])
    b.ok(3, [["r", 1, [1]], ["r", 2, [1]]])
    a = found(check(b.history()), "G2-process")
    assert sorted(edge_types(a)) == ["process", "rw", "rw"]


# ---- list-append: anomalies without cycles --------------------------------------------------

def test_g1a_aborted_read() -> None:
    h = concurrent(([["append", 1, 5]], "fail"), [["r", 1, [5]]])
    r = check(h)
    a = found(r, "G1a")
    assert a["ops"] == [0, 1]
    assert "T1 read key 1 = [5], with T0's append of 5, but T0 failed" in a["explanation"]
    assert check(h, model="read-committed").valid is False
    assert check(h, model="read-uncommitted").valid is True


def test_g1b_intermediate_read() -> None:
    h = concurrent([["append", 1, 1], ["append", 1, 2]], [["r", 1, [1]]])
    a = found(check(h), "G1b")
    assert "intermediate version: T0 appended 1 and then 2 to key 1" in a["explanation"][0]


def test_internal_inconsistency() -> None:
    h = concurrent([["append", 1, 1], ["r", 1, []]])
    r = check(h)
    a = found(r, "internal")
    assert "without its own append(s) at the end" in a["explanation"][0]
    assert check(h, model="read-uncommitted").valid is False


def test_internal_read_after_read() -> None:
    h = concurrent([["r", 1, [1]], ["append", 1, 2], ["r", 1, [1, 3]]], [["append", 1, 1]], [["append", 1, 3]])
    a = found(check(h), "internal")
    assert "its own earlier reads and appends say it holds [1 2]" in a["explanation"][0]


def test_dirty_update() -> None:
    h = concurrent(([["append", 1, 1]], "fail"), [["append", 1, 2]], [["r", 1, [1, 2]]])
    a = found(check(h), "dirty-update")
    assert "T1 appended 2 to key 1 right after T0's append of 1" in a["explanation"][0]


def test_duplicate_elements() -> None:
    h = concurrent([["append", 1, 1]], [["r", 1, [1, 1]]])
    a = found(check(h), "duplicate-elements")
    assert "holds 1 more than once" in a["explanation"][0]


def test_garbage_read() -> None:
    h = concurrent([["append", 1, 1]], [["r", 1, [1, 99]]])
    a = found(check(h), "garbage-read")
    assert "read 99 in key 1, which no transaction appended" in a["explanation"][0]


def test_lost_update() -> None:
    h = concurrent([["r", 1, []], ["append", 1, 1]], [["r", 1, []], ["append", 1, 2]], [["r", 1, [1, 2]]])
    r = check(h)
    a = found(r, "lost-update")
    assert sorted(a["ops"]) == [0, 1]
    assert "T0, T1 all read key 1 = [] and then wrote key 1" in a["explanation"][0]
    assert check(h, model="snapshot-isolation").valid is False
    assert check(h, model="read-committed").valid is True


def test_lost_append() -> None:
    h = sequential((0, [["append", 1, 1]]), (1, [["r", 1, []]]))
    r = check(h)
    a = found(r, "lost-append")
    assert "T0's append of 1 to key 1 was acknowledged, but T2, which began later" in a["explanation"][0]
    assert check(h, model="serializable").valid is True


def test_incompatible_order() -> None:
    h = concurrent([["append", 1, 1]], [["append", 1, 2]], [["r", 1, [1, 2]]], [["r", 1, [2, 1]]])
    a = found(check(h), "incompatible-order")
    assert "one is not a prefix of the other" in a["explanation"][0]


def test_valid_history_is_valid() -> None:
    h = sequential((0, [["append", 1, 1], ["r", 2, []]]), (1, [["append", 2, 1], ["r", 1, [1]]]),
                   (0, [["r", 1, [1]], ["r", 2, [1]]]))
    r = check(h)
    assert r.valid is True, r.reason
    assert r.details["anomaly_types"] == []


def test_info_transaction_may_have_happened() -> None:
    h = concurrent(([["append", 1, 1]], "info"), [["r", 1, [1]]])
    assert check(h).valid is True


# ---- rw-register ---------------------------------------------------------------------------

def test_register_g0_without_revisions() -> None:
    # each txn read the other's version of one key and overwrote it: 10 < 11 on key 1, 20 < 21 on key 2
    h = concurrent([["w", 1, 10], ["r", 2, 20], ["w", 2, 21]], [["w", 2, 20], ["r", 1, 10], ["w", 1, 11]])
    r = check(h, "rw-register")
    a = found(r, "G0")
    assert set(edge_types(a)) == {"ww"}
    assert r.details["revisions"] is False


def test_register_g_single_with_revisions() -> None:
    # T0 wrote both keys at revision 5; T1 read key 1 from before it (absent) and key 2 after it
    h = concurrent([["w", 1, 1], ["w", 2, 1]], [["r", 1, None], ["r", 2, 1]],
                   extras={0: {"rev": 5, "mod_revs": [None, None]}, 1: {"rev": 5, "mod_revs": [0, 5]}})
    r = check(h, "rw-register")
    a = found(r, "G-single")
    assert r.details["revisions"] is True
    assert "T1 < T0: T1 read key 1 as absent, a version T0's write of 1 overwrote" in a["explanation"]
    assert "T0 < T1: T1 read T0's write of 1 to key 2" in a["explanation"]


def test_register_ww_order_from_revisions() -> None:
    # no read shows the order of the two writes to key 1; their revisions do: T0 (5) < T1 (6)
    h = concurrent([["w", 1, 1], ["r", 2, 7]], [["w", 1, 2], ["w", 2, 7]],
                   extras={0: {"rev": 5, "mod_revs": [None, 6]}, 1: {"rev": 6, "mod_revs": [None, None]}})
    a = found(check(h, "rw-register"), "G1c")
    assert sorted(edge_types(a)) == ["wr", "ww"]
    assert "T0 < T1: T1's write of 2 to key 1 overwrote T0's 1" in a["explanation"]


def test_register_g2_write_skew() -> None:
    h = concurrent([["r", 1, None], ["w", 2, 1]], [["r", 2, None], ["w", 1, 1]])
    r = check(h, "rw-register")
    found(r, "G2")
    assert check(h, "rw-register", "snapshot-isolation").valid is True


def test_register_non_cycle_anomalies() -> None:
    h = concurrent(([["w", 1, 9]], "fail"), [["w", 2, 1], ["w", 2, 2]], [["r", 1, 9], ["r", 2, 1], ["r", 3, 42]],
                   [["w", 4, 1], ["r", 4, 2]], [["w", 4, 2]])
    r = check(h, "rw-register")
    assert "T2 read key 1 = 9, written by T0, which failed" in found(r, "G1a")["explanation"][0]
    assert "intermediate version: T1 wrote 1 and then 2 to key 2" in found(r, "G1b")["explanation"][0]
    assert "a value no transaction wrote" in found(r, "garbage-read")["explanation"][0]
    assert "its own earlier reads and writes say it holds 1" in found(r, "internal")["explanation"][0]


def test_register_lost_update() -> None:
    h = concurrent([["r", 1, None], ["w", 1, 1]], [["r", 1, None], ["w", 1, 2]])
    a = found(check(h, "rw-register"), "lost-update")
    assert sorted(a["ops"]) == [0, 1]


def test_register_revision_mismatch_is_incompatible_order() -> None:
    h = concurrent([["w", 1, 1]], [["r", 1, 1]],
                   extras={0: {"rev": 5, "mod_revs": [None]}, 1: {"rev": 9, "mod_revs": [7]}})
    a = found(check(h, "rw-register"), "incompatible-order")
    assert "at mod revision 7, but T0 wrote it at revision 5" in a["explanation"][0]


# ---- shape, input, limits -----------------------------------------------------------------

def test_cycle_is_drawable() -> None:
    h = concurrent([["append", 1, 1], ["r", 2, [1]]], [["append", 2, 1], ["r", 1, [1]]])
    a = found(check(h), "G1c")
    nodes, edges = a["cycle"]["nodes"], a["cycle"]["edges"]
    assert [n["index"] for n in nodes] == a["ops"]
    assert [e["from"] for e in edges] == a["ops"]
    assert [e["to"] for e in edges] == [*a["ops"][1:], a["ops"][0]]
    assert {e["key"] for e in edges} == {1, 2}
    assert all(n["mops"] and n["label"] == f"T{n['index']}" for n in nodes)


def test_malformed_micro_op_is_unknown_naming_the_op() -> None:
    h = concurrent([["append", 1, 1]], [["w", 1, 1]])
    r = check(h)
    assert r.valid == "unknown"
    assert r.details["input_error"].startswith("op 1: micro-op ['w', 1, 1] is not")
    assert r.details["input_error_index"] == 1


def test_unknown_model_name_is_refused() -> None:
    with pytest.raises(ValueError, match="strict-serializable"):
        ListAppendChecker("linearizable")


def test_duplicate_appends_make_a_valid_verdict_unknown() -> None:
    h = concurrent([["append", 1, 1]], [["append", 1, 1]], [["r", 1, [1]]])
    r = check(h)
    assert r.valid == "unknown"
    assert r.details["unknown"][0]["search"] == "duplicate-append"


def test_time_limit_gives_unknown() -> None:
    h = simulate("list-append", store="stale", txns=400, seed=1)
    r = ListAppendChecker().check(h, CheckContext(time_limit=1e-9))
    assert r.valid == "unknown"
    assert "time limit" in r.reason
