"""Pause: SIGSTOP etcd (PID 1 of its container), resume with SIGCONT.

Why SIGSTOP and not ``docker pause`` (a cgroup freeze): a frozen cgroup
freezes every process in the container, including ones ``docker exec``
starts, so while a node is frozen no partition or netem rule could be applied
to it *or healed on it*. With SIGSTOP only etcd stops; the kernel still
accepts TCP connections for it (as with a GC pause or a stalled VM), and the
other nemeses keep working. SIGSTOP and SIGCONT from Docker come from an
ancestor PID namespace, so they reach PID 1 even without a handler.

Targets, chosen at random per start unless restricted: ``leader``, ``one``
(a random node), ``all``; or a role the workload reports (``pause:lock-holder``,
``pause:lock-waiter``: see :data:`nemesis._base.ROLES`). A pause is verified by reading ``/proc/1/status``
(state ``T``); a resume by the state leaving ``T`` and the node answering a
status request. ``heal`` sends SIGCONT to every running node (a no-op for a
running process) and unfreezes any ``docker pause``-d container too; it keeps
the list of paused nodes, so a ``resume`` after it still verifies each of them.
"""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any

from harness.etcd import EtcdError
from nemesis._base import ROLES, Fault, FaultNotApplied, FaultSkipped, RoleReport

if TYPE_CHECKING:
    from harness.etcd import Cluster, Node

TARGETS = ("leader", "one", "all")
#: Targets a pause may be restricted to: the random ones, and the roles a workload reports.
ALLOWED_TARGETS = (*TARGETS, *ROLES)


def container_status(cluster: Cluster, node: Node) -> str:
    """Docker's view: ``running``, ``paused`` (cgroup freeze), ``exited``, ..."""
    return cluster.container_status(node)


def process_state(cluster: Cluster, node: Node) -> str:
    """The kernel's state letter of PID 1 (``S``, ``R``, ``T`` = stopped, ...), or ``?``."""
    code, out = cluster.exec(node, ["cat", "/proc/1/status"], check=False)
    for line in out.splitlines():
        if code == 0 and line.startswith("State:"):
            return line.split()[1]
    return "?"


def pick_targets(kind: str, cluster: Cluster, rng: random.Random, candidates: list[Node],
                 roles: RoleReport | None = None) -> list[Node]:
    """Nodes for a target kind: ``leader``, ``one``, ``minority``, ``all``, or a role of :data:`ROLES`
    (the first candidate node in ``roles[kind]``: the most recent role-taker). FaultSkipped if none."""
    if not candidates:
        raise FaultSkipped("no running node to target")
    if kind in ROLES:
        by_name = {n.name: n for n in candidates}
        named = list((roles or {}).get(kind, ()))
        for name in named:
            if name in by_name:
                return [by_name[name]]
        why = "no client plays it right now" if not named else f"its nodes ({', '.join(named)}) are down or paused"
        raise FaultSkipped(f"target {kind}: {why}", {"target": kind})
    if kind == "leader":
        leader = cluster.leader(timeout=1.0)
        if leader is None:
            raise FaultSkipped("target leader: the nodes agree on no leader right now")
        return [cluster.node(leader)]
    if kind == "one":
        return [rng.choice(candidates)]
    if kind == "minority":
        k = max(1, (len(cluster.nodes) - 1) // 2)
        return sorted(rng.sample(candidates, min(k, len(candidates))), key=lambda n: n.name)
    if kind == "all":
        return list(candidates)
    raise ValueError(f"unknown target {kind!r}")


class Pause(Fault):
    name = "pause"

    def __init__(self, targets: tuple[str, ...] = TARGETS, verify_timeout: float = 5.0) -> None:
        bad = [t for t in targets if t not in ALLOWED_TARGETS]
        if bad:
            raise ValueError(f"unknown pause target {bad}; allowed: {', '.join(ALLOWED_TARGETS)}")
        self.targets = targets
        self.verify_timeout = verify_timeout
        self.paused: list[str] = []

    @property
    def start_f(self) -> str:
        return "pause"

    @property
    def stop_f(self) -> str:
        return "resume"

    def start(self, cluster: Cluster, rng: random.Random) -> dict[str, Any]:
        kind = rng.choice(self.targets)
        running = [n for n in cluster.nodes if cluster.is_running(n) and process_state(cluster, n) != "T"]
        nodes = pick_targets(kind, cluster, rng, running, self.roles())
        t0 = time.monotonic()
        for node in nodes:
            cluster.signal(node, "SIGSTOP")
            self.paused.append(node.name)
        not_stopped = [n.name for n in nodes if not self._wait_state(cluster, n, stopped=True)]
        if not_stopped:
            raise FaultNotApplied(f"SIGSTOP sent, but etcd on {', '.join(not_stopped)} is not stopped after "
                                  f"{self.verify_timeout:.0f} s", {"target": kind, "nodes": [n.name for n in nodes]})
        return {"target": kind, "nodes": [n.name for n in nodes], "verified": True,
                "apply_s": round(time.monotonic() - t0, 3)}

    def _wait_state(self, cluster: Cluster, node: Node, *, stopped: bool) -> bool:
        deadline = time.monotonic() + self.verify_timeout
        while True:
            if (process_state(cluster, node) == "T") == stopped:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)

    def stop(self, cluster: Cluster) -> dict[str, Any]:
        t0 = time.monotonic()
        resumed, gone = [], []
        for name in self.paused:
            node = cluster.node(name)
            if container_status(cluster, node) != "running":
                gone.append(name)  # killed meanwhile: its restart brings a fresh process
                continue
            cluster.signal(node, "SIGCONT")
            resumed.append(node)
        self.paused = []
        problems = [f"{n.name} still stopped" for n in resumed if not self._wait_state(cluster, n, stopped=False)]
        for node in resumed:
            if not problems and not self._answers(cluster, node):
                problems.append(f"{node.name} resumed but does not answer a status request")
        value = {"nodes": [n.name for n in resumed], "not_running": gone,
                 "heal_s": round(time.monotonic() - t0, 3)}
        if problems:
            raise FaultNotApplied("; ".join(problems), value | {"verified": False})
        return value | {"verified": True}

    def _answers(self, cluster: Cluster, node: Node) -> bool:
        deadline = time.monotonic() + self.verify_timeout
        while time.monotonic() < deadline:
            try:
                cluster.status(node, timeout=1.0)
                return True
            except EtcdError:
                time.sleep(0.1)
        return False

    def heal(self, cluster: Cluster) -> None:
        for node in cluster.nodes:
            try:
                status = container_status(cluster, node)
                if status == "paused":
                    cluster.resume(node)
                elif status == "running":
                    cluster.signal(node, "SIGCONT")
            except Exception:  # heal must not raise; leftovers() checks what remains
                continue
