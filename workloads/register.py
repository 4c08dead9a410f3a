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

Each completion that got an answer records etcd's revisions in ``extra``: ``rev``
(the header's revision; a write's own revision), and for reads the key's
``mod_rev``, ``create_rev`` and ``version`` (0 when absent; ``serializable: true``
for serializable reads); a cas records ``succeeded`` (which branch ran), also when
its compare failed. ``checkers.revisions.RevisionChecker`` checks them.

Option ``lie_revision`` (canary): the client reports, as each op's header
revision, the one of its previous answer; the revision checker must catch it.
"""

from __future__ import annotations

import random
import threading
from typing import TYPE_CHECKING, Any

from checkers import LinearizabilityChecker
from checkers.revisions import RevisionChecker
from harness.core import Op
from harness.etcd import EtcdClient, EtcdError, cmp_value, header_revision, op_put
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
    """``lie_revision``: a canary client that reports, as each op's header revision, the one of its
    previous answer (its first answer's own): stale revisions that real time contradicts."""

    def __init__(self, etcd: EtcdClient, serializable: bool, lie_revision: bool = False) -> None:
        self.etcd = etcd
        self.serializable = serializable
        self.lie_revision = lie_revision
        self._previous_rev = 0

    def _reported(self, rev: int) -> int:
        """The header revision to record: ``rev``, or under ``lie_revision`` the previous answer's."""
        if not self.lie_revision:
            return rev
        reported, self._previous_rev = self._previous_rev or rev, rev
        return reported

    def invoke(self, op: Op) -> Op:
        key = f"{PREFIX}{op.key}"
        try:
            if op.f == "read":
                rev, kv = self.etcd.get_with_revision(key, serializable=self.serializable)
                extra: dict[str, Any] = key_revisions(self._reported(rev), kv)
                if self.serializable:
                    extra["serializable"] = True
                return complete_ok(op, None if kv is None else int(kv.value), **extra)
            if op.f == "write":
                rev = self.etcd.put(key, str(op.value))
                return complete_ok(op, op.value, rev=self._reported(rev))
            if op.f == "cas":
                old, new = op.value
                swapped, out = self.etcd.txn([cmp_value(key, str(old))], [op_put(key, str(new))])
                rev = self._reported(header_revision(out))
                if swapped:
                    return complete_ok(op, op.value, rev=rev, succeeded=True)
                return complete_fail(op, "compare failed", rev=rev, succeeded=False)
        except EtcdError as e:
            return complete_with_error(op, e, idempotent=op.f == "read")
        raise ValueError(f"register: unknown op {op.f!r}")

    def close(self) -> None:
        self.etcd.close()


class RegisterWorkload(Workload):
    name = "register"
    options = (
        Option("corrupt_member", "bool",
               "canary of the end-of-run HashKV check: after the final reads, overwrite one value inside the "
               "last member's bbolt file (the runner does it, harness/run/_cluster_facts.py); hashkv must "
               "then be invalid", default=False),
        Option("lie_revision", "bool", "record each op's header revision as the one of the client's previous "
               "answer (a canary for the revision checker)", default=False),
    )

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        self.keys = KeyRotation(max(1, spec.concurrency // 5), spec.ops_per_key)

    def open_client(self, ctx: WorkloadContext, node: Node, process: int) -> Client:
        etcd = ctx.cluster.client(node, request_timeout=self.spec.request_timeout)
        return RegisterClient(etcd, serializable=self.spec.read_mode == "serializable",
                              lie_revision=bool(self.option("lie_revision")))

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

        return {"linear": LinearizabilityChecker("cas-register"), "revisions": RevisionChecker("register")}
