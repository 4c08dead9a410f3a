"""etcd-harness: a Jepsen-style test harness for etcd.

The public API. Everything a user of the library, the pytest plugin or the
examples needs is importable from here::

    from harness import TestSpec, run_test

    outcome = run_test(TestSpec(workload="register", nemesis=("partition",), nodes=3, time_limit=30))
    print(outcome.valid, outcome.run_dir)

The floors below (``harness.core``, ``harness.etcd``, ``checkers``, ``nemesis``,
``workloads``, ``harness.report``, ``harness.run``) import one way only, down;
``docs/ARCHITECTURE.md`` draws them.

Only the ground floor (:mod:`harness.core`) is imported eagerly. The rest loads
on first use (PEP 562 ``__getattr__``), for two reasons: the lower floors import
``harness.core``, which runs this file first, so an eager import of the top
floor here would be a circle; and ``etcd-harness check`` need not load the
Docker and HTTP clients.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.core import (
    NEMESIS,
    ClusterError,
    DockerUnavailable,
    HarnessError,
    History,
    HistoryFormatError,
    HistoryWriter,
    ImageMissing,
    InfrastructureError,
    InputError,
    Op,
    OpType,
    PlanError,
    TestSpec,
    UsageError,
    lazy_getattr,
    op_from_json,
    read_history,
)

if TYPE_CHECKING:
    from checkers import CheckContext, Checker, Model, Result, Validity
    from harness.etcd import Cluster, DockerCluster, EtcdClient, EtcdError, Node
    from harness.run import RunOutcome, run_test, validate_spec
    from nemesis import Fault, FaultNotApplied, FaultSkipped
    from workloads import Client, Invocation, Sleep, Workload, WorkloadContext

#: Public name -> the module that defines it, for the names loaded on first use.
_LAZY = {
    "CheckContext": "checkers",
    "Checker": "checkers",
    "Model": "checkers",
    "Result": "checkers",
    "Validity": "checkers",
    "Cluster": "harness.etcd",
    "DockerCluster": "harness.etcd",
    "EtcdClient": "harness.etcd",
    "EtcdError": "harness.etcd",
    "Node": "harness.etcd",
    "RunOutcome": "harness.run",
    "run_test": "harness.run",
    "validate_spec": "harness.run",
    "Fault": "nemesis",
    "FaultNotApplied": "nemesis",
    "FaultSkipped": "nemesis",
    "Client": "workloads",
    "Invocation": "workloads",
    "Sleep": "workloads",
    "Workload": "workloads",
    "WorkloadContext": "workloads",
}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "NEMESIS",
    "CheckContext",
    "Checker",
    "Client",
    "Cluster",
    "ClusterError",
    "DockerCluster",
    "DockerUnavailable",
    "EtcdClient",
    "EtcdError",
    "Fault",
    "FaultNotApplied",
    "FaultSkipped",
    "HarnessError",
    "History",
    "HistoryFormatError",
    "HistoryWriter",
    "ImageMissing",
    "InfrastructureError",
    "InputError",
    "Invocation",
    "Model",
    "Node",
    "Op",
    "OpType",
    "PlanError",
    "Result",
    "RunOutcome",
    "Sleep",
    "TestSpec",
    "UsageError",
    "Validity",
    "Workload",
    "WorkloadContext",
    "op_from_json",
    "read_history",
    "run_test",
    "validate_spec",
]
