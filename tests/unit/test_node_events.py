"""Who revoked a lease, and did it still lead: node log events, and the mutex checker's use of them.

The log lines are shaped as etcd 3.4.23 wrote them in a real ``pause:leader`` run (member IDs, request
IDs and messages as logged): n1 led term 6, was paused, n3 won term 7, and n1, on resuming, had its
lessor revoke leases that the cluster then applied under n3.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from checkers import CheckContext, MutexChecker
from checkers.node_events import NodeEvents, load_run_events, parse_node_log, revoke_batches
from harness.core import History, Op, OpType

S = 1_000_000_000
ZERO = int(datetime(2026, 12, 2, 15, 50, 15, tzinfo=UTC).timestamp()) * S  # the run clock's 0
N1, N2, N3 = "428adac68e9ce244", "b72815e8649ee802", "2e0ea1e754d72952"
N1_REQUEST = (0xE244 << 48) | 0x2A2B  # request IDs carry the proposer's low 16 ID bits on top


def line(at_s: float, msg: str, **fields: Any) -> str:
    moment = datetime.fromtimestamp((ZERO + int(at_s * S)) / S, UTC)
    ts = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return json.dumps({"level": "info", "ts": ts, "caller": "x.go:1", "msg": msg, **fields})


def applied(at_s: float, request: int, lease: str) -> str:
    return line(at_s, "failed to apply request", took="34µs", error="lease not found",
                request=f"header:<ID:{request} > lease_revoke:<id:{lease}>")


LOGS = {
    "n1": [line(5, f"{N1} became follower at term 1"), line(22.5, f"{N1} became leader at term 6"),
           line(33.84, f"{N1} became follower at term 7"), applied(33.9, N1_REQUEST, "6244a23773073a25"),
           line(33.9, "failed to revoke lease", **{"lease-id": "6244a23773073a25", "error": "lease not found"}),
           line(33.9, "failed to revoke lease", **{"lease-id": "6244a23773073a19", "error": "lease not found"})],
    "n2": ["2026-12-02 15:50:20.000 W | pkg/flags: not JSON, skipped",
           line(5, f"{N2} became follower at term 1"), line(16.4, f"{N2} became leader at term 5"),
           line(22.5, f"{N2} became follower at term 6"), line(29.4, f"{N2} became follower at term 7"),
           applied(33.88, N1_REQUEST, "6244a23773073a25"),
           # n2's own lessor, after it had led term 5: timed out, logged a request timeout after proposing.
           line(33.25, "failed to revoke lease", **{"lease-id": "6802a23773079934",
                                                    "error": "etcdserver: request timed out"})],
    "n3": [line(5, f"{N3} became follower at term 1"), line(29.37, f"{N3} became candidate at term 7"),
           line(29.38, f"{N3} became leader at term 7"), applied(33.89, N1_REQUEST, "6244a23773073a25"),
           # n3 leads term 7 and revokes an expired lease: the normal case, not stale.
           line(40.0, "failed to revoke lease", **{"lease-id": "116da2377307dc04", "error": "lease not found"})],
}


def events() -> NodeEvents:
    found = NodeEvents()
    for node, lines in LOGS.items():
        parse_node_log(node, "\n".join(lines), ZERO, found)
    found.roles.sort(key=lambda r: r.time)
    return found


def test_member_ids_terms_and_the_proposer_of_a_request() -> None:
    found = events()
    assert found.member_ids == {"n1": N1, "n2": N2, "n3": N3}
    assert found.node_of_bits(N1_REQUEST >> 48) == "n1"
    assert found.term_at(30 * S) == 7 and found.leader_of(7) == "n3"
    assert found.last_led("n1", 34 * S) == 6 and found.last_led("n3", 20 * S) is None
    assert [a.node for a in found.applied_revokes] == ["n1", "n2", "n3"]


def test_a_resumed_old_leaders_revocations_are_stale_and_committed() -> None:
    batches = {b.node: b for b in revoke_batches(events())}
    old = batches["n1"]
    assert old.stale and old.committed and (old.last_led, old.term, old.leader) == (6, 7, "n3")
    assert old.applied_by == ("n1", "n2", "n3") and old.errors == {"lease not found": 2}
    assert "n1 (leader of term 6) had its lessor revoke leases at 33.90 s, when term 7 was led by n3" in old.describe()
    # The leader of the term revoking an expired lease is normal; a timed-out batch says nothing of its moment.
    assert not batches["n3"].stale and batches["n3"].committed
    # A timed-out one is dated a request timeout (7 s with the default 1 s election timeout) before its log line.
    timed_out = batches["n2"]
    assert timed_out.start == int(26.25 * S) and timed_out.stale and not timed_out.committed
    assert (timed_out.last_led, timed_out.term) == (5, 6)
    assert "propose revoking leases at 26.25 s" in timed_out.describe()


def write_run(tmp_path: Path, *, anchored: bool = True) -> Path:
    (tmp_path / "config.json").write_text(json.dumps({"clock_zero_unix_ns": ZERO} if anchored else {}))
    for node, lines in LOGS.items():
        (tmp_path / "nodes" / node).mkdir(parents=True)
        (tmp_path / "nodes" / node / "etcd.log").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_the_request_timeout_follows_the_election_timeout(tmp_path: Path) -> None:
    run = write_run(tmp_path)
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps(config | {"etcd_args": ["--election-timeout=2500"]}))
    found = load_run_events(run)
    assert found is not None and found.request_timeout_ns == 10 * S
    assert {b.node: b.start for b in revoke_batches(found)}["n2"] == int(23.25 * S)


def test_a_run_without_the_clock_anchor_gives_no_events(tmp_path: Path) -> None:
    assert load_run_events(write_run(tmp_path, anchored=False)) is None
    assert load_run_events(None) is None


def lock_ops(p: int, granted_s: float, release_s: float, last_ack_ago_s: float) -> list[Op]:
    keepalive = {"acked": 9, "failed": 0, "last_ack_sent_s_ago": last_ack_ago_s,
                 "last_ack_received_s_ago": last_ack_ago_s - 0.05, "member": "n2"}
    t_ok, t_rel = int(granted_s * S), int(release_s * S)
    return [Op(type=OpType.INVOKE, f="acquire", process=p, time=t_ok - S // 10, key="l3"),
            Op(type=OpType.OK, f="acquire", process=p, time=t_ok, key="l3"),
            Op(type=OpType.INVOKE, f="release", process=p, time=t_rel, key="l3"),
            Op(type=OpType.OK, f="release", process=p, time=t_rel + S // 100, key="l3", extra={"keepalive": keepalive})]


def check(run_dir: Path, second_granted_s: float) -> dict[str, Any]:
    # p13 holds from 30 s to 36 s, its last acknowledged keepalive sent at 35.5 s; p7's lease is alive too.
    ops = lock_ops(13, 30.0, 36.0, 0.5) + lock_ops(7, second_granted_s, 38.0, 0.5)
    result = MutexChecker().check(History.of(sorted(ops, key=lambda o: o.time)), CheckContext(config={"ttl": 2},
                                                                                              out_dir=run_dir))
    assert result.valid is False
    return result.details


def test_the_mutex_checker_names_the_stale_revocation_at_a_grant_under_live_leases(tmp_path: Path) -> None:
    details = check(write_run(tmp_path), 33.95)
    violation = details["violations"][0]
    assert violation["stale_revoke"]["node"] == "n1" and violation["stale_revoke"]["leader"] == "n3"
    assert "a member that no longer led revoked leases" in violation["explanation"]
    assert "(etcd 15247)" in violation["explanation"]
    assert [b["node"] for b in details["stale_revokes"]] == ["n2", "n1"]


def test_a_grant_far_from_any_stale_revocation_is_not_blamed_on_one(tmp_path: Path) -> None:
    violation = check(write_run(tmp_path), 31.0)["violations"][0]
    assert "stale_revoke" not in violation and "15247" not in violation["explanation"]


def test_without_logs_the_explanation_is_unchanged(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"clock_zero_unix_ns": ZERO}))
    details = check(tmp_path, 33.95)
    assert "stale_revoke" not in details["violations"][0] and details["stale_revokes"] == []


def test_a_new_leaders_extension_keeps_a_quiet_lease_alive(tmp_path: Path) -> None:
    # p13's keepalives stopped at 27.0 s (sent); n3 became leader at 29.38 s, which extends every lease to
    # 29.38 + 2 s TTL + 1 s election timeout = 32.38 s. A grant at 30.0 s is under a live lease.
    run = write_run(tmp_path)
    ops = lock_ops(13, 26.0, 36.0, 9.0) + lock_ops(7, 30.0, 38.0, 0.5)
    details = MutexChecker().check(History.of(sorted(ops, key=lambda o: o.time)),
                                   CheckContext(config={"ttl": 2}, out_dir=run)).details
    violation = details["violations"][0]
    assert violation["lease"]["expired"] is False and violation["lease"]["extended_by"]["node"] == "n3"
    assert "keepalives stopped 3.0 s before the grant, but n3 became leader of term 7 at 29.38 s" in \
        violation["explanation"]
    assert "extends every lease to 32.38 s" in violation["explanation"]


def test_past_the_extension_the_lease_expired(tmp_path: Path) -> None:
    run = write_run(tmp_path)
    ops = lock_ops(13, 26.0, 36.0, 9.0) + lock_ops(7, 32.5, 38.0, 0.5)  # 32.5 s > 32.38 s
    violation = MutexChecker().check(History.of(sorted(ops, key=lambda o: o.time)),
                                     CheckContext(config={"ttl": 2}, out_dir=run)).details["violations"][0]
    assert violation["lease"]["expired"] is True and "extended_by" not in violation["lease"]
    assert "lease expired while it held the lock" in violation["explanation"]


def test_a_grantee_whose_lease_a_new_leader_extended_was_not_granted_on_an_expired_lease(tmp_path: Path) -> None:
    # p7's own keepalives stopped at 26.5 s (answered 26.55 s), but n3's promotion at 29.38 s kept its lease
    # alive until 32.38 s: a grant at 31.0 s is no 9921. Without the logs it is (4.45 s > TTL + revoke lag).
    run = write_run(tmp_path)
    ops = lock_ops(13, 26.0, 36.0, 0.5) + lock_ops(7, 31.0, 38.0, 11.5)
    ctx_with, ctx_without = CheckContext(config={"ttl": 2}, out_dir=run), CheckContext(config={"ttl": 2})
    history = History.of(sorted(ops, key=lambda o: o.time))
    assert MutexChecker().check(history, ctx_with).details["violations"][0]["grantee_lease_expired"] is False
    assert MutexChecker().check(history, ctx_without).details["violations"][0]["grantee_lease_expired"] is True


def test_a_lease_just_past_its_ttl_may_live_until_its_revocation_commits() -> None:
    # p7's last refresh was answered 2.45 s before its grant: past the 2 s TTL, but within the lessor's
    # revocation lag (1 s), so the grant is not called one on an expired lease; 3.45 s is.
    def grantee_expired(answered_before_grant_s: float) -> Any:
        ops = lock_ops(13, 26.0, 36.0, 0.5) + lock_ops(7, 30.0, 38.0, 8.0 + answered_before_grant_s + 0.05)
        result = MutexChecker().check(History.of(sorted(ops, key=lambda o: o.time)), CheckContext(config={"ttl": 2}))
        return result.details["violations"][0]["grantee_lease_expired"]

    assert grantee_expired(2.45) is False
    assert grantee_expired(3.45) is True
