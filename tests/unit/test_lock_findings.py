"""Lost locks: a lock whose holder lost it (its release failed, or its lease was lost) is a
finding of its own, listed the same way by the mutex checker and by the linearizability
checker with the mutex model; the latter reads such a release as one that may take effect
any time after it was invoked, instead of keeping the lock held forever."""

from __future__ import annotations

from typing import Any

from checkers import CheckContext, LinearizabilityChecker, MutexChecker, Result
from checkers.mutex import lost_locks
from harness.core import History, Op, OpType

CTX = CheckContext(config={"ttl": 2})
S = 10**9
EXPIRED = "release refused: the lock node /lock-v2/l2 was gone, its TTL expired while held (etcd: HTTP 404 100 Key " \
          "not found)"


def op(t: float, p: int, kind: str, f: str, **kw: Any) -> Op:
    return Op(type=OpType(kind), f=f, process=p, time=int(t * S), key=kw.pop("key", "l2"), **kw)


def hold(p: int, t_acq: float, t_ok: float, t_rel: float, t_done: float, rel: str = "ok", **kw: Any) -> list[Op]:
    return [op(t_acq, p, "invoke", "acquire"), op(t_ok, p, "ok", "acquire"),
            op(t_rel, p, "invoke", "release"), op(t_done, p, rel, "release", **kw)]


def history(*holds: list[Op]) -> History:
    return History.of(sorted((o for h in holds for o in h), key=lambda o: o.time))


def both(h: History) -> tuple[Result, Result]:
    return MutexChecker().check(h, CTX), LinearizabilityChecker("mutex").check(h, CTX)


def test_a_failed_release_whose_lock_expired_is_a_lost_lock_not_a_lock_held_forever() -> None:
    # seed 102's story: p3's release fails (the TTL had expired), then p5 acquires: no overlap
    h = history(hold(3, 0, 1, 9, 11, "fail", error=EXPIRED, extra={"lease_lost": True}), hold(5, 10, 12, 13, 14))
    mutex, linear = both(h)
    assert mutex.valid is True and linear.valid is True, linear.reason
    found = mutex.details["lost_locks"]
    assert found == linear.details["lost_locks"] == lost_locks(h)
    assert found == [{
        "process": 3, "key": "l2", "acquired_index": 0, "release_index": 2, "time": 11 * S,
        "why": f"lock l2 lost by p3 at 11.000 s (op 4): its lease was lost while it held the lock, and its release "
               f"failed with {EXPIRED!r}",
    }]
    assert mutex.reason == f"2 holds, none overlapping; 1 lost lock: {found[0]['why']}"
    assert linear.reason.startswith("linearizable (1 partitions); 1 lost lock, read as released after its "
                                    "release began: lock l2 lost by p3")


def test_a_failed_release_without_lease_lost_is_a_lost_lock_too() -> None:
    # v3: the unlock failed and the revoke too; the keepalives stopped, so the lease expires
    h = history(hold(3, 0, 1, 9, 11, "fail", error="unlock: connection refused"), hold(5, 10, 12, 13, 14))
    mutex, linear = both(h)
    assert mutex.valid is True and linear.valid is True, linear.reason
    assert [x["why"] for x in mutex.details["lost_locks"]] == [
        "lock l2 lost by p3 at 11.000 s (op 4): its release failed with 'unlock: connection refused', so the lock "
        "expired under it"]
    assert mutex.details["lost_locks"] == linear.details["lost_locks"]


def test_a_lock_acquired_while_its_holder_still_held_it_is_a_violation_that_names_the_lost_lock() -> None:
    # p3's lease was lost at some point, and p5 got the lock before p3 began to release it
    h = history(hold(3, 0, 1, 9, 10, "ok", extra={"lease_lost": True}), hold(5, 2, 5, 13, 14))
    mutex, linear = both(h)
    assert mutex.valid is False and linear.valid is False
    assert mutex.details["lost_locks"] == linear.details["lost_locks"]
    why = mutex.details["lost_locks"][0]["why"]
    assert why == ("lock l2 lost by p3 at 10.000 s (op 5): its lease was lost while it held the lock (its "
                   "keepalives saw it gone), so the lock expired under it")
    assert linear.details["failures"][0]["lost_locks"] == mutex.details["lost_locks"]
    assert linear.reason == ("key l2: acquire, but the lock can only be held here "
                             f"(it may follow from a lost lock: {why})")
    assert mutex.reason.endswith(f"; 1 lost lock: {why}")


def test_a_plain_double_grant_is_a_violation_with_no_lost_lock() -> None:
    h = history(hold(3, 0, 1, 9, 10), hold(5, 2, 5, 13, 14))
    mutex, linear = both(h)
    assert mutex.valid is False and linear.valid is False
    assert mutex.details["lost_locks"] == linear.details["lost_locks"] == []
    assert "lost lock" not in linear.reason and "lost_locks" not in linear.details["failures"][0]


def test_good_holds_have_no_lost_locks() -> None:
    h = history(hold(3, 0, 1, 2, 3), hold(5, 1, 4, 5, 6), hold(3, 6, 7, 8, 9, "info"))
    mutex, linear = both(h)
    assert (mutex.valid, linear.valid) == (True, True)
    assert mutex.details["lost_locks"] == linear.details["lost_locks"] == []
    assert mutex.reason == "3 holds, none overlapping" and linear.reason == "linearizable (1 partitions)"


def test_an_info_release_is_not_a_lost_lock() -> None:
    # its outcome is unknown: it may have released, but nothing says the lock was lost
    assert lost_locks(history(hold(3, 0, 1, 2, 3, "info"))) == []


def test_other_models_have_no_lost_locks_key() -> None:
    h = History.of([Op(type=OpType.INVOKE, f="write", value=1), Op(type=OpType.OK, f="write", value=1)])
    assert "lost_locks" not in LinearizabilityChecker("cas-register").check(h, CTX).details
