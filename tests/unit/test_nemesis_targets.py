"""``family:target`` nemesis names, role targets (``pause:lock-holder``) and the lock workloads' role board."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from harness import PlanError, validate_spec
from harness.core import Op, OpType, TestSpec, UsageError
from harness.etcd import Node
from harness.run import parse_plan
from nemesis import (
    ROLES,
    FaultSkipped,
    Kill,
    Partition,
    Pause,
    build_fault,
    make_package,
    parse_nemesis,
    role_targets,
)
from nemesis._pause import pick_targets
from workloads import WORKLOADS
from workloads.lock import RoleBoard, check_lock_options


def node(name: str) -> Node:
    return Node(name=name, ip="10.0.0.1", container=f"c-{name}", host_port=0)


NODES = [node("n1"), node("n2"), node("n3")]


# -- names ----------------------------------------------------------------------------------


def test_targets_restrict_a_family_to_one_choice() -> None:
    assert parse_nemesis("pause:lock-holder,partition:isolate-leader") == ("pause:lock-holder",
                                                                           "partition:isolate-leader")
    pause = build_fault("pause:lock-holder")
    assert isinstance(pause, Pause) and pause.targets == ("lock-holder",)
    partition = build_fault("partition:isolate-leader")
    assert isinstance(partition, Partition) and partition.shapes == ("isolate-leader",)
    kill = build_fault("kill:leader")
    assert isinstance(kill, Kill) and kill.targets == ("leader",)


@pytest.mark.parametrize(("text", "expected"), [
    ("pause:sloth", "unknown pause target 'sloth'; allowed: pause:leader, pause:one, pause:all, pause:lock-holder"),
    ("latency:leader", "latency takes no target"),
    ("pause:leader,pause:one", "nemesis pause is named twice"),
    ("meteor:leader", "unknown nemesis meteor"),
])
def test_bad_targets_say_what_is_allowed(text: str, expected: str) -> None:
    with pytest.raises(UsageError) as e:
        parse_nemesis(text)
    assert expected in str(e.value)


def test_heal_order_holds_with_targets() -> None:
    names = [f.name for f in make_package(["kill:leader", "pause:lock-holder", "partition"], 1.0).faults]
    assert names == ["partition", "pause", "kill"]


def test_test_names_have_no_colon() -> None:
    spec = TestSpec(workload="lock-set", nemesis=("pause:lock-holder",))
    assert spec.test_name == "lock-set-pause-lock-holder"


def test_role_targets_need_a_workload_that_reports_them() -> None:
    assert role_targets(("pause:lock-holder", "kill:leader", "partition")) == ["lock-holder"]
    validate_spec(TestSpec(workload="lock-set", nemesis=("pause:lock-holder",)))
    with pytest.raises(UsageError) as e:
        validate_spec(TestSpec(workload="register", nemesis=("pause:lock-holder",)))
    assert "register does not" in str(e.value) and "lock-set" in str(e.value)
    for name, workload in WORKLOADS.items():
        assert set(workload.roles) <= set(ROLES), name


def test_a_plan_with_an_unfit_role_target_names_the_line() -> None:
    with pytest.raises(PlanError) as e:
        parse_plan("tests:\n  - workload: register\n    nemesis: pause:lock-holder\n", "suites/x.yaml")
    assert e.value.line == 3 and "needs a workload that reports it" in str(e.value)
    with pytest.raises(PlanError) as e:
        parse_plan("tests:\n  - workload: lock\n    nemesis: pause:lock-holdr\n", "suites/x.yaml")
    assert "did you mean 'lock-holder'" in str(e.value)
    plan = parse_plan("tests:\n  - workload: lock-set\n    nemesis: pause:lock-holder+kill\n", "suites/x.yaml")
    assert plan.entries[0].spec.nemesis == ("pause:lock-holder", "kill")
    assert ":" not in plan.entries[0].name


def test_cli_rejects_a_role_target_the_workload_lacks(tmp_path: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "harness", "test", "--workload", "register", "--nemesis",
                           "pause:lock-holder", "--results-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "lock-holder" in proc.stderr and "Traceback" not in proc.stderr
    assert not list(tmp_path.iterdir()), "a rejected spec must not leave a run directory"


# -- picking a role's node ----------------------------------------------------------------------


def test_a_role_target_is_the_newest_role_takers_node_among_the_candidates() -> None:
    roles = {"lock-holder": ["n3", "n1"], "lock-waiter": ["n2"]}
    rng = random.Random(0)
    assert [n.name for n in pick_targets("lock-holder", None, rng, NODES, roles)] == ["n3"]  # type: ignore[arg-type]
    # n3 is already paused (not a candidate): the next-newest holder's node.
    assert [n.name for n in pick_targets("lock-holder", None, rng, NODES[:2], roles)] == ["n1"]  # type: ignore[arg-type]


def test_no_role_taker_skips_the_fault_without_doing_anything() -> None:
    with pytest.raises(FaultSkipped, match="no client plays it right now"):
        pick_targets("lock-holder", None, random.Random(0), NODES, {})  # type: ignore[arg-type]
    with pytest.raises(FaultSkipped, match="down or paused"):
        pick_targets("lock-waiter", None, random.Random(0), NODES[:1], {"lock-waiter": ["n2"]})  # type: ignore[arg-type]


def test_the_package_binds_the_workloads_report_to_each_fault() -> None:
    package = make_package(["pause:lock-holder", "kill"], 1.0, lambda: {"lock-holder": ["n2"]})
    assert all(f.roles() == {"lock-holder": ["n2"]} for f in package.faults)
    assert make_package(["pause"], 1.0).faults[0].roles() == {}


def test_a_skipped_start_leaves_the_fault_idle() -> None:
    package = make_package(["pause:lock-holder"], 1.0)
    fault = package.faults[0]
    package.mark(fault, fault.start_f, skipped=True)
    assert package.active_faults() == []
    package.mark(fault, fault.start_f)
    assert package.active_faults() == [fault]


# -- the lock workloads' role board -----------------------------------------------------------


def op(process: int, f: str, kind: OpType = OpType.INVOKE) -> Op:
    return Op(type=kind, f=f, process=process, key="l0")


def test_role_board_follows_acquire_and_release_newest_first() -> None:
    board = RoleBoard()
    board.track("n1", op(0, "acquire"), None)
    assert board.report() == {"lock-waiter": ["n1"]}
    board.track("n1", op(0, "acquire"), op(0, "acquire", OpType.OK))
    board.track("n2", op(1, "acquire"), None)
    board.track("n2", op(1, "acquire"), op(1, "acquire", OpType.OK))
    assert board.report() == {"lock-holder": ["n2", "n1"]}
    board.track("n2", op(1, "release"), None)  # giving it up: no longer the holder
    assert board.report() == {"lock-holder": ["n1"]}
    board.track("n3", op(2, "acquire"), None)
    board.track("n3", op(2, "acquire"), op(2, "acquire", OpType.FAIL))
    board.track("n1", op(4, "acquire"), None)
    board.track("n1", op(4, "acquire"), op(4, "acquire", OpType.INFO))
    assert board.report() == {"lock-holder": ["n1"]}
    board.leave(0)
    assert board.report() == {}


def test_the_lock_workloads_report_their_roles() -> None:
    for name in ("lock", "lock-set", "lock-etcd-set", "lock-v2", "lock-v2-set"):
        assert set(WORKLOADS[name].roles) == {"lock-holder", "lock-waiter"}, name
    assert WORKLOADS["register"].roles == ()


@pytest.mark.parametrize(("options", "expected"), [
    ({"hold_max": -1}, "hold_max=-1"),
    ({"hold_max": "long"}, "hold_max='long'"),
    ({"locks": 0}, "locks=0"),
    ({"locks": 1.5}, "locks=1.5"),
])
def test_bad_lock_options_are_usage_errors(options: dict[str, Any], expected: str) -> None:
    with pytest.raises(UsageError) as e:
        check_lock_options(TestSpec(workload="lock-set", options=options))
    assert expected in str(e.value)


def test_good_lock_options_pass() -> None:
    check_lock_options(TestSpec(workload="lock-set", options={"hold_max": 5, "locks": 2}))
    check_lock_options(TestSpec(workload="lock-set", options={"hold_max": 0.5}))
