"""``append``: list-append transactions checked with Elle's method (Jepsen's etcd ``append`` test).

Each op is one transaction of 1 to ``max_txn_length`` micro-ops over a small rotating key space:

======  ==========================================  ===========================================
f       invoke value                                ok value
======  ==========================================  ===========================================
txn     ``[["append", 3, 17], ["r", 5, null]]``     the same, reads filled in: ``["r", 5, [2, 9]]``
                                                    (``[]`` when the key is absent)
======  ==========================================  ===========================================

On etcd a list is a JSON array in one key. A transaction that appends reads the keys it
appends to (the read phase, one txn), then commits one txn guarded by the ``mod_revision`` of
each key read, holding the puts and the reads in transaction order (see ``workloads/_txn.py``,
:class:`AppendClient`). A guard that did not hold is ``fail``, never retried; a read-only
transaction is one txn of ranges. ``extra``: ``rev`` (the committing txn's revision),
``read_rev`` (the read phase's), ``mod_revs`` (of each key read). Final reads after the heal
look at every key once more.

Canaries: ``guard=false`` puts without the guards, so concurrent appends overwrite each other
(lost appends); ``read_phase=serializable`` reads from the member's local state, so read-only
transactions on a partitioned member return stale lists (a real-time anomaly).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from checkers import CONSISTENCY_MODELS, ListAppendChecker
from workloads._base import Client, Option, WorkloadContext
from workloads._txn import AppendClient, TxnWorkload, shared_options

if TYPE_CHECKING:
    from checkers import Checker
    from harness.core import TestSpec
    from harness.etcd import Node

PREFIX = "/append/"


class AppendWorkload(TxnWorkload):
    write_f = "append"
    name = "append"
    options = (
        Option("guard", "bool", "guard the write txn on the mod_revision of each key read; false loses appends "
               "(a canary)", default=True),
        Option("read_phase", "str", "how the read phase (and a read-only txn) reads: serializable reads the "
               "member's local state, stale on a partitioned member (a canary)", default="linearizable",
               choices=("linearizable", "serializable")),
        Option("consistency_model", "str", "the model the history is checked against",
               default="strict-serializable", choices=CONSISTENCY_MODELS),
        *shared_options(default_key_count=3),
    )

    def __init__(self, spec: TestSpec) -> None:
        super().__init__(spec)
        self.guard = bool(self.option("guard"))
        self.serializable_read_phase = self.option("read_phase") == "serializable"

    def open_client(self, ctx: WorkloadContext, node: Node, process: int) -> Client:
        etcd = ctx.cluster.client(node, request_timeout=self.spec.request_timeout)
        return AppendClient(etcd, prefix=PREFIX, guard=self.guard,
                            serializable_read_phase=self.serializable_read_phase)

    def checkers(self) -> dict[str, Checker]:
        return {"elle": ListAppendChecker(consistency_model=self.consistency_model)}


__all__ = ["AppendWorkload"]
