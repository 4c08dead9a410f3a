"""What a nemesis may have left behind on a cluster: the check that no fault outlives a test."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from nemesis import _firewall as fw
from nemesis._member import membership_problems
from nemesis._pause import container_status, process_state

if TYPE_CHECKING:
    from harness.etcd import Cluster, Node


def leftovers(cluster: Cluster) -> list[str]:
    """Every trace of a fault, one line each; empty when the cluster is clean.

    Looks for: containers not running or frozen (``docker pause``), etcd
    stopped by SIGSTOP, harness chains or any INPUT rule in the filter table
    (nft and legacy), any qdisc on ``eth0`` other than the default
    ``noqueue``, and the tc-fallback sink device; and, on a cluster that can change
    its membership, a member list other than the configured ``n1..n<size>``
    (a ``member`` change not undone, a half-added member).
    """
    def one(node: Node) -> list[str]:
        status = container_status(cluster, node)
        if status != "running":
            return [f"{node.name}: container {status}"]
        found = []
        if process_state(cluster, node) == "T":
            found.append(f"{node.name}: etcd (PID 1) is stopped (SIGSTOP)")
        state = fw.inspect(cluster, node)
        return found + fw.iptables_leftovers(node, state) + fw.tc_leftovers(node, state)

    with ThreadPoolExecutor(len(cluster.nodes) or 1) as pool:
        found = [line for lines in pool.map(one, cluster.nodes) for line in lines]
    return found + membership_problems(cluster)
