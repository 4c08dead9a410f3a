"""``etcd-harness check``: the linearizability verdict on history files.

Prints one verdict line per file with its check time, then, for each file that
is not linearizable, the explanation. Returns the exit code (see ``_errors``):
0 all valid, 1 some invalid, 3 some file unreadable (and none invalid),
5 some unknown (and none invalid or unreadable), 2 bad arguments.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

from checkers import MODELS, CheckContext, LinearizabilityChecker
from checkers.linearizable import unsupported_ops
from harness.core import (
    EXIT_INPUT,
    EXIT_INVALID,
    EXIT_UNKNOWN,
    EXIT_USAGE,
    EXIT_VALID,
    FORMATS,
    HistoryFormatError,
    read_history_lines,
)


def check_command(
    paths: list[str],
    model: str,
    fmt: str,
    time_limit: float,
    memory_limit_mb: int,
    as_json: bool = False,
    minimal_out: str | None = None,
) -> int:
    """Check every file in ``paths`` against ``model``; print verdicts; return the exit code.

    ``minimal_out``: a path to write the minimal reproducer of the first failure to, as
    JSONL that re-checks as not linearizable (for a bug report); one input file only.
    """

    out, err = sys.stdout, sys.stderr
    if model not in MODELS:
        print(f"error: no model {model!r}; use --model with one of: {', '.join(sorted(MODELS))}", file=err)
        return EXIT_USAGE
    if fmt not in FORMATS:
        print(f"error: no format {fmt!r}; use --format with one of: {', '.join(FORMATS)}", file=err)
        return EXIT_USAGE
    if not paths:
        print("error: give at least one history file", file=err)
        return EXIT_USAGE
    if time_limit < 0 or memory_limit_mb < 0:
        print("error: --time-limit and --memory-limit must be 0 (none) or positive", file=err)
        return EXIT_USAGE
    if minimal_out is not None and len(paths) != 1:
        print("error: --minimal-out takes one history file; check the others separately", file=err)
        return EXIT_USAGE

    checker = LinearizabilityChecker(model)
    ctx = CheckContext(time_limit=time_limit, memory_limit=memory_limit_mb * 2**20)
    verdicts: list[str] = []
    for path in paths:
        started = time.perf_counter()
        try:
            history, lines = read_history_lines(path, fmt)
            bad = unsupported_ops(checker.model, history)
            if bad:
                pos, problem = bad[0]
                raise HistoryFormatError(path, lines[pos] if pos < len(lines) else None, problem)
        except HistoryFormatError as e:
            verdicts.append("input")
            print(f"{path}: input error: {e.detail}" + (f" (line {e.line})" if e.line else ""), file=err)
            if as_json:
                _json_line(out, {"file": path, "valid": None, "error": str(e)})
            continue
        result = checker.check(history, ctx)
        elapsed = time.perf_counter() - started
        if minimal_out is not None and result.valid is False:
            written = write_minimal(result.details, minimal_out)
            print(written, file=err)
        verdicts.append("valid" if result.valid is True else "invalid" if result.valid is False else "unknown")
        if as_json:
            _json_line(out, {"file": path, "time_s": round(elapsed, 6), **result.to_json()})
            continue
        word = {"valid": "linearizable", "invalid": "NOT linearizable", "unknown": "unknown"}[verdicts[-1]]
        why = "" if result.valid is True else f": {result.reason}"
        print(f"{path}: {word} in {elapsed:.3f} s ({len(history)} events){why}", file=out)
        if result.valid is False:
            for failure in result.details.get("failures", []):
                print_failure(failure, out)
    out.flush()
    if "invalid" in verdicts:
        return EXIT_INVALID
    if "input" in verdicts:
        return EXIT_INPUT
    if "unknown" in verdicts:
        return EXIT_UNKNOWN
    return EXIT_VALID


def write_minimal(details: dict[str, Any], path: str) -> str:
    """Write the first failure's minimal reproducer to ``path`` as JSONL; say what was done."""
    minimal = next((f["minimal"] for f in details.get("failures", []) if "minimal" in f), None)
    if minimal is None:
        return f"no minimal reproducer to write to {path} (shrinking found none in its time)"
    try:
        with open(path, "w", encoding="utf-8") as f:
            for op in minimal["history"]:
                f.write(json.dumps(op, default=str) + "\n")
    except OSError as e:
        return f"cannot write the minimal reproducer to {path}: {e.strerror or e}"
    return f"minimal reproducer ({minimal['size']} ops) written to {path}"


def _json_line(out: TextIO, data: dict[str, Any]) -> None:
    out.write(json.dumps(data, default=str) + "\n")


def _t(ns: int | None) -> str:
    return "-" if ns is None else f"{ns / 1e9:.6f}s"


def print_failure(failure: dict[str, Any], out: TextIO) -> None:
    """The explanation of one failed partition, for a person."""
    key = failure.get("key")
    print(f"  key {key}:" if key is not None else "  the history:", file=out)
    for op in failure["unlinearizable"]:
        when = f", invoked {_t(op['invoke_time'])}, completed {_t(op['complete_time'])}" if op["invoke_time"] else ""
        print(f"    cannot linearize op {op['index']} (process {op['process']}, {op['description']}{when})", file=out)
        print(f"      why: {op['why']}", file=out)
    prefix = failure["longest_prefix"]
    states = failure["prefix_states"]
    tail = ", ".join(f"{i} → {s}" for i, s in zip(prefix[-6:], states[-6:], strict=True))
    more = "… " if len(prefix) > 6 else ""
    print(f"    longest linearizable prefix: {len(prefix)} ops (op → state): {more}{tail}", file=out)
    window = failure["window"]
    timed = bool(window["end_time"])
    print(f"    window ({len(window['ops'])} ops):", file=out)
    for op in window["ops"]:
        when = f" [{_t(op['invoke_time'])} .. {_t(op['complete_time'])}]" if timed else ""
        print(f"      {op['index']:>6}  p{op['process']!s:<4} {op['type']:<5} {op['description']}{when}", file=out)
    hidden = failure.get("pending_info_before_window", 0)
    if hidden:
        print(f"      (+ {hidden} info ops invoked earlier that may take effect anywhere)", file=out)
    minimal = failure.get("minimal")
    if minimal:
        how = (
            "1-minimal: dropping any one op makes it linearizable or changes the failure"
            if minimal["complete"]
            else "the smallest found before the time ran out"
        )
        print(
            f"    minimal reproducer: {minimal['size']} of {minimal['original_size']} ops, not linearizable ({how}; "
            f"shrunk in {minimal['shrunk_in_s']:.2f} s):",
            file=out,
        )
        timed = any(op["invoke_time"] for op in minimal["ops"])
        for op in minimal["ops"]:
            when = f" [{_t(op['invoke_time'])} .. {_t(op['complete_time'])}]" if timed else ""
            print(f"      {op['index']:>6}  p{op['process']!s:<4} {op['type']:<5} {op['description']}{when}", file=out)
