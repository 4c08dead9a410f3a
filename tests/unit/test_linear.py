"""The linearizability search: semantics, explanations, limits, brute-force agreement."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

import checkers.linearizable as lin
from checkers import CasRegisterModel, CheckContext, LinearizabilityChecker
from checkers._linear import Budget, LimitReached, check_budget, make_entries, rss_bytes, search
from checkers.linearizable import worker_budget
from harness.core import History, Op, OpType
from tests.unit.test_linear_support import brute_force, h, linearizable_register_history, random_small_history

CTX = CheckContext(time_limit=20)


def check(history: History, model: str = "cas-register") -> object:
    return LinearizabilityChecker(model).check(history, CTX).valid


def test_sequential_history_is_linearizable() -> None:
    hist = h((0, "invoke", "write", 1), (0, "ok", "write", 1), (1, "invoke", "read", None), (1, "ok", "read", 1))
    assert check(hist) is True


def test_stale_read_after_write_completed_is_not_linearizable() -> None:
    hist = h(
        (0, "invoke", "write", 1),
        (0, "ok", "write", 1),
        (0, "invoke", "write", 2),
        (0, "ok", "write", 2),
        (1, "invoke", "read", None),
        (1, "ok", "read", 1),
    )
    assert check(hist) is False


def test_concurrent_write_may_be_seen_or_not() -> None:
    for seen in (None, 5):
        hist = h((0, "invoke", "write", 5), (1, "invoke", "read", None), (1, "ok", "read", seen), (0, "ok", "write", 5))
        assert check(hist) is True


def test_failed_write_never_takes_effect() -> None:
    hist = h((0, "invoke", "write", 5), (0, "fail", "write", 5), (1, "invoke", "read", None), (1, "ok", "read", 5))
    assert check(hist) is False


def test_info_write_may_take_effect_late_or_never() -> None:
    late = h(
        (0, "invoke", "write", 5),
        (0, "info", "write", None),
        (1, "invoke", "read", None),
        (1, "ok", "read", None),
        (1, "invoke", "read", None),
        (1, "ok", "read", 5),
    )
    never = h(
        (0, "invoke", "write", 5), (0, "info", "write", None), (1, "invoke", "read", None), (1, "ok", "read", None)
    )
    assert check(late) is True
    assert check(never) is True


def test_info_write_takes_effect_at_most_once() -> None:
    hist = h(
        (0, "invoke", "write", 5),
        (0, "info", "write", None),
        (1, "invoke", "read", None),
        (1, "ok", "read", 5),
        (1, "invoke", "write", 6),
        (1, "ok", "write", 6),
        (1, "invoke", "read", None),
        (1, "ok", "read", 5),
    )
    assert check(hist) is False


def test_identical_info_writes_can_each_take_effect_once() -> None:
    hist = h(
        (0, "invoke", "write", 5),
        (0, "info", "write", None),
        (2, "invoke", "write", 5),
        (2, "info", "write", None),
        (1, "invoke", "read", None),
        (1, "ok", "read", 5),
        (1, "invoke", "write", 6),
        (1, "ok", "write", 6),
        (1, "invoke", "read", None),
        (1, "ok", "read", 5),
    )
    assert check(hist) is True


def test_info_write_cannot_take_effect_before_its_invocation() -> None:
    hist = h((1, "invoke", "read", None), (1, "ok", "read", 5), (0, "invoke", "write", 5), (0, "info", "write", None))
    assert check(hist) is False


def test_unknown_read_constrains_nothing() -> None:
    hist = h((0, "invoke", "read", None), (0, "info", "read", None), (1, "invoke", "write", 1), (1, "ok", "write", 1))
    assert check(hist) is True


def test_missing_completion_is_like_info() -> None:
    hist = h((0, "invoke", "write", 3), (1, "invoke", "read", None), (1, "ok", "read", 3))
    assert check(hist) is True


def test_cas_against_absent_register() -> None:
    ok = h(
        (0, "invoke", "cas", [None, 1]), (0, "ok", "cas", [None, 1]), (1, "invoke", "read", None), (1, "ok", "read", 1)
    )
    bad = h((0, "invoke", "cas", [0, 1]), (0, "ok", "cas", [0, 1]))
    assert check(ok) is True
    assert check(bad) is False


def test_partitions_are_independent_and_the_failing_key_is_named() -> None:
    hist = h(
        (0, "invoke", "write", 1, "a"),
        (0, "ok", "write", 1, "a"),
        (1, "invoke", "read", None, "b"),
        (1, "ok", "read", 1, "b"),
    )
    result = LinearizabilityChecker("cas-register").check(hist, CTX)
    assert result.valid is False
    assert result.details["partitions"] == 2
    assert [f["key"] for f in result.details["failures"]] == ["b"]
    assert result.reason.startswith("key b: read 1, but the register can only be absent here")


def test_explanation_follows_the_documented_schema() -> None:
    hist = h(
        (0, "invoke", "write", 1),
        (0, "ok", "write", 1),
        (1, "invoke", "write", 4),
        (1, "ok", "write", 4),
        (2, "invoke", "read", None),
        (2, "ok", "read", 3),
    )
    result = LinearizabilityChecker("cas-register").check(hist, CTX)
    failure = result.details["failures"][0]
    assert failure["longest_prefix"] == [0, 2]
    assert failure["prefix_states"] == ["1", "4"]
    bad = failure["unlinearizable"][0]
    assert (bad["index"], bad["process"], bad["f"], bad["value"]) == (4, 2, "read", 3)
    assert bad["why"] == "read 3, but the register can only be 4 here"
    assert [op["index"] for op in failure["window"]["ops"]] == [0, 2, 4]
    json.dumps(result.to_json())  # the report can store it


def test_time_limit_gives_unknown_not_a_hang() -> None:
    # many concurrent writes and info ops with no read to prune: exponential without a limit
    ops = [Op(type=OpType.INVOKE, f="write", value=i % 7, process=i) for i in range(40)]
    ops += [Op(type=OpType.INVOKE, f="cas", value=[i % 7, (i + 1) % 7], process=100 + i) for i in range(40)]
    ops += [Op(type=OpType.OK, f="write", value=i % 7, process=i) for i in range(40)]
    ops += [
        Op(type=OpType.INVOKE, f="read", value=None, process=999),
        Op(type=OpType.OK, f="read", value=99, process=999),
    ]
    started = time.monotonic()
    result = LinearizabilityChecker("cas-register").check(History.of(ops), CheckContext(time_limit=0.3))
    assert result.valid == "unknown"
    assert "time limit" in result.reason
    assert time.monotonic() - started < 5


def test_memory_limit_gives_unknown() -> None:
    with pytest.raises(LimitReached, match="memory limit"):
        check_budget(Budget(memory_limit=1))
    entries, _ = make_entries(h((0, "invoke", "write", 1), (0, "ok", "write", 1)).ops)
    assert search(CasRegisterModel(), None, entries, Budget(memory_limit=1 << 40)).valid is True


def test_unsupported_op_is_unknown_with_the_reason() -> None:
    result = LinearizabilityChecker("register").check(h((0, "invoke", "cas", [1, 2]), (0, "ok", "cas", [1, 2])), CTX)
    assert result.valid == "unknown"
    assert "no operation 'cas'" in result.reason


def test_nemesis_ops_are_ignored() -> None:
    hist = h(("nemesis", "invoke", "kill", None), ("nemesis", "info", "kill", {"nodes": ["n1"]}))
    assert check(hist) is True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(linearizable_register_history())
def test_simulated_linearizable_executions_are_accepted(history: History) -> None:
    result = LinearizabilityChecker("cas-register").check(history, CTX)
    assert result.valid is True, result.reason


@settings(max_examples=400, deadline=None)
@given(random_small_history())
def test_agrees_with_brute_force_on_small_histories(history: History) -> None:
    model = CasRegisterModel()
    assert LinearizabilityChecker(model).check(history, CTX).valid is brute_force(model, history)


def test_brute_force_can_say_no() -> None:
    # the reference itself must be able to fail, or agreement proves nothing
    hist = h((0, "invoke", "write", 1), (0, "ok", "write", 1), (1, "invoke", "read", None), (1, "ok", "read", 2))
    assert brute_force(CasRegisterModel(), hist) is False


def test_forked_workers_share_the_memory_limit() -> None:
    budget = Budget(memory_limit=1000 * 2**20)
    assert worker_budget(budget, 2, 200 * 2**20) == 400 * 2**20  # (limit - parent) / workers
    assert worker_budget(budget, 2, 2000 * 2**20) == 1  # the parent alone is over: no room
    assert worker_budget(Budget(), 2, 200 * 2**20) == 0  # no limit stays no limit
    # memory shared with the parent is not counted against a worker's share
    check_budget(Budget(memory_limit=1, memory_base=rss_bytes() + (64 << 20)))
    with pytest.raises(LimitReached):
        check_budget(Budget(memory_limit=1, memory_base=0))


def test_hard_partitions_are_finished_in_forked_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = lin._run_forked

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(len(args[2]))
        return real(*args, **kwargs)

    monkeypatch.setattr(lin, "_run_forked", spy)
    monkeypatch.setattr(lin, "FIRST_ROUND_WORK", 1)  # every key counts as hard
    monkeypatch.setattr(lin, "FORK_AFTER_WORK", 0)
    rows: list[tuple[Any, ...]] = []
    for k in range(6):  # concurrent writes: more than one expansion per key
        rows += [(10 * k + p, "invoke", "write", p, f"k{k}") for p in range(3)]
        rows += [(10 * k + p, "ok", "write", p, f"k{k}") for p in range(3)]
    good = h(*rows)
    bad = h(*rows, (99, "invoke", "read", None, "k3"), (99, "ok", "read", 9, "k3"))
    one = LinearizabilityChecker("cas-register", workers=1).check(bad, CTX)
    two = LinearizabilityChecker("cas-register", workers=2).check(bad, CTX)
    assert calls and one.valid is False and two.valid is False
    assert one.details["failures"][0]["key"] == two.details["failures"][0]["key"] == "k3"
    # shrunk in this process: the read and the three writes its reason ("can only be 0 or 1 or 2") names
    assert two.details["failures"][0]["minimal"]["size"] == 4
    assert LinearizabilityChecker("cas-register", workers=2).check(good, CTX).valid is True
