"""SetChecker: known-good and known-bad set histories."""

from __future__ import annotations

from typing import Any

from checkers import CheckContext, SetChecker
from harness.core import History, Op, OpType


def add(p: int, e: int, kind: str = "ok", key: str = "l0") -> list[Op]:
    return [Op(type=OpType.INVOKE, f="add", value=e, process=p, key=key),
            Op(type=OpType(kind), f="add", value=e, process=p, key=key)]


def read(value: list[Any], key: str = "l0") -> list[Op]:
    return [Op(type=OpType.INVOKE, f="read", process=99, key=key),
            Op(type=OpType.OK, f="read", value=value, process=99, key=key)]


def check(*parts: list[Op]) -> Any:
    return SetChecker().check(History.of([o for p in parts for o in p]), CheckContext())


def test_all_acknowledged_present_is_valid() -> None:
    r = check(add(0, 1), add(1, 2), add(2, 3, "info"), read([1, 2]))
    assert r.valid is True and r.details["lost"] == []


def test_acknowledged_element_missing_is_lost() -> None:
    r = check(add(0, 1), add(1, 2), read([1]))
    assert r.valid is False
    assert r.details["lost"] == [{"key": "l0", "element": 2, "add_index": 2}]


def test_failed_add_present_is_unexpected() -> None:
    r = check(add(0, 1), add(1, 7, "fail"), read([1, 7, 8]))
    assert r.valid is False
    assert [u["element"] for u in r.details["unexpected"]] == [7, 8]


def test_info_add_present_is_recovered_not_unexpected() -> None:
    r = check(add(0, 1), add(1, 2, "info"), read([1, 2]))
    assert r.valid is True and r.details["sets"]["l0"]["recovered"] == 1


def test_last_read_is_the_final_one_per_key() -> None:
    r = check(add(0, 1), read([]), read([1]), add(1, 5, key="l1"), read([5], key="l1"))
    assert r.valid is True


def test_missing_final_read_is_unknown() -> None:
    r = check(add(0, 1), add(1, 5, key="l1"), read([5], key="l1"))
    assert r.valid == "unknown"
