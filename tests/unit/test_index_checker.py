"""The index checker: X-Etcd-Index monotonic in real time; writes land above what finished before them."""

from __future__ import annotations

from checkers import CheckContext
from checkers.index import IndexChecker
from harness.core import History, Op, OpType

CTX = CheckContext(time_limit=10)


def hist(*ops: tuple[int, int, int, str, int, int | None]) -> History:
    """(process, invoke time, complete time, f, index, modified) → a history sorted by time."""
    out: list[Op] = []
    for p, t0, t1, f, index, modified in ops:
        out.append(Op(type=OpType.INVOKE, f=f, process=p, time=t0, key="k0"))
        out.append(Op(type=OpType.OK, f=f, process=p, time=t1, key="k0", value={"index": index, "modified": modified}))
    return History.of(sorted(out, key=lambda o: o.time))


def test_a_growing_index_is_valid() -> None:
    h = hist((0, 1, 2, "write", 5, 5), (1, 3, 4, "read", 5, 5), (0, 5, 6, "write", 6, 6), (1, 7, 8, "read", 9, 6))
    assert IndexChecker().check(h, CTX).valid is True


def test_concurrent_ops_may_see_any_order() -> None:
    h = hist((0, 1, 10, "write", 7, 7), (1, 2, 9, "read", 6, 3))
    assert IndexChecker().check(h, CTX).valid is True


def test_an_index_that_goes_back_names_both_ops() -> None:
    h = hist((0, 1, 2, "write", 7, 7), (1, 3, 4, "read", 6, 3))
    result = IndexChecker().check(h, CTX)
    assert result.valid is False
    assert "began after op 1" in result.reason and "smaller index" in result.reason
    v = result.details["violations"][0]
    assert v["earlier"]["index"] == 1 and v["later"]["index"] == 3


def test_a_write_that_does_not_land_above_earlier_ops_is_reported() -> None:
    h = hist((0, 1, 2, "write", 7, 7), (1, 3, 4, "write", 7, 7))
    result = IndexChecker().check(h, CTX)
    assert result.valid is False
    assert "must land above" in result.reason


def test_a_modified_index_above_the_store_index_is_reported() -> None:
    h = hist((0, 1, 2, "read", 4, 9))
    assert IndexChecker().check(h, CTX).valid is False


def test_failed_and_unknown_ops_are_ignored() -> None:
    ops = [
        Op(type=OpType.INVOKE, f="write", process=0, time=1),
        Op(type=OpType.OK, f="write", process=0, time=2, value={"index": 9, "modified": 9}),
        Op(type=OpType.INVOKE, f="read", process=1, time=3),
        Op(type=OpType.FAIL, f="read", process=1, time=4, value=None, error="timeout"),
        Op(type=OpType.INVOKE, f="write", process=2, time=5),
        Op(type=OpType.INFO, f="write", process=2, time=6, value=None),
    ]
    assert IndexChecker().check(History.of(ops), CTX).valid is True


def test_no_indexes_at_all_is_unknown() -> None:
    assert IndexChecker().check(History.of([]), CTX).valid == "unknown"
