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

import random
from typing import TYPE_CHECKING

from checkers import CONSISTENCY_MODELS, RwRegisterChecker
from workloads._base import Client, Invocation, Option, ProcessScript, Workload, WorkloadContext
from workloads._txn import TxnGenerator, WrClient, final_read_invocations, shared_options

if TYPE_CHECKING:
    from checkers import Checker
    from harness.core import TestSpec
    from harness.etcd import Node

PREFIX = "/wr/"


class WrWorkload(Workload):
    name = "wr"
    options = (
        Option("consistency_model", "str", "the model the history is checked against",
               default="strict-serializable", choices=CONSISTENCY_MODELS),
        *shared_options(default_key_count=3),
    )

    def __init__(self, spec: TestSpec) -> None:
        super().__init__(spec)
        self.consistency_model = str(self.option("consistency_model"))
        self.generator = TxnGenerator("w", key_count=int(self.option("key_count")),
                                      max_writes_per_key=int(self.option("max_writes_per_key")),
                                      max_txn_length=int(self.option("max_txn_length")),
                                      read_fraction=float(self.option("read_fraction")))

    def open_client(self, ctx: WorkloadContext, node: Node, process: int) -> Client:
        return WrClient(ctx.cluster.client(node, request_timeout=self.spec.request_timeout), prefix=PREFIX)

    def script(self, process: int, rng: random.Random) -> ProcessScript:
        while True:
            yield Invocation("txn", self.generator.next_txn(rng))

    def final_invocations(self) -> list[Invocation]:
        return final_read_invocations(self.generator.used_keys())

    def checkers(self) -> dict[str, Checker]:
        return {"elle": RwRegisterChecker(consistency_model=self.consistency_model)}


__all__ = ["WrWorkload"]
