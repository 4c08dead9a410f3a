"""The runner's rules, on whole runs against fakes (tests/fakes.py): no Docker, a few seconds in all.

* a process retires after ``info``: its number is never used again, its thread goes on as ``p + concurrency``;
* the run's verdict is the worst of its checkers' (invalid > unknown > valid);
* every fault is healed in ``finally``: after a crash, an interrupt, a cluster that never came up;
* ``results.json`` and ``history.jsonl`` are written on a crash and on Ctrl-C / SIGTERM (verdict unknown),
  and the exception (or ``KeyboardInterrupt``) is re-raised after them;
* ``Workload.teardown`` and the cluster's teardown always run, the workload's first;
* the lock workloads' teardown stops every keepalive thread within a bound.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from checkers import UNKNOWN, Validity
from harness.core import ClusterError, Op, OpType, RunDir, TestSpec
from harness.run import RunOutcome, run_test
from tests.fakes import FakeCluster, FakeFault, FakeWorkload, Journal, Responder, answer_ok, never_recovers
from workloads import WORKLOADS
from workloads.lock import LockWorkload, Refresher, RefresherGroup

CONCURRENCY = 3
SPEC = TestSpec(name="rules", workload="register", nemesis=(), nodes=3, time_limit=0.3, concurrency=CONCURRENCY,
                rate=300, seed=1, nemesis_interval=0.05, request_timeout=0.5, recovery_timeout=1.0)


@dataclass
class Ran:
    """One fake run: what it returned or raised, and what each fake saw."""

    journal: Journal
    cluster: FakeCluster
    workload: FakeWorkload
    faults: list[FakeFault]
    run_dir: Path
    outcome: RunOutcome | None = None
    raised: BaseException | None = None
    elapsed_s: float = 0.0

    @property
    def results(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(RunDir(self.run_dir).results.read_text())
        return data

    @property
    def history(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in RunDir(self.run_dir).history.read_text().splitlines()]

    def client_history(self) -> list[dict[str, Any]]:
        return [op for op in self.history if op["process"] != "nemesis"]


@dataclass
class Setup:
    """How to break a fake run."""

    cluster_fail: dict[str, BaseException] = field(default_factory=dict)
    workload_fail: dict[str, BaseException] = field(default_factory=dict)
    crash_after: int | None = None
    respond: Callable[[], Responder] = lambda: answer_ok
    progress: Callable[[dict[str, Any]], None] | None = None
    verdicts: dict[str, Validity] | None = None
    time_limit: float = SPEC.time_limit


def run_fake(results_dir: Path, setup: Setup) -> Ran:
    journal = Journal()
    spec = dataclasses.replace(SPEC, results_dir=str(results_dir), time_limit=setup.time_limit)
    cluster = FakeCluster(journal=journal, fail=setup.cluster_fail)
    workload = FakeWorkload(spec, journal=journal, respond=setup.respond(), verdicts=setup.verdicts,
                            fail=setup.workload_fail, crash_after=setup.crash_after)
    faults = [FakeFault("a", journal=journal), FakeFault("b", journal=journal)]
    outcome: RunOutcome | None = None
    raised: BaseException | None = None
    t0 = time.monotonic()
    try:
        outcome = run_test(spec, progress=setup.progress, cluster=cluster, workload=workload, faults=faults)
    except (Exception, KeyboardInterrupt) as e:
        raised = e
    elapsed = time.monotonic() - t0
    (run_dir,) = (results_dir / spec.test_name).iterdir()
    return Ran(journal, cluster, workload, faults, run_dir, outcome, raised, elapsed)


def ctrl_c(progress: dict[str, Any]) -> None:
    """A progress callback that is a Ctrl-C: it comes from the main thread while the workers run."""
    raise KeyboardInterrupt


def sigterm_at_third_op() -> Responder:
    """A client that sends the harness SIGTERM (which the runner turns into KeyboardInterrupt) once."""
    sent = threading.Event()

    def respond(op: Op) -> Op:
        # Only while the runner's handler is installed: the default one would end pytest.
        if op.process == 0 and op.value == 3 and not sent.is_set() and callable(signal.getsignal(signal.SIGTERM)):
            sent.set()
            os.kill(os.getpid(), signal.SIGTERM)
        return answer_ok(op)

    return respond


#: name -> (how the run breaks, the exception run_test must raise: None, or its type)
SCENARIOS: dict[str, tuple[Setup, type[BaseException] | None]] = {
    "normal": (Setup(), None),
    "cluster-never-recovers": (Setup(cluster_fail=never_recovers()), None),
    "cluster-start-fails": (Setup(cluster_fail={"start": ClusterError("fake: no cluster")}), ClusterError),
    "setup-raises": (Setup(workload_fail={"setup": RuntimeError("fake: setup failed")}), RuntimeError),
    "worker-crashes": (Setup(crash_after=3), RuntimeError),
    "ctrl-c": (Setup(progress=ctrl_c), KeyboardInterrupt),
    "sigterm": (Setup(respond=sigterm_at_third_op), KeyboardInterrupt),
}
FAILING = [name for name, (_, raises) in SCENARIOS.items() if raises is not None and raises is not KeyboardInterrupt]
INTERRUPTED = [name for name, (_, raises) in SCENARIOS.items() if raises is KeyboardInterrupt]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Ran]]:
    """Each scenario runs once per module; the rules below all read the same runs."""
    done: dict[str, Ran] = {}

    def get(name: str) -> Ran:
        if name not in done:
            done[name] = run_fake(tmp_path_factory.mktemp(name), SCENARIOS[name][0])
        return done[name]

    yield get


# -- every scenario ends the way it should, and quickly ------------------------------------------


@pytest.mark.parametrize("name", SCENARIOS)
def test_each_scenario_raises_what_it_should(scenario: Callable[[str], Ran], name: str) -> None:
    ran = scenario(name)
    expected = SCENARIOS[name][1]
    if expected is None:
        assert ran.raised is None, repr(ran.raised)
        assert ran.outcome is not None
    else:
        assert isinstance(ran.raised, expected), repr(ran.raised)
    assert ran.elapsed_s < 5, "a fake run takes well under a second"


# -- a. a process retires after info --------------------------------------------------------------


def info_on_second_op() -> Responder:
    """Every first-generation process (0..concurrency-1) gets ``info`` for its second op."""
    counts: dict[Any, int] = defaultdict(int)
    lock = threading.Lock()

    def respond(op: Op) -> Op:
        with lock:
            counts[op.process] += 1
            n = counts[op.process]
        if isinstance(op.process, int) and op.process < CONCURRENCY and n == 2:
            return op.with_(type=OpType.INFO, error="fake: timed out", time=0)
        return answer_ok(op)

    return respond


def test_a_process_retires_after_info(tmp_path: Path) -> None:
    ran = run_fake(tmp_path, Setup(respond=info_on_second_op))
    assert ran.raised is None, repr(ran.raised)
    ops = [op for op in ran.client_history() if op["f"] == "write"]
    by_process: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for op in ops:
        by_process[op["process"]].append(op)
    for p in range(CONCURRENCY):
        mine = by_process[p]
        infos = [i for i, op in enumerate(mine) if op["type"] == "info"]
        assert infos, f"process {p} never got its info: the test checked nothing"
        # Nothing after the info: the process never invokes again ...
        assert infos[0] == len(mine) - 1, f"process {p} invoked again after info: {mine[infos[0]:]}"
        # ... and its thread goes on as a new process.
        successor = p + CONCURRENCY
        assert by_process[successor], f"thread {p} did not go on as process {successor}"
        assert by_process[successor][0]["time"] > mine[-1]["time"]
        assert ran.workload.opened.count(p) == 1 and successor in ran.workload.opened
    # Final reads use a process number never used before.
    reads = [op for op in ran.client_history() if op["f"] == "read"]
    assert reads and all(op["process"] not in by_process for op in reads)


# -- b. the verdict is the worst of the checkers' -------------------------------------------------


@pytest.mark.parametrize(("verdicts", "expected"), [
    ({"a": True, "b": True}, True),
    ({"a": True, "b": UNKNOWN}, UNKNOWN),
    ({"a": UNKNOWN, "b": True}, UNKNOWN),
    ({"a": True, "b": UNKNOWN, "c": False}, False),
    ({"a": False, "b": True}, False),
], ids=["valid", "valid+unknown", "unknown+valid", "valid+unknown+invalid", "invalid+valid"])
def test_the_verdict_is_the_worst_of_the_checkers(tmp_path: Path, verdicts: dict[str, Validity],
                                                  expected: Validity) -> None:
    ran = run_fake(tmp_path, Setup(verdicts=verdicts, time_limit=0.1))
    assert ran.outcome is not None, repr(ran.raised)
    results = ran.results
    assert {name: c["valid"] for name, c in results["checkers"].items()} == verdicts
    assert results["valid"] == expected and type(results["valid"]) is type(expected)
    assert ran.outcome.valid == expected and type(ran.outcome.valid) is type(expected)
    assert ran.outcome.results["valid"] == expected


def test_a_cluster_that_never_recovers_makes_the_run_invalid(scenario: Callable[[str], Ran]) -> None:
    ran = scenario("cluster-never-recovers")
    assert ran.outcome is not None
    results = ran.results
    assert results["checkers"]["fixed"]["valid"] is True
    assert results["checkers"]["liveness"]["valid"] is False
    assert "did not recover" in results["checkers"]["liveness"]["reason"]
    assert results["valid"] is False and ran.outcome.valid is False


# -- c. faults are healed in finally --------------------------------------------------------------


def last_index(events: list[str], event: str) -> int:
    return max((i for i, e in enumerate(events) if e == event), default=-1)


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_fault_is_healed_whatever_happens(scenario: Callable[[str], Ran], name: str) -> None:
    ran = scenario(name)
    events = ran.journal.events
    # Twice at most: at the limit, and again if a fault op was in flight then.
    for fault in ran.faults:
        assert 1 <= fault.heals <= 2, f"{fault.name} healed {fault.heals} times"
        # Healed before the cluster goes, and after the run's last fault start.
        assert last_index(events, f"fault.heal:{fault.name}") < events.index("cluster.teardown")
    last_start = max((i for i, e in enumerate(events) if e.startswith("fault.start")), default=-1)
    assert last_start < min(last_index(events, f"fault.heal:{f.name}") for f in ran.faults)
    # A stop after the first heal is a final stop, which verifies the heal; nothing starts after it.
    first_heal = min(events.index(f"fault.heal:{f.name}") for f in ran.faults)
    late = [e for e in events[first_heal:] if e.startswith(("fault.start", "fault.stop"))]
    assert all(e.startswith("fault.stop") for e in late), late


def test_the_nemesis_ran_and_active_faults_get_a_final_stop(scenario: Callable[[str], Ran]) -> None:
    ran = scenario("normal")
    assert sum(f.starts for f in ran.faults) >= 1, "no fault started: the heal checks above checked little"
    for fault in ran.faults:
        assert fault.stops == fault.starts  # every start has its stop: the scheduler's or the final one
    assert ran.cluster.pauses and ran.cluster.resumes
    nemesis = [op for op in ran.history if op["process"] == "nemesis"]
    assert nemesis and all(op["type"] in ("invoke", "info") for op in nemesis)


# -- d. results are written on a crash and on Ctrl-C -------------------------------------------------


@pytest.mark.parametrize("name", FAILING)
def test_a_crash_still_writes_the_results_then_re_raises(scenario: Callable[[str], Ran], name: str) -> None:
    ran = scenario(name)
    assert ran.raised is not None and not isinstance(ran.raised, KeyboardInterrupt)
    files = RunDir(ran.run_dir)
    assert files.results.exists(), "results.json must be written on a crash"
    assert files.history.exists(), "history.jsonl must be written on a crash"
    results = ran.results
    assert results["valid"] == UNKNOWN
    assert type(ran.raised).__name__ in results["reason"]
    assert results["notes"]["error"].startswith(type(ran.raised).__name__)
    assert not list(ran.run_dir.glob(".*.tmp")), "results.json is written through a temporary file"


def test_a_worker_crash_keeps_the_history_so_far(scenario: Callable[[str], Ran]) -> None:
    ran = scenario("worker-crashes")
    assert isinstance(ran.raised, RuntimeError) and "process 1 crashed" in str(ran.raised)
    ops = ran.client_history()
    assert [op for op in ops if op["process"] == 1 and op["type"] == "ok"], "the crashed process's ops are kept"
    assert not [op for op in ops if op["f"] == "read"], "no final reads after a crash"


@pytest.mark.parametrize("name", INTERRUPTED)
def test_an_interrupt_writes_unknown_results_and_re_raises(scenario: Callable[[str], Ran], name: str) -> None:
    ran = scenario(name)
    assert isinstance(ran.raised, KeyboardInterrupt)
    files = RunDir(ran.run_dir)
    assert files.results.exists() and files.history.exists()
    results = ran.results
    assert results["valid"] == UNKNOWN
    assert results["notes"]["interrupted"] is True
    assert ran.client_history(), "the history so far is kept"
    assert "cluster.wait_healthy" not in ran.journal.events, "an interrupt does not wait for recovery"
    assert "workload.final_invocations" not in ran.journal.events


def test_a_normal_run_writes_a_whole_run_dir(scenario: Callable[[str], Ran]) -> None:
    ran = scenario("normal")
    files = RunDir(ran.run_dir)
    for path in (files.config, files.history, files.results, files.report, files.node_log("n1")):
        assert path.exists(), path
    assert ran.results["valid"] is True
    assert json.loads(files.config.read_text())["run_id"] == "fake"
    assert ran.outcome is not None and ran.outcome.run_dir == ran.run_dir


# -- e. Workload.teardown and the cluster's teardown always run -------------------------------------


@pytest.mark.parametrize("name", SCENARIOS)
def test_workload_and_cluster_teardown_always_run(scenario: Callable[[str], Ran], name: str) -> None:
    ran = scenario(name)
    assert ran.workload.teardowns == 1
    assert ran.cluster.teardowns >= 1
    events = ran.journal.events
    # After the final reads (when there are any) and before the cluster is torn down.
    assert events.index("workload.teardown") < events.index("cluster.teardown")
    if "workload.final_invocations" in events:
        assert events.index("workload.final_invocations") < events.index("workload.teardown")
    if ran.cluster.nodes:
        assert events.index("workload.teardown") < events.index("cluster.collect_logs")
    if ran.workload.background is not None:
        assert not ran.workload.background.is_alive()


def test_final_reads_run_only_when_the_cluster_recovered(scenario: Callable[[str], Ran]) -> None:
    assert "workload.final_invocations" in scenario("normal").journal.events
    assert "workload.final_invocations" not in scenario("cluster-never-recovers").journal.events


def test_a_teardown_that_raises_does_not_keep_the_cluster(tmp_path: Path) -> None:
    ran = run_fake(tmp_path, Setup(workload_fail={"teardown": RuntimeError("fake: teardown failed")},
                                   time_limit=0.1))
    assert isinstance(ran.raised, RuntimeError)
    assert ran.cluster.teardowns == 1 and all(f.heals == 1 for f in ran.faults)
    assert ran.results["valid"] == UNKNOWN


# -- the lock workloads' teardown -------------------------------------------------------------------


class Beating(Refresher):
    """A refresher that needs no etcd: every refresh succeeds, after ``refresh_s``."""

    def __init__(self, group: RefresherGroup, name: str, refresh_s: float = 0.0) -> None:
        super().__init__(ttl=0.6, request_timeout=0.3, name=name, group=group)
        self.refresh_s = refresh_s
        self._thread.start()

    def refresh_once(self) -> bool:
        time.sleep(self.refresh_s)
        return True


LOCKS = [name for name, cls in WORKLOADS.items() if issubclass(cls, LockWorkload)]


def lock_workload(name: str) -> LockWorkload:
    workload = WORKLOADS[name](TestSpec(workload=name, concurrency=CONCURRENCY))
    assert isinstance(workload, LockWorkload)
    return workload


def test_every_lock_workload_is_covered() -> None:
    assert set(LOCKS) == {"lock", "lock-set", "lock-etcd-set", "lock-v2", "lock-v2-set"}


@pytest.mark.parametrize("name", LOCKS)
def test_lock_teardown_stops_every_keepalive_thread(name: str) -> None:
    workload = lock_workload(name)
    keepers = [Beating(workload.refreshers, f"{name}-k{i}") for i in range(5)]
    time.sleep(0.05)
    assert all(k.alive for k in keepers)
    t0 = time.monotonic()
    workload.teardown()
    assert time.monotonic() - t0 < 1.0
    assert [k.name for k in keepers if k.alive] == []
    assert len(workload.refreshers) == 0
    # A worker still finishing its last op after teardown: its keepalive stops at once.
    late = Beating(workload.refreshers, f"{name}-late")
    late.join(1.0)
    assert not late.alive and late.acked == 0


@pytest.mark.parametrize("name", ["lock", "lock-v2"])
def test_lock_teardown_closes_parked_holders_without_a_revoke(name: str) -> None:
    workload = lock_workload(name)
    closed: list[str] = []
    workload.park(lambda revoke: closed.append(f"early revoke={revoke}"))
    workload.teardown()
    assert closed == ["early revoke=False"]
    workload.park(lambda revoke: closed.append(f"late revoke={revoke}"))  # parked after teardown: closed at once
    assert closed == ["early revoke=False", "late revoke=False"]


def test_lock_final_invocations_still_release_parked_holders_with_a_revoke() -> None:
    workload = lock_workload("lock-set")
    closed: list[bool] = []
    workload.park(closed.append)
    assert [inv.f for inv in workload.final_invocations()] == ["read"]
    assert closed == [True]
    workload.teardown()
    assert closed == [True], "teardown does not close a holder twice"


def test_lock_teardown_waits_for_a_slow_refresh_only_so_long() -> None:
    workload = lock_workload("lock")
    slow = Beating(workload.refreshers, "slow", refresh_s=5.0)
    time.sleep(0.25)  # inside its first refresh (it starts after 0.2 s)
    t0 = time.monotonic()
    workload.teardown()
    elapsed = time.monotonic() - t0
    assert slow.join_bound - 0.1 <= elapsed <= slow.join_bound + 0.5, elapsed
    assert slow.alive  # it ends after its refresh; teardown did not hang on it
