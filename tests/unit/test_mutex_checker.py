"""MutexChecker: known-good and known-bad lock histories."""

from __future__ import annotations

from typing import Any

from checkers import CheckContext, MutexChecker
from harness.core import History, Op, OpType

CTX = CheckContext(config={"ttl": 2})


def op(t: int, process: int, kind: str, f: str, **kw: Any) -> Op:
    return Op(type=OpType(kind), f=f, process=process, time=t, key=kw.pop("key", "l0"), **kw)


def cycle(p: int, t_acq: int, t_ok: int, t_rel: int, t_rel_done: int, rel: str = "ok") -> list[Op]:
    return [op(t_acq, p, "invoke", "acquire"), op(t_ok, p, "ok", "acquire"),
            op(t_rel, p, "invoke", "release"), op(t_rel_done, p, rel, "release")]


def sort(ops: list[Op]) -> History:
    return History.of(sorted(ops, key=lambda o: o.time))


def test_sequential_holds_are_valid() -> None:
    h = sort(cycle(0, 0, 10, 20, 30) + cycle(1, 5, 25, 40, 50))  # 1 acquires after 0 began releasing
    r = MutexChecker().check(h, CTX)
    assert r.valid is True
    assert r.details["hold_count"] == 2 and r.details["violations"] == []


def test_overlapping_holds_are_a_violation_with_both_holders() -> None:
    h = sort(cycle(0, 0, 10, 40, 50) + cycle(1, 5, 20, 60, 70))  # 1 acquires at 20 while 0 holds until 40
    r = MutexChecker().check(h, CTX)
    assert r.valid is False
    v = r.details["violations"][0]
    assert [x["process"] for x in v["holders"]] == [0, 1]
    assert (v["overlap_start"], v["overlap_end"], v["ttl_s"]) == (20, 40, 2)


def test_info_acquire_starts_no_certain_hold() -> None:
    ops = [*cycle(0, 0, 10, 40, 50), op(5, 1, "invoke", "acquire"), op(20, 1, "info", "acquire")]
    r = MutexChecker().check(sort(ops), CTX)
    assert r.valid is True and r.details["possible_holds"] == 1


def test_info_release_is_open_ended_but_not_an_overlap_after_its_invocation() -> None:
    h = sort(cycle(0, 0, 10, 20, 30, rel="info") + cycle(1, 5, 25, 40, 50))
    r = MutexChecker().check(h, CTX)
    assert r.valid is True
    first = r.details["holds"][0]
    assert first["open_ended"] is True and first["end_time"] is None


def test_lost_lease_hold_still_counts_until_release() -> None:
    ops = cycle(0, 0, 10, 40, 50) + cycle(1, 5, 20, 60, 70)
    ops[3] = ops[3].with_(extra={"lease_lost": True})
    r = MutexChecker().check(sort(ops), CTX)
    assert r.valid is False and r.details["holds"][0]["open_ended"] is True


def test_different_locks_do_not_conflict() -> None:
    other = [o.with_(key="l1") for o in cycle(1, 5, 20, 60, 70)]
    r = MutexChecker().check(sort(cycle(0, 0, 10, 40, 50) + other), CTX)
    assert r.valid is True


def test_no_successful_acquire_is_unknown() -> None:
    h = sort([op(0, 0, "invoke", "acquire"), op(5, 0, "fail", "acquire")])
    assert MutexChecker().check(h, CTX).valid == "unknown"


def keepalive_cycle(p: int, t_ok: int, t_rel: int, ago_s: float, failed: int = 0) -> list[Op]:
    extra = {"keepalive": {"acked": 3, "failed": failed, "last_ack_sent_s_ago": ago_s}}
    return [op(t_ok - 5, p, "invoke", "acquire"), op(t_ok, p, "ok", "acquire"),
            op(t_rel, p, "invoke", "release"), op(t_rel + 5, p, "ok", "release", extra=extra | {"lease_lost": True})]


S = 1_000_000_000


def test_a_violation_after_a_ttl_without_keepalives_is_explained_as_expiry() -> None:
    # p0 holds 0..8 s, its last acknowledged keepalive was sent at 8 - 7 = 1 s; p1 is granted at 4 s.
    h = sort(keepalive_cycle(0, 10, 8 * S, 7.0, failed=4) + cycle(1, 2 * S, 4 * S, 9 * S, 10 * S))
    v = MutexChecker().check(h, CTX).details["violations"][0]
    assert v["lease"]["expired"] is True and v["lease"]["last_ack_sent_time"] == 1 * S
    assert "p0's lease expired while it held the lock" in v["explanation"]
    assert "3.0 s" in v["explanation"] and "4 refreshes failed" in v["explanation"]


def test_a_violation_within_the_ttl_of_an_acknowledged_keepalive_is_called_out() -> None:
    # p0's last acknowledged keepalive was sent at 8 - 4.5 = 3.5 s; p1 is granted at 4 s: 0.5 s < TTL.
    h = sort(keepalive_cycle(0, 10, 8 * S, 4.5) + cycle(1, 2 * S, 4 * S, 9 * S, 10 * S))
    v = MutexChecker().check(h, CTX).details["violations"][0]
    assert v["lease"]["expired"] is False
    assert "while p0's lease was alive" in v["explanation"] and "0.5 s before" in v["explanation"]


def test_without_keepalive_records_the_explanation_says_so() -> None:
    h = sort(cycle(0, 0, 10, 40, 50) + cycle(1, 5, 20, 60, 70))
    v = MutexChecker().check(h, CTX).details["violations"][0]
    assert v["lease"] is None and "not on record" in v["explanation"]
