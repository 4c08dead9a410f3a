"""Set membership after the fact: :class:`SetChecker` (Jepsen's set checker).

The history holds ``add`` ops (``value``: the element) and ``read`` ops (``ok``
value: the elements read), per set (``op.key``). The *final read* of a set is
its last ``ok`` read (the workload's final read, after the nemesis healed).

* ``lost``: elements whose ``add`` was acknowledged (``ok``) but are missing from
  the final read. Any lost element makes the history invalid.
* ``unexpected``: elements in the final read that no ``add`` could have put there:
  never attempted, or only attempted by adds that certainly failed (``fail``).
  Any unexpected element makes the history invalid.
* ``recovered``: elements of ``info`` adds that are present (allowed).

``details``::

    {"sets": {key: {"final_read_index", "acknowledged", "lost": [..], "unexpected": [..],
                    "recovered": n, "attempted": n}},
     "lost": [{"key", "element", "add_index"}], "unexpected": [{"key", "element"}]}

A set without a final read is ``unknown``.
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from typing import Any

from checkers._result import UNKNOWN, CheckContext, Result
from harness.core import History, OpType

MAX_LISTED = 200


class SetChecker:
    """Every acknowledged element is in the final read; nothing else is. See the module docstring."""

    name = "set"

    def check(self, history: History, ctx: CheckContext) -> Result:
        t0 = time.monotonic()
        ok_adds: dict[Hashable, dict[Any, int]] = {}
        maybe: dict[Hashable, set[Any]] = {}  # ok or info (or pending): may be present
        final: dict[Hashable, tuple[int, list[Any]]] = {}
        for n, (inv, done) in enumerate(history.pairs()):
            if ctx.time_limit and n % 4096 == 0 and time.monotonic() - t0 > ctx.time_limit:
                return Result(UNKNOWN, f"time limit of {ctx.time_limit:g} s reached")
            if not inv.is_client:
                continue
            if inv.f == "add":
                if done is None or done.type is not OpType.FAIL:
                    maybe.setdefault(inv.key, set()).add(_hashable(inv.value))
                if done is not None and done.type is OpType.OK:
                    ok_adds.setdefault(inv.key, {})[_hashable(inv.value)] = inv.index
                else:
                    ok_adds.setdefault(inv.key, {})
            elif inv.f == "read" and done is not None and done.type is OpType.OK:
                final[inv.key] = (done.index, list(done.value or []))
        sets: dict[str, Any] = {}
        lost: list[dict[str, Any]] = []
        unexpected: list[dict[str, Any]] = []
        missing_reads = []
        for key in sorted(set(ok_adds) | set(final), key=repr):
            if key not in final:
                missing_reads.append(key)
                continue
            read_index, elements = final[key]
            present = {_hashable(e) for e in elements}
            acked = ok_adds.get(key, {})
            key_lost = sorted((e for e in acked if e not in present), key=repr)
            key_unexpected = sorted((e for e in present if e not in maybe.get(key, set())), key=repr)
            lost += [{"key": key, "element": e, "add_index": acked[e]} for e in key_lost]
            unexpected += [{"key": key, "element": e} for e in key_unexpected]
            sets[repr(key) if not isinstance(key, str) else key] = {
                "final_read_index": read_index,
                "acknowledged": len(acked),
                "attempted": len(maybe.get(key, set())),
                "recovered": len((maybe.get(key, set()) - set(acked)) & present),
                "lost": key_lost[:MAX_LISTED],
                "unexpected": key_unexpected[:MAX_LISTED],
            }
        details: dict[str, Any] = {"sets": sets, "lost": lost[:MAX_LISTED], "lost_count": len(lost),
                                   "unexpected": unexpected[:MAX_LISTED], "unexpected_count": len(unexpected)}
        if lost or unexpected:
            parts = []
            if lost:
                parts.append(f"{len(lost)} acknowledged element(s) lost (e.g. {lost[0]['element']!r})")
            if unexpected:
                parts.append(f"{len(unexpected)} unexpected element(s) (e.g. {unexpected[0]['element']!r})")
            return Result(False, "; ".join(parts), details)
        if missing_reads:
            details["without_final_read"] = [repr(k) for k in missing_reads]
            return Result(UNKNOWN, f"no final read of {len(missing_reads)} set(s), e.g. {missing_reads[0]!r}",
                          details)
        if not final:
            return Result(UNKNOWN, "no set was read", details)
        acked_total = sum(len(v) for v in ok_adds.values())
        return Result(True, f"all {acked_total} acknowledged elements are in the final read(s)", details)


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


__all__ = ["SetChecker"]
