"""The minimal reproducer: still not linearizable, 1-minimal, bounded in time."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from checkers import CheckContext, LinearizabilityChecker, Result, model_named
from checkers._linear import Entry, make_entries
from checkers._shrink import Shrinker
from checkers.linearizable import minimal_history as reproducer
from checkers.linearizable import window_history
from harness.core import History, read_history
from harness.run import check_command
from tests.unit.test_corpus import CORPUS, EXPECTED
from tests.unit.test_linear_support import h

CTX = CheckContext(time_limit=60)
INVALID = [name for name, linearizable in EXPECTED if not linearizable]
#: Too hard to shrink to 1-minimal in the 5 s: 50 clients appending to one string, where each
#: candidate's reason (the states the failing read could see) takes a search without pruning.
HARD_TO_SHRINK = {"kv/c50-bad.txt"}


def minimal_history(failure: dict[str, object], model: str = "cas-register") -> History:
    return reproducer(model, failure)


def failing_partition(model_name: str, history: History, failure: dict[str, object]) -> tuple[list[Entry], Entry]:
    model = model_named(model_name)
    entries, _ = make_entries(history.ops)
    part = [e for e in entries if model.partition_key(e.call) == failure["key"]]
    bad = failure["unlinearizable"][0]["index"]  # type: ignore[index]
    return part, next(e for e in part if e.call.index == bad)


def first_failure(result: Result) -> dict[str, Any]:
    failure: dict[str, Any] = result.details["failures"][0]["unlinearizable"][0]
    return failure


@pytest.mark.skipif(not INVALID, reason=f"the Porcupine corpus is not at {CORPUS}")
@pytest.mark.parametrize("name", INVALID or ["none"])
def test_corpus_minimal_reproducer(name: str) -> None:
    model_name = "kv" if name.startswith("kv/") else "cas-register"
    model = model_named(model_name)
    history = read_history(CORPUS / name)
    result = LinearizabilityChecker(model_name).check(history, CTX)
    failure = result.details["failures"][0]
    unlin = failure["unlinearizable"][0]
    minimal = failure["minimal"]
    assert minimal["size"] == len(minimal["ops"]) <= minimal["original_size"]
    assert minimal["complete"] or name in HARD_TO_SHRINK, "5 s is plenty for this corpus file"
    # the reproducer, as written by --minimal-out, fails on the same op for the same reason
    again = first_failure(LinearizabilityChecker(model_name, shrink_seconds=0).check(
        minimal_history(failure, model_name), CTX))
    assert (again["index"], again["why"]) == (unlin["index"], unlin["why"])
    # and so does the window, on the same op
    window = LinearizabilityChecker(model_name, shrink_seconds=0).check(
        window_history(model_name, history, failure), CTX)
    assert window.valid is False and first_failure(window)["index"] == unlin["index"]

    part, bad = failing_partition(model_name, history, failure)
    by_index = {e.call.index: e for e in part}
    kept = [by_index[op["index"]] for op in minimal["ops"]]
    assert bad in kept
    shrinker = Shrinker(model, failure["key"], part, time.monotonic() + 30, keep=bad, why=unlin["why"],
                        start=model.state_from_json(minimal["initial_state"]), order_only=minimal["order_only"])
    assert shrinker.fails(kept)
    if not minimal["complete"]:
        return
    # 1-minimal: without any one of its ops, it is no longer a reproducer
    for i in range(len(kept)):
        assert not shrinker.fails(kept[:i] + kept[i + 1 :]), f"op {kept[i].call.index} is not needed"
    # no larger than the window, whenever the window itself is a reproducer
    window_ops = [by_index[op["index"]] for op in failure["window"]["ops"] if op["index"] in by_index]
    from_window = Shrinker(model, failure["key"], part, time.monotonic() + 30, keep=bad, why=unlin["why"],
                           start=model.state_from_json(failure["window"]["initial_state"]),
                           order_only=minimal["order_only"])
    if from_window.fails(window_ops):
        assert minimal["size"] <= len(window_ops)


def test_stale_read_shrinks_to_the_three_ops_that_show_it() -> None:
    rows: list[tuple[object, ...]] = []
    for i in range(20):  # noise: another client writing and reading its own values
        rows += [(5, "invoke", "write", 3), (5, "ok", "write", 3), (6, "invoke", "read", None), (6, "ok", "read", 3)]
        del i
    rows += [(0, "invoke", "write", 1), (0, "ok", "write", 1), (1, "invoke", "write", 2), (1, "ok", "write", 2)]
    rows += [(2, "invoke", "read", None), (2, "ok", "read", 1)]
    result = LinearizabilityChecker("cas-register").check(h(*rows), CTX)
    minimal = result.details["failures"][0]["minimal"]
    assert [op["description"] for op in minimal["ops"]] == ["write 1", "write 2", "read 1"]
    assert minimal["original_size"] == 43 and minimal["complete"] is True


def test_a_read_of_a_value_nobody_wrote_keeps_the_write_its_reason_names() -> None:
    # "read 9, but the register can only be 1 here": the write of 1 is part of the reason
    rows = [(0, "invoke", "write", 1), (0, "ok", "write", 1), (1, "invoke", "read", None), (1, "ok", "read", 9)]
    minimal = LinearizabilityChecker("cas-register").check(h(*rows), CTX).details["failures"][0]["minimal"]
    assert [op["description"] for op in minimal["ops"]] == ["write 1", "read 9"]
    assert minimal["why"] == "read 9, but the register can only be 1 here"
    assert minimal["order_only"] is False


def test_info_ops_are_kept_only_when_needed() -> None:
    # the info write of 5 changes nothing the stale read could see (5 is there anyway): it is dropped
    rows = [
        (3, "invoke", "write", 5),
        (3, "info", "write", None),
        (0, "invoke", "write", 1),
        (0, "ok", "write", 1),
        (1, "invoke", "write", 5),
        (1, "ok", "write", 5),
        (2, "invoke", "read", None),
        (2, "ok", "read", 1),
    ]
    minimal = LinearizabilityChecker("cas-register").check(h(*rows), CTX).details["failures"][0]["minimal"]
    assert minimal["why"] == "read 1, but the register can only be 5 here"
    assert [op["description"] for op in minimal["ops"]] == ["write 1", "write 5", "read 1"]


def test_info_ops_the_reason_names_are_kept() -> None:
    # "read 1, but the register can only be 2 or 5 here": the info write of 2 is part of the reason
    rows = [
        (3, "invoke", "write", 2),
        (3, "info", "write", None),
        (0, "invoke", "write", 1),
        (0, "ok", "write", 1),
        (1, "invoke", "write", 5),
        (1, "ok", "write", 5),
        (2, "invoke", "read", None),
        (2, "ok", "read", 1),
    ]
    minimal = LinearizabilityChecker("cas-register").check(h(*rows), CTX).details["failures"][0]["minimal"]
    assert minimal["why"] == "read 1, but the register can only be 2 or 5 here"
    assert [op["description"] for op in minimal["ops"]] == ["write 2", "write 1", "write 5", "read 1"]


def test_shrinking_is_bounded_in_time() -> None:
    rows: list[tuple[object, ...]] = []
    for i in range(300):
        rows += [(i, "invoke", "write", i % 4), (i, "ok", "write", i % 4)]
    rows += [(999, "invoke", "read", None), (999, "ok", "read", 7)]
    history = h(*rows)
    started = time.monotonic()
    result = LinearizabilityChecker("cas-register", shrink_seconds=0.05).check(history, CTX)
    assert time.monotonic() - started < 5
    minimal = result.details["failures"][0].get("minimal")
    if minimal is not None:  # what it found in time is still a reproducer
        assert minimal["complete"] or minimal["size"] < minimal["original_size"]
        again = LinearizabilityChecker("cas-register").check(minimal_history(result.details["failures"][0]), CTX)
        assert again.valid is False
    assert "minimal" not in LinearizabilityChecker("cas-register", shrink_seconds=0).check(history, CTX).details[
        "failures"
    ][0]


def test_cli_prints_and_writes_the_reproducer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows: list[tuple[object, ...]] = [(0, "invoke", "write", 1), (0, "ok", "write", 1)]
    rows += [(1, "invoke", "write", 2), (1, "ok", "write", 2)]
    rows += [(2, "invoke", "read", None), (2, "ok", "read", 1), (3, "invoke", "write", 4), (3, "ok", "write", 4)]
    src = tmp_path / "h.jsonl"
    src.write_text("".join(json.dumps(op.to_json()) + "\n" for op in h(*rows).ops))
    out = tmp_path / "min.jsonl"
    assert check_command([str(src)], "cas-register", "jsonl", 10, 512, minimal_out=str(out)) == 1
    printed = capsys.readouterr()
    assert "minimal reproducer: 3 of 4 ops" in printed.out
    assert f"written to {out}" in printed.err
    assert len(out.read_text().splitlines()) == 7  # the header with the starting state, then 6 events
    assert check_command([str(out)], "cas-register", "jsonl", 10, 512) == 1
    capsys.readouterr()
    assert check_command([str(src)], "cas-register", "jsonl", 10, 512, as_json=True) == 1
    assert json.loads(capsys.readouterr().out)["failures"][0]["minimal"]["size"] == 3
    assert check_command([str(src), str(out)], "cas-register", "jsonl", 10, 512, minimal_out=str(out)) == 2
