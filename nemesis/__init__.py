"""Nemeses: faults injected into the cluster while clients work.

``--nemesis`` takes a comma-separated list of families, or ``all`` / ``none``:

============  ===================================================================
``partition``  a random shape per start: halves, isolate-one, isolate-leader,
               majorities-ring (5+ nodes), bridge (see :mod:`nemesis._partition`)
``pause``      SIGSTOP/SIGCONT of the leader, one node, or all nodes
``latency``    peer-link delay with jitter (tc netem; 100 ms ± 50 ms)
``loss``       peer-link packet loss (tc netem, else iptables random drop; 20 %)
``kill``       SIGKILL of the leader, one node, a minority, or all nodes;
               ``restart`` on the same data, verified by rejoining
============  ===================================================================

Each family picks its target kind (shape, leader/one/...) at random on each
start, from the run's seed; the op value names it. ``make_package(names,
interval)`` builds the package for the runner; :func:`leftovers` lists any
trace of a fault left on a cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from harness._errors import UsageError
from nemesis._base import Fault, FaultNotApplied, NemesisPackage, ScheduledFault
from nemesis._kill import Kill
from nemesis._leftovers import leftovers
from nemesis._netem import Latency, Loss
from nemesis._partition import SHAPES, Partition
from nemesis._pause import Pause

#: --nemesis name -> a factory for its fault. The order is the heal order:
#: network faults and pauses are undone before killed nodes restart, so a
#: restart can verify that the node rejoined.
FAULTS: dict[str, Callable[[], Fault]] = {
    "partition": Partition,
    "pause": Pause,
    "latency": Latency,
    "loss": Loss,
    "kill": Kill,
}


def parse_nemesis(text: str) -> tuple[str, ...]:
    """``"partition,kill"`` / ``"all"`` / ``"none"`` → the fault names; UsageError if unknown."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["none"] or not names:
        return ()
    if names == ["all"]:
        return tuple(FAULTS)
    unknown = [n for n in names if n not in FAULTS]
    if unknown:
        raise UsageError(f"unknown nemesis {', '.join(unknown)}; allowed: {', '.join([*FAULTS, 'all', 'none'])} "
                         "(a comma-separated list, e.g. --nemesis partition,kill)")
    return tuple(dict.fromkeys(names))


def make_package(names: Sequence[str], interval: float) -> NemesisPackage:
    """The package for ``names``, its faults in heal order (see :data:`FAULTS`)."""
    ordered = [n for n in FAULTS if n in names]
    return NemesisPackage([FAULTS[n]() for n in ordered], interval)


__all__ = ["FAULTS", "SHAPES", "Fault", "FaultNotApplied", "Kill", "Latency", "Loss", "NemesisPackage", "Partition",
           "Pause", "ScheduledFault", "leftovers", "make_package", "parse_nemesis"]
