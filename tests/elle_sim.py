"""Simulated transactional stores that write list-append and rw-register histories, for the
Elle checker's tests.

:func:`simulate` runs ``processes`` concurrent clients against an in-memory store, one
event at a time in a seeded random interleaving, and records invoke/ok/fail/info ops in
the workloads' format (``f="txn"``, micro-ops ``[f, k, v]``, revisions in ``extra``).

Stores (``store=``):

``serializable``  each transaction takes effect atomically at one instant between its
                  invocation and its completion: strictly serializable by construction;
``stale``         reads see the state as of the transaction's invocation, writes land at
                  its completion without any conflict check (no first-committer-wins):
                  lost updates and read skew.
``stale-read-only``  like ``serializable``, but a read-only transaction reads one of the
                  store's last six states (a lagging replica): serializable, not strictly.

An ``info`` transaction takes effect or not at random; its process is then retired and its
thread continues as ``process + processes`` (the history rule).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Literal

from harness.core import History, Op, OpType

Kind = Literal["list-append", "rw-register"]


@dataclass
class _Store:
    kind: Kind
    data: dict[int, Any] = field(default_factory=dict)
    mod: dict[int, int] = field(default_factory=dict)
    rev: int = 1

    def snapshot(self) -> tuple[dict[int, Any], dict[int, int]]:
        return ({k: (list(v) if isinstance(v, list) else v) for k, v in self.data.items()}, dict(self.mod))

    def run(self, mops: list[list[Any]], view: tuple[dict[int, Any], dict[int, int]] | None = None
            ) -> tuple[list[list[Any]], int | None, list[int | None]]:
        """Apply ``mops`` atomically; reads from ``view`` (a snapshot) if given, else the store."""
        data, mod = view if view is not None else (self.data, self.mod)
        local: dict[int, Any] = {}
        writes = [m for m in mops if m[0] != "r"]
        rev = self.rev + 1 if writes else None
        out: list[list[Any]] = []
        mod_revs: list[int | None] = []
        for f, k, v in mops:
            if f == "r":
                if k in local:
                    value = list(local[k]) if self.kind == "list-append" else local[k]
                    mod_revs.append(rev)
                else:
                    cur = data.get(k)
                    value = (list(cur) if cur else []) if self.kind == "list-append" else cur
                    mod_revs.append(mod.get(k, 0))
                out.append(["r", k, value])
            else:
                if self.kind == "list-append":
                    base = local.get(k)
                    if base is None:
                        base = list(data.get(k) or [])
                    local[k] = [*base, v]
                else:
                    local[k] = v
                out.append([f, k, v])
                mod_revs.append(None)
        if writes:
            assert rev is not None
            self.rev = rev
            for k, v in local.items():
                if self.kind == "list-append":
                    # appends land on the store's current list, whatever the view said
                    own = [x for f, kk, x in mops if f == "append" and kk == k]
                    self.data[k] = [*(self.data.get(k) or []), *own]
                else:
                    self.data[k] = v
                self.mod[k] = rev
        return out, rev, mod_revs


def random_mops(rng: random.Random, kind: Kind, keys: int, counters: dict[int, int], max_mops: int = 4,
                key_offset: int = 0) -> list[list[Any]]:
    """1..``max_mops`` micro-ops over ``keys`` keys; written values unique per key."""
    write_f = "append" if kind == "list-append" else "w"
    out: list[list[Any]] = []
    for _ in range(rng.randint(1, max_mops)):
        k = key_offset + rng.randrange(keys)
        if rng.random() < 0.5:
            out.append(["r", k, None])
        else:
            counters[k] = counters.get(k, 0) + 1
            out.append([write_f, k, counters[k]])
    return out


def simulate(kind: Kind, *, store: str = "serializable", txns: int = 200, processes: int = 5, keys: int = 4,
             seed: int = 0, fail_rate: float = 0.05, info_rate: float = 0.05, revisions: bool = True,
             max_mops: int = 4) -> History:
    """A history of ``txns`` transactions against the simulated ``store`` (see the module docstring)."""
    rng = random.Random(seed)
    st = _Store(kind)
    counters: dict[int, int] = {}
    ops: list[Op] = []
    now = 0
    # per live process: (phase, mops, view, result)
    live: dict[int, dict[str, Any]] = {p: {"phase": "idle"} for p in range(processes)}
    started = 0
    past = [st.snapshot()]  # the store's states after each write, for stale replicas

    def record(op_type: OpType, p: int, value: Any, extra: dict[str, Any] | None = None) -> None:
        nonlocal now
        now += rng.randint(1, 1000) * 1000
        ops.append(Op(type=op_type, f="txn", value=value, process=p, time=now, index=len(ops), extra=extra))

    while started < txns or any(s["phase"] != "idle" for s in live.values()):
        p = rng.choice(list(live))
        s = live[p]
        if s["phase"] == "idle":
            if started >= txns:
                continue
            started += 1
            mops = random_mops(rng, kind, keys, counters, max_mops)
            record(OpType.INVOKE, p, mops)
            roll = rng.random()
            outcome = "fail" if roll < fail_rate else "info" if roll < fail_rate + info_rate else "ok"
            s.update(phase="invoked", mops=mops, outcome=outcome, view=st.snapshot(), result=None)
        elif s["phase"] == "invoked":
            applies = s["outcome"] == "ok" or (s["outcome"] == "info" and rng.random() < 0.5)
            if applies:
                read_only = all(m[0] == "r" for m in s["mops"])
                view = None
                if store == "stale":
                    view = s["view"]
                elif store == "stale-read-only" and read_only:
                    view = rng.choice(past[-6:])
                s["result"] = st.run(s["mops"], view)
                if not read_only:
                    past.append(st.snapshot())
            s["phase"] = "applied"
        else:
            if s["outcome"] == "ok":
                result, rev, mod_revs = s["result"]
                extra = {"rev": rev, "mod_revs": mod_revs} if revisions else None
                if extra is not None and rev is None:
                    extra["rev"] = st.rev  # a read-only txn: the header revision it read at
                record(OpType.OK, p, result, extra)
                s["phase"] = "idle"
            elif s["outcome"] == "fail":
                record(OpType.FAIL, p, s["mops"])
                s["phase"] = "idle"
            else:
                record(OpType.INFO, p, s["mops"])
                del live[p]
                live[p + processes] = {"phase": "idle"}
    return History.of(ops)


class HistoryBuilder:
    """Hand-written histories: ``b.ok(p, invoke_mops, ok_mops)`` records an invoke and its
    completion; ``b.invoke``/``b.complete`` interleave them. Times step by 1 ms."""

    def __init__(self) -> None:
        self.ops: list[Op] = []

    def _add(self, op_type: OpType, p: int, value: Any, extra: dict[str, Any] | None = None) -> int:
        self.ops.append(Op(type=op_type, f="txn", value=value, process=p, time=len(self.ops) * 1_000_000,
                           index=len(self.ops), extra=extra))
        return len(self.ops) - 1

    def invoke(self, p: int, mops: list[list[Any]]) -> int:
        return self._add(OpType.INVOKE, p, mops)

    def complete(self, p: int, mops: list[list[Any]], outcome: str = "ok",
                 extra: dict[str, Any] | None = None) -> int:
        return self._add(OpType(outcome), p, mops, extra)

    def ok(self, p: int, mops: list[list[Any]], extra: dict[str, Any] | None = None) -> int:
        """A transaction invoked and completed ``ok`` at once; the invocation blanks the reads."""
        i = self.invoke(p, [[f, k, None if f == "r" else v] for f, k, v in mops])
        self.complete(p, mops, "ok", extra)
        return i

    def history(self) -> History:
        return History.of(self.ops)
