"""Etcd's revisions, checked as guarantees of their own: :class:`RevisionChecker`.

Every v3 workload records etcd's answer about order in each completion's ``extra``
(see ``docs/revisions.md``):

==============  ===========================================================================
field           meaning
==============  ===========================================================================
``rev``         the response header's revision (a write's own revision: its mod_revision)
``mod_rev``     single-key reads: the key's mod_revision (0 when absent)
``create_rev``  single-key reads: the key's create_revision (0 when absent)
``version``     single-key reads: the key's version (0 when absent)
``succeeded``   txns: whether the success branch ran
``deleted``     deletes: how many keys went
``mod_revs``    folder reads: ``{subkey: [mod_revision, create_revision, version]}``
``serializable``  a read served from one member's local state (not linearizable)
==============  ===========================================================================

A *profile* (one per workload, :data:`PROFILES`) says which ops write which key with
which value, and which read which key. The checks, each violation naming both ops:

``realtime``
    Header revisions never go back in real time: an op invoked after another completed
    has a header revision at least as large. Serializable reads are exempt (a member
    may lag).
``write-after``
    Each successful write's revision is above every revision completed before it
    began: it made a new revision, after all of those.
``unique``
    No two writes share a revision. Each revision is one transaction, and every write
    op of these workloads is a transaction of its own (one key), so this implies the
    contract's "no two writes share (key, mod_revision)".
``reads``
    A read's mod_revision names the write whose value it returns: the write known at
    that revision wrote this key (not another one, not a delete) and this value; two
    reads of a key at one mod_revision agree on value, version and create_revision;
    ``create_revision <= mod_revision <= header revision``; version 1 iff created at
    the mod_revision.
``versions``
    A key's version counts its writes since creation. For a read at
    ``(create_revision c, mod_revision m, version v)``: the known writes of the key
    with revisions in ``[c, m]`` are at most ``v``; no known delete of the key lies in
    ``(c, m]``; and ``v`` is at most those writes plus every write of the key whose
    revision is unknown (info, unanswered) invoked before the read completed.

Only ``realtime`` and ``write-after`` need linearizable reads; the others hold for any
read, stale or not. Which workloads get which checks is in :data:`PROFILES` and
``docs/revisions.md``. Bounded: past ``ctx.time_limit`` or ``ctx.memory_limit`` the
verdict is ``unknown``. A history where no op carries a revision (recorded before
revisions were) is valid with the reason "nothing to check", and ``checked`` all 0.
"""

from __future__ import annotations

import bisect
import time
from collections import defaultdict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Final

from checkers._result import UNKNOWN, CheckContext, Result
from harness.core import History, Op, OpType

#: Violations listed in the details, per check (all are counted).
MAX_LISTED: Final = 20
#: How often (in items) the time and memory limits are looked at.
_EVERY: Final = 2048
_PAGE: Final = 4096


class _Deleted:
    """The value a delete writes."""

    def __repr__(self) -> str:
        return "<deleted>"


class _Unknown:
    """A written value the history does not hold (a counter's add writes count + n)."""

    def __repr__(self) -> str:
        return "<unknown>"


DELETED: Final = _Deleted()
UNKNOWN_VALUE: Final = _Unknown()


@dataclass(frozen=True, slots=True)
class Read:
    """A read of one etcd key: the value it returned and the key's revisions."""

    key: Hashable
    value: Any
    mod_rev: int
    create_rev: int
    version: int


@dataclass(frozen=True, slots=True)
class Touches:
    """What one op does to etcd keys, by its profile.

    ``writes``: ``(key, value)`` the op writes if it takes effect (``DELETED`` for a
    delete, ``UNKNOWN_VALUE`` when the history does not say); ``reads``: what an ``ok``
    read returned (empty for an op that did not complete ok)."""

    writes: tuple[tuple[Hashable, Any], ...] = ()
    reads: tuple[Read, ...] = ()


#: A profile maps (invocation, completion or None) to what the op touches.
Profile = Callable[[Op, Op | None], Touches]
_NOTHING: Final = Touches()


def _single_read(key: Hashable, value: Any, done: Op | None) -> tuple[Read, ...]:
    """The read of ``key`` recorded in ``done.extra`` (``mod_rev`` etc.), if it completed ok with them."""
    if done is None or done.type is not OpType.OK or not done.extra or "mod_rev" not in done.extra:
        return ()
    x = done.extra
    return (Read(key, value, _int(x.get("mod_rev")), _int(x.get("create_rev")), _int(x.get("version"))),)


def _int(value: Any) -> int:
    return value if type(value) is int else 0


def _took_effect_value(done: Op | None) -> bool:
    """False when the completion says the write certainly changed nothing (a txn whose compare failed)."""
    return not (done is not None and done.extra and done.extra.get("succeeded") is False)


def register_profile(inv: Op, done: Op | None) -> Touches:
    """``register``: ``read`` / ``write v`` / ``cas [old, new]`` of key ``op.key``."""
    if inv.f == "read":
        return Touches(reads=_single_read(inv.key, None if done is None else done.value, done))
    if inv.f == "write":
        return Touches(writes=((inv.key, inv.value),))
    if inv.f == "cas" and isinstance(inv.value, list | tuple) and len(inv.value) == 2:
        return Touches(writes=((inv.key, inv.value[1]),)) if _took_effect_value(done) else _NOTHING
    return _NOTHING


def counter_profile(inv: Op, done: Op | None) -> Touches:
    """``counter``: ``add n`` writes count + n (not in the history); ``read`` returns the count."""
    if inv.f == "read":
        return Touches(reads=_single_read("counter", None if done is None else done.value, done))
    if inv.f == "add" and _took_effect_value(done):
        return Touches(writes=(("counter", UNKNOWN_VALUE),))
    return _NOTHING


def folder_profile(inv: Op, done: Op | None) -> Touches:
    """``folder``: ``put [sub, v]``, ``delete sub`` and whole-folder ``read`` s (``extra.mod_revs``)."""
    folder = inv.key
    if inv.f == "put" and isinstance(inv.value, list | tuple) and len(inv.value) == 2:
        return Touches(writes=(((folder, inv.value[0]), inv.value[1]),))
    if inv.f == "delete":
        if done is not None and done.type is OpType.OK and not _deleted_something(done):
            return _NOTHING  # an absent key: no revision was made
        return Touches(writes=(((folder, inv.value), DELETED),))
    if inv.f == "read" and done is not None and done.type is OpType.OK and done.extra:
        revs = done.extra.get("mod_revs")
        values = done.value if isinstance(done.value, dict) else {}
        if isinstance(revs, dict):
            return Touches(reads=tuple(
                Read((folder, sub), values.get(sub), _int(r[0]), _int(r[1]), _int(r[2]))
                for sub, r in revs.items() if isinstance(r, list | tuple) and len(r) == 3))
    return _NOTHING


def _deleted_something(done: Op) -> bool:
    if done.extra and type(done.extra.get("deleted")) is int:
        return bool(done.extra["deleted"] > 0)
    return done.value is not False and not (isinstance(done.value, list) and done.value[-1:] == [None])


def watch_profile(inv: Op, done: Op | None) -> Touches:
    """``watch`` writers on the v3 folder: ``put [sub, v]`` and ``delete [sub, null]``. Watch sessions and
    v2 ops carry no revision of this kind."""
    if inv.key != "v3" or not isinstance(inv.value, list | tuple) or len(inv.value) < 2:
        return _NOTHING
    if inv.f == "put":
        return Touches(writes=((("v3", inv.value[0]), inv.value[1]),))
    if inv.f == "delete":
        if done is not None and done.type is OpType.OK and not _deleted_something(done):
            return _NOTHING
        return Touches(writes=((("v3", inv.value[0]), DELETED),))
    return _NOTHING


def ttl_profile(inv: Op, done: Op | None) -> Touches:
    """``ttl`` on v3 keys (``op.key`` ``"v3/k<n>"``): ``write [value, ttl]`` under a lease, ``read``. Lease
    expiry deletes keys without an op, and no key is written twice, so version and value checks stay sound."""
    if not str(inv.key).startswith("v3/"):
        return _NOTHING
    if inv.f == "write" and isinstance(inv.value, list | tuple) and len(inv.value) == 2:
        return Touches(writes=((inv.key, inv.value[0]),))
    if inv.f == "read":
        return Touches(reads=_single_read(inv.key, None if done is None else done.value, done))
    return _NOTHING


def lock_profile(inv: Op, done: Op | None) -> Touches:
    """``lock`` workloads: acquire and release carry header revisions only (the lock service's own keys are
    created and deleted by the server, and by lease expiry); ``lock-etcd-set``'s fenced ``add`` writes the set
    key of its lock."""
    if inv.f == "add" and done is not None and done.extra and "succeeded" in done.extra:
        return Touches(writes=((("set", inv.key), UNKNOWN_VALUE),)) if _took_effect_value(done) else _NOTHING
    return _NOTHING


def header_only_profile(inv: Op, done: Op | None) -> Touches:
    """Header revisions only (``realtime``)."""
    return _NOTHING


#: Profile name → profile. Each workload names its own in ``checkers()``.
PROFILES: Final[dict[str, Profile]] = {
    "register": register_profile,
    "counter": counter_profile,
    "folder": folder_profile,
    "watch": watch_profile,
    "ttl": ttl_profile,
    "lock": lock_profile,
    "header-only": header_only_profile,
}


class LimitReached(Exception):
    """The check's time or memory limit was reached."""


@dataclass(slots=True)
class _Bound:
    """The check's limits, looked at every ``_EVERY`` ticks: :class:`LimitReached` past either."""

    deadline: float
    time_limit: float
    memory_limit: int
    memory_base: int
    ticks: int = 0

    def tick(self) -> None:
        self.ticks += 1
        if self.ticks % _EVERY:
            return
        if self.deadline and time.monotonic() > self.deadline:
            raise LimitReached(f"time limit of {self.time_limit:g} s reached")
        if self.memory_limit and _rss() - self.memory_base > self.memory_limit:
            raise LimitReached(f"memory limit of {self.memory_limit / 2**20:.0f} MiB reached")


def _rss() -> int:
    """Resident set size now (Linux); 0 where unknown, so the memory limit is not enforced there."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


@dataclass(slots=True)
class _Seen:
    """One client op: its invocation, completion and header revision (None: none recorded)."""

    inv: Op
    done: Op | None
    rev: int | None
    linear: bool
    touches: Touches

    @property
    def completed_ok(self) -> bool:
        return self.done is not None and self.done.type is OpType.OK

    def describe(self) -> str:
        """``p3's write 4 of key 2 (op 12, ok at 1.503 s, revision 40)``: both ends of a violation read so."""
        key = "" if self.inv.key is None else f" of key {self.inv.key!r}"
        value = "" if self.inv.value is None else f" {self.inv.value!r}"
        returned = f" → {self.done.value!r}" if self.done is not None and self.inv.f == "read" and self.completed_ok \
            else ""
        end = "never completed" if self.done is None else f"{self.done.type.value} at {self.done.time / 1e9:.3f} s"
        rev = "" if self.rev is None else f", revision {self.rev}"
        return (f"p{self.inv.process}'s {self.inv.f}{value}{key}{returned} "
                f"(op {self.inv.index}, invoked at {self.inv.time / 1e9:.3f} s, {end}{rev})")

    def ref(self) -> dict[str, Any]:
        """The op for the details: indexes, process, f, values, times, revision."""
        return {"index": self.inv.index, "complete_index": None if self.done is None else self.done.index,
                "process": self.inv.process, "f": self.inv.f, "key": self.inv.key, "value": self.inv.value,
                "returned": None if self.done is None else self.done.value,
                "invoke_time": self.inv.time, "complete_time": None if self.done is None else self.done.time,
                "rev": self.rev}


@dataclass(slots=True)
class _Findings:
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    listed: list[dict[str, Any]] = field(default_factory=list)

    def add(self, check: str, why: str, *ops: _Seen) -> None:
        self.counts[check] += 1
        if self.counts[check] <= MAX_LISTED:
            self.listed.append({"check": check, "why": why, "ops": [o.ref() for o in ops]})


class RevisionChecker:
    """Checks the revisions etcd reported (see the module docstring). ``profile``: a name in :data:`PROFILES`
    (ValueError for another)."""

    name = "revisions"

    def __init__(self, profile: str = "register") -> None:
        if profile not in PROFILES:
            raise ValueError(f"unknown revision profile {profile!r} (known: {', '.join(sorted(PROFILES))})")
        self.profile = profile

    def check(self, history: History, ctx: CheckContext) -> Result:
        started = ctx.started or time.monotonic()
        bound = _Bound(deadline=started + ctx.time_limit if ctx.time_limit else 0.0, time_limit=ctx.time_limit,
                       memory_limit=ctx.memory_limit, memory_base=_rss() if ctx.memory_limit else 0)
        try:
            return self._check(history, bound, started)
        except LimitReached as e:
            return Result(UNKNOWN, f"revision checks: {e}", {"profile": self.profile})

    def _check(self, history: History, bound: _Bound, started: float) -> Result:
        profile = PROFILES[self.profile]
        seen: list[_Seen] = []
        for inv, done in history.pairs():
            bound.tick()
            if not inv.is_client:
                continue
            extra = done.extra if done is not None and done.extra else {}
            rev = extra.get("rev")
            rev = rev if type(rev) is int and rev > 0 else None
            seen.append(_Seen(inv, done, rev, not extra.get("serializable"), profile(inv, done)))
        with_rev = [s for s in seen if s.rev is not None]
        checked: dict[str, int] = {}
        details: dict[str, Any] = {"profile": self.profile, "ops": len(seen), "ops_with_rev": len(with_rev),
                                   "checked": checked}
        if not with_rev:
            # As the other checkers do with nothing to check: valid, saying so (a history recorded
            # before revisions keeps its verdict). The integration tests make sure real runs carry them.
            why = "no op carries a revision" if seen else "the history has no client ops"
            details["checked"] = dict.fromkeys(("realtime", "write-after", "unique", "reads", "versions"), 0)
            return Result(True, f"nothing to check: {why}", details)
        findings = _Findings()
        writes = [s for s in with_rev if s.completed_ok and s.touches.writes]
        checked["realtime"], checked["write-after"] = _check_realtime(with_rev, findings, bound)
        by_rev = _check_unique(writes, findings, bound)
        checked["unique"] = len(writes)
        checked["reads"] = _check_reads(seen, by_rev, findings, bound)
        checked["versions"] = _check_versions(seen, findings, bound)
        details["violation_counts"] = dict(findings.counts)
        details["violations"] = findings.listed
        details["time_s"] = round(time.monotonic() - started, 6)
        total = sum(findings.counts.values())
        if total:
            first = findings.listed[0]
            more = f" ({total - 1} more violation{'s' if total > 2 else ''})" if total > 1 else ""
            return Result(False, f"{first['check']}: {first['why']}{more}", details)
        return Result(True, f"{len(with_rev)} ops with revisions: real time checked on {checked['realtime']}, "
                            f"{checked['unique']} writes unique, {checked['reads']} reads and "
                            f"{checked['versions']} versions consistent", details)


def _check_realtime(ops: list[_Seen], findings: _Findings, bound: _Bound) -> tuple[int, int]:
    """``realtime`` and ``write-after``, one sweep in invocation order over completions in time order:
    O(n log n). Returns (ops checked, writes checked)."""
    linear = [s for s in ops if s.linear and s.done is not None]
    completions = sorted(linear, key=lambda s: s.done.time if s.done is not None else 0)
    done_times = [s.done.time for s in completions if s.done is not None]
    best: _Seen | None = None
    taken = 0
    checked = writes = 0
    for op in sorted(linear, key=lambda s: s.inv.time):
        bound.tick()
        # Every op that completed strictly before this one was invoked.
        upto = bisect.bisect_left(done_times, op.inv.time)
        while taken < upto:
            cand = completions[taken]
            if best is None or (cand.rev or 0) > (best.rev or 0):
                best = cand
            taken += 1
        assert op.rev is not None
        is_write = op.completed_ok and bool(op.touches.writes)
        writes += int(is_write)
        checked += 1
        if best is None or best.rev is None:
            continue
        if op.rev < best.rev:
            findings.add("realtime", f"{op.describe()} saw a header revision below that of {best.describe()}, "
                                     "which had completed before it was invoked: revisions went back in real time",
                         best, op)
        elif is_write and op.rev == best.rev:
            findings.add("write-after", f"{op.describe()} wrote at revision {op.rev}, but {best.describe()} had "
                                        "already completed at that revision before the write began: a write makes "
                                        "a new revision", best, op)
    return checked, writes


def _check_unique(writes: list[_Seen], findings: _Findings, bound: _Bound) -> dict[int, _Seen]:
    """``unique``: revision → the write at it (the first one, when two claim it)."""
    by_rev: dict[int, _Seen] = {}
    for w in writes:
        bound.tick()
        assert w.rev is not None
        other = by_rev.get(w.rev)
        if other is None:
            by_rev[w.rev] = w
        else:
            findings.add("unique", f"{other.describe()} and {w.describe()} both wrote at revision {w.rev}: a "
                                   "revision is one transaction", other, w)
    return by_rev


def _same(a: Any, b: Any) -> bool:
    return a is UNKNOWN_VALUE or b is UNKNOWN_VALUE or a == b


def _check_reads(seen: list[_Seen], by_rev: dict[int, _Seen], findings: _Findings, bound: _Bound) -> int:
    """``reads``: returns how many key reads (present keys) were checked."""
    first_at: dict[tuple[Hashable, int], tuple[_Seen, Read]] = {}
    checked = 0
    for op in seen:
        for r in op.touches.reads:
            bound.tick()
            if r.mod_rev <= 0:
                continue  # absent: nothing to compare
            checked += 1
            where = f"key {r.key!r}"
            if not r.create_rev <= r.mod_rev or (op.rev is not None and r.mod_rev > op.rev):
                findings.add("reads", f"{op.describe()} read {where} with create_revision {r.create_rev} and "
                                      f"mod_revision {r.mod_rev} under header revision {op.rev}: they must be in "
                                      "that order", op)
            elif (r.version == 1) != (r.create_rev == r.mod_rev):
                findings.add("reads", f"{op.describe()} read {where} at version {r.version} with create_revision "
                                      f"{r.create_rev} and mod_revision {r.mod_rev}: version 1 means created at the "
                                      "mod_revision, and only then", op)
            writer = by_rev.get(r.mod_rev)
            if writer is not None:
                wrote = [(k, v) for k, v in writer.touches.writes if k == r.key]
                if not wrote:
                    findings.add("reads", f"{op.describe()} read {where} with mod_revision {r.mod_rev}, but "
                                          f"revision {r.mod_rev} is {writer.describe()}, which wrote "
                                          f"{_keys(writer)}", writer, op)
                elif wrote[0][1] is DELETED:
                    findings.add("reads", f"{op.describe()} read {where} present with mod_revision {r.mod_rev}, "
                                          f"but revision {r.mod_rev} is {writer.describe()}, which deleted it",
                                 writer, op)
                elif not _same(wrote[0][1], r.value):
                    findings.add("reads", f"{op.describe()} read {r.value!r} from {where} with mod_revision "
                                          f"{r.mod_rev}, but revision {r.mod_rev} is {writer.describe()}, which "
                                          f"wrote {wrote[0][1]!r}", writer, op)
            prior = first_at.setdefault((r.key, r.mod_rev), (op, r))
            if prior[0] is not op:
                p = prior[1]
                if (p.value, p.version, p.create_rev) != (r.value, r.version, r.create_rev):
                    findings.add("reads", f"{prior[0].describe()} and {op.describe()} both read {where} at "
                                          f"mod_revision {r.mod_rev} but disagree: value {p.value!r} vs "
                                          f"{r.value!r}, version {p.version} vs {r.version}, create_revision "
                                          f"{p.create_rev} vs {r.create_rev}", prior[0], op)
    return checked


def _keys(op: _Seen) -> str:
    return ", ".join(repr(k) for k, _ in op.touches.writes) or "no key"


def _check_versions(seen: list[_Seen], findings: _Findings, bound: _Bound) -> int:
    """``versions``: returns how many reads' versions were checked."""
    puts: dict[Hashable, list[int]] = defaultdict(list)  # key → sorted revisions of known writes
    deletes: dict[Hashable, list[tuple[int, _Seen]]] = defaultdict(list)
    unknown: dict[Hashable, list[int]] = defaultdict(list)  # key → invoke times of writes of unknown revision
    for op in seen:
        bound.tick()
        if op.done is not None and op.done.type is OpType.FAIL:
            continue  # certainly changed nothing
        rev_known = op.completed_ok and op.rev is not None
        for key, value in op.touches.writes:
            if value is DELETED:
                if rev_known:
                    assert op.rev is not None
                    deletes[key].append((op.rev, op))
            elif rev_known:
                assert op.rev is not None
                puts[key].append(op.rev)
            else:
                unknown[key].append(op.inv.time)
    for table in (puts, unknown):
        for values in table.values():
            values.sort()
    for rows in deletes.values():
        rows.sort(key=lambda row: row[0])
    checked = 0
    for op in seen:
        for r in op.touches.reads:
            bound.tick()
            if r.mod_rev <= 0 or r.version <= 0 or r.create_rev > r.mod_rev:
                continue  # absent, or already reported as out of order
            checked += 1
            where = f"key {r.key!r}"
            revs = puts.get(r.key, [])
            known = bisect.bisect_right(revs, r.mod_rev) - bisect.bisect_left(revs, r.create_rev)
            rows = deletes.get(r.key, [])
            inside = [d for rev, d in rows if r.create_rev < rev <= r.mod_rev]
            complete = op.done.time if op.done is not None else 1 << 62
            maybe = bisect.bisect_left(unknown.get(r.key, []), complete)
            if inside:
                d = inside[0]
                findings.add("versions", f"{op.describe()} read {where} created at revision {r.create_rev} and "
                                         f"modified at {r.mod_rev}, but {d.describe()} deleted it in between",
                             d, op)
            elif known > r.version:
                findings.add("versions", f"{op.describe()} read {where} at version {r.version}, but {known} "
                                         f"acknowledged writes of it lie between its create_revision "
                                         f"{r.create_rev} and mod_revision {r.mod_rev}", op)
            elif r.version > known + maybe:
                findings.add("versions", f"{op.describe()} read {where} at version {r.version}, but at most "
                                         f"{known + maybe} writes of it can lie between its create_revision "
                                         f"{r.create_rev} and mod_revision {r.mod_rev} ({known} acknowledged "
                                         f"there, {maybe} of unknown revision)", op)
    return checked


__all__ = [
    "DELETED",
    "PROFILES",
    "UNKNOWN_VALUE",
    "Profile",
    "Read",
    "RevisionChecker",
    "Touches",
    "counter_profile",
    "folder_profile",
    "header_only_profile",
    "lock_profile",
    "register_profile",
    "ttl_profile",
    "watch_profile",
]
