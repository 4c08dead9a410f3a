"""The HTML report and index, as pure logic: what goes into the page, escaped and bounded.

What the page looks like, and that its script runs without errors, is tested in a
real browser in tests/integration/test_report_browser.py.
"""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

import harness.report
from harness import NEMESIS, InputError, Op, OpType
from harness.report import _data, write_index, write_report
from harness.report._assets import ASSETS, asset
from harness.report._data import build_payload
from harness.report._html import json_script, script_hash
from harness.report._load import load_run
from tests.sample_run import HOSTILE, make_sample_run


def _write_history(run: Path, ops: list[Op]) -> None:
    run.mkdir(parents=True, exist_ok=True)
    with (run / "history.jsonl").open("w") as f:
        for i, op in enumerate(ops):
            f.write(json.dumps(op.with_(index=i).to_json()) + "\n")


def _data_block(page: str) -> Any:
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S)
    assert match is not None
    return json.loads(match.group(1))


def _decode_ops(payload: dict[str, Any]) -> list[dict[str, Any]]:
    cols, out, start, index = payload["ops"], [], 0, 0
    for k in range(len(cols["t"])):
        start += cols["s"][k]
        index += cols["i"][k]
        out.append(
            {
                "index": index,
                "process": payload["procs"][cols["p"][k]],
                "f": payload["fs"][cols["f"][k]],
                "type": ["ok", "fail", "info", "pending"][cols["t"][k]],
                "start_us": start,
                "dur_us": cols["d"][k],
                "value": payload["strs"][cols["v"][k]],
                "error": payload["strs"][cols["e"][k] - 1] if cols["e"][k] else None,
            }
        )
    return out


def test_the_public_api_is_two_functions() -> None:
    assert sorted(harness.report.__all__) == ["write_index", "write_report"]
    for name in harness.report.__all__:
        assert callable(getattr(harness.report, name))


# --- safety -------------------------------------------------------------------------------


def test_hostile_strings_never_reach_the_page_as_markup(tmp_path: Path) -> None:
    run = make_sample_run(tmp_path / "run", ops=300, hostile=True, locks=True, counter=True)
    page = write_report(run).read_text()
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown, as text, in the server-side parts
    assert len(re.findall(r"<script\b", page, re.I)) == 2  # the JSON block and the page's script
    assert len(re.findall(r"</script", page, re.I)) == 2
    # ...and the JSON block carries the raw string for the script to show with textContent
    assert HOSTILE in json.dumps(_data_block(page), ensure_ascii=False)


@pytest.mark.parametrize("text", ["</script><script>alert(1)</script>", "<!--<script>", "a & b > c", "\u2028"])
def test_the_json_block_cannot_be_closed_by_its_content(text: str) -> None:
    block = json_script("d", {"v": text})
    inner = block[len('<script type="application/json" id="d">') : -len("</script>")]
    assert "<" not in inner and ">" not in inner
    assert json.loads(inner) == {"v": text}


@pytest.mark.parametrize(("which", "script_file"), [("report", "report.js"), ("index", "index.js")])
def test_the_content_security_policy_allows_only_the_pages_own_script(
    tmp_path: Path, which: str, script_file: str
) -> None:
    run = make_sample_run(tmp_path / "run", ops=20)
    page = (write_report(run) if which == "report" else write_index(tmp_path)).read_text()
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)
    assert csp is not None
    directives = dict(d.strip().split(" ", 1) for d in html.unescape(csp.group(1)).split(";"))
    assert directives["default-src"] == "'none'"
    (inline,) = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert inline.strip() == asset(script_file).strip()  # the packaged file, inlined as it is
    assert directives["script-src"] == script_hash(inline)  # no 'unsafe-inline': an injected script cannot run


def test_the_assets_are_package_files_inlined_into_both_pages(tmp_path: Path) -> None:
    for name in ASSETS:
        assert asset(name).strip(), name
    with pytest.raises(ValueError, match="no report asset"):
        asset("../_page.py")
    report = write_report(make_sample_run(tmp_path / "run", ops=20)).read_text()
    index = write_index(tmp_path).read_text()
    assert asset("report.css") in report and asset("report.js") in report
    assert asset("index.css") not in report and asset("index.js") not in report
    assert asset("report.css") in index and asset("index.css") in index and asset("index.js") in index


def test_the_page_loads_nothing_from_outside(tmp_path: Path) -> None:
    page = write_report(make_sample_run(tmp_path / "run", ops=50, locks=True, counter=True)).read_text()
    assert not re.search(r"""\ssrc\s*=|https?://(?!www\.w3\.org/2000/svg)|@import|url\((?!#)""", page)
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert hrefs and all(h.startswith("#") or h.startswith("nodes/") for h in hrefs)


# --- content and order ---------------------------------------------------------------------


def test_sections_come_in_the_order_the_issue_asks(tmp_path: Path) -> None:
    page = write_report(make_sample_run(tmp_path / "run", ops=100, locks=True, counter=True)).read_text()
    ids = ["verdict", "config", "perf", "timeline", "linear", "locks", "counter", "cluster", "logs"]
    positions = [page.index(f'<section id="{i}"') for i in ids]
    assert positions == sorted(positions)


def test_every_checker_verdict_and_reason_is_in_the_header(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _write_history(run, [])
    (run / "results.json").write_text(
        json.dumps(
            {
                "valid": "unknown",
                "checkers": {
                    "linear": {"valid": "unknown", "reason": "time limit of 30 s reached"},
                    "perf": {"valid": True, "reason": ""},
                    "set": {"valid": False, "reason": "lost 3 elements"},
                },
            }
        )
    )
    page = write_report(run).read_text()
    verdict = page[page.index('<section id="verdict"') : page.index('<section id="config"')]
    assert re.findall(r'class="badge (\w+)"', verdict) == ["unknown", "valid", "invalid"]
    assert "time limit of 30 s reached" in verdict and "lost 3 elements" in verdict
    assert "No problem found." in verdict  # a valid checker without a reason still gets a sentence


def test_config_and_reproduce_command_are_shown(tmp_path: Path) -> None:
    run = make_sample_run(tmp_path / "run", ops=10, seed=42)
    page = write_report(run).read_text()
    config = page[page.index('<section id="config"') : page.index('<section id="perf"')]
    for text in ("register", "partition, kill, pause", "3.5.17", "42", "60 s", "etcd-harness test --workload register"):
        assert text in config


def test_node_logs_are_linked_relatively_with_their_warnings_escaped(tmp_path: Path) -> None:
    run = make_sample_run(tmp_path / "run", ops=10, hostile=True)
    page = write_report(run).read_text()
    assert '<a href="nodes/n1/etcd.log">' in page
    assert "lost leader&lt;script&gt;" in page


# --- robustness ----------------------------------------------------------------------------


def test_an_empty_run_directory_still_renders_and_lists_what_is_missing(tmp_path: Path) -> None:
    page = write_report(tmp_path).read_text()
    for missing in ("config.json is missing", "results.json is missing", "history.jsonl is missing", "no node logs"):
        assert missing in page
    assert _data_block(page)["opsTotal"] == 0


def test_a_torn_history_is_read_up_to_the_tear_and_the_line_is_named(tmp_path: Path) -> None:
    run = make_sample_run(tmp_path / "run", ops=40)
    lines = (run / "history.jsonl").read_text().splitlines()
    (run / "history.jsonl").write_text("\n".join(lines[:10]) + "\n" + lines[10][:17])
    loaded = load_run(run)
    assert len(loaded.history) == 10
    assert any("line 11" in p for p in loaded.problems)


def test_write_report_rejects_a_path_that_is_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a run directory"):
        write_report(tmp_path / "nope")


# --- the data the script draws --------------------------------------------------------------


def test_ops_are_embedded_as_pairs_with_their_outcomes(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _write_history(
        run,
        [
            Op(type=OpType.INVOKE, f="write", value=1, process=0, time=1_000_000),
            Op(type=OpType.INVOKE, f="read", process=1, time=2_000_000),
            Op(type=OpType.OK, f="write", value=1, process=0, time=5_000_000),
            Op(type=OpType.INFO, f="read", process=1, time=9_000_000, error="timeout"),
            Op(type=OpType.INVOKE, f="cas", value=[1, 2], process=0, time=10_000_000),
            Op(type=OpType.FAIL, f="cas", value=[1, 2], process=0, time=12_000_000, error="compare failed"),
            Op(type=OpType.INVOKE, f="read", process=2, time=13_000_000),  # never completes
        ],
    )
    ops = _decode_ops(build_payload(load_run(run)))
    assert [(o["index"], o["process"], o["f"], o["type"]) for o in ops] == [
        (0, "0", "write", "ok"),
        (1, "1", "read", "info"),
        (4, "0", "cas", "fail"),
        (6, "2", "read", "pending"),
    ]
    assert [(o["start_us"], o["dur_us"]) for o in ops] == [(1000, 4000), (2000, 7000), (10000, 2000), (13000, -1)]
    assert [o["value"] for o in ops] == ["1", "nil", "1→2", "nil"]
    assert [o["error"] for o in ops] == [None, "timeout", "compare failed", None]


def test_past_the_budget_ok_ops_are_sampled_and_every_other_op_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_sample_run(tmp_path / "run", ops=2000)
    monkeypatch.setattr(_data, "MAX_EMBEDDED_OPS", 500)
    payload = build_payload(load_run(run))
    ops = _decode_ops(payload)
    all_pairs = load_run(run).history.pairs()
    not_ok = sum(1 for inv, done in all_pairs if inv.process != "nemesis" and (done is None or not done.is_ok))
    assert len(ops) == 500
    assert sum(1 for o in ops if o["type"] != "ok") == not_ok
    assert payload["omitted"] == payload["opsTotal"] - 500
    assert "left out of this page" in write_report(run).read_text()


def test_nemesis_faults_become_one_band_per_fault_with_per_node_spans(tmp_path: Path) -> None:
    run = tmp_path / "run"
    n = NEMESIS
    _write_history(
        run,
        [
            Op(type=OpType.INVOKE, f="start-partition", process=n, time=1_000_000),
            Op(
                type=OpType.INFO,
                f="start-partition",
                process=n,
                time=2_000_000,
                value={"nodes": ["n1"], "leader_before": "n1", "leader_after": "n2"},
            ),
            Op(type=OpType.INVOKE, f="kill", process=n, time=3_000_000),
            Op(type=OpType.INFO, f="kill", process=n, time=4_000_000, value={"nodes": ["n3"]}),
            Op(type=OpType.INVOKE, f="stop-partition", process=n, time=5_000_000),
            Op(type=OpType.INFO, f="stop-partition", process=n, time=6_000_000, value={"nodes": ["n1"]}),
            Op(type=OpType.INVOKE, f="read", process=0, time=9_000_000),
        ],
    )
    payload = build_payload(load_run(run))
    bands = {b["kind"]: (b["s"], b["e"], b.get("open", False)) for b in payload["nemesis"]["bands"]}
    assert bands == {"partition": (1000, 6000, False), "kill": (3000, 9000, True)}  # kill was never healed
    spans = {(s["kind"], s["node"]) for s in payload["nemesis"]["nodeSpans"]}
    assert spans == {("partition", "n1"), ("kill", "n3")}
    assert payload["leaders"]["obs"] == [[1000, "n1"], [2000, "n2"]]


def test_a_skipped_fault_start_draws_no_band(tmp_path: Path) -> None:
    run = tmp_path / "run"
    n = NEMESIS
    _write_history(
        run,
        [
            Op(type=OpType.INVOKE, f="pause", process=n, time=1_000_000),
            Op(
                type=OpType.INFO,
                f="pause",
                process=n,
                time=1_500_000,
                error="target lock-holder: no client plays it",
                value={"target": "lock-holder", "skipped": True, "applied": False},
            ),
            Op(type=OpType.INVOKE, f="pause", process=n, time=3_000_000),
            Op(type=OpType.INFO, f="pause", process=n, time=3_500_000, value={"nodes": ["n2"], "verified": True}),
            Op(type=OpType.INVOKE, f="resume", process=n, time=5_000_000),
            Op(type=OpType.INFO, f="resume", process=n, time=5_500_000, value={"nodes": ["n2"]}),
            Op(type=OpType.INVOKE, f="read", process=0, time=9_000_000),
        ],
    )
    payload = build_payload(load_run(run))
    assert [(b["kind"], b["s"], b["e"]) for b in payload["nemesis"]["bands"]] == [("pause", 3000, 5500)]
    assert [e["skipped"] for e in payload["nemesis"]["events"]] == [True, False, False]


def test_leaders_jsonl_is_preferred_to_what_nemesis_ops_say(tmp_path: Path) -> None:
    run = make_sample_run(tmp_path / "run", ops=200)
    payload = build_payload(load_run(run))
    assert payload["leaders"]["source"] == "leaders.jsonl"
    assert payload["leaders"]["obs"][0] == [0, "n1"]


def test_a_linearizability_failure_keeps_its_prefix_even_if_the_window_left_ops_out(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _write_history(
        run,
        [
            Op(type=OpType.INVOKE, f="write", value=1, process=0, time=1_000_000, key="r"),
            Op(type=OpType.OK, f="write", value=1, process=0, time=2_000_000, key="r"),
            Op(type=OpType.INVOKE, f="read", process=1, time=3_000_000, key="r"),
            Op(type=OpType.OK, f="read", value=3, process=1, time=4_000_000, key="r"),
        ],
    )
    (run / "results.json").write_text(
        json.dumps(
            {
                "valid": False,
                "checkers": {
                    "linear": {
                        "valid": False,
                        "reason": "read 3",
                        "failures": [
                            {
                                "key": "r",
                                "longest_prefix": [0],
                                "prefix_states": ["1"],
                                "unlinearizable": [
                                    {
                                        "index": 2,
                                        "process": 1,
                                        "f": "read",
                                        "value": 3,
                                        "invoke_time": 3_000_000,
                                        "complete_time": 4_000_000,
                                        "why": "read 3, but the register can only be 1 here",
                                    }
                                ],
                                "window": {
                                    "start_time": 3_000_000,
                                    "end_time": 4_000_000,
                                    "ops": [
                                        {
                                            "index": 2,
                                            "process": 1,
                                            "f": "read",
                                            "value": 3,
                                            "type": "ok",
                                            "invoke_time": 3_000_000,
                                            "complete_time": 4_000_000,
                                        }
                                    ],
                                },
                            }
                        ],
                    }
                },
            }
        )
    )
    failure = build_payload(load_run(run))["linear"][0]["failures"][0]
    assert [o["i"] for o in failure["ops"]] == [0, 2]
    assert failure["order"] == [0] and failure["states"] == ["1"]
    assert failure["bad"] == [{"i": 2, "why": "read 3, but the register can only be 1 here"}]


def test_lock_and_counter_details_are_recognised_by_their_shape(tmp_path: Path) -> None:
    run = make_sample_run(tmp_path / "run", ops=100, locks=True, counter=True)
    results = json.loads((run / "results.json").read_text())
    results["checkers"]["my-lock"] = results["checkers"].pop("mutex")
    (run / "results.json").write_text(json.dumps(results))
    payload = build_payload(load_run(run))
    assert [m["name"] for m in payload["mutex"]] == ["my-lock"]
    assert len(payload["mutex"][0]["violations"]) == 1
    assert payload["counter"][0]["bad"] == 1 and payload["counter"][0]["reads"]["ok"].count(0) == 1


# --- index ----------------------------------------------------------------------------------


def _set_valid(run: Path, valid: Any) -> None:
    results = json.loads((run / "results.json").read_text())
    results["valid"] = valid
    (run / "results.json").write_text(json.dumps(results))


def test_the_index_lists_every_run_newest_first_and_not_latest_twice(tmp_path: Path) -> None:
    old = make_sample_run(tmp_path / "reg" / "20250101T000000", ops=10)
    new = make_sample_run(tmp_path / "reg" / "20250102T000000", ops=10, hostile=True)
    os.utime(old, (1_000_000, 1_000_000))
    for run, started in ((old, "2025-01-01T00:00:00Z"), (new, "2025-01-02T00:00:00Z")):
        config = json.loads((run / "config.json").read_text())
        config["started_at"] = started
        (run / "config.json").write_text(json.dumps(config))
    _set_valid(old, True)
    (tmp_path / "latest").symlink_to(new.relative_to(tmp_path))
    write_report(new)
    page = write_index(tmp_path).read_text()
    rows = re.findall(r'<tr data-verdict="(\w+)" data-workload="([^"]*)">.*?<a href="([^"]*)">', page)
    assert rows == [
        ("invalid", "register", "reg/20250102T000000/report.html"),
        ("valid", "register", "reg/20250101T000000/"),
    ]
    assert HOSTILE not in page and "&lt;script&gt;" in page


def test_the_index_offers_filters_for_verdict_and_workload(tmp_path: Path) -> None:
    run = make_sample_run(tmp_path / "a" / "1", ops=10)
    config = json.loads((run / "config.json").read_text())
    config["workload"] = "lock"
    (run / "config.json").write_text(json.dumps(config))
    make_sample_run(tmp_path / "b" / "1", ops=10)
    page = write_index(tmp_path).read_text()
    assert '<select id="filter-verdict">' in page
    assert re.findall(r'<option value="(\w+)">\1</option></select></label><label>text', page) == ["register"]
    assert '<option value="lock">lock</option>' in page


def test_a_run_without_results_is_listed_as_unknown(tmp_path: Path) -> None:
    run = make_sample_run(tmp_path / "t" / "1", ops=10)
    (run / "results.json").unlink()
    page = write_index(tmp_path).read_text()
    assert '<tr data-verdict="unknown"' in page


# --- issue 13: failures you can trust at a glance -------------------------------------------


def _results(run: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run / "results.json").read_text())
    return data


def _section(page: str, sid: str) -> str:
    start = page.index(f'<section id="{sid}"')
    return page[start : page.index("</section>", start)]


def test_the_verdict_says_when_and_by_which_version_it_was_computed(tmp_path: Path) -> None:
    run = make_sample_run(tmp_path / "run", ops=20)
    verdict = _section(write_report(run).read_text(), "verdict")
    assert "does not say when or by which harness version" in verdict  # an old results.json
    results = _results(run)
    results.update(checked_at="2025-01-02T03:04:05+00:00", harness_version="9.8.7",
                   rechecked={"why": "history.jsonl is newer than results.json", "previous_valid": True})
    (run / "results.json").write_text(json.dumps(results))
    verdict = _section(write_report(run).read_text(), "verdict")
    assert "Verdict computed 2025-01-02T03:04:05+00:00 by etcd-harness 9.8.7." in verdict
    assert "Re-checked: history.jsonl is newer than results.json; before, it was valid." in verdict


def test_the_runs_timing_and_rates_are_shown_with_the_verdict(tmp_path: Path) -> None:
    run = make_sample_run(tmp_path / "run", ops=20)
    results = _results(run)
    results["timing"] = {"cluster_start_s": 2.5, "ops_s": 60.1, "recovery_s": 1.25, "check_s": 0.3, "total_s": 71}
    results["stats"].update(ops_per_s=180.2, offered_ops_per_s=200, op_phase_s=60.0, latency_ms_median=3.1)
    (run / "results.json").write_text(json.dumps(results))
    verdict = _section(write_report(run).read_text(), "verdict")
    assert "cluster start 2.5 s · ops 60.1 s · recovery 1.25 s · check 0.3 s · total 71 s" in verdict
    assert "180.2 ops/s achieved of 200 offered (90%) over 60 s of ops" in verdict
    assert "median 3.1 ms" in verdict


def test_without_an_offered_rate_the_achieved_one_stands_alone(tmp_path: Path) -> None:
    run = make_sample_run(tmp_path / "run", ops=20)
    results = _results(run)
    results["stats"]["ops_per_s"] = 15.0
    (run / "results.json").write_text(json.dumps(results))
    verdict = _section(write_report(run).read_text(), "verdict")
    assert "15 ops/s achieved (target rate" in verdict and "offered" not in verdict


def test_faults_that_went_wrong_are_boxed_near_the_verdict_and_escaped(tmp_path: Path) -> None:
    run = make_sample_run(tmp_path / "run", ops=20)
    assert 'class="fault-problems"' not in write_report(run).read_text()  # absent: no box
    results = _results(run)
    results["fault_problems"] = [
        {"time": 12_500_000_000, "f": "stop-partition", "problem": "rules left on n2 " + HOSTILE},
        {"time": 30_000_000_000, "f": "heal-pause", "problem": "n3 still stopped"},
    ]
    (run / "results.json").write_text(json.dumps(results))
    page = write_report(run).read_text()
    verdict = _section(page, "verdict")
    assert "Faults that went wrong (2)" in verdict
    assert "12.500 s</b> · stop-partition: rules left on n2 &lt;script&gt;" in verdict
    assert "heal-pause: n3 still stopped" in verdict and HOSTILE not in page


def test_lost_locks_are_one_finding_linked_from_both_checkers(tmp_path: Path) -> None:
    run = make_sample_run(tmp_path / "run", ops=50, locks=True)
    results = _results(run)
    lost = {"process": 3, "key": "lock-0", "why": "its lease expired while it held the lock " + HOSTILE,
            "acquire_index": 10, "time": 4_000_000_000}
    other = {"process": 5, "key": "lock-1", "why": "the keepalive failed", "acquire_index": 20}
    results["checkers"]["mutex"]["lost_locks"] = [lost, other]
    results["checkers"]["linear"]["lost_locks"] = [{**lost, "why": "the same lock in other words " + HOSTILE}]
    (run / "results.json").write_text(json.dumps(results))
    page = write_report(run).read_text()
    verdict = _section(page, "verdict")
    assert verdict.count('id="lost-locks"') == 1 and "Locks lost while held (2)" in verdict
    assert "(reported by linear, mutex)" in verdict and "(reported by mutex)" in verdict
    assert verdict.count('href="#lost-locks"') == 2  # from the mutex row and the linear row
    assert HOSTILE not in page and "other words &lt;script&gt;" in verdict
    payload = _data_block(page)
    assert payload["mutex"][0]["lostLocks"] == 2 and payload["linear"][0]["lostLocks"] == 1


def test_an_invalid_run_has_a_jump_to_its_first_failure_and_a_valid_one_has_none(tmp_path: Path) -> None:
    run = make_sample_run(tmp_path / "run", ops=200, locks=True, counter=True)
    page = write_report(run).read_text()
    header = page[page.index("<header>") : page.index("</header>")]
    marks = _data_block(page)["marks"]
    assert [m["t"] for m in marks] == sorted(m["t"] for m in marks) and len(marks) == 3
    assert {m["href"] for m in marks} == {"#lin-failure-0-0", "#locks-0", "#counter-0"}
    assert f'<a class="jump-failure" href="{marks[0]["href"]}">↓ jump to the first failure' in header
    results = _results(run)
    results["checkers"] = {"set": {"valid": False, "reason": "lost 3 elements"}, "perf": {"valid": True}}
    (run / "results.json").write_text(json.dumps(results))
    page = write_report(run).read_text()
    assert '<a class="jump-failure" href="#verdict-row-0">' in page and 'id="verdict-row-0"' in page
    results["valid"] = True
    results["checkers"] = {"perf": {"valid": True}}
    (run / "results.json").write_text(json.dumps(results))
    assert 'class="jump-failure"' not in write_report(run).read_text()


def test_a_linearizability_failure_carries_its_window_reproducer_and_time(tmp_path: Path) -> None:
    run = make_sample_run(tmp_path / "run", ops=300)
    results = _results(run)
    failure = results["checkers"]["linear"]["failures"][0]
    bad = failure["unlinearizable"][0]
    failure["minimal"] = {
        "ops": [op for op in failure["window"]["ops"] if op["index"] in (failure["longest_prefix"][-1], bad["index"])],
        "size": 2, "original_size": 40, "shrunk_in_s": 0.01, "complete": True, "order_only": False,
        "initial_state": "3", "history": [{"index": 0, "type": "invoke", "f": "read", "value": HOSTILE}],
    }
    (run / "results.json").write_text(json.dumps(results))
    drawn = build_payload(load_run(run))["linear"][0]["failures"][0]
    assert drawn["win"] == [op["index"] for op in failure["window"]["ops"]]
    assert drawn["bt"] == bad["invoke_time"] // 1000
    assert drawn["skipped"] == 0 and drawn["order"] == failure["longest_prefix"]
    minimal = drawn["min"]
    assert [o["i"] for o in minimal["ops"]] == sorted(o["index"] for o in failure["minimal"]["ops"])
    assert minimal["bad"] == [bad["index"]] and minimal["start"] == "3" and minimal["complete"]
    assert minimal["size"] == 2 and minimal["orig"] == 40 and HOSTILE in minimal["jsonl"][0]


def test_a_long_order_is_drawn_from_its_last_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = make_sample_run(tmp_path / "run", ops=300)
    results = _results(run)
    failure = results["checkers"]["linear"]["failures"][0]
    monkeypatch.setattr(_data, "MAX_PREFIX_DRAWN", 2)
    drawn = build_payload(load_run(run))["linear"][0]["failures"][0]
    skipped = len(failure["longest_prefix"]) - 2
    assert drawn["skipped"] == skipped and drawn["order"] == failure["longest_prefix"][-2:]
    assert drawn["states"] == failure["prefix_states"][-2:] and drawn["before"] == failure["prefix_states"][skipped - 1]
    assert set(drawn["win"]) <= {o["i"] for o in drawn["ops"]}  # the window is always drawn whole


def test_the_index_says_why_each_run_is_not_valid(tmp_path: Path) -> None:
    make_sample_run(tmp_path / "a" / "1", ops=10)  # invalid, as made
    unknown = make_sample_run(tmp_path / "b" / "1", ops=10)
    valid = make_sample_run(tmp_path / "c" / "1", ops=10)
    crashed = make_sample_run(tmp_path / "d" / "1", ops=10)
    results = _results(unknown)
    results.update(valid="unknown", checkers={"linear": {"valid": "unknown", "reason": "time limit of 30 s reached"}})
    (unknown / "results.json").write_text(json.dumps(results))
    _set_valid(valid, True)
    (crashed / "results.json").unlink()
    page = write_index(tmp_path).read_text()
    why = dict(re.findall(r'<a href="([a-d])/1/[^"]*">.*?<td class="why">([^<]*)</td>', page, re.S))
    assert why["a"].startswith("linear: key r") and "but the register can only be" in why["a"]
    assert why["b"] == "linear: time limit of 30 s reached"
    assert why["c"] == ""
    assert why["d"] == "no results.json: the run may have crashed before checking"
