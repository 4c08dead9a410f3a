"""Shrinking costs re-checks: only the first failure is shrunk by default; ``--no-shrink``
shrinks none; ``shrink_all`` every failing key's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checkers import CheckContext, LinearizabilityChecker
from harness.core import History, Op, OpType
from harness.run import check_command
from harness.run._cli import main


def stale_reads(keys: list[str]) -> History:
    """On each key: write 1, write 2, then a read of 1 after both completed (stale)."""
    ops: list[Op] = []
    for key in keys:
        for f, value, out in (("write", 1, 1), ("write", 2, 2), ("read", None, 1)):
            ops.append(Op(type=OpType.INVOKE, f=f, value=value, process=0, key=key, time=len(ops) + 1))
            ops.append(Op(type=OpType.OK, f=f, value=out, process=0, key=key, time=len(ops) + 1))
    return History.of(ops)


def test_only_the_first_failure_is_shrunk_by_default() -> None:
    result = LinearizabilityChecker("cas-register", stop_early=False).check(stale_reads(["a", "b"]), CheckContext())
    assert result.valid is False
    failures = result.details["failures"]
    assert len(failures) == 2
    assert ["minimal" in f for f in failures] == [True, False]
    assert result.details["shrink_s"] >= 0


def test_shrink_all_shrinks_each_failing_key() -> None:
    checker = LinearizabilityChecker("cas-register", stop_early=False, shrink_all=True)
    failures = checker.check(stale_reads(["a", "b"]), CheckContext()).details["failures"]
    assert ["minimal" in f for f in failures] == [True, True]


def write(tmp_path: Path) -> str:
    path = tmp_path / "stale.jsonl"
    path.write_text("".join(json.dumps(op.to_json()) + "\n" for op in stale_reads(["a"]).ops))
    return str(path)


def test_no_shrink_leaves_out_the_minimal_reproducer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path)
    assert check_command([path], "cas-register", "jsonl", 10, 512) == 1
    assert "minimal reproducer" in capsys.readouterr().out
    assert check_command([path], "cas-register", "jsonl", 10, 512, shrink=False) == 1
    out = capsys.readouterr().out
    assert "NOT linearizable" in out
    assert "minimal reproducer" not in out


def test_the_no_shrink_flag_reaches_the_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--no-shrink", "--json", write(tmp_path)]) == 1
    details = json.loads(capsys.readouterr().out.splitlines()[0])
    assert details["failures"] and "minimal" not in details["failures"][0]
