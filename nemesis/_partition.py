"""Network partitions, applied with iptables inside each node's network namespace.

As in Jepsen, a partition is a *grudge*: for each node, the set of nodes whose
packets it drops (``iptables -A INPUT -s <peer> -j DROP``). Only peer addresses
are dropped, so the harness's client traffic (from the network's gateway)
still reaches every node. Healing flushes the rules.
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from nemesis._base import Fault, FaultNotApplied

if TYPE_CHECKING:
    from harness._cluster import DockerCluster, Node

Grudge = dict[str, list[str]]  # node -> the nodes it no longer hears


def halves(names: list[str], rng: random.Random) -> Grudge:
    """A random minority and majority, cut apart."""
    shuffled = names[:]
    rng.shuffle(shuffled)
    minority, majority = shuffled[: len(names) // 2], shuffled[len(names) // 2 :]
    return complete_grudge([minority, majority])


def complete_grudge(components: list[list[str]]) -> Grudge:
    """Each node drops every node outside its own component."""
    grudge: Grudge = {}
    for comp in components:
        others = [n for c in components if c is not comp for n in c]
        for n in comp:
            grudge[n] = sorted(others)
    return grudge


class Partition(Fault):
    name = "partition"

    def __init__(self, shapes: dict[str, Any] | None = None) -> None:
        self.shapes = shapes or {"halves": halves}
        self.current: Grudge = {}

    def start(self, cluster: DockerCluster, rng: random.Random) -> dict[str, Any]:
        shape = rng.choice(sorted(self.shapes))
        grudge = self.shapes[shape]([n.name for n in cluster.nodes], rng)
        if isinstance(grudge, tuple):  # shapes that need the cluster return (grudge, note)
            grudge = grudge[0]
        self.current = grudge
        apply_grudge(cluster, grudge)
        verify_grudge(cluster, grudge)
        return {"shape": shape, "grudge": grudge, "nodes": sorted(n for n, g in grudge.items() if g)}

    def stop(self, cluster: DockerCluster) -> dict[str, Any]:
        healed = flush_all(cluster)
        was, self.current = self.current, {}
        return {"healed": healed, "grudge_was": was}

    def heal(self, cluster: DockerCluster) -> None:
        try:
            flush_all(cluster)
        except Exception:  # noqa: BLE001, S110 - heal must not raise; the runner checks leftovers
            pass
        self.current = {}


def apply_grudge(cluster: DockerCluster, grudge: Grudge) -> None:
    def apply(node: Node) -> None:
        for peer in grudge.get(node.name, []):
            cluster.exec(node, ["iptables", "-w", "-A", "INPUT", "-s", cluster.node(peer).ip, "-j", "DROP"])

    with ThreadPoolExecutor(len(cluster.nodes)) as pool:
        list(pool.map(apply, cluster.nodes))


def _reaches(cluster: DockerCluster, src: Node, dst: Node) -> bool:
    """Whether ``src`` can open a TCP connection to ``dst``'s peer port (1 s bound)."""
    code, _ = cluster.exec(src, ["nc", "-z", "-w", "1", dst.ip, "2380"], check=False)
    return code == 0


def verify_grudge(cluster: DockerCluster, grudge: Grudge) -> None:
    """Probe one cut link and one kept link per node; raise FaultNotApplied on a mismatch."""
    probes: list[tuple[Node, Node, bool]] = []
    for node in cluster.nodes:
        cut = grudge.get(node.name, [])
        kept = [n.name for n in cluster.nodes if n.name not in cut and n.name != node.name]
        if cut:
            probes.append((node, cluster.node(cut[0]), False))
        if kept:
            probes.append((node, cluster.node(kept[0]), True))
    with ThreadPoolExecutor(max(1, len(probes))) as pool:
        results = list(pool.map(lambda p: _reaches(cluster, p[0], p[1]), probes))
    wrong = [f"{s.name}->{d.name} {'reachable' if got else 'cut'}, expected {'reachable' if want else 'cut'}"
             for (s, d, want), got in zip(probes, results, strict=True) if got != want]
    if wrong:
        raise FaultNotApplied("partition not in effect: " + "; ".join(wrong))


def flush_all(cluster: DockerCluster) -> list[str]:
    """Flush INPUT rules on every running node; returns the nodes flushed."""
    flushed: list[str] = []
    for node in cluster.nodes:
        if not cluster.is_running(node):
            continue
        cluster.exec(node, ["iptables", "-w", "-F", "INPUT"])
        flushed.append(node.name)
    return flushed
