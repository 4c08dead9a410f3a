"""The ground floor: plain data that every other part reads and writes. It imports nothing of ours.

* ops and histories (:class:`Op`, :class:`History`, :class:`HistoryWriter`);
* the error hierarchy and exit codes (:class:`HarnessError` and below);
* the test spec (:class:`TestSpec`): plain data, no registry look-ups;
* history readers for our JSONL, Jepsen's EDN and Jepsen's log;
* the results store: the run-directory layout and atomic writes.
"""

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
