"""Limits that hold: ``check``'s time and memory limits cover reading the file as well as the
search, and past either the verdict is ``unknown`` soon after. (How soon, on a 50 MB history,
is measured by ``bench/check_limits.py``; here the bound is a generous correctness margin.)"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from checkers import CheckContext, LinearizabilityChecker
from harness.core import History, Op, OpType
from harness.run import check_command

#: Seconds past the limit the answer may come in these tests: generous, for a loaded machine.
MARGIN_S = 3.0


def easy_lines(n_keys: int, per_key: int) -> list[str]:
    """Sequential writes and reads on many keys: linearizable, quick to check."""
    lines = []
    i = 0
    for k in range(n_keys):
        for v in range(per_key):
            for typ, f, value in (("invoke", "write", v), ("ok", "write", v), ("invoke", "read", None),
                                  ("ok", "read", v)):
                lines.append(json.dumps({"index": i, "time": i, "process": k % 8, "type": typ, "f": f,
                                         "key": f"r{k}", "value": value}))
                i += 1
    return lines


def hard_lines(start: int) -> list[str]:
    """60 concurrent writes, then a read of a value none wrote: a search that takes long."""
    lines = [json.dumps({"time": start + i, "process": 100 + i, "type": "invoke", "f": "write", "key": "hard",
                         "value": i % 5}) for i in range(60)]
    lines += [json.dumps({"time": start + 60 + i, "process": 100 + i, "type": "ok", "f": "write", "key": "hard",
                          "value": i % 5}) for i in range(60)]
    lines += [json.dumps({"time": start + 200, "process": 999, "type": "invoke", "f": "read", "key": "hard"}),
              json.dumps({"time": start + 201, "process": 999, "type": "ok", "f": "read", "key": "hard", "value": 7})]
    return lines


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 100,000 easy events, then a hard key: reading and checking both take a while."""
    path = tmp_path_factory.mktemp("limits") / "big.jsonl"
    lines = easy_lines(2500, 10)
    path.write_text("\n".join([*lines, *hard_lines(len(lines))]) + "\n")
    return path


def test_the_answer_is_unknown_soon_after_the_time_limit(big: Path, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    assert check_command([str(big)], "cas-register", "jsonl", 0.5, 0) == 5
    elapsed = time.monotonic() - started
    assert elapsed < 0.5 + MARGIN_S, f"answered {elapsed:.1f} s after a 0.5 s limit"
    assert "unknown" in capsys.readouterr().out


def test_the_time_limit_covers_reading_the_file(big: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert check_command([str(big)], "cas-register", "jsonl", 0.01, 0, as_json=True) == 5
    answer = json.loads(capsys.readouterr().out)
    assert answer["valid"] == "unknown"
    assert answer["reason"].startswith("time limit of 0.01 s reached while reading the file (at line ")


def test_the_memory_limit_covers_reading_the_file(big: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # any process is bigger than 1 MiB: the first check while reading stops it
    assert check_command([str(big)], "cas-register", "jsonl", 0, 1, as_json=True) == 5
    answer = json.loads(capsys.readouterr().out)
    assert answer["reason"] == "memory limit of 1 MiB reached while reading the file (at line 4096)"


def test_the_memory_limit_holds_with_many_small_partitions() -> None:
    # each key's search is too small to check the budget itself: the checker checks between them
    ops = []
    for k in range(200):
        ops += [Op(type=OpType.INVOKE, f="write", value=1, process=0, key=k),
                Op(type=OpType.OK, f="write", value=1, process=0, key=k)]
    result = LinearizabilityChecker("cas-register").check(History.of(ops), CheckContext(memory_limit=1))
    assert result.valid == "unknown"
    assert "memory limit of 0 MiB reached" in result.reason


def test_the_time_limit_counts_from_when_the_caller_started() -> None:
    history = History.of([Op(type=OpType.INVOKE, f="write", value=1, process=0),
                          Op(type=OpType.OK, f="write", value=1, process=0)])
    ctx = CheckContext(time_limit=5, started=time.monotonic() - 6)  # reading the file took 6 s
    result = LinearizabilityChecker("cas-register").check(history, ctx)
    assert (result.valid, result.reason) == ("unknown", "time limit of 5 s reached")


def test_the_defaults_are_in_check_help() -> None:
    proc = subprocess.run([sys.executable, "-m", "harness", "check", "--help"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    assert "0 = none (default 60)" in text and "0 = none (default 2048)" in text
    assert "--lenient" in text
