import json
import threading
import time
from pathlib import Path

import pytest

from harness import NEMESIS, History, HistoryWriter, Op, OpType, op_from_json


def test_writer_stamps_index_and_monotonic_time(tmp_path: Path) -> None:
    with HistoryWriter(tmp_path / "h.jsonl") as w:
        a = w.record(Op(type=OpType.INVOKE, f="read", process=0))
        b = w.record(Op(type=OpType.OK, f="read", process=0, value=3))
    assert (a.index, b.index) == (0, 1)
    assert 0 < a.time <= b.time


def test_history_file_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    with HistoryWriter(path) as w:
        w.record(Op(type=OpType.INVOKE, f="cas", key="r1", value=[1, 2], process=3))
        w.record(Op(type=OpType.FAIL, f="cas", key="r1", value=[1, 2], process=3, error="compare failed"))
        w.record(Op(type=OpType.INVOKE, f="start-partition", process=NEMESIS))
    ops = [op_from_json(json.loads(line)) for line in path.read_text().splitlines()]
    assert [o.type for o in ops] == [OpType.INVOKE, OpType.FAIL, OpType.INVOKE]
    assert ops[1].error == "compare failed" and ops[1].key == "r1" and ops[1].value == [1, 2]
    assert ops[2].process == NEMESIS


def test_history_is_on_disk_before_close(tmp_path: Path) -> None:
    """A crashed harness still leaves a history: lines reach the file within the flush interval."""
    path = tmp_path / "h.jsonl"
    w = HistoryWriter(path, flush_interval=0.05)
    w.record(Op(type=OpType.INVOKE, f="read", process=0))
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and not path.read_text():
        time.sleep(0.02)
    assert path.read_text().count("\n") == 1
    w.close()


def test_explicit_flush_writes_at_once(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    w = HistoryWriter(path, flush_interval=3600)
    w.record(Op(type=OpType.INVOKE, f="start-kill", process=NEMESIS))
    w.flush()
    assert "start-kill" in path.read_text()
    w.close()


def test_concurrent_records_get_unique_indexes(tmp_path: Path) -> None:
    with HistoryWriter(tmp_path / "h.jsonl") as w:
        def work(p: int) -> None:
            for _ in range(200):
                w.record(Op(type=OpType.INVOKE, f="read", process=p))

        threads = [threading.Thread(target=work, args=(p,)) for p in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        h = w.history()
    assert [op.index for op in h] == list(range(1600))
    times = [op.time for op in h]
    assert times == sorted(times)


def test_pairs_match_completions_to_their_process() -> None:
    h = History.of([
        Op(type=OpType.INVOKE, f="write", value=1, process=0),
        Op(type=OpType.INVOKE, f="read", process=1),
        Op(type=OpType.OK, f="read", value=1, process=1),
        Op(type=OpType.INFO, f="write", value=1, process=0),
        Op(type=OpType.INVOKE, f="read", process=2),
    ])
    pairs = h.pairs()
    assert [(i.process, c.type if c else None) for i, c in pairs] == [(0, OpType.INFO), (1, OpType.OK), (2, None)]


@pytest.mark.parametrize("bad", [{"type": "invoke"}, {"type": "nope", "f": "x", "process": 0},
                                 {"type": "ok", "f": "x", "process": "p1"}])
def test_op_from_json_rejects_bad_ops(bad: dict[str, object]) -> None:
    with pytest.raises((KeyError, ValueError)):
        op_from_json(bad)
