"""Bounds on a grow-only counter: :class:`CounterChecker` (Jepsen's counter checker).

The history holds ``add`` ops (``value``: a non-negative increment) and ``read``
ops (``ok`` value: the count read). The counter starts at 0. Each ``ok`` read must
lie in ``[lower, upper]``, where

* ``lower`` is the sum of the increments *certainly applied before the read
  began*: ``ok`` adds that completed before the read's invocation;
* ``upper`` is the sum of every increment that *may have been applied by the
  time the read ended*: adds invoked before the read's completion that did not
  ``fail`` (``ok``, ``info``, or never completed).

A read below ``lower`` lost increments; a read above ``upper`` saw phantom ones.
The *final* read is the last ``ok`` read (the workload reads once more after the
nemesis healed), so its ``lower`` is every acknowledged increment.

``details``::

    {"reads": [{"index", "time", "value", "lower", "upper", "ok"}],   # bad reads first, capped
     "read_count": n, "bad_reads": n,
     "final": {"index", "time", "value", "lower", "upper", "ok"} | null,
     "lost": n,      # the final read's shortfall below its lower bound (0 if none)
     "phantom": n,   # the final read's excess above its upper bound (0 if none)
     "worst_lost": n, "worst_phantom": n,  # the largest over all reads
     "acknowledged": n, "attempted": n}
"""

from __future__ import annotations

import bisect
import itertools
import time
from typing import Any

from checkers._result import UNKNOWN, CheckContext, Result
from harness.core import History, OpType

#: Reads listed in the details: every bad one (up to this cap), then a sample of good ones.
MAX_READS = 2000


class CounterChecker:
    """Every read lies between the increments certainly applied and those possibly applied."""

    name = "counter"

    def check(self, history: History, ctx: CheckContext) -> Result:
        t0 = time.monotonic()
        ok_done: list[tuple[int, int]] = []  # (completion time, n) of ok adds
        maybe_invoked: list[tuple[int, int]] = []  # (invocation time, n) of adds that did not fail
        reads: list[tuple[int, int, int, Any]] = []  # (index, invoke time, complete time, value)
        for inv, done in history.pairs():
            if not inv.is_client:
                continue
            if inv.f == "add":
                n = 1 if inv.value is None else inv.value
                if type(n) is not int or n < 0:
                    return Result(UNKNOWN, f"op {inv.index}: an add must be a non-negative integer, got {n!r}")
                if done is not None and done.type is OpType.OK:
                    ok_done.append((done.time, n))
                if done is None or done.type is not OpType.FAIL:
                    maybe_invoked.append((inv.time, n))
            elif inv.f == "read" and done is not None and done.type is OpType.OK:
                reads.append((done.index, inv.time, done.time, done.value))
        ok_done.sort()
        maybe_invoked.sort()
        ok_times = [t for t, _ in ok_done]
        ok_sums = [0, *itertools.accumulate(n for _, n in ok_done)]
        maybe_times = [t for t, _ in maybe_invoked]
        maybe_sums = [0, *itertools.accumulate(n for _, n in maybe_invoked)]
        checked: list[dict[str, Any]] = []
        for i, (index, t_inv, t_done, value) in enumerate(reads):
            if ctx.time_limit and i % 4096 == 0 and time.monotonic() - t0 > ctx.time_limit:
                return Result(UNKNOWN, f"time limit of {ctx.time_limit:g} s reached after {i} reads")
            lower = ok_sums[bisect.bisect_left(ok_times, t_inv)]
            upper = maybe_sums[bisect.bisect_left(maybe_times, t_done)]
            good = type(value) is int and lower <= value <= upper
            checked.append({"index": index, "time": t_done, "value": value, "lower": lower, "upper": upper,
                            "ok": good})
        bad = [r for r in checked if not r["ok"]]
        final = checked[-1] if checked else None

        def shortfall(r: dict[str, Any]) -> int:
            return max(0, r["lower"] - r["value"]) if type(r["value"]) is int else 0

        def excess(r: dict[str, Any]) -> int:
            return max(0, r["value"] - r["upper"]) if type(r["value"]) is int else 0

        good_sample = [r for r in checked if r["ok"]]
        room = max(0, MAX_READS - len(bad))
        if len(good_sample) > room:
            step = len(good_sample) / room if room else 0
            good_sample = [good_sample[int(k * step)] for k in range(room)]
        details: dict[str, Any] = {
            "reads": bad[:MAX_READS] + good_sample,
            "read_count": len(checked),
            "bad_reads": len(bad),
            "final": final,
            "lost": shortfall(final) if final else 0,
            "phantom": excess(final) if final else 0,
            "worst_lost": max((shortfall(r) for r in checked), default=0),
            "worst_phantom": max((excess(r) for r in checked), default=0),
            "acknowledged": ok_sums[-1],
            "attempted": maybe_sums[-1],
        }
        if bad:
            first = bad[0]
            parts = [f"{len(bad)} of {len(checked)} reads out of bounds; first: read {first['value']} "
                     f"(op {first['index']}) outside [{first['lower']}, {first['upper']}]"]
            if details["worst_lost"]:
                parts.append(f"lost up to {details['worst_lost']}")
            if details["worst_phantom"]:
                parts.append(f"phantom up to {details['worst_phantom']}")
            if final is not None and not final["ok"]:
                parts.append(f"final read {final['value']} outside [{final['lower']}, {final['upper']}]")
            return Result(False, "; ".join(parts), details)
        if final is None:
            return Result(UNKNOWN, "no read succeeded, so nothing was checked", details)
        return Result(True, f"{len(checked)} reads within bounds; final read {final['value']} in "
                            f"[{final['lower']}, {final['upper']}]", details)


__all__ = ["CounterChecker"]
