"""Runs one test: cluster up, workers and nemesis for the time limit, heal, final reads, check.

Contract:

* The history is written as it happens (``history.jsonl``); a crash still leaves
  a checkable prefix.
* A process that got ``info`` is retired: its number is never used again, and
  its thread goes on as a new process (``p + concurrency``).
* Every fault is healed, the workload torn down (:meth:`Workload.teardown`) and
  the cluster torn down in ``finally``, also when a worker crashes, on Ctrl-C
  and on SIGTERM (which is turned into ``KeyboardInterrupt``).
* The run's verdict is the worst of its checkers' (invalid > unknown > valid).
* The verdict is written to ``results.json`` (atomically) whatever happens: on
  a crash or an interrupt it is ``unknown``, and the exception (or
  ``KeyboardInterrupt``) propagates after cleanup.

:func:`run_test` takes a ``cluster``, a ``workload`` and ``faults`` in place of
the ones ``spec`` names: the unit tests run whole runs on fakes that way.
"""

from __future__ import annotations

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
    write_json,
)
from harness.etcd import Cluster, DockerCluster, EtcdError, Node
from harness.report import write_index, write_report
from harness.run._validate import validate_spec
from nemesis import Fault, FaultNotApplied, FaultSkipped, NemesisPackage, make_package
from workloads import WORKLOADS, Invocation, Sleep, Workload, WorkloadContext

log = logging.getLogger(__name__)

ProgressFn = Callable[[dict[str, Any]], None]


@dataclass
class RunOutcome:
    run_dir: Path
    valid: Validity
    results: dict[str, Any]
    interrupted: bool = False
    stats: dict[str, Any] = field(default_factory=dict)


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
            image=spec.image)
        self.files = RunDir(run_dir)
        self.writer = HistoryWriter(self.files.history)
        self.stop = threading.Event()
        self.nemesis_done = threading.Event()
        self.nemesis_started = False
        self.max_process = spec.concurrency - 1
        self._process_lock = threading.Lock()
        self.notes: dict[str, Any] = {}
        self.timing: dict[str, Any] = {}
        self.crashes: list[Exception] = []  # what ended worker threads, re-raised by run_workers

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
        return self.cluster.nodes[(thread + generation) % len(self.cluster.nodes)]

    def worker(self, thread_index: int, ctx: WorkloadContext) -> None:
        """One worker thread. An exception in it (a harness or workload bug) stops the run:
        :meth:`run_workers` re-raises it, rather than the run going on one thread short."""
        try:
            self._work(thread_index, ctx)
        except Exception as e:
            e.add_note(f"in worker thread {thread_index}")
            with self._process_lock:
                self.crashes.append(e)
            self.stop.set()

    def _work(self, thread_index: int, ctx: WorkloadContext) -> None:
        spec = self.spec
        process = thread_index
        pace = spec.concurrency / spec.rate if spec.rate > 0 else 0.0
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
                    if pace:
                        self.stop.wait(rng.uniform(0, 2 * pace))
                        if self.stop.is_set():
                            break
                    done = self.invoke(client, step, process)
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

    def invoke(self, client: Any, step: Invocation, process: int) -> Op:
        inv = self.writer.record(Op(type=OpType.INVOKE, f=step.f, value=step.value, key=step.key, process=process))
        try:
            done = client.invoke(inv)
        except Exception as e:
            done = inv.with_(type=OpType.INFO, error=f"client crashed: {type(e).__name__}: {e}", time=0)
        if done.process != inv.process or done.f != inv.f or done.type is OpType.INVOKE:
            done = inv.with_(type=OpType.INFO, error=f"client broke the completion contract: {done}", time=0)
        return self.writer.record(done.with_(time=0, index=-1))

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
                self.nemesis_op(planned.fault, planned.f, targets)
        finally:
            self.nemesis_done.set()

    def nemesis_op(self, fault: Fault, f: str, rng: random.Random) -> Op:
        leader_before = self.cluster.leader(timeout=0.5)
        self.writer.record(Op(type=OpType.INVOKE, f=f, process=NEMESIS))
        self.writer.flush()
        error = None
        value: dict[str, Any] = {}
        skipped = False
        try:
            value = fault.start(self.cluster, rng) if f == fault.start_f else fault.stop(self.cluster)
        except FaultNotApplied as e:
            error, value, skipped = str(e), dict(e.value), isinstance(e, FaultSkipped)
        except Exception as e:
            error = f"{type(e).__name__}: {e}"
        self.package.mark(fault, f, skipped=skipped)
        if skipped:
            value["skipped"] = True
        value.update(leader_before=leader_before, leader_after=self.cluster.leader(timeout=0.5),
                     applied=error is None)
        done = self.writer.record(Op(type=OpType.INFO, f=f, process=NEMESIS, value=value, error=error))
        self.writer.flush()
        return done

    def heal_everything(self) -> None:
        """Stop active faults (recorded), then heal every family unconditionally."""
        rng = random.Random(f"{self.spec.seed}:final")
        if self.nemesis_started:
            # A slow fault op (a kill's restart waits for rejoin) must finish before we heal.
            self.nemesis_done.wait(timeout=60)
        for fault in self.package.active_faults():
            self.nemesis_op(fault, fault.stop_f, rng)
        errors: list[Exception] = []
        for fault in self.package.faults:
            try:
                fault.heal(self.cluster)
            except Exception as e:  # heal must not raise; one that does must not keep the others from healing
                log.error("healing %s failed: %s: %s", fault.name, type(e).__name__, e)
                errors.append(e)
        if errors:
            raise errors[0]

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
                done = self.invoke(client, inv, process)
                if done.is_info:
                    client.close()
                    process += 1
                    client = self.workload.open_client(ctx, node, process)
        finally:
            client.close()

    # -- the whole run ----------------------------------------------------------------

    def execute(self) -> dict[str, Any]:
        spec = self.spec
        ctx = WorkloadContext(spec=spec, cluster=self.cluster)
        timing = self.timing
        t_start = time.monotonic()
        try:
            self.cluster.start()
            timing["cluster_start_s"] = round(self.cluster.started_in_s, 3)
            self.write_config()
            self.writer.restart_clock()  # time 0 = the cluster is ready
            self.workload.setup(ctx)
            timing["ops_s"] = self.run_workers(ctx, with_nemesis=True)
        except KeyboardInterrupt:
            self.notes["interrupted"] = True  # no recovery wait, no final reads: clean up and go
            raise
        except Exception as e:
            self.notes["error"] = f"{type(e).__name__}: {e}"  # no verdict comes: no final reads either
            raise
        finally:
            self.stop.set()
            try:
                self.heal_everything()
            finally:
                self.after_heal(ctx, timing)
        timing["total_s"] = round(time.monotonic() - t_start, 3)
        return timing

    def run_workers(self, ctx: WorkloadContext, *, with_nemesis: bool) -> float:
        """Run the client processes (and the nemesis) for the time limit; returns the seconds taken."""
        threads = [threading.Thread(target=self.worker, args=(i, ctx), name=f"worker-{i}", daemon=True)
                   for i in range(self.spec.concurrency)]
        if with_nemesis:
            self.nemesis_started = True
            threads.append(threading.Thread(target=self.nemesis_loop, name="nemesis", daemon=True))
            threads.append(threading.Thread(target=self.leader_loop, name="leaders", daemon=True))
        t0 = time.monotonic()
        for t in threads:
            t.start()
        self.wait_for_time_limit(t0)
        self.stop.set()
        for t in threads:
            t.join(timeout=self.spec.request_timeout + 10)
        if self.crashes:
            raise self.crashes[0]
        return round(time.monotonic() - t0, 3)

    def after_heal(self, ctx: WorkloadContext, timing: dict[str, Any]) -> None:
        """Recovery and final reads (not after an interrupt or a crash), then always: the workload's
        teardown, the node logs and the cluster's teardown."""
        try:
            if self.cluster.nodes and not self.notes.get("interrupted") and "error" not in self.notes:
                t0 = time.monotonic()
                try:
                    self.cluster.wait_healthy(self.spec.recovery_timeout)
                    timing["recovery_s"] = round(time.monotonic() - t0, 3)
                    self.final_reads(ctx)
                except ClusterError as e:
                    self.notes["liveness"] = f"the cluster did not recover within {self.spec.recovery_timeout:.0f} s " \
                                             f"after healing: {str(e).splitlines()[0]}"
                except EtcdError as e:
                    self.notes["final_reads_error"] = str(e)
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
                      started_at=datetime.now(UTC).isoformat(timespec="seconds"), run_id=self.cluster.run_id,
                      nodes_detail=[{"name": n.name, "ip": n.ip} for n in self.cluster.nodes])
        write_json(self.files.config, config)


def history_stats(history: History) -> dict[str, Any]:
    by_type: dict[str, int] = {}
    latencies: list[int] = []
    for inv, done in history.pairs():
        if inv.process == NEMESIS:
            continue
        kind = done.type.value if done else "pending"
        by_type[kind] = by_type.get(kind, 0) + 1
        if done is not None:
            latencies.append(done.time - inv.time)
    client_ops = sum(by_type.values())
    span = (history[-1].time - history[0].time) / 1e9 if len(history) > 1 else 0.0
    return {
        "ops": client_ops,
        "by_type": by_type,
        "nemesis_ops": sum(1 for op in history if op.process == NEMESIS and op.is_invoke),
        "ops_per_s": round(client_ops / span, 1) if span else 0.0,
        "latency_ms_median": round(statistics.median(latencies) / 1e6, 3) if latencies else None,
        "latency_ms_p99": round(sorted(latencies)[int(len(latencies) * 0.99)] / 1e6, 3) if latencies else None,
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
    run = Run(spec, run_dir, progress, cluster, workload=workload, faults=faults)
    interrupted = False
    crash: Exception | None = None
    with sigterm_as_interrupt():
        try:
            run.execute()
        except KeyboardInterrupt:
            interrupted = True
            run.notes["interrupted"] = True
        except Exception as e:  # re-raised once the results are written
            crash = e
        finally:
            run.writer.close()
        history = run.writer.history()
        stats = history_stats(history)
        results: dict[str, Any]
        if interrupted:
            results = {"valid": UNKNOWN, "checkers": {}, "reason": "interrupted before the check"}
        elif crash is not None:
            results = {"valid": UNKNOWN, "checkers": {},
                       "reason": f"the run failed before the check: {type(crash).__name__}: {crash}"}
        else:
            try:
                results = check_run(run, history)
            except KeyboardInterrupt:
                interrupted = True
                run.notes["interrupted"] = True
                results = {"valid": UNKNOWN, "checkers": {}, "reason": "interrupted during the check"}
        results.update(stats=stats, timing=run.timing, notes=run.notes)
        write_json(files.results, results)
        root = Path(spec.results_dir)
        point_latest(run_dir, root)
        write_reports(run_dir, root)
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
    results = run_checkers(run.workload.checkers(), history, ctx)
    run.timing["check_s"] = round(time.monotonic() - t0, 3)
    if "liveness" in run.notes:
        results["checkers"]["liveness"] = {"valid": False, "reason": run.notes["liveness"]}
        results["valid"] = merge_validity([c["valid"] for c in results["checkers"].values()])
    return results


def write_reports(run_dir: Path, root: Path) -> None:
    """The run's report.html and the results index; a report bug never loses a run."""
    try:
        write_report(run_dir)
        write_index(root)
    except Exception as e:
        log.warning("could not write the HTML report: %s", e)
