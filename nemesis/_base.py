"""The nemesis interface: faults that start, stop, and are always healed.

A :class:`Fault` is one family of faults (``partition``, ``kill``, ...). The
runner records each ``start``/``stop`` as a nemesis op (process ``"nemesis"``):
an invocation, then an ``info`` completion whose value says what was done, to
which nodes, and who led before and after. A fault that could not be applied
raises :class:`FaultNotApplied`; its completion carries the reason.

Contract for implementers:

* ``start`` applies the fault and *verifies* it took effect before returning.
* ``stop`` undoes what ``start`` did, and verifies that too.
* ``heal`` undoes anything this family could have done, whatever state it is
  in; it is idempotent and is always called in ``finally``. At the time limit
  the runner heals every family at once *first*, then calls ``stop`` on each
  fault that was active, to verify the heal: so ``heal`` keeps what ``stop``
  needs to verify (the nodes it paused or killed), and ``stop`` after ``heal``
  must work.
* A ``stop`` with nothing to undo because its start applied nothing at all
  (latency on a kernel without netem) raises :class:`FaultSkipped` rather than
  claim it verified anything.
* A ``start`` that did nothing at all (no target right now, no shape fits)
  raises :class:`FaultSkipped`: the fault stays idle, so no pointless ``stop``
  follows it.

Targets may be *roles* that the workload reports (:data:`ROLES`): a
``pause:lock-holder`` pauses the node that the client holding a lock talks
to. The package binds the workload's report to each fault
(:meth:`Fault.bind_roles`); :meth:`Fault.roles` reads it.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.etcd import Cluster


class FaultNotApplied(Exception):
    """The fault could not be applied or verified; the message says why.

    ``value`` optionally says what *was* done before it failed (say, which
    nodes were restarted); the runner records it in the op's value.
    """

    def __init__(self, reason: str, value: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.value = dict(value or {})


class FaultSkipped(FaultNotApplied):
    """Nothing was done: the start's precondition did not hold (say, no client holds a lock
    right now). Unlike other :class:`FaultNotApplied`, the fault is left idle."""


#: What a workload can say about its clients' nodes right now, by role: node names, the node
#: of the most recent role-taker first. ``Fault.roles()`` returns this mapping.
RoleReport = Mapping[str, Sequence[str]]
RoleSource = Callable[[], RoleReport]

#: The roles a nemesis can target (``pause:<role>``, ``kill:<role>``), and what each means.
#: A workload lists the roles it reports in ``Workload.roles``.
ROLES: dict[str, str] = {
    "lock-holder": "the node of the client that most recently acquired a lock it still holds",
    "lock-waiter": "the node of the client that most recently asked for a lock and still waits",
}


class Fault(ABC):
    name: str = ""
    _role_source: RoleSource | None = None

    def bind_roles(self, source: RoleSource) -> None:
        """Let role targets (:data:`ROLES`) ask ``source`` who plays which role."""
        self._role_source = source

    def roles(self) -> RoleReport:
        """Nodes by role right now, as the workload reports them; ``{}`` if none is bound."""
        return self._role_source() if self._role_source is not None else {}

    @property
    def start_f(self) -> str:
        return f"start-{self.name}"

    @property
    def stop_f(self) -> str:
        return f"stop-{self.name}"

    @abstractmethod
    def start(self, cluster: Cluster, rng: random.Random) -> dict[str, Any]:
        """Apply and verify the fault; return what was done (JSON-serialisable)."""

    @abstractmethod
    def stop(self, cluster: Cluster) -> dict[str, Any]:
        """Undo the active fault and verify; return what was done."""

    @abstractmethod
    def heal(self, cluster: Cluster) -> None:
        """Undo anything this family may have done. Idempotent; must not raise."""


@dataclass(frozen=True, slots=True)
class ScheduledFault:
    delay: float  # seconds to wait before this op
    f: str  # start-X or stop-X
    fault: Fault


class NemesisPackage:
    """Faults plus a seeded schedule that starts and stops them.

    Every ``interval`` seconds it picks one of the faults at random and flips
    it: starts it if idle, stops it if active. With several faults, they can
    overlap (a partition during a kill), as with Jepsen's composed nemeses.
    """

    def __init__(self, faults: Sequence[Fault], interval: float, roles: RoleSource | None = None) -> None:
        self.faults = list(faults)
        self.interval = interval
        self.active: set[str] = set()
        if roles is not None:
            for fault in self.faults:
                fault.bind_roles(roles)

    def schedule(self, rng: random.Random) -> Iterator[ScheduledFault]:
        if not self.faults:
            return
        while True:
            fault = rng.choice(self.faults)
            f = fault.stop_f if fault.name in self.active else fault.start_f
            # Jepsen-style stagger: on average one op per interval, never in lockstep.
            yield ScheduledFault(rng.uniform(0.5, 1.5) * self.interval, f, fault)

    def mark(self, fault: Fault, f: str, *, skipped: bool = False) -> None:
        """Record that op ``f`` of ``fault`` ran; a ``skipped`` start left the fault idle."""
        if f == fault.start_f and not skipped:
            self.active.add(fault.name)
        else:
            self.active.discard(fault.name)

    def active_faults(self) -> list[Fault]:
        return [f for f in self.faults if f.name in self.active]
