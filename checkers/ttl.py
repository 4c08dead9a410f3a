"""The TTL checker: expired keys stay gone while the cluster is healthy; values read were written.

Input: a ``ttl`` workload history (``write [value, ttl]``, ``read`` → value or
null, per key). Expiry is a timing property, so only sound claims are checked:

1. A value read was written to that key by a write invoked before the read
   completed, and that write did not fail.
2. Expiry. The cluster is *healthy* from ``settle_s`` after the last fault
   stopped (or from the start) until the next fault starts; nemesis ops with
   ``f`` ``start-*``/``kill``/``pause`` start a fault, ``stop-*``/``restart``/
   ``resume`` end it. For a healthy stretch beginning at ``h0``, a key written by
   an ``ok`` write W with TTL ``T`` must not be read back by a read invoked in
   that stretch later than ``max(W.complete, h0) + T + tolerance_s``. The
   tolerance covers the leader's expiry tick, a v3 lease's extension by an
   election timeout after a leader change, and scheduling. Writes whose outcome
   is unknown may have been applied at any later time, so they bound nothing.

Each violation names the read and the write.
"""

from __future__ import annotations

import time
from typing import Any

from checkers._result import UNKNOWN, CheckContext, Result
from harness.core import History, Op

MAX_LISTED = 50
_STARTS = ("kill", "pause")
_STOPS = ("restart", "resume")


def healthy_stretches(history: History, settle_ns: int) -> list[tuple[int, int]]:
    """``(start, end)`` times (ns) when no fault was active, each starting ``settle_ns`` after a fault ended."""
    stretches: list[tuple[int, int]] = []
    active: set[str] = set()
    begin: int | None = 0
    for op in history:
        if op.is_client:
            continue
        f = op.f
        if op.is_invoke and (f.startswith("start-") or f in _STARTS):
            if not active and begin is not None and op.time > begin:
                stretches.append((begin, op.time))
            active.add(_family(f))
            begin = None
        elif not op.is_invoke and (f.startswith("stop-") or f in _STOPS):
            active.discard(_family(f))
            if not active:
                begin = op.time + settle_ns
    if not active and begin is not None:
        stretches.append((begin, 1 << 62))
    return stretches


def _family(f: str) -> str:
    return {"kill": "kill", "restart": "kill", "pause": "pause", "resume": "pause"}.get(f, f.split("-", 1)[-1])


class TTLChecker:
    name = "ttl"

    def __init__(self, *, tolerance_s: float = 2.0, settle_s: float = 2.0) -> None:
        self.tolerance_ns = int(tolerance_s * 1e9)
        self.settle_ns = int(settle_s * 1e9)

    def check(self, history: History, ctx: CheckContext) -> Result:
        deadline = time.monotonic() + ctx.time_limit if ctx.time_limit else 0.0
        stretches = healthy_stretches(history, self.settle_ns)
        writes: dict[tuple[Any, Any], tuple[Op, Op | None]] = {}
        reads: list[tuple[Op, Op]] = []
        for inv, done in history.pairs():
            if not inv.is_client:
                continue
            if inv.f == "write":
                writes[(inv.key, inv.value[0])] = (inv, done)
            elif inv.f == "read" and done is not None and done.is_ok:
                reads.append((inv, done))
        violations: list[dict[str, Any]] = []
        judged = 0
        for n, (inv, done) in enumerate(reads):
            if deadline and n % 4096 == 0 and time.monotonic() > deadline:
                return Result(UNKNOWN, f"time limit of {ctx.time_limit:g} s reached", {"violations": violations})
            if done.value is None:
                continue
            write = writes.get((inv.key, done.value))
            if write is None or write[0].time > done.time:
                violations.append({"what": f"read op {done.index} of {inv.key} returned {done.value!r}, "
                                           "which was never written to it", "read": done.index, "write": None})
                continue
            _w_inv, w_done = write
            if w_done is not None and w_done.is_fail:
                violations.append({"what": f"read op {done.index} of {inv.key} returned {done.value!r}, written by "
                                           f"op {w_done.index}, which failed", "read": done.index,
                                   "write": w_done.index})
                continue
            if w_done is None or not w_done.is_ok:
                continue
            ttl_ns = int(float(w_done.value[1]) * 1e9)
            for h0, h1 in stretches:
                if h0 <= inv.time < h1:
                    judged += 1
                    due = max(w_done.time, h0) + ttl_ns + self.tolerance_ns
                    if inv.time > due:
                        late = (inv.time - due + self.tolerance_ns) / 1e9
                        violations.append({
                            "what": f"read op {done.index} of {inv.key} returned {done.value!r} {late:.2f} s after "
                                    f"it should have expired (TTL {w_done.value[1]} s, write op {w_done.index}), "
                                    f"on a healthy cluster, beyond a tolerance of {self.tolerance_ns / 1e9:g} s",
                            "read": done.index, "write": w_done.index, "late_s": round(late, 3)})
                    break
        details: dict[str, Any] = {"reads": len(reads), "reads_judged_for_expiry": judged,
                                   "healthy_stretches_s": [[a / 1e9, min(b, 1 << 40) / 1e9] for a, b in stretches],
                                   "violation_count": len(violations), "violations": violations[:MAX_LISTED]}
        if violations:
            more = f" ({len(violations) - 1} more)" if len(violations) > 1 else ""
            return Result(False, violations[0]["what"] + more, details)
        return Result(True, f"{len(reads)} reads returned written values; {judged} present-value reads in healthy "
                            "stretches were within expiry", details)
