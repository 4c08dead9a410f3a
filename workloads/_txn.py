"""What the transactional workloads (``append``, ``wr``) share: the generator and the etcd txn clients.

A transaction op (``f="txn"``, ``key=None``) carries a list of micro-ops, each ``[f, k, v]``
with integer keys and values:

* ``["append", k, v]`` (list-append) / ``["w", k, v]`` (rw-register): ``v`` is unique per key,
  drawn from a counter per key that every process of the workload shares;
* ``["r", k, None]``: filled in by an ``ok`` completion with what was read: the whole list
  (``[]`` when absent) for list-append, the value or ``None`` for rw-register.

Completions: ``ok`` with the micro-ops, reads filled in; ``fail`` when the transaction certainly
did not happen (a read phase that raised, a guard that did not hold: never retried);
``info`` when it may have (timeouts and other indeterminate errors, :func:`complete_with_error`).

``extra`` of an ``ok``: ``rev``, the header revision of the txn that committed the micro-ops
(for writes, their ``mod_revision``); ``mod_revs``, aligned with the micro-ops: the
``mod_revision`` of each key read (0 when absent), ``None`` for writes; for list-append also
``read_rev``, the header revision of the read phase. A ``fail`` or ``info`` records ``read_rev``
when the read phase answered.

Why etcd needs two phases for list-append: a txn can put only values it sends, so an append
must read the list first. The write txn is guarded so the list it puts is still the one
read: a key that was present must keep the ``mod_revision`` read; a key that was absent must
have ``mod_revision`` < the read's header revision. etcd compares an absent key as an empty
``KeyValue`` (``mod_revision`` 0) for every target but ``VALUE``, so the guard holds exactly
while the key stays absent; any later put gives it a ``mod_revision`` above the read revision.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from harness.core import Op
from harness.etcd import EtcdClient, EtcdError, b64, header_revision, op_put, unb64
from workloads._base import (
    Invocation,
    Option,
    ProcessScript,
    Workload,
    complete_fail,
    complete_ok,
    complete_with_error,
)

if TYPE_CHECKING:
    from harness.core import TestSpec

WriteF = Literal["append", "w"]
MicroOp = list[Any]

#: How many micro-ops the final reads put in one transaction (the contract allows 1 to 4).
FINAL_READ_BATCH = 4


def shared_options(default_key_count: int) -> tuple[Option, ...]:
    """The key-space options of both workloads; ``consistency_model`` is declared by each
    workload, since its choices come from the checkers."""
    return (
        Option("key_count", "int", "keys in play at once; each retires after max_writes_per_key writes",
               default=default_key_count, minimum=1, maximum=1000),
        Option("max_writes_per_key", "int", "writes a key takes before a fresh key replaces it",
               default=32, minimum=1, maximum=10_000),
        Option("max_txn_length", "int", "micro-ops per transaction at most (1 to this, uniformly)",
               default=4, minimum=1, maximum=4),
        Option("read_fraction", "number", "the chance that a micro-op is a read (else a write)",
               default=0.5, minimum=0, maximum=1),
    )


class TxnGenerator:
    """Random transactions over a small rotating key space. Thread-safe: every process draws from it.

    Each micro-op is a read (with chance ``read_fraction``) or a write of a key picked uniformly among the
    ``key_count`` keys in play. A key retires once it took ``max_writes_per_key`` writes
    and the next unused key takes its place (Jepsen's scheme), so reads of the same key
    keep overlapping the writes to it while no key's history grows long. A transaction
    writes a key at most once (etcd refuses two puts of one key in a txn), so a second
    write to a key drawn for the same transaction becomes a read of it.
    """

    def __init__(self, write_f: WriteF, *, key_count: int, max_writes_per_key: int, max_txn_length: int,
                 read_fraction: float = 0.5) -> None:
        if key_count < 1 or max_writes_per_key < 1 or not 1 <= max_txn_length <= 4 or not 0 <= read_fraction <= 1:
            raise ValueError("key_count and max_writes_per_key must be 1 or more, max_txn_length 1 to 4, "
                             "read_fraction 0 to 1")
        self.write_f = write_f
        self.read_fraction = read_fraction
        self.max_writes_per_key = max_writes_per_key
        self.max_txn_length = max_txn_length
        self._lock = threading.Lock()
        self._active = list(range(key_count))
        self._next_key = key_count
        self._writes: dict[int, int] = {}  # key -> values written so far (the last value handed out)
        self._used: list[int] = list(range(key_count))

    def next_txn(self, rng: random.Random) -> list[MicroOp]:
        with self._lock:
            txn: list[MicroOp] = []
            written: set[int] = set()
            for _ in range(rng.randint(1, self.max_txn_length)):
                slot = rng.randrange(len(self._active))
                key = self._active[slot]
                if rng.random() < self.read_fraction or key in written:
                    txn.append(["r", key, None])
                    continue
                value = self._writes.get(key, 0) + 1
                self._writes[key] = value
                written.add(key)
                txn.append([self.write_f, key, value])
                if value >= self.max_writes_per_key:
                    self._active[slot] = self._next_key
                    self._used.append(self._next_key)
                    self._next_key += 1
            return txn

    def used_keys(self) -> list[int]:
        """Every key that was ever in play, in the order it came into play."""
        with self._lock:
            return list(self._used)


def final_read_invocations(keys: Sequence[int]) -> list[Invocation]:
    """Read-only transactions over ``keys``, ``FINAL_READ_BATCH`` keys each: a last look at every key."""
    return [Invocation("txn", [["r", k, None] for k in keys[i:i + FINAL_READ_BATCH]])
            for i in range(0, len(keys), FINAL_READ_BATCH)]


class TxnWorkload(Workload):
    """What ``append`` and ``wr`` share: the ``consistency_model`` option, a :class:`TxnGenerator` of
    ``write_f`` micro-ops, a script of endless transactions and final reads of every key used.
    Subclasses declare their options (with :func:`shared_options`), clients and checker."""

    write_f: WriteF

    def __init__(self, spec: TestSpec) -> None:
        super().__init__(spec)
        self.consistency_model = str(self.option("consistency_model"))
        self.generator = TxnGenerator(self.write_f, key_count=int(self.option("key_count")),
                                      max_writes_per_key=int(self.option("max_writes_per_key")),
                                      max_txn_length=int(self.option("max_txn_length")),
                                      read_fraction=float(self.option("read_fraction")))

    def script(self, process: int, rng: random.Random) -> ProcessScript:
        while True:
            yield Invocation("txn", self.generator.next_txn(rng))

    def final_invocations(self) -> list[Invocation]:
        return final_read_invocations(self.generator.used_keys())


# -- etcd requests and answers -----------------------------------------------------------------


def request_range(key: str, *, serializable: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"key": b64(key)}
    if serializable:
        body["serializable"] = True
    return {"request_range": body}


def compare_mod_revision(key: str, result: Literal["EQUAL", "LESS"], revision: int) -> dict[str, Any]:
    return {"key": b64(key), "target": "MOD", "result": result, "mod_revision": str(revision)}


def range_results(response: dict[str, Any], expected: int) -> list[tuple[str | None, int]]:
    """(value or None when absent, mod_revision or 0) of each ``response_range`` of a txn answer, in order;
    a non-range response (a put) is ``(None, 0)`` in its place so the list stays aligned.

    An answer without ``expected`` responses raises an indeterminate :class:`EtcdError`: the
    request reached etcd, so a write in it may have happened, but the answer says nothing sure."""
    items = response.get("responses", [])
    if len(items) != expected:
        raise EtcdError(f"txn answer has {len(items)} responses, expected {expected}", definite=False)
    out: list[tuple[str | None, int]] = []
    for item in items:
        kvs = (item.get("response_range") or {}).get("kvs") or []
        if kvs:
            out.append((unb64(kvs[0].get("value", "")) or "", int(kvs[0].get("mod_revision", 0))))
        else:
            out.append((None, 0))
    return out


def decode_list(raw: str | None) -> Any:
    """A stored list (JSON array of ints); absent is ``[]``. Anything else is returned as the raw
    text, so the checker sees a value nobody wrote rather than this client guessing."""
    if raw is None:
        return []
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return value
    return raw


def decode_register(raw: str | None) -> Any:
    """A stored register value (decimal int); absent is ``None``; anything else is the raw text."""
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        return raw


def _with_extra(op: Op, **extra: Any) -> Op:
    return op.with_(extra={**(op.extra or {}), **extra})


class AppendClient:
    """List-append transactions on etcd, Jepsen's way: a read phase, then one guarded write txn.

    * read-only transaction: one txn of ranges (serializable when ``read_phase`` is);
    * otherwise: (1) one txn reading every key the transaction appends to (``read_phase``:
      ``linearizable``, or ``serializable``, which reads the member's local state: a canary);
      (2) one txn guarded on the ``mod_revision`` of each key read (``guard=False`` drops the
      guards: a canary that loses appends), carrying the puts (the list read, plus the appended
      elements played forward) and the reads, in the transaction's order. A read after an
      append of its key in the same txn sees the append: etcd's txn reads its own writes.
      The reads are guarded by nothing and need nothing: they happen in the committing txn.
    """

    def __init__(self, etcd: EtcdClient, *, prefix: str, guard: bool, serializable_read_phase: bool) -> None:
        self.etcd = etcd
        self.prefix = prefix
        self.guard = guard
        self.serializable_read_phase = serializable_read_phase

    def key(self, k: int) -> str:
        return f"{self.prefix}{k}"

    def invoke(self, op: Op) -> Op:
        if op.f != "txn":
            raise ValueError(f"append: unknown op {op.f!r}")
        txn: list[MicroOp] = op.value
        written = list(dict.fromkeys(k for f, k, _ in txn if f == "append"))
        if not written:
            return self._read_only(op, txn)
        try:
            read = self.etcd.post("/v3/kv/txn", {"success": [
                request_range(self.key(k), serializable=self.serializable_read_phase) for k in written]})
            found = range_results(read, len(written))
        except EtcdError as e:
            # Reads change nothing and nothing was written yet: the transaction certainly did not happen.
            return complete_fail(op, f"read phase: {e}")
        read_rev = header_revision(read)
        lists: dict[int, list[int]] = {}
        guards: list[dict[str, Any]] = []
        for k, (raw, mod_rev) in zip(written, found, strict=True):
            current = decode_list(raw)
            if not isinstance(current, list):
                return _with_extra(complete_fail(op, f"read phase: key {k} holds {raw!r}, not a list"),
                                   read_rev=read_rev)
            lists[k] = current
            guards.append(compare_mod_revision(self.key(k), "EQUAL", mod_rev) if raw is not None
                          else compare_mod_revision(self.key(k), "LESS", read_rev))
        requests: list[dict[str, Any]] = []
        for f, k, v in txn:
            if f == "append":
                lists[k] = [*lists[k], v]
                requests.append(op_put(self.key(k), json.dumps(lists[k], separators=(",", ":"))))
            else:
                requests.append(request_range(self.key(k)))
        try:
            out = self.etcd.post("/v3/kv/txn", {"compare": guards if self.guard else [], "success": requests})
            if not out.get("succeeded", False):
                return _with_extra(complete_fail(op, "guard failed: a key changed after the read phase"),
                                   read_rev=read_rev)
            found = range_results(out, len(txn))
        except EtcdError as e:
            return _with_extra(complete_with_error(op, e), read_rev=read_rev)
        return _filled(op, txn, found, decode_list, rev=header_revision(out), read_rev=read_rev)

    def _read_only(self, op: Op, txn: list[MicroOp]) -> Op:
        try:
            out = self.etcd.post("/v3/kv/txn", {"success": [
                request_range(self.key(k), serializable=self.serializable_read_phase) for _, k, _ in txn]})
            found = range_results(out, len(txn))
        except EtcdError as e:
            return complete_with_error(op, e, idempotent=True)
        rev = header_revision(out)
        return _filled(op, txn, found, decode_list, rev=rev, read_rev=rev)

    def close(self) -> None:
        self.etcd.close()


class WrClient:
    """rw-register transactions: one etcd txn of ranges and blind puts, in the transaction's order.

    No guard: a blind write needs none, and a txn without compares always succeeds, so an
    answered txn is ``ok``. A read-only transaction is idempotent (an error is ``fail``);
    one that writes is ``info`` on an indeterminate error.
    """

    def __init__(self, etcd: EtcdClient, *, prefix: str) -> None:
        self.etcd = etcd
        self.prefix = prefix

    def invoke(self, op: Op) -> Op:
        if op.f != "txn":
            raise ValueError(f"wr: unknown op {op.f!r}")
        txn: list[MicroOp] = op.value
        requests = [op_put(f"{self.prefix}{k}", str(v)) if f == "w" else request_range(f"{self.prefix}{k}")
                    for f, k, v in txn]
        try:
            out = self.etcd.post("/v3/kv/txn", {"success": requests})
            found = range_results(out, len(txn))
        except EtcdError as e:
            return complete_with_error(op, e, idempotent=all(f == "r" for f, _, _ in txn))
        return _filled(op, txn, found, decode_register, rev=header_revision(out))

    def close(self) -> None:
        self.etcd.close()


def _filled(op: Op, txn: list[MicroOp], found: list[tuple[str | None, int]], decode: Callable[[str | None], Any],
            **revisions: int) -> Op:
    """The ``ok`` completion: ``txn`` with each read's value decoded from ``found`` (aligned with it),
    ``mod_revs`` (the key's mod_revision for reads, None for writes) and ``revisions`` in ``extra``."""
    value: list[MicroOp] = []
    mod_revs: list[int | None] = []
    for (f, k, v), (raw, mod_rev) in zip(txn, found, strict=True):
        if f == "r":
            value.append(["r", k, decode(raw)])
            mod_revs.append(mod_rev)
        else:
            value.append([f, k, v])
            mod_revs.append(None)
    return complete_ok(op, value, **revisions, mod_revs=mod_revs)


__all__ = ["AppendClient", "TxnGenerator", "WrClient", "final_read_invocations", "shared_options"]
