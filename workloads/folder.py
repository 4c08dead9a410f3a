"""``folder``: recursive reads of a folder are linearizable as whole-map snapshots (v3).

Writers put and delete keys under a folder; readers range-read the whole
folder (one Range over its prefix). The history is checked against a map
model (``checkers.folder_model.FolderModel``) in which a read returns the
entire map at one instant.

=======  ==================  ===================================================
f        request             completion
=======  ==================  ===================================================
put      Put                 ok ``[key, value]``
delete   DeleteRange (key)   ok ``true``/``false``: whether a key was removed
read     Range over prefix   ok ``{key: value}`` (linearizable; with the option
                             ``stale_reads`` serializable: a canary that may
                             return an old snapshot from a partitioned member)
=======  ==================  ===================================================

Folders (``op.key``) rotate like the register's keys: each retires after
``--ops-per-key`` ops, so the checker works on short independent partitions.

Revisions (``extra``, checked by ``checkers.revisions.RevisionChecker``): every
answer records ``rev`` (the header's revision: a put's own); a delete also
``deleted`` (how many keys went); a read ``mod_revs``: ``{subkey: [mod_revision,
create_revision, version]}`` of the keys it returned (and ``serializable: true``
under ``stale_reads``).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from checkers.folder_model import FolderModel
from checkers.linearizable import LinearizabilityChecker
from checkers.revisions import RevisionChecker
from harness.core import Op
from harness.etcd import EtcdClient, EtcdError, b64, header_revision
from workloads._base import (
    Client,
    Invocation,
    Option,
    ProcessScript,
    Workload,
    WorkloadContext,
    complete_ok,
    complete_with_error,
)
from workloads.register import KeyRotation

if TYPE_CHECKING:
    from checkers import Checker
    from harness.etcd import Node

PREFIX = "/folder/"
KEYS = 4
VALUES = 4
#: Of the writes, the share that are puts (the rest delete): 0.35 of 0.55 at the default read_fraction.
PUT_SHARE = 7 / 11


def folder_path(folder: Any) -> str:
    return f"{PREFIX}f{folder}/"


class FolderClient:
    def __init__(self, etcd: EtcdClient, serializable: bool) -> None:
        self.etcd = etcd
        self.serializable = serializable

    def invoke(self, op: Op) -> Op:
        path = folder_path(op.key)
        try:
            if op.f == "read":
                rev, found = self.etcd.get_prefix(path, serializable=self.serializable)
                mod_revs = {kv.key[len(path):]: [kv.mod_revision, kv.create_revision, kv.version] for kv in found}
                more: dict[str, Any] = {"serializable": True} if self.serializable else {}
                return complete_ok(op, {kv.key[len(path):]: int(kv.value) for kv in found}, rev=rev,
                                   mod_revs=mod_revs, **more)
            if op.f == "put":
                key, value = op.value
                rev = self.etcd.put(path + key, str(value))
                return complete_ok(op, op.value, rev=rev)
            if op.f == "delete":
                out = self.etcd.post("/v3/kv/deleterange", {"key": b64(path + op.value)})
                deleted = int(out.get("deleted", 0))
                return complete_ok(op, deleted > 0, rev=header_revision(out), deleted=deleted)
        except EtcdError as e:
            return complete_with_error(op, e, idempotent=op.f == "read")
        raise ValueError(f"folder: unknown op {op.f!r}")

    def close(self) -> None:
        self.etcd.close()


class FolderWorkload(Workload):
    name = "folder"
    options = (
        Option("stale_reads", "bool", "serializable folder reads, which may return an old snapshot (a canary)",
               default=False),
        Option("read_fraction", "number", "the share of ops that are reads (the rest: 7 puts to 4 deletes)",
               default=0.45, minimum=0, maximum=1),
    )

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        self.folders = KeyRotation(max(1, spec.concurrency // 5), spec.ops_per_key)
        self.stale_reads = bool(self.option("stale_reads"))
        self.read_fraction = float(self.option("read_fraction"))
        self.check_options()

    def open_client(self, ctx: WorkloadContext, node: Node, process: int) -> Client:
        return FolderClient(ctx.cluster.client(node, request_timeout=self.spec.request_timeout), self.stale_reads)

    def script(self, process: int, rng: random.Random) -> ProcessScript:
        while True:
            folder = self.folders.pick(rng)
            r = rng.random()
            key = f"k{rng.randrange(KEYS)}"
            if r < self.read_fraction:
                yield Invocation("read", None, folder)
            elif r < self.read_fraction + (1 - self.read_fraction) * PUT_SHARE:
                yield Invocation("put", [key, rng.randrange(VALUES)], folder)
            else:
                yield Invocation("delete", key, folder)

    def final_invocations(self) -> list[Invocation]:
        return [Invocation("read", None, folder) for folder in self.folders.used]

    def checkers(self) -> dict[str, Checker]:

        return {"linear": LinearizabilityChecker(FolderModel()), "revisions": RevisionChecker("folder")}
