"""Shrinking a non-linearizable partition to a small reproducer (private).

Delta debugging (Zeller and Hildebrandt's ``ddmin``) over a failure's
operations, from the state the original history was in where they begin (a
:class:`~checkers._linear.Cut`): a reproducer starts from the true state, not
from the model's initial one, or it reproduces nothing. An operation is the
unit: its invocation and its completion are kept or dropped together, and
every kept operation keeps its place in real time (its invoke and return
positions), so a sub-history is exactly the history in which the dropped
operations never happened. That is sound for every kind of op, ``info`` ones
included: each candidate is re-checked, and a candidate counts only if it
still fails *the same way*: on the same op (``keep``), for the same reason
(``why``: the same states it could have seen). The result is *1-minimal*:
dropping any single op of it makes it linearizable, or changes the failure
(or breaks the rule below).

A rule keeps the reproducer telling the same story. A failure is usually one
of order (a stale read: the value read was written, but earlier); dropping
the write would leave a read of a value nobody wrote, a different and
uninteresting failure. So when every read of the partition can see its value
in some state its ops reach (:func:`_reads_producible`), every candidate must
keep that property, and a small one must not be wrong in every order either
(:func:`_orderless`, when that is cheap to tell): the reproducer is then a
violation of real-time order. When the partition has a read of a value no
order could produce, any candidate failing the same way goes.

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

_INIT: Any = object()  # "the model's initial state"

__all__ = ["Shrinker", "Shrunk", "order_only"]

#: Work (configuration expansions) one candidate check may take by default; past it
#: the candidate does not count as failing (the shrinker stays sound, only larger).
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
    """The smallest failing sub-partition found: ``entries`` in invocation order, from ``start``."""

    entries: list[Entry]
    original_size: int
    seconds: float
    complete: bool  # False: the deadline came first, so it may not be 1-minimal
    order_only: bool  # True: the failure is one of real-time order only
    start: Any = None  # the state the reproducer starts from
    after: int | None = None  # the op after which the original history was in that state (None: its start)


class _OutOfTime(Exception):
    pass


class Shrinker:
    """Shrinks one failing partition's ops (``entries``) before the monotonic ``deadline``.

    ``keep``: an op every candidate keeps and fails on (the op the search could not
    linearize); ``why``: the reason every candidate must fail for (``None``: any);
    ``start``: the state every candidate starts from (default: the model's initial
    state). ``order_only``: whether the story is one of real-time order (see the module
    docstring and :func:`order_only`; default: decided from ``entries``).
    :meth:`fails` is the test a candidate must pass; :meth:`run` returns a 1-minimal
    one. ``timed_out``: the deadline came (``run`` then returns what it had).
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
        why: str | None = None,
        start: Any = _INIT,
        after: int | None = None,
        original_size: int | None = None,
        order_only: bool | None = None,
        candidate_work: int = CANDIDATE_WORK,
    ) -> None:
        self.model = model
        self.key = key
        self.started = time.monotonic()
        self.budget = Budget(deadline=deadline, memory_limit=memory_limit, time_limit=max(0.0, deadline - self.started))
        self.full = [e for e in entries if not (e.return_pos < 0 and model.readonly(e.call))]
        self.keep = keep
        self.why = why
        self.start = model.init() if start is _INIT else start
        self.after = after
        self.original_size = len(self.full) if original_size is None else original_size
        self.timed_out = False
        self.order_only = order_only  # None: decided on first use, see the module docstring
        self.candidate_work = candidate_work
        self._tried: dict[tuple[int, ...], bool] = {}  # ddmin may ask twice

    def _invalid(self, ops: Sequence[Entry]) -> bool:
        """Does ``ops`` fail, on ``keep`` for ``why`` when they are given?"""
        same = self.keep is not None or self.why is not None
        try:
            outcome = search(self.model, self.key, ops, self.budget, self.candidate_work,
                             explain="why" if same else False, init=self.start)
        except WorkExceeded:
            return False
        except LimitReached:
            raise _OutOfTime from None
        if outcome.valid is not False:
            return False
        if not same:
            return True
        failure = outcome.failure or {}
        if self.keep is not None and failure.get("index") != self.keep.call.index:
            return False
        return self.why is None or failure.get("why") == self.why

    def fails(self, ops: Sequence[Entry]) -> bool:
        """Is ``ops`` a reproducer: it keeps ``keep``, it fails the same way, and it keeps
        the story (module docstring)? Raises :class:`_OutOfTime` past the deadline."""
        if self.keep is not None and not any(e is self.keep for e in ops):
            return False
        seen = tuple(id(e) for e in ops)
        if seen not in self._tried:
            self._tried[seen] = self._fails(ops)
        return self._tried[seen]

    def _fails(self, ops: Sequence[Entry]) -> bool:
        if not self._invalid(ops):
            return False
        if self.order_only is None:
            self.order_only = _reads_producible(self.model, self.full, self.start)
        if not self.order_only:
            return True
        if not _reads_producible(self.model, ops, self.start):
            return False
        # a small candidate must also not be wrong in every order, when that is cheap to tell
        return len(ops) > ORDERLESS_SIZE or _orderless(self.model, self.key, ops, self.budget, self.start) is not False

    def run(self, start_with: Sequence[Sequence[Entry]] = ()) -> Shrunk | None:
        """A 1-minimal reproducer (or the smallest found by the deadline, marked incomplete);
        ``None`` if the ops do not fail the same way, or the time ran out first.
        ``start_with``: smaller candidates tried first; the first that fails is shrunk
        instead of all the ops."""
        full = self.full
        current: list[Entry] | None = None
        complete = True
        try:
            for candidate in start_with:
                if len(candidate) < len(full) and self.fails(candidate):
                    current = list(candidate)
                    break
            if current is None:
                if not self.fails(full):
                    return None
                current = full
            current = _ddmin(current, self.fails)
        except _OutOfTime:
            self.timed_out = True
            if current is None:
                return None
            complete = False
        except _Partial as partial:
            self.timed_out = True
            current, complete = partial.best, False
        return Shrunk(current, self.original_size, time.monotonic() - self.started, complete, bool(self.order_only),
                      self.start, self.after)


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


def order_only(model: Model[Any], entries: Sequence[Entry], start: Any) -> bool:
    """Is a failure of ``entries`` (a partition, from ``start``) one of real-time order only:
    can every definite read see its value in some state the other ops reach? Then every
    reproducer must keep that so (the module docstring)."""
    return _reads_producible(model, [e for e in entries if not (e.return_pos < 0 and model.readonly(e.call))], start)


def _orderless(model: Model[Any], key: Hashable, ops: Sequence[Entry], budget: Budget, start: Any) -> bool | None:
    """Is ``ops`` linearizable from ``start`` with real-time order ignored (every op concurrent)?
    ``None`` if that takes more than :data:`ORDERLESS_WORK`."""
    m = len(ops)
    concurrent = [replace(e, invoke_pos=i, return_pos=m + i if e.return_pos >= 0 else -1) for i, e in enumerate(ops)]
    try:
        return search(model, key, concurrent, budget, ORDERLESS_WORK, explain=False, init=start).valid is True
    except WorkExceeded:
        return None
    except LimitReached:
        raise _OutOfTime from None


def _reads_producible(model: Model[Any], ops: Sequence[Entry], start: Any) -> bool:
    """A cheap stand-in for :func:`_orderless` when that is too costly: can every definite
    read see its value in some state that ``ops``' other ops (each usable any number of
    times, in any order) reach from ``start``? Too many states counts as yes."""
    mutating = [(e.call, e.result) for e in ops if not model.readonly(e.call)]
    reads = [e for e in ops if model.readonly(e.call) and e.return_pos >= 0]
    if not reads:
        return True
    # a model with reach tests has many states (strings): follow each read's own instead
    reachable = None if type(model).reach_test is not Model.reach_test else _closure(model, mutating, None, start)
    for e in reads:
        states = reachable
        if states is None:  # too many states: follow only those from which this read is reachable
            states = _closure(model, mutating, model.reach_test(e.call, e.result, mutating), start)
            if states is None:
                continue
        if not any(model.step(state, e.call, e.result)[0] for state in states):
            return False
    return True


def _closure(model: Model[Any], mutating: Sequence[tuple[Any, Any]], test: Any, start: Any) -> set[Any] | None:
    """The states ``mutating`` ops (reusable) reach from ``start``, kept to those passing
    ``test``; ``None`` if there are more than :data:`PRODUCIBLE_STATES`."""
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
