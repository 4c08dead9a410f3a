"""The linearizability search (private). The public face is ``checkers.linearizable``.

Algorithm: just-in-time linearization over a *set of configurations* (Lowe,
"Testing for linearizability", 2017; Knossos' ``linear``), the breadth-first
sibling of the Wing–Gong/Porcupine depth-first search, with the same memo of
(linearized ops, model state).

Events are walked in history order. A configuration is ``(lin, state)``: the
model state after some legal linearization of a prefix, and the bitset of
*pending* ops (invoked, not yet returned) that this linearization already holds.
At the return of op ``k``, every configuration that has not linearized ``k``
must do so now, after any sequence of other pending ops; the surviving
configurations are the new set. The history is linearizable iff a configuration
survives the last event. Once ``k`` returned every configuration holds it, so its
bit is cleared and reused: bitsets stay as small as the concurrency.

What it adds to Porcupine, each measured by ``bench/checker.py``:

- ``fail`` ops and reads of unknown result are dropped before the search;
  ``info`` ops are optional (linearized at most once, any time after invoke);
- read-only ops (``Model.readonly``) are linearized greedily, as soon as they
  are legal: doing so never loses a linearization (they do not change the
  state), so they never branch;
- identical ``info`` ops (same ``Model.signature``) are interchangeable: only
  the earliest unused one is tried, which keeps one configuration per count
  instead of one per subset;
- dominance among ``info`` ops: a configuration that used a superset of the info
  ops an explored one used (same step, same ok ops linearized, same state) is
  skipped: unused info ops are only options. On 3,000-op single-key histories
  with 5% info this cut the configurations 20–100-fold (``bench/checker.py``);
- transitions are memoised per op and state (``step`` runs once per pair);
- the search is breadth-first over events, so the longest linearizable prefix
  and the states an op could have seen fall out of it for the explanation.

A search may start from a given state (``init``) instead of the model's
:meth:`~checkers._model.Model.init`: a reproducer starts where the original
history was when its first op began (see :func:`cut`).
"""

from __future__ import annotations

import bisect
import os
import time
from collections.abc import Callable, Generator, Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from checkers._model import Model
from harness.core import Op, OpType

_MISSING: Any = object()
_ILLEGAL: Any = object()
_PAUSE: Any = object()  # what a search step yields when its work cap is reached
_PLAIN_WORK = 20_000  # work for re-explaining a pruned failure without pruning
_CHECK_EVERY = 1024  # closure expansions between time/memory checks
_LOOKAHEAD = 2  # reads after each step whose reach tests prune it
_DOMINANCE_SCAN = 32  # explored info parts (the latest) a configuration is compared with
#: Steps with more info ops pending skip the dominance test: its bitmask work grows with them
#: while the twins rule already keeps such configurations few (10,000 info ops over 5 values:
#: 4.4 s with it, 1.2 s without, in ``bench/checker.py``).
_DOMINANCE_MAX_INFO = 256
_Step = tuple[tuple[int, ...], int, tuple[int, ...], tuple[int, ...]]  # (ro invoked since, k, pending mut, pending ro)
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_SETUP_CHECK_EVERY = 8192  # ops between time/memory checks while pairing and preparing
#: How much of a failure :func:`search` explains: everything (``True``), only the failing
#: op and why (``"why"``, as the shrinker needs), or nothing (``False``).
Explain = bool | Literal["why"]


@dataclass(slots=True)
class Entry:
    """One operation as the search sees it: its invocation and (ok or info) result.

    ``return_pos`` is ``-1`` when the result is unknown (``info`` or never completed).
    ``completion`` is the recorded completion op, if any.
    """

    call: Op
    result: Op
    invoke_pos: int
    return_pos: int
    completion: Op | None = None


@dataclass(slots=True)
class Budget:
    """Limits of one check: a monotonic ``deadline`` (0 = none) and RSS bytes (0 = none).

    ``memory_base``: RSS bytes not counted against ``memory_limit`` (a forked worker's
    pages shared with its parent, which the parent already counts)."""

    deadline: float = 0.0
    memory_limit: int = 0
    time_limit: float = 0.0
    memory_base: int = 0


class LimitReached(Exception):
    """The search passed its time or memory limit; the message says which."""


class WorkExceeded(Exception):
    """The search passed its ``max_work``: the caller may retry it later with more."""


@dataclass(slots=True)
class Outcome:
    """The verdict on one partition, with the explanation when it is not linearizable."""

    key: Hashable
    valid: bool | Literal["unknown"]
    reason: str = ""
    failure: dict[str, Any] | None = None
    ops: int = 0
    peak_configs: int = 0
    expansions: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def rss_bytes() -> int:
    """The resident set size of this process now (Linux), or its peak elsewhere."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def check_budget(budget: Budget) -> None:
    """Raise :class:`LimitReached` if the budget is spent."""
    if budget.deadline and time.monotonic() > budget.deadline:
        raise LimitReached(f"time limit of {budget.time_limit:g} s reached")
    if budget.memory_limit and rss_bytes() - budget.memory_base > budget.memory_limit:
        raise LimitReached(f"memory limit of {budget.memory_limit / 2**20:.0f} MiB reached")


def search(
    model: Model[Any],
    key: Hashable,
    entries: Sequence[Entry],
    budget: Budget,
    max_work: int = 0,
    use_invariant: bool = True,
    explain: Explain = True,
    init: Any = _MISSING,
) -> Outcome:
    """Decide whether ``entries`` (one partition, ordered by ``invoke_pos``) are linearizable,
    starting from ``init`` (default: ``model.init()``).

    Raises :class:`LimitReached` past the budget, and :class:`WorkExceeded` after
    ``max_work`` configuration expansions (0 = no cap). To continue a search that
    ran out of work instead of starting it again, use :class:`Search`.
    """
    outcome = Search(model, key, entries, budget, use_invariant=use_invariant, explain=explain, init=init).run(
        max_work)
    if outcome is None:
        raise WorkExceeded
    return outcome


class Search:
    """One partition's search that can be resumed: each :meth:`run` continues where the
    last stopped, with its memo, so rounds of growing work cost no repeated work.

    ``use_invariant``: prune with :meth:`Model.invariant` and :meth:`Model.reach_test`.
    ``explain``: how much of a failure to explain (see :data:`Explain`).
    ``init``: the state to start from (default: ``model.init()``).

    A fully explained failure's outcome also carries, in ``extra``, ``"path"``: the
    longest linearizable prefix as ``(op index, state after it)`` pairs, and
    ``"start"``: the state the search started from (:func:`cut` needs both).
    """

    def __init__(
        self,
        model: Model[Any],
        key: Hashable,
        entries: Sequence[Entry],
        budget: Budget,
        *,
        use_invariant: bool = True,
        explain: Explain = True,
        init: Any = _MISSING,
    ) -> None:
        self._cap = [0]
        self.work = 0
        start = model.init() if init is _MISSING else init
        self._run = _search(model, key, entries, budget, self._cap, use_invariant, explain, start)

    def run(self, max_work: int = 0) -> Outcome | None:
        """The outcome, or ``None`` if ``max_work`` more expansions (0 = no cap) were not
        enough. Raises :class:`LimitReached` past the budget (the search is then over)."""
        self._cap[0] = self.work + max_work if max_work else 0
        try:
            self.work = next(self._run)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        return None


def _search(
    model: Model[Any],
    key: Hashable,
    entries: Sequence[Entry],
    budget: Budget,
    cap: list[int],
    use_invariant: bool,
    explain: Explain,
    start: Any,
) -> Generator[int, None, Outcome]:
    """The search; it yields the work done so far whenever ``cap[0]`` (non-zero) is reached."""
    # Drop what cannot matter: an info read-only op constrains nothing.
    entries = [e for e in entries if not (e.return_pos < 0 and model.readonly(e.call))]
    n = len(entries)
    outcome = Outcome(key, True, ops=n)
    if n == 0:
        return outcome
    if n >= _SETUP_CHECK_EVERY:
        check_budget(budget)

    step: Callable[[Any, Op, Op], tuple[bool, Any]] = model.step
    calls = [e.call for e in entries]
    results = [e.result for e in entries]
    readonly = [model.readonly(c) for c in calls]
    tables: list[dict[Any, Any]] = [{} for _ in range(n)]

    # An info op is only tried once its previous identical twin is used.
    prev_twin = [-1] * n
    last_of: dict[Hashable, int] = {}
    for k, e in enumerate(entries):
        if e.return_pos < 0:
            sig = model.signature(e.call, e.result)
            prev_twin[k] = last_of.get(sig, -1)
            last_of[sig] = k

    steps, bit = _steps(entries, readonly)
    n_steps = len(steps)
    if n >= _SETUP_CHECK_EVERY:
        check_budget(budget)

    invariant = model.invariant(list(zip(calls, results, strict=True))) if use_invariant else None
    broke_invariant = [0]  # transitions the invariant refused: if none, it changed nothing
    if invariant is not None:
        model_step = step

        def step(s: Any, call: Op, result: Op) -> tuple[bool, Any]:
            ok, ns = model_step(s, call, result)
            if ok and not invariant(ns):
                broke_invariant[0] += 1
                return False, ns
            return ok, ns

    # For each step, a test of the states a future read still allows (None: none).
    has_reach = type(model).reach_test is not Model.reach_test
    bounds = _reach_tests(model, entries, steps, readonly) if use_invariant and has_reach else [None] * n_steps
    pruned = 0

    def legal(j: int, s: Any) -> Any:
        table = tables[j]
        ns = table.get(s, _MISSING)
        if ns is _MISSING:
            ok, ns = step(s, calls[j], results[j])
            table[s] = ns = ns if ok else _ILLEGAL
        return ns

    # Depth-first over return events ("steps"). A node is (step t, lin, state): the
    # ops of step t's return not yet forced. ``memo`` holds every node and closure
    # configuration ever reached: each is explored once (all failed, or we stopped).
    memo: set[tuple[int, int, Any]] = set()
    # Dominance among info ops: a configuration that has used a superset of the info ops
    # another (explored) one used, with the same ok ops and state at the same step, can do
    # nothing the other could not (every continuation of it is one of the other's, the
    # unused info ops being options only; twins map onto the earlier ones). ``used_info``
    # holds, per (step, ok part of lin, state), the info parts already explored.
    # A bit is an info op's only from that op's invocation on (before, an ok op may have held
    # the slot), so the mask is per step: the bits of the info ops pending then.
    info_masks: list[int] = []
    mask_of: dict[int, int] = {}
    info_invokes = sorted(e.invoke_pos for e in entries if e.return_pos < 0)
    for _, k, pending_mut, _ in steps:
        if bisect.bisect_left(info_invokes, entries[k].return_pos) > _DOMINANCE_MAX_INFO:
            info_masks.append(0)  # too many info ops pending (without looking at each)
            continue
        mask = mask_of.get(id(pending_mut))
        if mask is None:
            mask = 0
            for j in pending_mut:
                if entries[j].return_pos < 0:
                    mask |= bit[j]
            mask_of[id(pending_mut)] = mask
        info_masks.append(mask)
    del mask_of
    used_info: dict[tuple[int, int, Any], list[int]] = {}

    def dominated(t: int, lin: int, s: Any) -> bool:
        """Is (t, lin, s) explored, or dominated by an explored configuration? Records it if not."""
        nk = (t, lin, s)
        if nk in memo:
            return True
        memo.add(nk)
        info_mask = info_masks[t] if t < n_steps else 0
        if not info_mask:
            return False
        part = (t, lin & ~info_mask, s)
        used = lin & info_mask
        explored = used_info.get(part)
        if explored is None:
            used_info[part] = [used]
            return False
        for u in explored[-_DOMINANCE_SCAN:]:
            if not u & ~used:  # u ⊆ used
                return True
        explored.append(used)
        return False
    deepest = -1
    deep_states: set[Any] = set()
    deep_path: Any = None
    work = 0
    budget_at = _CHECK_EVERY
    check_at = min(budget_at, cap[0]) if cap[0] else budget_at

    def children(t: int, lin: int, s: Any, p: Any) -> Iterator[Any]:
        """Ways to linearize step t's op k from (lin, s), fewest extra ops first;
        :data:`_PAUSE` when the work cap is reached (the next ``next`` resumes)."""
        nonlocal work, check_at, budget_at, pruned
        _, k, pmut, pro = steps[t]
        kb = bit[k]
        bound = bounds[t]
        frontier = [(lin, s, p)]
        while frontier:
            later = []
            for lin, s, p in frontier:
                work += 1
                if work >= check_at:
                    if work >= budget_at:
                        budget_at += _CHECK_EVERY
                        check_budget(budget)
                    if cap[0] and work >= cap[0]:
                        yield _PAUSE
                    check_at = min(budget_at, cap[0]) if cap[0] > work else budget_at
                if t == deepest:
                    deep_states.add(s)
                for j in pmut:
                    b = bit[j]
                    if lin & b:
                        continue
                    tw = prev_twin[j]
                    if tw >= 0 and not lin & bit[tw]:
                        continue
                    ns = legal(j, s)
                    if ns is _ILLEGAL:
                        continue
                    if bound is not None and not bound(ns):
                        pruned += 1
                        continue
                    nl = lin | b
                    np = (j, ns, p)
                    for r in pro:
                        rb = bit[r]
                        if not nl & rb and legal(r, ns) is not _ILLEGAL:
                            nl |= rb
                            np = (r, ns, np)
                    if nl & kb:
                        yield nl ^ kb, ns, np
                    elif j != k and not dominated(t, nl, ns):
                        later.append((nl, ns, np))
            frontier = later

    stack: list[Iterator[Any]] = [iter(((0, start, None),))]
    while stack:
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
            continue
        if child is _PAUSE:
            yield work
            continue
        t = len(stack) - 1
        lin, s, p = child
        if t == n_steps:
            break  # every ok op is linearized: the partition is linearizable
        bound = bounds[t]
        if bound is not None and not bound(s):
            pruned += 1
            continue
        ro_new, k, _, _ = steps[t]
        for r in ro_new:
            if legal(r, s) is not _ILLEGAL:
                lin |= bit[r]
                p = (r, s, p)
        if dominated(t, lin, s):
            continue
        if t > deepest:
            deepest = t
            deep_states = {s}
            deep_path = p
        kb = bit[k]
        if lin & kb:
            stack.append(iter(((lin ^ kb, s, p),)))
        else:
            stack.append(children(t, lin, s, p))
    else:
        outcome.valid = False
        if explain:
            k = steps[deepest][1]
            path = _path_list(deep_path)
            failure: dict[str, Any]
            unlin: dict[str, Any]
            if explain == "why":
                bad = entries[k]
                failure = {"index": bad.call.index, "why": model.explain(bad.call, bad.result, list(deep_states))}
                unlin = failure
            else:
                failure = _explain(model, entries, k, deep_states, path, start)
                unlin = failure["unlinearizable"][0]
                outcome.extra = {"path": [(entries[j].call.index, st) for j, st in path], "start": start}
            outcome.failure = failure
            if broke_invariant[0] or pruned:
                # Pruning cut states early; explain in plain model terms if that is cheap.
                plain: Outcome | None
                try:
                    plain = search(model, key, entries, budget, max(_PLAIN_WORK, 2 * work), use_invariant=False,
                                   explain=explain, init=start)
                except WorkExceeded:
                    plain = _explain_after(model, key, entries, k, path, start, budget, max(_PLAIN_WORK, 2 * work),
                                           explain)
                if plain is not None and plain.failure is not None:
                    outcome.failure = failure = plain.failure
                    outcome.extra = plain.extra
                    unlin = failure if explain == "why" else failure["unlinearizable"][0]
                else:
                    unlin["why"] += " (and no order fits the values read later)"
            outcome.reason = unlin["why"]

    outcome.peak_configs = len(memo)
    outcome.expansions = work
    return outcome


def _reach_tests(
    model: Model[Any], entries: Sequence[Entry], steps: Sequence[_Step], readonly: Sequence[bool]
) -> list[Callable[[Any], bool] | None]:
    """For each step, a test every state then must pass (``None``: no test), from the
    first definite reads invoked after it (:meth:`Model.reach_test`).

    Why it is sound: a read invoked after step t's event is linearized after every op
    of any configuration at step t, and only ops not yet returned at t or invoked
    before the read returns can come in between.
    """
    invokes = [e.invoke_pos for e in entries]
    reads = [k for k, e in enumerate(entries) if readonly[k] and e.return_pos >= 0]
    read_invokes = [invokes[k] for k in reads]
    tests: list[Callable[[Any], bool] | None] = []
    cache: dict[tuple[int, tuple[int, ...]], Callable[[Any], bool] | None] = {}
    for _, k, pmut, _ in steps:
        now = entries[k].return_pos
        found: list[Callable[[Any], bool]] = []
        first = bisect.bisect_right(read_invokes, now)
        for g in reads[first : first + _LOOKAHEAD]:
            key = (g, pmut)
            if key not in cache:
                later = range(bisect.bisect_right(invokes, now), bisect.bisect_left(invokes, entries[g].return_pos))
                between = [(entries[j].call, entries[j].result) for j in (*pmut, *later) if not readonly[j]]
                cache[key] = model.reach_test(entries[g].call, entries[g].result, between)
            test = cache[key]
            if test is not None:
                found.append(test)
        if not found:
            tests.append(None)
        elif len(found) == 1:
            tests.append(found[0])
        else:
            tests.append(lambda s, found=tuple(found): all(test(s) for test in found))  # type: ignore[misc]
    return tests


def _steps(entries: Sequence[Entry], readonly: Sequence[bool]) -> tuple[list[_Step], list[int]]:
    """The return events in order, each with what is pending then; and each op's bit.

    A bit is freed when its op returns (every configuration then holds the op), so
    bitsets stay as small as the concurrency; ``info`` ops keep theirs.
    """
    events: list[tuple[int, int]] = [(e.invoke_pos, k) for k, e in enumerate(entries)]
    events += [(e.return_pos, ~k) for k, e in enumerate(entries) if e.return_pos >= 0]
    events.sort()
    bit = [0] * len(entries)
    free: list[int] = []
    next_slot = 0
    pmut: list[int] = []
    pro: list[int] = []
    ro_new: list[int] = []
    steps: list[_Step] = []
    mut_t: tuple[int, ...] = ()
    ro_t: tuple[int, ...] = ()
    for _, ev in events:
        if ev >= 0:
            if free:
                slot = free.pop()
            else:
                slot = next_slot
                next_slot += 1
            bit[ev] = 1 << slot
            if readonly[ev]:
                pro.append(ev)
                ro_new.append(ev)
                ro_t = ()
            else:
                pmut.append(ev)
                mut_t = ()
            continue
        k = ~ev
        mut_t = mut_t or tuple(pmut)
        ro_t = ro_t or tuple(pro)
        steps.append((tuple(ro_new), k, mut_t, ro_t))
        ro_new = []
        if readonly[k]:
            pro.remove(k)
            ro_t = ()
        else:
            pmut.remove(k)
            mut_t = ()
        free.append(bit[k].bit_length() - 1)
    return steps, bit


# ---- explanation -------------------------------------------------------------------


def _path_list(p: Any) -> list[tuple[int, Any]]:
    out: list[tuple[int, Any]] = []
    while p is not None:
        out.append((p[0], p[1]))
        p = p[2]
    out.reverse()
    return out


def op_json(e: Entry, model: Model[Any]) -> dict[str, Any]:
    """One op of a window or reproducer, as in the details schema (docs/ARCHITECTURE.md)."""
    c, r = e.completion, e.call
    return {
        "index": r.index,
        "process": r.process,
        "f": r.f,
        "value": c.value if c is not None and c.is_ok else r.value,
        "type": c.type.value if c is not None else "info",
        "invoke_time": r.time,
        "complete_time": c.time if c is not None else None,
        "complete_index": c.index if c is not None else None,
        "description": model.describe_op(r, e.result),
    }


def _explain(
    model: Model[Any], entries: Sequence[Entry], k: int, states_seen: set[Any], path: list[tuple[int, Any]], start: Any
) -> dict[str, Any]:
    """The failure of op ``k``: longest prefix, the states it could see, and a window."""
    bad = entries[k]
    states = list(states_seen)
    why = model.explain(bad.call, bad.result, states)
    index_path = [(entries[j].call.index, st) for j, st in path]
    window = cut(entries, bad, index_path, start, window_start(entries, bad))
    window_ops = [op_json(e, model) for e in window.ops]
    times = [t for o in window_ops for t in (o["invoke_time"], o["complete_time"]) if t is not None]
    unlin = op_json(bad, model)
    unlin["why"] = why
    unlin["possible_states"] = sorted({model.describe_state(s) for s in states})[:50]
    return {
        "longest_prefix": [ix for ix, _ in index_path],
        "prefix_states": [model.describe_state(s) for _, s in index_path],
        "unlinearizable": [unlin],
        "window": {
            "start_time": min(times, default=0),
            "end_time": max(times, default=0),
            "initial_state": model.state_json(window.state),
            "initial_state_description": model.describe_state(window.state),
            "after_index": window.after,
            "ops": window_ops,
        },
        "pending_info_before_window": window.dropped_info,
    }


def _explain_after(
    model: Model[Any],
    key: Hashable,
    entries: Sequence[Entry],
    k: int,
    path: list[tuple[int, Any]],
    start: Any,
    budget: Budget,
    max_work: int,
    explain: Explain,
) -> Outcome | None:
    """A pruned search's failure at op ``k`` explained in plain model terms from the window's
    start on: the plain search of the whole history took too long, so search, without
    pruning, the ops left after the longest linearizable prefix's part before the window,
    from the state that part reaches (:func:`cut` with ``whole``). That is not linearizable
    either, and its failure names the op (often a read after ``k``) and the states it could
    see from there. ``None`` if that also takes more than ``max_work``."""
    index_path = [(entries[j].call.index, st) for j, st in path]
    c = cut(entries, entries[k], index_path, start, window_start(entries, entries[k]), whole=True)
    try:
        sub = search(model, key, c.ops, budget, max_work, use_invariant=False, explain=explain, init=c.state)
    except WorkExceeded:
        return None
    if sub.valid is not False or sub.failure is None:
        return None
    if explain is True:
        sub.extra["path"] = c.prefix + sub.extra["path"]
        sub.extra["start"] = start
        sub.failure["longest_prefix"] = [ix for ix, _ in c.prefix] + sub.failure["longest_prefix"]
        sub.failure["prefix_states"] = [model.describe_state(s) for _, s in c.prefix] + sub.failure["prefix_states"]
    return sub


def window_start(entries: Sequence[Entry], bad: Entry) -> int:
    """Where the window of ``bad``'s failure begins (an event position): at the first op that
    overlaps ``bad`` and completed, or at the last three ops that completed before those."""
    end = bad.return_pos
    overlapping = [e for e in entries if e.invoke_pos <= end and e.return_pos >= bad.invoke_pos]
    start = min(e.invoke_pos for e in overlapping)  # bad itself is one of them
    before = sorted((e for e in entries if 0 <= e.return_pos < start), key=lambda e: e.return_pos)[-3:]
    return min([start, *(e.invoke_pos for e in before)])


@dataclass(slots=True)
class Cut:
    """A failure's ops from some point of the history on, and the state the history was in there.

    ``state``: the model state after ``after`` (an op index; ``None``: the history's
    start) in the longest linearizable prefix the search found; ``ops``: in invocation
    order; ``dropped_info``: info ops invoked before the cut that it leaves out (the
    prefix did not need them).
    """

    state: Any
    ops: list[Entry]
    after: int | None
    dropped_info: int
    prefix: list[tuple[int, Any]]  # the part of the path before the cut


def cut(
    entries: Sequence[Entry], bad: Entry, path: Sequence[tuple[int, Any]], start: Any, at: int, whole: bool = False
) -> Cut:
    """The ops of ``bad``'s failure from event position ``at`` on, with the state they start from,
    such that they fail on ``bad`` again. ``whole``: every op of ``entries`` but those the
    path linearizes before the cut (then the cut is not linearizable, but may fail on a
    later op: a failure the search found by pruning with later reads needs them).

    ``path`` is the longest linearizable prefix the search found (``(op index, state after
    it)``, from the state ``start``): a legal linearization of every op that completed
    before ``bad`` did. Ops invoked before ``at`` that ``path`` linearizes before its first
    op invoked at or after ``at`` make the cut's starting state; those it linearizes later
    (ops pending across ``at``) join the cut's ops, with every op invoked from ``at`` until
    ``bad`` returned. Why the cut still fails on ``bad``: ``path``'s remainder reaches
    ``bad``'s return from that state, and any linearization of the cut that got past it
    would, after ``path``'s beginning, be one of the whole history (every op invoked
    before ``at`` precedes every op invoked from ``at`` that completes earlier, in real time).
    """
    end = bad.return_pos
    by_index = {e.call.index: e for e in entries}
    inside = [e for e in entries if at <= e.invoke_pos <= end]
    split = next((i for i, (ix, _) in enumerate(path) if by_index[ix].invoke_pos >= at), len(path))
    state = path[split - 1][1] if split else start
    after = path[split - 1][0] if split else None
    late = [by_index[ix] for ix, _ in path[split:] if by_index[ix].invoke_pos < at]
    used = {ix for ix, _ in path}
    dropped = sum(1 for e in entries if e.invoke_pos < at and e.return_pos < 0 and e.call.index not in used)
    if whole:
        before = {ix for ix, _ in path[:split]}
        return Cut(state, [e for e in entries if e.call.index not in before], after, 0, list(path[:split]))
    ops = sorted([*inside, *late], key=lambda e: e.invoke_pos)
    return Cut(state, ops, after, dropped, list(path[:split]))


def make_entries(ops: Sequence[Op], budget: Budget | None = None) -> tuple[list[Entry], list[int]]:
    """Pair invocations with completions (``fail`` ops dropped), in invocation order.

    Returns the entries and the positions (in ``ops``) of completions that had no
    invocation, for the caller to report. ``budget``: checked as it goes (it raises
    :class:`LimitReached`).
    """
    entries: list[Entry] = []
    pending: dict[Any, tuple[int, Op]] = {}
    orphans: list[int] = []
    done: list[tuple[int, Op, int, Op | None]] = []
    checking = budget is not None and (budget.deadline or budget.memory_limit)
    for pos, op in enumerate(ops):
        if checking and not pos % _SETUP_CHECK_EVERY:
            assert budget is not None
            check_budget(budget)
        if op.process == "nemesis":
            continue
        if op.type is OpType.INVOKE:
            prior = pending.pop(op.process, None)
            if prior is not None:  # the process moved on: its earlier op has an unknown outcome
                done.append((prior[0], prior[1], -1, None))
            pending[op.process] = (pos, op)
            continue
        started = pending.pop(op.process, None)
        if started is None:
            orphans.append(pos)
            continue
        if op.type is OpType.FAIL:
            continue
        done.append((started[0], started[1], pos if op.type is OpType.OK else -1, op))
    for pos, op in pending.values():
        done.append((pos, op, -1, None))
    done.sort(key=lambda d: d[0])
    for n, (ipos, call, rpos, completion) in enumerate(done):
        if checking and not n % _SETUP_CHECK_EVERY:
            assert budget is not None
            check_budget(budget)
        if rpos >= 0:
            assert completion is not None
            result = completion
        elif completion is not None and completion.type is OpType.INFO:
            result = completion
        else:
            result = Op(type=OpType.INFO, f=call.f, value=None, process=call.process, key=call.key)
        entries.append(Entry(call, result, ipos, rpos, completion))
    return entries, orphans
