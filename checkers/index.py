"""The index checker: the v2 ``X-Etcd-Index`` is monotonic in real time.

Input: ``ok`` ops whose value holds ``index`` (the ``X-Etcd-Index`` of the
response) and, for writes, ``modified`` (the write's modifiedIndex). Rules, for
ops A and B where A completed before B was invoked (real-time order):

1. ``B.index >= A.index``: an op never sees the index go back;
2. if B is a write, ``B.modified > A.index``: a write lands after everything
   that finished before it began (so successive writes see strictly
   increasing modifiedIndex values);
3. for any op, ``modified <= index`` (a key cannot be newer than the store).

Ops that failed or whose outcome is unknown say nothing and are skipped.
Each violation names both ops. Runs in O(n log n): a sweep over invocations
in time order holding the completed op with the largest index so far.

Example::

    >>> IndexChecker().check(history, CheckContext()).reason
    'op 41 (read, index 17) began after op 33 (write, index 20) completed, but saw a smaller index'
"""

from __future__ import annotations

import time
from typing import Any

from checkers._result import UNKNOWN, CheckContext, Result
from harness.core import History, Op

MAX_LISTED = 50


class IndexChecker:
    name = "index"

    def check(self, history: History, ctx: CheckContext) -> Result:
        deadline = time.monotonic() + ctx.time_limit if ctx.time_limit else 0.0
        pairs: list[tuple[Op, Op]] = []
        for inv, done in history.pairs():
            if inv.is_client and done is not None and done.is_ok and isinstance(done.value, dict) \
                    and isinstance(done.value.get("index"), int):
                pairs.append((inv, done))
        # completions in time order, consumed as the sweep passes each invocation
        by_completion = sorted(pairs, key=lambda p: p[1].time)
        by_invocation = sorted(pairs, key=lambda p: p[0].time)
        violations: list[dict[str, Any]] = []
        best: tuple[Op, Op] | None = None  # the completed op with the largest index so far
        c = 0
        for n, (inv, done) in enumerate(by_invocation):
            if deadline and n % 4096 == 0 and time.monotonic() > deadline:
                return Result(UNKNOWN, f"time limit of {ctx.time_limit:g} s reached",
                              {"checked_ops": n, "violations": violations})
            while c < len(by_completion) and by_completion[c][1].time < inv.time:
                if best is None or by_completion[c][1].value["index"] > best[1].value["index"]:
                    best = by_completion[c]
                c += 1
            index = done.value["index"]
            modified = done.value.get("modified")
            if isinstance(modified, int) and modified > index:
                violations.append(_violation(f"op {done.index} ({_name(inv, done)}) has modifiedIndex {modified} "
                                             f"above its X-Etcd-Index {index}", None, (inv, done)))
            if best is None:
                continue
            prior = best[1].value["index"]
            if index < prior:
                violations.append(_violation(
                    f"op {done.index} ({_name(inv, done)}) began after op {best[1].index} ({_name(*best)}) "
                    "completed, but saw a smaller index", best, (inv, done)))
            elif inv.f == "write" and isinstance(modified, int) and modified <= prior:
                violations.append(_violation(
                    f"write op {done.index} got modifiedIndex {modified}, but began after op {best[1].index} "
                    f"({_name(*best)}) completed: a write must land above it", best, (inv, done)))
        details: dict[str, Any] = {"checked_ops": len(pairs), "violation_count": len(violations),
                                   "violations": violations[:MAX_LISTED]}
        if violations:
            more = f" ({len(violations) - 1} more)" if len(violations) > 1 else ""
            return Result(False, violations[0]["what"] + more, details)
        if not pairs:
            return Result(UNKNOWN, "no op reported an index: nothing to check", details)
        return Result(True, f"the index never went back over {len(pairs)} ops", details)


def _name(inv: Op, done: Op) -> str:
    return f"{inv.f}, index {done.value['index']}"


def _op(pair: tuple[Op, Op]) -> dict[str, Any]:
    inv, done = pair
    return {"index": done.index, "process": done.process, "f": inv.f, "key": inv.key, "value": done.value,
            "invoke_time": inv.time, "complete_time": done.time}


def _violation(what: str, earlier: tuple[Op, Op] | None, later: tuple[Op, Op]) -> dict[str, Any]:
    return {"what": what, "earlier": None if earlier is None else _op(earlier), "later": _op(later)}
