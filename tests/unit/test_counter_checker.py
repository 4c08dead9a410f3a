"""CounterChecker: known-good and known-bad counter histories."""

from __future__ import annotations

from typing import Any

from checkers import CheckContext, CounterChecker
from harness.core import History, Op, OpType


def op(t: int, p: int, kind: str, f: str, value: Any = None) -> Op:
    return Op(type=OpType(kind), f=f, value=value, process=p, time=t)


def check(ops: list[Op]) -> Any:
    return CounterChecker().check(History.of(sorted(ops, key=lambda o: o.time)), CheckContext())


def test_reads_within_bounds_are_valid() -> None:
    r = check([op(0, 0, "invoke", "add", 3), op(10, 0, "ok", "add", 3),
               op(5, 1, "invoke", "read"), op(8, 1, "ok", "read", 0),     # concurrent with the add: 0..3
               op(20, 1, "invoke", "read"), op(25, 1, "ok", "read", 3)])
    assert r.valid is True
    assert r.details["final"]["value"] == 3 and (r.details["lost"], r.details["phantom"]) == (0, 0)


def test_concurrent_add_may_or_may_not_be_seen() -> None:
    r = check([op(0, 0, "invoke", "add", 3), op(10, 0, "ok", "add", 3),
               op(5, 1, "invoke", "read"), op(8, 1, "ok", "read", 3)])
    assert r.valid is True


def test_info_add_counts_in_the_upper_bound_only() -> None:
    r = check([op(0, 0, "invoke", "add", 2), op(1, 0, "info", "add", 2),
               op(5, 1, "invoke", "read"), op(6, 1, "ok", "read", 2),
               op(7, 1, "invoke", "read"), op(8, 1, "ok", "read", 0)])
    assert r.valid is True and r.details["final"]["upper"] == 2


def test_lost_increment_is_invalid() -> None:
    r = check([op(0, 0, "invoke", "add", 2), op(1, 0, "ok", "add", 2),
               op(2, 1, "invoke", "add", 3), op(3, 1, "ok", "add", 3),
               op(5, 2, "invoke", "read"), op(6, 2, "ok", "read", 3)])
    assert r.valid is False
    assert r.details["lost"] == 2 and r.details["final"] == {
        "index": 5, "time": 6, "value": 3, "lower": 5, "upper": 5, "ok": False}


def test_phantom_increment_is_invalid() -> None:
    r = check([op(0, 0, "invoke", "add", 2), op(1, 0, "fail", "add", 2),
               op(5, 2, "invoke", "read"), op(6, 2, "ok", "read", 2)])
    assert r.valid is False and r.details["phantom"] == 2


def test_no_read_is_unknown() -> None:
    assert check([op(0, 0, "invoke", "add", 2), op(1, 0, "ok", "add", 2)]).valid == "unknown"
