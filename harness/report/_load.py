"""Reading a run directory for the report, tolerantly.

A run may have crashed half way, so every file is optional and a JSONL file may
end in a torn line. :func:`load_run` never raises for bad content: it reads
what it can and records, in :attr:`RunFiles.problems`, one sentence per thing
that is missing or unreadable, which the page shows near the top.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core import HISTORY, LEADERS, NODE_LOG, NODES, History, Op, RunDir, op_from_json

#: How much of the end of each node log is scanned for warnings and errors.
LOG_TAIL_BYTES = 1 << 20
#: How many warning/error lines per node log the page quotes.
LOG_EXCERPT_LINES = 12
_LOG_LEVELS_OF_INTEREST = ("warn", "error", "panic", "fatal", "dpanic")


@dataclass(slots=True)
class NodeLog:
    """One node's log (``nodes/<n>/etcd.log``): where it is (relative to the run dir) and what stands out."""

    node: str
    relpath: str
    size: int
    level_counts: dict[str, int] = field(default_factory=dict)
    excerpt: list[str] = field(default_factory=list)  # the last warning/error lines, raw text


@dataclass(slots=True)
class RunFiles:
    """Everything the report reads from one run directory."""

    run_dir: Path
    config: dict[str, Any] = field(default_factory=dict)
    results: dict[str, Any] | None = None
    history: History = field(default_factory=History)
    leaders: list[tuple[int, str | None]] = field(default_factory=list)  # (time ns, leader or None)
    node_logs: list[NodeLog] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _read_json_object(path: Path, problems: list[str]) -> dict[str, Any] | None:
    if not path.exists():
        problems.append(f"{path.name} is missing.")
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError) as e:
        problems.append(f"{path.name} could not be read ({type(e).__name__}: {e}).")
        return None
    if not isinstance(data, dict):
        problems.append(f"{path.name} does not hold a JSON object.")
        return None
    return data


def _read_history(path: Path, problems: list[str]) -> History:
    if not path.exists():
        problems.append(f"{HISTORY} is missing, so there are no ops to draw.")
        return History()
    ops: list[Op] = []
    bad_lines: list[int] = []
    with path.open("r", encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                if not isinstance(d, dict):
                    raise ValueError("not an object")
                ops.append(op_from_json(d))
            except (ValueError, KeyError, TypeError):
                bad_lines.append(lineno)
    if bad_lines:
        shown = ", ".join(str(n) for n in bad_lines[:5]) + (" …" if len(bad_lines) > 5 else "")
        problems.append(
            f"{HISTORY}: {len(bad_lines)} line(s) could not be read (line {shown}); "
            f"a run that crashed may leave a torn last line. {len(ops)} ops were read."
        )
    return History(ops)


def _read_leaders(path: Path, problems: list[str]) -> list[tuple[int, str | None]]:
    if not path.exists():
        return []
    out: list[tuple[int, str | None]] = []
    bad = 0
    with path.open("r", encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                leader = d.get("leader")
                out.append((int(d["time"]), None if leader is None else str(leader)))
            except (ValueError, KeyError, TypeError, AttributeError):
                bad += 1
    if bad:
        problems.append(f"{LEADERS}: {bad} line(s) could not be read.")
    out.sort(key=lambda p: p[0])
    return out


def _level_of(line: str) -> str | None:
    """The log level of one etcd log line: zap JSON (``"level":"warn"``) or console text."""
    stripped = line.lstrip()
    if stripped.startswith("{"):
        try:
            d = json.loads(stripped)
        except ValueError:
            return None
        level = d.get("level") if isinstance(d, dict) else None
        return str(level).lower() if level is not None else None
    lowered = stripped[:80].lower()
    for level in _LOG_LEVELS_OF_INTEREST:
        if f" {level} " in lowered or f"\t{level}\t" in lowered:
            return level
    return None


def _read_node_log(run_dir: Path, log: Path) -> NodeLog:
    node = log.parent.name
    size = log.stat().st_size
    counts: dict[str, int] = {}
    interesting: list[str] = []
    with log.open("rb") as f:
        if size > LOG_TAIL_BYTES:
            f.seek(size - LOG_TAIL_BYTES)
            f.readline()  # drop the partial first line
        for raw in f:
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            level = _level_of(line)
            if level is None:
                continue
            counts[level] = counts.get(level, 0) + 1
            if level in _LOG_LEVELS_OF_INTEREST:
                interesting.append(line[:600])
    return NodeLog(
        node=node,
        relpath=log.relative_to(run_dir).as_posix(),
        size=size,
        level_counts=counts,
        excerpt=interesting[-LOG_EXCERPT_LINES:],
    )


def _node_sort_key(name: str) -> tuple[str, int]:
    digits = "".join(ch for ch in name if ch.isdigit())
    return (name.rstrip("0123456789"), int(digits) if digits else 0)


def load_run(run_dir: Path) -> RunFiles:
    """Read ``config.json``, ``results.json``, ``history.jsonl``, ``leaders.jsonl`` and node logs."""
    problems: list[str] = []
    files = RunDir(run_dir)
    config = _read_json_object(files.config, problems) or {}
    results = _read_json_object(files.results, problems)
    if results is None:
        problems[-1] += " There is no verdict: the run may have crashed before checking."
    history = _read_history(files.history, problems)
    leaders = _read_leaders(files.leaders, problems)
    logs: list[NodeLog] = []
    if files.nodes.is_dir():
        node_dirs = sorted((p for p in files.nodes.iterdir() if p.is_dir()), key=lambda p: _node_sort_key(p.name))
        for node_dir in node_dirs:
            log = files.node_log(node_dir.name)
            if log.is_file():
                try:
                    logs.append(_read_node_log(run_dir, log))
                except OSError as e:
                    problems.append(f"{log.relative_to(run_dir)} could not be read ({e}).")
            else:
                problems.append(f"{log.relative_to(run_dir).as_posix()} is missing.")
    else:
        problems.append(f"There are no node logs ({NODES}/<n>/{NODE_LOG}).")
    return RunFiles(
        run_dir=run_dir,
        config=config,
        results=results,
        history=history,
        leaders=leaders,
        node_logs=logs,
        problems=problems,
    )
