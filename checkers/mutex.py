"""Mutual exclusion in real time: :class:`MutexChecker`.

The history holds ``acquire`` and ``release`` ops (per lock: ``op.key``). A
*hold* is what a client did while it believed it owned the lock:

* it starts when an ``acquire`` completes ``ok`` (an ``info`` acquire *may*
  hold the lock, but its process is retired and never uses it, so it starts no
  hold);
* it ends when the same process invokes ``release``. The hold is
  *open-ended* (``end_time`` null) when that release is ``info`` or never
  completed, when the client saw its lease lost while holding (the release's
  ``extra.lease_lost``), or when no release was invoked at all (the process was
  retired by an ``info`` op inside the hold, or the run ended). Open-ended
  means the lock may have stayed held, or been lost, at an unknown time: the
  hold is only *certain* up to the release invocation, or up to the process's
  last recorded event when it never released.

Two holds of one lock violate mutual exclusion iff their certain parts overlap:
at one instant both clients had been told they own the lock and neither had
started to give it up. Uncertain tails never count, so a lock that is freed by
lease expiry after an ``info`` release is not a false alarm.

Each violation is explained from the first holder's lease, when its release
recorded ``extra.keepalive.last_ack_sent_s_ago`` (the lock workloads do): the
last acknowledged keepalive was *sent* at ``release invocation − that``, and etcd
may not expire a lease sooner than one TTL after it. If the second holder
acquired later than that, the lease *expired* while held (keepalives stalled: a
paused or cut-off node); if sooner, etcd granted the lock while the holder's
lease was alive (revoked early, or a grant that ignored it), which its lease
contract forbids. The explanation names the member that acknowledged the
holder's keepalives (``extra.keepalive.member``) and says plainly when the last
acknowledged keepalive was sent *after* the second grant: etcd then renewed a
lease whose lock it had already given away (a stalled old leader still answering
keepalives, as in etcd issue 15247). When the *second* holder's own lease had
already expired before its grant (``grantee_lease_expired``: its last acknowledged
keepalive was *answered* a TTL plus :data:`REVOKE_LAG_S` or more before it, since the
leader renews between the send and the answer and an expired lease lives until its
revocation commits; a history without the answer's time counts the send plus a TTL),
that grant is the defect, and the
explanation says so instead: the lock service told a client it held a lock whose
key its expired lease had deleted (seen when a waiter's node resumes from a pause).

A lease whose keepalives stopped a TTL or more before the grant is not always expired:
a member that becomes leader extends every lease to its promotion + TTL + the election
timeout (etcd's ``lessor.Promote``). When the run's node logs are at hand
(``ctx.out_dir``, :mod:`checkers.node_events`), such a lease counts as alive until then,
for either holder (``lease.extended_by``: the new leader, its term and when), and the
explanation says so. Without the logs the rule is the TTL alone.

When the run's node logs are at hand, a violation under two live leases is also
matched against the revocations the logs show (:mod:`checkers.node_events`): if, at
its grant, a member that no longer led had its lessor revoke leases that the cluster
then applied, the violation names that member,
the term it last led and the term and leader of the moment (``stale_revoke``), which
is etcd 15247's mechanism seen in the logs rather than inferred from the timing.

A *lost lock* is a hold its holder lost: its release failed (the lock workloads
stop the keepalives whatever the release's outcome, so a lock whose release failed
expires with its lease or TTL), or the release says the lease was lost while held
(``extra.lease_lost``). Each is a finding of its own, listed under ``lost_locks`` by
this checker and by the linearizability checker with the mutex model alike (the
same entries, from :func:`lost_locks`), so a report can link the two: the mutex
model then reads such a release as one that may take effect any time after it was
invoked (the lock expired under its holder), not as one that never happened, which
would keep the lock held forever.

``details`` (``results.json`` → ``checkers.<name>``)::

    {"violations": [{"key", "holders": [{"process", "acquire_index", "start_time", "end_time"|null}, ...],
                     "overlap_start", "overlap_end", "ttl_s",
                     "lease": {"last_ack_sent_time", "acked", "failed", "acked_by", "expired": bool,
                               "extended_by": {"node", "term", "time"}}|null,   # extended_by: only when so
                     "grantee_lease_expired": bool|null,
                     "stale_revoke": {"node", "start_time", "end_time", "errors", "last_led_term", "term",
                                      "leader", "applied_by", "stale", "committed"},   # only when found
                     "explanation": str}],
     "stale_revokes": [...],   # every revocation batch proposed by a member that no longer led
     "violation_count": n,
     "holds": [{"key", "process", "acquire_index", "start_time", "end_time"|null, "open_ended": bool}],
     "possible_holds": n,   # info acquires
     "lost_locks": [{"process", "key", "acquired_index", "release_index", "time", "why"}]}

Times are ns on the run's clock. ``ttl_s`` is the lease / v2 TTL from the
test config (``ctx.config["ttl"]``), to judge a violation against it.
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checkers._result import UNKNOWN, CheckContext, Result
from checkers.node_events import NodeEvents, RevokeBatch, RoleChange, load_run_events, revoke_batches
from harness.core import History, Op, OpType

#: Violations explained in the details; every one is still counted.
MAX_VIOLATIONS = 50
#: Holds listed in the details (for the report's timeline); the count is exact.
MAX_HOLDS = 5000
#: Lost locks listed in the details; the count is exact.
MAX_LOST = 200
#: How long an expired lease may live on until its revocation commits (the lessor checks every 500 ms).
REVOKE_LAG_S = 1.0
#: A grant this long before a stale revocation batch's first proposal, or this long after its last, is
#: blamed on it: the grant follows the revocation of the holder's key, and the completion we record
#: follows the grant; log lines have ms resolution.
STALE_REVOKE_BEFORE_NS = 500_000_000
STALE_REVOKE_AFTER_NS = 2_000_000_000


@dataclass(slots=True)
class LostLock:
    """A hold whose holder lost the lock (see the module docstring). ``completion``: the
    release's completion (``None``: it never completed)."""

    process: Any
    key: Hashable
    acquire: Op
    release: Op
    completion: Op | None
    why: str

    def to_json(self) -> dict[str, Any]:
        done = self.completion
        return {"process": self.process, "key": self.key, "acquired_index": self.acquire.index,
                "release_index": self.release.index, "time": done.time if done is not None else self.release.time,
                "why": self.why}


def find_lost_locks(history: History) -> list[LostLock]:
    """Every lost lock of ``history``, in the order the releases were invoked."""
    by_process: dict[Any, list[tuple[Op, Op | None]]] = {}
    for inv, done in history.pairs():
        if inv.is_client and inv.f in ("acquire", "release"):
            by_process.setdefault(inv.process, []).append((inv, done))
    out: list[LostLock] = []
    for process, ops in by_process.items():
        for i, (inv, done) in enumerate(ops):
            if inv.f != "acquire" or done is None or done.type is not OpType.OK:
                continue
            nxt = ops[i + 1] if i + 1 < len(ops) else None
            if nxt is not None and nxt[0].f == "release" and nxt[0].key == inv.key:
                lost = _lost(process, inv, *nxt)
                if lost is not None:
                    out.append(lost)
    out.sort(key=lambda lost: lost.release.index)
    return out


def lost_locks(history: History) -> list[dict[str, Any]]:
    """:func:`find_lost_locks` as the ``lost_locks`` entries of a checker's details."""
    return [lost.to_json() for lost in find_lost_locks(history)]


def _lost(process: Any, acquire: Op, release: Op, done: Op | None) -> LostLock | None:
    lease_lost = done is not None and bool((done.extra or {}).get("lease_lost"))
    failed = done is not None and done.type is OpType.FAIL
    if not (lease_lost or failed):
        return None
    at = done if done is not None else release
    when = f"{at.time / 1e9:.3f} s (op {at.index})" if at.time else f"op {at.index}"
    where = "" if acquire.key is None else f"{acquire.key} "
    error = f"{done.error!r}" if done is not None and done.error else "no error recorded"
    if failed and lease_lost:
        cause = f"its lease was lost while it held the lock, and its release failed with {error}"
    elif failed:
        cause = f"its release failed with {error}, so the lock expired under it"
    else:
        cause = "its lease was lost while it held the lock (its keepalives saw it gone), so the lock expired under it"
    return LostLock(process, acquire.key, acquire, release, done,
                    f"lock {where}lost by p{process} at {when}: {cause}")


@dataclass(slots=True)
class Hold:
    key: Hashable
    process: int
    acquire_index: int
    start: int
    certain_end: int
    end: int | None  # the release invocation, or None when open-ended
    open_ended: bool
    lease: dict[str, Any] | None = None  # from the release's extra.keepalive: see _lease_of

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "process": self.process, "acquire_index": self.acquire_index,
                "start_time": self.start, "end_time": self.end, "open_ended": self.open_ended}


def holds_of(history: History) -> tuple[list[Hold], int]:
    """Every hold in ``history`` (see the module docstring) and the number of ``info`` acquires."""
    pairs = [(inv, done) for inv, done in history.pairs() if inv.is_client]
    by_process: dict[Any, list[tuple[Op, Op | None]]] = {}
    for inv, done in pairs:
        by_process.setdefault(inv.process, []).append((inv, done))
    holds: list[Hold] = []
    possible = 0
    for process, ops in by_process.items():
        for i, (inv, done) in enumerate(ops):
            if inv.f != "acquire":
                continue
            if done is None or done.type is OpType.INFO:
                possible += 1
                continue
            if done.type is not OpType.OK:
                continue
            holds.append(_hold_from(process, inv, done, ops[i + 1:]))
    holds.sort(key=lambda h: (h.start, h.acquire_index))
    return holds, possible


def _hold_from(process: int, inv: Op, done: Op, later: list[tuple[Op, Op | None]]) -> Hold:
    last_seen = done.time
    for nxt_inv, nxt_done in later:
        if nxt_inv.f == "release" and nxt_inv.key == inv.key:
            open_ended = (nxt_done is None or nxt_done.type is OpType.INFO
                          or bool((nxt_done.extra or {}).get("lease_lost")))
            return Hold(inv.key, process, inv.index, done.time, nxt_inv.time,
                        None if open_ended else nxt_inv.time, open_ended, _lease_of(nxt_inv, nxt_done))
        if nxt_inv.f == "acquire":
            break  # released without a recorded release (should not happen): stop here
        last_seen = max(last_seen, nxt_inv.time, nxt_done.time if nxt_done else nxt_inv.time)
    return Hold(inv.key, process, inv.index, done.time, last_seen, None, True)


class MutexChecker:
    """No two certain holds of one lock overlap in real time. See the module docstring."""

    name = "mutex"

    def check(self, history: History, ctx: CheckContext) -> Result:
        t0 = time.monotonic()
        holds, possible = holds_of(history)
        lost = find_lost_locks(history)
        ttl = ctx.config.get("ttl")
        violations: list[dict[str, Any]] = []
        count = 0
        active: dict[Hashable, list[Hold]] = {}
        logs = _RunLogs(ctx.out_dir)
        for n, hold in enumerate(holds):
            if ctx.time_limit and n % 256 == 0 and time.monotonic() - t0 > ctx.time_limit:
                return Result(UNKNOWN, f"time limit of {ctx.time_limit:g} s reached after {n} of {len(holds)} holds")
            live = [h for h in active.get(hold.key, []) if h.certain_end > hold.start]
            for other in live:
                if other.process == hold.process:
                    continue
                count += 1
                if len(violations) < MAX_VIOLATIONS:
                    violations.append(_violation(other, hold, ttl, logs.events()))
            live.append(hold)
            active[hold.key] = live
        events = logs.events() if violations else None
        stale = [b for b in revoke_batches(events) if b.stale] if events is not None else []
        for violation in violations:
            _blame_stale_revoke(violation, stale)
        details: dict[str, Any] = {
            "violations": violations,
            "stale_revokes": [batch.to_json() for batch in stale],
            "violation_count": count,
            "holds": [h.to_json() for h in holds[:MAX_HOLDS]],
            "hold_count": len(holds),
            "possible_holds": possible,
            "ttl_s": ttl,
            "lost_locks": [lock.to_json() for lock in lost[:MAX_LOST]],
            "lost_lock_count": len(lost),
        }
        also = _lost_note(lost)
        if count:
            first = violations[0]
            a, b = first["holders"]
            ms = (first["overlap_end"] - first["overlap_start"]) / 1e6
            where = "" if first["key"] is None else f"lock {first['key']}: "
            return Result(False, f"{count} mutual-exclusion violation(s); first: {where}process {b['process']} "
                                 f"acquired while process {a['process']} held it ({ms:.0f} ms overlap, "
                                 f"TTL {ttl} s): {first['explanation']}{also}", details)
        if not holds:
            return Result(UNKNOWN, "no acquire succeeded, so mutual exclusion was never tested", details)
        return Result(True, f"{len(holds)} holds, none overlapping{also}", details)


def _lost_note(lost: list[LostLock]) -> str:
    """The lost locks, for a checker's reason: ``""`` if none."""
    if not lost:
        return ""
    more = f" (and {len(lost) - 1} more)" if len(lost) > 1 else ""
    return f"; {len(lost)} lost lock{'' if len(lost) == 1 else 's'}: {lost[0].why}{more}"


def _lease_of(release: Op, done: Op | None) -> dict[str, Any] | None:
    """The release's keepalive record on the run clock: when the last acknowledged refresh was sent."""
    keepalive = (done.extra or {}).get("keepalive") if done is not None else None
    if not isinstance(keepalive, dict):
        return None
    ago = keepalive.get("last_ack_sent_s_ago")
    if isinstance(ago, bool) or not isinstance(ago, int | float):
        return None
    member = keepalive.get("member")
    lease = {"last_ack_sent_time": release.time - int(ago * 1e9),
             "acked": keepalive.get("acked"), "failed": keepalive.get("failed"),
             "acked_by": member if isinstance(member, str) else None}
    received = keepalive.get("last_ack_received_s_ago")
    if isinstance(received, int | float) and not isinstance(received, bool):
        lease["last_ack_received_time"] = release.time - int(received * 1e9)
    return lease


def _alive_explanation(holder: int, granted: int, quiet_s: float, ttl: float, acked_by: Any) -> str:
    """Why a violation happened while the holder's lease was alive, in plain words. ``quiet_s``: from the
    send of the holder's last acknowledged keepalive to the grant; negative when that keepalive was sent
    *after* the grant (etcd renewed a lease whose lock it had already given away)."""
    by = f", acknowledged by {acked_by}" if isinstance(acked_by, str) and acked_by else ""
    if quiet_s < 0:
        when = (f"the holder's last acknowledged keepalive was sent {-quiet_s:.1f} s after p{granted} was granted "
                f"the lock{by}: etcd renewed p{holder}'s lease after giving its lock away")
    else:
        when = (f"the holder's last acknowledged keepalive was sent {quiet_s:.1f} s before p{granted} was granted "
                f"the lock{by}, within the {ttl:g} s TTL")
    return (f"etcd granted p{granted} the lock while p{holder}'s lease was alive: {when} "
            "(a lease revoked early, or a grant that ignored the holder)")


def _violation(first: Hold, second: Hold, ttl: Any, events: NodeEvents | None = None) -> dict[str, Any]:
    lease = dict(first.lease) if first.lease is not None else None
    explanation = (f"p{second.process} was granted the lock while p{first.process} still held it; "
                   f"p{first.process}'s keepalives are not on record")
    if lease is not None and isinstance(ttl, int | float) and not isinstance(ttl, bool):
        quiet_s = (second.start - lease["last_ack_sent_time"]) / 1e9
        lease["expired"] = quiet_s >= ttl
        promotion = _extended_by(events, lease["last_ack_sent_time"], second.start, ttl) if lease["expired"] else None
        if promotion is not None and events is not None:
            lease["expired"] = False
            lease["extended_by"] = {"node": promotion.node, "term": promotion.term, "time": promotion.time}
            explanation = (f"etcd granted p{second.process} the lock while p{first.process}'s lease was alive: its "
                           f"keepalives stopped {quiet_s:.1f} s before the grant, but "
                           f"{_extension_note(promotion, second.start, ttl, events)}")
        elif lease["expired"]:
            explanation = (f"p{first.process}'s lease expired while it held the lock: no keepalive acknowledged "
                           f"in the {quiet_s:.1f} s before p{second.process} was granted it (TTL {ttl:g} s; "
                           f"{lease['failed']} refresh{'' if lease['failed'] == 1 else 'es'} failed)")
        else:
            explanation = _alive_explanation(first.process, second.process, quiet_s, ttl, lease.get("acked_by"))
    grantee_expired = _grantee_lease_expired(second, ttl, events)
    if grantee_expired and (lease is None or not lease.get("expired")):
        explanation = grantee_expired
    return {
        "key": first.key,
        "holders": [
            {"process": h.process, "acquire_index": h.acquire_index, "start_time": h.start, "end_time": h.end}
            for h in (first, second)
        ],
        "overlap_start": second.start,
        "overlap_end": min(first.certain_end, second.certain_end),
        "ttl_s": ttl,
        "lease": lease,
        # True / False, or None when the second holder's keepalives are not on record.
        "grantee_lease_expired": None if grantee_expired is None else bool(grantee_expired),
        "explanation": explanation,
    }


class _RunLogs:
    """The run's node events, read once on first need (:func:`checkers.node_events.load_run_events`)."""

    def __init__(self, run_dir: Path | None) -> None:
        self.run_dir = run_dir
        self._events: NodeEvents | None = None
        self._read = False

    def events(self) -> NodeEvents | None:
        if not self._read:
            self._read = True
            try:
                self._events = load_run_events(self.run_dir)
            except OSError:
                self._events = None
        return self._events


def _extended_by(events: NodeEvents | None, last_ack_sent: int, grant: int, ttl: float) -> RoleChange | None:
    """The promotion that kept a lease alive at ``grant`` although its keepalives stopped at ``last_ack_sent``:
    a member that became leader in between extends every lease to its promotion + TTL + the election timeout
    (etcd's ``lessor.Promote``), so the lease was alive by etcd's own rule until then. None if none did."""
    if events is None:
        return None
    promotion = events.promotion_between(last_ack_sent, grant)
    if promotion is None or promotion.time + int(ttl * 1e9) + events.election_timeout_ns < grant:
        return None
    return promotion


def _extension_note(promotion: RoleChange, grant: int, ttl: float, events: NodeEvents) -> str:
    until = (promotion.time + int(ttl * 1e9) + events.election_timeout_ns) / 1e9
    return (f"{promotion.node} became leader of term {promotion.term} at {promotion.time / 1e9:.2f} s, "
            f"{(grant - promotion.time) / 1e9:.1f} s before the grant, which extends every lease to {until:.2f} s "
            f"(TTL {ttl:g} s + election timeout {events.election_timeout_ns / 1e9:g} s)")


def _blame_stale_revoke(violation: dict[str, Any], stale: list[RevokeBatch]) -> None:
    """Name the stale revocation batch at a violation's grant, when both leases were alive then: etcd 15247's
    mechanism, seen in the logs rather than inferred (``violation["stale_revoke"]``)."""
    lease = violation["lease"]
    if lease is None or lease.get("expired") or violation["grantee_lease_expired"] is not False:
        return
    grant = violation["overlap_start"]
    for batch in stale:
        if batch.start - STALE_REVOKE_BEFORE_NS <= grant <= batch.end + STALE_REVOKE_AFTER_NS:
            violation["stale_revoke"] = batch.to_json()
            did = "revoked" if batch.committed else "proposed revoking"
            violation["explanation"] += (f". At the grant, {batch.describe()}: a member that no longer led "
                                         f"{did} leases the new leader was renewing (etcd 15247)")
            return


def _grantee_lease_expired(second: Hold, ttl: Any, events: NodeEvents | None = None) -> str | None:
    """The explanation when the *second* holder's own lease had expired before it was granted the lock
    (its last acknowledged keepalive was sent a TTL or more before the grant, and no new leader extended
    it since: :func:`_extended_by`); ``""`` when its lease was alive then; None when its keepalives are
    not on record. An expired one means the lock service answered a lock request whose key its lease had
    already deleted: the second grant is the defect, whatever the first holder's lease did."""
    if second.lease is None or not isinstance(ttl, int | float) or isinstance(ttl, bool):
        return None
    # The leader renewed the lease between the refresh's send and its answer: only a TTL past the answer is
    # the lease surely gone. Without the answer's time on record, its send plus the longest a refresh waits
    # (the TTL) stands in for it.
    sent = second.lease["last_ack_sent_time"]
    received = second.lease.get("last_ack_received_time", sent + int(ttl * 1e9))
    quiet_s = (second.start - received) / 1e9
    # A lease lives until its revocation commits: the leader's lessor looks for expired leases every
    # 500 ms, then proposes; until then a lock request on it may rightly succeed.
    if quiet_s < ttl + REVOKE_LAG_S or _extended_by(events, sent, second.start, ttl) is not None:
        return ""
    by = second.lease.get("acked_by")
    via = f" (its keepalives went to {by})" if isinstance(by, str) and by else ""
    when = (f"answered {quiet_s:.1f} s before the grant" if "last_ack_received_time" in second.lease else
            f"sent {(second.start - sent) / 1e9:.1f} s before the grant")
    return (f"etcd's lock service granted p{second.process} the lock on a lease that had already expired: "
            f"p{second.process}'s last acknowledged keepalive was {when}, past the "
            f"{ttl:g} s TTL{via}, so its lock key was gone when it was told it held the lock")


__all__ = ["LostLock", "MutexChecker", "find_lost_locks", "holds_of", "lost_locks"]
