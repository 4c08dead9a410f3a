"""Runs one test: cluster up, workers and nemesis for the time limit, heal, final reads, check.

Contract:

* The history is written as it happens (``history.jsonl``); a crash still leaves
  a checkable prefix.
* A process that got ``info`` is retired: its number is never used again, and
  its thread goes on as a new process (``p + concurrency``).
* **The time limit is a contract.** No client op and no scheduled fault op is
  invoked after it. At the limit every fault is healed first, all families at
  once and bounded (:data:`HEAL_BOUND_S`), before anything waits for a worker;
  the workers are then joined against one shared deadline, the limit plus one
  request timeout plus :data:`JOIN_GRACE_S`. An op still in flight then is
  recorded ``info`` ("abandoned": it may still take effect) and its late answer
  is dropped, so the op phase ends within request timeout + 2 s of the limit,
  whatever the faults. Workloads see the limit too
  (``WorkloadContext.ops_deadline``): a lock stops waiting for its turn by then.
* After the heal, each fault that was active gets its ``stop`` (recorded, with
  ``extra.final``), which verifies the heal, and the cluster is checked for
  anything a fault left (:func:`nemesis.leftovers`).
* **Every fault outcome is recorded.** A fault op that failed (not a skipped
  one), a heal that raised or hung, a stop or restart whose verification
  failed, a member that did not rejoin: each becomes an entry of
  ``results.json`` → ``fault_problems`` (``time`` in ns since the run started,
  the nemesis ``f``, the ``problem``) and a note. A problem of a stop, a
  restart or a heal makes the verdict ``unknown`` unless the history is invalid
  anyway: the cluster was not in the state the test claims. A start that failed
  is listed, but the history still says what happened under the faults that did apply.
* Every fault is healed, the workload torn down (:meth:`Workload.teardown`) and
  the cluster torn down in ``finally``, also when a worker crashes, on Ctrl-C
  and on SIGTERM (which is turned into ``KeyboardInterrupt``). That teardown
  runs with SIGINT and SIGTERM held (:func:`signals_held`): a second Ctrl-C
  cannot cut it short; the signal is delivered once it is done.
* ``--rate`` is the target of all processes together: each worker invokes on a
  schedule of its own, one op every ``concurrency / rate`` s on average (each
  gap drawn from 0.5–1.5× that, counted from the previous slot, not from the
  previous op's completion), so the total reaches the rate whenever ops are
  faster than the period. ``stats`` records ``offered_ops_per_s``, and
  ``ops_per_s`` over the op phase (``op_phase_s``: its first invoke to its end).
* The run's verdict is the worst of its checkers' (invalid > unknown > valid).
* The verdict is written to ``results.json`` (atomically) whatever happens: on
  a crash or an interrupt it is ``unknown``, and the exception (or
  ``KeyboardInterrupt``) propagates after cleanup. A run that never got a
  cluster (Docker unreachable) leaves a folder whose ``results.json`` says why.
* Each phase is logged (``-v``): ``phase cluster-start``, ``setup``, ``ops``,
  ``heal``, ``recovery``, ``final-reads``, ``cluster-facts`` (``cluster.json``: HashKV,
  revisions and alarms, see ``harness/run/_cluster_facts.py``), ``teardown``, ``check``.

:func:`run_test` takes a ``cluster``, a ``workload`` and ``faults`` in place of
the ones ``spec`` names: the unit tests run whole runs on fakes that way.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import random
import re
import signal
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from checkers import UNKNOWN, CheckContext, Validity, merge_validity, run_checkers
from checkers.cluster_state import cluster_checkers
from harness.core import (
    NEMESIS,
    ClusterError,
    History,
    HistoryWriter,
    Op,
    OpType,
    RunDir,
    TestSpec,
    new_stamped_dir,
    point_latest,
    signals_held,
    write_json,
)
from harness.etcd import Cluster, DockerCluster, EtcdError, Node
from harness.report import write_index, write_report
from harness.run._cluster_facts import collect_cluster_facts, corrupt_member
from harness.run._validate import validate_spec
from harness.run._version import harness_version, verdict_stamp
from nemesis import Fault, FaultNotApplied, FaultSkipped, NemesisPackage, leftovers, make_package
from workloads import WORKLOADS, Invocation, Sleep, Workload, WorkloadContext

log = logging.getLogger(__name__)

ProgressFn = Callable[[dict[str, Any]], None]

#: After the time limit, how long the faults' heals (run at once) may take before the run notes it and goes on.
HEAL_BOUND_S = 30.0
#: The op phase's shared join deadline is the limit + one request timeout + this: ops in flight then are abandoned.
JOIN_GRACE_S = 1.5
#: How long after the limit a nemesis op in flight (a kill's restart waits for the rejoin) may still finish.
NEMESIS_JOIN_S = 30.0
#: On an interrupt or a crash, how long the teardown waits for a nemesis op in flight before it heals.
NEMESIS_JOIN_TEARDOWN_S = 5.0


@dataclass
class RunOutcome:
    run_dir: Path
    valid: Validity
    results: dict[str, Any]
    interrupted: bool = False
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FaultProblem:
    """A fault op or heal that went wrong. ``spoils_verdict``: the cluster may not be in the state the
    test claims (a stop, restart or heal), so a run whose history is not invalid gets ``unknown``."""

    time: int  # ns since the run started
    f: str
    problem: str
    spoils_verdict: bool

    def to_json(self) -> dict[str, Any]:
        return {"time": self.time, "f": self.f, "problem": self.problem}


class RunSealed(Exception):
    """The history is closed: a thread that outlived the run stops recording."""


def new_run_dir(spec: TestSpec) -> Path:
    """A fresh ``<results_dir>/<test name>/<stamp>/``."""
    return new_stamped_dir(Path(spec.results_dir) / spec.test_name)


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt so ``finally`` blocks tear everything down."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Run:
    """The state of one run while it executes. Use :func:`run_test`."""

    def __init__(self, spec: TestSpec, run_dir: Path, progress: ProgressFn | None,
                 cluster: Cluster | None = None, *, workload: Workload | None = None,
                 faults: Sequence[Fault] | None = None) -> None:
        spec = validate_spec(spec)  # UsageError before anything starts
        self.spec = spec
        self.run_dir = run_dir
        self.progress = progress
        self.workload: Workload = workload if workload is not None else WORKLOADS[spec.workload](spec)
        roles = self.workload.node_roles
        self.package: NemesisPackage = (make_package(spec.nemesis, spec.nemesis_interval, roles) if faults is None
                                        else NemesisPackage(faults, spec.nemesis_interval, roles))
        self.cluster: Cluster = cluster if cluster is not None else DockerCluster(
            # Container names allow [a-zA-Z0-9_.-] only; test names may hold "+" (--nemesis a,b).
            run_id=re.sub(r"[^a-z0-9_.-]", "-", f"{run_dir.parent.name[:20]}-{run_dir.name}-{os.getpid()}".lower()),
            size=spec.nodes,
            image=spec.image,
            extra_args=spec.etcd_args)
        self.ctx = WorkloadContext(spec=spec, cluster=self.cluster)
        self.files = RunDir(run_dir)
        self.writer = HistoryWriter(self.files.history)
        self.stop = threading.Event()
        self.phase = "created"
        self.max_process = spec.concurrency - 1
        self._process_lock = threading.Lock()
        self.notes: dict[str, Any] = {}
        self.timing: dict[str, Any] = {}
        self.crashes: list[Exception] = []  # what ended worker threads, re-raised by run_workers
        self.fault_problems: list[FaultProblem] = []
        # The op phase: its limit (monotonic and on the history's clock) and, once over, (start, end) in ns.
        self.ops_deadline: float | None = None
        self.ops_deadline_ns: int | None = None
        self.ops_started_ns: int | None = None
        self.op_phase_ns: tuple[int, int] | None = None
        # Recording: one lock orders every record, keeps the ops in flight, and seals the history.
        self._record_lock = threading.Lock()
        self._in_flight: dict[int, Op] = {}  # worker thread -> its invocation awaiting an answer
        self._abandoned: set[int] = set()  # invocations the runner completed with info at the join deadline
        self._sealed = False
        # The nemesis: closed at the limit; the fault of the op it runs; the final stops it owes.
        self._nemesis_lock = threading.Lock()
        self._nemesis_closed = False
        self._nemesis_fault: Fault | None = None
        self._nemesis_thread: threading.Thread | None = None
        self._final_stops: list[tuple[Fault, Op]] = []
        self._healed = False

    def enter_phase(self, name: str) -> None:
        self.phase = name
        log.info("phase %s", name)

    # -- recording -------------------------------------------------------------------

    def record(self, op: Op) -> Op:
        """Append ``op`` to the history; :class:`RunSealed` once the history is closed."""
        with self._record_lock:
            if self._sealed:
                raise RunSealed
            return self.writer.record(op)

    def seal(self) -> None:
        """Close the history: a thread still running (an abandoned op's) records nothing more."""
        with self._record_lock:
            self._sealed = True
        self.writer.close()

    def fault_problem(self, f: str, problem: str, *, spoils_verdict: bool, time_ns: int | None = None) -> None:
        entry = FaultProblem(self.writer.now() if time_ns is None else time_ns, f, problem, spoils_verdict)
        log.warning("fault problem: %s: %s", f, problem)
        with self._process_lock:
            self.fault_problems.append(entry)

    # -- workers -------------------------------------------------------------------

    def next_process(self, previous: int) -> int:
        with self._process_lock:
            p = previous + self.spec.concurrency
            self.max_process = max(self.max_process, p)
            return p

    def node_for(self, process: int) -> Node:
        """Thread t starts on node t mod n; each retired process's successor moves to the next
        node, so a thread is not stuck timing out against a node cut off from the majority."""
        thread, generation = process % self.spec.concurrency, process // self.spec.concurrency
        nodes = self.cluster.nodes  # one list: the member fault replaces it while workers read it
        return nodes[(thread + generation) % len(nodes)]

    def worker(self, thread_index: int, ctx: WorkloadContext) -> None:
        """One worker thread. An exception in it (a harness or workload bug) stops the run:
        :meth:`run_workers` re-raises it, rather than the run going on one thread short."""
        try:
            self._work(thread_index, ctx)
        except RunSealed:
            return  # it outlived the run (an abandoned op): nothing more to record
        except Exception as e:
            e.add_note(f"in worker thread {thread_index}")
            with self._process_lock:
                self.crashes.append(e)
            self.stop.set()

    def _work(self, thread_index: int, ctx: WorkloadContext) -> None:
        spec = self.spec
        process = thread_index
        # Pacing: this thread's own schedule of slots, one every `period` s on average; its own
        # random stream, so the scripts' draws do not depend on it.
        period = spec.concurrency / spec.rate if spec.rate > 0 else 0.0
        pace = random.Random(f"{spec.seed}:{thread_index}:pace")
        next_at = time.monotonic() + pace.uniform(0, period)
        while not self.stop.is_set():
            # One process: a client and a script, until it gets `info` or time is up.
            rng = random.Random(f"{spec.seed}:{process}")
            client = self.workload.open_client(ctx, self.node_for(process), process)
            script = self.workload.script(process, rng)
            retired = False
            try:
                step = next(script)
                while not self.stop.is_set():
                    if isinstance(step, Sleep):
                        self.stop.wait(step.seconds)
                        step = script.send(None)
                        continue
                    if period:
                        wait = next_at - time.monotonic()
                        if wait > 0 and self.stop.wait(wait):
                            break
                        # The next slot: one jittered period after this one; a thread that fell behind
                        # (slow ops) catches up by at most one period, never in a burst.
                        next_at = max(next_at, time.monotonic() - period) + pace.uniform(0.5, 1.5) * period
                    done = self.invoke(client, step, process, thread_index)
                    if done is None:
                        return  # the time limit: no invoke after it
                    if done.is_info:
                        retired = True  # its op may still take effect: never reuse this process
                        break
                    step = script.send(done)
            except StopIteration:
                return
            finally:
                script.close()
                client.close()
            if retired:
                process = self.next_process(process)

    def invoke(self, client: Any, step: Invocation, process: int, thread: int | None) -> Op | None:
        """Record the invocation, perform it, record its completion. A worker's (``thread`` given) is not
        invoked at or after the time limit (None); its completion, if the runner abandoned the op at the
        join deadline, is not recorded (the info the runner recorded stands, and is returned)."""
        with self._record_lock:
            if self._sealed:
                raise RunSealed
            now = self.writer.now()
            if thread is not None and self.ops_deadline_ns is not None and now >= self.ops_deadline_ns:
                return None
            inv = self.writer.record(Op(type=OpType.INVOKE, f=step.f, value=step.value, key=step.key,
                                        process=process, time=max(now, 1)))
            if thread is not None:
                self._in_flight[thread] = inv
        try:
            done = client.invoke(inv)
        except Exception as e:
            done = inv.with_(type=OpType.INFO, error=f"client crashed: {type(e).__name__}: {e}", time=0)
        if done.process != inv.process or done.f != inv.f or done.type is OpType.INVOKE:
            done = inv.with_(type=OpType.INFO, error=f"client broke the completion contract: {done}", time=0)
        with self._record_lock:
            if thread is not None:
                self._in_flight.pop(thread, None)
            if inv.index in self._abandoned:
                return inv.with_(type=OpType.INFO, error="abandoned at the end of the op phase", time=0)
            if self._sealed:
                raise RunSealed
            return self.writer.record(done.with_(time=0, index=-1))

    def join_workers(self, workers: list[threading.Thread]) -> None:
        """Join every worker against one deadline (the limit + a request timeout + :data:`JOIN_GRACE_S`);
        record ``info`` for each op still in flight then: it may still take effect, and its answer,
        if it comes, is dropped."""
        assert self.ops_deadline is not None
        deadline = self.ops_deadline + self.spec.request_timeout + JOIN_GRACE_S
        for t in workers:
            t.join(max(0.0, deadline - time.monotonic()))
        with self._record_lock:
            stuck = sorted(self._in_flight.values(), key=lambda op: op.index)
            self._in_flight.clear()
            for inv in stuck:
                self._abandoned.add(inv.index)
                late = (self.writer.now() - (self.ops_deadline_ns or 0)) / 1e9
                self.writer.record(inv.with_(
                    type=OpType.INFO, time=0, index=-1,
                    error=f"abandoned: no answer {late:.1f} s after the time limit (the op phase ends at the limit "
                          f"+ request timeout + {JOIN_GRACE_S:g} s); it may still take effect"))
        if stuck:
            self.notes["abandoned_ops"] = (f"{len(stuck)} op(s) had no answer at the end of the op phase and were "
                                           "recorded info (abandoned)")
        alive = [t.name for t in workers if t.is_alive()]
        if alive:
            log.warning("worker threads still running after the op phase: %s", ", ".join(alive))

    # -- nemesis -------------------------------------------------------------------

    def nemesis_loop(self) -> None:
        rng = random.Random(f"{self.spec.seed}:nemesis")
        # Targets get their own stream: a fault that consumes draws depending on the cluster
        # (e.g. "the leader") must not shift the replayed schedule of later faults.
        targets = random.Random(f"{self.spec.seed}:nemesis-targets")
        try:
            for planned in self.package.schedule(rng):
                if self.stop.wait(planned.delay):
                    return
                if self.nemesis_op(planned.fault, planned.f, targets) is None:
                    return  # the time limit came
        except RunSealed:
            return
        except Exception as e:  # a nemesis bug must not pass silently, nor leave a traceback on stderr
            log.error("the nemesis stopped: %s: %s", type(e).__name__, e)
            self.fault_problem("nemesis", f"the nemesis stopped: {type(e).__name__}: {e}", spoils_verdict=True)

    def nemesis_op(self, fault: Fault, f: str, rng: random.Random) -> Op | None:
        """Invoke, apply and record one scheduled fault op; None (nothing done) once the nemesis is
        closed or the time limit has come."""
        leader_before = self.cluster.leader(timeout=0.5)
        with self._nemesis_lock:
            if self._nemesis_closed:
                return None
            with self._record_lock:
                if self._sealed:
                    raise RunSealed
                now = self.writer.now()
                if self.ops_deadline_ns is not None and now >= self.ops_deadline_ns:
                    return None
                self.writer.record(Op(type=OpType.INVOKE, f=f, process=NEMESIS, time=max(now, 1)))
            self._nemesis_fault = fault
        self.writer.flush()
        try:
            action = (lambda: fault.start(self.cluster, rng)) if f == fault.start_f else \
                (lambda: fault.stop(self.cluster))
            return self._complete_nemesis(fault, f, leader_before, action)
        finally:
            with self._nemesis_lock:
                self._nemesis_fault = None

    def _complete_nemesis(self, fault: Fault, f: str, leader_before: str | None,
                          action: Callable[[], dict[str, Any]], *, final: bool = False) -> Op:
        error = None
        value: dict[str, Any] = {}
        skipped = False
        try:
            value = action()
        except FaultNotApplied as e:
            error, value, skipped = str(e), dict(e.value), isinstance(e, FaultSkipped)
        except Exception as e:
            error = f"{type(e).__name__}: {e}"
        self.package.mark(fault, f, skipped=skipped)
        if skipped:
            value["skipped"] = True
        value.update(leader_before=leader_before, leader_after=self.cluster.leader(timeout=0.5),
                     applied=error is None)
        if error is not None:
            value.setdefault("verified", False)
        done = self.record(Op(type=OpType.INFO, f=f, process=NEMESIS, value=value, error=error,
                              extra={"final": True} if final else None))
        self.writer.flush()
        if error is not None and not skipped:
            started = f == fault.start_f
            self.fault_problem(f, f"not applied: {error}" if started else error, spoils_verdict=not started,
                               time_ns=done.time)
        return done

    def close_nemesis(self) -> Fault | None:
        """No scheduled fault op starts from now on; returns the fault of the op in flight, if any."""
        with self._nemesis_lock:
            self._nemesis_closed = True
            return self._nemesis_fault

    def _owe_final_stop(self, fault: Fault) -> None:
        """Record the invocation of the final stop of ``fault`` (active now); its completion comes
        once the heal is verified (:meth:`complete_final_stops`)."""
        if any(f is fault for f, _ in self._final_stops):
            return
        inv = self.record(Op(type=OpType.INVOKE, f=fault.stop_f, process=NEMESIS, extra={"final": True}))
        self._final_stops.append((fault, inv))

    def heal_all(self, why: str, bound: float = HEAL_BOUND_S) -> None:
        """Heal every fault family at once (each ``heal`` undoes anything its family may have done),
        within ``bound`` seconds; a heal that raises or is still running then is a fault problem."""
        self._healed = True
        faults = self.package.faults
        if not faults:
            return
        errors: dict[str, str] = {}

        def heal(fault: Fault) -> None:
            try:
                fault.heal(self.cluster)
            except Exception as e:  # heal must not raise; one that does must not keep the others from healing
                errors[fault.name] = f"{type(e).__name__}: {e}"

        threads = [threading.Thread(target=heal, args=(f,), name=f"heal-{f.name}", daemon=True) for f in faults]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.0, t0 + bound - time.monotonic()))
        self.timing.setdefault("heal_s", round(time.monotonic() - t0, 3))
        for fault, t in zip(faults, threads, strict=True):
            if t.is_alive():
                self.fault_problem(f"heal-{fault.name}", f"the heal ({why}) was still running after {bound:g} s",
                                   spoils_verdict=True)
            elif fault.name in errors:
                self.fault_problem(f"heal-{fault.name}", f"the heal ({why}) raised {errors[fault.name]}",
                                   spoils_verdict=True)

    def heal_at_limit(self) -> Fault | None:
        """At the time limit: close the nemesis, record the final stop of each active fault, and heal
        everything at once, before any waiting. Returns the fault of a nemesis op still in flight."""
        busy = self.close_nemesis()
        for fault in self.package.active_faults():
            if fault is not busy:
                self._owe_final_stop(fault)
        self.heal_all("at the time limit")
        return busy

    def finish_nemesis(self, busy: Fault | None) -> None:
        """After the workers: let a nemesis op in flight finish (bounded), heal again if there was one
        (it may have applied something after the heal), then complete the final stops, which verify the
        heal, and check the cluster for anything a fault left."""
        thread = self._nemesis_thread
        if thread is not None:
            assert self.ops_deadline is not None
            thread.join(max(0.0, self.ops_deadline + NEMESIS_JOIN_S - time.monotonic()))
            if thread.is_alive():
                self.fault_problem("nemesis", f"a nemesis op ({busy.name if busy else '?'}) was still running "
                                              f"{NEMESIS_JOIN_S:g} s after the time limit", spoils_verdict=True)
        if busy is not None:
            self.heal_all(f"again, after the {busy.name} op in flight at the limit")
            if busy.name in self.package.active and not (thread is not None and thread.is_alive()):
                self._owe_final_stop(busy)
        self.complete_final_stops()
        self.check_healed()

    def complete_final_stops(self) -> None:
        order = {id(f): i for i, f in enumerate(self.package.faults)}  # the heal order
        stops, self._final_stops = sorted(self._final_stops, key=lambda s: order.get(id(s[0]), 0)), []
        for fault, _ in stops:
            self._complete_nemesis(fault, fault.stop_f, None, functools.partial(fault.stop, self.cluster), final=True)

    def check_healed(self) -> None:
        """The heal's own verification: nothing of any fault may be left on the cluster
        (:func:`nemesis.leftovers`). Found something: heal once more and look again; still there: a problem."""
        if not self.package.faults or not self.cluster.nodes:
            return
        try:
            found = leftovers(self.cluster)
            if found:
                self.heal_all("again, after leftovers were found")
                found = leftovers(self.cluster)
        except Exception as e:
            self.fault_problem("heal", f"could not check the cluster for leftovers of the faults: "
                                       f"{type(e).__name__}: {e}", spoils_verdict=True)
            return
        if found:
            self.fault_problem("heal", "after the heal the cluster still has: " + "; ".join(found[:8])
                               + (f" (and {len(found) - 8} more)" if len(found) > 8 else ""), spoils_verdict=True)

    # -- leader watch ----------------------------------------------------------------

    def leader_loop(self) -> None:
        """Record leader changes to leaders.jsonl for the report's time axis."""
        last: object = object()
        with self.files.leaders.open("a") as out:
            while not self.stop.wait(1.0):
                leader = self.cluster.leader(timeout=0.5)
                if leader != last:
                    out.write(json.dumps({"time": self.writer.now(), "leader": leader}) + "\n")
                    out.flush()
                    last = leader

    # -- final reads ------------------------------------------------------------------

    def final_reads(self, ctx: WorkloadContext) -> None:
        invocations = self.workload.final_invocations()
        if not invocations:
            return
        leader = self.cluster.leader(timeout=1.0)
        node = self.cluster.node(leader) if leader else self.cluster.nodes[0]
        process = self.max_process + 1
        client = self.workload.open_client(ctx, node, process)
        try:
            for inv in invocations:
                done = self.invoke(client, inv, process, None)
                if done is not None and done.is_info:
                    client.close()
                    process += 1
                    client = self.workload.open_client(ctx, node, process)
        finally:
            client.close()

    # -- the whole run ----------------------------------------------------------------

    def execute(self) -> dict[str, Any]:
        timing = self.timing
        t_start = time.monotonic()
        try:
            self.enter_phase("cluster-start")
            if isinstance(self.cluster, DockerCluster):
                self.cluster.validate_extra_args()  # --etcd-arg against `etcd --help`, before anything is created
            self.cluster.start()
            timing["cluster_start_s"] = round(self.cluster.started_in_s, 3)
            self.writer.restart_clock()  # time 0 = the cluster is ready
            self.write_config()
            self.enter_phase("setup")
            self.workload.setup(self.ctx)
            timing["ops_s"] = self.run_workers(with_nemesis=True)
            self.recover_and_read()
            self.save_cluster_facts()
        except KeyboardInterrupt:
            self.notes["interrupted"] = True  # no recovery wait, no final reads: clean up and go
            raise
        except Exception as e:
            self.notes["error"] = f"{type(e).__name__}: {e}"  # no verdict comes: no final reads either
            raise
        finally:
            with signals_held():
                self.enter_phase("teardown")
                self.tear_down()
        timing["total_s"] = round(time.monotonic() - t_start, 3)
        return timing

    def run_workers(self, *, with_nemesis: bool) -> float:
        """The op phase: client processes (and the nemesis) until the time limit, then the heal, the
        workers joined against one deadline, the final stops. Returns the op phase's seconds."""
        spec = self.spec
        workers = [threading.Thread(target=self.worker, args=(i, self.ctx), name=f"worker-{i}", daemon=True)
                   for i in range(spec.concurrency)]
        helpers = []
        if with_nemesis:
            self._nemesis_thread = threading.Thread(target=self.nemesis_loop, name="nemesis", daemon=True)
            helpers = [self._nemesis_thread,
                       threading.Thread(target=self.leader_loop, name="leaders", daemon=True)]
        self.enter_phase("ops")
        with self._record_lock:
            t0 = time.monotonic()
            start_ns = self.writer.now()
            self.ops_deadline = t0 + spec.time_limit
            self.ops_deadline_ns = start_ns + int(spec.time_limit * 1e9)
            self.ops_started_ns = start_ns
        self.ctx.ops_deadline = self.ops_deadline
        self.timing["ops_started_at_s"] = round(start_ns / 1e9, 3)
        self.timing["ops_limit_at_s"] = round(self.ops_deadline_ns / 1e9, 3)
        for t in [*workers, *helpers]:
            t.start()
        self.wait_for_time_limit(t0)
        self.stop.set()
        self.enter_phase("heal")
        busy = self.heal_at_limit()
        self.join_workers(workers)
        self.op_phase_ns = (start_ns, self.writer.now())
        self.finish_nemesis(busy)
        for t in helpers[1:]:
            t.join(2.0)
        if self.crashes:
            raise self.crashes[0]
        return round((self.op_phase_ns[1] - start_ns) / 1e9, 3)

    def recover_and_read(self) -> None:
        """After the heal: wait (bounded) for the cluster to be healthy, then the final reads."""
        if not self.cluster.nodes:
            return
        self.enter_phase("recovery")
        t0 = time.monotonic()
        try:
            self.cluster.wait_healthy(self.spec.recovery_timeout)
            self.timing["recovery_s"] = round(time.monotonic() - t0, 3)
            self.enter_phase("final-reads")
            self.final_reads(self.ctx)
        except ClusterError as e:
            self.notes["liveness"] = f"the cluster did not recover within {self.spec.recovery_timeout:.0f} s " \
                                     f"after healing: {str(e).splitlines()[0]}"
        except EtcdError as e:
            self.notes["final_reads_error"] = str(e)

    def save_cluster_facts(self) -> None:
        """After the final reads, on a real cluster: the ``corrupt_member`` canary if asked for, then
        the members' own view (HashKV, revisions, alarms) as ``cluster.json`` for ``checkers.cluster_state``.
        Never raises: a failure is a note, and without the file those checkers do not run."""
        if not isinstance(self.cluster, DockerCluster) or not self.cluster.nodes:
            return
        self.enter_phase("cluster-facts")
        try:
            corrupted = None
            if self.spec.options.get("corrupt_member"):
                corrupted = corrupt_member(self.cluster, self.cluster.nodes[-1])
            facts = collect_cluster_facts(self.cluster, timeout=min(self.spec.request_timeout, 5.0))
            if corrupted is not None:
                facts["corrupted"] = corrupted
            write_json(self.files.cluster_facts, facts)
        except Exception as e:  # a bug here must not cost the run its verdict
            self.notes["cluster_facts_error"] = f"{type(e).__name__}: {e}"

    def tear_down(self) -> None:
        """Always, with signals held: heal if the op phase did not (an interrupt, a crash), then the
        workload's teardown, the node logs and the cluster's teardown."""
        self.stop.set()
        if self.ops_started_ns is not None and self.op_phase_ns is None:
            self.op_phase_ns = (self.ops_started_ns, self.writer.now())
        try:
            if not self._healed:
                self.close_nemesis()
                if self._nemesis_thread is not None and self._nemesis_thread.is_alive():
                    self._nemesis_thread.join(NEMESIS_JOIN_TEARDOWN_S)
                self.heal_all("in the teardown", bound=HEAL_BOUND_S / 2)
        finally:
            try:
                self.workload.teardown()  # its threads stop before the cluster goes
            finally:
                self.writer.flush()
                try:
                    if self.cluster.nodes:
                        self.cluster.collect_logs(self.run_dir)
                finally:
                    self.cluster.teardown()

    def wait_for_time_limit(self, t0: float) -> None:
        deadline = t0 + self.spec.time_limit
        while (left := deadline - time.monotonic()) > 0:
            if self.stop.wait(min(1.0, left)):
                return  # a worker crashed
            if self.progress:
                n = len(self.writer.history())
                elapsed = time.monotonic() - t0
                self.progress({"elapsed_s": elapsed, "remaining_s": max(0.0, left - 1), "events": n,
                               "ops_per_s": n / 2 / elapsed if elapsed else 0.0})

    def write_config(self) -> None:
        config = self.spec.to_json()
        config.update(command=self.spec.command(), etcd_version=self.cluster.etcd_version,
                      harness_version=harness_version(),
                      started_at=datetime.now(UTC).isoformat(timespec="seconds"), run_id=self.cluster.run_id,
                      # The wall time of the run clock's 0, to put node log lines on the history's clock.
                      clock_zero_unix_ns=time.time_ns() - self.writer.now(),
                      nodes_detail=[{"name": n.name, "ip": n.ip} for n in self.cluster.nodes])
        write_json(self.files.config, config)


def history_stats(history: History, op_phase: tuple[int, int] | None = None,
                  offered: float | None = None) -> dict[str, Any]:
    """Counts and latencies of the client ops; ``ops_per_s`` counts the ops invoked in the op phase
    (``op_phase``: its start and end, ns) over its length, ``op_phase_s``; ``offered_ops_per_s`` is
    the rate asked for (None: unlimited)."""
    by_type: dict[str, int] = {}
    latencies: list[int] = []
    in_phase = 0
    for inv, done in history.pairs():
        if inv.process == NEMESIS:
            continue
        kind = done.type.value if done else "pending"
        by_type[kind] = by_type.get(kind, 0) + 1
        if done is not None:
            latencies.append(done.time - inv.time)
        if op_phase is not None and op_phase[0] <= inv.time <= op_phase[1]:
            in_phase += 1
    client_ops = sum(by_type.values())
    phase_s = (op_phase[1] - op_phase[0]) / 1e9 if op_phase is not None else 0.0
    return {
        "ops": client_ops,
        "by_type": by_type,
        "nemesis_ops": sum(1 for op in history if op.process == NEMESIS and op.is_invoke),
        "offered_ops_per_s": offered,
        "ops_per_s": round(in_phase / phase_s, 1) if phase_s > 0 else 0.0,
        "op_phase_s": round(phase_s, 3) if op_phase is not None else None,
        "latency_ms_median": round(statistics.median(latencies) / 1e6, 3) if latencies else None,
        "latency_ms_p99": round(sorted(latencies)[int(len(latencies) * 0.99)] / 1e6, 3) if latencies else None,
    }


def op_phase_figures(history: History, start_ns: int, limit_ns: int, end_ns: int) -> dict[str, float | None]:
    """When the op phase's last client op was invoked and its last op completed (s on the history's
    clock), and by how much the last completion overran the limit (negative: it ended before)."""
    last_invoke: int | None = None
    last_completion: int | None = None
    for inv, done in history.pairs():
        if inv.process == NEMESIS or not start_ns <= inv.time <= end_ns:
            continue
        last_invoke = max(last_invoke or 0, inv.time)
        if done is not None:
            last_completion = max(last_completion or 0, done.time)
    return {
        "ops_last_invoke_at_s": None if last_invoke is None else round(last_invoke / 1e9, 3),
        "ops_last_completion_at_s": None if last_completion is None else round(last_completion / 1e9, 3),
        "ops_overrun_s": None if last_completion is None else round((last_completion - limit_ns) / 1e9, 3),
    }


def run_test(spec: TestSpec, *, progress: ProgressFn | None = None, cluster: Cluster | None = None,
             workload: Workload | None = None, faults: Sequence[Fault] | None = None) -> RunOutcome:
    """Run ``spec`` end to end and write its run directory. See the module docstring.

    ``cluster``, ``workload`` and ``faults`` stand in for what ``spec`` names (a new
    :class:`DockerCluster`, ``WORKLOADS[spec.workload](spec)``, the faults of
    ``spec.nemesis``); the run starts and tears down the cluster either way.
    """
    spec = validate_spec(spec)  # before anything is created: a bad spec leaves no run directory
    run_dir = new_run_dir(spec)
    files = RunDir(run_dir)
    write_json(files.config, spec.to_json())
    try:
        run = Run(spec, run_dir, progress, cluster, workload=workload, faults=faults)
    except BaseException as e:  # nothing ran: the folder still says why
        write_json(files.results, {"valid": UNKNOWN, "checkers": {}, "fault_problems": [],
                                   "reason": f"the run could not be set up: {type(e).__name__}: {e}",
                                   "notes": {"error": f"{type(e).__name__}: {e}"}})
        raise
    interrupted = False
    crash: Exception | None = None
    with sigterm_as_interrupt():
        try:
            run.execute()
        except KeyboardInterrupt:
            interrupted = True
        except Exception as e:  # re-raised once the results are written
            crash = e
        try:
            with signals_held():
                run.seal()
        except KeyboardInterrupt:
            interrupted = True
        if interrupted:
            run.notes["interrupted"] = True
        history = run.writer.history()
        stats = history_stats(history, run.op_phase_ns, spec.rate or None)
        if run.op_phase_ns is not None and run.ops_deadline_ns is not None:
            run.timing.update(op_phase_figures(history, run.op_phase_ns[0], run.ops_deadline_ns,
                                               run.op_phase_ns[1]))
        results: dict[str, Any]
        if interrupted:
            results = {"valid": UNKNOWN, "checkers": {}, "reason": "interrupted before the check"}
        elif crash is not None:
            results = {"valid": UNKNOWN, "checkers": {},
                       "reason": f"the run failed before the check: {type(crash).__name__}: {crash}"}
        else:
            try:
                run.enter_phase("check")
                results = check_run(run, history)
            except KeyboardInterrupt:
                interrupted = True
                run.notes["interrupted"] = True
                results = {"valid": UNKNOWN, "checkers": {}, "reason": "interrupted during the check"}
        apply_fault_problems(run, results)
        results.update(stats=stats, timing=run.timing, notes=run.notes)
        try:
            with signals_held():  # a second Ctrl-C must not leave half a run directory
                write_json(files.results, results)
                root = Path(spec.results_dir)
                point_latest(run_dir, root)
                write_reports(run_dir, root)
        except KeyboardInterrupt:
            interrupted = True
    if interrupted:
        raise KeyboardInterrupt
    if crash is not None:
        raise crash
    return RunOutcome(run_dir=run_dir, valid=results["valid"], results=results, stats=stats)


def check_run(run: Run, history: History) -> dict[str, Any]:
    """``{"valid", "checkers"}``: every checker's result, plus ``liveness`` when the cluster did not
    recover; the run's verdict is the worst of them all (:func:`checkers.merge_validity`)."""
    spec = run.spec
    ctx = CheckContext(config=spec.to_json(), out_dir=run.run_dir, time_limit=spec.check_time_limit,
                       memory_limit=spec.check_memory_mb * 1024 * 1024)
    t0 = time.monotonic()
    results = run_checkers({**run.workload.checkers(), **cluster_checkers(run.run_dir)}, history, ctx)
    run.timing["check_s"] = round(time.monotonic() - t0, 3)
    if "liveness" in run.notes:
        results["checkers"]["liveness"] = {"valid": False, "reason": run.notes["liveness"]}
        results["valid"] = merge_validity([c["valid"] for c in results["checkers"].values()])
    results.update(verdict_stamp())  # when, and by which harness version (a re-check says the same)
    return results


def apply_fault_problems(run: Run, results: dict[str, Any]) -> None:
    """``results["fault_problems"]`` (always there), a note, and the verdict: a stop, restart or heal
    that went wrong makes a verdict that is not invalid ``unknown``."""
    problems = sorted(run.fault_problems, key=lambda p: p.time)
    results["fault_problems"] = [p.to_json() for p in problems]
    if not problems:
        return
    first = problems[0]
    run.notes["fault_problems"] = (f"{len(problems)} fault op(s) or heal(s) went wrong; the first, "
                                   f"{first.f} at {first.time / 1e9:.1f} s: {first.problem}")
    spoiling = [p for p in problems if p.spoils_verdict]
    if spoiling and results.get("valid") is not False:
        p = spoiling[0]
        if results.get("valid") is True or "reason" not in results:
            results["reason"] = (f"the checkers found nothing wrong, but the cluster was not in the state the test "
                                 f"claims: {p.f} at {p.time / 1e9:.1f} s: {p.problem}"
                                 + (f" (and {len(spoiling) - 1} more fault problem(s))" if len(spoiling) > 1 else ""))
        results["valid"] = UNKNOWN


def write_reports(run_dir: Path, root: Path) -> None:
    """The run's report.html and the results index; a report bug never loses a run."""
    try:
        write_report(run_dir)
        write_index(root)
    except Exception as e:
        log.warning("could not write the HTML report: %s", e)
