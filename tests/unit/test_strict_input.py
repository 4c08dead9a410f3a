"""Strict input: a history that is not well-formed is an input error naming the file, the
line and the rule, in every format; ``--lenient`` skips such lines and says how many and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.core import NEMESIS, HistoryFormatError, read_history
from harness.run import check_command
from tests.unit.test_corpus import CORPUS


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def jl(process: object, typ: str, f: str = "read", value: object = None, time: object = None) -> str:
    fields = [f'"process": {process if isinstance(process, int) else repr(process).replace(chr(39), chr(34))}',
              f'"type": "{typ}"', f'"f": "{f}"', f'"value": {"null" if value is None else value}']
    if time is not None:
        fields.append(f'"time": {time if isinstance(time, int) else repr(time).replace(chr(39), chr(34))}')
    return "{" + ", ".join(fields) + "}\n"


def log(process: int, typ: str, f: str = "read", value: str = "nil") -> str:
    return f"INFO  jepsen.util - {process}\t:{typ}\t:{f}\t{value}\n"


def edn(process: int, typ: str, f: str = "read", value: str = "nil", time: int | None = None) -> str:
    t = f", :time {time}" if time is not None else ""
    return f"{{:process {process}, :type :{typ}, :f :{f}, :value {value}{t}}}\n"


# (rule, file name, text, line, exact message)
CASES = [
    ("orphan completion", "h.jsonl", jl(0, "invoke") + jl(0, "ok", value=1) + jl(3, "ok", value=1), 3,
     "orphan completion: process 3 completes 'read' (ok) with no invoke pending; every ok, fail or info of a "
     "client follows an invoke by the same process"),
    ("orphan completion", "h.log", log(1, "invoke") + log(1, "ok", value="2") + log(7, "info", "cas", ":timed-out"), 3,
     "orphan completion: process 7 completes 'cas' (info) with no invoke pending; every ok, fail or info of a "
     "client follows an invoke by the same process"),
    ("orphan completion", "h.edn", edn(2, "fail", "cas", "[1 2]"), 1,
     "orphan completion: process 2 completes 'cas' (fail) with no invoke pending; every ok, fail or info of a "
     "client follows an invoke by the same process"),
    ("double invoke", "h.jsonl", jl(0, "invoke") + jl(1, "invoke") + jl(0, "invoke", "write", 3), 3,
     "double invoke: process 0 invokes 'write' while its 'read' invoked on line 1 is still pending; a process "
     "runs one op at a time (after an info, its next op needs a new process number)"),
    ("double invoke", "h.log", log(4, "invoke") + log(4, "invoke", "write", "3"), 2,
     "double invoke: process 4 invokes 'write' while its 'read' invoked on line 1 is still pending; a process "
     "runs one op at a time (after an info, its next op needs a new process number)"),
    ("mismatched completion", "h.jsonl", jl(0, "invoke") + jl(0, "ok", "write", 1), 2,
     "mismatched completion: process 0 completes 'write' but its pending invoke on line 1 is 'read'; a "
     "completion keeps its invoke's f"),
    ("time goes backwards", "h.jsonl", jl(0, "invoke", time=100) + jl(0, "ok", value=1, time=90), 2,
     "time goes backwards: 90 ns is before 100 ns on line 1; events must be listed in the order they happened"),
    ("time goes backwards", "h.edn", edn(0, "invoke", time=100) + edn(0, "ok", value="1", time=90), 2,
     "time goes backwards: 90 ns is before 100 ns on line 1; events must be listed in the order they happened"),
    ("unknown type", "h.jsonl", jl(0, "invoke") + jl(0, "done"), 2,
     "unknown type 'done'; the type must be one of invoke, ok, fail, info"),
    ("unknown type", "h.log", log(0, "invoke") + log(0, "done"), 2,
     "unknown type :done; the type must be :invoke, :ok, :fail or :info"),
    ("unknown type", "h.edn", edn(0, "invoke") + edn(0, "done"), 2,
     "unknown type :done; :type must be :invoke, :ok, :fail or :info"),
    ("bad time", "h.jsonl", jl(0, "invoke", time="12:00"), 1,
     "time must be an integer number of nanoseconds since the run started, got '12:00'"),
    ("bad time", "h2.jsonl", jl(0, "invoke", time=1.5), 1,
     "time must be an integer number of nanoseconds since the run started, got 1.5"),
    ("bad time", "h.edn", "{:process 0, :type :invoke, :f :read, :value nil, :time 1.5}\n", 1,
     ":time must be an integer number of nanoseconds, got 1.5"),
    ("empty history", "e.jsonl", "", None, "empty history: the file holds no ops"),
    ("empty history", "blank.log", "\n  \n", None, "empty history: the file holds no ops"),
    ("empty history", "e.edn", "[]\n", None, "empty history: the file holds no ops"),
]


@pytest.mark.parametrize(("rule", "name", "text", "line", "message"), CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_each_rule_is_an_input_error_naming_file_line_and_rule(
    tmp_path: Path, rule: str, name: str, text: str, line: int | None, message: str
) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(HistoryFormatError) as e:
        read_history(path)
    assert e.value.line == line
    assert e.value.detail == message
    assert str(path) in str(e.value)


def test_the_cli_answers_exit_3_with_file_line_and_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "h.jsonl", jl(0, "invoke") + jl(3, "ok", value=1))
    assert check_command([str(path)], "cas-register", "auto", 10, 512) == 3
    assert f"{path}: input error: orphan completion: process 3 completes 'read' (ok)" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["jsonl", "edn", "auto"])
def test_every_reader_path_applies_the_rules(tmp_path: Path, fmt: str) -> None:
    text = jl(0, "invoke") + jl(3, "ok", value=1) if fmt != "edn" else edn(0, "invoke") + edn(3, "ok", value="1")
    with pytest.raises(HistoryFormatError, match="orphan completion"):
        read_history(write(tmp_path, "h.txt", text), fmt)


def test_an_edn_vector_applies_the_rules_line_by_line_or_whole(tmp_path: Path) -> None:
    streamed = "[" + edn(0, "invoke") + edn(3, "ok", value="1").rstrip() + "]\n"
    with pytest.raises(HistoryFormatError, match="orphan completion") as e:
        read_history(write(tmp_path, "v.edn", streamed))
    assert e.value.line == 2
    whole = '[#jepsen.history.Op{:process 0, :type :invoke, :f :read, :value nil}\n {:process 3, :type :ok, :f :read}]'
    with pytest.raises(HistoryFormatError, match="orphan completion"):
        read_history(write(tmp_path, "w.edn", whole))


@pytest.mark.parametrize(("name", "text"), [
    ("notes.txt", "this is not a history\nat all\n"),
    ("etcd.log", '{"level":"info","ts":"2024-01-01T00:00:00Z","caller":"etcdmain/main.go:44","msg":"starting"}\n'
                 '{"level":"info","msg":"raft.node: elected leader"}\n'),
])
def test_zero_ops_from_a_log_is_an_input_error(tmp_path: Path, name: str, text: str) -> None:
    with pytest.raises(HistoryFormatError) as e:
        read_history(write(tmp_path, name, text), "jepsen-log")
    assert e.value.detail == (
        "no ops read: none of its 2 lines is a Jepsen op line like 'INFO  jepsen.util - 3 :ok :read 2'. Is it a "
        "Jepsen log? (an etcd server log or plain text holds no ops; for a history.jsonl pass --format jsonl)")


def test_nemesis_info_without_invoke_is_jepsens_convention(tmp_path: Path) -> None:
    text = (edn(0, "invoke") + "{:process :nemesis, :type :info, :f :start, :value nil}\n"
            + "{:process :nemesis, :type :info, :f :start, :value [:isolated]}\n" + edn(0, "ok", value="nil"))
    history = read_history(write(tmp_path, "n.edn", text))
    assert [op.process for op in history] == [0, NEMESIS, NEMESIS, 0]


def test_a_process_may_invoke_again_after_its_completion(tmp_path: Path) -> None:
    text = jl(0, "invoke") + jl(0, "info") + jl(0, "invoke", "write", 1) + jl(0, "ok", "write", 1)
    assert len(read_history(write(tmp_path, "h.jsonl", text))) == 4


def test_lenient_skips_bad_lines_and_says_how_many_and_why(tmp_path: Path) -> None:
    text = (jl(0, "invoke", time=10) + jl(0, "ok", value=None, time=20) + jl(5, "ok", value=1, time=21)
            + jl(1, "invoke", time=30) + jl(1, "invoke", "write", 2, time=31) + jl(1, "ok", "write", 2, time=32)
            + jl(1, "ok", value=None, time=33) + jl(2, "invoke", time=5) + jl(2, "ok", value=None, time=40)
            + "{oops\n")
    history = read_history(write(tmp_path, "h.jsonl", text), lenient=True)
    assert [(op.process, op.type.value) for op in history] == [(0, "invoke"), (0, "ok"), (1, "invoke"), (1, "ok")]
    skipped = history.meta["skipped"]
    assert skipped["count"] == 6
    assert skipped["by_rule"] == {"orphan completion": 1, "double invoke": 1, "completion of a skipped invoke": 2,
                                  "time goes backwards": 1, "bad line": 1}
    assert skipped["first"][0] == {"line": 3, "rule": "orphan completion", "message": (
        "orphan completion: process 5 completes 'read' (ok) with no invoke pending; every ok, fail or info of a "
        "client follows an invoke by the same process")}


def test_check_lenient_prints_what_it_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "h.jsonl", jl(0, "invoke", "write", 1) + jl(0, "ok", "write", 1) + jl(3, "ok", value=1)
                 + jl(1, "invoke") + jl(1, "ok", value=1))
    assert check_command([str(path)], "cas-register", "auto", 10, 512) == 3
    capsys.readouterr()
    assert check_command([str(path)], "cas-register", "auto", 10, 512, lenient=True) == 0
    printed = capsys.readouterr()
    assert (f"{path}: lenient: skipped 1 line that break the input rules (1 orphan completion); first, line 3: "
            "orphan completion: process 3") in printed.err
    assert "linearizable" in printed.out


def test_lenient_still_refuses_a_history_left_empty(tmp_path: Path) -> None:
    with pytest.raises(HistoryFormatError, match=r"empty history: every op was skipped \(1 orphan completion\)"):
        read_history(write(tmp_path, "h.jsonl", jl(3, "ok", value=1)), lenient=True)


@pytest.mark.skipif(not (CORPUS / "expected.tsv").exists(), reason=f"the Porcupine corpus is not at {CORPUS}")
def test_the_whole_corpus_is_well_formed() -> None:
    files = sorted([*(CORPUS / "jepsen").glob("*.log"), *(CORPUS / "kv").glob("*.txt")])
    assert len(files) == 109
    for path in files:
        if path.name == "etcd_095.log":  # empty: that cluster never started; it has no verdict
            with pytest.raises(HistoryFormatError, match="empty history"):
                read_history(path)
            continue
        assert len(read_history(path)) > 0, path
