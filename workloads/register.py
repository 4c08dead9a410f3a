"""``register``: independent compare-and-set registers (Jepsen's etcd register test).

Ops, each on one key of a small rotating set of keys:

=======  ==============================  ==========================================
f        request                         completion
=======  ==============================  ==========================================
read     Range (linearizable by default;  ok with the value, or null if absent
         ``--read-mode serializable``
         reads a member's local state)
write    Put                             ok
cas      Txn: value == old → Put new     ok if it swapped; fail if the compare failed
=======  ==============================  ==========================================

Values come from 0–4, so reads say something. A key retires after
``--ops-per-key`` ops; the linearizability checker splits the history by key.
"""

from __future__ import annotations

import random
import threading
from typing import TYPE_CHECKING, Any

from checkers import LinearizabilityChecker
from harness.core import Op
from harness.etcd import EtcdClient, EtcdError, cmp_value, op_put
from workloads._base import (
    Client,
    Invocation,
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

VALUES = 5
PREFIX = "/register/"


class KeyRotation:
    """The keys in play: a few at a time; each retires after ``ops_per_key`` ops. Thread-safe."""

    def __init__(self, in_play: int, ops_per_key: int) -> None:
        self._lock = threading.Lock()
        self.ops_per_key = max(1, ops_per_key)
        self._next = in_play
        self._keys = list(range(in_play))
        self._counts = [0] * in_play
        self.used: list[int] = list(range(in_play))

    def pick(self, rng: random.Random) -> int:
        with self._lock:
            slot = rng.randrange(len(self._keys))
            key = self._keys[slot]
            self._counts[slot] += 1
            if self._counts[slot] >= self.ops_per_key:
                self._keys[slot], self._counts[slot] = self._next, 0
                self.used.append(self._next)
                self._next += 1
            return key


class RegisterClient:
    def __init__(self, etcd: EtcdClient, serializable: bool) -> None:
        self.etcd = etcd
        self.serializable = serializable

    def invoke(self, op: Op) -> Op:
        key = f"{PREFIX}{op.key}"
        try:
            if op.f == "read":
                kv = self.etcd.get(key, serializable=self.serializable)
                return complete_ok(op, None if kv is None else int(kv.value))
            if op.f == "write":
                self.etcd.put(key, str(op.value))
                return complete_ok(op, op.value)
            if op.f == "cas":
                old, new = op.value
                swapped, _ = self.etcd.txn([cmp_value(key, str(old))], [op_put(key, str(new))])
                return complete_ok(op, op.value) if swapped else complete_fail(op, "compare failed")
        except EtcdError as e:
            return complete_with_error(op, e, idempotent=op.f == "read")
        raise ValueError(f"register: unknown op {op.f!r}")

    def close(self) -> None:
        self.etcd.close()


class RegisterWorkload(Workload):
    name = "register"

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        self.keys = KeyRotation(max(1, spec.concurrency // 5), spec.ops_per_key)

    def open_client(self, ctx: WorkloadContext, node: Node, process: int) -> Client:
        etcd = ctx.cluster.client(node, request_timeout=self.spec.request_timeout)
        return RegisterClient(etcd, serializable=self.spec.read_mode == "serializable")

    def script(self, process: int, rng: random.Random) -> ProcessScript:
        while True:
            key = self.keys.pick(rng)
            r = rng.random()
            if r < 0.4:
                yield Invocation("read", None, key)
            elif r < 0.7:
                yield Invocation("write", rng.randrange(VALUES), key)
            else:
                yield Invocation("cas", [rng.randrange(VALUES), rng.randrange(VALUES)], key)

    def final_invocations(self) -> list[Invocation]:
        return [Invocation("read", None, key) for key in self.keys.used]

    def checkers(self) -> dict[str, Checker]:

        return {"linear": LinearizabilityChecker("cas-register")}
