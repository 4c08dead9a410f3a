"""``results/index.html``: every run in a results directory, newest first.

A run directory is any directory up to five levels below the results root
(``<test>/<timestamp>/``, or a suite entry's ``<suite>/<timestamp>/<entry>/<timestamp>/``)
holding a ``config.json``, ``results.json`` or ``history.jsonl``. Symbolic links
(``latest``) are not followed, so no run is listed twice. Each run that is not
valid says why: its first failing checker's reason. The table reads without
JavaScript; the script adds filters by verdict, workload and text.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.core import CONFIG, HISTORY, INDEX, REPORT, RESULTS, InputError, RunDir, write_atomically
from harness.report._assets import asset
from harness.report._data import short_text
from harness.report._html import content_security_policy, esc
from harness.report._page import verdict_word

_RUN_FILES = (CONFIG, RESULTS, HISTORY)
_MAX_DEPTH = 5


@dataclass(slots=True)
class RunSummary:
    relpath: str
    name: str
    verdict: str
    workload: str
    nemesis: str
    started: float  # seconds since the epoch, for sorting
    started_text: str
    duration: str
    ops: int | None
    has_report: bool
    why: str  # for an invalid or unknown run: the first failing checker's reason


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _count_invocations(path: Path) -> int | None:
    """Invocations in ``history.jsonl`` (client and nemesis), counted without parsing."""
    try:
        with path.open("rb") as f:
            return sum(chunk.count(b'"type":"invoke"') for chunk in iter(lambda: f.read(1 << 20), b""))
    except OSError:
        return None


def why_not_valid(results: dict[str, Any] | None) -> str:
    """Why a run is not valid, in one line: the first invalid checker's reason, else the first unknown
    one's, else the run's own reason (an interrupt, a crash); "" for a valid run."""
    if results is None:
        return f"no {RESULTS}: the run may have crashed before checking"
    if results.get("valid") is True:
        return ""
    checkers = results.get("checkers")
    named = [(n, c) for n, c in checkers.items() if isinstance(c, dict)] if isinstance(checkers, dict) else []
    for wanted in (False, None):
        for name, c in named:
            if (c.get("valid") is False) if wanted is False else (c.get("valid") not in (True, False)):
                return f"{name}: {c.get('reason') or verdict_word(c.get('valid'))}"
    reason = results.get("reason")
    if reason:
        return str(reason)
    return "no checker gave a reason" if named else f"{RESULTS} names no checkers"


def _started(config: dict[str, Any], run_dir: Path) -> float:
    text = config.get("started_at")
    if isinstance(text, str):
        try:
            return _dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    try:
        return run_dir.stat().st_mtime
    except OSError:
        return 0.0


def _summarise(root: Path, run_dir: Path) -> RunSummary:
    files = RunDir(run_dir)
    config = _read_json(files.config)
    results = _read_json(files.results) if files.results.exists() else None
    stats = (results or {}).get("stats")
    ops = stats.get("ops") if isinstance(stats, dict) else None
    if not isinstance(ops, int) or isinstance(ops, bool):
        ops = _count_invocations(files.history) if files.history.exists() else None
    nemesis = config.get("nemesis")
    timing = (results or {}).get("timing")
    duration = config.get("duration_s", timing.get("total_s") if isinstance(timing, dict) else None)
    started = _started(config, run_dir)
    return RunSummary(
        relpath=run_dir.relative_to(root).as_posix(),
        name=short_text(config.get("name") or run_dir.parent.name, 120),
        verdict=verdict_word(results.get("valid")) if results is not None else "unknown",
        workload=short_text(config.get("workload") or "?", 60),
        nemesis=", ".join(short_text(n, 40) for n in nemesis)
        if isinstance(nemesis, list)
        else short_text(nemesis or "none", 80),
        started=started,
        started_text=_dt.datetime.fromtimestamp(started, _dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if started else "?",
        duration=f"{duration:.1f} s" if isinstance(duration, int | float) and not isinstance(duration, bool) else "?",
        ops=ops,
        has_report=files.report.exists(),
        why=short_text(" ".join(why_not_valid(results).split()), 300),
    )


def find_runs(root: Path) -> list[Path]:
    """Run directories under ``root``, not following symbolic links."""
    runs: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        depth = len(here.relative_to(root).parts)
        if here != root and any(name in filenames for name in _RUN_FILES):
            runs.append(here)
            dirnames.clear()  # a run's own subdirectories (nodes/) are not runs
            continue
        if depth >= _MAX_DEPTH:
            dirnames.clear()
        dirnames[:] = sorted(d for d in dirnames if not (here / d).is_symlink())
    return runs


def render_index(root: Path) -> str:
    runs = sorted((_summarise(root, d) for d in find_runs(root)), key=lambda r: (r.started, r.relpath), reverse=True)
    rows = []
    for r in runs:
        href = urllib.parse.quote(r.relpath + "/" + (REPORT if r.has_report else ""))
        link = f'<a href="{esc(href)}">{esc(r.name)}</a>' + (
            "" if r.has_report else ' <span class="muted">(no report)</span>'
        )
        rows.append(
            f'<tr data-verdict="{esc(r.verdict)}" data-workload="{esc(r.workload)}">'
            f'<td><span class="badge {esc(r.verdict)}">{esc(r.verdict)}</span></td>'
            f'<td class="name">{link}<br><span class="muted">{esc(r.relpath)}</span></td>'
            f"<td>{esc(r.workload)}</td><td>{esc(r.nemesis)}</td><td>{esc(r.started_text)}</td>"
            f"<td>{esc(r.duration)}</td><td>{'?' if r.ops is None else r.ops}</td>"
            f'<td class="why">{esc(r.why)}</td></tr>'
        )
    workloads = sorted({r.workload for r in runs})
    workload_options = "".join(f'<option value="{esc(w)}">{esc(w)}</option>' for w in workloads)
    counts = {v: sum(1 for r in runs if r.verdict == v) for v in ("valid", "invalid", "unknown")}
    summary = ", ".join(f"{n} {v}" for v, n in counts.items() if n) or "no runs yet"
    body = (
        f'<table id="runs"><thead><tr><th>verdict</th><th>run</th><th>workload</th><th>nemesis</th>'
        f"<th>started (UTC)</th><th>duration</th><th>ops</th><th>why not valid</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
        if runs
        else '<p class="muted">No runs in this directory yet.</p>'
    )
    # Each inline element is a newline, then the file; the policy hashes exactly the text inlined.
    script = "\n" + asset("index.js")
    return "".join(
        [
            '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f'<meta http-equiv="Content-Security-Policy" content="{esc(content_security_policy(script))}">',
            "<title>etcd-harness runs</title>",
            f"<style>\n{asset('report.css')}\n{asset('index.css')}</style></head><body>",
            f'<header><h1>etcd-harness runs</h1><div class="muted">{len(runs)} runs: {esc(summary)}</div></header>',
            "<main><section>",
            '<div id="filters" hidden><label>verdict <select id="filter-verdict"><option value="">any</option>'
            '<option value="invalid">invalid</option><option value="unknown">unknown</option>'
            '<option value="valid">valid</option></select></label>'
            '<label>workload <select id="filter-workload"><option value="">any</option>'
            f"{workload_options}</select></label>"
            '<label>text <input id="filter-text" type="search" placeholder="name, nemesis…"></label>'
            '<span id="filter-count" class="muted"></span></div>',
            body,
            "</section></main>",
            f"<script>{script}</script>",
            "</body></html>\n",
        ]
    )


def write_index(results_root: Path) -> Path:
    """Write ``results_root/index.html`` listing every run below it, and return its path."""
    results_root = Path(results_root)
    if not results_root.is_dir():
        raise InputError(results_root, None, "not a results directory; pass the directory given to --results-dir")
    out = results_root / INDEX
    write_atomically(out, render_index(results_root))
    return out
