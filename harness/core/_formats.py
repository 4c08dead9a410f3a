"""History readers: our JSONL, Jepsen EDN, and Jepsen's text log, into a :class:`History`.

===========  ==============================================================
format       what it reads
===========  ==============================================================
jsonl        our ``history.jsonl``: one JSON op per line
edn          a Jepsen history: one vector/list of op maps, or one map per
             line (``{:process 0, :type :invoke, :f :read, :value nil}``);
             tagged records (``#jepsen.history.Op{...}``) are read as maps
jepsen-log   Jepsen's log (``INFO  jepsen.util - 3	:ok	:read	2``): the
             process, type, f and value of each event; other lines are skipped
auto         chosen from the file name, else from its first line
===========  ==============================================================

Semantics of the Jepsen formats: ``:info`` ends an op with an unknown outcome, and
a ``:fail :read`` whose value is ``:timed-out`` is read as ``info`` (a read whose
result is unknown). Keywords become strings without the colon; ``nil`` is ``None``.

Every reader raises :class:`~harness.core._errors.HistoryFormatError` naming the file
and line, never another exception, on bad input.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from harness.core._errors import HistoryFormatError
from harness.core._history import NEMESIS, History, Op, OpType, Process, op_from_json

FORMATS = ("jsonl", "edn", "jepsen-log", "auto")
_TYPES = {"invoke": OpType.INVOKE, "ok": OpType.OK, "fail": OpType.FAIL, "info": OpType.INFO}


def read_history(path: str | Path, fmt: str = "auto") -> History:
    """Read a history file in format ``fmt`` (one of :data:`FORMATS`)."""
    return read_history_lines(path, fmt)[0]


def read_history_lines(path: str | Path, fmt: str = "auto") -> tuple[History, list[int]]:
    """Like :func:`read_history`, plus each op's 1-based line number in the file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise HistoryFormatError(path, None, f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise HistoryFormatError(path, None, f"cannot read the file: {e.strerror or e}") from None
    if fmt == "auto":
        fmt = detect_format(str(path), text)
    if fmt == "jsonl":
        ops, lines = _read_jsonl(str(path), text)
    elif fmt == "edn":
        ops, lines = _read_edn(str(path), text)
    elif fmt == "jepsen-log":
        ops, lines = _read_jepsen_log(str(path), text)
    else:
        raise HistoryFormatError(path, None, f"unknown format {fmt!r}; allowed: {', '.join(FORMATS)}")
    return History.of(ops), lines


def detect_format(path: str, text: str) -> str:
    """Guess the format from the file name, else from the first non-blank line."""
    lower = path.lower()
    if lower.endswith((".jsonl", ".json")):
        return "jsonl"
    if lower.endswith(".edn"):
        return "edn"
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if not first:
        return "jsonl"  # empty: every reader gives an empty history
    if first.startswith('{"'):
        return "jsonl"
    if first[0] in "{[(#":
        return "edn"
    if "jepsen.util" in first or lower.endswith(".log"):
        return "jepsen-log"
    raise HistoryFormatError(
        path, 1, "cannot tell the format from the first line; pass --format jsonl, edn or jepsen-log"
    )


# ---- jsonl ---------------------------------------------------------------------------


def _read_jsonl(path: str, text: str) -> tuple[list[Op], list[int]]:

    ops: list[Op] = []
    lines: list[int] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
        except json.JSONDecodeError as e:
            raise HistoryFormatError(path, n, f"not valid JSON: {e.msg} (column {e.colno})") from None
        if not isinstance(d, dict):
            raise HistoryFormatError(path, n, "each line must be a JSON object (one op)")
        try:
            op = op_from_json(d)
        except KeyError as e:
            raise HistoryFormatError(path, n, f"missing field {e.args[0]!r}; an op needs process, type and f") from None
        except (ValueError, TypeError) as e:
            raise HistoryFormatError(path, n, f"bad op: {e}; type must be one of invoke, ok, fail, info") from None
        ops.append(op)
        lines.append(n)
    return ops, lines


# ---- EDN -----------------------------------------------------------------------------


class Keyword(str):
    """An EDN keyword (``:read`` → ``Keyword("read")``); equal to its name as a string."""

    __slots__ = ()


_EDN_TOKEN = re.compile(
    r"""
    (?P<ws>[\s,]+|;[^\n]*)
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<open>\#\{|[\[({])
  | (?P<close>[\])}])
  | (?P<tag>\#[A-Za-z][\w.\-/]*)
  | (?P<discard>\#_)
  | (?P<char>\\(?:newline|space|tab|return|.))
  | (?P<atom>[^\s,"\[\](){};\\]+)
    """,
    re.VERBOSE,
)
_INT = re.compile(r"[+-]?\d+N?$")
_FLOAT = re.compile(r"[+-]?\d+(\.\d*)?([eE][+-]?\d+)?M?$")
_CLOSE = {"[": "]", "(": ")", "{": "}", "#{": "}"}
_CHARS = {"newline": "\n", "space": " ", "tab": "\t", "return": "\r"}


def _edn_atom(tok: str) -> Any:
    if tok == "nil":
        return None
    if tok == "true":
        return True
    if tok == "false":
        return False
    if tok[0] == ":":
        return Keyword(tok[1:])
    if _INT.match(tok):
        return int(tok.rstrip("N"))
    if _FLOAT.match(tok):
        return float(tok.rstrip("M"))
    return tok  # a symbol


def _edn_string(tok: str) -> str:
    return json.loads(tok) if "\\" in tok else tok[1:-1]


def parse_edn(path: str, text: str) -> list[tuple[Any, int]]:
    """Every top-level EDN form in ``text`` with the line it starts on."""
    forms: list[tuple[Any, int]] = []
    # stack of (opener, items, start line)
    stack: list[tuple[str, list[Any], int]] = []
    pending_tags = 0
    line = 1
    pos = 0
    end = len(text)
    match = _EDN_TOKEN.match
    while pos < end:
        m = match(text, pos)
        if m is None:
            raise HistoryFormatError(path, line, f"cannot read EDN at {text[pos : pos + 20]!r}")
        kind = m.lastgroup
        tok = m.group()
        tok_line = line
        line += tok.count("\n")
        pos = m.end()
        if kind == "ws" or kind == "tag":  # a tag (#inst, #jepsen.history.Op) is read as its value
            continue
        if kind == "discard":
            pending_tags += 1
            continue
        if kind == "open":
            stack.append((tok, [], tok_line))
            continue
        value: Any
        if kind == "close":
            if not stack:
                raise HistoryFormatError(path, tok_line, f"unexpected {tok!r}: nothing to close")
            opener, items, start = stack.pop()
            if _CLOSE[opener] != tok:
                raise HistoryFormatError(path, tok_line, f"{opener!r} opened on line {start} is closed by {tok!r}")
            if opener == "{":
                if len(items) % 2:
                    raise HistoryFormatError(path, start, "a map needs an even number of forms (key value ...)")
                try:
                    value = {items[i]: items[i + 1] for i in range(0, len(items), 2)}
                except TypeError:
                    raise HistoryFormatError(path, start, "a map key must be a keyword, string or number") from None
            elif opener == "#{":
                value = items
            else:
                value = items
            tok_line = start
        elif kind == "str":
            try:
                value = _edn_string(tok)
            except json.JSONDecodeError:
                raise HistoryFormatError(path, tok_line, f"bad string escape in {tok[:30]!r}") from None
        elif kind == "char":
            value = _CHARS.get(tok[1:], tok[1:])
        else:
            value = _edn_atom(tok)
        if pending_tags:
            pending_tags -= 1
            continue
        if stack:
            stack[-1][1].append(value)
        else:
            forms.append((value, tok_line))
    if stack:
        raise HistoryFormatError(path, stack[-1][2], f"{stack[-1][0]!r} is never closed")
    if text.count('"') % 2 and not forms:
        raise HistoryFormatError(path, line, "unterminated string")
    return forms


def _plain(value: Any) -> Any:
    """EDN data as JSON-like data: keywords become plain strings."""
    if isinstance(value, Keyword):
        return str(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _op_from_map(path: str, line: int, m: Any, timed_out_reads: bool, index: int = -1) -> Op:
    if not isinstance(m, dict):
        raise HistoryFormatError(path, line, f"expected an op map like {{:type :invoke, :f :read, ...}}, got {m!r:.60}")
    typ = m.get("type")
    if typ not in _TYPES:
        raise HistoryFormatError(path, line, f":type must be :invoke, :ok, :fail or :info, got {typ!r}")
    f = m.get("f")
    if f is None:
        raise HistoryFormatError(path, line, "an op needs :f")
    process = m.get("process")
    if process == "nemesis":
        process = NEMESIS
    elif type(process) is not int:
        raise HistoryFormatError(path, line, f":process must be an integer or :nemesis, got {process!r}")
    t = m.get("time", 0)
    if type(t) is not int:
        raise HistoryFormatError(path, line, f":time must be an integer (ns), got {t!r}")
    value = m.get("value")
    op_type = _TYPES[typ]
    error = m.get("error")
    if timed_out_reads and op_type is OpType.FAIL and f == "read" and (value == "timed-out" or error == "timed-out"):
        op_type = OpType.INFO
    return Op(
        type=op_type,
        f=str(f),
        value=_plain(value),
        process=process,
        time=t,
        key=_plain(m.get("key")),
        error=None if error is None else str(_plain(error)),
        index=index,
    )


_FLAT_MAP = re.compile(r"\s*\{([^{}\[\]()#;\\]*)\}\s*$")
_FLAT_PAIR = re.compile(r'\s*:([^\s,"]+)[\s,]+("(?:[^"\\]|\\.)*"|[^\s,"]+)[\s,]*')


def _flat_map(line: str) -> dict[str, Any] | None:
    """A one-line map of plain atoms (the common case), read without the full EDN reader."""
    m = _FLAT_MAP.match(line)
    if m is None:
        return None
    body = m.group(1)
    out: dict[str, Any] = {}
    pos = 0
    for pm in _FLAT_PAIR.finditer(body):
        if pm.start() != pos:
            return None
        pos = pm.end()
        v = pm.group(2)
        out[pm.group(1)] = _edn_string(v) if v[0] == '"' else _edn_atom(v)
    return out if pos == len(body) else None


def _read_edn(path: str, text: str) -> tuple[list[Op], list[int]]:
    if text.lstrip()[:1] == "{":
        fast: list[Op] = []
        lines: list[int] = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            m = _flat_map(line)
            if m is None:
                break
            fast.append(_op_from_map(path, n, m, True, len(fast)))
            lines.append(n)
        else:
            return fast, lines
    forms = parse_edn(path, text)
    if len(forms) == 1 and isinstance(forms[0][0], list):
        # one vector/list of ops; the items' own lines are not kept, so count them
        items = forms[0][0]
        lines = _item_lines(text, forms[0][1], len(items))
        return [_op_from_map(path, ln, m, True, i) for i, (m, ln) in enumerate(zip(items, lines, strict=True))], lines
    ops = [_op_from_map(path, ln, m, True, i) for i, (m, ln) in enumerate(forms)]
    return ops, [ln for _, ln in forms]


def _item_lines(text: str, first_line: int, count: int) -> list[int]:
    """Best-effort line numbers of the maps inside one top-level vector."""
    lines = [i + 1 for i, line in enumerate(text.splitlines()) if "{" in line and i + 1 >= first_line]
    if len(lines) >= count:
        return lines[:count]
    return [first_line] * count


# ---- Jepsen log ----------------------------------------------------------------------

_LOG_LINE = re.compile(r"jepsen\.util\s+-\s+(\S+)\s+:(\w+)\s+:([\w\-./?!*+]+)\s*(.*?)\s*$")


_SLOW: Any = object()
_SIMPLE_INT = re.compile(r"-?\d+$")


def _quick_value(s: str) -> Any:
    """The common log values (nil, an integer, a vector of integers, a keyword) without the EDN reader."""
    if s == "nil":
        return None
    if _SIMPLE_INT.match(s):
        return int(s)
    if s[0] == "[" and s[-1] == "]":
        parts = s[1:-1].replace(",", " ").split()
        if all(_SIMPLE_INT.match(x) for x in parts):
            return [int(x) for x in parts]
    elif s[0] == ":" and s[1:].replace("-", "").isalnum():
        return s[1:]
    return _SLOW


def _read_jepsen_log(path: str, text: str) -> tuple[list[Op], list[int]]:
    ops: list[Op] = []
    lines: list[int] = []
    for n, line in enumerate(text.splitlines(), 1):
        if "jepsen.util" not in line:
            continue  # other log lines carry no ops
        m = _LOG_LINE.search(line)
        if m is None:
            raise HistoryFormatError(
                path, n, "expected 'INFO  jepsen.util - PROCESS :TYPE :F VALUE', e.g. 'jepsen.util - 3 :ok :read 2'"
            )
        proc_s, typ, f, value_s = m.groups()
        if typ not in _TYPES:
            raise HistoryFormatError(path, n, f"type must be :invoke, :ok, :fail or :info, got :{typ}")
        process: Process
        if proc_s.lstrip("-").isdigit():
            process = int(proc_s)
        elif proc_s in (":nemesis", "nemesis"):
            process = NEMESIS
        else:
            raise HistoryFormatError(path, n, f"the process must be an integer or :nemesis, got {proc_s!r}")
        value: Any = None
        if value_s and (value := _quick_value(value_s)) is _SLOW:
            try:
                forms = parse_edn(path, value_s)
            except HistoryFormatError as e:
                raise HistoryFormatError(path, n, f"cannot read the value {value_s!r}: {e.detail}") from None
            value = _plain(forms[0][0]) if len(forms) == 1 else _plain([v for v, _ in forms])
        op_type = _TYPES[typ]
        if op_type is OpType.FAIL and f == "read" and value == "timed-out":
            op_type = OpType.INFO  # a read whose result is unknown
        ops.append(Op(type=op_type, f=f, value=value, process=process, index=len(ops)))
        lines.append(n)
    return ops, lines
