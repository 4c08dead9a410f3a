"""``counter``: a grow-only counter in one etcd key, with interleaved reads.

=====  ================================================================  ==========================
f      request                                                           completion
=====  ================================================================  ==========================
add    ``--counter-mode safe`` (default): Range, then a Txn that puts    ok; fail if it certainly
       value + n if the key's mod_revision is still the one read. A      did not apply (a read
       compare that failed certainly applied nothing, so only then is    failed, or every compare
       it retried (up to ``MAX_ATTEMPTS`` times, within the request     failed); info if unknown
       timeout). ``unsafe``: Range, then a blind Put of value + n: a
       canary that loses increments under concurrency.
read   Range (``--read-mode`` as for register)                           ok with the count (0 if
                                                                         absent)
=====  ================================================================  ==========================

``n`` is a random small increment (1–5). The checker is Jepsen's counter
checker (:class:`checkers.CounterChecker`); a final read follows the heal.

Revisions (``extra``, checked by ``checkers.revisions.RevisionChecker``): a read
records ``rev`` (header), ``mod_rev``, ``create_rev``, ``version`` (0 when absent;
``serializable: true`` for serializable reads); an ``ok`` add records ``rev`` (its
write's revision) and, in safe mode, ``succeeded``; an add whose every compare
failed records the last txn's ``rev`` and ``succeeded: false``.
"""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any

from checkers import CounterChecker
from checkers.revisions import RevisionChecker
from harness.core import Op
from harness.etcd import EtcdClient, EtcdError, cmp_mod_revision, header_revision, op_put
from workloads._base import (
    Client,
    Invocation,
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

KEY = "/counter/c"
MAX_INCREMENT = 5
MAX_ATTEMPTS = 20


class CounterClient:
    def __init__(self, etcd: EtcdClient, *, safe: bool, serializable: bool, deadline_s: float) -> None:
        self.etcd = etcd
        self.safe = safe
        self.serializable = serializable
        self.deadline_s = deadline_s

    def _current(self) -> tuple[int, int]:
        """(count, mod_revision); an absent key is (0, 0), and a compare on mod_revision 0 means absent."""
        kv = self.etcd.get(KEY)
        return (0, 0) if kv is None else (int(kv.value), kv.mod_revision)

    def invoke(self, op: Op) -> Op:
        if op.f == "read":
            try:
                rev, kv = self.etcd.get_with_revision(KEY, serializable=self.serializable)
            except EtcdError as e:
                return complete_with_error(op, e, idempotent=True)
            extra: dict[str, Any] = key_revisions(rev, kv)
            if self.serializable:
                extra["serializable"] = True
            return complete_ok(op, 0 if kv is None else int(kv.value), **extra)
        if op.f != "add":
            raise ValueError(f"counter: unknown op {op.f!r}")
        return self.add_safe(op) if self.safe else self.add_unsafe(op)

    def add_safe(self, op: Op) -> Op:
        deadline = time.monotonic() + self.deadline_s
        rev = 0
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                value, revision = self._current()
            except EtcdError as e:
                # Every earlier attempt certainly failed its compare: nothing was applied.
                return complete_fail(op, f"read before add: {e}")
            try:
                swapped, out = self.etcd.txn([cmp_mod_revision(KEY, revision)],
                                             [op_put(KEY, str(value + op.value))])
            except EtcdError as e:
                return complete_with_error(op, e)
            rev = header_revision(out)
            if swapped:
                more: dict[str, Any] = {"attempts": attempt} if attempt > 1 else {}
                return complete_ok(op, op.value, rev=rev, succeeded=True, **more)
            if time.monotonic() > deadline:
                break
        return complete_fail(op, f"the compare failed {attempt} times (contention)", rev=rev, succeeded=False)

    def add_unsafe(self, op: Op) -> Op:
        try:
            value, _ = self._current()
        except EtcdError as e:
            return complete_fail(op, f"read before add: {e}")
        try:
            rev = self.etcd.put(KEY, str(value + op.value))
        except EtcdError as e:
            return complete_with_error(op, e)
        return complete_ok(op, op.value, rev=rev)

    def close(self) -> None:
        self.etcd.close()


class CounterWorkload(Workload):
    name = "counter"

    def open_client(self, ctx: WorkloadContext, node: Node, process: int) -> Client:
        etcd = ctx.cluster.client(node, request_timeout=self.spec.request_timeout)
        return CounterClient(etcd, safe=self.spec.counter_mode != "unsafe",
                             serializable=self.spec.read_mode == "serializable",
                             deadline_s=2 * self.spec.request_timeout)

    def script(self, process: int, rng: random.Random) -> ProcessScript:
        while True:
            if rng.random() < 0.6:
                yield Invocation("add", rng.randint(1, MAX_INCREMENT))
            else:
                yield Invocation("read")

    def final_invocations(self) -> list[Invocation]:
        return [Invocation("read")]

    def checkers(self) -> dict[str, Checker]:

        return {"counter": CounterChecker(), "revisions": RevisionChecker("counter")}


__all__ = ["CounterClient", "CounterWorkload"]
