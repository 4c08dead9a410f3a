"""Workloads: client ops, a per-process script, and their checkers.

``WORKLOADS`` maps each ``--workload`` name to its class.
"""

from __future__ import annotations

from workloads._base import Client, Invocation, ProcessScript, Sleep, Workload, WorkloadContext
from workloads.register import RegisterWorkload

WORKLOADS: dict[str, type[Workload]] = {
    "register": RegisterWorkload,
}

__all__ = ["WORKLOADS", "Client", "Invocation", "ProcessScript", "Sleep", "Workload", "WorkloadContext"]
