"""What the node logs say about leadership and lease revocations, on the run's clock.

etcd's zap logs (one JSON record a line: 3.4 with ``--logger=zap``, 3.5) record
enough to tell *who* revoked a lease and *whether it still led* when it did:

- raft's ``"<member> became leader|follower|candidate|pre-candidate at term N"``, written
  by the member itself: each member's term and role over time;
- ``"failed to revoke lease"`` (``lease-id``, ``error``): written by the member whose
  *lessor* proposed the revocation of an expired lease, when the proposal failed.
  ``lease not found`` means the revocation was committed and applied, and found the lease
  already gone (logged as it is applied); ``request timed out`` means the proposer did not
  hear back within etcd's request timeout (5 s plus two election timeouts: logged that long
  after the proposal, which may or may not have committed);
- ``"failed to apply request"`` with ``header:<ID:N > lease_revoke:<id:L>``: written by
  every member that applied a LeaseRevoke that found no lease. etcd makes request IDs
  with the proposing member's low 16 ID bits on top (``idutil.Generator``), so ``N >> 48``
  names the proposer.

A *revoke batch* is one member's failed lessor revocations *proposed* within
:data:`BATCH_GAP_S` of each other. It is *stale* when the member had stopped leading:
the highest term any member had entered by then is above the last term the proposer
led. That is etcd 15247's mechanism: a leader that stalled (paused, or blocked on its
disk) resumes, still runs its lessor as primary, and revokes leases the new leader has
been renewing. Successful revocations log nothing, so a batch is seen through its
failures (those whose lease was already gone); its live revocations went with them.

Log timestamps are wall-clock; ``config.json``'s ``clock_zero_unix_ns`` (the wall time
of the run clock's 0) puts them on the history's clock. Runs recorded before that field
get no events (:func:`load_run_events` returns None).
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.core import CONFIG, NODE_LOG, NODES

#: Lessor revocations of one member this close together (seconds) are one batch.
BATCH_GAP_S = 1.0
#: config.json's field: the wall-clock ns (Unix) of the run clock's 0.
CLOCK_ZERO_FIELD = "clock_zero_unix_ns"
#: etcd's default --election-timeout (ms); its request timeout is 5 s plus two election timeouts.
DEFAULT_ELECTION_TIMEOUT_MS = 1000

_ROLE = re.compile(r"^([0-9a-f]+) became (leader|follower|candidate|pre-candidate) at term (\d+)$")
_APPLIED_REVOKE = re.compile(r"header:<ID:(\d+) [^>]*>\s*lease_revoke:<id:([0-9a-f]+)>")


@dataclass(frozen=True, slots=True)
class RoleChange:
    time: int  # ns on the run clock
    node: str
    role: str
    term: int


@dataclass(frozen=True, slots=True)
class LessorRevoke:
    """A revocation the node's lessor proposed that failed (``error`` as logged at ``time``)."""
    time: int
    node: str
    lease: str
    error: str

    @property
    def applied(self) -> bool:
        """Committed and applied, finding the lease gone: logged as it was applied."""
        return self.error.startswith("lease not found")

    @property
    def timed_out(self) -> bool:
        """Not heard back within etcd's request timeout: logged that long after the proposal."""
        return "request timed out" in self.error

    def proposed_at(self, request_timeout_ns: int) -> int | None:
        """When the lessor proposed it, where the error says; None for other errors."""
        if self.applied:
            return self.time
        if self.timed_out:
            return self.time - request_timeout_ns
        return None


@dataclass(frozen=True, slots=True)
class AppliedRevoke:
    """A LeaseRevoke a node applied that found no lease; ``proposer_bits``: the proposer's low 16 ID bits."""
    time: int
    node: str
    proposer_bits: int
    lease: str


@dataclass(slots=True)
class NodeEvents:
    """Everything :func:`parse_node_log` found, for all nodes, sorted by time."""
    member_ids: dict[str, str] = field(default_factory=dict)  # node -> member id (hex) it logged as itself
    election_timeout_ns: int = DEFAULT_ELECTION_TIMEOUT_MS * 1_000_000
    roles: list[RoleChange] = field(default_factory=list)
    lessor_revokes: list[LessorRevoke] = field(default_factory=list)
    applied_revokes: list[AppliedRevoke] = field(default_factory=list)

    @property
    def request_timeout_ns(self) -> int:
        """etcd's request timeout: 5 s plus two election timeouts (``ServerConfig.ReqTimeout``)."""
        return 5_000_000_000 + 2 * self.election_timeout_ns

    def node_of_bits(self, bits: int) -> str | None:
        """The node whose member ID ends in these 16 bits (a request ID's proposer), if one does."""
        for node, member in self.member_ids.items():
            if int(member, 16) & 0xFFFF == bits:
                return node
        return None

    def term_at(self, time: int) -> int:
        """The highest term any member had entered by ``time``; 0 before any."""
        return max((r.term for r in self.roles if r.time <= time), default=0)

    def leader_of(self, term: int) -> str | None:
        """The node that became leader at ``term``, if the logs say."""
        return next((r.node for r in self.roles if r.role == "leader" and r.term == term), None)

    def promotion_between(self, after: int, until: int) -> RoleChange | None:
        """The last member to become leader in ``(after, until]``, if one did. A new leader's lessor
        extends every lease to its promotion + TTL + the election timeout (``lessor.Promote``)."""
        found = [r for r in self.roles if r.role == "leader" and after < r.time <= until]
        return found[-1] if found else None

    def last_led(self, node: str, time: int) -> int | None:
        """The last term ``node`` became leader at, by ``time``; None if it never led by then."""
        terms = [r.term for r in self.roles if r.node == node and r.role == "leader" and r.time <= time]
        return max(terms) if terms else None


def _wall_ns(ts: Any) -> int | None:
    if not isinstance(ts, str):
        return None
    try:
        moment = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def parse_node_log(node: str, text: str, clock_zero_unix_ns: int, into: NodeEvents) -> None:
    """Add ``node``'s log records (zap JSON lines; other lines are skipped) to ``into``."""
    for line in text.splitlines():
        if not line.startswith("{") or '"msg"' not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        msg = record.get("msg")
        wall = _wall_ns(record.get("ts"))
        if not isinstance(msg, str) or wall is None:
            continue
        time = wall - clock_zero_unix_ns
        role = _ROLE.match(msg)
        if role:
            member, kind, term = role.groups()
            into.member_ids.setdefault(node, member)
            if into.member_ids[node] == member:  # its own raft lines (a replaced member logs a new id: keep the first)
                into.roles.append(RoleChange(time, node, kind, int(term)))
        elif msg == "failed to revoke lease":
            into.lessor_revokes.append(LessorRevoke(time, node, str(record.get("lease-id", "")),
                                                    str(record.get("error", ""))))
        elif msg == "failed to apply request":
            applied = _APPLIED_REVOKE.search(str(record.get("request", "")))
            if applied:
                into.applied_revokes.append(AppliedRevoke(time, node, int(applied.group(1)) >> 48, applied.group(2)))


def election_timeout_ns(etcd_args: Any) -> int:
    """etcd's election timeout for a run's extra etcd flags: ``--election-timeout`` if given, else 1 s."""
    election_ms = DEFAULT_ELECTION_TIMEOUT_MS
    for arg in etcd_args if isinstance(etcd_args, list) else []:
        if isinstance(arg, str) and arg.startswith("--election-timeout="):
            with contextlib.suppress(ValueError):  # etcd itself refuses a bad value: nothing to date then
                election_ms = int(arg.split("=", 1)[1])
    return election_ms * 1_000_000


def load_run_events(run_dir: Path | None) -> NodeEvents | None:
    """The node events of a run directory; None without node logs or without the clock anchor in its
    ``config.json`` (runs recorded before it)."""
    if run_dir is None:
        return None
    try:
        config = json.loads((Path(run_dir) / CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    zero = config.get(CLOCK_ZERO_FIELD) if isinstance(config, dict) else None
    if not isinstance(zero, int) or isinstance(zero, bool):
        return None
    nodes = Path(run_dir) / NODES
    if not nodes.is_dir():
        return None
    events = NodeEvents(election_timeout_ns=election_timeout_ns(config.get("etcd_args")))
    for log_file in sorted(nodes.glob(f"*/{NODE_LOG}")):
        parse_node_log(log_file.parent.name, log_file.read_bytes().decode("utf-8", "replace"), zero, events)
    if not events.roles:
        return None
    events.roles.sort(key=lambda r: r.time)
    events.lessor_revokes.sort(key=lambda r: r.time)
    events.applied_revokes.sort(key=lambda r: r.time)
    return events


@dataclass(frozen=True, slots=True)
class RevokeBatch:
    """One member's lessor revocations proposed close together, judged against the terms.

    ``start``/``end``: when they were proposed (an applied one is logged as it is applied, a
    timed-out one a request timeout after its proposal). Failures with other errors (the server
    stopping, ...) carry no date and are left out."""
    node: str
    start: int
    end: int
    errors: dict[str, int]  # error text -> count
    last_led: int | None  # the last term the proposer led, by the batch
    term: int  # the highest term any member had entered by the batch
    leader: str | None  # that term's leader
    applied_by: tuple[str, ...]  # nodes that logged applying one of this proposer's revocations then
    committed: bool  # some revocation of the batch was committed and applied (it found the lease gone)

    @property
    def stale(self) -> bool:
        """The proposer's lessor revoked after it had stopped leading (etcd 15247's mechanism)."""
        return self.last_led is not None and self.term > self.last_led

    def to_json(self) -> dict[str, Any]:
        return {"node": self.node, "start_time": self.start, "end_time": self.end, "errors": dict(self.errors),
                "last_led_term": self.last_led, "term": self.term, "leader": self.leader,
                "applied_by": list(self.applied_by), "stale": self.stale, "committed": self.committed}

    def describe(self) -> str:
        """One sentence, e.g. for a violation's explanation."""
        count = sum(self.errors.values())
        how = ", ".join(f"{n} {err!r}" for err, n in sorted(self.errors.items()))
        applied = (f"; {len(self.applied_by)} member{'s' if len(self.applied_by) != 1 else ''} applied them"
                   if self.applied_by else "")
        led = f"leader of term {self.last_led}" if self.last_led is not None else "never the leader"
        verb = "had its lessor revoke leases" if self.committed else "had its lessor propose revoking leases"
        return (f"{self.node} ({led}) {verb} at {self.start / 1e9:.2f} s, when term {self.term} was led by "
                f"{self.leader or 'an unknown member'} ({count} failed: {how}{applied}; the ones that succeeded "
                "log nothing)")


def revoke_batches(events: NodeEvents) -> list[RevokeBatch]:
    """The lessor revocation batches of every node, in time order of their proposals."""
    batches: list[RevokeBatch] = []
    by_node: dict[str, list[tuple[int, LessorRevoke]]] = {}
    for revoke in events.lessor_revokes:
        proposed = revoke.proposed_at(events.request_timeout_ns)
        if proposed is not None:
            by_node.setdefault(revoke.node, []).append((proposed, revoke))
    gap = int(BATCH_GAP_S * 1e9)
    for node, dated in by_node.items():
        dated.sort(key=lambda d: d[0])
        groups: list[list[tuple[int, LessorRevoke]]] = []
        for item in dated:
            if groups and item[0] - groups[-1][-1][0] <= gap:
                groups[-1].append(item)
            else:
                groups.append([item])
        for group in groups:
            start, end = group[0][0], group[-1][0]
            errors: dict[str, int] = {}
            for _, revoke in group:
                errors[revoke.error] = errors.get(revoke.error, 0) + 1
            term = events.term_at(end)
            applied_by = sorted({a.node for a in events.applied_revokes if start - gap <= a.time <= end + gap
                                 and events.node_of_bits(a.proposer_bits) == node})
            batches.append(RevokeBatch(node, start, end, errors, events.last_led(node, start), term,
                                       events.leader_of(term), tuple(applied_by),
                                       committed=any(revoke.applied for _, revoke in group)))
    batches.sort(key=lambda b: b.start)
    return batches


__all__ = ["CLOCK_ZERO_FIELD", "NodeEvents", "RevokeBatch", "load_run_events", "parse_node_log", "revoke_batches"]
