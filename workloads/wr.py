"""``wr``: read/write-register transactions checked with Elle's method (Jepsen's etcd ``wr`` test).

Each op is one transaction of 1 to ``max_txn_length`` micro-ops over a small rotating key space:

======  ==========================================  ===========================================
f       invoke value                                ok value
======  ==========================================  ===========================================
txn     ``[["w", 3, 17], ["r", 5, null]]``          the same, reads filled in: ``["r", 5, 4]``
                                                    (``null`` when the key is absent)
======  ==========================================  ===========================================

A transaction is one etcd txn of ranges and blind puts in transaction order (see
``workloads/_txn.py``, :class:`WrClient`); written values are unique per key. ``extra``:
``rev`` (the txn's revision: every write's ``mod_revision``) and ``mod_revs`` (the
``mod_revision`` of each key read, 0 when absent), from which the checker orders each key's
versions. Final reads after the heal look at every key once more.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from checkers import CONSISTENCY_MODELS, RwRegisterChecker
from workloads._base import Client, Option, WorkloadContext
from workloads._txn import TxnWorkload, WrClient, shared_options

if TYPE_CHECKING:
    from checkers import Checker
    from harness.etcd import Node

PREFIX = "/wr/"


class WrWorkload(TxnWorkload):
    write_f = "w"
    name = "wr"
    options = (
        Option("consistency_model", "str", "the model the history is checked against",
               default="strict-serializable", choices=CONSISTENCY_MODELS),
        *shared_options(default_key_count=3),
    )

    def open_client(self, ctx: WorkloadContext, node: Node, process: int) -> Client:
        return WrClient(ctx.cluster.client(node, request_timeout=self.spec.request_timeout), prefix=PREFIX)

    def checkers(self) -> dict[str, Checker]:
        return {"elle": RwRegisterChecker(consistency_model=self.consistency_model)}


__all__ = ["WrWorkload"]
