"""etcd-harness: a Jepsen-style test harness for etcd.

The public API. Importing it stays cheap (no Docker, no HTTP client), so that
``etcd-harness check`` starts fast; heavier parts live in their own modules.
"""

from harness._errors import (
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
from harness._history import NEMESIS, History, HistoryWriter, Op, OpType, op_from_json

__all__ = [
    "NEMESIS",
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
    "UsageError",
    "op_from_json",
]
