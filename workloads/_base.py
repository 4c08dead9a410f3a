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
* ``teardown``: stops the workload's background threads; the runner always calls it.
* ``checkers``: name → :class:`checkers.Checker`.
"""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from harness.core import Op, OpType, UsageError
from harness.etcd import EtcdError, classify

if TYPE_CHECKING:
    from checkers import Checker
    from harness.core import TestSpec
    from harness.etcd import Cluster, KeyValue, Node


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


OptionKind = Literal["bool", "int", "number", "str"]


@dataclass(frozen=True, slots=True)
class Option:
    """One workload option (``--option NAME=VALUE``, ``options: {NAME: VALUE}`` in a plan).

    ``kind``: ``bool`` (true/false), ``int`` (a whole number), ``number`` (whole or
    decimal) or ``str``; ``minimum`` / ``maximum`` bound numbers (inclusive),
    ``choices`` lists the allowed values. ``default`` is used when the option is
    not given; ``default_text`` documents a default that the workload computes
    (then ``default`` is None).
    """

    name: str
    kind: OptionKind
    help: str
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] = ()
    default_text: str = ""

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` (as parsed from JSON / YAML) is allowed."""
        if self.choices:  # True == 1: a bool fits only a bool option
            return isinstance(value, bool) == (self.kind == "bool") and value in self.choices
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind == "str":
            return isinstance(value, str)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return False
        if self.kind == "int" and not isinstance(value, int):
            return False
        return (self.minimum is None or value >= self.minimum) and (self.maximum is None or value <= self.maximum)

    def allowed(self) -> str:
        """What :meth:`accepts`, for messages and help: ``a number from 0 to 1``."""
        if self.choices:
            return "one of " + ", ".join(_shown(c) for c in self.choices)
        if self.kind == "bool":
            return "true or false"
        if self.kind == "str":
            return "text"
        noun = "a whole number" if self.kind == "int" else "a number"
        lo, hi = self.minimum, self.maximum
        if lo is not None and hi is not None:
            return f"{noun} from {_shown(lo)} to {_shown(hi)}"
        if lo is not None:
            return f"{noun}, {_shown(lo)} or more"
        if hi is not None:
            return f"{noun}, {_shown(hi)} or less"
        return noun

    def problem(self, value: Any, workload: str) -> str | None:
        """Why ``value`` is not allowed for this option of ``workload``, saying what is; None if it is."""
        if self.accepts(value):
            return None
        return f"option {self.name}={value!r} for workload {workload}: {self.name} must be {self.allowed()}"

    def default_shown(self) -> str:
        """The default as a user writes it: ``2``, ``true``, ``ceil(concurrency / 3)``."""
        return self.default_text or _shown(self.default)


def _shown(value: Any) -> str:
    """A value as written on the command line / in YAML: ``true``, ``2``, ``0.5``, ``fast``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def read_option(declared: Sequence[Option], spec: TestSpec, name: str) -> Any:
    """``spec.options[name]`` if given, else its declared default. KeyError if ``name`` is not declared:
    a workload reads only the options it declares (which validation checked)."""
    for option in declared:
        if option.name == name:
            return spec.options.get(name, option.default)
    raise KeyError(f"option {name!r} is not declared (declared: {', '.join(o.name for o in declared)})")


@dataclass
class WorkloadContext:
    """What a workload may use: the test spec, the running cluster, and when the op phase ends."""

    spec: TestSpec
    cluster: Cluster
    #: ``time.monotonic()`` at which the op phase's time limit is reached (set by the runner before the
    #: first op; None: no limit). No op is invoked after it; a wait of the workload's own that could
    #: outlast one request (a lock waiting for its turn) gives up by then.
    ops_deadline: float | None = None


class Workload(ABC):
    """One family of operations with its checkers. Subclasses register in ``workloads.WORKLOADS``."""

    name: str = ""
    #: The roles (``nemesis.ROLES``) that :meth:`node_roles` reports, for targets like ``pause:lock-holder``.
    roles: tuple[str, ...] = ()
    #: The options it takes (``--option NAME=VALUE``); validation rejects any other.
    options: tuple[Option, ...] = ()

    def __init__(self, spec: TestSpec) -> None:
        self.spec = spec

    def option(self, name: str) -> Any:
        """The value of option ``name``: as given, else its declared default."""
        return read_option(self.options, self.spec, name)

    def check_options(self) -> None:
        """UsageError naming the first declared option whose value is out of bounds (for workloads built
        from a spec that did not pass the CLI's validation, e.g. in tests and replays)."""
        for option in self.options:
            why = option.problem(self.option(option.name), self.name)
            if why:
                raise UsageError(why)

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

    def teardown(self) -> None:  # noqa: B027 - optional hook
        """Stop every background thread this workload started (keepalives, say), each join bounded.

        The runner always calls it, once: after the final reads and before the cluster is torn
        down, also when the cluster never recovered (no final reads), a worker crashed or the
        run was interrupted, so a worker may still be finishing its last op: a thread it starts
        afterwards must stop at once. It must not hang and should not raise. Default: nothing."""

    @abstractmethod
    def checkers(self) -> dict[str, Checker]: ...


def complete_ok(op: Op, value: Any = None, **extra: Any) -> Op:
    return op.with_(type=OpType.OK, value=value, time=0, extra=extra or None)


def key_revisions(header_rev: int, kv: KeyValue | None) -> dict[str, int]:
    """The ``extra`` of a single-key read (see ``checkers.revisions``): ``rev`` (the header's revision) and the
    key's ``mod_rev``, ``create_rev`` and ``version``, all 0 when the key is absent."""
    if kv is None:
        return {"rev": header_rev, "mod_rev": 0, "create_rev": 0, "version": 0}
    return {"rev": header_rev, "mod_rev": kv.mod_revision, "create_rev": kv.create_revision, "version": kv.version}


def complete_fail(op: Op, error: str, value: Any = None, **extra: Any) -> Op:
    return op.with_(type=OpType.FAIL, error=error, value=op.value if value is None else value, time=0,
                    extra=extra or op.extra)


def complete_with_error(op: Op, err: BaseException, *, idempotent: bool = False) -> Op:
    """The completion for a request that raised.

    ``idempotent`` ops (reads) that fail are ``fail`` whatever the error: they
    changed nothing, so "did not happen" is always true of their effect. Others
    are ``fail`` only when the error is definite, else ``info``.
    """

    e = err if isinstance(err, EtcdError) else classify(err)
    kind = OpType.FAIL if (idempotent or e.definite) else OpType.INFO
    return op.with_(type=kind, error=str(e)[:500], time=0)
