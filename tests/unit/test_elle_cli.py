"""``etcd-harness check --model list-append|rw-register``: Jepsen EDN and our JSONL, verdicts,
explanations, ``--json``, ``--consistency-model`` and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.core import History
from harness.run import check_command, main
from tests.elle_sim import simulate

# Jepsen's list-append format: a write skew (each txn read the key the other appended to, empty)
WRITE_SKEW_EDN = """[{:type :invoke, :f :txn, :value [[:append 1 1] [:r 2 nil]], :process 0, :time 10, :index 0}
{:type :invoke, :f :txn, :value [[:append 2 1] [:r 1 nil]], :process 1, :time 20, :index 1}
{:type :ok, :f :txn, :value [[:append 1 1] [:r 2 []]], :process 0, :time 30, :index 2}
{:type :ok, :f :txn, :value [[:append 2 1] [:r 1 []]], :process 1, :time 40, :index 3}
{:type :invoke, :f :txn, :value [[:r 1 nil] [:r 2 nil]], :process 0, :time 50, :index 4}
{:type :ok, :f :txn, :value [[:r 1 [1]] [:r 2 [1]]], :process 0, :time 60, :index 5}
{:type :invoke, :f :txn, :value [[:append 3 1]], :process 1, :time 70, :index 6}
{:type :info, :f :txn, :value [[:append 3 1]], :process 1, :time 80, :index 7, :error :timeout}]
"""


def _jsonl(path: Path, history: History) -> str:
    with path.open("w") as f:
        for op in history:
            f.write(json.dumps(op.to_json()) + "\n")
    return str(path)


def test_jepsen_edn_write_skew_is_g2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "skew.edn"
    path.write_text(WRITE_SKEW_EDN)
    assert check_command([str(path)], "list-append", "auto", 10, 512) == 1
    out = capsys.readouterr().out
    assert "skew.edn: invalid in" in out and "(4 transactions" in out
    assert "not strict-serializable: G2 ×1" in out
    assert "T0 < T1: T0 read key 2 without T1's append of 1 (it read an empty list)" in out
    assert "T1 < T0: T1 read key 1 without T0's append of 1 (it read an empty list)" in out
    assert "consistent at most with: snapshot-isolation" in out


def test_consistency_model_decides_the_verdict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "skew.edn"
    path.write_text(WRITE_SKEW_EDN)
    assert check_command([str(path)], "list-append", "edn", 10, 512, consistency_model="snapshot-isolation") == 0
    assert "G2 (allowed by snapshot-isolation)" in capsys.readouterr().out
    assert main(["check", str(path), "--model", "list-append", "--consistency-model", "serializable"]) == 1


def test_json_output_carries_the_drawable_cycle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "skew.edn"
    path.write_text(WRITE_SKEW_EDN)
    assert check_command([str(path)], "list-append", "auto", 10, 512, as_json=True) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["valid"] is False and data["forbidden"] == ["G2"]
    cycle = data["anomalies"][0]["cycle"]
    assert sorted(n["index"] for n in cycle["nodes"]) == [0, 1]
    assert [(e["type"], e["key"]) for e in cycle["edges"]] == [("rw", 2), ("rw", 1)]


@pytest.mark.parametrize("kind", ["list-append", "rw-register"])
def test_simulated_serializable_history_is_valid(kind: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = _jsonl(tmp_path / "h.jsonl", simulate(kind, txns=150, seed=7))  # type: ignore[arg-type]
    assert check_command([path], kind, "auto", 10, 512) == 0
    assert "valid in" in capsys.readouterr().out


def test_rw_register_stale_store_is_invalid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _jsonl(tmp_path / "h.jsonl", simulate("rw-register", store="stale", txns=150, seed=2))
    assert check_command([path], "rw-register", "jsonl", 10, 512) == 1
    out = capsys.readouterr().out
    assert "not strict-serializable" in out and " < T" in out


def test_wrong_micro_ops_are_an_input_error_naming_the_line(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "skew.edn"
    path.write_text(WRITE_SKEW_EDN)
    assert check_command([str(path)], "rw-register", "auto", 10, 512) == 3
    err = capsys.readouterr().err
    assert "input error: op 0: micro-op ['append', 1, 1] is not [\"w\"|\"r\", key, value]" in err
    assert "(line 1)" in err


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "skew.edn"
    path.write_text(WRITE_SKEW_EDN)
    assert check_command([str(path)], "list-append", "auto", 10, 512, consistency_model="linearizable") == 2
    assert "use --consistency-model with one of: strict-serializable" in capsys.readouterr().err
    assert check_command([str(path)], "list-append", "auto", 10, 512, minimal_out=str(tmp_path / "m")) == 2
    assert check_command([str(path)], "list-apend", "auto", 10, 512) == 2
    assert "list-append" in capsys.readouterr().err


def test_time_limit_gives_unknown_exit_5(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _jsonl(tmp_path / "h.jsonl", simulate("list-append", store="stale", txns=300, seed=2))
    assert check_command([path], "list-append", "jsonl", 1e-9, 512) == 5
    assert "unknown in" in capsys.readouterr().out
