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

from checkers._linear import Budget, Entry, LimitReached, Outcome, WorkExceeded, make_entries, search
from checkers._model import Model
from checkers._models import model_named
from checkers._result import UNKNOWN, CheckContext, Result
from harness._history import History

#: Histories with fewer ops than this are checked in this process: forking costs more.
PARALLEL_MIN_OPS = 20_000
#: Work (configuration expansions) each partition gets in the first round; it grows
#: eightfold per round, so an easy failing key is found before a hard key is finished.
FIRST_ROUND_WORK = 4096
_SKIPPED = "not checked: another key already failed"

_JOBS: list[tuple[Hashable, list[Entry]]] = []  # inherited by forked workers
_JOB_MODEL: list[Model[Any]] = []
_JOB_BUDGET: list[Budget] = []


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
    ``workers``: processes for partitions (``None``: all cores, for histories of
    at least :data:`PARALLEL_MIN_OPS` ops). ``max_failures`` caps the explained
    failures in the details (every failing key is still counted).
    """

    name = "linear"

    def __init__(
        self, model: Model[Any] | str, *, workers: int | None = None, max_failures: int = 10, stop_early: bool = True
    ) -> None:
        self.model: Model[Any] = model_named(model) if isinstance(model, str) else model
        self.workers = workers
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
        return self._result(outcomes, time.monotonic() - started)

    # ---- running partitions ------------------------------------------------------------

    def _run(self, jobs: list[tuple[Hashable, list[Entry]]], budget: Budget, n_ops: int) -> list[Outcome]:
        workers = self.workers
        if workers is None:
            workers = (os.cpu_count() or 1) if n_ops >= PARALLEL_MIN_OPS else 1
        workers = min(workers, len(jobs))
        if workers > 1:
            try:
                return _run_forked(self.model, jobs, budget, workers, self.stop_early)
            except (OSError, ImportError, ValueError):
                pass  # no fork here (or no room for it): check in this process
        return self._run_rounds(jobs, budget)

    def _run_rounds(self, jobs: list[tuple[Hashable, list[Entry]]], budget: Budget) -> list[Outcome]:
        """Check partitions in rounds of growing work; after a failure, finish the round and stop."""
        done: dict[int, Outcome] = {}
        todo = sorted(range(len(jobs)), key=lambda i: len(jobs[i][1]))
        max_work = FIRST_ROUND_WORK if len(jobs) > 1 else 0
        while todo:
            later = []
            for i in todo:
                key, part = jobs[i]
                outcome = _check_one(self.model, key, part, budget, max_work)
                if outcome is None:
                    later.append(i)
                else:
                    done[i] = outcome
            todo = later
            if self.stop_early and any(o.valid is False for o in done.values()):
                for i in todo:
                    done[i] = Outcome(jobs[i][0], UNKNOWN, _SKIPPED, ops=len(jobs[i][1]))
                break
            max_work = max_work * 8 if len(todo) > 1 else 0
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


def _key_json(key: Hashable) -> Any:
    return key if key is None or isinstance(key, str | int | float | bool) else str(key)


def _check_one(
    model: Model[Any], key: Hashable, part: list[Entry], budget: Budget, max_work: int = 0
) -> Outcome | None:
    """The outcome, or ``None`` if ``max_work`` was not enough."""
    try:
        return search(model, key, part, budget, max_work)
    except WorkExceeded:
        return None
    except LimitReached as e:
        return Outcome(key, UNKNOWN, str(e), ops=len(part))
    except MemoryError:
        return Outcome(key, UNKNOWN, "ran out of memory", ops=len(part))
    except RecursionError:
        return Outcome(key, UNKNOWN, "the model recursed too deeply", ops=len(part))


def _job(index: int) -> tuple[int, Outcome]:
    key, part = _JOBS[index]
    outcome = _check_one(_JOB_MODEL[0], key, part, _JOB_BUDGET[0])
    assert outcome is not None
    return index, outcome


def _run_forked(
    model: Model[Any], jobs: list[tuple[Hashable, list[Entry]]], budget: Budget, workers: int, stop_early: bool
) -> list[Outcome]:
    """Check partitions in forked workers that inherit the jobs (nothing big is pickled)."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    _JOBS[:] = jobs
    _JOB_MODEL[:] = [model]
    _JOB_BUDGET[:] = [budget]
    try:
        # biggest first, so that one long partition does not finish last
        order = sorted(range(len(jobs)), key=lambda i: -len(jobs[i][1]))
        found: dict[int, Outcome] = {}
        with ctx.Pool(workers) as pool:
            for i, outcome in pool.imap_unordered(_job, order, chunksize=max(1, len(order) // (workers * 16))):
                found[i] = outcome
                if stop_early and outcome.valid is False:
                    pool.terminate()
                    break
        return [found.get(i) or Outcome(jobs[i][0], UNKNOWN, _SKIPPED, ops=len(jobs[i][1])) for i in range(len(jobs))]
    finally:
        _JOBS.clear()
        _JOB_MODEL.clear()
        _JOB_BUDGET.clear()
