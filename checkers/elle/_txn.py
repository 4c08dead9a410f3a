"""Transactions read out of a history, and their well-formedness.

A transaction op (the contract the ``append`` and ``wr`` workloads write, and Jepsen's
``:f :txn`` ops read from EDN) has ``f == "txn"`` and, as its value, a list of
micro-ops ``[f, key, value]``:

====================  ======================  ==================================
micro-op              invoke value            ``ok`` value
====================  ======================  ==================================
append (list-append)  ``["append", k, v]``    the same
w (rw-register)       ``["w", k, v]``         the same
r                     ``["r", k, None]``      list-append: the list read (``[]``
                                              when absent); rw-register: the
                                              value read, ``None`` when absent
====================  ======================  ==================================

``fail``: the transaction certainly did not happen; ``info`` or no completion: it
may have happened, any time after its invocation. ``extra`` of an ``ok`` op may
carry etcd revisions (``rev``, ``read_rev``, ``mod_revs``); a history without them
still checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from harness.core import History, Op, OpType

#: What a transaction's outcome may be.
Outcome = Literal["ok", "fail", "info"]
#: One micro-op as the checker keeps it: ``(f, key, value)``.
Mop = tuple[str, Any, Any]

#: A time after every recorded time: the completion of a transaction that never completed.
NEVER = 2**63


@dataclass(slots=True)
class Txn:
    """One transaction: its invocation, its outcome and its micro-ops.

    ``id`` is its position in :attr:`Transactions.txns`; ``index`` the history index of
    its invocation (``T{index}`` in explanations), ``done_index`` of its completion
    (``None`` if it never completed). ``mops`` are the completion's micro-ops for an
    ``ok`` transaction (reads filled in), else the invocation's.
    """

    id: int
    index: int
    done_index: int | None
    process: Any
    outcome: Outcome
    mops: list[Mop]
    invoke_time: int
    complete_time: int  # NEVER unless ok or fail
    rev: int | None = None
    mod_revs: list[Any] | None = None

    @property
    def label(self) -> str:
        return f"T{self.index}"


class MalformedTxn(ValueError):
    """A transaction op the checker cannot read; the message names the op index and the rule,
    ``position`` is the op's position in the history (for the reader to name its line)."""

    def __init__(self, position: int, message: str) -> None:
        super().__init__(message)
        self.position = position


def _int_key(v: Any) -> bool:
    return type(v) is int or type(v) is str


def read_txns(history: History, kind: Literal["list-append", "rw-register"]) -> list[Txn]:
    """Every client ``txn`` op of ``history`` as a :class:`Txn`, in invocation order.

    Raises :class:`MalformedTxn` for a micro-op that is not ``[f, k, v]`` with ``f`` one of
    this kind's (``append``/``r`` or ``w``/``r``), a key that is not an int or string, or an
    ``ok`` value that does not mirror its invocation.
    """
    try:
        return _read_txns(history, kind)
    except MalformedTxn as e:
        # ``position``: where the op is in the history (a file's indexes need not be positions)
        e.position = next((i for i, op in enumerate(history.ops) if op.index == e.position), -1)
        raise


def _read_txns(history: History, kind: Literal["list-append", "rw-register"]) -> list[Txn]:
    write_f = "append" if kind == "list-append" else "w"
    txns: list[Txn] = []
    for inv, done in history.pairs():
        if not inv.is_client or inv.f != "txn":
            continue
        outcome: Outcome = "info"
        if done is not None and done.type is OpType.OK:
            outcome = "ok"
        elif done is not None and done.type is OpType.FAIL:
            outcome = "fail"
        mops = invoked = _mops(inv, write_f, kind)
        if outcome == "ok" and done is not None:
            mops = _mops(done, write_f, kind)
            if len(invoked) != len(mops) or any(a[:2] != b[:2] for a, b in zip(invoked, mops, strict=True)):
                raise MalformedTxn(done.index, f"op {done.index}: the ok value's micro-ops must be its "
                                               "invocation's, in order, with the reads filled in")
        rev = mod_revs = None
        extra = done.extra if done is not None and outcome == "ok" else None
        if extra:
            rev = extra.get("rev") if type(extra.get("rev")) is int else None
            m = extra.get("mod_revs")
            mod_revs = m if isinstance(m, list) and len(m) == len(mops) else None
        complete_time = done.time if done is not None and outcome != "info" else NEVER
        txns.append(Txn(len(txns), inv.index, None if done is None else done.index, inv.process, outcome, mops,
                        inv.time, complete_time, rev, mod_revs))
    return txns


def _mops(op: Op, write_f: str, kind: str) -> list[Mop]:
    value = op.value
    if not isinstance(value, list) or not value:
        raise MalformedTxn(op.index, f"op {op.index}: a txn value must be a non-empty list of micro-ops "
                           f"like [[\"{write_f}\", 3, 17], [\"r\", 5, null]], got {value!r:.80}")
    out: list[Mop] = []
    for m in value:
        if not isinstance(m, list | tuple) or len(m) != 3 or m[0] not in (write_f, "r") or not _int_key(m[1]):
            raise MalformedTxn(op.index, f"op {op.index}: micro-op {m!r:.60} is not [\"{write_f}\"|\"r\", key, value] "
                               f"(a {kind} history)")
        f, k, v = m
        if f == "r" and op.type is OpType.OK and kind == "list-append" and not (v is None or isinstance(v, list)):
            raise MalformedTxn(op.index, f"op {op.index}: a list-append read must return a list, got {v!r:.60}")
        out.append((str(f), k, tuple(v) if isinstance(v, list) else v))
    return out
