"""``check_command``: verdict lines, explanations and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.run import check_command

GOOD = (
    '{"process": 0, "type": "invoke", "f": "write", "value": 1}\n'
    '{"process": 0, "type": "ok", "f": "write", "value": 1}\n'
    '{"process": 1, "type": "invoke", "f": "read", "value": null}\n'
    '{"process": 1, "type": "ok", "f": "read", "value": 1}\n'
)
BAD = GOOD.replace('"ok", "f": "read", "value": 1', '"ok", "f": "read", "value": 3')


def files(tmp_path: Path, **texts: str) -> list[str]:
    out = []
    for name, text in texts.items():
        (tmp_path / f"{name}.jsonl").write_text(text)
        out.append(str(tmp_path / f"{name}.jsonl"))
    return out


def test_valid_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert check_command(files(tmp_path, good=GOOD), "cas-register", "auto", 10, 512) == 0
    assert "good.jsonl: linearizable in" in capsys.readouterr().out


def test_invalid_exit_1_with_explanation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert check_command(files(tmp_path, good=GOOD, bad=BAD), "cas-register", "jsonl", 10, 512) == 1
    out = capsys.readouterr().out
    assert "bad.jsonl: NOT linearizable" in out
    assert "why: read 3, but the register can only be 1 here" in out
    assert "longest linearizable prefix" in out


def test_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert check_command(files(tmp_path, bad=BAD), "register", "jsonl", 10, 512, as_json=True) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["valid"] is False and data["failures"][0]["unlinearizable"][0]["index"] == 2


def test_input_error_exit_3_names_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = files(tmp_path, broken=GOOD + "{oops\n")
    assert check_command(paths, "cas-register", "jsonl", 10, 512) == 3
    assert "broken.jsonl: input error" in capsys.readouterr().err
    wrong_model = files(tmp_path, good2=GOOD)
    assert check_command(wrong_model, "mutex", "jsonl", 10, 512) == 3
    assert "(line 1)" in capsys.readouterr().err


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert check_command(files(tmp_path, good=GOOD), "queue", "auto", 10, 512) == 2
    assert check_command(files(tmp_path, good=GOOD), "register", "xml", 10, 512) == 2
    assert "one of" in capsys.readouterr().err


def test_unknown_exit_5(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [f'{{"process": {i}, "type": "invoke", "f": "write", "value": {i % 5}}}' for i in range(60)]
    lines += [f'{{"process": {i}, "type": "ok", "f": "write", "value": {i % 5}}}' for i in range(60)]
    lines += [
        '{"process": 99, "type": "invoke", "f": "read"}',
        '{"process": 99, "type": "ok", "f": "read", "value": 7}',
    ]
    path = files(tmp_path, hard="\n".join(lines) + "\n")
    assert check_command(path, "register", "jsonl", 0.2, 512) == 5
    assert "time limit" in capsys.readouterr().out
