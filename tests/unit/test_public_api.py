"""The public API: ``harness.__all__`` is pinned; every floor's ``__all__`` is sorted and resolves.

A name added to or dropped from ``harness`` is a change to the public API, so it
shows up here as a diff to review, not by accident.
"""

from __future__ import annotations

import importlib
import re
from types import ModuleType

import pytest

import harness

HARNESS_API = [
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

FLOOR_PACKAGES = ["harness", "harness.core", "harness.etcd", "harness.report", "harness.run", "checkers", "nemesis",
                  "workloads"]


def isort_key(name: str) -> tuple[int, list[int | str]]:
    """Ruff's RUF022 order: SCREAMING_CASE, then CamelCase, then the rest; each in natural order."""
    kind = 0 if len(name) > 1 and name.isupper() else 1 if name[:1].isupper() else 2
    return kind, [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def test_isort_key_orders_constants_classes_then_functions() -> None:
    assert sorted(["run", "Op", "NEMESIS", "EXIT_2", "EXIT_10"], key=isort_key) == [
        "EXIT_2", "EXIT_10", "NEMESIS", "Op", "run"]


def test_harness_api_is_pinned() -> None:
    assert sorted(HARNESS_API, key=isort_key) == HARNESS_API
    assert harness.__all__ == HARNESS_API


@pytest.mark.parametrize("name", ["TestSpec", "run_test", "EtcdClient", "EtcdError", "Op", "History", "HarnessError",
                                  "UsageError", "InputError", "InfrastructureError", "Workload", "Fault", "Checker",
                                  "Model"])
def test_the_essentials_are_public(name: str) -> None:
    assert name in harness.__all__
    assert getattr(harness, name) is not None


def test_every_harness_name_is_the_object_its_floor_defines() -> None:
    """The facade re-exports; it defines nothing of its own."""
    floors = [importlib.import_module(m) for m in FLOOR_PACKAGES[1:]]
    for name in harness.__all__:
        value = getattr(harness, name)
        homes = [f for f in floors if name in getattr(f, "__all__", ())]
        assert homes, f"harness.{name} is exported by no floor package"
        assert all(getattr(f, name) is value for f in homes), name


def test_dir_lists_the_api() -> None:
    assert set(harness.__all__) <= set(dir(harness))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        harness.nope  # noqa: B018


@pytest.mark.parametrize("package", FLOOR_PACKAGES)
def test_each_floors_all_is_sorted_unique_and_resolves(package: str) -> None:
    module: ModuleType = importlib.import_module(package)
    names = list(module.__all__)
    assert names == sorted(names, key=isort_key), f"{package}.__all__ is not sorted (ruff RUF022 order)"
    assert len(names) == len(set(names)), f"{package}.__all__ names something twice"
    missing = [n for n in names if not hasattr(module, n)]
    assert not missing, f"{package}.__all__ names what it does not have: {missing}"
    private = [n for n in names if n.startswith("_")]
    assert not private, f"{package}.__all__ exports private names: {private}"
