"""The mutex checker's explanation of a violation under a live lease: plain words, never a negative time."""

from __future__ import annotations

from typing import Any

from checkers import CheckContext, MutexChecker
from harness.core import History, Op, OpType

CTX = CheckContext(config={"ttl": 2})
S = 1_000_000_000


def op(t: int, process: int, kind: str, f: str, **kw: Any) -> Op:
    return Op(type=OpType(kind), f=f, process=process, time=t, key="l0", **kw)


def holder(p: int, t_ok: int, t_rel: int, ago_s: float, member: str | None) -> list[Op]:
    keepalive: dict[str, Any] = {"acked": 5, "failed": 0, "last_ack_sent_s_ago": ago_s}
    if member is not None:
        keepalive["member"] = member
    return [op(t_ok - 5, p, "invoke", "acquire"), op(t_ok, p, "ok", "acquire"),
            op(t_rel, p, "invoke", "release"), op(t_rel + 5, p, "ok", "release", extra={"keepalive": keepalive})]


def second(p: int, t_ok: int, t_rel: int) -> list[Op]:
    return [op(t_ok - 5, p, "invoke", "acquire"), op(t_ok, p, "ok", "acquire"),
            op(t_rel, p, "invoke", "release"), op(t_rel + 5, p, "ok", "release")]


def explain(ops: list[Op]) -> dict[str, Any]:
    result = MutexChecker().check(History.of(sorted(ops, key=lambda o: o.time)), CTX)
    assert result.valid is False
    violation: dict[str, Any] = result.details["violations"][0]
    return violation


def test_a_keepalive_sent_after_the_other_grant_is_worded_as_after_and_names_the_member() -> None:
    # p2 holds 1..10 s; its last acknowledged keepalive was sent at 10 - 3.3 = 6.7 s; p6 is granted at 4 s.
    v = explain(holder(2, 1 * S, 10 * S, 3.3, "n3") + second(6, 4 * S, 12 * S))
    text = v["explanation"]
    assert v["lease"]["expired"] is False and v["lease"]["acked_by"] == "n3"
    assert "sent 2.7 s after p6 was granted the lock, acknowledged by n3" in text
    assert "-2.7" not in text and "before" not in text.split("(")[0]


def test_a_keepalive_sent_before_the_grant_within_the_ttl_says_before() -> None:
    # Last acknowledged keepalive at 10 - 6.5 = 3.5 s; p6 granted at 4 s: 0.5 s before, within the TTL.
    v = explain(holder(2, 1 * S, 10 * S, 6.5, "n1") + second(6, 4 * S, 12 * S))
    assert "sent 0.5 s before p6 was granted the lock, acknowledged by n1, within the 2 s TTL" in v["explanation"]


def test_without_the_member_the_explanation_names_none() -> None:
    v = explain(holder(2, 1 * S, 10 * S, 3.3, None) + second(6, 4 * S, 12 * S))
    assert v["lease"]["acked_by"] is None
    assert "acknowledged by" not in v["explanation"] and "2.7 s after" in v["explanation"]


def grantee(p: int, t_ok: int, t_rel: int, ago_s: float) -> list[Op]:
    keepalive = {"acked": 1, "failed": 2, "last_ack_sent_s_ago": ago_s, "member": "n1"}
    return [op(t_ok - 5, p, "invoke", "acquire"), op(t_ok, p, "ok", "acquire"),
            op(t_rel, p, "invoke", "release"),
            op(t_rel + 5, p, "ok", "release", extra={"lease_lost": True, "keepalive": keepalive})]


def test_a_grant_on_the_grantees_expired_lease_is_blamed_on_that_grant() -> None:
    # p5's last acknowledged keepalive was sent at 17 - 10 = 7 s; it is granted at 13 s: 6 s > TTL.
    v = explain(holder(1, 12 * S, 15 * S, 0.6, "n2") + grantee(5, 13 * S, 17 * S, 10.0))
    assert v["grantee_lease_expired"] is True and v["lease"]["expired"] is False
    assert v["explanation"].startswith("etcd's lock service granted p5 the lock on a lease that had already expired")
    assert "sent 6.0 s before the grant, past the 2 s TTL (its keepalives went to n1)" in v["explanation"]


def test_a_grantee_with_a_live_lease_keeps_the_first_holders_explanation() -> None:
    v = explain(holder(1, 12 * S, 15 * S, 0.6, "n2") + grantee(5, 13 * S, 17 * S, 3.5))  # acked at 13.5 s
    assert v["grantee_lease_expired"] is False and "while p1's lease was alive" in v["explanation"]
