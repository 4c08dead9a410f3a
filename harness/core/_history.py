"""Operations and histories: the one record every other part reads and writes.

An operation is recorded twice: an ``invoke`` when a process starts it and a
completion (``ok``, ``fail`` or ``info``) when it ends. ``fail`` means the op
certainly did not take effect; ``info`` means its outcome is unknown, so it may
take effect at any time after its invocation, or never. A process that gets
``info`` is retired: it never completes another op (the runner gives its thread
a new process number), exactly as in Jepsen.

The nemesis records its faults the same way, with process ``"nemesis"``.

On disk a history is JSON Lines, one op per line (see :class:`HistoryWriter`)::

    {"index": 0, "time": 1200, "process": 0, "type": "invoke", "f": "cas", "key": "r1", "value": [1, 2]}
    {"index": 1, "time": 9100, "process": 0, "type": "ok", "f": "cas", "key": "r1", "value": [1, 2]}
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, Literal, TypeAlias

NEMESIS: Literal["nemesis"] = "nemesis"
Process: TypeAlias = int | Literal["nemesis"]


class OpType(StrEnum):
    INVOKE = "invoke"
    OK = "ok"
    FAIL = "fail"
    INFO = "info"


@dataclass(frozen=True, slots=True, kw_only=True)
class Op:
    """One event of a history.

    ``time`` is in nanoseconds on one monotonic clock for the whole run.
    ``key`` names the independent object the op acts on (a register key), or is
    ``None`` for single-object histories; models partition by it.
    ``index`` is the op's position in its history, assigned when recorded.
    """

    type: OpType
    f: str
    value: Any = None
    process: Process = 0
    time: int = 0
    index: int = -1
    key: Any = None
    error: str | None = None
    extra: dict[str, Any] | None = None  # free-form details (e.g. nemesis grudges, v2 index)

    @property
    def is_invoke(self) -> bool:
        return self.type is OpType.INVOKE

    @property
    def is_ok(self) -> bool:
        return self.type is OpType.OK

    @property
    def is_fail(self) -> bool:
        return self.type is OpType.FAIL

    @property
    def is_info(self) -> bool:
        return self.type is OpType.INFO

    @property
    def is_client(self) -> bool:
        return self.process != NEMESIS

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "index": self.index,
            "time": self.time,
            "process": self.process,
            "type": self.type.value,
            "f": self.f,
        }
        if self.key is not None:
            d["key"] = self.key
        d["value"] = self.value
        if self.error is not None:
            d["error"] = self.error
        if self.extra:
            d["extra"] = self.extra
        return d

    def with_(self, **changes: Any) -> Op:
        return replace(self, **changes)


@dataclass(slots=True)
class History(Sequence[Op]):
    """An indexed list of ops, in the order they were recorded.

    ``meta`` holds what a reader learnt about the file besides its ops:

    - ``"reproducer"``: the header of a reproducer file (``etcd-harness check
      --minimal-out``): ``{"model", "key", "initial_state", "fails_on", "why", ...}``.
      The linearizability checker starts partition ``key`` from ``initial_state``
      (the state the original history was in where the reproducer begins);
    - ``"skipped"``: what a lenient read skipped: ``{"count", "by_rule": {rule: n},
      "first": [{"line", "rule", "message"}, ...]}``.
    """

    ops: list[Op] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ops)

    def __getitem__(self, i: int) -> Op:  # type: ignore[override]
        return self.ops[i]

    def __iter__(self) -> Iterator[Op]:
        return iter(self.ops)

    def client_ops(self) -> list[Op]:
        return [op for op in self.ops if op.process != NEMESIS]

    def nemesis_ops(self) -> list[Op]:
        return [op for op in self.ops if op.process == NEMESIS]

    def pairs(self) -> list[tuple[Op, Op | None]]:
        """Each invocation with its completion, or ``None`` if it never completed.

        Completions are matched to the latest pending invocation of the same
        process. An op still pending at the end has an unknown outcome, like ``info``.
        """
        pending: dict[Process, int] = {}
        out: list[tuple[Op, Op | None]] = []
        for op in self.ops:
            if op.type is OpType.INVOKE:
                pending[op.process] = len(out)
                out.append((op, None))
            else:
                slot = pending.pop(op.process, None)
                if slot is not None:
                    out[slot] = (out[slot][0], op)
        return out

    @classmethod
    def of(cls, ops: Iterable[Op]) -> History:
        """A history with each op's ``index`` set to its position."""
        return cls([op if op.index == i else replace(op, index=i) for i, op in enumerate(ops)])


class HistoryWriter:
    """Appends ops to a JSONL file as they happen, thread-safe.

    Each op gets the next index and a time on the run's monotonic clock. Lines are
    buffered and flushed by a background thread at least every ``flush_interval``
    seconds, and at once by :meth:`flush` (the runner calls it at every nemesis
    op), so a crashed harness still leaves a history that can be checked.
    """

    def __init__(self, path: Path, *, flush_interval: float = 1.0, clock_origin_ns: int | None = None) -> None:
        self.path = path
        self._file: IO[str] = path.open("a", encoding="utf-8", buffering=1 << 16)
        self._lock = threading.Lock()
        self._ops: list[Op] = []
        self._origin = time.monotonic_ns() if clock_origin_ns is None else clock_origin_ns
        self._closed = threading.Event()
        self._flusher = threading.Thread(target=self._flush_loop, args=(flush_interval,), name="history-flush",
                                         daemon=True)
        self._flusher.start()

    def now(self) -> int:
        """Nanoseconds since the run's clock origin."""
        return time.monotonic_ns() - self._origin

    def restart_clock(self) -> None:
        """Make time 0 now (the runner calls it when the cluster is ready). Only before any op."""
        with self._lock:
            if self._ops:
                raise RuntimeError("the clock can only restart before the first op is recorded")
            self._origin = time.monotonic_ns()

    def record(self, op: Op) -> Op:
        """Stamp ``op`` with its index (and a time, if it has none) and append it."""
        with self._lock:
            stamped = replace(op, index=len(self._ops), time=op.time or self.now())
            self._ops.append(stamped)
            self._file.write(json.dumps(stamped.to_json(), separators=(",", ":"), default=str))
            self._file.write("\n")
        return stamped

    def flush(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.flush()

    def _flush_loop(self, interval: float) -> None:
        while not self._closed.wait(interval):
            self.flush()

    def history(self) -> History:
        with self._lock:
            return History(list(self._ops))

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            if not self._file.closed:
                self._file.flush()
                self._file.close()

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def op_from_json(d: dict[str, Any]) -> Op:
    """Build an op from one decoded JSONL line. Raises ``KeyError``/``ValueError`` on bad input."""
    process = d["process"]
    if process != NEMESIS and (not isinstance(process, int) or isinstance(process, bool)):
        raise ValueError(f"process must be an integer or \"nemesis\", got {process!r}")
    t = d.get("time", 0)
    if not isinstance(t, int) or isinstance(t, bool):
        raise ValueError(f"time must be an integer number of nanoseconds, got {t!r}")
    return Op(
        type=OpType(d["type"]),
        f=str(d["f"]),
        value=d.get("value"),
        process=process,
        time=t,
        index=int(d.get("index", -1)),
        key=d.get("key"),
        error=d.get("error"),
        extra=d.get("extra"),
    )
