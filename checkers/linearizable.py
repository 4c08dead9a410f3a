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
"""

from __future__ import annotations

import os
import time
from collections.abc import Hashable
from typing import Any

from checkers._linear import Budget, Entry, LimitReached, Outcome, Search, make_entries, op_json, rss_bytes
from checkers._model import Model
from checkers._models import model_named
from checkers._result import UNKNOWN, CheckContext, Result
from checkers._shrink import Shrinker, Shrunk
from harness.core import History, Op

#: Partitions still unfinished after this much work each (if two or more) are finished
#: in forked workers. Forking the whole check does not pay on easy histories: measured by
#: ``bench/checker.py`` on 2 cores, 100,000 ops (1,000 keys) took 1.0 s in one process
#: and 1.2 s with 2 workers, since pairing and splitting ops is serial and each key is
#: quick; hard keys (20,000 ops, 10 keys, 30% info) gained 15%.
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
_SKIPPED = "not checked: another key already failed"

_JOBS: list[tuple[Hashable, list[Entry]]] = []  # inherited by forked workers
_JOB_SEARCHES: dict[int, Search] = {}
_JOB_BUDGET: list[Budget] = []
_JOB_SHARE: list[int] = []


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
    ``shrink_seconds``: time to shrink each explained failure to a minimal reproducer
    (``minimal`` in the failure; at most :data:`SHRINK_SHARE` of the time left; 0 = off).
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
    ) -> None:
        self.model: Model[Any] = model_named(model) if isinstance(model, str) else model
        self.workers = workers
        self.shrink_seconds = shrink_seconds
        self.max_failures = max_failures
        self.stop_early = stop_early

    def check(self, history: History, ctx: CheckContext) -> Result:
        started = time.monotonic()
        budget = Budget(
            deadline=started + ctx.time_limit if ctx.time_limit else 0.0,
            memory_limit=ctx.memory_limit,
            time_limit=ctx.time_limit,
        )
        bad = unsupported_ops(self.model, history)
        if bad:
            pos, problem = bad[0]
            return Result(UNKNOWN, f"op {history.ops[pos].index}: {problem}", {"unsupported_ops": len(bad)})

        entries, _orphans = make_entries(history.ops)
        parts: dict[Hashable, list[Entry]] = {}
        key_of = self.model.partition_key
        for e in entries:
            parts.setdefault(key_of(e.call), []).append(e)
        jobs = list(parts.items())
        outcomes = self._run(jobs, budget, len(entries))
        self._shrink(outcomes, parts, budget)
        return self._result(outcomes, time.monotonic() - started)

    def _shrink(self, outcomes: list[Outcome], parts: dict[Hashable, list[Entry]], budget: Budget) -> None:
        """Add a ``minimal`` reproducer to each explained failure, within the shrink time."""
        if not self.shrink_seconds:
            return
        now = time.monotonic()
        seconds = self.shrink_seconds
        if budget.deadline:
            seconds = min(seconds, SHRINK_SHARE * max(0.0, budget.deadline - now))
        deadline = now + seconds
        for o in [o for o in outcomes if o.valid is False][: self.max_failures]:
            if o.failure is None or time.monotonic() >= deadline:
                continue
            part = parts[o.key]
            window = {op["index"] for op in o.failure["window"]["ops"]}
            bad = o.failure["unlinearizable"][0]["index"]
            shrinker = Shrinker(
                self.model,
                o.key,
                part,
                deadline,
                memory_limit=budget.memory_limit,
                keep=next((e for e in part if e.call.index == bad), None),
            )
            # candidates to start from, smallest first: the window, then the last ops up
            # to the failing one (the cause is usually near it), then all of them
            keep = shrinker.keep
            prefix = [e for e in part if keep is None or e.invoke_pos <= keep.return_pos]
            tails = [prefix[-n:] for n in (8, 16, 32) if n < len(prefix)]
            found = shrinker.run([[e for e in part if e.call.index in window], *tails, prefix])
            if found is not None:
                o.failure["minimal"] = minimal_json(self.model, found)

    # ---- running partitions ------------------------------------------------------------

    def _run(self, jobs: list[tuple[Hashable, list[Entry]]], budget: Budget, n_ops: int) -> list[Outcome]:
        workers = self.workers if self.workers is not None else (os.cpu_count() or 1)
        return self._run_rounds(jobs, budget, min(workers, len(jobs)))

    def _run_rounds(self, jobs: list[tuple[Hashable, list[Entry]]], budget: Budget, workers: int = 1) -> list[Outcome]:
        """Check partitions in rounds of growing work; after a failure, finish the round and stop.

        Each partition's search is resumed, not restarted, in the next round. With
        ``workers > 1``, partitions still unfinished after :data:`FORK_AFTER_WORK` (the
        hard ones, if at least two) are resumed in forked workers."""
        done: dict[int, Outcome] = {}
        todo = sorted(range(len(jobs)), key=lambda i: len(jobs[i][1]))
        searches: dict[int, Search] = {}
        max_work = FIRST_ROUND_WORK if len(jobs) > 1 else 0
        spent = 0
        while todo:
            later = []
            for i in todo:
                key, part = jobs[i]
                if i not in searches:
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

    def _result(self, outcomes: list[Outcome], elapsed: float) -> Result:
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
        }
        for o in failed[: self.max_failures]:
            assert o.failure is not None
            details["failures"].append({"key": _key_json(o.key), **o.failure})
        if failed:
            details["failed_keys"] = len(failed)
            first = failed[0]
            where = f"key {first.key}: " if first.key is not None else ""
            more = f" (and {len(failed) - 1} more keys)" if len(failed) > 1 else ""
            return Result(False, f"{where}{first.reason}{more}", details)
        if unknown:
            where = f"key {unknown[0].key}: " if unknown[0].key is not None else ""
            return Result(UNKNOWN, f"{where}{unknown[0].reason}", details)
        return Result(True, f"linearizable ({len(outcomes)} partitions)", details)


def minimal_json(model: Model[Any], shrunk: Shrunk) -> dict[str, Any]:
    """The ``minimal`` part of a failure: the reproducer's ops (as in ``window``), its size,
    and ``history``: its recorded ops (invocations and completions) as JSONL objects, in
    order, which re-check as not linearizable."""
    events: list[tuple[int, Op]] = []
    for e in shrunk.entries:
        events.append((e.invoke_pos, e.call))
        if e.completion is not None:
            end = e.return_pos if e.return_pos >= 0 else e.invoke_pos  # an info completion: its place is lost
            events.append((end, e.completion))
    events.sort(key=lambda ev: (ev[0], ev[1].index))
    return {
        "ops": [op_json(e, model) for e in shrunk.entries],
        "size": len(shrunk.entries),
        "original_size": shrunk.original_size,
        "shrunk_in_s": round(shrunk.seconds, 6),
        "complete": shrunk.complete,
        "order_only": shrunk.order_only,
        "history": [op.to_json() for _, op in events],
    }


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
