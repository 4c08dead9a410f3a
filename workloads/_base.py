"""The workload interface: what clients do, in what order, and how it is checked.

A workload is composed of:

* a :class:`Client` per process, opened against one node. ``invoke`` performs
  one operation and returns its completion; it never retries a request that
  may have taken effect, and maps every error to ``fail`` (definite) or
  ``info`` (indeterminate) with :func:`complete_with_error`.
* a *process script* per process: a Python generator that yields
  :class:`Invocation` (do this op) or :class:`Sleep` (wait), and is sent each
  completion back. That is how multi-step recipes (acquire, hold, release)
  stay readable. A process that got ``info`` is retired by the runner: its
  script is closed and a fresh process starts.
* ``final_invocations``: ops run once after the nemesis healed (final reads).
* ``checkers``: name → :class:`checkers.Checker`.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from harness.core import Op, OpType
from harness.etcd import EtcdError, classify

if TYPE_CHECKING:
    from checkers import Checker
    from harness.core import TestSpec
    from harness.etcd import Cluster, Node


@dataclass(frozen=True, slots=True)
class Invocation:
    f: str
    value: Any = None
    key: Any = None


@dataclass(frozen=True, slots=True)
class Sleep:
    seconds: float


ProcessScript = Generator[Invocation | Sleep, Op | None, None]


class Client(Protocol):
    def invoke(self, op: Op) -> Op:
        """Perform ``op`` (an invocation) once; return its completion (ok/fail/info)."""
        ...

    def close(self) -> None: ...


@dataclass
class WorkloadContext:
    """What a workload may use: the test spec and the running cluster."""

    spec: TestSpec
    cluster: Cluster


class Workload(ABC):
    """One family of operations with its checkers. Subclasses register in ``workloads.WORKLOADS``."""

    name: str = ""
    #: The roles (``nemesis.ROLES``) that :meth:`node_roles` reports, for targets like ``pause:lock-holder``.
    roles: tuple[str, ...] = ()

    def __init__(self, spec: TestSpec) -> None:
        self.spec = spec

    def setup(self, ctx: WorkloadContext) -> None:  # noqa: B027 - optional hook
        """Prepare state before any process starts (e.g. create keys). Default: nothing."""

    @abstractmethod
    def open_client(self, ctx: WorkloadContext, node: Node, process: int) -> Client: ...

    @abstractmethod
    def script(self, process: int, rng: random.Random) -> ProcessScript: ...

    def node_roles(self) -> dict[str, list[str]]:
        """Which nodes play which role right now (role -> node names, most recent first).

        Called from the nemesis thread; must be thread-safe and fast. Default: none."""
        return {}

    def final_invocations(self) -> list[Invocation]:
        """Ops to run after heal and recovery, e.g. a final read of each key. Default: none."""
        return []

    @abstractmethod
    def checkers(self) -> dict[str, Checker]: ...


def complete_ok(op: Op, value: Any = None, **extra: Any) -> Op:
    return op.with_(type=OpType.OK, value=value, time=0, extra=extra or None)


def complete_fail(op: Op, error: str, value: Any = None) -> Op:
    return op.with_(type=OpType.FAIL, error=error, value=op.value if value is None else value, time=0)


def complete_with_error(op: Op, err: BaseException, *, idempotent: bool = False) -> Op:
    """The completion for a request that raised.

    ``idempotent`` ops (reads) that fail are ``fail`` whatever the error: they
    changed nothing, so "did not happen" is always true of their effect. Others
    are ``fail`` only when the error is definite, else ``info``.
    """

    e = err if isinstance(err, EtcdError) else classify(err)
    kind = OpType.FAIL if (idempotent or e.definite) else OpType.INFO
    return op.with_(type=kind, error=str(e)[:500], time=0)
