"""``ttl``: keys written with a TTL (v2) or under a lease (v3) stay gone after they expire.

Each write goes to a fresh key, which is then read again and again:

=======  ===================================================  =========================================
f        request                                              completion
=======  ===================================================  =========================================
write    v2: ``PUT /v2/keys/ttl/<key>`` value, ``ttl=T``;     ok ``[value, T]`` (T: the TTL granted)
         v3: LeaseGrant(T), then Put under the lease
read     v2: ``GET ...?quorum=true``; v3: linearizable Range  ok the value, ``null`` if absent
wait     (after heal) sleep ``T + tolerance + settle``         ok
=======  ===================================================  =========================================

``op.key`` is ``"v2/k<n>"`` or ``"v3/k<n>"``. Expiry is a timing property, so
``checkers.ttl.TTLChecker`` checks only what is sound: a value read was
written; and while the cluster is healthy a key is not read back later than
its expiry plus a tolerance (``spec.options["ttl_tolerance"]``, default 2 s).

Revisions (v3 only, ``extra``, checked by ``checkers.revisions.RevisionChecker``):
a write records ``rev`` (its put's revision) with ``lease``; a read ``rev``,
``mod_rev``, ``create_rev``, ``version`` (0 when absent). v2 ops carry none.

Options (``spec.options``): ``ttl_tolerance`` (seconds), ``lie_ttl`` (canary:
the client asks etcd for ten times the TTL it records, so keys outlive what the
history says; the checker must report them).
"""

from __future__ import annotations

import random
import threading
import time
from typing import TYPE_CHECKING, Any

from checkers.revisions import RevisionChecker
from checkers.ttl import TTLChecker
from harness.core import Op
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
    key_revisions,
)

if TYPE_CHECKING:
    from checkers import Checker
    from harness.etcd import Node

V2_PREFIX = "/ttl-v2/"
V3_PREFIX = "/ttl/"
DEFAULT_TOLERANCE_S = 2.0
SETTLE_S = 2.0  # after a fault stops, time for leadership to settle before expiry is judged
RECENT = 16  # reads go to the most recently written keys
LIE_FACTOR = 10


def etcd_key(key: str) -> str:
    api, name = key.split("/", 1)
    return (V2_PREFIX if api == "v2" else V3_PREFIX) + name


class TTLClient:
    def __init__(self, etcd: EtcdClient, lie: bool) -> None:
        self.etcd = etcd
        self.lie = lie

    def invoke(self, op: Op) -> Op:
        try:
            if op.f == "wait":
                time.sleep(float(op.value))
                return complete_ok(op, op.value)
            api = str(op.key).split("/", 1)[0]
            key = etcd_key(str(op.key))
            if op.f == "write":
                value, ttl = op.value
                asked = ttl * LIE_FACTOR if self.lie else ttl
                if api == "v2":
                    r = self.etcd.v2("PUT", key, form={"value": value, "ttl": str(asked)})
                    if r.status >= 400:
                        return complete_fail(op, f"v2 {r.body.get('errorCode')}: {r.body.get('message')}")
                    granted = int(r.body["node"].get("ttl", asked))
                    return complete_ok(op, [value, ttl if self.lie else granted])
                try:
                    grant = self.etcd.post("/v3/lease/grant", {"TTL": str(asked)})
                except EtcdError as e:  # no key was written: a harmless lease at most
                    return complete_fail(op, f"lease grant: {e}")
                lease, granted = int(grant["ID"]), int(grant.get("TTL", asked))  # etcd may raise a short TTL
                rev = self.etcd.put(key, value, lease=lease)
                return complete_ok(op, [value, ttl if self.lie else granted], lease=lease, rev=rev)
            if op.f == "read":
                if api == "v2":
                    r = self.etcd.v2("GET", key, {"quorum": "true"})
                    if r.status == 404:
                        return complete_ok(op, None)
                    if r.status >= 400:
                        return complete_fail(op, f"v2 {r.body.get('errorCode')}: {r.body.get('message')}")
                    return complete_ok(op, r.body["node"].get("value"))
                rev, kv = self.etcd.get_with_revision(key)
                return complete_ok(op, None if kv is None else kv.value, **key_revisions(rev, kv))
        except EtcdError as e:
            return complete_with_error(op, e, idempotent=op.f == "read")
        raise ValueError(f"ttl: unknown op {op.f!r}")

    def close(self) -> None:
        self.etcd.close()


class TTLWorkload(Workload):
    name = "ttl"
    options = (
        Option("ttl_tolerance", "number", "seconds a key may still be read past its expiry on a healthy cluster",
               default=DEFAULT_TOLERANCE_S, minimum=0),
        Option("lie_ttl", "bool", "ask etcd for 10x the TTL the history records (a canary)", default=False),
    )

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        self.ttl = max(1, int(spec.ttl))
        self.tolerance = float(self.option("ttl_tolerance"))
        self.lie = bool(self.option("lie_ttl"))
        self.apis = ["v3"]
        self._lock = threading.Lock()
        self._next = 0
        self.written: list[str] = []

    def setup(self, ctx: WorkloadContext) -> None:
        self.apis = ["v3", "v2"] if ctx.cluster.v2_enabled else ["v3"]

    def open_client(self, ctx: WorkloadContext, node: Node, process: int) -> Client:
        return TTLClient(ctx.cluster.client(node, request_timeout=self.spec.request_timeout), self.lie)

    def _fresh_key(self, api: str) -> str:
        with self._lock:
            self._next += 1
            key = f"{api}/k{self._next}"
            self.written.append(key)
            return key

    def _recent(self, rng: random.Random) -> str | None:
        with self._lock:
            recent = self.written[-RECENT:]
        return rng.choice(recent) if recent else None

    def script(self, process: int, rng: random.Random) -> ProcessScript:
        api = self.apis[process % len(self.apis)]
        n = 0
        while True:
            key = self._recent(rng)
            if key is None or rng.random() < 0.2:
                n += 1
                yield Invocation("write", [f"{process}.{n}", self.ttl], self._fresh_key(api))
            else:
                yield Invocation("read", None, key)

    def final_invocations(self) -> list[Invocation]:
        with self._lock:
            keys = list(self.written)
        wait = self.ttl + self.tolerance + SETTLE_S + 1.0
        return [Invocation("wait", wait), *[Invocation("read", None, key) for key in keys]]

    def checkers(self) -> dict[str, Checker]:

        return {"ttl": TTLChecker(tolerance_s=self.tolerance, settle_s=SETTLE_S), "revisions": RevisionChecker("ttl")}
