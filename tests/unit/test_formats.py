"""History readers: each format, auto-detection, and clear errors on bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.core import NEMESIS, HistoryFormatError, OpType, detect_format, parse_edn, read_history, read_history_lines


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_jsonl(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "h.jsonl",
        '{"process": 0, "type": "invoke", "f": "cas", "key": "r1", "value": [1, 2]}\n\n'
        '{"process": 0, "type": "ok", "f": "cas", "key": "r1", "value": [1, 2]}\n',
    )
    history, lines = read_history_lines(path, "auto")
    assert [op.type for op in history] == [OpType.INVOKE, OpType.OK]
    assert history[1].key == "r1" and history[1].value == [1, 2] and history[1].index == 1
    assert list(lines) == [1, 3]


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ('{"process": 0, "type": "invoke", "f": "read"}\n{"process": 0, "type": "ok"\n', 2, "not valid JSON"),
        ('{"process": 0, "type": "done", "f": "read"}\n', 1, "invoke, ok, fail, info"),
        ('{"type": "ok", "f": "read"}\n', 1, "missing field 'process'"),
        ("[1, 2]\n", 1, "JSON object"),
    ],
)
def test_jsonl_errors_name_the_line(tmp_path: Path, text: str, line: int, needle: str) -> None:
    with pytest.raises(HistoryFormatError) as e:
        read_history(write(tmp_path, "bad.jsonl", text), "jsonl")
    assert e.value.line == line
    assert needle in str(e.value)
    assert "bad.jsonl" in str(e.value)


def test_edn_one_map_per_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "kv.txt",
        '{:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}\n'
        '{:process 1, :type :invoke, :f :get, :key "5", :value nil}\n'
        '{:process 1, :type :ok, :f :get, :key "5", :value ""}\n',
    )
    history = read_history(path, "auto")
    assert history[0].f == "append" and history[0].key == "0" and history[0].value == "x 0 0 y"
    assert history[2].type is OpType.OK and history[2].value == ""


def test_edn_vector_with_records_and_nemesis(tmp_path: Path) -> None:
    text = """[{:type :invoke, :f :cas, :value [1 2], :process 3, :time 10}
 #jepsen.history.Op{:type :fail, :f :cas, :value [1 2], :process 3, :time 20}
 {:type :info, :f :start, :value nil, :process :nemesis}
 ; a comment
 {:type :invoke, :f :read, :value nil, :process 4}
 {:type :fail, :f :read, :value nil, :process 4, :error :timed-out}]"""
    history = read_history(write(tmp_path, "h.edn", text), "auto")
    assert history[0].value == [1, 2] and history[0].time == 10
    assert history[1].type is OpType.FAIL
    assert history[2].process == NEMESIS
    assert history[4].type is OpType.INFO  # a timed-out read has an unknown result


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("{:type :invoke, :f :read, :process 0}\n{:type :ok, :f :read, :process 0", 2, "never closed"),
        ("{:type :ok, :process 0}\n", 1, "needs :f"),
        ('{:type :invoke, :f :read, :process "x"}\n', 1, ":process must be"),
        ("{:type :invoke :f}\n", 1, "even number"),
        ("[{:type :invoke, :f :read, :process 0}))", 1, "closed by"),
    ],
)
def test_edn_errors_name_the_line(tmp_path: Path, text: str, line: int, needle: str) -> None:
    with pytest.raises(HistoryFormatError) as e:
        read_history(write(tmp_path, "bad.edn", text), "edn")
    assert e.value.line == line
    assert needle in str(e.value)


def test_edn_values() -> None:
    forms = parse_edn("x", '[nil true 1.5 -3 "a\\"b" :k #{1} #_ 9 sym]')
    assert forms == [([None, True, 1.5, -3, 'a"b', "k", [1], "sym"], 1)]


def test_jepsen_log(tmp_path: Path) -> None:
    text = (
        "INFO  jepsen.util - 2\t:invoke\t:cas\t[0 0]\n"
        "INFO  jepsen.core - something else\n"
        "INFO  jepsen.util - 2\t:fail\t:cas\t[0 0]\n"
        "INFO  jepsen.util - 3   :invoke :read   nil\n"
        "INFO  jepsen.util - 3\t:fail\t:read\t:timed-out\n"
        "INFO  jepsen.util - 7\t:invoke\t:cas\t[1 2]\n"
        "INFO  jepsen.util - 7\t:info\t:cas\t:timed-out\n"
    )
    history, lines = read_history_lines(write(tmp_path, "etcd.log", text), "auto")
    assert [(op.process, op.type, op.f) for op in history] == [
        (2, OpType.INVOKE, "cas"),
        (2, OpType.FAIL, "cas"),
        (3, OpType.INVOKE, "read"),
        (3, OpType.INFO, "read"),
        (7, OpType.INVOKE, "cas"),
        (7, OpType.INFO, "cas"),
    ]
    assert history[0].value == [0, 0] and history[2].value is None
    assert list(lines) == [1, 3, 4, 5, 6, 7]


def test_jepsen_log_errors(tmp_path: Path) -> None:
    with pytest.raises(HistoryFormatError) as e:
        read_history(
            write(tmp_path, "x.log", "INFO  jepsen.util - 2\t:invoke\t:cas\t[0 0]\nINFO  jepsen.util - 2 garbage\n")
        )
    assert e.value.line == 2
    with pytest.raises(HistoryFormatError, match="type must be"):
        read_history(write(tmp_path, "y.log", "INFO  jepsen.util - 2\t:done\t:cas\t[0 0]\n"))


def test_detect_and_unreadable(tmp_path: Path) -> None:
    assert detect_format("a.txt", "{:process 0}") == "edn"
    assert detect_format("a.txt", '{"process": 0}') == "jsonl"
    assert detect_format("a.txt", "INFO  jepsen.util - 1 :ok :read 1") == "jepsen-log"
    with pytest.raises(HistoryFormatError, match="--format"):
        detect_format("a.txt", "hello")
    with pytest.raises(HistoryFormatError, match="cannot read"):
        read_history(tmp_path / "missing.jsonl")
    (tmp_path / "bin.jsonl").write_bytes(b"\xff\xfe")
    with pytest.raises(HistoryFormatError, match="UTF-8"):
        read_history(tmp_path / "bin.jsonl")


def test_empty_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(HistoryFormatError, match="empty history"):
        read_history(write(tmp_path, "e.log", ""))
