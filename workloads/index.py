"""``index`` (v2): the global ``X-Etcd-Index`` never goes back in real time.

Every v2 response carries ``X-Etcd-Index``, the store's index when it answered;
every v2 write increments it. Processes write and read a few keys:

=======  ===========================================  ==============================================
f        request                                      completion
=======  ===========================================  ==============================================
write    ``PUT /v2/keys/index/<key>`` value           ok ``{"index": X-Etcd-Index,
                                                      "modified": modifiedIndex}``
read     ``GET /v2/keys/index/<key>?quorum=true``     ok ``{"index": X-Etcd-Index,
                                                      "modified": modifiedIndex or null}``
=======  ===========================================  ==============================================

The checker (``checkers.index.IndexChecker``) asks that an op which began after
another completed sees an index at least as large, and that a write's
modifiedIndex is larger than any index completed before it began.

Options (``spec.options``): ``quorum`` (default ``true``). ``quorum=false`` is the
canary: v2 reads are then served from the member's local store, which lags on a
partitioned member, so the index goes back and the checker must say so.
``read_fraction`` (default 0.5): the share of reads. The canary reads more: a
client of a cut-off member stalls on its first write (and then moves to another
node), so only a read-mostly client keeps reading there long enough.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from checkers.index import IndexChecker
from harness.core import Op, UsageError
from harness.etcd import EtcdClient, EtcdError
from workloads._base import (
    Client,
    Invocation,
    Option,
    ProcessScript,
    Workload,
    WorkloadContext,
    complete_fail,
    complete_ok,
    complete_with_error,
)

if TYPE_CHECKING:
    from checkers import Checker
    from harness.etcd import Node

PREFIX = "/index/"
KEYS = 5


class IndexClient:
    def __init__(self, etcd: EtcdClient, quorum: bool) -> None:
        self.etcd = etcd
        self.quorum = quorum

    def invoke(self, op: Op) -> Op:
        key = f"{PREFIX}{op.key}"
        try:
            if op.f == "write":
                r = self.etcd.v2("PUT", key, form={"value": str(op.value)})
                if r.status >= 400 or r.index is None:
                    return complete_fail(op, f"v2 {r.body.get('errorCode')}: {r.body.get('message')}")
                return complete_ok(op, {"index": r.index, "modified": int(r.body["node"]["modifiedIndex"])})
            if op.f == "read":
                params = {"quorum": "true"} if self.quorum else {}
                r = self.etcd.v2("GET", key, params)
                if r.index is None or (r.status >= 400 and r.body.get("errorCode") != 100):
                    return complete_fail(op, f"v2 {r.body.get('errorCode')}: {r.body.get('message')}")
                node = r.body.get("node") or {}
                modified = node.get("modifiedIndex")
                return complete_ok(op, {"index": r.index, "modified": None if modified is None else int(modified)})
        except EtcdError as e:
            return complete_with_error(op, e, idempotent=op.f == "read")
        raise ValueError(f"index: unknown op {op.f!r}")

    def close(self) -> None:
        self.etcd.close()


class IndexWorkload(Workload):
    name = "index"
    options = (
        Option("quorum", "bool", "v2 reads with quorum=true; false reads a member's local store (a canary)",
               default=True),
        Option("read_fraction", "number", "the share of ops that are reads", default=0.5, minimum=0, maximum=1),
    )

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        self.quorum = bool(self.option("quorum"))
        self.read_fraction = self.option("read_fraction")
        self.check_options()

    def setup(self, ctx: WorkloadContext) -> None:
        if not ctx.cluster.v2_enabled:

            raise UsageError(f"the index workload needs the v2 API, which etcd {ctx.cluster.etcd_version} lacks; "
                             "use an image of etcd 3.4 or 3.5")

    def open_client(self, ctx: WorkloadContext, node: Node, process: int) -> Client:
        return IndexClient(ctx.cluster.client(node, request_timeout=self.spec.request_timeout), self.quorum)

    def script(self, process: int, rng: random.Random) -> ProcessScript:
        n = 0
        while True:
            key = f"k{rng.randrange(KEYS)}"
            n += 1
            if rng.random() < self.read_fraction:
                yield Invocation("read", None, key)
            else:
                yield Invocation("write", f"{process}.{n}", key)

    def final_invocations(self) -> list[Invocation]:
        return [Invocation("read", None, f"k{k}") for k in range(KEYS)]

    def checkers(self) -> dict[str, Checker]:

        return {"index": IndexChecker()}
