"""Revisions as witnesses (``checkers._witness``): a verified linearization read off etcd's
revisions decides a key without search; a wrong one never makes a bad history valid."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkers import CheckContext, LinearizabilityChecker, model_named
from harness.core import History, Op, OpType
from tests.unit.test_linear_support import Call, brute_force, build, random_small_history

CTX = CheckContext(time_limit=30)


def simulated(seed: int, ops: int, procs: int = 5, info: float = 0.05, values: int = 5) -> History:
    """A single-key cas-register history from a simulated linearizable etcd, with the
    revisions etcd reports (``extra``): each op takes effect at a random instant between its
    invocation and completion; an info op takes effect or not, and its process retires."""
    rng = random.Random(seed)
    out: list[Op] = []
    value: Any = None
    mod = create = version = 0
    rev = 1
    pid = list(range(procs))
    flying: dict[int, list[Any]] = {}  # slot -> [call, applied, output, extra, lost]

    def emit(typ: OpType, f: str, v: Any, process: int, extra: dict[str, Any] | None = None) -> Op:
        op = Op(type=typ, f=f, value=v, process=process, time=len(out) + 1, index=len(out), extra=extra)
        out.append(op)
        return op

    done = 0
    while done < ops or flying:
        idle = [s for s in range(procs) if s not in flying]
        if idle and done + len(flying) < ops and (not flying or rng.random() < 0.4):
            s = rng.choice(idle)
            f = rng.choice(["read", "read", "write", "cas"])
            v = None if f == "read" else rng.randrange(values) if f == "write" else [
                rng.randrange(values), rng.randrange(values)]
            flying[s] = [emit(OpType.INVOKE, f, v, pid[s]), False, None, None, f != "read" and rng.random() < info]
            continue
        s = rng.choice(list(flying))
        call, applied, _, _, lost = fl = flying[s]
        if not applied and not (lost and rng.random() < 0.5):
            fl[1] = True
            if call.f == "read":
                fl[2], fl[3] = value, {"rev": rev, "mod_rev": mod, "create_rev": create, "version": version}
            elif call.f == "write" or call.value[0] == value:
                rev += 1
                value = call.value if call.f == "write" else call.value[1]
                mod, create, version = rev, create or rev, version + 1
                fl[2], fl[3] = call.value, {"rev": rev} if call.f == "write" else {"rev": rev, "succeeded": True}
            else:
                fl[2], fl[3] = "fail", {"rev": rev, "succeeded": False}
            if not lost:
                continue
        del flying[s]
        done += 1
        if lost:
            emit(OpType.INFO, call.f, None, call.process)
            pid[s] += procs
        elif fl[2] == "fail":
            emit(OpType.FAIL, call.f, call.value, call.process, fl[3])
        else:
            emit(OpType.OK, call.f, fl[2], call.process, fl[3])
    return History(out)


def check(history: History) -> Any:
    return LinearizabilityChecker("cas-register", shrink_seconds=0).check(history, CTX)


def test_a_large_history_with_revisions_is_decided_by_its_witness() -> None:
    history = simulated(1, 3000, procs=20)
    result = check(history)
    assert result.valid is True, result.reason
    assert result.details["witnessed"] == 1
    assert result.details["peak_configs"] == 0  # no search ran


def test_without_revisions_the_search_decides_as_before() -> None:
    history = History([op.with_(extra=None) for op in simulated(2, 60).ops])
    result = check(history)
    assert result.valid is True, result.reason
    assert result.details["witnessed"] == 0


def test_a_stale_read_with_revisions_is_caught_and_etcds_order_is_named() -> None:
    ok = OpType.OK
    history = History.of([
        Op(type=OpType.INVOKE, f="write", value=1, process=0, time=1),
        Op(type=ok, f="write", value=1, process=0, time=2, extra={"rev": 2}),
        Op(type=OpType.INVOKE, f="write", value=2, process=0, time=3),
        Op(type=ok, f="write", value=2, process=0, time=4, extra={"rev": 3}),
        Op(type=OpType.INVOKE, f="read", value=None, process=1, time=5),
        # it returns the first write's value and revision: stale
        Op(type=ok, f="read", value=1, process=1, time=6, extra={"rev": 3, "mod_rev": 2, "create_rev": 2,
                                                                  "version": 1}),
    ])
    result = check(history)
    assert result.valid is False
    assert result.details["witnessed"] == 0
    contradiction = result.details["revision_contradictions"][0]
    assert (contradiction["first"], contradiction["second"]) == (4, 2)


def test_a_revision_order_that_contradicts_real_time_is_reported_and_the_values_still_decide() -> None:
    # the two writes write the same value, so the history is linearizable by its values;
    # but etcd says the later write came first: that is reported, not trusted
    ok = OpType.OK
    history = History.of([
        Op(type=OpType.INVOKE, f="write", value=1, process=0, time=1),
        Op(type=ok, f="write", value=1, process=0, time=2, extra={"rev": 5}),
        Op(type=OpType.INVOKE, f="write", value=1, process=1, time=3),
        Op(type=ok, f="write", value=1, process=1, time=4, extra={"rev": 4}),
    ])
    result = check(history)
    assert result.valid is True, result.reason
    assert result.details["witnessed"] == 0
    contradiction = result.details["revision_contradictions"][0]
    assert (contradiction["first"], contradiction["second"]) == (2, 0)


def test_a_read_of_an_info_write_places_it_and_one_nobody_read_is_left_out() -> None:
    history = simulated(3, 400, procs=8, info=0.3)
    assert any(op.is_info for op in history.ops)
    result = check(history)
    assert result.valid is True, result.reason
    assert result.details["witnessed"] == 1


def test_a_wrong_value_under_right_looking_revisions_is_caught() -> None:
    history = simulated(4, 200)
    reads = [n for n, op in enumerate(history.ops) if op.is_ok and op.f == "read" and op.value is not None]
    n = reads[len(reads) // 2]
    ops = list(history.ops)
    ops[n] = ops[n].with_(value=(ops[n].value + 1) % 5)
    bad = History(ops)
    result = check(bad)
    assert result.valid is False
    assert result.details["witnessed"] == 0


@st.composite
def history_with_any_revisions(draw: st.DrawFn) -> History:
    """A small random history whose ok ops carry random revisions: right, wrong or missing."""
    history: History = draw(random_small_history())
    ops = []
    for op in history.ops:
        if op.is_ok and draw(st.integers(0, 9)):
            rev = draw(st.integers(1, 6))
            extra = {"rev": rev} if op.f != "read" else {"rev": rev, "mod_rev": draw(st.integers(0, rev)),
                                                         "create_rev": 0, "version": 0}
            op = op.with_(extra=extra)
        ops.append(op)
    return History(ops)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=history_with_any_revisions())
def test_whatever_the_revisions_say_the_verdict_agrees_with_brute_force(history: History) -> None:
    assert check(history).valid is brute_force(model_named("cas-register"), history)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_simulated_histories_with_revisions_are_witnessed(seed: int) -> None:
    history = simulated(seed, 60, procs=4, info=0.2)
    result = check(history)
    assert result.valid is True, result.reason
    assert result.details["witnessed"] == 1


@st.composite
def info_heavy_history(draw: st.DrawFn) -> History:
    """A small single-key history where most writes end ``info`` and processes come and go,
    so that bit slots of returned ops are reused by later info ops (the search's dominance
    among info ops must tell them apart)."""
    calls = []
    for p in range(draw(st.integers(2, 7))):
        start = draw(st.integers(0, 12))
        end = start + draw(st.integers(1, 6))
        f = draw(st.sampled_from(["read", "write", "write", "cas"]))
        value: Any = None if f == "read" else draw(st.integers(0, 1)) if f == "write" else [
            draw(st.integers(0, 1)), draw(st.integers(0, 1))]
        typ = "ok" if f == "read" else draw(st.sampled_from(["ok", "info", "info", "fail"]))
        out = draw(st.sampled_from([None, 0, 1])) if f == "read" else None
        calls.append(Call(p, f, value, start, end if typ != "info" or draw(st.booleans()) else None, typ, out))
    return build(calls)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=info_heavy_history())
def test_info_heavy_histories_agree_with_brute_force(history: History) -> None:
    assert check(history).valid is brute_force(model_named("cas-register"), history)
