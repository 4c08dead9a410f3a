"""``lock-v2``, ``lock-v2-set``: the lock recipe from etcd's early docs, on the v2 API.

Needs etcd 3.4 or 3.5 with ``--enable-v2`` (the harness's images enable it).
The recipe, per lock node ``/lock-v2/<name>``:

1. ``setup`` creates the lock node: ``PUT prevExist=false value=0`` (an existing
   node is fine).
2. Each acquire sets a dummy key and takes its ``modifiedIndex`` as a unique
   *instance id*.
3. ``PUT value=<id> prevValue=0 ttl=<TTL>``: a compare-and-swap that takes the
   lock. If the compare fails (412), long-poll watch the node
   (``wait=true&waitIndex=<index+1>``, bounded by a client timeout) and retry,
   until the acquire deadline (request timeout + TTL + hold_max, and never past the
   run's time limit: no compare is sent after it). While held, a background
   thread refreshes the TTL (``refresh=true prevValue=<id>``) every TTL/3.
4. Release: ``PUT value=0 prevValue=<id>``. The release is ``fail`` with
   ``extra.lease_lost`` when etcd refuses it, and its error says what etcd said:
   ``404 Key not found``: the node was gone, its TTL expired (nobody else is
   claimed to hold it); ``412 Compare failed``: the node holds another value,
   ``0`` (free again) or another instance id (then that acquire holds it now).

Ops are those of ``lock`` / ``lock-set`` (see :mod:`workloads.lock`), with
every v2 answer's ``X-Etcd-Index`` in the op's ``extra.x_etcd_index``. A CAS
whose answer is lost is ``info`` (it may hold the lock); a compare that failed,
or a deadline reached with only failed compares, is ``fail``.
"""

from __future__ import annotations

import contextlib
import random
import time
from typing import TYPE_CHECKING, Any

from checkers import MutexChecker, SetChecker
from harness.core import Op
from harness.etcd import EtcdClient, EtcdError, V2Response
from workloads._base import Client, WorkloadContext, complete_fail, complete_ok, complete_with_error
from workloads.lock import LockHolder, LockWorkload, Refresher, RefresherGroup, acquire_timeout

if TYPE_CHECKING:
    from checkers import Checker
    from harness.etcd import Node

LOCK_DIR = "/lock-v2/"
ID_KEY = "/lock-v2-ids/dummy"
FREE = "0"
COMPARE_FAILED = 101
KEY_NOT_FOUND = 100


class V2Refresher(Refresher):
    """Refreshes a held lock node's TTL (a CAS on our instance id); ``lost`` if etcd refuses it."""

    def __init__(self, etcd: EtcdClient, node_key: str, instance_id: str, ttl: int, request_timeout: float,
                 granted_at: float | None = None, group: RefresherGroup | None = None) -> None:
        super().__init__(ttl, request_timeout, name=f"v2-refresh-{instance_id}", granted_at=granted_at, group=group)
        self._args = (node_key, instance_id, ttl)
        self._etcd = etcd  # the holder's own refresh client
        self._thread.start()

    def refresh_once(self) -> bool:
        node_key, instance_id, ttl = self._args
        r = self._etcd.v2("PUT", node_key, {"refresh": "true", "prevValue": instance_id, "ttl": str(ttl)},
                          timeout=self._timeout)
        return r.status < 400


class LockV2Client:
    def __init__(self, workload: LockWorkload, etcd: EtcdClient, process: int, node: str) -> None:
        self.workload = workload
        self.spec = workload.spec
        self.etcd = etcd
        self.node = node
        self.process = process
        self.rng = random.Random(f"{self.spec.seed}:{process}:client")
        self.instance_id: str | None = None
        self.refresher: V2Refresher | None = None
        self.refresh_etcd = EtcdClient(etcd.endpoint, request_timeout=self.spec.request_timeout)
        self.held_key: str | None = None
        self.last_was_info = False

    def invoke(self, op: Op) -> Op:
        self.workload.board.track(self.node, op, None)
        done = self._invoke(op)
        self.workload.board.track(self.node, op, done)
        self.last_was_info = done.is_info
        return done

    def _invoke(self, op: Op) -> Op:
        if op.f == "acquire":
            return self.acquire(op)
        if op.f == "release":
            return self.release(op)
        if op.f == "add":
            return self.workload.add(self, op)
        if op.f == "read":
            return self.workload.read(self, op)
        raise ValueError(f"{self.workload.name}: unknown op {op.f!r}")

    def acquire(self, op: Op) -> Op:
        node_key = LOCK_DIR + str(op.key)
        indexes: list[int | None] = []
        try:
            dummy = self.etcd.v2("PUT", ID_KEY, form={"value": str(op.process)})
        except EtcdError as e:
            return complete_fail(op, f"instance id: {e}")  # a dummy key: the lock was not touched
        indexes.append(dummy.index)
        node = dummy.body.get("node", {})
        if dummy.status >= 400 or "modifiedIndex" not in node:
            return complete_fail(op, f"instance id: HTTP {dummy.status}: {dummy.body}")
        instance_id = str(node["modifiedIndex"])
        deadline = time.monotonic() + acquire_timeout(self.spec)
        ops_deadline = self.workload.ops_deadline
        if ops_deadline is not None:
            if time.monotonic() >= ops_deadline:  # the id took us past the time limit: no compare at all
                return complete_fail(op, "lock not requested: the run's time limit passed while the instance id "
                                         "was set").with_(extra=self._extra(instance_id, indexes, 0))
            deadline = min(deadline, ops_deadline)
        attempts = 0
        while True:
            attempts += 1
            sent = time.monotonic()
            try:
                r = self.etcd.v2("PUT", node_key, {"prevValue": FREE},
                                 form={"value": instance_id, "ttl": str(self.spec.ttl)})
            except EtcdError as e:
                return complete_with_error(op, e).with_(extra=self._extra(instance_id, indexes, attempts))
            indexes.append(r.index)
            if r.status < 300:
                self.instance_id = instance_id
                self.held_key = node_key
                self.refresher = V2Refresher(self.refresh_etcd, node_key, instance_id, self.spec.ttl,
                                             self.spec.request_timeout, granted_at=sent,
                                             group=self.workload.refreshers)
                return complete_ok(op, None, **self._extra(instance_id, indexes, attempts))
            code = r.body.get("errorCode")
            if code == KEY_NOT_FOUND:
                self._create_node(node_key)
            elif code != COMPARE_FAILED:
                return complete_fail(op, f"CAS: HTTP {r.status}: {r.body.get('message')}").with_(
                    extra=self._extra(instance_id, indexes, attempts))
            left = deadline - time.monotonic()
            if left <= 0:
                why = "the run's time limit" if ops_deadline is not None and deadline == ops_deadline else \
                    "the acquire deadline"
                return complete_fail(op, f"lock busy: {attempts} compares failed before {why}").with_(
                    extra=self._extra(instance_id, indexes, attempts))
            self._watch(node_key, r, min(left, float(self.spec.ttl)))

    def _watch(self, node_key: str, after: V2Response, timeout: float) -> None:
        """Long-poll for the next change of the lock node; any outcome just means "try again"."""
        since = after.body.get("index", after.index)
        params = {"wait": "true"}
        if isinstance(since, int):
            params["waitIndex"] = str(since + 1)
        with contextlib.suppress(EtcdError):
            self.etcd.v2("GET", node_key, params, timeout=max(0.05, timeout))

    def _create_node(self, node_key: str) -> None:
        with contextlib.suppress(EtcdError):
            self.etcd.v2("PUT", node_key, {"prevExist": "false"}, form={"value": FREE})

    @staticmethod
    def _extra(instance_id: str, indexes: list[int | None], attempts: int) -> dict[str, Any]:
        return {"instance_id": instance_id, "x_etcd_index": indexes, "attempts": attempts}

    def release(self, op: Op) -> Op:
        refresher, self.refresher = self.refresher, None
        lost = False
        keepalive: dict[str, Any] = {}
        if refresher is not None:
            keepalive = {"keepalive": refresher.summary()}
            refresher.stop()
            lost = refresher.lost
        instance_id, self.instance_id = self.instance_id, None
        self.held_key = None
        try:
            r = self.etcd.v2("PUT", LOCK_DIR + str(op.key), {"prevValue": instance_id or ""}, form={"value": FREE})
        except EtcdError as e:
            return complete_with_error(op, e).with_(extra=({"lease_lost": True} if lost else {}) | keepalive or None)
        extra: dict[str, Any] = {"instance_id": instance_id, "x_etcd_index": r.index, **keepalive}
        if r.status < 300:
            return complete_ok(op, None, **extra, **({"lease_lost": True} if lost else {}))
        return complete_fail(op, release_refused(LOCK_DIR + str(op.key), instance_id, r)).with_(
            extra=extra | {"lease_lost": True})

    def close(self) -> None:
        if self.refresher is not None and not self.last_was_info:
            # Held when the run ended: keep refreshing until every worker stopped (see LockClient.close).
            self.workload.park(self._close_now)
            return
        self._close_now()

    def _close_now(self, revoke: bool = True) -> None:
        """Stop the refreshes and (``revoke``: not at teardown, when the cluster may be gone) free the node."""
        self.workload.board.leave(self.process)
        if self.refresher is not None:
            self.refresher.stop()
            self.refresher = None
            if revoke and self.held_key is not None and self.instance_id is not None:
                with contextlib.suppress(EtcdError):  # free the node for the final state; best effort
                    self.etcd.v2("PUT", self.held_key, {"prevValue": self.instance_id}, form={"value": FREE},
                                 timeout=min(1.0, self.spec.request_timeout))
        self.refresh_etcd.close()
        self.etcd.close()


def release_refused(node_key: str, instance_id: str | None, r: V2Response) -> str:
    """What a refused release means, from etcd's answer: the node was gone (its TTL expired), free again,
    or held by another instance, with etcd's own words. Nobody else is said to hold the lock unless
    etcd's compare shows another instance id in the node."""
    code, message, cause = r.body.get("errorCode"), r.body.get("message"), r.body.get("cause")
    said = f"etcd: HTTP {r.status} {code} {message}" + (f" {cause}" if cause else "")
    if code == KEY_NOT_FOUND:
        return f"release refused: the lock node {node_key} was gone, its TTL expired while held ({said})"
    if code == COMPARE_FAILED:
        # The cause reads "[<our id> != <what the node holds>]".
        current = str(cause).rsplit("!=", 1)[-1].strip(" ]") if cause and "!=" in str(cause) else None
        if current == FREE:
            return (f"release refused: the lock node {node_key} was free again, not ours: its TTL expired "
                    f"while held ({said})")
        if current is not None and current != instance_id:
            return (f"release refused: the lock node {node_key} holds instance {current}: our TTL expired and "
                    f"that acquire took the lock ({said})")
    return f"release refused: the lock node {node_key} no longer holds our instance {instance_id} ({said})"


class LockV2Workload(LockWorkload):
    """``lock-v2``: acquire (the v2 recipe), hold 0–2 s, release."""

    name = "lock-v2"

    def setup(self, ctx: WorkloadContext) -> None:
        with ctx.cluster.client(ctx.cluster.nodes[0], request_timeout=self.spec.request_timeout) as etcd:
            for key in self.locks:
                etcd.v2("PUT", LOCK_DIR + key, {"prevExist": "false"}, form={"value": FREE})

    def open_client(self, ctx: WorkloadContext, node: Node, process: int) -> Client:
        self.ops_deadline = ctx.ops_deadline
        etcd = ctx.cluster.client(node, request_timeout=self.spec.request_timeout)
        return LockV2Client(self, etcd, process, node.name)


class LockV2SetWorkload(LockV2Workload):
    """``lock-v2-set``: the v2 lock guards a read-modify-write of a set held by the harness."""

    name = "lock-v2-set"
    resource = "harness"
    def add(self, client: LockHolder, op: Op) -> Op:
        return self.harness_set.add(client.rng, op)

    def read(self, client: LockHolder, op: Op) -> Op:
        return self.harness_set.read(op)

    def checkers(self) -> dict[str, Checker]:

        return {"mutex": MutexChecker(), "set": SetChecker()}


__all__ = ["LockV2Client", "LockV2SetWorkload", "LockV2Workload", "V2Refresher", "release_refused"]
