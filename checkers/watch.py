"""The watch checker: every watcher sees every committed change in its folder exactly once, in order.

Input: a ``watch`` workload history (see ``workloads.watch`` for the ops). Per
folder (``op.key``), the checker builds the *changes*: revision → (subkey,
value or ``None`` for a delete), from the writers' acknowledged writes and from
every event any watcher received, and reports a divergence when

* two sources disagree about a revision (two watchers, or a watcher and the
  writer's acknowledgement), or an event carries a value nobody wrote, or one
  write shows up at two revisions;
* a watcher's events are not in strictly increasing revision order (an event
  seen twice, or out of order);
* a session resumed later than where the previous one stopped (a gap);
* a watcher lacks a change inside its *coverage*: from its first session's
  start revision up to the newest revision it received, or up to the revision
  at which its catch-up session was created when that session ended quietly
  on the healthy cluster after heal (all older events are history by then);
* the final recursive read of the folder differs from replaying the changes.

The first divergence (lowest revision) is the reason; up to 50 are listed.
Conditions that make a watcher's coverage unverifiable are reported and turn
the verdict to ``unknown`` (never silently skipped): a v3 start revision that
was compacted, a v2 ``EventIndexCleared`` (the 1000-event window), or a
watcher whose coverage ends before the last change.
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from checkers._result import UNKNOWN, CheckContext, Result
from harness.core import History, Op

MAX_LISTED = 50


@dataclass(slots=True)
class _Watcher:
    name: str
    folder: Any
    sessions: list[tuple[Op, Op]] = field(default_factory=list)
    seen: dict[int, tuple[str, Any]] = field(default_factory=dict)
    low: int | None = None
    high: int = -1
    excused: list[tuple[int, int]] = field(default_factory=list)
    delivered: int = 0


@dataclass(slots=True)
class _Problem:
    revision: int
    text: str
    ops: list[int]


class _OutOfTime(Exception):
    pass


class WatchChecker:
    """See the module docstring. Stateless; ``check`` never raises for a bad history."""

    name = "watch"

    def check(self, history: History, ctx: CheckContext) -> Result:
        deadline = time.monotonic() + ctx.time_limit if ctx.time_limit else 0.0
        try:
            return self._check(history, deadline)
        except _OutOfTime:
            return Result(UNKNOWN, f"time limit of {ctx.time_limit:g} s reached")
        except (KeyError, TypeError, ValueError, IndexError) as e:
            return Result(UNKNOWN, f"not a watch history: {type(e).__name__}: {e}")

    def _check(self, history: History, deadline: float) -> Result:
        problems: list[_Problem] = []
        conditions: list[str] = []
        folders: dict[Hashable, dict[str, Any]] = {}
        watchers: dict[str, _Watcher] = {}
        for inv, done in history.pairs():
            if not inv.is_client or done is None:
                if inv.is_client and inv.f in ("put", "delete"):
                    folders.setdefault(inv.key, _folder()).setdefault("pending", []).append(inv)
                continue
            folder = folders.setdefault(inv.key, _folder())
            if inv.f in ("put", "delete"):
                folder["writes"].append((inv, done))
            elif inv.f == "watch" and done.is_ok:
                name = str(done.value["watcher"])
                watchers.setdefault(name, _Watcher(name, inv.key)).sessions.append((inv, done))
            elif inv.f == "read" and done.is_ok:
                folder["read"] = done

        details: dict[str, Any] = {"folders": {}, "watchers": {}}
        for key, folder in folders.items():
            mine = [w for w in watchers.values() if w.folder == key]
            changes = self._changes(key, folder, mine, problems, deadline)
            self._coverage(mine, changes, problems, conditions, deadline)
            self._final_read(key, folder, changes, mine, problems, conditions)
            first = min(changes) if changes else None
            details["folders"][str(key)] = {
                "changes": len(changes),
                "acknowledged_writes": sum(1 for _, d in folder["writes"] if d.is_ok and d.value[2] is not None),
                "first_change": None if first is None else {
                    "revision": first, "change": list(changes[first][:2]),
                    "delivered_to": sorted(w.name for w in mine if first in w.seen),
                    "missed_by": sorted(w.name for w in mine if w.low is not None and w.low <= first
                                        and first not in w.seen)},
            }
        for w in watchers.values():
            details["watchers"][w.name] = {"folder": str(w.folder), "sessions": len(w.sessions),
                                           "events": w.delivered, "coverage": [w.low, w.high]}
        problems.sort(key=lambda p: p.revision)
        details["divergences"] = [{"revision": p.revision, "what": p.text, "ops": p.ops}
                                  for p in problems[:MAX_LISTED]]
        details["divergence_count"] = len(problems)
        details["conditions"] = conditions
        if problems:
            more = f" ({len(problems) - 1} more)" if len(problems) > 1 else ""
            return Result(False, f"first divergence at revision {problems[0].revision}: {problems[0].text}{more}",
                          details)
        if conditions:
            return Result(UNKNOWN, conditions[0], details)
        total = sum(w.delivered for w in watchers.values())
        return Result(True, f"{len(watchers)} watchers saw all {sum(d['changes'] for d in details['folders'].values())}"
                            f" changes exactly once, in order ({total} events)", details)

    # -- the changes: revision → (subkey, value) ---------------------------------------------

    def _changes(self, key: Hashable, folder: dict[str, Any], mine: list[_Watcher], problems: list[_Problem],
                 deadline: float) -> dict[int, tuple[str, Any, str, int]]:
        changes: dict[int, tuple[str, Any, str, int]] = {}  # rev → (sub, value, source, op index)
        puts: dict[tuple[str, Any], tuple[Op, Op | None]] = {}
        deletable: set[str] = set()
        for inv, done in folder["writes"]:
            if inv.f == "put":
                puts[(inv.value[0], inv.value[1])] = (inv, done)
            elif not done.is_fail:
                deletable.add(inv.value[0])
            if done.is_ok and done.value[2] is not None:
                rev = int(done.value[2])
                sub, value = done.value[0], (done.value[1] if inv.f == "put" else None)
                if rev in changes:
                    problems.append(_Problem(rev, f"two acknowledged writes at revision {rev}", [changes[rev][3],
                                                                                                done.index]))
                changes[rev] = (sub, value, f"the write acknowledged by op {done.index}", done.index)
        for inv in folder.get("pending", []):
            if inv.f == "put":
                puts[(inv.value[0], inv.value[1])] = (inv, None)
            else:
                deletable.add(inv.value[0])
        where: dict[tuple[str, Any], int] = {(c[0], c[1]): rev for rev, c in changes.items() if c[1] is not None}
        for n, w in enumerate(mine):
            if deadline and n % 8 == 0 and time.monotonic() > deadline:
                raise _OutOfTime
            self._events(w, changes, puts, deletable, where, problems)
        return changes

    def _events(self, w: _Watcher, changes: dict[int, tuple[str, Any, str, int]],
                puts: dict[tuple[str, Any], tuple[Op, Op | None]], deletable: set[str],
                where: dict[tuple[str, Any], int], problems: list[_Problem]) -> None:
        last = -1
        expected_from: int | None = None
        gap_excused = False
        for _inv, done in w.sessions:
            value = done.value
            start = int(value["from"])
            if w.low is None:
                w.low = start
            elif expected_from is not None and start != expected_from:
                if start > expected_from and gap_excused:
                    w.excused.append((expected_from, start - 1))
                elif start > expected_from:
                    problems.append(_Problem(expected_from, f"watcher {w.name} resumed from revision {start}, "
                                             f"but had only seen up to {expected_from - 1}: a gap", [done.index]))
                # an earlier start re-delivers events, which the order check reports
            gap_excused = "compact_revision" in value or "cleared_index" in value
            for rev, sub, val in value["events"]:
                rev = int(rev)
                w.delivered += 1
                if rev <= last:
                    what = "again" if rev in w.seen else "out of order"
                    problems.append(_Problem(rev, f"watcher {w.name} saw revision {rev} {what} after {last}",
                                             [done.index]))
                    continue
                last = rev
                w.seen[rev] = (sub, val)
                w.high = max(w.high, rev)
                known = changes.get(rev)
                if known is not None:
                    if (known[0], known[1]) != (sub, val):
                        problems.append(_Problem(rev, f"watcher {w.name} saw {_show(sub, val)} at revision {rev}, "
                                                 f"but {known[2]} says {_show(known[0], known[1])}",
                                                 [done.index, known[3]]))
                    continue
                changes[rev] = (sub, val, f"watcher {w.name}", done.index)
                if val is None:
                    if sub not in deletable:
                        problems.append(_Problem(rev, f"watcher {w.name} saw a delete of {sub} at revision {rev}, "
                                                 "but no delete of it may have happened", [done.index]))
                elif (sub, val) not in puts:
                    problems.append(_Problem(rev, f"watcher {w.name} saw {_show(sub, val)} at revision {rev}, "
                                             "a value never written", [done.index]))
                else:
                    put_done = puts[(sub, val)][1]
                    if put_done is not None and put_done.is_fail:
                        problems.append(_Problem(rev, f"watcher {w.name} saw {_show(sub, val)} at revision {rev}, "
                                                 f"written by op {put_done.index}, which failed", [done.index,
                                                                                                    put_done.index]))
                    elif (sub, val) in where and where[(sub, val)] != rev:
                        problems.append(_Problem(rev, f"watcher {w.name} saw {_show(sub, val)} at revision {rev}, "
                                                 f"but it was written at revision {where[(sub, val)]}",
                                                 [done.index]))
                    else:
                        where[(sub, val)] = rev
            if "last_revision" in value:
                expected_from = int(value["last_revision"]) + 1
                w.high = max(w.high, int(value["last_revision"]))
            elif expected_from is None:
                expected_from = start
            if value.get("catch_up") and str(value.get("stop", "")).startswith("cut off"):
                # A quiet end on the healthy cluster: everything up to the creation revision was history.
                w.high = max(w.high, int(value.get("created_revision", 0)))

    # -- per-watcher completeness ----------------------------------------------------------------

    def _coverage(self, mine: list[_Watcher], changes: dict[int, tuple[str, Any, str, int]],
                  problems: list[_Problem], conditions: list[str], deadline: float) -> None:
        revisions = sorted(changes)
        for w in mine:
            if deadline and time.monotonic() > deadline:
                raise _OutOfTime
            if w.low is None:
                continue
            for rev in revisions:
                if rev < w.low or rev > w.high or rev in w.seen:
                    continue
                if any(a <= rev <= b for a, b in w.excused):
                    continue
                sub, val, source, index = changes[rev]
                problems.append(_Problem(rev, f"watcher {w.name} missed {_show(sub, val)} at revision {rev} "
                                         f"({source}), within what it covered [{w.low}, {w.high}]", [index]))
            for a, b in w.excused:
                conditions.append(f"watcher {w.name} could not resume: revisions {a}..{b} were compacted or "
                                  "cleared from the event history, so its coverage there is unverified")
            late = [rev for rev in revisions if rev > w.high]
            if late:
                conditions.append(f"watcher {w.name} covered only up to revision {w.high}; {len(late)} later "
                                  f"changes (from revision {late[0]}) could not be confirmed")

    def _final_read(self, key: Hashable, folder: dict[str, Any], changes: dict[int, tuple[str, Any, str, int]],
                    mine: list[_Watcher], problems: list[_Problem], conditions: list[str]) -> None:
        read: Op | None = folder.get("read")
        if read is None:
            if changes:
                conditions.append(f"folder {key}: no final recursive read to compare with")
            return
        at = int(read.value["revision"] or 0)
        state: dict[str, Any] = {}
        for rev in sorted(changes):
            if rev > at:
                break
            sub, val = changes[rev][0], changes[rev][1]
            if val is None:
                state.pop(sub, None)
            else:
                state[sub] = val
        kvs = dict(read.value["kvs"])
        if kvs != state:
            diff = sorted(set(kvs.items()) ^ set(state.items()), key=str)[:5]
            problems.append(_Problem(at, f"folder {key}: the final recursive read at revision {at} shows "
                                     f"{_map(kvs)}, but the changes up to it give {_map(state)} (differing: {diff})",
                                     [read.index]))


def _folder() -> dict[str, Any]:
    return {"writes": [], "read": None}


def _show(sub: str, val: Any) -> str:
    return f"delete {sub}" if val is None else f"put {sub}={val}"


def _map(kvs: dict[str, Any]) -> str:
    items = sorted(kvs.items())
    text = ", ".join(f"{k}={v}" for k, v in items[:8])
    return "{" + text + (f", … {len(items) - 8} more" if len(items) > 8 else "") + "}"
