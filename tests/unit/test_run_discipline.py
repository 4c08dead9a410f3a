"""Run discipline (issue 17), on whole runs against fakes: a run stops at its limit, heals before it
waits, records every fault that went wrong, tears down whatever signal comes, and says honest figures.

* the time limit is a contract: no client or scheduled fault op is invoked after it; the heal comes first,
  the workers are joined against one deadline, and an op still in flight then is abandoned (``info``);
* every fault problem (a stop whose verification failed, a start that did not apply, a heal that raised)
  lands in ``results.json`` → ``fault_problems``, a note, and (stop / restart / heal) an ``unknown`` verdict;
* a start that applied nothing is not followed by a "verified" stop (latency without netem);
* a second signal cannot cut the teardown short; removing containers cut short still removes the network;
* ``--rate`` is reached; ``stats`` has ``offered_ops_per_s``, ``ops_per_s`` and ``op_phase_s`` of the op phase;
* ``--etcd-arg`` is validated, recorded and reproduced; a run without Docker says so in ``results.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from checkers import UNKNOWN, Validity
from harness.core import DockerUnavailable, Op, RunDir, TestSpec, UsageError, signals_held
from harness.etcd import DockerCluster, EtcdClient, EtcdError, Node, V2Response, remove_labelled
from harness.run import RunOutcome, main, parse_plan, run_test, validate_spec
from harness.run._cli import add_test_arguments, spec_from_args
from harness.run._runner import JOIN_GRACE_S, sigterm_as_interrupt
from harness.run._validate import HARNESS_ETCD_FLAGS
from nemesis import Fault, FaultNotApplied, Latency
from tests.fakes import FakeCluster, FakeFault, FakeWorkload, Journal, Responder, answer_ok
from workloads.lock import acquire_wait
from workloads.lock_v2 import release_refused

SPEC = TestSpec(name="discipline", workload="register", nemesis=(), nodes=3, time_limit=1.0, concurrency=3,
                rate=0, seed=1, nemesis_interval=0.1, request_timeout=0.5, recovery_timeout=1.0)


@dataclasses.dataclass
class Ran:
    run_dir: Path
    outcome: RunOutcome | None
    raised: BaseException | None
    elapsed_s: float
    journal: Journal
    cluster: FakeCluster

    @property
    def results(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(RunDir(self.run_dir).results.read_text())
        return data

    @property
    def history(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in RunDir(self.run_dir).history.read_text().splitlines()]

    def limit_ns(self) -> int:
        return int(self.results["timing"]["ops_limit_at_s"] * 1e9)


def run_fake(tmp: Path, faults: list[Fault] | None = None, *, respond: Responder = answer_ok,
             cluster: FakeCluster | None = None, verdicts: dict[str, Validity] | None = None,
             journal: Journal | None = None, pause_s: float = 0.002, **changes: Any) -> Ran:
    journal = journal or Journal()
    spec = dataclasses.replace(SPEC, results_dir=str(tmp), **changes)
    cluster = cluster or FakeCluster(journal=journal)
    workload = FakeWorkload(spec, journal=journal, respond=respond, verdicts=verdicts, pause_s=pause_s)
    outcome: RunOutcome | None = None
    raised: BaseException | None = None
    t0 = time.monotonic()
    try:
        outcome = run_test(spec, cluster=cluster, workload=workload, faults=faults or [])
    except (Exception, KeyboardInterrupt) as e:
        raised = e
    (run_dir,) = (tmp / spec.test_name).iterdir()
    return Ran(run_dir, outcome, raised, time.monotonic() - t0, journal, cluster)


def client_ops(ran: Ran) -> list[dict[str, Any]]:
    return [op for op in ran.history if op["process"] != "nemesis" and op["f"] != "read"]


# -- 1. the time limit is a contract --------------------------------------------------------------


def blocks_until_healed(fault: FakeFault, t_limit_box: list[float]) -> Responder:
    """A client whose ops near the limit hang until the fault is healed (as against a paused node)."""

    def respond(op: Op) -> Op:
        if not t_limit_box:
            t_limit_box.append(time.monotonic() + SPEC.time_limit)  # the first op starts the op phase
        if time.monotonic() > t_limit_box[0] - 0.3:
            fault.healed.wait(30)
        return answer_ok(op)

    return respond


def test_the_heal_comes_first_and_the_op_phase_ends_within_its_bound(tmp_path: Path) -> None:
    """The fault's heal is slow (1 s) and clients hang until it is done: before, the heal waited for
    the workers (each joined for request timeout + 10 s), so the op phase ran ~30 s over its limit."""
    journal = Journal()
    slow = FakeFault("slow", journal=journal, heal_s=1.0)
    ran = run_fake(tmp_path, [slow], respond=blocks_until_healed(slow, []), journal=journal, nemesis_interval=10.0)
    assert ran.raised is None, repr(ran.raised)
    ops = client_ops(ran)
    limit = ran.limit_ns()
    invokes = [op["time"] for op in ops if op["type"] == "invoke"]
    completions = [op["time"] for op in ops if op["type"] != "invoke"]
    assert max(invokes) <= limit, "no op is invoked after the time limit"
    assert max(completions) <= limit + (SPEC.request_timeout + 2) * 1e9
    # Some ops hung at the limit and were answered only once the heal was done: it did not wait for them.
    assert sum(1 for t in completions if t > limit) >= 1
    assert ran.results["timing"]["ops_overrun_s"] <= SPEC.request_timeout + 2
    assert ran.elapsed_s < 8


def test_an_op_still_in_flight_at_the_join_deadline_is_abandoned_as_info(tmp_path: Path) -> None:
    release = threading.Event()
    box: list[float] = []

    def respond(op: Op) -> Op:
        if not box:
            box.append(time.monotonic() + SPEC.time_limit)
        if op.process == 0 and time.monotonic() > box[0] - 0.3:
            release.wait(20)  # no answer for far longer than a request timeout
        return answer_ok(op)

    try:
        ran = run_fake(tmp_path, respond=respond)
    finally:
        release.set()
    assert ran.raised is None, repr(ran.raised)
    ops = client_ops(ran)
    abandoned = [op for op in ops if op["type"] == "info" and "abandoned" in (op.get("error") or "")]
    assert len(abandoned) == 1 and abandoned[0]["process"] == 0
    time.sleep(0.2)  # the late answer arrives; it must not be recorded (the history is sealed anyway)
    mine = [op for op in ops if op["process"] == 0]
    assert mine[-1] == abandoned[0], "nothing of process 0 after its abandoned op"
    limit = ran.limit_ns()
    assert abandoned[0]["time"] <= limit + (SPEC.request_timeout + JOIN_GRACE_S + 0.3) * 1e9
    assert "abandoned_ops" in ran.results["notes"]
    assert ran.elapsed_s < 8


def test_the_nemesis_never_invokes_a_fault_op_after_the_limit(tmp_path: Path) -> None:
    """The leader probe before each fault op takes 0.4 s (nodes that time out): the second op's probe
    runs from 0.8 s to 1.2 s, across the 1 s limit; its op used to be invoked at 1.2 s."""
    journal = Journal()
    cluster = FakeCluster(journal=journal, delays={"leader": 0.4})
    ran = run_fake(tmp_path, [FakeFault("a", journal=journal)], cluster=cluster, journal=journal,
                   nemesis_interval=0.001)
    assert ran.raised is None, repr(ran.raised)
    limit = ran.limit_ns()
    nemesis = [op for op in ran.history if op["process"] == "nemesis"]
    scheduled = [op for op in nemesis if op["type"] == "invoke" and not (op.get("extra") or {}).get("final")]
    assert scheduled, "the nemesis ran"
    assert max(op["time"] for op in scheduled) <= limit
    finals = [op for op in nemesis if op["type"] == "invoke" and (op.get("extra") or {}).get("final")]
    assert all(op["f"] == "stop-a" for op in finals) and len(finals) <= 1


# -- 2. every fault outcome is recorded and surfaces -------------------------------------------------


def test_a_stop_whose_verification_fails_is_a_fault_problem_and_makes_the_verdict_unknown(tmp_path: Path) -> None:
    why = "after the heal: partition not as planned: n1->n3 cut, expected reachable"
    fault = FakeFault("bad", fail={"stop": FaultNotApplied(why, {"verified": False})})
    ran = run_fake(tmp_path, [fault], time_limit=0.6, nemesis_interval=0.05)
    assert ran.outcome is not None, repr(ran.raised)
    results = ran.results
    assert fault.stops >= 1
    assert results["checkers"]["fixed"]["valid"] is True, "the checkers themselves found nothing"
    assert results["valid"] == UNKNOWN and ran.outcome.valid == UNKNOWN
    problems = results["fault_problems"]
    assert problems and {p["f"] for p in problems} == {"stop-bad"}
    assert all(p["problem"] == why and isinstance(p["time"], int) for p in problems)
    assert why in results["reason"] and why in results["notes"]["fault_problems"]
    stops = [op for op in ran.history if op["f"] == "stop-bad" and op["type"] == "info"]
    assert stops and all(op["value"]["applied"] is False and op["value"]["verified"] is False for op in stops)


def test_a_fault_problem_does_not_hide_an_invalid_history(tmp_path: Path) -> None:
    fault = FakeFault("bad", fail={"stop": FaultNotApplied("n1 did not rejoin within 10 s")})
    ran = run_fake(tmp_path, [fault], verdicts={"fixed": False}, time_limit=0.6, nemesis_interval=0.05)
    assert ran.results["valid"] is False and ran.results["fault_problems"]


def test_a_heal_that_raises_is_a_fault_problem(tmp_path: Path) -> None:
    fault = FakeFault("h", fail={"heal": RuntimeError("docker went away")})
    ran = run_fake(tmp_path, [fault])
    assert ran.outcome is not None, repr(ran.raised)
    assert ran.results["valid"] == UNKNOWN
    problems = ran.results["fault_problems"]
    assert problems and all(p["f"] == "heal-h" and "docker went away" in p["problem"] for p in problems)


def test_a_start_that_did_not_apply_is_listed_but_keeps_the_verdict(tmp_path: Path) -> None:
    fault = FakeFault("s", fail={"start": FaultNotApplied("SIGSTOP sent, but etcd on n1 is not stopped after 5 s")})
    ran = run_fake(tmp_path, [fault], time_limit=0.6, nemesis_interval=0.05)
    assert ran.results["valid"] is True
    problems = ran.results["fault_problems"]
    assert problems and all(p["f"] == "start-s" and p["problem"].startswith("not applied: ") for p in problems)


def test_latency_without_netem_has_no_verified_stop(tmp_path: Path) -> None:
    """The kernel has no netem: start-latency fails, and no stop may claim it applied or verified anything."""
    cluster = FakeCluster(run_id=f"no-netem-{os.getpid()}-{time.monotonic_ns()}")
    cluster.exec_result = (2, "Error: Specified qdisc kind is unknown.")
    ran = run_fake(tmp_path, [Latency()], cluster=cluster, time_limit=0.8, nemesis_interval=0.05)
    assert ran.outcome is not None, repr(ran.raised)
    done = [op for op in ran.history if op["process"] == "nemesis" and op["type"] == "info"]
    starts = [op for op in done if op["f"] == "start-latency"]
    stops = [op for op in done if op["f"] == "stop-latency"]
    assert starts and stops, [op["f"] for op in done]
    assert all(op["value"]["applied"] is False and "netem" in op["error"] for op in starts)
    for op in stops:
        assert op["value"]["applied"] is False and op["value"]["verified"] is False and op["value"]["skipped"]
        assert "nothing to stop" in op["error"]
    assert ran.results["valid"] is True  # nothing was healed wrong: the run just had no latency
    assert {p["f"] for p in ran.results["fault_problems"]} == {"start-latency"}


def test_a_run_without_docker_leaves_a_folder_that_says_why(tmp_path: Path) -> None:
    cluster = FakeCluster(fail={"start": DockerUnavailable("cannot reach the Docker engine (fake)")})
    ran = run_fake(tmp_path, cluster=cluster)
    assert isinstance(ran.raised, DockerUnavailable)
    results = ran.results
    assert results["valid"] == UNKNOWN
    assert "DockerUnavailable: cannot reach the Docker engine" in results["reason"]
    assert results["notes"]["error"].startswith("DockerUnavailable")
    assert results["fault_problems"] == []


# -- 3. teardown under signals ------------------------------------------------------------------------


class SignalledAtTeardown(FakeCluster):
    """A cluster whose teardown gets a second Ctrl-C half way: the rest of it must still run."""

    def teardown(self) -> None:
        super().teardown()
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the handler would run here
        self.journal.add("cluster.teardown-finished")


def test_a_second_signal_cannot_cut_the_teardown_short(tmp_path: Path) -> None:
    journal = Journal()
    ran = run_fake(tmp_path, [FakeFault("a", journal=journal)], cluster=SignalledAtTeardown(journal=journal),
                   journal=journal)
    assert "cluster.teardown-finished" in journal.events
    assert isinstance(ran.raised, KeyboardInterrupt), "the signal is delivered once the teardown is done"
    assert ran.results["valid"] == UNKNOWN and ran.results["notes"]["interrupted"] is True


def test_signals_held_delivers_the_signal_after_the_block() -> None:
    order: list[str] = []
    with sigterm_as_interrupt(), pytest.raises(KeyboardInterrupt):
        with signals_held():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
            order.append("block finished")
        order.append("not reached")
    assert order == ["block finished"]


class _Net:
    def __init__(self, removed: list[str]) -> None:
        self.name = "etcd-harness-x"
        self.removed = removed

    def remove(self) -> None:
        self.removed.append(self.name)


class _Container:
    name = "etcd-harness-x-n1"
    attrs: dict[str, Any] = {"State": {}}

    def reload(self) -> None:
        pass

    def remove(self, force: bool, v: bool) -> None:
        raise KeyboardInterrupt  # a signal lands while the containers are being removed


class _Listing:
    def __init__(self, items: list[Any]) -> None:
        self.items = items

    def list(self, **kwargs: Any) -> list[Any]:
        return self.items


class _DockerApi:
    def __init__(self, removed: list[str]) -> None:
        self.containers = _Listing([_Container()])
        self.networks = _Listing([_Net(removed)])


def test_removing_the_network_survives_a_signal_while_removing_containers() -> None:
    removed: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        remove_labelled(_DockerApi(removed), {"etcd-harness.run": "x"})
    assert removed == ["etcd-harness-x"]


# -- 4. honest figures and words -----------------------------------------------------------------------


def slow_answer(op: Op) -> Op:
    time.sleep(0.01)
    return answer_ok(op)


def test_rate_is_the_total_rate_reached(tmp_path: Path) -> None:
    """3 processes, rate 150: one op every 20 ms each. Before, each slept 0–40 ms *then* did its 10 ms op:
    about 100 ops/s."""
    ran = run_fake(tmp_path, respond=slow_answer, pause_s=0, rate=150, time_limit=2.0)
    stats = ran.results["stats"]
    assert stats["offered_ops_per_s"] == 150
    assert 1.9 <= stats["op_phase_s"] <= 2.0 + SPEC.request_timeout + 2
    assert 0.85 * 150 <= stats["ops_per_s"] <= 1.1 * 150, stats


def test_ops_per_s_is_over_the_op_phase_only(tmp_path: Path) -> None:
    ran = run_fake(tmp_path, rate=0, time_limit=0.5)
    stats = ran.results["stats"]
    assert stats["offered_ops_per_s"] is None
    in_phase = sum(1 for op in client_ops(ran) if op["type"] == "invoke")
    assert stats["ops_per_s"] == pytest.approx(in_phase / stats["op_phase_s"], rel=0.01)
    assert stats["ops"] == in_phase + 1  # and the final read, which is not in the op phase


def v2(status: int, body: dict[str, Any]) -> V2Response:
    return V2Response(status, body, 42)


def test_a_v2_release_refused_with_404_says_the_node_expired_not_that_someone_owns_it() -> None:
    text = release_refused("/lock-v2/l0", "17", v2(404, {"errorCode": 100, "message": "Key not found",
                                                          "cause": "/lock-v2/l0"}))
    assert "was gone, its TTL expired" in text and "Key not found" in text
    assert "someone" not in text and "owns" not in text and "holds instance" not in text


def test_a_v2_release_refused_with_412_names_who_holds_the_node() -> None:
    other = release_refused("/lock-v2/l0", "17", v2(412, {"errorCode": 101, "message": "Compare failed",
                                                           "cause": "[17 != 23]"}))
    assert "holds instance 23" in other and "Compare failed" in other
    free = release_refused("/lock-v2/l0", "17", v2(412, {"errorCode": 101, "message": "Compare failed",
                                                          "cause": "[17 != 0]"}))
    assert "free again" in free and "holds instance" not in free


def test_a_lock_acquire_stops_waiting_by_the_time_limit() -> None:
    spec = TestSpec(workload="lock-set", request_timeout=3, ttl=2, options={"hold_max": 5})
    assert acquire_wait(spec, None) == 10
    assert acquire_wait(spec, time.monotonic() + 100) == 10
    assert 2.9 <= acquire_wait(spec, time.monotonic()) <= 3.0
    assert acquire_wait(spec, time.monotonic() - 5) < 0


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP server that accepts connections and never answers (as a SIGSTOPped etcd)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        server.close()


def test_a_v2_request_without_its_own_timeout_has_the_clients(silent_server: str) -> None:
    """httpx reads timeout=None as *no* timeout: a v2 request to a paused node used to hang until it
    resumed (the ~52 s release of issue 17)."""
    box: list[BaseException] = []

    def call() -> None:
        with EtcdClient(silent_server, request_timeout=0.3) as c:
            try:
                c.v2("PUT", "/lock-v2/l0", {"prevValue": "1"}, form={"value": "0"})
            except EtcdError as e:
                box.append(e)

    t = threading.Thread(target=call, daemon=True)
    t0 = time.monotonic()
    t.start()
    t.join(5)
    assert not t.is_alive(), "the request hung past its timeout"
    assert time.monotonic() - t0 < 2
    assert box and isinstance(box[0], EtcdError) and box[0].is_timeout, box


# -- 5. --etcd-arg ----------------------------------------------------------------------------------------


FLAG = "--experimental-initial-corrupt-check=true"


def test_etcd_args_are_recorded_and_the_command_reproduces_them() -> None:
    spec = validate_spec(TestSpec(etcd_args=(FLAG, "--experimental-corrupt-check-time", "1m"), seed=4))
    assert spec.to_json()["etcd_args"] == [FLAG, "--experimental-corrupt-check-time", "1m"]
    assert TestSpec.from_json(json.loads(json.dumps(spec.to_json()))) == dataclasses.replace(spec, name=spec.test_name)
    parser = argparse.ArgumentParser()
    add_test_arguments(parser)
    argv = shlex.split(spec.command())[2:]
    assert spec_from_args(parser.parse_args(argv)) == spec


@pytest.mark.parametrize(("args", "message"), [
    (("--name=x",), "the harness sets --name on every member itself"),
    (("--data-dir", "/tmp"), "the harness sets --data-dir"),
    (("1m",), "is not a flag"),
    ((FLAG, "1m"), "is not a flag"),
])
def test_bad_etcd_args_are_usage_errors(args: tuple[str, ...], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        validate_spec(TestSpec(etcd_args=args))


def test_a_plan_takes_etcd_args_and_names_the_line_of_a_bad_one() -> None:
    plan = parse_plan(f"tests:\n  - workload: register\n    etcd_args: [{FLAG}]\n")
    assert plan.entries[0].spec.etcd_args == (FLAG,)
    with pytest.raises(Exception, match=r"x.yaml:3: --etcd-arg --name=n1"):
        parse_plan("tests:\n  - workload: register\n    etcd_args: [--name=n1]\n", "x.yaml")


def test_an_unknown_etcd_flag_names_the_closest_one() -> None:
    cluster = DockerCluster(run_id="unit", size=1, extra_args=["--experimental-initial-corupt-check=true"])
    with pytest.raises(UsageError) as e:
        cluster.check_extra_args(frozenset({"experimental-initial-corrupt-check", "name"}))
    assert "--experimental-initial-corupt-check" in str(e.value)
    assert "did you mean --experimental-initial-corrupt-check?" in str(e.value)
    DockerCluster(run_id="unit", size=1, extra_args=[FLAG, "--x", "v"]).check_extra_args(
        frozenset({"experimental-initial-corrupt-check", "x"}))


def test_the_flags_an_etcd_arg_may_not_set_are_the_ones_the_cluster_sets() -> None:
    cluster = DockerCluster(run_id="unit", size=1)
    cluster.nodes = [Node(name="n1", ip="10.0.0.11", container="c", host_port=1)]
    cluster.etcd_version = "3.5.16"
    given = {a.lstrip("-").partition("=")[0] for a in cluster.etcd_args(cluster.nodes[0]) if a.startswith("--")}
    assert given == set(HARNESS_ETCD_FLAGS)


def test_the_cli_takes_etcd_arg_with_an_equals_sign(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = main(["test", "--nodes", "1", "--etcd-arg=--name=x", "--results-dir", str(tmp_path)])
    assert code == 2
    assert "--name" in capsys.readouterr().err
