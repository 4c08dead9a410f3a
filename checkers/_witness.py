"""Revisions as witnesses (private): a linearization read off etcd's revisions, then verified.

etcd numbers every change of its key space with a revision and says, in each
answer, which one it holds: a write's header ``rev`` is the ``mod_rev`` of the key
it wrote, and a read returns the ``mod_rev`` of the write whose value it returns
(0: the key is absent). The workloads record them in each ok op's ``extra``
(``rev``; for reads also ``mod_rev``, ``create_rev``, ``version``; for txns
``rev`` and ``succeeded``). Together they name an order: every write by its
revision, each read right after the write it read.

:func:`witness` builds that order for one partition and verifies it, in
O(n log n), against the two things a linearization must satisfy:

- the model: from the start state every op in turn is legal (``Model.step``);
- real time: no op is placed after an op that returned before it was invoked.

If both hold, the order *is* a linearization, whatever the revisions meant: the
verdict rests on the verification, never on trusting etcd (or the recording).
If either fails, or an op lacks its revision, the caller runs the full search;
a place where etcd's own order contradicts real time is reported as such.

Ops of unknown outcome (``info``) have no revision. One that some read saw took
effect: a read's ``mod_rev`` that no ok write made was made by an info write (or
cas) of the value read; it is placed at that revision (the earliest invoked one
that fits). The others are left out: an info op may never take effect.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from checkers._linear import Entry
from checkers._model import Model, freeze
from checkers._models import CasRegisterModel, KVModel

#: Contradictions between etcd's order and real time listed in a partition's details.
LISTED_CONTRADICTIONS = 5
#: Info writes (at most) that one gap of the revisions is filled with.
CHAIN = 3


@dataclass(slots=True)
class Witness:
    """What :func:`witness` found for one partition.

    ``order``: the verified linearization (op indexes of the calls), or ``None`` if there is
    none from the revisions (``reason`` says why: the search must decide). ``contradictions``:
    pairs of ops whose revision order contradicts real time, each
    ``{"first", "second", "why"}`` (op indexes: ``second`` returned before ``first`` was
    invoked, yet etcd ordered ``first`` before it).
    """

    order: list[int] | None
    reason: str = ""
    contradictions: list[dict[str, Any]] = field(default_factory=list)


def applies(model: Model[Any]) -> bool:
    """Whether the model's ops carry revisions the witness understands: one key's writes
    (each with a new revision) and reads (each of one revision)."""
    return isinstance(model, CasRegisterModel | KVModel)


def _rev(extra: dict[str, Any] | None, name: str) -> int | None:
    if extra is None:
        return None
    value = extra.get(name)
    return value if type(value) is int else None


def _effect(model: Model[Any], e: Entry) -> Any:
    """The value a mutating op leaves, if it takes effect (``None`` if it cannot say)."""
    value = e.call.value
    if e.call.f == "cas":
        return freeze(value[1]) if isinstance(value, list | tuple) and len(value) == 2 else None
    if e.call.f in ("write", "put"):
        return freeze(value)
    return None  # an append depends on the state


def witness(model: Model[Any], entries: Sequence[Entry], start: Any) -> Witness:
    """The linearization of one partition's ``entries`` that the revisions give, verified
    (see the module docstring); ``start`` is the state the partition starts from."""
    readonly = model.readonly
    # (revision, 0 write / 1 read, return position, op: an entry, or the value an info write left there)
    slots: list[tuple[int, int, int, Any]] = []
    made: set[int] = set()
    unexplained: dict[int, list[Entry]] = {}  # revision -> the reads of it that no ok write made
    info_writes: list[Entry] = []
    reads: list[tuple[int, Entry]] = []
    for e in entries:
        ro = readonly(e.call)
        if e.return_pos < 0:
            if not ro:
                info_writes.append(e)
            continue  # an info read constrains nothing
        extra = e.result.extra
        if ro:
            mod = _rev(extra, "mod_rev")
            if mod is None:
                return Witness(None, f"op {e.call.index} (a read) has no recorded mod_rev")
            reads.append((mod, e))
        else:
            rev = _rev(extra, "rev")
            if rev is None:
                return Witness(None, f"op {e.call.index} (a write) has no recorded rev")
            if rev in made:
                return Witness(None, f"two writes of the key have revision {rev}")
            made.add(rev)
            slots.append((rev, 0, e.return_pos, e))
    for mod, e in reads:
        slots.append((mod, 1, e.return_pos, e))
        if mod and mod not in made:
            unexplained.setdefault(mod, []).append(e)
    by_value: dict[Any, list[Entry]] = {}  # unused info writes by the value they leave, earliest invoked first
    for e in sorted(info_writes, key=lambda e: e.invoke_pos):
        by_value.setdefault(_effect(model, e), []).append(e)
    if unexplained:
        found = _place_info(by_value, unexplained)
        if isinstance(found, str):
            return Witness(None, found)
        slots.extend(found)
    # Writes by revision; the reads of a revision right after its write, by return
    # position (which keeps real-time order among them: one that returned before another
    # was invoked returned first).
    slots.sort(key=lambda s: (s[0], s[1], s[2]))
    order: list[Entry] = []
    state = start
    step = model.step
    for _, _, _, e in slots:
        if not isinstance(e, Entry):  # an info write of the value ``e[0]`` took effect here
            value, limit = e
            chain = _chain(model, by_value, state, limit, lambda s, value=value: s == value)
            if chain is None:
                return Witness(None, f"no info write of {value!r} can have taken effect where a read saw it")
            order.extend(chain[:-1])
            for c in chain[:-1]:
                state = step(state, c.call, c.result)[1]
            e = chain[-1]
        ok, after = step(state, e.call, e.result)
        if not ok and not readonly(e.call):
            # Info writes nobody read took effect in a gap of the revisions (a cas that
            # succeeded saw their value): the fewest, earliest invoked, that make this op legal.
            chain = _chain(model, by_value, state, e.return_pos,
                           lambda s, target=e: step(s, target.call, target.result)[0])
            if chain is not None:
                for c in chain:
                    order.append(c)
                    state = step(state, c.call, c.result)[1]
                ok, after = step(state, e.call, e.result)
        if not ok:
            return Witness(None, f"op {e.call.index} is not legal where its revision puts it "
                                 f"({model.describe_op(e.call, e.result)})")
        order.append(e)
        state = after
    contradictions = _real_time(order, {id(e) for e in order if e.return_pos >= 0})
    if contradictions:
        return Witness(None, "the revision order contradicts real time", contradictions)
    return Witness([e.call.index for e in order])


def _chain(
    model: Model[Any], by_value: dict[Any, list[Entry]], state: Any, limit: int, goal: Any
) -> list[Entry] | None:
    """The shortest sequence (at most :data:`CHAIN` ops) of unused info writes, each invoked
    before event position ``limit`` and legal in turn from ``state``, that reaches a state
    passing ``goal``; its ops are taken from ``by_value``. ``None`` if there is none. Of the
    info writes of one value only the earliest invoked legal one is tried (it fits more places)."""
    for depth in range(1, CHAIN + 1):
        found = _chain_of(model, by_value, state, limit, goal, depth, [])
        if found is not None:
            for c in found:
                by_value[_effect(model, c)].remove(c)
            return found
    return None


def _chain_of(
    model: Model[Any], by_value: dict[Any, list[Entry]], state: Any, limit: int, goal: Any, depth: int,
    used: list[Entry],
) -> list[Entry] | None:
    for value, candidates in by_value.items():
        if value is None:
            continue
        for c in candidates:
            if c.invoke_pos >= limit:
                break
            if any(c is u for u in used):
                continue
            ok, after = model.step(state, c.call, c.result)
            if not ok:
                continue
            if depth == 1:
                if goal(after):
                    return [*used, c]
            else:
                found = _chain_of(model, by_value, after, limit, goal, depth - 1, [*used, c])
                if found is not None:
                    return found
            break  # the earliest legal one of this value stands for the others
    return None


def _place_info(
    by_value: dict[Any, list[Entry]], unexplained: dict[int, list[Entry]]
) -> list[tuple[int, int, int, Any]] | str:
    """The revisions that reads saw and no ok write made, each as a slot for an info write of
    the value read, chosen when the witness is stepped through (the earliest invoked one
    legal there). A message if the reads of one revision disagree, or no info write of the
    value read was invoked before the first of them returned."""
    placed: list[tuple[int, int, int, Any]] = []
    for rev in sorted(unexplained):
        seen = unexplained[rev]
        value = freeze(seen[0].result.value)
        if any(freeze(r.result.value) != value for r in seen[1:]):
            return f"reads of revision {rev} returned different values"
        first_return = min(r.return_pos for r in seen)
        if not any(e.invoke_pos < first_return for e in by_value.get(value, ())):
            op = min(seen, key=lambda r: r.return_pos)
            return f"op {op.call.index} read revision {rev}, which no write of the value read can have made"
        placed.append((rev, 0, -1, (value, first_return)))
    return placed


def _real_time(order: Sequence[Entry], claimed: set[int]) -> list[dict[str, Any]]:
    """The places where ``order`` puts an op after one that returned before it was invoked
    (empty: real time holds). O(n): a suffix minimum of return positions. Only pairs of ops
    whose places etcd's revisions claimed (``claimed``: ids of ok ops) are listed; a guess
    (an info op's place) breaking real time is listed with ``"guess": True``."""
    found: list[dict[str, Any]] = []
    best_return = -1
    best: Entry | None = None
    for e in reversed(order):
        if best is not None and best_return < e.invoke_pos:
            found.append({
                "first": e.call.index,
                "second": best.call.index,
                "why": f"op {best.call.index} completed before op {e.call.index} was invoked, "
                       f"but etcd's revisions order op {e.call.index} first",
                **({} if id(e) in claimed else {"guess": True}),
            })
            if len(found) >= LISTED_CONTRADICTIONS:
                break
        if e.return_pos >= 0 and (best is None or e.return_pos < best_return):
            best_return, best = e.return_pos, e
    return found
