"""The ground floor: plain data that every other part reads and writes. It imports nothing of ours.

* ops and histories (:class:`Op`, :class:`History`, :class:`HistoryWriter`);
* the error hierarchy and exit codes (:class:`HarnessError` and below);
* the test spec (:class:`TestSpec`): plain data, no registry look-ups;
* history readers for our JSONL, Jepsen's EDN and Jepsen's log;
* the results store: the run-directory layout and atomic writes.
"""

from typing import TYPE_CHECKING

from harness.core._errors import (
    EXIT_INFRA,
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_UNKNOWN,
    EXIT_USAGE,
    EXIT_VALID,
    ClusterError,
    DockerUnavailable,
    HarnessError,
    HistoryFormatError,
    ImageMissing,
    InfrastructureError,
    InputError,
    PlanError,
    UsageError,
)
from harness.core._formats import FORMATS, detect_format, parse_edn, read_history, read_history_lines
from harness.core._history import NEMESIS, History, HistoryWriter, Op, OpType, Process, op_from_json
from harness.core._lazy import lazy_getattr

if TYPE_CHECKING:
    from harness.core._signals import signals_held
    from harness.core._spec import TestSpec
    from harness.core._store import (
        CLUSTER_FACTS,
        CONFIG,
        HISTORY,
        INDEX,
        JUNIT,
        LATEST,
        LEADERS,
        NODE_LOG,
        NODES,
        REPORT,
        RESULTS,
        SUITE,
        SUMMARY,
        RunDir,
        new_stamped_dir,
        point_latest,
        write_atomically,
        write_json,
    )

#: Names loaded on first use (PEP 562): ``etcd-harness check`` reads a history and needs neither the
#: spec, the run-directory store nor the signal guard, and each costs start-up time.
_LAZY = {
    "signals_held": "harness.core._signals",
    "TestSpec": "harness.core._spec",
    "CLUSTER_FACTS": "harness.core._store",
    "CONFIG": "harness.core._store",
    "HISTORY": "harness.core._store",
    "INDEX": "harness.core._store",
    "JUNIT": "harness.core._store",
    "LATEST": "harness.core._store",
    "LEADERS": "harness.core._store",
    "NODE_LOG": "harness.core._store",
    "NODES": "harness.core._store",
    "REPORT": "harness.core._store",
    "RESULTS": "harness.core._store",
    "SUITE": "harness.core._store",
    "SUMMARY": "harness.core._store",
    "RunDir": "harness.core._store",
    "new_stamped_dir": "harness.core._store",
    "point_latest": "harness.core._store",
    "write_atomically": "harness.core._store",
    "write_json": "harness.core._store",
}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())


__all__ = [
    "CLUSTER_FACTS",
    "CONFIG",
    "EXIT_INFRA",
    "EXIT_INPUT",
    "EXIT_INTERRUPTED",
    "EXIT_INVALID",
    "EXIT_UNKNOWN",
    "EXIT_USAGE",
    "EXIT_VALID",
    "FORMATS",
    "HISTORY",
    "INDEX",
    "JUNIT",
    "LATEST",
    "LEADERS",
    "NEMESIS",
    "NODES",
    "NODE_LOG",
    "REPORT",
    "RESULTS",
    "SUITE",
    "SUMMARY",
    "ClusterError",
    "DockerUnavailable",
    "HarnessError",
    "History",
    "HistoryFormatError",
    "HistoryWriter",
    "ImageMissing",
    "InfrastructureError",
    "InputError",
    "Op",
    "OpType",
    "PlanError",
    "Process",
    "RunDir",
    "TestSpec",
    "UsageError",
    "detect_format",
    "lazy_getattr",
    "new_stamped_dir",
    "op_from_json",
    "parse_edn",
    "point_latest",
    "read_history",
    "read_history_lines",
    "signals_held",
    "write_atomically",
    "write_json",
]
