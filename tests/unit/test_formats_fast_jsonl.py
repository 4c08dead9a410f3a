"""The JSONL reader's fast path (msgspec) reads exactly what the careful path (json) reads,
and leaves every line it cannot vouch for to the careful path's rules and messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.core import HistoryFormatError, Op, OpType, _formats, op_from_json, read_history


@pytest.fixture(autouse=True)
def fast_path_for_small_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """These files are small; the fast path is for large ones: take it anyway."""
    monkeypatch.setattr(_formats, "FAST_MIN_BYTES", 0)


def lines_of(ops: list[dict[str, object]]) -> str:
    return "".join(json.dumps(d) + "\n" for d in ops)


OPS: list[dict[str, object]] = [
    {"index": 0, "time": 5, "process": 1, "type": "invoke", "f": "write", "key": "r1", "value": [1, {"a": 2}]},
    {"index": 1, "time": 6, "process": "nemesis", "type": "info", "f": "start-partition", "value": {"x": [1]}},
    {"index": 2, "time": 7, "process": 1, "type": "ok", "f": "write", "key": "r1", "value": [1, {"a": 2}],
     "extra": {"rev": 4}},
    {"index": 3, "time": 8, "process": 0, "type": "invoke", "f": "read", "key": "r1"},  # process 0: careful path
    {"index": 4, "time": 9, "process": 0, "type": "ok", "f": "read", "key": "r1", "value": 1,
     "extra": {"rev": 4, "mod_rev": 4, "create_rev": 4, "version": 1}},
    {"index": 5, "time": 10, "process": 2, "type": "invoke", "f": "cas", "key": 7, "value": [1, 2]},
    {"index": 6, "time": 11, "process": 2, "type": "fail", "f": "cas", "key": 7, "value": [1, 2], "error": "e"},
]


def test_fast_and_careful_paths_build_the_same_ops(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text("\n" + lines_of(OPS) + "\n")  # blank lines are skipped
    history = read_history(path)
    assert history.ops == [op_from_json(d) for d in OPS]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ({"time": 12, "type": "invoke", "f": "read"}, "missing field 'process'"),
        ({"time": 12, "process": 3, "type": "invoke", "f": "read", "extra": 1}, None),  # a non-object extra is dropped
        ({"time": 1.5, "process": 3, "type": "invoke", "f": "read"}, "time must be an integer"),
        ({"time": 12, "process": True, "type": "invoke", "f": "read"}, "process must be an integer"),
        ({"time": 12, "process": 3, "type": "begin", "f": "read"}, "unknown type"),
        ({"time": 3, "process": 3, "type": "invoke", "f": "read"}, "time goes backwards"),
        ({"time": 12, "process": 1, "type": "invoke", "f": "read"}, "double invoke"),
    ],
)
def test_lines_the_fast_path_refuses_get_the_careful_paths_verdict(
    tmp_path: Path, line: dict[str, object], message: str | None
) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text(lines_of([OPS[0], line]))
    if message is None:
        history = read_history(path)
        assert history.ops[-1].extra is None
        return
    with pytest.raises(HistoryFormatError, match=message) as caught:
        read_history(path)
    assert caught.value.line == 2


def test_a_missing_time_is_not_taken_for_zero(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text(lines_of([{"process": 4, "type": "invoke", "f": "read"},
                              {"process": 4, "type": "ok", "f": "read"}]))
    ops = read_history(path).ops
    assert [op.type for op in ops] == [OpType.INVOKE, OpType.OK]
    assert all(isinstance(op, Op) and op.time == 0 for op in ops)
