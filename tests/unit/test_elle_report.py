"""The report's Transactions section: the anomaly table, each cycle drawn, every string escaped."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from checkers import CheckContext, ListAppendChecker, run_checkers
from harness.core import History
from harness.report import write_report
from tests.elle_sim import HistoryBuilder
from tests.sample_run import HOSTILE


def _write_run(run: Path, history: History) -> Path:
    run.mkdir(parents=True, exist_ok=True)
    with (run / "history.jsonl").open("w") as f:
        for op in history:
            f.write(json.dumps(op.to_json()) + "\n")
    results = run_checkers({"elle": ListAppendChecker()}, history, CheckContext())
    (run / "results.json").write_text(json.dumps(results, default=str))
    return run


def _payload(page: str) -> Any:
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S)
    assert match is not None
    return json.loads(match.group(1))


def _read_skew(key: Any) -> History:
    b = HistoryBuilder()
    b.invoke(0, [["append", key, 1], ["append", 2, 1]])
    b.invoke(1, [["r", key, None], ["r", 2, None]])
    b.complete(0, [["append", key, 1], ["append", 2, 1]])
    b.complete(1, [["r", key, []], ["r", 2, [1]]])
    b.ok(2, [["r", key, [1]]])
    return b.history()


def test_each_anomaly_is_drawn_with_its_cycle_and_table_row(tmp_path: Path) -> None:
    page = write_report(_write_run(tmp_path / "run", _read_skew(1))).read_text()
    assert '<section id="elle">' in page and 'href="#elle"' in page
    elle = _payload(page)["elle"]
    assert len(elle) == 1
    checker = elle[0]
    assert checker["cm"] == "strict-serializable"
    assert ["G-single", 1, True] in checker["counts"]
    anomaly = next(a for a in checker["anomalies"] if a["type"] == "G-single")
    assert anomaly["forbidden"] is True
    assert [n["label"] for n in anomaly["cycle"]["nodes"]] == [f"T{i}" for i in anomaly["ops"]]
    assert sorted(e["type"] for e in anomaly["cycle"]["edges"]) == ["rw", "wr"]
    assert all(n["s"] is not None and n["c"] is not None for n in anomaly["cycle"]["nodes"])
    assert any(m["href"] == "#elle-0-0" for m in _payload(page)["marks"])


def test_strings_from_the_history_are_escaped(tmp_path: Path) -> None:
    page = write_report(_write_run(tmp_path / "run", _read_skew(HOSTILE))).read_text()
    assert HOSTILE not in page
    anomaly = _payload(page)["elle"][0]["anomalies"][0]
    assert any(HOSTILE in line for line in anomaly["expl"])  # kept as data, shown with textContent


def test_a_valid_check_says_so(tmp_path: Path) -> None:
    b = HistoryBuilder()
    b.ok(0, [["append", 1, 1]])
    b.ok(1, [["r", 1, [1]]])
    page = write_report(_write_run(tmp_path / "run", b.history())).read_text()
    assert "No transactional anomaly." in page
    assert _payload(page)["elle"][0]["anomalies"] == []
