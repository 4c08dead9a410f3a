"""Nemeses: faults injected into the cluster while clients work.

``make_package(names, interval)`` builds the package for ``--nemesis``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from harness._errors import UsageError
from nemesis._base import Fault, FaultNotApplied, NemesisPackage, ScheduledFault
from nemesis._partition import Partition

#: --nemesis name -> a factory for its fault.
FAULTS: dict[str, Callable[[], Fault]] = {
    "partition": Partition,
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
        raise UsageError(f"unknown nemesis {', '.join(unknown)}; allowed: {', '.join([*FAULTS, 'all', 'none'])}")
    return tuple(dict.fromkeys(names))


def make_package(names: Sequence[str], interval: float) -> NemesisPackage:
    return NemesisPackage([FAULTS[n]() for n in names], interval)


__all__ = ["FAULTS", "Fault", "FaultNotApplied", "NemesisPackage", "ScheduledFault", "make_package", "parse_nemesis"]
