"""``report.html``: one self-contained page per run.

The server-side part (this module) writes everything that must read without
JavaScript: the verdicts, the configuration and reproduce command, what is
missing, the nemesis log and the node logs. The charts are drawn by the inline
script from the JSON block (see ``_data`` and ``assets/``). Every string from
the run goes through :func:`~harness.report._html.esc` or the JSON block.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import urllib.parse
from pathlib import Path
from typing import Any

from harness.core import CONFIG, HISTORY, RESULTS, InputError, RunDir, write_atomically
from harness.report._assets import asset
from harness.report._data import build_payload, lost_locks, short_text, us
from harness.report._html import content_security_policy, esc, json_script
from harness.report._load import RunFiles, load_run

MAX_NEMESIS_ROWS = 500
MAX_DETAILS_CHARS = 20_000

# config.json keys shown first, with their labels; any other key follows.
_CONFIG_LABELS = {
    "name": "name",
    "workload": "workload",
    "nemesis": "nemesis",
    "nodes": "nodes",
    "etcd_version": "etcd version",
    "image": "image",
    "seed": "seed",
    "time_limit": "time limit",
    "duration_s": "duration",
    "concurrency": "concurrency",
    "rate": "rate",
    "started_at": "started at",
    "harness_version": "harness version",
}

#: ``results.json`` → ``timing`` keys, in the order and words the page shows them.
_TIMING_LABELS = {
    "cluster_start_s": "cluster start",
    "ops_s": "ops",
    "recovery_s": "recovery",
    "check_s": "check",
    "total_s": "total",
}


def verdict_word(valid: Any) -> str:
    """``valid`` / ``invalid`` / ``unknown`` for a results.json validity."""
    if valid is True:
        return "valid"
    if valid is False:
        return "invalid"
    return "unknown"


def _badge(valid: Any) -> str:
    word = verdict_word(valid)
    return f'<span class="badge {word}">{word}</span>'


def _one_sentence(reason: Any, valid: Any) -> str:
    text = " ".join(str(reason).split()) if reason else ""
    if not text:
        return {
            "valid": "No problem found.",
            "invalid": "Invalid (the checker gave no reason).",
            "unknown": "Could not decide (the checker gave no reason).",
        }[verdict_word(valid)]
    return short_text(text, 400)


def _seconds(x: Any) -> str:
    if isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x):
        return f"{x:g} s"
    return short_text(x, 200)


def _config_value(key: str, value: Any) -> str:
    if key in ("time_limit", "duration_s"):
        return esc(_seconds(value))
    if key == "rate" and isinstance(value, int | float) and not isinstance(value, bool):
        return esc(f"{value:g} ops/s")
    if isinstance(value, list):
        return esc(", ".join(short_text(v, 100) for v in value) or "none")
    return esc(short_text(value, 300))


def _header(run: RunFiles, payload: dict[str, Any]) -> str:
    config, results = run.config, run.results
    name = config.get("name") or run.run_dir.name
    overall = results.get("valid") if results is not None else None
    facts = []
    if config.get("started_at"):
        facts.append(f"started {esc(short_text(config['started_at'], 60))}")
    timing = (results or {}).get("timing")
    duration = config.get("duration_s", timing.get("total_s") if isinstance(timing, dict) else None)
    if duration is not None:
        facts.append(f"ran {esc(_seconds(duration))}")
    facts.append(f"{payload['opsTotal']} client ops")
    facts.append(f"{len(payload['nemesis']['events'])} nemesis ops")
    jump = _jump_link(run, payload)
    return (
        f"<header><h1>etcd-harness · {esc(short_text(name, 200))}</h1>"
        f'<div class="verdict-main">{_badge(overall)} {" · ".join(facts)}{jump}</div></header>'
    )


def _first_invalid_row(run: RunFiles) -> int | None:
    checkers = (run.results or {}).get("checkers")
    if not isinstance(checkers, dict):
        return None
    for k, res in enumerate(checkers.values()):
        if isinstance(res, dict) and res.get("valid") is False:
            return k
    return None


def _jump_link(run: RunFiles, payload: dict[str, Any]) -> str:
    """"Jump to the first failure": the earliest drawn failure, else the first invalid checker's row."""
    marks = payload["marks"]
    if marks:
        first = marks[0]
        return (f' <a class="jump-failure" href="{esc(first["href"])}">↓ jump to the first failure: '
                f'{esc(first["label"])} at {esc(_fmt_us(first["t"]))}</a>')
    row = _first_invalid_row(run)
    if row is None:
        return ""
    return f' <a class="jump-failure" href="#verdict-row-{row}">↓ jump to the first failure</a>'


def _nav(sections: list[tuple[str, str]]) -> str:
    return "<nav>" + "".join(f'<a href="#{sid}">{esc(title)}</a>' for sid, title in sections) + "</nav>"


def _verdict_section(run: RunFiles, payload: dict[str, Any]) -> str:
    rows = []
    results = run.results
    lost = lost_locks(_as_dict((results or {}).get("checkers")))
    if results is None:
        rows.append(
            f"<tr><td>{_badge(None)}</td><td>run</td>"
            f'<td class="reason">There is no {RESULTS}, so nothing was checked.</td></tr>'
        )
    else:
        checkers = results.get("checkers")
        if isinstance(checkers, dict) and checkers:
            for k, (name, res) in enumerate(checkers.items()):
                res = res if isinstance(res, dict) else {}
                valid = res.get("valid")
                n_lost = len(res["lost_locks"]) if isinstance(res.get("lost_locks"), list) else 0
                link = (f' <a class="lost-link" href="#lost-locks">{n_lost} lost lock{"s" if n_lost != 1 else ""}'
                        "</a>" if n_lost and lost else "")
                rows.append(
                    f'<tr id="verdict-row-{k}"><td>{_badge(valid)}</td><td><b>{esc(short_text(name, 80))}</b></td>'
                    f'<td class="reason">{esc(_one_sentence(res.get("reason"), valid))}{link}</td></tr>'
                )
        else:
            reason = results.get("reason")
            rows.append(
                f"<tr><td>{_badge(results.get('valid'))}</td><td>run</td>"
                f'<td class="reason">{esc(short_text(reason, 400)) if reason else f"{RESULTS} names no checkers."}'
                "</td></tr>"
            )
    problems = ""
    if run.problems:
        items = "".join(f"<li>{esc(p)}</li>" for p in run.problems)
        problems = f'<div class="problems"><b>Missing or unreadable:</b><ul>{items}</ul></div>'
    return (
        f'<section id="verdict"><h2>Verdict</h2><table class="verdicts">{"".join(rows)}</table>'
        f"{_stamp(run)}{_fault_problems(results or {})}{_lost_locks_box(lost)}{problems}"
        f"{_run_facts(run, payload)}</section>"
    )


def _as_dict(x: Any) -> dict[str, Any]:
    return x if isinstance(x, dict) else {}


def _stamp(run: RunFiles) -> str:
    """When, and by which harness version, the verdict was computed (and why it was computed again)."""
    results = run.results
    if results is None:
        return ""
    checked_at, version = results.get("checked_at"), results.get("harness_version")
    if checked_at or version:
        text = (f"Verdict computed {short_text(checked_at or 'at an unrecorded time', 60)} "
                f"by etcd-harness {short_text(version or '(version not recorded)', 40)}.")
    else:
        text = (f"{RESULTS} does not say when or by which harness version the verdict was computed "
                "(written before etcd-harness recorded it); `etcd-harness check --run` re-checks it.")
    again = results.get("rechecked")
    if isinstance(again, dict):
        before = again.get("previous_valid", None)
        was = f"; before, it was {verdict_word(before)}" if "previous_valid" in again and before is not None else ""
        text += f" Re-checked: {short_text(again.get('why') or 'asked for', 200)}{was}."
    ran_by = run.config.get("harness_version")
    if ran_by and ran_by != version:
        text += f" The run itself was made by etcd-harness {short_text(ran_by, 40)}."
    return f'<p class="stamp muted">{esc(text)}</p>'


def _fault_problems(results: dict[str, Any]) -> str:
    """``fault_problems``: faults that could not be applied, verified or healed as planned."""
    problems = [p for p in results.get("fault_problems") or [] if isinstance(p, dict)]
    if not problems:
        return ""
    items = "".join(
        f"<li><b>{esc(_fmt_us(us(p.get('time'))))}</b> · {esc(short_text(p.get('f', '?'), 60))}: "
        f"{esc(short_text(p.get('problem', ''), 500))}</li>"
        for p in problems[:MAX_NEMESIS_ROWS]
    )
    left = len(problems) - MAX_NEMESIS_ROWS
    more = f"<li>… {left} more in {RESULTS}</li>" if left > 0 else ""
    return (
        f'<div class="fault-problems" id="fault-problems"><b>Faults that went wrong ({len(problems)})</b>: '
        "the nemesis did not do all it planned, so this run tested less than its config says."
        f"<ul>{items}{more}</ul></div>"
    )


def _lost_locks_box(lost: list[dict[str, Any]]) -> str:
    if not lost:
        return ""
    items = []
    for x in lost:
        when = f"<b>{esc(_fmt_us(x['t']))}</b> · " if x["t"] is not None else ""
        key = f" on lock {esc(x['key'])}" if x["key"] else ""
        more = f' <span class="muted">{esc(x["more"])}</span>' if x["more"] else ""
        items.append(f"<li>{when}p{esc(x['p'])}{key}: {esc(x['why'])}{more} "
                     f'<span class="muted">(reported by {esc(", ".join(x["by"]))})</span></li>')
    return (f'<div class="finding" id="lost-locks"><b>Locks lost while held ({len(lost)})</b>: the holder\'s lease '
            "or lock ended before it released it, so another process could take the lock."
            f"<ul>{''.join(items)}</ul></div>")


def _number(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) else None


def _rate(stats: dict[str, Any], config: dict[str, Any]) -> str | None:
    achieved, offered = _number(stats.get("ops_per_s")), _number(stats.get("offered_ops_per_s"))
    phase = _number(stats.get("op_phase_s"))
    if achieved is None:
        return None
    text = f"{achieved:g} ops/s achieved"
    if offered:
        text += f" of {offered:g} offered ({achieved / offered:.0%})"
    elif _number(config.get("rate")):
        text += f" (target rate {config['rate']:g} ops/s)"
    if phase is not None:
        text += f" over {phase:g} s of ops"
    return text


def _run_facts(run: RunFiles, payload: dict[str, Any]) -> str:
    """Throughput (achieved against offered), latency and the run's timing, in a few lines."""
    results = run.results or {}
    stats, timing = _as_dict(results.get("stats")), _as_dict(results.get("timing"))
    rows = []
    rate = _rate(stats, run.config)
    if rate:
        rows.append(("rate", rate))
    by_type = stats.get("by_type")
    if isinstance(stats.get("ops"), int):
        kinds = (f" ({', '.join(f'{short_text(v, 20)} {short_text(k, 20)}' for k, v in by_type.items())})"
                 if isinstance(by_type, dict) and by_type else "")
        rows.append(("client ops", f"{stats['ops']}{kinds}"))
    median, p99 = _number(stats.get("latency_ms_median")), _number(stats.get("latency_ms_p99"))
    if median is not None:
        rows.append(("latency", f"median {median:g} ms" + (f", p99 {p99:g} ms" if p99 is not None else "")))
    shown = [f"{label} {_seconds(timing[key])}" for key, label in _TIMING_LABELS.items() if key in timing]
    shown += [f"{short_text(k, 40)} {_seconds(v)}" for k, v in timing.items() if k not in _TIMING_LABELS]
    if shown:
        rows.append(("timing", " · ".join(shown)))
    if not rows:
        return ""
    body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    return f'<table class="kv run-facts">{body}</table>'


def _config_section(run: RunFiles) -> str:
    config = run.config
    if not config:
        return f'<section id="config"><h2>Configuration</h2><p class="muted">{CONFIG} is missing.</p></section>'
    rows = []
    keys = [k for k in _CONFIG_LABELS if k in config] + [
        k for k in config if k not in _CONFIG_LABELS and k != "command"
    ]
    for key in keys:
        value = config[key]
        shown = f"<code>{esc(short_text(value, 400))}</code>" if isinstance(value, dict) else _config_value(key, value)
        rows.append(f"<tr><th>{esc(_CONFIG_LABELS.get(key, key))}</th><td>{shown}</td></tr>")
    command = config.get("command")
    if isinstance(command, list):
        command = " ".join(str(c) for c in command)
    reproduce = (
        f"<p><b>Reproduce:</b></p><pre>{esc(command)}</pre>"
        if command
        else f'<p class="muted">{CONFIG} records no command to reproduce this run.</p>'
    )
    return f'<section id="config"><h2>Configuration</h2><table class="kv">{"".join(rows)}</table>{reproduce}</section>'


def _fmt_us(t: Any) -> str:
    return "?" if t is None else f"{t / 1e6:.3f} s"


def _cluster_section(payload: dict[str, Any]) -> str:
    events = payload["nemesis"]["events"]
    rows = []
    for ev in events[:MAX_NEMESIS_ROWS]:
        leader = ""
        if ev["lb"] is not None or ev["la"] is not None:
            leader = f"{ev['lb'] or '?'} → {ev['la'] or '?'}"
        outcome = f'<span class="badge invalid">error</span> {esc(ev["err"])}' if ev["err"] else esc(ev["info"])
        rows.append(
            f"<tr><td>{esc(_fmt_us(ev['s']))}</td><td>{esc(_fmt_us(ev['e']))}</td><td>{esc(ev['f'])}</td>"
            f'<td>{esc(", ".join(ev["nodes"]))}</td><td>{esc(leader)}</td><td class="mono">{outcome}</td></tr>'
        )
    more = (
        f'<p class="muted">{len(events) - MAX_NEMESIS_ROWS} more in {HISTORY}.</p>'
        if len(events) > MAX_NEMESIS_ROWS
        else ""
    )
    table = (
        f"<details><summary>Nemesis ops ({len(events)})</summary><table><tr><th>invoked</th><th>completed</th>"
        "<th>f</th><th>nodes</th><th>leader before → after</th><th>outcome</th></tr>"
        f"{''.join(rows)}</table>{more}</details>"
        if events
        else '<p class="muted">The nemesis did nothing in this run.</p>'
    )
    return (
        f'<section id="cluster"><h2>Leader changes and node events</h2><div id="cluster-body"></div>{table}</section>'
    )


def _logs_section(run: RunFiles) -> str:
    if not run.node_logs:
        return (
            '<section id="logs"><h2>Node logs</h2><p class="muted">No node logs were saved for this run.</p></section>'
        )
    items = []
    for log in run.node_logs:
        href = urllib.parse.quote(log.relpath)
        counts = ", ".join(f"{n} {esc(level)}" for level, n in sorted(log.level_counts.items()))
        excerpt = ""
        if log.excerpt:
            lines = "\n".join(log.excerpt)
            excerpt = (
                f"<details><summary>last {len(log.excerpt)} warning/error lines</summary>"
                f'<pre class="excerpt">{esc(lines)}</pre></details>'
            )
        items.append(
            f'<li><a href="{esc(href)}">{esc(log.node)}: {esc(log.relpath)}</a> '
            f'<span class="muted">{log.size / 1024:.0f} KiB{"; " + counts if counts else ""}</span>{excerpt}</li>'
        )
    return f'<section id="logs"><h2>Node logs</h2><ul class="logs">{"".join(items)}</ul></section>'


def _details_section(run: RunFiles) -> str:
    results = run.results or {}
    parts = []
    stats = results.get("stats")
    if isinstance(stats, dict) and stats:
        rows = "".join(
            f"<tr><th>{esc(short_text(k, 80))}</th><td>{esc(short_text(v, 300))}</td></tr>" for k, v in stats.items()
        )
        parts.append(f'<h3>Stats</h3><table class="kv">{rows}</table>')
    checkers = results.get("checkers")
    if isinstance(checkers, dict):
        for name, res in checkers.items():
            text = json.dumps(res, indent=1, default=str, ensure_ascii=False)
            if len(text) > MAX_DETAILS_CHARS:
                text = text[:MAX_DETAILS_CHARS] + f"\n… (cut; the rest is in {RESULTS})"
            parts.append(
                f"<details><summary>{esc(short_text(name, 80))}: checker output</summary>"
                f"<pre>{esc(text)}</pre></details>"
            )
    if not parts:
        return ""
    return f'<section id="details"><h2>Checker details</h2>{"".join(parts)}</section>'


def _checker_sections(payload: dict[str, Any], run: RunFiles) -> tuple[list[str], list[tuple[str, str]]]:
    html_parts: list[str] = []
    nav: list[tuple[str, str]] = []
    if payload["linear"]:
        failures = sum(len(c["failures"]) for c in payload["linear"])
        intro = (
            '<p class="muted">One row per process, each op a bar from call to return, ordered by call and return '
            "events (like Porcupine); the rows above show faults and the leader. Numbered dots are the longest "
            "linearizable order with the model state after each step; the op outlined in red cannot be placed "
            "after it. The diagram opens on that op (scroll sideways for earlier ones); below it, the failing "
            "window and the minimal reproducer on their own. Hover an op for all of it.</p>"
            if failures
            else "<p>No linearizability failure to draw.</p>"
        )
        html_parts.append(f'<section id="linear"><h2>Linearizability</h2>{intro}<div id="linear-body"></div></section>')
        nav.append(("linear", "Linearizability"))
    if payload["elle"]:
        found = sum(len(c["anomalies"]) for c in payload["elle"])
        intro = (
            '<p class="muted">Transactions checked with Elle\'s method: each anomaly is a cycle of dependencies '
            "between transactions (or a single bad read), drawn as a graph: an arrow T1 → T2 says T1 must come "
            "before T2, labelled with why (ww: T2 overwrote T1's write, wr: T2 read it, rw: T1 read a version T2 "
            "overwrote, process, realtime) and the key. Below each graph, its transactions on a time axis; the "
            "buttons open them in the timeline.</p>"
            if found
            else "<p>No transactional anomaly.</p>"
        )
        html_parts.append(f'<section id="elle"><h2>Transactions</h2>{intro}<div id="elle-body"></div></section>')
        nav.append(("elle", "Transactions"))
    if payload["mutex"]:
        html_parts.append(
            '<section id="locks"><h2>Lock holds</h2><p class="muted">Each bar is one process holding the lock; '
            "red bars overlap another hold, shaded red is the overlap. Dashed bars were never released.</p>"
            '<div id="locks-body"></div></section>'
        )
        nav.append(("locks", "Locks"))
    if payload["counter"]:
        html_parts.append(
            '<section id="counter"><h2>Counter reads</h2><p class="muted">Each read against the range of values '
            'it was allowed to see.</p><div id="counter-body"></div></section>'
        )
        nav.append(("counter", "Counter"))
    return html_parts, nav


def render_report(run: RunFiles) -> str:
    """The whole page as a string."""
    payload = build_payload(run)
    checker_html, checker_nav = _checker_sections(payload, run)
    nav = [
        ("verdict", "Verdict"),
        ("config", "Configuration"),
        ("perf", "Latency"),
        ("timeline", "Timeline"),
        *checker_nav,
        ("cluster", "Cluster"),
        ("logs", "Node logs"),
    ]
    name = run.config.get("name") or run.run_dir.name
    overall = verdict_word((run.results or {}).get("valid"))
    omitted = (
        f'<p class="muted">{payload["omitted"]} of {payload["opsTotal"]} ok ops are left out of this page '
        f"to keep it small (every fail, info and unfinished op is here); {HISTORY} has them all.</p>"
        if payload["omitted"]
        else ""
    )
    details = _details_section(run)
    generated = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    # Each inline element is a newline, then the file; the policy hashes exactly the text inlined.
    script = "\n" + asset("report.js")
    return "".join(
        [
            '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f'<meta http-equiv="Content-Security-Policy" content="{esc(content_security_policy(script))}">',
            f"<title>{esc(overall)} · {esc(short_text(name, 120))} · etcd-harness</title>",
            f"<style>\n{asset('report.css')}</style></head><body>",
            _header(run, payload),
            _nav(nav + ([("details", "Details")] if details else [])),
            '<div id="script-errors" hidden><b>Part of this page failed to draw:</b><ul></ul></div>',
            "<main>",
            _verdict_section(run, payload),
            _config_section(run),
            '<section id="perf"><h2>Latency and throughput</h2>'
            "<noscript><p>The charts need JavaScript.</p></noscript>"
            f'{omitted}<div id="perf-charts"></div></section>',
            '<section id="timeline"><h2>Timeline</h2><p class="muted">One column per process, time flowing down; '
            "each box is an op from call to return (green ok, pink fail, orange info, dashed never completed). "
            "Hover a box for details. Pages of 300 ops; jump to the next fail/info op.</p>"
            '<div id="timeline-body"></div></section>',
            *checker_html,
            _cluster_section(payload),
            _logs_section(run),
            details,
            f'<p class="muted">Generated {esc(generated)} by etcd-harness.</p>',
            "</main>",
            json_script("report-data", payload),
            f"<script>{script}</script>",
            "</body></html>\n",
        ]
    )


def write_report(run_dir: Path) -> Path:
    """Write ``run_dir/report.html`` from whatever the run left, and return its path.

    Missing or truncated files do not stop it: the page says what is missing.
    Raises :class:`~harness.InputError` only if ``run_dir`` is not a directory.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(run_dir, None, "not a run directory; pass a directory such as results/latest")
    out = RunDir(run_dir).report
    write_atomically(out, render_report(load_run(run_dir)))
    return out
