"""Shrinking a non-linearizable partition to a small reproducer (private).

Delta debugging (Zeller and Hildebrandt's ``ddmin``) over the partition's
operations. An operation is the unit: its invocation and its completion are
kept or dropped together, and every kept operation keeps its place in real
time (its invoke and return positions), so a sub-history is exactly the
history in which the dropped operations never happened. That is sound for
every kind of op, ``info`` ones included: each candidate is re-checked, and a
candidate counts only if it is still not linearizable. The result is
*1-minimal*: dropping any single op of it makes it linearizable (or breaks the
rule below).

A rule keeps the reproducer telling the same story. A failure is usually one
of order (a stale read: the value read was written, but earlier); dropping
the write would leave a read of a value nobody wrote, a different and
uninteresting failure. So when every read of the partition can see its value
in some state its ops reach (:func:`_reads_producible`), every candidate must
keep that property, and a small one must not be wrong in every order either
(:func:`_orderless`, when that is cheap to tell): the reproducer is then a
violation of real-time order. When the partition has a read of a value no
order could produce, any non-linearizable candidate goes.

Bounded: the shrinker stops at its deadline and returns the smallest failing
candidate found so far, marked incomplete.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from checkers._linear import Budget, Entry, LimitReached, WorkExceeded, search
from checkers._model import Model

__all__ = ["Shrinker", "Shrunk"]

#: Work (configuration expansions) one candidate check may take; past it the
#: candidate does not count as failing (the shrinker stays sound, only larger).
CANDIDATE_WORK = 2_000
#: Work the real-time-order-free check of a candidate may take (see the module docstring).
ORDERLESS_WORK = 1_000
#: Candidates up to this many ops must pass the real-time-order-free check (when it
#: applies); bigger ones are only steps on the way and need not.
ORDERLESS_SIZE = 16
#: States :func:`_reads_producible` explores per read before it gives the benefit of the doubt.
PRODUCIBLE_STATES = 200


@dataclass(slots=True)
class Shrunk:
    """The smallest failing sub-partition found: ``entries`` in invocation order."""

    entries: list[Entry]
    original_size: int
    seconds: float
    complete: bool  # False: the deadline came first, so it may not be 1-minimal
    order_only: bool  # True: the failure is one of real-time order only


class _OutOfTime(Exception):
    pass


class Shrinker:
    """Shrinks one failing partition (``entries``) before the monotonic ``deadline``.

    ``keep``: an op every candidate keeps (the op the search could not linearize), so
    that the reproducer shows the same failure. :meth:`fails` is the test a candidate
    must pass; :meth:`run` returns a 1-minimal one.
    """

    def __init__(
        self,
        model: Model[Any],
        key: Hashable,
        entries: Sequence[Entry],
        deadline: float,
        *,
        memory_limit: int = 0,
        keep: Entry | None = None,
    ) -> None:
        self.model = model
        self.key = key
        self.started = time.monotonic()
        self.budget = Budget(deadline=deadline, memory_limit=memory_limit, time_limit=max(0.0, deadline - self.started))
        self.full = [e for e in entries if not (e.return_pos < 0 and model.readonly(e.call))]
        self.keep = keep
        self.order_only: bool | None = None  # decided on first use: see the module docstring
        self._tried: dict[tuple[int, ...], bool] = {}  # ddmin may ask twice

    def _invalid(self, ops: Sequence[Entry]) -> bool:
        try:
            return search(self.model, self.key, ops, self.budget, CANDIDATE_WORK, explain=False).valid is False
        except WorkExceeded:
            return False
        except LimitReached:
            raise _OutOfTime from None

    def fails(self, ops: Sequence[Entry], known_invalid: bool = False) -> bool:
        """Is ``ops`` a reproducer: it keeps ``keep``, it is not linearizable, and it keeps
        the story (module docstring)? Raises :class:`_OutOfTime` past the deadline."""
        if self.keep is not None and not any(e is self.keep for e in ops):
            return False
        seen = tuple(id(e) for e in ops)
        if seen not in self._tried:
            self._tried[seen] = self._fails(ops, known_invalid)
        return self._tried[seen]

    def _fails(self, ops: Sequence[Entry], known_invalid: bool) -> bool:
        if not known_invalid and not self._invalid(ops):
            return False
        if self.order_only is None:
            self.order_only = _reads_producible(self.model, self.full)
        if not self.order_only:
            return True
        if not _reads_producible(self.model, ops):
            return False
        # a small candidate must also not be wrong in every order, when that is cheap to tell
        return len(ops) > ORDERLESS_SIZE or _orderless(self.model, self.key, ops, self.budget) is not False

    def run(self, start_with: Sequence[Sequence[Entry]] = ()) -> Shrunk | None:
        """A 1-minimal reproducer (or the smallest found by the deadline, marked incomplete);
        ``None`` if none was found in time. ``start_with``: smaller candidates (the
        explanation's window) tried first; the first that fails is shrunk instead of
        the whole partition."""
        full = self.full
        current: list[Entry] | None = None
        complete = True
        try:
            for candidate in start_with:
                if len(candidate) < len(full) and self.fails(candidate):
                    current = list(candidate)
                    break
            if current is None:
                # the search found the whole partition failing, with more work than a candidate gets
                if not self.fails(full, known_invalid=True):
                    return None
                current = full
            current = _ddmin(current, self.fails)
        except _OutOfTime:
            if current is None:
                return None
            complete = False
        except _Partial as partial:
            current, complete = partial.best, False
        return Shrunk(current, len(full), time.monotonic() - self.started, complete, bool(self.order_only))


class _Partial(Exception):
    def __init__(self, best: list[Entry]) -> None:
        self.best = best


def _ddmin(ops: list[Entry], fails: Any) -> list[Entry]:
    """Zeller's ddmin: ``ops`` fails; return a 1-minimal failing subset (order kept).

    Raises :class:`_Partial` with the best subset so far if time runs out.
    """
    n = 2
    try:
        while len(ops) >= 2:
            chunks = _split(ops, n)
            for chunk in chunks:  # reduce to a subset
                if fails(chunk):
                    ops, n = chunk, 2
                    break
            else:
                for i in range(len(chunks)):  # reduce to a complement
                    rest = [e for j, c in enumerate(chunks) if j != i for e in c]
                    if fails(rest):
                        ops, n = rest, max(n - 1, 2)
                        break
                else:
                    if n >= len(ops):
                        break  # every single op is needed: 1-minimal
                    n = min(len(ops), 2 * n)
        return ops
    except _OutOfTime:
        raise _Partial(ops) from None


def _split(ops: list[Entry], n: int) -> list[list[Entry]]:
    size, extra = divmod(len(ops), n)
    out, at = [], 0
    for i in range(n):
        end = at + size + (1 if i < extra else 0)
        out.append(ops[at:end])
        at = end
    return [c for c in out if c]


def _orderless(model: Model[Any], key: Hashable, ops: Sequence[Entry], budget: Budget) -> bool | None:
    """Is ``ops`` linearizable with real-time order ignored (every op concurrent)?
    ``None`` if that takes more than :data:`ORDERLESS_WORK`."""
    m = len(ops)
    concurrent = [replace(e, invoke_pos=i, return_pos=m + i if e.return_pos >= 0 else -1) for i, e in enumerate(ops)]
    try:
        return search(model, key, concurrent, budget, ORDERLESS_WORK, explain=False).valid is True
    except WorkExceeded:
        return None
    except LimitReached:
        raise _OutOfTime from None


def _reads_producible(model: Model[Any], ops: Sequence[Entry]) -> bool:
    """A cheap stand-in for :func:`_orderless` when that is too costly: can every definite
    read see its value in some state that ``ops``' other ops (each usable any number of
    times, in any order) reach from the initial state? Too many states counts as yes."""
    mutating = [(e.call, e.result) for e in ops if not model.readonly(e.call)]
    reads = [e for e in ops if model.readonly(e.call) and e.return_pos >= 0]
    if not reads:
        return True
    # a model with reach tests has many states (strings): follow each read's own instead
    reachable = None if type(model).reach_test is not Model.reach_test else _closure(model, mutating, None)
    for e in reads:
        states = reachable
        if states is None:  # too many states: follow only those from which this read is reachable
            states = _closure(model, mutating, model.reach_test(e.call, e.result, mutating))
            if states is None:
                continue
        if not any(model.step(state, e.call, e.result)[0] for state in states):
            return False
    return True


def _closure(model: Model[Any], mutating: Sequence[tuple[Any, Any]], test: Any) -> set[Any] | None:
    """The states ``mutating`` ops (reusable) reach from the initial state, kept to those
    passing ``test``; ``None`` if there are more than :data:`PRODUCIBLE_STATES`."""
    start = model.init()
    seen = {start}
    todo = [start]
    while todo:
        state = todo.pop()
        for call, result in mutating:
            ok, nxt = model.step(state, call, result)
            if ok and nxt not in seen and (test is None or test(nxt)):
                seen.add(nxt)
                if len(seen) > PRODUCIBLE_STATES:
                    return None
                todo.append(nxt)
    return seen
