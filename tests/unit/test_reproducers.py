"""Reproducers that reproduce: a failure's window and its minimal reproducer start from the
state the history was in where they begin, and re-check as failing on the same op (the
minimal one for the same reason, too)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from checkers import CheckContext, LinearizabilityChecker, Result
from checkers.linearizable import minimal_history, window_history
from harness.core import History, OpType, read_history
from harness.run import check_command
from tests.unit.test_linear_support import (
    h,
    linearizable_register_history,
    random_model_history,
    random_small_history,
)

CTX = CheckContext(time_limit=20)

#: A register history (three clients, one key) whose last read returns 2, a value overwritten
#: earlier: write 2 (op 5) was followed by write 0 (ops 8, 12) and write 3 (op 16). The old
#: shrinker dropped the decisive write 2 and kept {read 3, write 2, write 3, read 2}, which,
#: re-checked, failed on another op ("read 3, but the register can only be 2 or absent
#: here"); the old window (5 ops) also left write 2 out, and started from nothing.
STALE = [
    (1, "invoke", "write", 2), (0, "invoke", "write", 3), (2, "invoke", "read", None), (1, "ok", "write", 2),
    (0, "ok", "write", 3), (0, "invoke", "write", 2), (2, "ok", "read", 3), (2, "invoke", "read", None),
    (1, "invoke", "write", 0), (2, "ok", "read", 3), (0, "ok", "write", 2), (1, "ok", "write", 0),
    (2, "invoke", "write", 0), (1, "invoke", "read", None), (1, "ok", "read", 0), (2, "ok", "write", 0),
    (1, "invoke", "write", 3), (2, "invoke", "read", None), (1, "ok", "write", 3), (2, "ok", "read", 2),
]


def first(result: Result) -> dict[str, Any]:
    unlin: dict[str, Any] = result.details["failures"][0]["unlinearizable"][0]
    return unlin


def write_jsonl(path: Path, history: History) -> str:
    path.write_text("".join(json.dumps(op.to_json()) + "\n" for op in history.ops))
    return str(path)


def test_stale_read_reproducer_fails_on_the_same_op_for_the_same_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = write_jsonl(tmp_path / "stale.jsonl", h(*STALE))
    out = tmp_path / "minimal.jsonl"
    assert check_command([src], "cas-register", "jsonl", 10, 512, as_json=True, minimal_out=str(out)) == 1
    original = json.loads(capsys.readouterr().out)["failures"][0]["unlinearizable"][0]
    assert (original["index"], original["why"]) == (17, "read 2, but the register can only be 3 here")
    assert check_command([str(out)], "cas-register", "jsonl", 10, 512, as_json=True) == 1
    again = json.loads(capsys.readouterr().out)["failures"][0]["unlinearizable"][0]
    assert (again["index"], again["why"]) == (original["index"], original["why"])


def test_stale_read_reproducer_starts_from_the_true_state(tmp_path: Path) -> None:
    result = LinearizabilityChecker("cas-register").check(h(*STALE), CTX)
    minimal = result.details["failures"][0]["minimal"]
    # the register held 2 (written by op 5) where the reproducer begins: the state is recorded,
    # or op 5 is kept
    assert minimal["initial_state"] == 2 or 5 in [op["index"] for op in minimal["ops"]]
    header = json.loads(Path(write_reproducer(tmp_path, result)).read_text().splitlines()[0])["reproducer"]
    assert header["initial_state"] == minimal["initial_state"]
    assert (header["fails_on"], header["why"]) == (17, "read 2, but the register can only be 3 here")


def write_reproducer(tmp_path: Path, result: Result) -> str:
    src = write_jsonl(tmp_path / "h.jsonl", h(*STALE))
    out = tmp_path / "m.jsonl"
    check_command([src], "cas-register", "jsonl", 10, 512, minimal_out=str(out))
    del result
    return str(out)


def test_stale_read_window_holds_the_decisive_write_or_its_state() -> None:
    history = h(*STALE)
    failure = LinearizabilityChecker("cas-register").check(history, CTX).details["failures"][0]
    window = failure["window"]
    assert window["initial_state"] == 2 or 5 in [op["index"] for op in window["ops"]]
    again = LinearizabilityChecker("cas-register").check(window_history("cas-register", history, failure), CTX)
    assert first(again)["index"] == 17


def test_the_cli_says_a_reproducer_reproduces(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = write_reproducer(tmp_path, LinearizabilityChecker("cas-register").check(h(*STALE), CTX))
    capsys.readouterr()
    assert check_command([out], "cas-register", "auto", 10, 512) == 1
    printed = capsys.readouterr().out
    assert "started from state 2 (recorded in the reproducer)" in printed
    assert "reproduces the recorded failure: op 17, for the same reason" in printed


def test_a_reproducer_for_another_model_is_an_input_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = write_reproducer(tmp_path, LinearizabilityChecker("cas-register").check(h(*STALE), CTX))
    capsys.readouterr()
    assert check_command([out], "register", "auto", 10, 512) == 3
    assert "this reproducer is for the cas-register model; check it with --model cas-register" in (
        capsys.readouterr().err)


def test_reproducer_ops_keep_their_original_indexes(tmp_path: Path) -> None:
    history = read_history(write_reproducer(tmp_path, LinearizabilityChecker("cas-register").check(h(*STALE), CTX)))
    assert history.meta["reproducer"]["initial_state"] == 2
    assert [op.index for op in history.ops] == [12, 15, 16, 17, 18, 19]


# ---- property: every reproducer and every window re-checks as failing on the same op -----


def check_reproducers(model: str, history: History) -> None:
    result = LinearizabilityChecker(model, shrink_seconds=2).check(history, CTX)
    assume(result.valid is False)
    for failure in result.details["failures"]:
        unlin = failure["unlinearizable"][0]
        window = LinearizabilityChecker(model, shrink_seconds=0).check(window_history(model, history, failure), CTX)
        assert window.valid is False, f"window re-checks {window.valid}: {window.reason}"
        assert first(window)["index"] == unlin["index"], "the window fails on another op"
        if "minimal" in failure:
            again = LinearizabilityChecker(model, shrink_seconds=0).check(minimal_history(model, failure), CTX)
            assert again.valid is False, f"the reproducer re-checks {again.valid}"
            assert (first(again)["index"], first(again)["why"]) == (unlin["index"], unlin["why"])


@st.composite
def corrupted_register_history(draw: st.DrawFn) -> History:
    """A linearizable register history with one ok read changed to another value (stale,
    from an earlier write, or one never written)."""
    history: History = draw(linearizable_register_history(max_ops=25, keys=2))
    reads = [i for i, op in enumerate(history.ops) if op.type is OpType.OK and op.f == "read"]
    assume(reads)
    i = draw(st.sampled_from(reads))
    written = sorted({op.value for op in history.ops[:i] if op.is_invoke and op.f == "write"} | {7})
    value = draw(st.sampled_from(written))
    assume(value != history.ops[i].value)
    ops = list(history.ops)
    ops[i] = ops[i].with_(value=value)
    return History.of(ops)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(history=corrupted_register_history())
def test_register_reproducers_and_windows_fail_on_the_same_op(history: History) -> None:
    check_reproducers("cas-register", history)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(history=random_small_history())
def test_small_register_reproducers_and_windows_fail_on_the_same_op(history: History) -> None:
    check_reproducers("cas-register", history)


@pytest.mark.parametrize("model", ["mutex", "counter", "kv"])
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_reproducers_and_windows_fail_on_the_same_op(model: str, data: st.DataObject) -> None:
    check_reproducers(model, data.draw(random_model_history(model)))
