"""The dependency graph over transactions, and the search for classified cycles in it.

Nodes are transaction ids (:attr:`Txn.id`). An edge ``a -> b`` says ``a`` must come before
``b`` in any serial order the history allows, for one or more reasons, each a *type*:

``ww``        ``b`` overwrote (appended after) a version ``a`` wrote;
``wr``        ``b`` read a version ``a`` wrote;
``rw``        ``a`` read a version that ``b`` overwrote (an anti-dependency);
``process``   the same process ran ``a`` and then ``b``;
``realtime``  ``a`` completed before ``b`` was invoked.

Real-time edges are a sparse transitive reduction (Elle's): when ``b`` is invoked it gets
an edge from each transaction of the *frontier*, the completed transactions that no
completed transaction invoked after their completion has yet followed. The frontier stays
about as large as the concurrency, so the graph has O(n · concurrency) real-time edges, not
O(n²), and still ``a`` reaches ``b`` whenever ``a`` completed before ``b`` began.

:func:`find_cycles` takes the strongly connected components (networkx), and in each looks
for a short cycle of each class (Adya's, as Elle names them):

``G0``        only ``ww`` edges;
``G1c``       ``ww`` and ``wr`` edges, at least one ``wr``;
``G-single``  exactly one ``rw`` edge;
``G2``        ``rw`` edges, more than one is needed.

Each class also has ``-process`` and ``-realtime`` variants, reported when a cycle of the
class exists only with process (then real-time) edges added. The cycle is short: the
shortest path (breadth-first) back from the head of one edge of the class's required type.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from checkers._linear import LimitReached
from checkers.elle._txn import Txn

if TYPE_CHECKING:
    import networkx as nx

#: Edge types, in the order an edge with several is labelled by (the weakest reason first).
EDGE_TYPES = ("ww", "wr", "process", "realtime", "rw")
#: ``why`` data of an edge: for ww ``(key, earlier value, later value)``, wr ``(key, value)``,
#: rw ``(key, value read, overwriting value)``, process ``(process,)``, realtime ``()``.
Why = tuple[Any, ...]


@dataclass(slots=True)
class Graph:
    """Adjacency with typed edges: ``succ[a][b][type] = why`` (the first reason seen)."""

    succ: dict[int, dict[int, dict[str, Why]]] = field(default_factory=dict)
    edge_count: int = 0

    def add(self, a: int, b: int, kind: str, why: Why) -> None:
        """Add ``a -> b`` for reason ``kind``; a self-edge is no dependency and is dropped."""
        if a == b:
            return
        out = self.succ.get(a)
        if out is None:
            out = self.succ[a] = {}
        types = out.get(b)
        if types is None:
            types = out[b] = {}
            self.edge_count += 1
        if kind not in types:
            types[kind] = why


def add_order_edges(graph: Graph, txns: list[Txn]) -> None:
    """Process-order and real-time edges between the transactions that may have happened.

    A failed transaction is no node of the graph. An ``info`` one never completed, so it
    precedes nothing in real time; it is the last of its process (the process rule).
    """
    last_of_process: dict[Any, int] = {}
    events: list[tuple[int, int, int]] = []  # (history index, 0 invoke / 1 complete, txn id)
    for t in txns:
        if t.outcome == "fail":
            continue
        prev = last_of_process.get(t.process)
        if prev is not None:
            graph.add(prev, t.id, "process", (t.process,))
        last_of_process[t.process] = t.id
        events.append((t.index, 0, t.id))
        if t.outcome == "ok" and t.done_index is not None:
            events.append((t.done_index, 1, t.id))
    events.sort()
    frontier: set[int] = set()
    seen_by: dict[int, list[int]] = {}
    for _, is_completion, tid in events:
        if is_completion:
            frontier.difference_update(seen_by.pop(tid, ()))
            frontier.add(tid)
        else:
            before = list(frontier)
            seen_by[tid] = before
            for a in before:
                graph.add(a, tid, "realtime", ())


@dataclass(frozen=True, slots=True)
class CycleClass:
    """A class of cycle: every edge of the cycle has a type in ``allowed``; one edge has
    type ``required`` and (``only_one``) no other edge has it."""

    name: str
    required: str
    allowed: frozenset[str]
    only_one: bool = False


_BASE = (
    CycleClass("G0", "ww", frozenset({"ww"})),
    CycleClass("G1c", "wr", frozenset({"ww", "wr"})),
    CycleClass("G-single", "rw", frozenset({"ww", "wr"}), only_one=True),
    CycleClass("G2", "rw", frozenset({"ww", "wr", "rw"})),
)
#: Suffix → the order edges each level adds.
_LEVELS: tuple[tuple[str, frozenset[str]], ...] = (("", frozenset()), ("-process", frozenset({"process"})),
           ("-realtime", frozenset({"process", "realtime"})))

#: Every cycle anomaly name, weakest class first.
CYCLE_ANOMALIES = tuple(c.name + s for c in _BASE for s, _ in _LEVELS)


@dataclass(slots=True)
class Cycle:
    """A cycle ``nodes[0] -> nodes[1] -> ... -> nodes[0]``; ``edges[i]`` is ``(type, why)`` of
    the edge leaving ``nodes[i]``."""

    anomaly: str
    nodes: list[int]
    edges: list[tuple[str, Why]]


@dataclass(slots=True)
class CycleSearch:
    """The cycles found, the count of components each class was found in, and, if the budget
    stopped the search, why (``stopped``)."""

    cycles: list[Cycle] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    components: int = 0
    searched: int = 0
    stopped: str | None = None


def find_cycles(graph: Graph, tick: Callable[[], None], max_cycles_per_class: int = 20) -> CycleSearch:
    """A short cycle of each class in each strongly connected component.

    Keeps at most ``max_cycles_per_class`` cycles of each class and counts the components
    each class was found in. ``tick`` is called often and raises :class:`LimitReached` past
    the budget: the search then stops, keeps what it found, and says where it stopped.
    """
    # networkx is imported here, not with the module: it takes ~0.3 s (and importlib.metadata)
    # that `etcd-harness check` on a non-transactional history, and `import checkers`, must not pay.
    import networkx as nx

    out = CycleSearch()
    try:
        nxg: nx.DiGraph[int] = nx.DiGraph()
        nxg.add_edges_from((a, b) for a, outs in graph.succ.items() for b in outs)
        tick()
        components = [c for c in nx.strongly_connected_components(nxg) if len(c) > 1]
        out.components = len(components)
        for scc in components:
            tick()
            for found in _classify_scc(graph, scc, tick):
                out.counts[found.anomaly] = out.counts.get(found.anomaly, 0) + 1
                if out.counts[found.anomaly] <= max_cycles_per_class:
                    out.cycles.append(found)
            out.searched += 1
    except LimitReached as e:
        out.stopped = f"{e} after searching {out.searched} of {out.components or '?'} strongly connected components"
    return out


def _classify_scc(graph: Graph, scc: set[int], tick: Callable[[], None]) -> Iterable[Cycle]:
    found_at: dict[str, int] = {}  # base class -> the level it was found at
    for level, (suffix, extra) in enumerate(_LEVELS):
        for cls in _BASE:
            if cls.name in found_at:
                continue  # found with fewer kinds of edge: the variant adds nothing
            if cls.name == "G2" and "G-single" in found_at:
                continue  # one anti-dependency already closes a cycle here
            cycle = _cycle_with(graph, scc, cls.required, cls.allowed | extra, cls.only_one, tick)
            if cycle is not None:
                found_at[cls.name] = level
                yield Cycle(cls.name + suffix, *cycle)


def _cycle_with(graph: Graph, scc: set[int], required: str, allowed: frozenset[str], only_one: bool,
                tick: Callable[[], None]) -> tuple[list[int], list[tuple[str, Why]]] | None:
    """A shortest cycle inside ``scc`` through an edge of type ``required``, the rest of whose
    edges have types in ``allowed`` (minus ``required`` if ``only_one``)."""
    import networkx as nx  # see find_cycles

    path_types = allowed - {required} if only_one else allowed
    # Components of the graph of the allowed edges: a cycle through a required edge a -> b
    # exists within them iff a and b share one (when the required type is allowed on the path).
    sub: nx.DiGraph[int] = nx.DiGraph()
    required_edges: list[tuple[int, int]] = []
    for a in scc:
        for b, types in graph.succ.get(a, {}).items():
            if b not in scc:
                continue
            if any(t in path_types for t in types):
                sub.add_edge(a, b)
            if required in types:
                required_edges.append((a, b))
    if not required_edges:
        return None
    tick()
    comp: dict[int, int] = {}
    for i, c in enumerate(nx.strongly_connected_components(sub)):
        for n in c:
            comp[n] = i
    if only_one:
        # b must reach a without the required type: same component, or down the condensation.
        candidates = sorted(required_edges, key=lambda e: comp.get(e[0], -1) != comp.get(e[1], -2))
    else:
        candidates = [e for e in required_edges if e[0] in comp and comp.get(e[0]) == comp.get(e[1])]
    tried = 0
    for a, b in candidates:
        tried += 1
        if tried % 64 == 0:
            tick()
        path = _shortest_path(graph, b, a, scc, path_types, tick)
        if path is None:
            continue
        nodes = [a, *path[:-1]]
        edges: list[tuple[str, Why]] = [(required, graph.succ[a][b][required])]
        for x, y in itertools.pairwise(path):
            types = graph.succ[x][y]
            kind = next(t for t in EDGE_TYPES if t in types and t in path_types)
            edges.append((kind, types[kind]))
        return nodes, edges
    return None


def _shortest_path(graph: Graph, src: int, dst: int, scc: set[int], types: frozenset[str],
                   tick: Callable[[], None]) -> list[int] | None:
    """Breadth-first: the nodes from ``src`` to ``dst`` (both included) over edges with a type
    in ``types``, inside ``scc``; ``None`` if there is no such path."""
    if src == dst:
        return [src]
    parent: dict[int, int] = {src: src}
    queue = deque([src])
    steps = 0
    while queue:
        x = queue.popleft()
        steps += 1
        if steps % 4096 == 0:
            tick()
        for y, ts in graph.succ.get(x, {}).items():
            if y in parent or y not in scc or not any(t in types for t in ts):
                continue
            parent[y] = x
            if y == dst:
                path = [y]
                while path[-1] != src:
                    path.append(parent[path[-1]])
                path.reverse()
                return path
            queue.append(y)
    return None
