"""Kill: SIGKILL etcd (PID 1, so the container exits), later restart it on the same data.

Targets, chosen at random per ``kill`` unless restricted (``Kill(targets=...)``):
``leader``, ``one`` (a random node), ``minority`` (``(n-1)//2`` random nodes),
``all``; or a role the workload reports (``kill:lock-holder``: see
:data:`nemesis._base.ROLES`). The op value names the target kind and the nodes.

A kill is verified by the container having exited. ``restart`` starts the
same container again: same data directory (the container's filesystem), same
IP. It is verified by the node *rejoining*: it answers, follows a leader, and
its raft index is within ``max_gap`` entries of the leader's
(:meth:`Cluster.wait_rejoined`). A restart that works but does not
rejoin in time (say, a partition is still in place) completes with the
reason; the final recovery wait of the run still covers it.

``heal`` starts every container that is not running; it does not wait, and it
keeps the list of killed nodes, so a ``restart`` after it (the runner's final
stop) still verifies that each of them rejoined.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from harness.core import ClusterError
from nemesis._base import ROLES, Fault, FaultNotApplied
from nemesis._pause import container_status, pick_targets

if TYPE_CHECKING:
    from harness.etcd import Cluster, Node

TARGETS = ("leader", "one", "minority", "all")
#: Targets a kill may be restricted to: the random ones, and the roles a workload reports.
ALLOWED_TARGETS = (*TARGETS, *ROLES)


class Kill(Fault):
    name = "kill"

    def __init__(self, targets: tuple[str, ...] = TARGETS, rejoin_timeout: float = 10.0, max_gap: int = 50) -> None:
        bad = [t for t in targets if t not in ALLOWED_TARGETS]
        if bad:
            raise ValueError(f"unknown kill target {bad}; allowed: {', '.join(ALLOWED_TARGETS)}")
        self.targets = targets
        self.rejoin_timeout = rejoin_timeout
        self.max_gap = max_gap
        self.killed: list[str] = []

    @property
    def start_f(self) -> str:
        return "kill"

    @property
    def stop_f(self) -> str:
        return "restart"

    def start(self, cluster: Cluster, rng: random.Random) -> dict[str, Any]:
        kind = rng.choice(self.targets)
        running = [n for n in cluster.nodes if container_status(cluster, n) == "running"]
        nodes = pick_targets(kind, cluster, rng, running, self.roles())
        t0 = time.monotonic()
        for node in nodes:
            self.killed.append(node.name)
            cluster.kill(node)
        alive = [n.name for n in nodes if not _wait_exited(cluster, n, 5.0)]
        if alive:
            raise FaultNotApplied(f"SIGKILL sent, but {', '.join(alive)} still running after 5 s",
                                  {"target": kind, "nodes": [n.name for n in nodes]})
        return {"target": kind, "nodes": [n.name for n in nodes], "verified": True,
                "apply_s": round(time.monotonic() - t0, 3)}

    def stop(self, cluster: Cluster) -> dict[str, Any]:
        t0 = time.monotonic()
        nodes = [cluster.node(n) for n in dict.fromkeys(self.killed)]
        self.killed = []
        for node in nodes:
            cluster.restart(node)

        def rejoin(node: Node) -> str | None:
            try:
                cluster.wait_rejoined(node, self.rejoin_timeout, self.max_gap)
                return None
            except ClusterError as e:
                return str(e)

        with ThreadPoolExecutor(max(1, len(nodes))) as pool:
            problems = [p for p in pool.map(rejoin, nodes) if p]
        value = {"nodes": [n.name for n in nodes], "heal_s": round(time.monotonic() - t0, 3)}
        if problems:
            raise FaultNotApplied("restarted, but " + "; ".join(problems), value | {"verified": False})
        return value | {"verified": True}

    def heal(self, cluster: Cluster) -> None:
        for node in cluster.nodes:
            try:
                if container_status(cluster, node) in ("exited", "created", "dead"):
                    cluster.restart(node)
            except Exception:  # heal must not raise; leftovers() checks what remains
                continue


def _wait_exited(cluster: Cluster, node: Node, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while container_status(cluster, node) == "running":
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
