"""Network partitions as *grudges*, applied inside each node's network namespace.

As in Jepsen, a partition is a grudge: for each node, the nodes it no longer
hears. With iptables a node drops packets *from* those peers on INPUT (in a
chain of its own, see :mod:`nemesis._firewall`); with the tc fallback, each
peer stops sending *to* that node. Only peer addresses are matched, so the
harness's client traffic (from the network gateway) still reaches every node.

Shapes (``--nemesis partition`` picks one at random per start, among those the
cluster size allows):

``halves``           a random minority and majority, cut apart
``isolate-one``      one random node cut off from all others
``isolate-leader``   the current leader (maintenance status API) cut off
``majorities-ring``  nodes on a random ring each see their neighbours: every
                     node sees a majority, no two the same one (5+ nodes)
``bridge``           two halves that only one node, the bridge, sees both of

Every grudge here is symmetric (if a does not hear b, b does not hear a), so
the cut holds for TCP whichever side's rule is in place. Each start is
verified by a TCP probe of the peer port along every link between running
nodes: cut links must time out, kept links must connect.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from nemesis import _firewall as fw
from nemesis._base import Fault, FaultNotApplied, FaultSkipped

if TYPE_CHECKING:
    from harness.etcd import Cluster, Node

Grudge = dict[str, list[str]]  # node -> the nodes it no longer hears
Shape = Callable[[list[str], random.Random, "str | None"], Grudge]


class ShapeUnavailable(FaultSkipped):
    """The shape does not fit this cluster (too few nodes, no leader); nothing was done."""


def majority(n: int) -> int:
    return n // 2 + 1


def complete_grudge(components: list[list[str]]) -> Grudge:
    """Each node drops every node outside its own component."""
    grudge: Grudge = {}
    for comp in components:
        others = [n for c in components if c is not comp for n in c]
        for n in comp:
            grudge[n] = sorted(others)
    return grudge


def grudge_from_views(views: dict[str, set[str]]) -> Grudge:
    """``views[n]``: the nodes ``n`` still hears (itself included) → the grudge."""
    everyone = set(views)
    return {n: sorted(everyone - seen - {n}) for n, seen in views.items()}


def halves(names: list[str], rng: random.Random, leader: str | None = None) -> Grudge:
    """A random minority and majority, cut apart."""
    if len(names) < 2:
        raise ShapeUnavailable("halves needs at least 2 nodes")
    shuffled = names[:]
    rng.shuffle(shuffled)
    k = len(names) // 2
    return complete_grudge([shuffled[:k], shuffled[k:]])


def isolate_one(names: list[str], rng: random.Random, leader: str | None = None) -> Grudge:
    """One random node, alone."""
    if len(names) < 2:
        raise ShapeUnavailable("isolate-one needs at least 2 nodes")
    lone = rng.choice(names)
    return complete_grudge([[lone], [n for n in names if n != lone]])


def isolate_leader(names: list[str], rng: random.Random, leader: str | None = None) -> Grudge:
    """The current leader, alone; the majority side should elect a new one."""
    if len(names) < 2:
        raise ShapeUnavailable("isolate-leader needs at least 2 nodes")
    if leader is None or leader not in names:
        raise ShapeUnavailable("isolate-leader: the nodes agree on no leader right now")
    return complete_grudge([[leader], [n for n in names if n != leader]])


def majorities_ring(names: list[str], rng: random.Random, leader: str | None = None) -> Grudge:
    """Nodes on a random ring each hear those within ``d`` steps, ``d = ceil((majority-1)/2)``.

    With 5 nodes every node hears its two neighbours: 3 of 5, a majority, and
    each node's majority is centred on itself, so no two are the same.
    """
    n = len(names)
    if n < 5:
        raise ShapeUnavailable(f"majorities-ring needs at least 5 nodes (has {n}): with fewer, "
                               "a node's neighbours are everyone")
    ring = names[:]
    rng.shuffle(ring)
    d = majority(n) // 2  # == ceil((majority - 1) / 2)
    views = {ring[i]: {ring[(i + k) % n] for k in range(-d, d + 1)} for i in range(n)}
    return grudge_from_views(views)


def bridge(names: list[str], rng: random.Random, leader: str | None = None) -> Grudge:
    """Two halves cut apart, plus one node (the bridge) that hears both."""
    if len(names) < 3:
        raise ShapeUnavailable("bridge needs at least 3 nodes")
    shuffled = names[:]
    rng.shuffle(shuffled)
    middle, rest = shuffled[0], shuffled[1:]
    k = len(rest) // 2
    a, b = rest[:k], rest[k:]
    views = {n: {*a, middle} for n in a} | {n: {*b, middle} for n in b} | {middle: set(names)}
    return grudge_from_views(views)


SHAPES: dict[str, Shape] = {
    "halves": halves,
    "isolate-one": isolate_one,
    "isolate-leader": isolate_leader,
    "majorities-ring": majorities_ring,
    "bridge": bridge,
}


def shapes_for(size: int) -> list[str]:
    """The shapes a cluster of ``size`` nodes allows."""
    probe = [f"n{i}" for i in range(1, size + 1)]
    fits = []
    for name, shape in SHAPES.items():
        try:
            shape(probe, random.Random(0), probe[0])
        except ShapeUnavailable:
            continue
        fits.append(name)
    return fits


class Partition(Fault):
    """``start-partition`` applies a random shape's grudge; ``stop-partition`` heals it.

    ``shapes`` restricts the choice (e.g. ``("isolate-leader",)`` in a test);
    ``backend`` forces ``"tc"`` or an iptables command instead of detecting it.
    """

    name = "partition"

    def __init__(self, shapes: tuple[str, ...] | None = None, backend: str | None = None) -> None:
        unknown = [s for s in shapes or () if s not in SHAPES]
        if unknown:
            raise ValueError(f"unknown partition shape {unknown}; allowed: {', '.join(SHAPES)}")
        self.shapes = tuple(shapes or SHAPES)
        self.forced_backend = backend
        self.backends: dict[str, str] = {}  # node -> backend; the image does not change in a run
        self.current: Grudge = {}

    def backend(self, cluster: Cluster, node: Node) -> str:
        if self.forced_backend:
            return self.forced_backend
        if node.name not in self.backends:
            self.backends[node.name] = fw.detect_backend(cluster, node)
        return self.backends[node.name]

    def start(self, cluster: Cluster, rng: random.Random) -> dict[str, Any]:
        names = [n.name for n in cluster.nodes]
        allowed = [s for s in self.shapes if s in shapes_for(len(names))]
        if not allowed:
            raise ShapeUnavailable(f"no partition shape of {list(self.shapes)} fits {len(names)} nodes")
        shape = rng.choice(allowed)
        leader = cluster.leader(timeout=1.0) if shape == "isolate-leader" else None
        grudge = SHAPES[shape](names, rng, leader)
        t0 = time.monotonic()
        running = [n for n in cluster.nodes if cluster.is_running(n)]
        if len(running) < 2:
            raise FaultSkipped(f"{shape}: fewer than 2 nodes running (killed?); nothing to partition",
                                  {"shape": shape, "grudge": grudge})
        backends = self.apply(cluster, grudge, running)
        self.current = grudge
        value: dict[str, Any] = {
            "shape": shape, "grudge": grudge, "nodes": sorted(n for n, g in grudge.items() if g),
            "isolated": leader, "backends": backends, "skipped": sorted(set(names) - {n.name for n in running})}
        try:
            value["probes"] = verify_grudge(cluster, grudge, running)
        except FaultNotApplied as e:
            raise FaultNotApplied(str(e), value | {"verified": False}) from e
        return value | {"verified": True, "apply_s": round(time.monotonic() - t0, 3)}

    def apply(self, cluster: Cluster, grudge: Grudge, running: list[Node]) -> dict[str, str]:
        """Install the grudge on every running node; returns node -> backend used."""
        def apply_one(node: Node) -> str:
            backend = self.backend(cluster, node)
            if backend == fw.TC:
                # "X does not hear P" becomes "P sends nothing to X", applied on P.
                deaf = [cluster.node(x).ip for x, peers in grudge.items() if node.name in peers]
                if deaf:
                    fw.tc_drop_to(cluster, node, deaf)
            elif grudge.get(node.name):
                fw.iptables_drop_from(cluster, node, backend, fw.PARTITION_CHAIN,
                                      [cluster.node(p).ip for p in grudge[node.name]])
            return backend

        with ThreadPoolExecutor(max(1, len(running))) as pool:
            return dict(zip([n.name for n in running], pool.map(apply_one, running), strict=True))

    def stop(self, cluster: Cluster) -> dict[str, Any]:
        t0 = time.monotonic()
        healed = heal_nodes(cluster)
        was, self.current = self.current, {}
        # After the heal every link between running nodes must connect again.
        running = [n for n in cluster.nodes if n.name in healed]
        value: dict[str, Any] = {"healed": healed, "grudge_was": was}
        try:
            verify_grudge(cluster, {}, running)
        except FaultNotApplied as e:
            raise FaultNotApplied(f"after the heal: {e}", value | {"verified": False}) from e
        return value | {"verified": True, "heal_s": round(time.monotonic() - t0, 3)}

    def heal(self, cluster: Cluster) -> None:
        """Remove every rule on every running node; ``current`` stays for the ``stop`` that verifies it."""
        with contextlib.suppress(Exception):  # heal must not raise; leftovers() checks what remains
            heal_nodes(cluster)


#: Probes every address given as an argument at once (1 s bound each) and prints
#: "<ip> up|down" per line. A constant script: the addresses are argv, never
#: spliced into the shell text.
PROBE_SCRIPT = 'for ip in "$@"; do (nc -z -w 1 "$ip" 2380 2>/dev/null && echo "$ip up" || echo "$ip down") & done; wait'


def _reachable_from(cluster: Cluster, src: Node, dsts: list[Node]) -> dict[str, bool]:
    """Which of ``dsts`` ``src`` can open a TCP connection to (peer port), in one exec."""
    _, out = cluster.exec(src, ["sh", "-c", PROBE_SCRIPT, "probe", *[d.ip for d in dsts]], check=False)
    up = {line.split()[0] for line in out.splitlines() if line.endswith(" up")}
    return {d.name: d.ip in up for d in dsts}


def _reaches(cluster: Cluster, src: Node, dst: Node, wait_s: int = 1) -> bool:
    """Whether ``src`` can open a TCP connection to ``dst``'s peer port within ``wait_s``."""
    code, _ = cluster.exec(src, ["nc", "-z", "-w", str(wait_s), dst.ip, "2380"], check=False)
    return code == 0


def verify_grudge(cluster: Cluster, grudge: Grudge, running: list[Node]) -> int:
    """Probe every ordered link between running nodes; raise FaultNotApplied on a mismatch.

    One exec per node probes all its peers in parallel. A cut link must not
    connect within 1 s. A kept link must connect; as the loss nemesis may
    drop a SYN or its answer, a kept link that failed gets 4 more tries of
    2 s (a SYN retransmit each) before it counts as cut. Returns the number
    of links probed.
    """
    def cut(a: Node, b: Node) -> bool:
        return b.name in grudge.get(a.name, []) or a.name in grudge.get(b.name, [])

    def probe_from(src: Node) -> list[str]:
        peers = [d for d in running if d is not src]
        got = _reachable_from(cluster, src, peers) if peers else {}
        wrong = []
        for dst in peers:
            want = not cut(src, dst)
            ok = got[dst.name] or (want and any(_reaches(cluster, src, dst, wait_s=2) for _ in range(4)))
            if ok != want:
                wrong.append(f"{src.name}->{dst.name} {'reachable' if ok else 'cut'}, "
                             f"expected {'reachable' if want else 'cut'}")
        return wrong

    with ThreadPoolExecutor(max(1, len(running))) as pool:
        wrong = [w for ws in pool.map(probe_from, running) for w in ws]
    if wrong:
        raise FaultNotApplied("partition not as planned: " + "; ".join(wrong))
    return len(running) * (len(running) - 1)


def heal_nodes(cluster: Cluster) -> list[str]:
    """Remove our chains (every iptables variant) and tc filters on every running node."""
    def heal_one(node: Node) -> str | None:
        if not cluster.is_running(node):
            return None  # a stopped container's namespace is gone; it restarts clean
        state = fw.inspect(cluster, node)
        fw.iptables_remove_chain(cluster, node, fw.PARTITION_CHAIN, state)
        fw.tc_remove(cluster, node, state)
        return node.name

    with ThreadPoolExecutor(len(cluster.nodes)) as pool:
        return [n for n in pool.map(heal_one, cluster.nodes) if n]
