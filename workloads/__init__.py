"""Workloads: client ops, a per-process script, and their checkers.

``WORKLOADS`` maps each ``--workload`` name to its class.
"""

from __future__ import annotations

from workloads._base import (
    Client,
    Invocation,
    Option,
    ProcessScript,
    Sleep,
    Workload,
    WorkloadContext,
    complete_fail,
    complete_ok,
    complete_with_error,
    read_option,
)
from workloads.append import AppendWorkload
from workloads.counter import CounterWorkload
from workloads.folder import FolderWorkload
from workloads.index import IndexWorkload
from workloads.lock import LockEtcdSetWorkload, LockSetWorkload, LockWorkload
from workloads.lock_v2 import LockV2SetWorkload, LockV2Workload
from workloads.register import RegisterWorkload
from workloads.ttl import TTLWorkload
from workloads.watch import WatchWorkload
from workloads.wr import WrWorkload

WORKLOADS: dict[str, type[Workload]] = {
    "register": RegisterWorkload,
    "lock": LockWorkload,
    "lock-set": LockSetWorkload,
    "lock-etcd-set": LockEtcdSetWorkload,
    "lock-v2": LockV2Workload,
    "lock-v2-set": LockV2SetWorkload,
    "counter": CounterWorkload,
    "watch": WatchWorkload,
    "folder": FolderWorkload,
    "index": IndexWorkload,
    "ttl": TTLWorkload,
    "append": AppendWorkload,
    "wr": WrWorkload,
}

__all__ = ["WORKLOADS", "Client", "Invocation", "Option", "ProcessScript", "Sleep", "Workload", "WorkloadContext",
           "complete_fail", "complete_ok", "complete_with_error", "read_option"]
