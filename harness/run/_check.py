"""``etcd-harness check``: the linearizability verdict on history files; with ``--model
list-append|rw-register``, the transactional verdict (Elle's method, ``checkers.elle``).

Prints one verdict line per file with its check time, then, for each file that
is not linearizable, the explanation. Returns the exit code (see ``_errors``):
0 all valid, 1 some invalid, 3 some file unreadable (and none invalid),
5 some unknown (and none invalid or unreadable), 2 bad arguments.

Limits: ``time_limit`` and ``memory_limit_mb`` cover each file's reading as well as
its check (the file is read line by line and the limits are checked as it goes):
past either, the verdict is ``unknown``, with the reason.

Input: a history must be well-formed (the rules in ``harness.core._formats``); a
file that breaks a rule is an input error naming the line and the rule. With
``lenient``, such lines are skipped and the command says how many and why.

Reproducers: ``minimal_out`` writes the first failure's minimal reproducer as JSONL,
its first line a header with the model state it starts from
(``{"reproducer": {"model", "key", "initial_state", "fails_on", "why", ...}}``); checking
that file starts from that state, and says whether it fails as recorded.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import checkers
from checkers import (
    CONSISTENCY_MODELS,
    MODELS,
    CheckContext,
    Checker,
    LinearizabilityChecker,
)
from checkers.linearizable import LimitReached, budget_for, check_budget, reproducer_header, unsupported_ops
from harness.core import (
    EXIT_INPUT,
    EXIT_INVALID,
    EXIT_UNKNOWN,
    EXIT_USAGE,
    EXIT_VALID,
    FORMATS,
    History,
    HistoryFormatError,
    read_history_lines,
)

#: ``--model`` names of transactional histories, checked with Elle's method (``checkers.elle``).
#: Each names its checker class in :mod:`checkers`, loaded only when asked for (it imports networkx).
TXN_MODELS: dict[str, str] = {
    "list-append": "ListAppendChecker",
    "rw-register": "RwRegisterChecker",
}

#: The defaults of ``etcd-harness check`` (shown in its ``--help``).
DEFAULT_TIME_LIMIT_S = 60.0
DEFAULT_MEMORY_MB = 2048


def check_command(
    paths: list[str],
    model: str,
    fmt: str,
    time_limit: float = DEFAULT_TIME_LIMIT_S,
    memory_limit_mb: int = DEFAULT_MEMORY_MB,
    as_json: bool = False,
    minimal_out: str | None = None,
    lenient: bool = False,
    consistency_model: str = "strict-serializable",
    shrink: bool = True,
) -> int:
    """Check every file in ``paths`` against ``model``; print verdicts; return the exit code.

    ``minimal_out``: a path to write the minimal reproducer of the first failure to, as
    JSONL that re-checks as failing on the same op for the same reason (for a bug report);
    one input file only. ``lenient``: skip the lines that break the input rules.
    ``shrink``: shrink the first failure of each file to a minimal reproducer (``False``:
    ``--no-shrink``, no ``minimal`` and no reproducer for ``minimal_out``).
    ``model`` ``list-append`` or ``rw-register``: transactions, checked with Elle's method
    against ``consistency_model`` (one of ``CONSISTENCY_MODELS``).
    """

    out, err = sys.stdout, sys.stderr
    if model not in MODELS and model not in TXN_MODELS:
        names = ", ".join(sorted([*MODELS, *TXN_MODELS]))
        print(f"error: no model {model!r}; use --model with one of: {names}", file=err)
        return EXIT_USAGE
    if consistency_model not in CONSISTENCY_MODELS:
        print(f"error: no consistency model {consistency_model!r}; use --consistency-model with one of: "
              f"{', '.join(CONSISTENCY_MODELS)}", file=err)
        return EXIT_USAGE
    if fmt not in FORMATS:
        print(f"error: no format {fmt!r}; use --format with one of: {', '.join(FORMATS)}", file=err)
        return EXIT_USAGE
    if not paths:
        print("error: give at least one history file", file=err)
        return EXIT_USAGE
    if time_limit < 0 or memory_limit_mb < 0:
        print("error: --time-limit and --memory-mb must be 0 (none) or positive", file=err)
        return EXIT_USAGE
    if minimal_out is not None and len(paths) != 1:
        print("error: --minimal-out takes one history file; check the others separately", file=err)
        return EXIT_USAGE
    if model in TXN_MODELS:
        if minimal_out is not None:
            print(f"error: --minimal-out is for linearizability models, not {model}; each anomaly of a "
                  "transactional check already names its few transactions", file=err)
            return EXIT_USAGE
        return _check_transactions(paths, getattr(checkers, TXN_MODELS[model])(consistency_model), fmt, time_limit,
                                   memory_limit_mb, as_json, lenient)

    checker = LinearizabilityChecker(model) if shrink else LinearizabilityChecker(model, shrink_seconds=0)
    verdicts: list[str] = []
    for path in paths:
        started = time.perf_counter()
        ctx = CheckContext(time_limit=time_limit, memory_limit=memory_limit_mb * 2**20, started=time.monotonic())
        try:
            history, lines = read_history_lines(path, fmt, lenient=lenient, progress=_limits(ctx))
            bad = unsupported_ops(checker.model, history)
            if bad:
                pos, problem = bad[0]
                raise HistoryFormatError(path, lines[pos] if pos < len(lines) else None, problem)
            _check_header(path, history, model)
        except (HistoryFormatError, LimitReached) as e:
            verdicts.append(_report_unreadable(path, e, time.perf_counter() - started, as_json))
            continue
        del lines
        skipped = history.meta.get("skipped")
        if skipped:
            print(f"{path}: {skipped_summary(skipped)}", file=err)
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
        replay = reproduced(history.meta.get("reproducer"), result.details)
        if replay:
            print(f"  {replay}", file=out)
        if result.valid is False:
            for failure in result.details.get("failures", []):
                print_failure(failure, out)
    out.flush()
    return _exit_code(verdicts)


def _check_transactions(paths: list[str], checker: Checker, fmt: str, time_limit: float, memory_limit_mb: int,
                        as_json: bool, lenient: bool) -> int:
    """``check --model list-append|rw-register``: Elle's verdict on each file, explained."""
    out, err = sys.stdout, sys.stderr
    verdicts: list[str] = []
    for path in paths:
        started = time.perf_counter()
        ctx = CheckContext(time_limit=time_limit, memory_limit=memory_limit_mb * 2**20, started=time.monotonic())
        try:
            history, lines = read_history_lines(path, fmt, lenient=lenient, progress=_limits(ctx))
        except (HistoryFormatError, LimitReached) as e:
            verdicts.append(_report_unreadable(path, e, time.perf_counter() - started, as_json))
            continue
        skipped = history.meta.get("skipped")
        if skipped:
            print(f"{path}: {skipped_summary(skipped)}", file=err)
        result = checker.check(history, ctx)
        elapsed = time.perf_counter() - started
        details = result.details
        if "input_error" in details:
            verdicts.append("input")
            pos = details.get("input_error_index", -1)
            where = f" (line {lines[pos]})" if 0 <= pos < len(lines) else ""
            print(f"{path}: input error: {details['input_error']}{where}", file=err)
            if as_json:
                _json_line(out, {"file": path, "valid": None, "error": details["input_error"]})
            continue
        del lines
        verdicts.append("valid" if result.valid is True else "invalid" if result.valid is False else "unknown")
        if as_json:
            _json_line(out, {"file": path, "time_s": round(elapsed, 6), **result.to_json()})
            continue
        print(f"{path}: {verdicts[-1]} in {elapsed:.3f} s ({details.get('txns', 0)} transactions): {result.reason}",
              file=out)
        print_anomalies(details, out)
    out.flush()
    return _exit_code(verdicts)


def _report_unreadable(path: str, e: HistoryFormatError | LimitReached, elapsed: float, as_json: bool) -> str:
    """Say why ``path`` has no verdict (bad input, or a limit reached while reading); its verdict word."""
    out, err = sys.stdout, sys.stderr
    if isinstance(e, HistoryFormatError):
        print(f"{path}: input error: {e.detail}" + (f" (line {e.line})" if e.line else ""), file=err)
        if as_json:
            _json_line(out, {"file": path, "valid": None, "error": str(e)})
        return "input"
    if as_json:
        _json_line(out, {"file": path, "time_s": round(elapsed, 6), "valid": "unknown", "reason": str(e)})
    else:
        print(f"{path}: unknown in {elapsed:.3f} s: {e}", file=out)
    return "unknown"


def _exit_code(verdicts: list[str]) -> int:
    """One exit code for all files: invalid ranks above bad input, bad input above unknown."""
    if "invalid" in verdicts:
        return EXIT_INVALID
    if "input" in verdicts:
        return EXIT_INPUT
    if "unknown" in verdicts:
        return EXIT_UNKNOWN
    return EXIT_VALID


def print_anomalies(details: dict[str, Any], out: TextIO, per_type: int = 3) -> None:
    """Each anomaly type found (at most ``per_type`` examples), explained from the ops."""
    counts = details.get("counts", {})
    forbidden = set(details.get("forbidden", []))
    if counts:
        ruled = ", ".join(details.get("not", [])) or "none"
        best = " or ".join(details.get("strongest_allowed", [])) or "none of them"
        print(f"  anomalies rule out: {ruled}; consistent at most with: {best}", file=out)
    shown: dict[str, int] = {}
    for anomaly in details.get("anomalies", []):
        kind = anomaly["type"]
        shown[kind] = shown.get(kind, 0) + 1
        if shown[kind] > per_type:
            continue
        allowed = "" if kind in forbidden else f" (allowed by {details.get('consistency_model')})"
        print(f"  {kind}{allowed}, ops {', '.join(str(i) for i in anomaly['ops'])}:", file=out)
        for sentence in anomaly["explanation"]:
            print(f"    {sentence}", file=out)
        for node in (anomaly.get("cycle") or {}).get("nodes", []):
            done = node["done_index"] if node["done_index"] is not None else "-"
            print(f"      {node['label']:>8} = ops {node['index']}..{done}, p{node['process']} {node['outcome']}: "
                  f"{node['mops']}", file=out)
    for kind, n in counts.items():
        if shown.get(kind, 0) < n and n > per_type:
            print(f"  ... {kind}: {n} in all", file=out)
    for u in details.get("unknown", []):
        print(f"  unknown ({u['search']}): {u['reason']}", file=out)


def _limits(ctx: CheckContext) -> Callable[[int], None]:
    """The reader's progress callback: raises :class:`LimitReached` once past ``ctx``'s limits."""
    budget = budget_for(ctx)

    def progress(line: int) -> None:
        try:
            check_budget(budget)
        except LimitReached as e:
            raise LimitReached(f"{e} while reading the file (at line {line})") from None

    return progress


def _check_header(path: str, history: History, model: str) -> None:
    """A reproducer written for another model is an input error that names the right one."""
    header = history.meta.get("reproducer")
    if isinstance(header, dict) and header.get("model") not in (None, model):
        raise HistoryFormatError(path, 1, f"this reproducer is for the {header['model']} model; "
                                          f"check it with --model {header['model']}")


def skipped_summary(skipped: dict[str, Any]) -> str:
    """What a lenient read skipped, in one line: how many lines, why, and the first one."""
    rules = ", ".join(f"{n} {rule}" for rule, n in sorted(skipped["by_rule"].items(), key=lambda kv: -kv[1]))
    first = skipped["first"][0] if skipped.get("first") else None
    where = f"; first, line {first['line']}: {first['message']}" if first else ""
    n = skipped["count"]
    return f"lenient: skipped {n} line{'' if n == 1 else 's'} that break the input rules ({rules}){where}"


def reproduced(header: Any, details: dict[str, Any]) -> str:
    """For a reproducer file: whether the check failed as its header says it should."""
    if not isinstance(header, dict) or header.get("fails_on") is None:
        return ""
    state = header.get("initial_state_description") or json.dumps(header.get("initial_state"))
    failures = details.get("failures") or []
    start = f"started from state {state} (recorded in the reproducer)"
    if failures:
        got = failures[0]["unlinearizable"][0]
        if got["index"] == header["fails_on"] and got["why"] == header.get("why"):
            return f"{start}; reproduces the recorded failure: op {got['index']}, for the same reason"
        return (f"{start}; does NOT reproduce the recorded failure (op {header['fails_on']}: {header.get('why')}); "
                f"it fails on op {got['index']}: {got['why']}")
    return f"{start}; does NOT reproduce the recorded failure (op {header['fails_on']}: {header.get('why')})"


def write_minimal(details: dict[str, Any], path: str) -> str:
    """Write the first failure's minimal reproducer to ``path`` as JSONL (a header line with the
    state it starts from, then its ops); say what was done."""
    failure = next((f for f in details.get("failures", []) if "minimal" in f), None)
    if failure is None:
        return f"no minimal reproducer to write to {path} (shrinking found none in its time)"
    minimal = failure["minimal"]
    header = reproducer_header(details.get("model", "cas-register"), failure)
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(json.dumps(header, default=str) + "\n")
            for op in minimal["history"]:
                f.write(json.dumps(op, default=str) + "\n")
    except OSError as e:
        return f"cannot write the minimal reproducer to {path}: {e.strerror or e}"
    return f"minimal reproducer ({minimal['size']} ops) written to {path}"


def _json_line(out: TextIO, data: dict[str, Any]) -> None:
    out.write(json.dumps(data, default=str) + "\n")


def _t(ns: int | None) -> str:
    return "-" if ns is None else f"{ns / 1e9:.6f}s"


def _from(part: dict[str, Any]) -> str:
    """Where a window or reproducer starts: ``from state 3 (after op 12)``."""
    if "initial_state_description" not in part:
        return ""
    after = part.get("after_index")
    return f", from state {part['initial_state_description']} " + (
        f"(after op {after})" if after is not None else "(the history's start)")


def _print_ops(ops: Sequence[dict[str, Any]], out: TextIO, timed: bool) -> None:
    for op in ops:
        when = f" [{_t(op['invoke_time'])} .. {_t(op['complete_time'])}]" if timed else ""
        print(f"      {op['index']:>6}  p{op['process']!s:<4} {op['type']:<5} {op['description']}{when}", file=out)


def print_failure(failure: dict[str, Any], out: TextIO) -> None:
    """The explanation of one failed partition, for a person."""
    key = failure.get("key")
    print(f"  key {key}:" if key is not None else "  the history:", file=out)
    for op in failure["unlinearizable"]:
        when = f", invoked {_t(op['invoke_time'])}, completed {_t(op['complete_time'])}" if op["invoke_time"] else ""
        print(f"    cannot linearize op {op['index']} (process {op['process']}, {op['description']}{when})", file=out)
        print(f"      why: {op['why']}", file=out)
    for lost in failure.get("lost_locks", []):
        print(f"      it may follow from a lost lock: {lost['why']}", file=out)
    prefix = failure["longest_prefix"]
    states = failure["prefix_states"]
    tail = ", ".join(f"{i} → {s}" for i, s in zip(prefix[-6:], states[-6:], strict=True))
    more = "… " if len(prefix) > 6 else ""
    print(f"    longest linearizable prefix: {len(prefix)} ops (op → state): {more}{tail}", file=out)
    window = failure["window"]
    print(f"    window ({len(window['ops'])} ops{_from(window)}):", file=out)
    _print_ops(window["ops"], out, bool(window["end_time"]))
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
            f"    minimal reproducer: {minimal['size']} of {minimal['original_size']} ops{_from(minimal)}, "
            f"fails on op {minimal.get('fails_on')} for the same reason ({how}; "
            f"shrunk in {minimal['shrunk_in_s']:.2f} s):",
            file=out,
        )
        _print_ops(minimal["ops"], out, any(op["invoke_time"] for op in minimal["ops"]))
