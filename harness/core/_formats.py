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

A history must be well-formed. Every reader, for every format, applies these rules
and raises :class:`~harness.core._errors.HistoryFormatError` naming the file, the line
and the rule, never another exception:

=====================  ================================================================
rule                   broken by
=====================  ================================================================
orphan completion      an ``ok``/``fail``/``info`` of a client process with no invoke pending
double invoke          an invoke by a client process that already has one pending
mismatched completion  a completion whose ``f`` is not its invoke's
time goes backwards    an event whose ``time`` is before the previous event's
unknown type           a type other than invoke, ok, fail, info
bad time               a ``time`` that is not an integer (nanoseconds)
bad line               a line that cannot be read as an op (not JSON, no ``f``, ...)
empty history          a file with no ops at all
no ops read            a log with lines, none of them an op (plain text, an etcd log)
=====================  ================================================================

The nemesis (process ``nemesis``) is exempt from the pairing rules: Jepsen's nemesis
records ``info`` events without invokes. With ``lenient=True`` a line that breaks a
rule is skipped instead (and the completion of a skipped invoke with it), and
``History.meta["skipped"]`` says how many were skipped and why; a history left with
no ops is still an error.

Files are read line by line, so a reader holds the ops it built, not the file's text
(except an EDN file that is not one op map per line, which is parsed whole).
``progress(line)``, if given, is called every :data:`PROGRESS_EVERY` lines: it may
raise (a time or memory limit) to stop the read.

A JSONL file may start with a reproducer header (``etcd-harness check --minimal-out``),
``{"reproducer": {"model", "key", "initial_state", "fails_on", "why", ...}}``: it goes
to ``History.meta["reproducer"]``, and the ops keep the ``index`` the file gives them
(their index in the original history).
"""

from __future__ import annotations

import functools
import gc
import json
import os
import re
from array import array
from collections.abc import Callable, Iterator, Sequence
from itertools import pairwise
from pathlib import Path
from typing import IO, Any

from harness.core._errors import HistoryFormatError
from harness.core._history import NEMESIS, History, Op, OpType, Process

FORMATS = ("jsonl", "edn", "jepsen-log", "auto")
_TYPES = {"invoke": OpType.INVOKE, "ok": OpType.OK, "fail": OpType.FAIL, "info": OpType.INFO}
#: Lines between two calls of a reader's ``progress`` callback.
PROGRESS_EVERY = 4096
#: Skipped lines a lenient read lists one by one (every one is counted).
SKIPPED_LISTED = 20
#: Bytes of lines a fast reader holds at a time.
_BATCH_BYTES = 1 << 18

Progress = Callable[[int], None]


def read_history(
    path: str | Path, fmt: str = "auto", *, lenient: bool = False, progress: Progress | None = None
) -> History:
    """Read a history file in format ``fmt`` (one of :data:`FORMATS`). See the module docstring."""
    return read_history_lines(path, fmt, lenient=lenient, progress=progress)[0]


def read_history_lines(
    path: str | Path, fmt: str = "auto", *, lenient: bool = False, progress: Progress | None = None
) -> tuple[History, Sequence[int]]:
    """Like :func:`read_history`, plus each op's 1-based line number in the file."""
    if fmt not in FORMATS:
        raise HistoryFormatError(path, None, f"unknown format {fmt!r}; allowed: {', '.join(FORMATS)}")
    # The reader builds hundreds of thousands of objects and frees none: the cyclic garbage
    # collector's passes over them find nothing and would take half of the reading time.
    collecting = gc.isenabled()
    gc.disable()
    try:
        with open(path, "rb") as f:
            lines = _Lines(str(path), f)
            if fmt == "auto":
                fmt = detect_format(str(path), lines.first_content())
            builder = _Builder(str(path), lenient, progress)
            if fmt == "jsonl":
                _read_jsonl(lines, builder)
            elif fmt == "jepsen-log":
                _read_jepsen_log(lines, builder)
            elif not _read_edn_lines(lines, builder):
                builder = _Builder(str(path), lenient, progress)
                f.seek(0)
                _read_edn_text(str(path), _decode(str(path), f.read(), 1), builder)
    except OSError as e:
        raise HistoryFormatError(path, None, f"cannot read the file: {e.strerror or e}") from None
    finally:
        if collecting:
            gc.enable()
    return builder.finish(fmt, lines.content_lines)


def detect_format(path: str, text: str) -> str:
    """Guess the format from the file name, else from the first non-blank line of ``text``."""
    lower = path.lower()
    if lower.endswith((".jsonl", ".json")):
        return "jsonl"
    if lower.endswith(".edn"):
        return "edn"
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if not first:
        return "jsonl"  # empty: every reader finds no ops
    if first.startswith('{"'):
        return "jsonl"
    if first[0] in "{[(#":
        return "edn"
    if "jepsen.util" in first or lower.endswith(".log"):
        return "jepsen-log"
    raise HistoryFormatError(
        path, 1, "cannot tell the format from the first line; pass --format jsonl, edn or jepsen-log"
    )


# ---- reading lines -------------------------------------------------------------------


def _decode(path: str, raw: bytes, line: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise HistoryFormatError(path, line, f"not UTF-8 text ({e.reason} at byte {e.start})") from None


class _Lines:
    """The file's lines, decoded one at a time, numbered from 1; the first non-blank one
    can be looked at before the iteration starts."""

    def __init__(self, path: str, f: IO[bytes]) -> None:
        self.path = path
        self._f = f
        self.size = os.fstat(f.fileno()).st_size
        self._peeked: list[tuple[int, str]] = []
        self._n = 0
        self.content_lines = 0  # non-blank lines seen

    def _next(self) -> tuple[int, str] | None:
        raw = self._f.readline()
        if not raw:
            return None
        self._n += 1
        return self._n, _decode(self.path, raw, self._n)

    def first_content(self) -> str:
        while True:
            item = self._next()
            if item is None:
                return ""
            self._peeked.append(item)
            if item[1].strip():
                return item[1]

    def raw_batches(self) -> Iterator[list[bytes]]:
        """The lines as undecoded bytes, in batches (the peeked ones first, re-encoded), each
        line with its ``\\n``: for a reader that decodes UTF-8 itself (and falls back to
        :func:`_decode` on an error), numbers the lines itself from 1, and counts
        :attr:`content_lines` itself. Holds one batch (:data:`_BATCH_BYTES`) at a time."""
        yield [text.encode("utf-8") for _, text in self._peeked]
        self._peeked = []
        read = self._f.readlines
        while True:
            batch = read(_BATCH_BYTES)
            if not batch:
                return
            self._n += len(batch)
            yield batch

    def __iter__(self) -> Iterator[tuple[int, str]]:
        for item in self._peeked:
            if item[1].strip():
                self.content_lines += 1
            yield item
        self._peeked = []
        readline, decode, path = self._f.readline, _decode, self.path
        n = self._n
        for raw in iter(readline, b""):
            n += 1
            self._n = n
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                line = decode(path, raw, n)
            if line.strip():
                self.content_lines += 1
            yield n, line


# ---- the rules -----------------------------------------------------------------------


class _Builder:
    """Collects ops, applying the rules of the module docstring."""

    def __init__(self, path: str, lenient: bool, progress: Progress | None) -> None:
        self.path = path
        self.lenient = lenient
        self.progress = progress
        self.ops: list[Op] = []
        self.lines: array[int] = array("q")
        self.meta: dict[str, Any] = {}
        self.file_indexes: list[int] | None = None  # a reproducer's ops keep their original index
        self._pending: dict[Process, tuple[int, str]] = {}  # process → (line, f) of its pending invoke
        self._skipped_invoke: dict[Process, int] = {}  # process → line of its invoke a lenient read skipped
        self._last_time = -1
        self._last_time_line = 0
        self._skips = 0
        self._by_rule: dict[str, int] = {}
        self._first: list[dict[str, Any]] = []
        self._shared: dict[Any, Any] = {}  # one object per distinct f / key string

    def tick(self, n: int) -> None:
        if self.progress is not None and not n % PROGRESS_EVERY:
            self.progress(n)

    def bad(self, line: int, rule: str, message: str) -> None:
        """A rule is broken at ``line``: raise, or (lenient) count the line as skipped."""
        if not self.lenient:
            raise HistoryFormatError(self.path, line, message)
        self._skips += 1
        self._by_rule[rule] = self._by_rule.get(rule, 0) + 1
        if len(self._first) < SKIPPED_LISTED:
            self._first.append({"line": line, "rule": rule, "message": message})

    def share(self, s: Any) -> Any:
        return self._shared.setdefault(s, s) if type(s) is str else s

    def add(
        self,
        line: int,
        op_type: OpType,
        f: str,
        value: Any,
        process: Process,
        t: int | None,
        key: Any = None,
        error: str | None = None,
        extra: dict[str, Any] | None = None,
        index: int | None = None,
    ) -> None:
        """Add one event after checking the rules; ``t`` is ``None`` when the line has no time."""
        if not self.admit(line, op_type, f, process, t):
            return
        share = self.share
        self.ops.append(Op(type=op_type, f=share(f), value=value, process=process, time=t or 0, index=len(self.ops),
                           key=share(key), error=error, extra=extra))
        self.lines.append(line)
        if index is not None and self.file_indexes is not None:
            self.file_indexes.append(index)

    def add_op(self, line: int, op: Op, has_time: bool) -> None:
        """Add an event a fast decoder built as an :class:`Op` whose ``index`` is the file's
        (``-1``: none): the rules of :meth:`add`, then the op itself, its ``f`` and ``key``
        shared and its ``index`` set to its position. The op is changed in place: it is new
        and nobody else holds it yet, and building another would double the cost."""
        if not self.admit(line, op.type, op.f, op.process, op.time if has_time else None):
            return
        set_field = object.__setattr__
        if self.file_indexes is not None:
            self.file_indexes.append(op.index)
        if op.index != len(self.ops):
            set_field(op, "index", len(self.ops))
        set_field(op, "f", self._shared.setdefault(op.f, op.f))
        key = op.key
        if type(key) is str:
            set_field(op, "key", self._shared.setdefault(key, key))
        self.ops.append(op)
        self.lines.append(line)

    def admit(self, line: int, op_type: OpType, f: str, process: Process, t: int | None) -> bool:
        """Whether an event passes the rules (pairing, time order); if it does not, :meth:`bad` is told."""
        if t is not None and t < self._last_time:
            self.bad(line, "time goes backwards",
                     f"time goes backwards: {t} ns is before {self._last_time} ns on line {self._last_time_line}; "
                     "events must be listed in the order they happened")
            if op_type is OpType.INVOKE and process != NEMESIS:
                self._skipped_invoke[process] = line
            return False
        if process != NEMESIS:
            if op_type is OpType.INVOKE:
                prior = self._pending.get(process)
                if prior is not None:
                    self.bad(line, "double invoke",
                             f"double invoke: process {process} invokes {f!r} while its {prior[1]!r} invoked on line "
                             f"{prior[0]} is still pending; a process runs one op at a time (after an info, "
                             "its next op needs a new process number)")
                    self._skipped_invoke[process] = line
                    return False
                self._pending[process] = (line, f)
            else:
                skipped_at = self._skipped_invoke.pop(process, None)
                if skipped_at is not None:
                    self.bad(line, "completion of a skipped invoke",
                             f"the completion of the invoke skipped on line {skipped_at}")
                    return False
                prior = self._pending.get(process)
                if prior is None:
                    self.bad(line, "orphan completion",
                             f"orphan completion: process {process} completes {f!r} ({op_type.value}) with no invoke "
                             "pending; every ok, fail or info of a client follows an invoke by the same process")
                    return False
                if prior[1] != f:
                    self.bad(line, "mismatched completion",
                             f"mismatched completion: process {process} completes {f!r} but its pending invoke on "
                             f"line {prior[0]} is {prior[1]!r}; a completion keeps its invoke's f")
                    return False
                del self._pending[process]
        if t is not None:
            self._last_time, self._last_time_line = t, line
        return True

    def finish(self, fmt: str, content_lines: int) -> tuple[History, Sequence[int]]:
        if self.progress is not None:
            self.progress(self.lines[-1] if self.lines else 0)
        if self._skips:
            self.meta["skipped"] = {"count": self._skips, "by_rule": dict(self._by_rule), "first": self._first}
        if not self.ops:
            if self._skips:
                why = ", ".join(f"{n} {rule}" for rule, n in self._by_rule.items())
                raise HistoryFormatError(self.path, None, f"empty history: every op was skipped ({why})")
            if fmt == "jepsen-log" and content_lines:
                raise HistoryFormatError(
                    self.path, None,
                    f"no ops read: none of its {content_lines} lines is a Jepsen op line like "
                    "'INFO  jepsen.util - 3 :ok :read 2'. Is it a Jepsen log? (an etcd server log or plain text "
                    "holds no ops; for a history.jsonl pass --format jsonl)")
            raise HistoryFormatError(self.path, None, "empty history: the file holds no ops")
        ops = self.ops
        idx = self.file_indexes
        if idx is not None and len(idx) == len(ops) and all(a < b for a, b in pairwise(idx)):
            ops = [op if op.index == i else op.with_(index=i) for op, i in zip(ops, idx, strict=True)]
        return History(ops, self.meta), self.lines


# ---- jsonl ---------------------------------------------------------------------------


#: Decodes one JSONL line straight into an :class:`Op`, in C (msgspec), with the types the
#: rules require checked on the way (an integer ``time``, a ``process`` that is an integer
#: or ``"nemesis"``, a known ``type``, a string ``f``, an object ``extra``). A line it
#: refuses, or one it cannot tell apart from a line missing a field (its ``process`` or
#: ``time`` came out as the default 0), goes through :func:`_jsonl_line`, which says what
#: is wrong, so both paths accept and refuse the same lines.
@functools.cache
def _fast_decoder() -> tuple[Callable[[bytes], Op], tuple[type[Exception], ...]]:
    import msgspec  # third-party, imported on the first large file: start-up does not pay for it

    return msgspec.json.Decoder(Op).decode, (msgspec.DecodeError, msgspec.ValidationError)


#: Files smaller than this are read by the careful path alone (no msgspec import).
FAST_MIN_BYTES = 1 << 16


def _read_jsonl(lines: _Lines, b: _Builder) -> None:
    """Our JSONL: the first line may be a reproducer header; each other line is one op.

    The common line (a well-typed op that keeps the rules) takes a fast path: decoded by
    :func:`_fast_decoder`, the rules checked inline on the builder's own state; anything else
    (a line it refuses, an event that may break a rule) goes to the builder's careful path,
    which checks again and reports. Both paths accept exactly the same lines.
    """
    if lines.size < FAST_MIN_BYTES:
        header_allowed = True
        for n, line in lines:
            b.tick(n)
            if line.strip():
                _jsonl_line(n, line, b, header_allowed)
                header_allowed = False
        return
    decode, errors = _fast_decoder()
    progress = b.progress
    invoke = OpType.INVOKE
    pending, skipped = b._pending, b._skipped_invoke
    ops, line_of, shared = b.ops, b.lines, b._shared
    set_field = object.__setattr__
    header_allowed = True
    n = blank = 0
    for batch in lines.raw_batches():
        for raw in batch:
            n += 1
            if progress is not None and not n % PROGRESS_EVERY:
                progress(n)
            try:
                op = decode(raw)
            except errors:
                if raw.isspace():
                    blank += 1
                else:
                    _jsonl_line(n, _decode(b.path, raw, n), b, header_allowed)
                    header_allowed = False
                continue
            header_allowed = False
            process, t, f = op.process, op.time, op.f
            if process == 0 or t == 0:  # perhaps absent: the careful path tells
                _jsonl_line(n, _decode(b.path, raw, n), b, False)
                continue
            if t < b._last_time or skipped or b.file_indexes is not None:
                b.add_op(n, op, True)  # a rule may break, or a reproducer: the careful path
                continue
            if process != NEMESIS:
                if op.type is invoke:
                    if process in pending:
                        b.add_op(n, op, True)
                        continue
                    pending[process] = (n, f)
                else:
                    prior = pending.get(process)
                    if prior is None or prior[1] != f:
                        b.add_op(n, op, True)
                        continue
                    del pending[process]
            b._last_time, b._last_time_line = t, n
            if op.index != len(ops):
                set_field(op, "index", len(ops))
            set_field(op, "f", shared.setdefault(f, f))
            key = op.key
            if type(key) is str:
                set_field(op, "key", shared.setdefault(key, key))
            ops.append(op)
            line_of.append(n)
    lines.content_lines = n - blank


def _jsonl_line(n: int, line: str, b: _Builder, header_allowed: bool) -> None:
    """One JSONL line, read with :mod:`json` and every rule checked one by one."""
    if not line.strip():
        return
    try:
        d = json.loads(line)
    except json.JSONDecodeError as e:
        b.bad(n, "bad line", f"not valid JSON: {e.msg} (column {e.colno})")
        return
    if not isinstance(d, dict):
        b.bad(n, "bad line", "each line must be a JSON object (one op)")
        return
    if header_allowed and "reproducer" in d and "process" not in d:
        header = d["reproducer"]
        if not isinstance(header, dict):
            raise HistoryFormatError(b.path, n, "the reproducer header must be a JSON object")
        b.meta["reproducer"] = header
        b.file_indexes = []
        return
    _jsonl_op(n, d, b)


def _jsonl_op(n: int, d: dict[str, Any], b: _Builder) -> None:
    for name in ("process", "type", "f"):
        if name not in d:
            b.bad(n, "bad line", f"missing field {name!r}; an op needs process, type and f")
            return
    typ = d["type"]
    op_type = _TYPES.get(typ) if isinstance(typ, str) else None
    if op_type is None:
        b.bad(n, "unknown type", f"unknown type {typ!r}; the type must be one of invoke, ok, fail, info")
        return
    process = d["process"]
    if process != NEMESIS and (type(process) is not int):
        b.bad(n, "bad line", f"process must be an integer or \"nemesis\", got {process!r}")
        return
    t = d.get("time")
    if t is not None and type(t) is not int:
        b.bad(n, "bad time", f"time must be an integer number of nanoseconds since the run started, got {t!r}")
        return
    extra = d.get("extra")
    error = d.get("error")
    index = d.get("index")
    b.add(n, op_type, str(d["f"]), d.get("value"), process, t, d.get("key"),
          None if error is None else str(error), extra if isinstance(extra, dict) else None,
          index if type(index) is int else -1)


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


def _edn_op(b: _Builder, line: int, m: Any) -> None:
    """One EDN op map, through the rules (a timed-out ``:fail :read`` is ``info``)."""
    if not isinstance(m, dict):
        b.bad(line, "bad line", f"expected an op map like {{:type :invoke, :f :read, ...}}, got {m!r:.60}")
        return
    typ = m.get("type")
    op_type = _TYPES.get(typ) if isinstance(typ, str) else None
    if op_type is None:
        shown = f":{typ}" if isinstance(typ, Keyword) else repr(typ)
        b.bad(line, "unknown type", f"unknown type {shown}; :type must be :invoke, :ok, :fail or :info")
        return
    f = m.get("f")
    if f is None:
        b.bad(line, "bad line", "an op needs :f")
        return
    process = m.get("process")
    if process == "nemesis":
        process = NEMESIS
    elif type(process) is not int:
        b.bad(line, "bad line", f":process must be an integer or :nemesis, got {process!r}")
        return
    t = m.get("time")
    if t is not None and type(t) is not int:
        b.bad(line, "bad time", f":time must be an integer number of nanoseconds, got {t!r}")
        return
    value = m.get("value")
    error = m.get("error")
    if op_type is OpType.FAIL and f == "read" and (value == "timed-out" or error == "timed-out"):
        op_type = OpType.INFO
    b.add(line, op_type, str(f), _plain(value), process, t, _plain(m.get("key")),
          None if error is None else str(_plain(error)))


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


def _read_edn_lines(lines: _Lines, b: _Builder) -> bool:
    """The common EDN layout, streamed: one flat op map per line, optionally inside one
    vector (``[`` before the first, ``]`` after the last). False if the file is laid out
    otherwise (the caller then parses it whole)."""
    in_vector = closed = started = False
    for n, line in lines:
        b.tick(n)
        s = line.strip()
        if not s or s.startswith(";"):
            continue
        if closed:
            return False
        if not started:
            started = True
            if s[0] == "[":
                in_vector, s = True, s[1:].lstrip()
        if in_vector and s.endswith("]"):
            closed, s = True, s[:-1].rstrip()
        if not s:
            continue
        m = _flat_map(s)
        if m is None:
            return False
        _edn_op(b, n, m)
    return in_vector == closed


def _read_edn_text(path: str, text: str, b: _Builder) -> None:
    forms = parse_edn(path, text)
    if len(forms) == 1 and isinstance(forms[0][0], list):
        # one vector/list of ops; the items' own lines are not kept, so count them
        items = forms[0][0]
        for m, ln in zip(items, _item_lines(text, forms[0][1], len(items)), strict=True):
            _edn_op(b, ln, m)
        return
    for m, ln in forms:
        _edn_op(b, ln, m)


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


def _read_jepsen_log(lines: _Lines, b: _Builder) -> None:
    for n, line in lines:
        b.tick(n)
        if "jepsen.util" not in line:
            continue  # other log lines carry no ops
        m = _LOG_LINE.search(line)
        if m is None:
            b.bad(n, "bad line",
                  "expected 'INFO  jepsen.util - PROCESS :TYPE :F VALUE', e.g. 'jepsen.util - 3 :ok :read 2'")
            continue
        proc_s, typ, f, value_s = m.groups()
        op_type = _TYPES.get(typ)
        if op_type is None:
            b.bad(n, "unknown type", f"unknown type :{typ}; the type must be :invoke, :ok, :fail or :info")
            continue
        process: Process
        if proc_s.lstrip("-").isdigit():
            process = int(proc_s)
        elif proc_s in (":nemesis", "nemesis"):
            process = NEMESIS
        else:
            b.bad(n, "bad line", f"the process must be an integer or :nemesis, got {proc_s!r}")
            continue
        value: Any = None
        if value_s and (value := _quick_value(value_s)) is _SLOW:
            try:
                forms = parse_edn(b.path, value_s)
            except HistoryFormatError as e:
                b.bad(n, "bad line", f"cannot read the value {value_s!r}: {e.detail}")
                continue
            value = _plain(forms[0][0]) if len(forms) == 1 else _plain([v for v, _ in forms])
        if op_type is OpType.FAIL and f == "read" and value == "timed-out":
            op_type = OpType.INFO  # a read whose result is unknown
        b.add(n, op_type, f, value, process, None)
