"""Version orders, dependency edges and the anomalies that need no cycle, for each data type.

**List-append.** A key's value is the list of the elements appended to it, so a read
reveals the order of every element before its last: each key's version order is its
longest read, and every other read must be a prefix of it (else ``incompatible-order``).
For consecutive elements ``x, y``: ``writer(x) -ww-> writer(y)``; a read ending in ``x``:
``writer(x) -wr-> reader`` and ``reader -rw-> writer(y)``; an empty read ``-rw->`` the writer
of the first element.

**Rw-register.** A read shows only one version. etcd numbers each write with a revision:
when the history records them (``extra.rev`` of the writing transaction, ``extra.mod_revs``
of each read) they give each key's total version order, and an unread ``info`` write
whose value a read returned gets the revision that read saw. Without revisions, the order
is what the transactions themselves show, as Elle infers it: the initial (absent) version
comes first, and a transaction that read ``x`` and then wrote ``y`` to a key puts ``x``
before ``y``.

Anomalies found without a cycle (each with its explanation and its ops):

``G1a``                 a read of a failed transaction's write (an aborted read);
``G1b``                 a read of a version its writer overwrote in the same transaction;
``internal``            a transaction that does not see its own earlier reads and writes;
``dirty-update``        a committed append right after a failed one (list-append);
``duplicate-elements``  a read with an element twice (list-append);
``garbage-read``        a read of a value nobody wrote;
``incompatible-order``  reads that disagree on a key's order;
``lost-update``         two committed transactions read the same version of a key and both
                        wrote it (Elle's definition);
``lost-append``         an acknowledged append no read ever saw, though a read of its key
                        began after it was acknowledged (real time; list-append).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from checkers.elle._graph import Graph, add_order_edges
from checkers.elle._txn import Txn

#: At most this many examples of each non-cycle anomaly are kept (all are counted).
MAX_EXAMPLES = 20


@dataclass(slots=True)
class Analysis:
    """What one pass over the transactions found: the graph and the anomalies without cycles."""

    kind: str
    txns: list[Txn]
    graph: Graph = field(default_factory=Graph)
    anomalies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    revisions_used: bool = False

    def report(self, anomaly: str, ops: list[Txn], *sentences: str, keys: tuple[Any, ...] = ()) -> None:
        """Count one anomaly; keep its explanation while under :data:`MAX_EXAMPLES`."""
        self.counts[anomaly] = self.counts.get(anomaly, 0) + 1
        examples = self.anomalies.setdefault(anomaly, [])
        if len(examples) < MAX_EXAMPLES:
            examples.append({"type": anomaly, "explanation": list(sentences),
                             "ops": [t.index for t in ops], "keys": list(keys)})


def show(v: Any) -> str:
    """A value as explanations print it: lists in brackets, absent as ``nothing``."""
    if v is None:
        return "nothing"
    if isinstance(v, tuple | list):
        return "[" + " ".join(show(x) for x in v) + "]"
    return str(v)


def _tail(v: tuple[Any, ...], n: int = 6) -> str:
    return show(v) if len(v) <= n else "[... " + " ".join(show(x) for x in v[-n:]) + "]"


# ---- list-append ------------------------------------------------------------------------

def analyze_list_append(txns: list[Txn], tick: Callable[[], None]) -> Analysis:
    """The list-append graph and the anomalies without cycles (see the module docstring)."""
    an = Analysis("list-append", txns)
    writer: dict[tuple[Any, Any], Txn] = {}
    appends: dict[tuple[int, Any], list[Any]] = defaultdict(list)  # (txn id, key) -> its appends in order
    for t in txns:
        for f, k, v in t.mops:
            if f == "append":
                other = writer.get((k, v))
                if other is not None and other is not t:
                    an.report("duplicate-append", [other, t],
                              f"{other.label} and {t.label} both appended {show(v)} to key {show(k)}: appended "
                              "values must be unique per key, so reads of them cannot be attributed",
                              keys=(k,))
                writer.setdefault((k, v), t)
                appends[(t.id, k)].append(v)
    acked: dict[Any, list[tuple[Txn, Any]]] = defaultdict(list)  # key -> (ok txn, element) of its appends
    for (tid, k), vs in appends.items():
        if txns[tid].outcome == "ok":
            acked[k].extend((txns[tid], v) for v in vs)
    tick()
    reads: dict[Any, list[tuple[Txn, tuple[Any, ...]]]] = defaultdict(list)  # key -> ok reads
    scanned: dict[Any, tuple[Any, ...]] = {}  # key -> the longest read whose elements were checked
    for n, t in enumerate(txns):
        if n % 2048 == 0:
            tick()
        if t.outcome != "ok":
            continue
        if len({k for _, k, _ in t.mops}) < len(t.mops):
            _internal_list(an, t)  # only a key touched twice can disagree with itself
        for f, k, v in t.mops:
            if f != "r":
                continue
            value: tuple[Any, ...] = () if v is None else v
            reads[k].append((t, value))
            if len(set(value)) != len(value):
                seen: set[Any] = set()
                dup = next(x for x in value if x in seen or seen.add(x))  # type: ignore[func-returns-value]
                an.report("duplicate-elements", [t], f"{t.label} read key {show(k)} = {_tail(value)}, "
                          f"which holds {show(dup)} more than once", keys=(k,))
            # Reads of a key mostly extend one another: scan only the elements no earlier read
            # that this one extends has shown (each aborted or garbage element is reported once,
            # with the first read that showed it; a read that is no extension is scanned whole).
            base = scanned.get(k, ())
            if len(value) <= len(base) and value == base[: len(value)]:
                fresh: tuple[Any, ...] = ()
            elif value[: len(base)] == base:
                fresh, scanned[k] = value[len(base):], value
            else:
                fresh = value
            for x in fresh:
                w = writer.get((k, x))
                if w is None:
                    an.report("garbage-read", [t], f"{t.label} read {show(x)} in key {show(k)}, "
                              "which no transaction appended", keys=(k,))
                elif w.outcome == "fail":
                    an.report("G1a", [w, t], f"{t.label} read key {show(k)} = {_tail(value)}, with "
                              f"{w.label}'s append of {show(x)}, but {w.label} failed", keys=(k,))
            if value:
                last = value[-1]
                w = writer.get((k, last))
                if w is not None and w is not t and w.outcome != "fail":
                    own = appends[(w.id, k)]
                    if own[-1] != last:
                        an.report("G1b", [w, t], f"{t.label} read key {show(k)} ending in {show(last)}, an "
                                  f"intermediate version: {w.label} appended {show(last)} and then "
                                  f"{show(own[own.index(last) + 1])} to key {show(k)}", keys=(k,))
    _lost_updates(an, txns, "append")
    for k, rs in reads.items():
        tick()
        longest = max((v for _, v in rs), key=len)
        pos = {x: i for i, x in enumerate(longest)}
        longest_by = next(t for t, v in rs if v is longest)
        for x, y in itertools.pairwise(longest):
            wx, wy = writer.get((k, x)), writer.get((k, y))
            if wx is None or wy is None:
                continue
            if wx.outcome == "fail" and wy.outcome != "fail" and wx is not wy:
                an.report("dirty-update", [wx, wy], f"{wy.label} appended {show(y)} to key {show(k)} right "
                          f"after {wx.label}'s append of {show(x)} (as {longest_by.label} read it), but "
                          f"{wx.label} failed", keys=(k,))
            if wx.outcome != "fail" and wy.outcome != "fail":
                an.graph.add(wx.id, wy.id, "ww", (k, x, y))
        for t, value in rs:
            if value != longest[: len(value)]:
                an.report("incompatible-order", [longest_by, t],
                          f"{t.label} read key {show(k)} = {_tail(value)} and {longest_by.label} read "
                          f"{_tail(longest)}: one is not a prefix of the other, so the key has no single order",
                          keys=(k,))
                continue
            if value:
                w = writer.get((k, value[-1]))
                if w is not None and w.outcome != "fail":
                    an.graph.add(w.id, t.id, "wr", (k, value[-1]))
            if len(value) < len(longest):
                nxt = longest[len(value)]
                w = writer.get((k, nxt))
                if w is not None and w.outcome != "fail":
                    an.graph.add(t.id, w.id, "rw", (k, value[-1] if value else None, nxt))
        _lost_appends(an, k, rs, pos, writer, acked.get(k, ()))
    tick()
    add_order_edges(an.graph, txns)
    return an


def _internal_list(an: Analysis, t: Txn) -> None:
    """A read of a key must show the transaction's earlier read of it plus its appends since."""
    known: dict[Any, list[Any]] = {}  # key -> the whole list it must hold now
    suffix: dict[Any, list[Any]] = {}  # key -> what it must end with (no read of it yet)
    for f, k, v in t.mops:
        if f == "append":
            if k in known:
                known[k].append(v)
            else:
                suffix.setdefault(k, []).append(v)
            continue
        value = list(v or ())
        if k in known and value != known[k]:
            an.report("internal", [t], f"{t.label} read key {show(k)} = {_tail(tuple(value))}, but its own "
                      f"earlier reads and appends say it holds {_tail(tuple(known[k]))}", keys=(k,))
        elif k not in known and suffix.get(k) and value[-len(suffix[k]):] != suffix[k]:
            an.report("internal", [t], f"{t.label} read key {show(k)} = {_tail(tuple(value))} after appending "
                      f"{show(tuple(suffix[k]))} to it, without its own append(s) at the end", keys=(k,))
        known[k] = value


def _lost_appends(an: Analysis, k: Any, rs: list[tuple[Txn, tuple[Any, ...]]], pos: dict[Any, int],
                  writer: dict[tuple[Any, Any], Txn], acked: Iterable[tuple[Txn, Any]]) -> None:
    """Acknowledged appends to ``k`` that no read saw, though a read of ``k`` began after."""
    last_reader = max(rs, key=lambda tv: tv[0].invoke_time)[0]
    for t, v in acked:
        if t.complete_time < last_reader.invoke_time and v not in pos and writer.get((k, v)) is t:
            an.report("lost-append", [t, last_reader], f"{t.label}'s append of {show(v)} to key {show(k)} was "
                      f"acknowledged, but {last_reader.label}, which began later, read key {show(k)} without "
                      "it, and no read ever saw it", keys=(k,))


def _lost_updates(an: Analysis, txns: list[Txn], write_f: str) -> None:
    """Elle's lost update: committed transactions that read the same version of a key (their
    first read of it, before writing it) and then both wrote that key."""
    groups: dict[tuple[Any, Any], list[Txn]] = defaultdict(list)
    for t in txns:
        if t.outcome != "ok":
            continue
        first_read: dict[Any, Any] = {}
        wrote: set[Any] = set()
        for f, k, v in t.mops:
            if f == "r" and k not in first_read and k not in wrote:
                first_read[k] = v if v is not None or write_f == "w" else ()
            elif f == write_f:
                wrote.add(k)
        for k in wrote:
            if k in first_read:
                groups[(k, first_read[k])].append(t)
    for (k, v), ts in groups.items():
        if len(ts) > 1:
            names = ", ".join(t.label for t in ts)
            seen = _tail(v) if isinstance(v, tuple) else show(v)
            an.report("lost-update", ts, f"{names} all read key {show(k)} = {seen} and then wrote key {show(k)}: "
                      "each overwrote a version without seeing the others' writes", keys=(k,))


# ---- rw-register ------------------------------------------------------------------------

def analyze_rw_register(txns: list[Txn], tick: Callable[[], None]) -> Analysis:
    """The rw-register graph and the anomalies without cycles (see the module docstring)."""
    an = Analysis("rw-register", txns)
    writer: dict[tuple[Any, Any], Txn] = {}
    final: dict[tuple[int, Any], Any] = {}  # (txn id, key) -> the last value it wrote there
    for t in txns:
        for f, k, v in t.mops:
            if f == "w":
                other = writer.get((k, v))
                if other is not None and other is not t:
                    an.report("duplicate-write", [other, t], f"{other.label} and {t.label} both wrote {show(v)} to "
                              f"key {show(k)}: written values must be unique per key", keys=(k,))
                writer.setdefault((k, v), t)
                final[(t.id, k)] = v
    tick()
    # revisions: (key, value) -> revision; from the writers' ok completions, then from reads
    rev_of: dict[tuple[Any, Any], int] = {}
    for t in txns:
        if t.outcome == "ok" and t.rev is not None:
            for f, k, v in t.mops:
                if f == "w" and final.get((t.id, k)) == v:
                    rev_of[(k, v)] = t.rev
    external: list[tuple[Txn, Any, Any, int | None]] = []  # (reader, key, value, mod revision or None)
    for n, t in enumerate(txns):
        if n % 2048 == 0:
            tick()
        if t.outcome != "ok":
            continue
        _internal_register(an, t)
        wrote: set[Any] = set()
        read: set[Any] = set()
        for i, (f, k, v) in enumerate(t.mops):
            if f == "w":
                wrote.add(k)
                continue
            if k in wrote or k in read:
                continue  # an internal read: checked by _internal_register
            read.add(k)
            m = t.mod_revs[i] if t.mod_revs is not None else None
            m = m if type(m) is int else None
            external.append((t, k, v, m))
            if v is None:
                continue
            w = writer.get((k, v))
            if w is None:
                an.report("garbage-read", [t], f"{t.label} read key {show(k)} = {show(v)}, a value no transaction "
                          "wrote", keys=(k,))
                continue
            if w.outcome == "fail":
                an.report("G1a", [w, t], f"{t.label} read key {show(k)} = {show(v)}, written by {w.label}, "
                          f"which failed", keys=(k,))
            elif w is not t and final.get((w.id, k)) != v:
                an.report("G1b", [w, t], f"{t.label} read key {show(k)} = {show(v)}, an intermediate version: "
                          f"{w.label} wrote {show(v)} and then {show(final[(w.id, k)])} to key {show(k)}",
                          keys=(k,))
            if m is not None and m > 0:
                known = rev_of.get((k, v))
                if known is None and w.outcome != "fail":
                    rev_of[(k, v)] = m
                elif known is not None and known != m:
                    an.report("incompatible-order", [w, t], f"{t.label} read key {show(k)} = {show(v)} at mod "
                              f"revision {m}, but {w.label} wrote it at revision {known}", keys=(k,))
    _lost_updates(an, txns, "w")
    tick()
    an.revisions_used = bool(rev_of)
    if an.revisions_used:
        _register_edges_by_revision(an, writer, final, rev_of, external)
    else:
        _register_edges_inferred(an, writer, final, external)
    tick()
    add_order_edges(an.graph, txns)
    return an


def _internal_register(an: Analysis, t: Txn) -> None:
    """A read of a key must return the transaction's own last write to it, or its last read."""
    known: dict[Any, Any] = {}
    for f, k, v in t.mops:
        if f == "w":
            known[k] = v
        elif k in known and known[k] != v:
            an.report("internal", [t], f"{t.label} read key {show(k)} = {show(v)}, but its own earlier reads "
                      f"and writes say it holds {show(known[k])}", keys=(k,))
        else:
            known[k] = v


def _installed(writer: dict[tuple[Any, Any], Txn], final: dict[tuple[int, Any], Any], k: Any, v: Any) -> Txn | None:
    """The transaction whose final write to ``k`` was ``v``, if it may have committed."""
    w = writer.get((k, v))
    if w is None or w.outcome == "fail" or final.get((w.id, k)) != v:
        return None
    return w


def _register_edges_by_revision(an: Analysis, writer: dict[tuple[Any, Any], Txn],
                                final: dict[tuple[int, Any], Any], rev_of: dict[tuple[Any, Any], int],
                                external: list[tuple[Txn, Any, Any, int | None]]) -> None:
    """Each key's versions in revision order: ww between neighbours, wr to readers, rw from
    each reader to the next version's writer."""
    by_key: dict[Any, list[tuple[int, Any]]] = defaultdict(list)
    for (k, v), r in rev_of.items():
        if _installed(writer, final, k, v) is not None:
            by_key[k].append((r, v))
    next_of: dict[tuple[Any, Any], Any] = {}
    first_of: dict[Any, Any] = {}
    for k, versions in by_key.items():
        versions.sort(key=lambda rv: rv[0])
        first_of[k] = versions[0][1]
        for (r1, x), (r2, y) in itertools.pairwise(versions):
            wx, wy = writer[(k, x)], writer[(k, y)]
            if r1 == r2 and wx is not wy:
                an.report("incompatible-order", [wx, wy], f"{wx.label} and {wy.label} both wrote key {show(k)} "
                          f"at revision {r1}", keys=(k,))
            an.graph.add(wx.id, wy.id, "ww", (k, x, y))
            next_of[(k, x)] = y
    for t, k, v, _ in external:
        if v is not None:
            w = _installed(writer, final, k, v)
            if w is not None:
                an.graph.add(w.id, t.id, "wr", (k, v))
            nxt = next_of.get((k, v))
        else:
            nxt = first_of.get(k)
        if nxt is not None:
            an.graph.add(t.id, writer[(k, nxt)].id, "rw", (k, v, nxt))


def _register_edges_inferred(an: Analysis, writer: dict[tuple[Any, Any], Txn],
                             final: dict[tuple[int, Any], Any],
                             external: list[tuple[Txn, Any, Any, int | None]]) -> None:
    """Without revisions: absent first, and read-then-write inside a transaction, as Elle does."""
    after: dict[tuple[Any, Any], set[Any]] = defaultdict(set)  # (key, version) -> versions right after it
    for t, k, v, _ in external:
        y = final.get((t.id, k))
        if y is not None and t.outcome == "ok":
            after[(k, v)].add(y)
    writers_of: dict[Any, list[Any]] = defaultdict(list)
    for (k, v), w in writer.items():
        if w.outcome != "fail" and final.get((w.id, k)) == v:
            writers_of[k].append(v)
    for k, vs in writers_of.items():
        after[(k, None)].update(vs)
    for (k, x), ys in after.items():
        wx = _installed(writer, final, k, x) if x is not None else None
        for y in ys:
            wy = _installed(writer, final, k, y)
            if wx is not None and wy is not None:
                an.graph.add(wx.id, wy.id, "ww", (k, x, y))
    for t, k, v, _ in external:
        if v is not None:
            source = _installed(writer, final, k, v)
            if source is not None:
                an.graph.add(source.id, t.id, "wr", (k, v))
        for y in after.get((k, v), ()):
            wy = _installed(writer, final, k, y)
            if wy is not None:
                an.graph.add(t.id, wy.id, "rw", (k, v, y))
