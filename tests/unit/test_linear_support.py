"""Helpers for the linearizability tests: a history builder, a brute-force checker and
Hypothesis strategies. (No tests here; pytest collects nothing from this module.)"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from checkers import CasRegisterModel, Model, model_named
from harness.core import History, Op, OpType


@dataclass
class Call:
    """One operation for :func:`build`: invoked at ``start``, completed at ``end``
    (``None``: never completed) with ``type`` and output ``out``."""

    process: int
    f: str
    value: Any
    start: int
    end: int | None
    type: str = "ok"
    out: Any = None
    key: Any = None


def build(calls: list[Call]) -> History:
    """A history from calls with invoke/completion times; events sorted by time."""
    events: list[tuple[int, int, Op]] = []
    for n, c in enumerate(calls):
        invoke = Op(type=OpType.INVOKE, f=c.f, value=c.value, process=c.process, time=c.start, key=c.key)
        events.append((c.start, 0, invoke))
        if c.end is not None:
            out = c.out if c.type == "ok" and c.f in ("read", "get") else c.value if c.out is None else c.out
            done = Op(type=OpType(c.type), f=c.f, value=out, process=c.process, time=c.end, key=c.key)
            events.append((c.end, 1, done))
        del n
    events.sort(key=lambda e: (e[0], e[1]))
    return History.of(op for _, _, op in events)


def h(*rows: tuple[Any, ...]) -> History:
    """A history from rows ``(process, type, f, value[, key])`` in order."""
    ops = []
    for t, row in enumerate(rows):
        process, typ, f, value, *key = row
        ops.append(Op(type=OpType(typ), f=f, value=value, process=process, time=t, key=key[0] if key else None))
    return History.of(ops)


def brute_force(model: Model[Any], history: History) -> bool:
    """Linearizable? Tries every order of every subset of info ops; no memo, no pruning."""
    pairs: list[tuple[Op, Op | None, int, int | None]] = []
    pending: dict[Any, int] = {}
    for pos, op in enumerate(history.ops):
        if op.is_invoke:
            pending[op.process] = len(pairs)
            pairs.append((op, None, pos, None))
        else:
            i = pending.pop(op.process)
            call = pairs[i][0]
            pairs[i] = (call, op, pairs[i][2], pos)
    parts: dict[Hashable, list[tuple[Op, Op, int, float, bool]]] = {}
    for call, comp, ipos, rpos in pairs:
        if comp is not None and comp.is_fail:
            continue
        must = comp is not None and comp.is_ok
        result = comp if comp is not None else Op(type=OpType.INFO, f=call.f, process=call.process)
        parts.setdefault(model.partition_key(call), []).append(
            (call, result, ipos, rpos if must and rpos is not None else float("inf"), must)
        )

    def ok(ops: list[tuple[Op, Op, int, float, bool]], state: Any, done: frozenset[int]) -> bool:
        if all(i in done or not o[4] for i, o in enumerate(ops)):
            return True
        for i, (call, result, ipos, _, _) in enumerate(ops):
            if i in done:
                continue
            # i may go next only if no remaining op completed before i was invoked
            if any(j not in done and j != i and o[3] < ipos for j, o in enumerate(ops)):
                continue
            legal, nxt = model.step(state, call, result)
            if legal and ok(ops, nxt, done | {i}):
                return True
        # an info op may also never happen: drop the earliest remaining one
        return False

    def ok_with_drops(ops: list[tuple[Op, Op, int, float, bool]]) -> bool:
        optional = [i for i, o in enumerate(ops) if not o[4]]
        for mask in range(1 << len(optional)):
            kept = [o for i, o in enumerate(ops) if i not in optional or mask >> optional.index(i) & 1]
            if ok(kept, model.init(), frozenset()):
                return True
        return False

    return all(ok_with_drops(ops) for ops in parts.values())


# ---- Hypothesis: simulated linearizable executions ----------------------------------


def _register_op(draw: st.DrawFn, key: Any) -> tuple[str, Any]:
    f = draw(st.sampled_from(["read", "write", "cas"]))
    if f == "read":
        return f, None
    if f == "write":
        return f, draw(st.integers(0, 3))
    return f, [draw(st.integers(0, 3)), draw(st.integers(0, 3))]


@st.composite
def linearizable_register_history(draw: st.DrawFn, max_ops: int = 30, keys: int = 2) -> History:
    """A cas-register history from a simulated execution: each op takes effect at a
    random instant inside its interval (or, for info, maybe never)."""
    model = CasRegisterModel()
    n = draw(st.integers(1, max_ops))
    procs = draw(st.integers(1, 5))
    free_at = [0] * procs
    next_pid = list(range(procs))
    spans = []
    for _ in range(n):
        p = draw(st.integers(0, procs - 1))
        start = free_at[p] + draw(st.integers(0, 5))
        point = start + draw(st.integers(1, 20))
        end = point + draw(st.integers(1, 20))
        key = f"r{draw(st.integers(0, keys - 1))}"
        f, value = _register_op(draw, key)
        fate = draw(st.sampled_from(["ok", "ok", "ok", "info-applied", "info-lost", "pending"]))
        spans.append((point, start, end, next_pid[p], f, value, key, fate))
        free_at[p] = end + 1
        if fate != "ok":
            next_pid[p] += procs  # a process with an unknown outcome is retired
    states: dict[Any, Any] = {}
    calls = []
    for _point, start, end, pid, f, value, key, fate in sorted(spans):
        call = Op(type=OpType.INVOKE, f=f, value=value, process=pid, key=key)
        state = states.get(key, model.init())
        applied = fate in ("ok", "info-applied", "pending")
        typ = "ok"
        out = value
        if f == "read":
            out = state
        elif f == "cas" and value[0] != state:
            typ, applied = "fail", False
        if applied and f != "read":
            _, states[key] = model.step(state, call, Op(type=OpType.OK, f=f, value=value))
        if fate in ("info-applied", "info-lost") and typ != "fail":
            typ = "info"
        calls.append(Call(pid, f, value, start, None if fate == "pending" else end, typ, out, key))
    return build(calls)


@st.composite
def random_small_history(draw: st.DrawFn, f_values: tuple[str, ...] = ("read", "write", "cas")) -> History:
    """Any small cas-register history (mostly not linearizable): random values and overlaps."""
    n = draw(st.integers(1, 5))
    calls = []
    for p in range(n):
        start = draw(st.integers(0, 10))
        end = start + draw(st.integers(1, 10))
        f = draw(st.sampled_from(f_values))
        value: Any = (
            None
            if f == "read"
            else draw(st.integers(0, 2))
            if f == "write"
            else [
                draw(st.integers(0, 2)),
                draw(st.integers(0, 2)),
            ]
        )
        typ = draw(st.sampled_from(["ok", "ok", "ok", "info", "fail"]))
        out = draw(st.sampled_from([None, 0, 1, 2])) if f == "read" else None
        calls.append(Call(p, f, value, start, end if draw(st.booleans()) or typ != "info" else None, typ, out))
    return build(calls)


# ---- Hypothesis: any model ------------------------------------------------------------

#: For each model: the read-only ``f`` (if any) and a drawer of a mutating op ``(f, value)``.
_MUTATORS: dict[str, tuple[str | None, Any]] = {
    "mutex": (None, st.tuples(st.sampled_from(["acquire", "release"]), st.none())),
    "counter": ("read", st.tuples(st.just("add"), st.one_of(st.none(), st.integers(-2, 3)))),
    "kv": (
        "get",
        st.one_of(
            st.tuples(st.just("append"), st.sampled_from(["a", "b", "c", "xy"])),
            st.tuples(st.just("put"), st.sampled_from(["", "a", "z"])),
        ),
    ),
    "cas-register": ("read", st.one_of(
        st.tuples(st.just("write"), st.integers(0, 3)),
        st.tuples(st.just("cas"), st.lists(st.integers(0, 3), min_size=2, max_size=2)),
    )),
}


def _draw_op(draw: st.DrawFn, model_name: str, read_share: float = 0.4) -> tuple[str, Any]:
    read_f, mutator = _MUTATORS[model_name]
    if read_f is not None and draw(st.floats(0, 1)) < read_share:
        return read_f, None
    f, value = draw(mutator)
    return f, value


@st.composite
def linearizable_history(draw: st.DrawFn, model_name: str, max_ops: int = 25, keys: int = 2) -> History:
    """A history of ``model_name`` from a simulated execution: each op takes effect at a
    random instant inside its interval (an ``info`` op maybe never); a mutation the
    model refuses in the state it meets (a held lock acquired) completes as ``fail``."""
    model = model_named(model_name)
    read_f = _MUTATORS[model_name][0]
    n = draw(st.integers(1, max_ops))
    procs = draw(st.integers(1, 5))
    free_at = [0] * procs
    next_pid = list(range(procs))
    spans = []
    for _ in range(n):
        p = draw(st.integers(0, procs - 1))
        start = free_at[p] + draw(st.integers(0, 5))
        point = start + draw(st.integers(1, 20))
        end = point + draw(st.integers(1, 20))
        key = f"k{draw(st.integers(0, keys - 1))}"
        f, value = _draw_op(draw, model_name)
        fate = draw(st.sampled_from(["ok", "ok", "ok", "info-applied", "info-lost", "pending"]))
        spans.append((point, start, end, next_pid[p], f, value, key, fate))
        free_at[p] = end + 1
        if fate != "ok":
            next_pid[p] += procs  # a process with an unknown outcome is retired
    states: dict[Any, Any] = {}
    calls = []
    for _point, start, end, pid, f, value, key, fate in sorted(spans, key=lambda s: s[:3]):
        call = Op(type=OpType.INVOKE, f=f, value=value, process=pid, key=key)
        state = states.get(key, model.init())
        applied = fate in ("ok", "info-applied", "pending")
        typ, out = "ok", value
        if f == read_f:
            out = state
        else:
            legal, after = model.step(state, call, Op(type=OpType.OK, f=f, value=value))
            if not legal:
                typ, applied = "fail", False
            elif applied:
                states[key] = after
        if fate in ("info-applied", "info-lost") and typ != "fail":
            typ = "info"
        calls.append(Call(pid, f, value, start, None if fate == "pending" else end, typ, out, key))
    return build(calls)


@st.composite
def random_model_history(draw: st.DrawFn, model_name: str) -> History:
    """Any small history of ``model_name``, one key: random outputs and overlaps."""
    read_f = _MUTATORS[model_name][0]
    outputs = {"counter": st.integers(-1, 4), "kv": st.sampled_from(["", "a", "ab", "ba", "z", "za", "c"])}
    calls = []
    for p in range(draw(st.integers(1, 5))):
        start = draw(st.integers(0, 10))
        end = start + draw(st.integers(1, 10))
        f, value = _draw_op(draw, model_name)
        typ = draw(st.sampled_from(["ok", "ok", "ok", "info", "fail"]))
        out = draw(outputs[model_name]) if f == read_f else None
        calls.append(Call(p, f, value, start, end if draw(st.booleans()) or typ != "info" else None, typ, out))
    return build(calls)
