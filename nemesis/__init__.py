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
``snapshot``   isolate a follower until the leader's raft log is compacted past it,
               so the heal sends a snapshot (needs a low ``--snapshot-count``)
``file``       on a stopped member: truncate its WAL tail, or flip a bit in its WAL
               or db; restart: record whether etcd refused (then replace) or recovered
``admin``      compaction to the revision minus 100..500, defragmentation of one member
``member``     replace a member (fresh data), or grow/shrink between 3 and 5 members;
               verified through the member list
============  ===================================================================

Each family picks its target kind (shape, leader/one/...) at random on each
start, from the run's seed; the op value names it. ``family:target`` restricts
it to one: ``partition:isolate-leader``, ``kill:leader``, or a role the
workload reports (:data:`ROLES`), as in ``pause:lock-holder``: pause the node
of the client that just acquired a lock. ``make_package(names, interval,
roles)`` builds the package for the runner; :func:`leftovers` lists any trace
of a fault left on a cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from harness.core import UsageError
from nemesis import _file, _kill, _member, _pause
from nemesis._admin import Admin
from nemesis._base import ROLES, Fault, FaultNotApplied, FaultSkipped, NemesisPackage, RoleSource, ScheduledFault
from nemesis._file import FileCorruption
from nemesis._kill import Kill
from nemesis._leftovers import leftovers
from nemesis._member import MemberChange
from nemesis._netem import Latency, Loss, NetemUnavailable
from nemesis._partition import SHAPES, Partition
from nemesis._pause import Pause
from nemesis._snapshot import Snapshot

#: --nemesis name -> a factory for its fault. The order is the heal order:
#: network faults and pauses are undone before killed nodes restart, so a
#: restart can verify that the node rejoined; a member that refuses to start after a ``file``
#: fault is replaced once the network is whole; membership is restored last, on a healed cluster.
FAULTS: dict[str, Callable[[], Fault]] = {
    "partition": Partition,
    "pause": Pause,
    "latency": Latency,
    "loss": Loss,
    "kill": Kill,
    "snapshot": Snapshot,
    "file": FileCorruption,
    "admin": Admin,
    "member": MemberChange,
}


#: family -> the targets ``family:target`` may name (empty: the family takes none).
TARGETS: dict[str, tuple[str, ...]] = {
    "partition": tuple(SHAPES),
    "pause": _pause.ALLOWED_TARGETS,
    "latency": (),
    "loss": (),
    "kill": _kill.ALLOWED_TARGETS,
    "snapshot": (),
    "file": _file.MODES,
    "admin": (),
    "member": _member.ACTIONS,
}


def split_target(name: str) -> tuple[str, str | None]:
    """``"pause:lock-holder"`` → ``("pause", "lock-holder")``; ``"kill"`` → ``("kill", None)``."""
    family, sep, target = name.partition(":")
    return family.strip(), (target.strip() if sep else None)


def check_fault_name(name: str) -> str | None:
    """Why ``name`` (``family`` or ``family:target``) is not a fault, with what is allowed; None if it is."""
    family, target = split_target(name)
    if family not in FAULTS:
        return f"unknown nemesis {family}; allowed: {', '.join([*FAULTS, 'all', 'none'])}"
    if target is None:
        return None
    allowed = TARGETS[family]
    if not allowed:
        return f"{family} takes no target (got {name!r}); write just {family!r}"
    if target not in allowed:
        return f"unknown {family} target {target!r}; allowed: {', '.join(f'{family}:{t}' for t in allowed)}"
    return None


def check_repeats(names: Sequence[str]) -> str | None:
    """Why ``names`` name a family twice (``pause:leader,pause:one``); None if each appears once."""
    families = [split_target(n)[0] for n in names]
    repeated = sorted({f for f in families if families.count(f) > 1})
    if not repeated:
        return None
    return (f"nemesis {', '.join(repeated)} is named twice; give each family once, "
            "with at most one target (e.g. pause:lock-holder)")


def role_targets(names: Sequence[str]) -> list[str]:
    """The roles (:data:`ROLES`) that the fault names target: the workload must report them."""
    return [t for _, t in map(split_target, names) if t in ROLES]


def parse_nemesis(text: str) -> tuple[str, ...]:
    """``"partition,kill"`` / ``"pause:lock-holder"`` / ``"all"`` / ``"none"`` → the fault names;
    UsageError naming what is allowed if one is unknown."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["none"] or not names:
        return ()
    if names == ["all"]:
        return tuple(FAULTS)
    names = list(dict.fromkeys(names))
    for n in names:
        why = check_fault_name(n)
        if why:
            raise UsageError(f"{why} (a comma-separated list, e.g. --nemesis partition,kill or "
                             "--nemesis pause:lock-holder)")
    why = check_repeats(names)
    if why:
        raise UsageError(why)
    return tuple(names)


def build_fault(name: str) -> Fault:
    """The fault for ``family`` or ``family:target`` (a name :func:`check_fault_name` accepts)."""
    family, target = split_target(name)
    if target is None:
        return FAULTS[family]()
    if family == "partition":
        return Partition(shapes=(target,))
    if family == "pause":
        return Pause(targets=(target,))
    if family == "kill":
        return Kill(targets=(target,))
    if family == "file":
        return FileCorruption(modes=(target,))
    if family == "member":
        return MemberChange(actions=(target,))
    raise ValueError(f"{family} takes no target")


def make_package(names: Sequence[str], interval: float, roles: RoleSource | None = None) -> NemesisPackage:
    """The package for ``names``, its faults in heal order (see :data:`FAULTS`); role targets
    ask ``roles`` who plays which role."""
    by_family = {split_target(n)[0]: n for n in names}
    return NemesisPackage([build_fault(by_family[f]) for f in FAULTS if f in by_family], interval, roles)


__all__ = [
    "FAULTS", "ROLES", "SHAPES", "TARGETS", "Admin", "Fault", "FaultNotApplied", "FaultSkipped", "FileCorruption",
    "Kill", "Latency", "Loss", "MemberChange", "NemesisPackage", "NetemUnavailable", "Partition", "Pause",
    "RoleSource", "ScheduledFault", "Snapshot", "build_fault",
    "check_fault_name", "check_repeats", "leftovers", "make_package", "parse_nemesis", "role_targets", "split_target",
]
