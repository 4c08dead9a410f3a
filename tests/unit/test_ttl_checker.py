"""The TTL checker: reads return written values; keys stay gone past expiry while the cluster is healthy."""

from __future__ import annotations

from typing import Any

from checkers import CheckContext
from checkers.ttl import TTLChecker, healthy_stretches
from harness.core import NEMESIS, History, Op, OpType

CTX = CheckContext(time_limit=10)
S = 1_000_000_000  # one second in ns


def op(p: Any, t: float, kind: OpType, f: str, value: Any = None, key: str | None = "v3/k1") -> Op:
    return Op(type=kind, f=f, value=value, process=p, time=int(t * S), key=key)


def write(p: int, t0: float, t1: float, value: str, ttl: int = 2, kind: OpType = OpType.OK) -> list[Op]:
    return [op(p, t0, OpType.INVOKE, "write", [value, ttl]), op(p, t1, kind, "write", [value, ttl])]


def read(p: int, t0: float, t1: float, value: str | None) -> list[Op]:
    return [op(p, t0, OpType.INVOKE, "read"), op(p, t1, OpType.OK, "read", value)]


def fault(t0: float, t1: float, f: str) -> list[Op]:
    return [op(NEMESIS, t0, OpType.INVOKE, f, key=None), op(NEMESIS, t1, OpType.INFO, f, key=None)]


def check(*parts: list[Op]) -> Any:
    ops = sorted((o for part in parts for o in part), key=lambda o: o.time)
    return TTLChecker(tolerance_s=1.0, settle_s=2.0).check(History.of(ops), CTX)


def test_a_key_read_before_expiry_and_absent_after_is_valid() -> None:
    r = check(write(0, 1, 1.1, "a"), read(1, 2, 2.1, "a"), read(1, 5, 5.1, None))
    assert r.valid is True, r.reason


def test_a_key_read_back_long_after_expiry_is_reported() -> None:
    r = check(write(0, 1, 1.1, "a"), read(1, 5, 5.1, "a"))
    assert r.valid is False
    assert "should have expired" in r.reason and "write op 1" in r.reason


def test_a_value_never_written_is_reported() -> None:
    r = check(write(0, 1, 1.1, "a"), read(1, 1.5, 1.6, "b"))
    assert r.valid is False and "never written" in r.reason


def test_a_value_written_only_after_the_read_is_reported() -> None:
    r = check(read(1, 1.0, 1.1, "a"), write(0, 2, 2.1, "a"))
    assert r.valid is False and "never written" in r.reason


def test_a_value_from_a_failed_write_is_reported() -> None:
    r = check(write(0, 1, 1.1, "a", kind=OpType.FAIL), read(1, 1.5, 1.6, "a"))
    assert r.valid is False and "which failed" in r.reason


def test_a_late_read_during_a_partition_is_not_judged() -> None:
    r = check(write(0, 1, 1.1, "a"), fault(2, 2.1, "start-partition"), read(1, 6, 6.1, "a"),
              fault(8, 8.1, "stop-partition"))
    assert r.valid is True
    assert r.details["reads_judged_for_expiry"] == 0


def test_expiry_is_counted_from_when_the_cluster_became_healthy_again() -> None:
    parts = [write(0, 1, 1.1, "a"), fault(2, 2.1, "start-partition"), fault(8, 8.1, "stop-partition")]
    assert check(*parts, read(1, 12, 12.1, "a")).valid is True  # healthy from 10.1: due at 13.1
    assert check(*parts, read(1, 14, 14.1, "a")).valid is False


def test_an_unknown_write_bounds_nothing() -> None:
    r = check(write(0, 1, 1.1, "a", kind=OpType.INFO), read(1, 9, 9.1, "a"))
    assert r.valid is True


def test_healthy_stretches_follow_fault_starts_and_stops() -> None:
    h = History.of(sorted([*fault(2, 2.5, "start-partition"), *fault(5, 5.5, "stop-partition"),
                           *fault(7, 7.5, "kill"), *fault(9, 9.5, "restart")], key=lambda o: o.time))
    assert healthy_stretches(h, 1 * S) == [(0, 2 * S), (int(6.5 * S), 7 * S), (int(10.5 * S), 1 << 62)]
