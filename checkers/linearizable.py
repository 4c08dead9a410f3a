"""The linearizability checker: :class:`LinearizabilityChecker`.

Semantics: an ``ok`` op took effect between its invocation and its completion; a
``fail`` op never took effect; an ``info`` op (or one that never completed) may
take effect at any point after its invocation, or not at all; a read whose result
is unknown constrains nothing. The model splits the history into independent
partitions (per key); the history is linearizable iff every partition is.

Example::

    >>> from checkers import CheckContext, LinearizabilityChecker
    >>> result = LinearizabilityChecker("cas-register").check(history, CheckContext(time_limit=30))
    >>> result.valid, result.reason
    (False, 'key r3: read 3, but the register can only be 1 or 4 here')

``result.details`` follows "Linearizability details" in ``docs/ARCHITECTURE.md``.

Reproducers: each explained failure's ``window`` and ``minimal`` start from the state
the history was in where they begin (``initial_state``: the state after op
``after_index`` in the longest linearizable prefix), and re-check as failing on the
same op (the minimal one for the same reason, too). A history whose
``meta["reproducer"]`` gives an ``initial_state`` (a file ``--minimal-out`` wrote)
starts partition ``key`` from it; :func:`minimal_history` and :func:`window_history`
build such histories.

Lost locks: with the mutex model, a release that failed or whose lease was lost (see
:mod:`checkers.mutex`) is read as a release of unknown outcome (it may take effect any
time after its invocation: the lock expired under its holder), and the finding is
listed under ``lost_locks``, as the mutex checker lists it; a failure on a key with a
lost lock names it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Hashable
from typing import Any

from checkers._linear import (
    Budget,
    Entry,
    LimitReached,
    Outcome,
    Search,
    check_budget,
    cut,
    make_entries,
    op_json,
    rss_bytes,
    window_start,
)
from checkers._model import Model
from checkers._models import MutexModel, model_named
from checkers._result import UNKNOWN, CheckContext, Result
from checkers._shrink import CANDIDATE_WORK, Shrinker, Shrunk, order_only
from checkers._witness import applies, witness
from checkers.mutex import LostLock, find_lost_locks
from harness.core import History, Op, OpType, op_from_json

__all__ = [
    "LimitReached",
    "LinearizabilityChecker",
    "budget_for",
    "check_budget",
    "minimal_history",
    "minimal_json",
    "reproducer_header",
    "unsupported_ops",
    "window_history",
]

#: Partitions still unfinished after this much work each (if two or more) are finished
#: in forked workers. Forking the whole check does not pay on easy histories (100,000 ops
#: over 1,000 keys: pairing and splitting ops is serial and each key is quick); hard keys
#: (20,000 ops, 10 keys, 30% info) gained 15% on 2 cores. Whole-process figures for each
#: class of history: ``bench/checker.py``.
FORK_AFTER_WORK = 4096
#: Work (configuration expansions) each partition gets in the first round; it grows
#: ``ROUND_GROWTH``-fold per round, so an easy failing key is found before a hard key
#: is finished. Searches resume across rounds, so small rounds waste nothing.
FIRST_ROUND_WORK = 1024
ROUND_GROWTH = 4
#: Seconds (at most) spent shrinking failures to minimal reproducers, and the share
#: of the check's remaining time limit it may take.
SHRINK_SECONDS = 5.0
SHRINK_SHARE = 0.25
#: Work each reproducer candidate's check may take: what the failing partition's search
#: took, within these bounds (a candidate is a part of it).
MAX_CANDIDATE_WORK = 50_000
_SKIPPED = "not checked: another key already failed"
_PARTS_BETWEEN_CHECKS = 16  # partitions between two time/memory checks (a small one never checks itself)

_JOBS: list[tuple[Hashable, list[Entry]]] = []  # inherited by forked workers
_JOB_SEARCHES: dict[int, Search] = {}
_JOB_BUDGET: list[Budget] = []
_JOB_SHARE: list[int] = []


def budget_for(ctx: CheckContext, now: float | None = None) -> Budget:
    """The budget of a check under ``ctx``: its time limit counts from ``ctx.started`` (if
    set: the caller also spent it on reading the history), else from ``now``."""
    started = ctx.started or (time.monotonic() if now is None else now)
    return Budget(
        deadline=started + ctx.time_limit if ctx.time_limit else 0.0,
        memory_limit=ctx.memory_limit,
        time_limit=ctx.time_limit,
    )


def unsupported_ops(model: Model[Any], history: History) -> list[tuple[int, str]]:
    """``(position, problem)`` for every client invocation the model cannot check."""
    out = []
    for pos, op in enumerate(history.ops):
        if op.is_invoke and op.is_client:
            problem = model.accepts(op)
            if problem is not None:
                out.append((pos, problem))
    return out


class LinearizabilityChecker:
    """Checks that a history is linearizable with respect to ``model``.

    ``model`` is a :class:`~checkers.Model` or a name from :data:`checkers.MODELS`.
    ``workers``: processes for the hard partitions (``None``: all cores); they are
    used only for partitions unfinished after :data:`FORK_AFTER_WORK`. ``max_failures`` caps the explained
    failures in the details (every failing key is still counted).
    ``shrink_seconds``: time to shrink explained failures to minimal reproducers
    (``minimal`` in the failure; at most :data:`SHRINK_SHARE` of the time left; 0 = off).
    ``shrink_all``: shrink every explained failure (one per failing key); by default only
    the first is shrunk, since each shrink re-checks up to hundreds of sub-histories (on
    the Porcupine corpus, shrinking was a third of the whole check's time) and one
    reproducer is what a bug report needs. ``details["shrink_s"]`` says what it cost.
    """

    name = "linear"

    def __init__(
        self,
        model: Model[Any] | str,
        *,
        workers: int | None = None,
        max_failures: int = 10,
        stop_early: bool = True,
        shrink_seconds: float = SHRINK_SECONDS,
        shrink_all: bool = False,
    ) -> None:
        self.model: Model[Any] = model_named(model) if isinstance(model, str) else model
        self.workers = workers
        self.shrink_seconds = shrink_seconds
        self.shrink_all = shrink_all
        self.max_failures = max_failures
        self.stop_early = stop_early

    def check(self, history: History, ctx: CheckContext) -> Result:
        started = time.monotonic()
        budget = budget_for(ctx, started)
        try:
            return self._check(history, budget, started)
        except LimitReached as e:
            return Result(UNKNOWN, str(e), {"model": self.model.name, "time_s": round(time.monotonic() - started, 6)})
        except MemoryError:
            return Result(UNKNOWN, "ran out of memory", {"model": self.model.name})

    def _check(self, history: History, budget: Budget, started: float) -> Result:
        bad = unsupported_ops(self.model, history)
        if bad:
            pos, unsupported = bad[0]
            return Result(UNKNOWN, f"op {history.ops[pos].index}: {unsupported}", {"unsupported_ops": len(bad)})
        starts, problem = self._initial_states(history)
        if problem is not None:
            return Result(UNKNOWN, problem, {"model": self.model.name})
        lost = find_lost_locks(history) if isinstance(self.model, MutexModel) else []
        ops = _expired_releases(history.ops, lost)
        check_budget(budget)
        entries, _orphans = make_entries(ops, budget)
        parts: dict[Hashable, list[Entry]] = {}
        key_of = self.model.partition_key
        for n, e in enumerate(entries):
            if not n % 8192:
                check_budget(budget)
            parts.setdefault(key_of(e.call), []).append(e)
        jobs = list(parts.items())
        outcomes = self._run(jobs, budget, len(entries), starts)
        shrink_started = time.monotonic()
        self._shrink(outcomes, parts, budget)
        shrink_s = time.monotonic() - shrink_started
        result = self._result(outcomes, time.monotonic() - started, lost)
        if result.valid is False:
            result.details["shrink_s"] = round(shrink_s, 6)
        if starts:
            result.details["initial_states"] = [
                {"key": _key_json(k), "state": self.model.state_json(s), "description": self.model.describe_state(s)}
                for k, s in starts.items()
            ]
        return result

    def _initial_states(self, history: History) -> tuple[dict[Hashable, Any], str | None]:
        """The partitions a reproducer's header starts from a given state, and what is wrong with the header."""
        header = history.meta.get("reproducer")
        if not isinstance(header, dict) or "initial_state" not in header:
            return {}, None
        model = header.get("model")
        if model is not None and model != self.model.name:
            return {}, f"this reproducer is for the {model} model; check it with --model {model}"
        try:
            state = self.model.state_from_json(header["initial_state"])
        except (TypeError, ValueError) as e:
            return {}, f"the reproducer's initial_state is not a state of the {self.model.name} model: {e}"
        key = header.get("key")
        keys = {self.model.partition_key(op): None for op in history.ops if op.is_invoke and op.is_client}
        return {k: state for k in keys if _key_json(k) == key}, None

    def _shrink(self, outcomes: list[Outcome], parts: dict[Hashable, list[Entry]], budget: Budget) -> None:
        """Add a ``minimal`` reproducer to each explained failure, within the shrink time.

        The reproducer fails on the same op for the same reason, from the state the history
        was in where it begins. It is shrunk from the window's ops first, then from cuts
        further back (each starting in the state the longest linearizable prefix gives
        there), until one fails the same way: a window that starts in another state than
        the whole history could be in may see fewer states at the failing op."""
        if not self.shrink_seconds:
            return
        now = time.monotonic()
        seconds = self.shrink_seconds
        if budget.deadline:
            seconds = min(seconds, SHRINK_SHARE * max(0.0, budget.deadline - now))
        deadline = now + seconds
        failed = [o for o in outcomes if o.valid is False][: self.max_failures if self.shrink_all else 1]
        for o in failed:
            if o.failure is None or "path" not in o.extra or time.monotonic() >= deadline:
                continue
            part = parts[o.key]
            unlin = o.failure["unlinearizable"][0]
            bad = next((e for e in part if e.call.index == unlin["index"]), None)
            if bad is None:
                continue
            size = sum(1 for e in part if not (e.return_pos < 0 and self.model.readonly(e.call)))
            story = order_only(self.model, part, o.extra["start"])
            work = max(CANDIDATE_WORK, min(o.expansions, MAX_CANDIDATE_WORK))
            for at, whole in [*((at, False) for at in _cut_points(part, bad)), (0, True)]:
                c = cut(part, bad, o.extra["path"], o.extra["start"], at, whole)
                shrinker = Shrinker(self.model, o.key, c.ops, deadline, memory_limit=budget.memory_limit, keep=bad,
                                    why=unlin["why"], start=c.state, after=c.after, original_size=size,
                                    order_only=story, candidate_work=work)
                found = shrinker.run()
                if found is not None:
                    o.failure["minimal"] = minimal_json(self.model, found, bad, unlin["why"])
                    break
                if shrinker.timed_out:
                    break

    # ---- running partitions ------------------------------------------------------------

    def _run(
        self, jobs: list[tuple[Hashable, list[Entry]]], budget: Budget, n_ops: int, starts: dict[Hashable, Any]
    ) -> list[Outcome]:
        """Each partition's outcome: by the revisions' witness where it holds, else by search."""
        outcomes: dict[int, Outcome] = {}
        contradictions: dict[int, list[dict[str, Any]]] = {}
        if applies(self.model):
            init = self.model.init()
            for n, (key, part) in enumerate(jobs):
                if not n % _PARTS_BETWEEN_CHECKS:
                    check_budget(budget)
                if key in starts:
                    continue  # a reproducer starts mid-history: its revisions start elsewhere
                found = witness(self.model, part, init)
                if found.order is not None:
                    outcomes[n] = Outcome(key, True, ops=len(part), extra={"witness": "revisions"})
                else:
                    claimed = [c for c in found.contradictions if not c.get("guess")]
                    if claimed:
                        contradictions[n] = claimed
        rest = [n for n in range(len(jobs)) if n not in outcomes]
        workers = self.workers if self.workers is not None else (os.cpu_count() or 1)
        searched = self._run_rounds([jobs[n] for n in rest], budget, min(workers, len(rest)), starts)
        for n, outcome in zip(rest, searched, strict=True):
            if n in contradictions:
                outcome.extra["revision_contradictions"] = contradictions[n]
            outcomes[n] = outcome
        return [outcomes[n] for n in range(len(jobs))]

    def _run_rounds(
        self,
        jobs: list[tuple[Hashable, list[Entry]]],
        budget: Budget,
        workers: int = 1,
        starts: dict[Hashable, Any] | None = None,
    ) -> list[Outcome]:
        """Check partitions in rounds of growing work; after a failure, finish the round and stop.

        Each partition's search is resumed, not restarted, in the next round. With
        ``workers > 1``, partitions still unfinished after :data:`FORK_AFTER_WORK` (the
        hard ones, if at least two) are resumed in forked workers."""
        done: dict[int, Outcome] = {}
        todo = sorted(range(len(jobs)), key=lambda i: len(jobs[i][1]))
        searches: dict[int, Search] = {}
        max_work = FIRST_ROUND_WORK if len(jobs) > 1 else 0
        spent = 0
        starts = starts or {}
        while todo:
            later: list[int] = []
            for n, i in enumerate(todo):
                key, part = jobs[i]
                if not n % _PARTS_BETWEEN_CHECKS:
                    try:
                        check_budget(budget)
                    except LimitReached as e:
                        # past the limit: every partition not yet decided is unknown
                        for j in [*later, *todo[n:]]:
                            done[j] = Outcome(jobs[j][0], UNKNOWN, str(e), ops=len(jobs[j][1]))
                        later = []
                        break
                if i not in searches:
                    if key in starts:
                        searches[i] = Search(self.model, key, part, budget, init=starts[key])
                    else:
                        searches[i] = Search(self.model, key, part, budget)
                outcome = _resume(searches[i], key, part, max_work)
                if outcome is None:
                    later.append(i)
                else:
                    done[i] = outcome
                    del searches[i]  # its memo is no longer needed
            todo = later
            spent += max_work
            if self.stop_early and any(o.valid is False for o in done.values()):
                for i in todo:
                    done[i] = Outcome(jobs[i][0], UNKNOWN, _SKIPPED, ops=len(jobs[i][1]))
                break
            if workers > 1 and len(todo) > 1 and spent >= FORK_AFTER_WORK:
                try:
                    done.update(_run_forked(jobs, searches, todo, budget, min(workers, len(todo)), self.stop_early))
                    break
                except (OSError, ImportError, ValueError):
                    workers = 1  # no fork here (or no room for it): go on in this process
            max_work = max_work * ROUND_GROWTH if len(todo) > 1 else 0
        return [done[i] for i in range(len(jobs))]

    def _result(self, outcomes: list[Outcome], elapsed: float, lost: list[LostLock]) -> Result:
        failed = [o for o in outcomes if o.valid is False]
        skipped = [o for o in outcomes if o.reason == _SKIPPED]
        unknown = [o for o in outcomes if o.valid == UNKNOWN and o.reason != _SKIPPED]
        details: dict[str, Any] = {
            "partitions": len(outcomes),
            "checked": sum(1 for o in outcomes if o.valid != UNKNOWN),
            "time_s": round(elapsed, 6),
            "model": self.model.name,
            "ops": sum(o.ops for o in outcomes),
            "peak_configs": max((o.peak_configs for o in outcomes), default=0),
            "failures": [],
            "unknown": [{"key": _key_json(o.key), "reason": o.reason} for o in unknown],
            "skipped": len(skipped),
            "witnessed": sum(1 for o in outcomes if o.extra.get("witness")),
        }
        contradicting = [{"key": _key_json(o.key), **c} for o in outcomes
                         for c in o.extra.get("revision_contradictions", ())]
        if contradicting:
            details["revision_contradictions"] = contradicting[:10]
        if isinstance(self.model, MutexModel):
            details["lost_locks"] = [lock.to_json() for lock in lost]
        related_note = ""
        for n, o in enumerate(failed[: self.max_failures]):
            assert o.failure is not None
            failure = {"key": _key_json(o.key), **o.failure}
            bad_index = failure["unlinearizable"][0]["index"]
            related = [lock for lock in lost if lock.key == o.key and lock.acquire.index < bad_index][-3:]
            if related:
                failure["lost_locks"] = [lock.to_json() for lock in related]
                if n == 0:
                    related_note = f" (it may follow from a lost lock: {related[-1].why})"
            details["failures"].append(failure)
        if failed:
            details["failed_keys"] = len(failed)
            first = failed[0]
            where = f"key {first.key}: " if first.key is not None else ""
            more = f" (and {len(failed) - 1} more keys)" if len(failed) > 1 else ""
            return Result(False, f"{where}{first.reason}{related_note}{more}", details)
        if unknown:
            where = f"key {unknown[0].key}: " if unknown[0].key is not None else ""
            return Result(UNKNOWN, f"{where}{unknown[0].reason}", details)
        note = ""
        if lost:
            more = f" (and {len(lost) - 1} more)" if len(lost) > 1 else ""
            note = (f"; {len(lost)} lost lock{'' if len(lost) == 1 else 's'}, read as released after "
                    f"{'its' if len(lost) == 1 else 'their'} release began: {lost[0].why}{more}")
        return Result(True, f"linearizable ({len(outcomes)} partitions){note}", details)


def _expired_releases(ops: list[Op], lost: list[LostLock]) -> list[Op]:
    """``ops`` with each lost lock's failed release read as a release of unknown outcome: the
    lock expired under its holder, so it was released at some point after the release began."""
    expired = {lock.completion.index for lock in lost if lock.completion is not None
               and lock.completion.type is OpType.FAIL}
    return [op.with_(type=OpType.INFO) if op.index in expired else op for op in ops] if expired else ops


def _cut_points(part: list[Entry], bad: Entry) -> list[int]:
    """Where the reproducer candidates of ``bad``'s failure begin: the window's start, then
    twice as far back each time, then the history's start (event positions)."""
    at = window_start(part, bad)
    first = next((i for i, e in enumerate(part) if e.invoke_pos >= at), 0)
    points = [at]
    step = max(8, sum(1 for e in part[first:] if e.invoke_pos <= bad.return_pos))
    while first > 0:
        first = max(0, first - step)
        step *= 2
        points.append(part[first].invoke_pos if first else 0)
    return points


def minimal_json(model: Model[Any], shrunk: Shrunk, bad: Entry | None = None, why: str | None = None) -> dict[str, Any]:
    """The ``minimal`` part of a failure: the reproducer's ops (as in ``window``), its size,
    the state it starts from (``initial_state``: the state after op ``after_index`` of the
    original history, or at its start when that is ``None``), the op it fails on
    (``fails_on``) and why, and ``history``: its recorded ops (invocations and completions)
    as JSONL objects, in order, which re-check from that state as failing on the same op
    for the same reason."""
    events: list[tuple[int, Op]] = []
    for e in shrunk.entries:
        events.append((e.call.index, e.call))
        if e.completion is not None:
            events.append((e.completion.index, e.completion))
    events.sort(key=lambda ev: ev[0])
    return {
        "ops": [op_json(e, model) for e in shrunk.entries],
        "size": len(shrunk.entries),
        "original_size": shrunk.original_size,
        "shrunk_in_s": round(shrunk.seconds, 6),
        "complete": shrunk.complete,
        "order_only": shrunk.order_only,
        "initial_state": model.state_json(shrunk.start),
        "initial_state_description": model.describe_state(shrunk.start),
        "after_index": shrunk.after,
        "fails_on": bad.call.index if bad is not None else None,
        "why": why,
        "history": [op.to_json() for _, op in events],
    }


def reproducer_header(model: str, failure: dict[str, Any], part: str = "minimal") -> dict[str, Any]:
    """The header line of a reproducer file, for ``failure``'s ``minimal`` (or ``window``):
    ``{"reproducer": {"model", "key", "initial_state", "after_index", "fails_on", "why"}}``.
    ``etcd-harness check`` starts partition ``key`` from ``initial_state`` when it reads it."""
    src = failure[part]
    unlin = failure["unlinearizable"][0]
    return {"reproducer": {
        "model": model,
        "key": failure.get("key"),
        "initial_state": src["initial_state"],
        "initial_state_description": src.get("initial_state_description"),
        "after_index": src.get("after_index"),
        "fails_on": unlin["index"],
        "why": unlin["why"],
        "part": part,
    }}


def minimal_history(model: str, failure: dict[str, Any]) -> History:
    """``failure``'s minimal reproducer as the history ``--minimal-out`` writes: its ops keep
    their indexes, and ``meta["reproducer"]`` its starting state."""
    header = reproducer_header(model, failure)["reproducer"]
    return History([op_from_json(d) for d in failure["minimal"]["history"]], {"reproducer": header})


def window_history(model: str, history: History, failure: dict[str, Any]) -> History:
    """``failure``'s window as a history of its own (cut from ``history``, the history that
    was checked): the window's ops, invocations and completions, with their indexes, and
    ``meta["reproducer"]`` its starting state. It re-checks as failing on the same op."""
    wanted: set[int] = set()
    for op in failure["window"]["ops"]:
        wanted.add(op["index"])
        if op.get("complete_index") is not None:
            wanted.add(op["complete_index"])
    header = reproducer_header(model, failure, "window")["reproducer"]
    ops = _expired_releases(history.ops, find_lost_locks(history)) if model == MutexModel.name else history.ops
    return History([op for op in ops if op.index in wanted], {"reproducer": header})


def _key_json(key: Hashable) -> Any:
    return key if key is None or isinstance(key, str | int | float | bool) else str(key)


def _resume(run: Search, key: Hashable, part: list[Entry], max_work: int) -> Outcome | None:
    """The outcome, or ``None`` if ``max_work`` more work was not enough (run again to go on)."""
    try:
        return run.run(max_work)
    except LimitReached as e:
        return Outcome(key, UNKNOWN, str(e), ops=len(part))
    except MemoryError:
        return Outcome(key, UNKNOWN, "ran out of memory", ops=len(part))
    except RecursionError:
        return Outcome(key, UNKNOWN, "the model recursed too deeply", ops=len(part))


def _worker_start() -> None:
    """In a fresh worker: take this worker's share of the memory limit, and count only
    memory the worker adds, not the pages it shares with the parent. The budget object
    is the one the inherited searches hold, so it is changed in place."""
    budget, share = _JOB_BUDGET[0], _JOB_SHARE[0]
    if budget.memory_limit:
        budget.memory_limit = share
        budget.memory_base = rss_bytes()


def worker_budget(budget: Budget, workers: int, parent_rss: int) -> int:
    """Each worker's share of the memory limit: what the parent has not used yet, divided
    by the workers, so that parent and workers together stay within the limit."""
    if not budget.memory_limit:
        return 0
    return max(1, (budget.memory_limit - parent_rss) // workers)


def _job(index: int) -> tuple[int, Outcome]:
    key, part = _JOBS[index]
    try:
        check_budget(_JOB_BUDGET[0])  # a small partition's search never checks it itself
    except LimitReached as e:
        return index, Outcome(key, UNKNOWN, str(e), ops=len(part))
    outcome = _resume(_JOB_SEARCHES[index], key, part, 0)
    assert outcome is not None
    return index, outcome


def _run_forked(
    jobs: list[tuple[Hashable, list[Entry]]],
    searches: dict[int, Search],
    todo: list[int],
    budget: Budget,
    workers: int,
    stop_early: bool,
) -> dict[int, Outcome]:
    """Finish the ``todo`` partitions in forked workers, which inherit the jobs and the
    suspended searches (nothing big is pickled)."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    _JOBS[:] = jobs
    _JOB_SEARCHES.clear()
    _JOB_SEARCHES.update(searches)
    _JOB_BUDGET[:] = [budget]
    _JOB_SHARE[:] = [worker_budget(budget, workers, rss_bytes())]
    try:
        # biggest first, so that one long partition does not finish last
        order = sorted(todo, key=lambda i: -len(jobs[i][1]))
        found: dict[int, Outcome] = {}
        with ctx.Pool(workers, initializer=_worker_start) as pool:
            for i, outcome in pool.imap_unordered(_job, order, chunksize=max(1, len(order) // (workers * 16))):
                found[i] = outcome
                if stop_early and outcome.valid is False:
                    pool.terminate()
                    break
        return {i: found.get(i) or Outcome(jobs[i][0], UNKNOWN, _SKIPPED, ops=len(jobs[i][1])) for i in todo}
    finally:
        _JOBS.clear()
        _JOB_SEARCHES.clear()
        _JOB_BUDGET.clear()
        _JOB_SHARE.clear()
