"""The two checkers: read the transactions, analyse, search cycles, judge, explain.

``details`` of a result (also ``results.json`` → ``checkers.elle``)::

    {"model": "list-append" | "rw-register", "consistency_model": "strict-serializable",
     "txns": n, "outcomes": {"ok", "fail", "info"}, "revisions": bool, "edges": n,
     "anomaly_types": [...],          # every anomaly found, weakest first
     "forbidden": [...],              # those the requested model forbids (the verdict)
     "not": [...],                    # the models the anomalies rule out, strongest first
     "strongest_allowed": [...],      # the strongest models they do not rule out
     "counts": {type: n},             # cycles: components with one; others: occurrences
     "anomalies": [{"type", "explanation": [sentence, ...], "ops": [op index, ...], "keys",
                    "cycle": {"nodes": [{"index", "done_index", "label", "process", "outcome",
                                         "mops", "invoke_time", "complete_time"}],
                              "edges": [{"from", "to", "type", "key", "why"}]}}],  # cycle ones only
     "unknown": [{"search", "reason"}], "time_s": s}

A history the checker cannot read (a micro-op of the wrong shape) gives ``unknown`` with
``input_error`` (the rule, naming the op) and ``input_error_index`` (the op's position).

Each cycle is explained edge by edge from the ops, e.g. "T1 < T2: T2 read T1's append of 17
to key 3", ``T<n>`` being the transaction invoked at history index ``n``.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from checkers._linear import LimitReached, check_budget
from checkers._result import UNKNOWN, CheckContext, Result
from checkers.elle._analyze import Analysis, analyze_list_append, analyze_rw_register, show
from checkers.elle._consistency import CONSISTENCY_MODELS
from checkers.elle._graph import CYCLE_ANOMALIES, Cycle, Why, find_cycles
from checkers.elle._models import FORBIDS, INPUT_PROBLEMS, ruled_out, strongest_allowed
from checkers.elle._txn import NEVER, MalformedTxn, Txn, read_txns
from checkers.linearizable import budget_for
from harness.core import History

#: The order anomalies are listed in: cycles weakest first, then the rest.
_ORDER = (*CYCLE_ANOMALIES, "G1a", "G1b", "dirty-update", "lost-update", "lost-append", "internal",
          "garbage-read", "duplicate-elements", "incompatible-order", "duplicate-append", "duplicate-write")

_CLASS_WORDS = {
    "G0": "a cycle of write-write dependencies",
    "G1c": "a cycle of write-write and write-read dependencies",
    "G-single": "a cycle with exactly one read-write anti-dependency",
    "G2": "a cycle with more than one read-write anti-dependency",
}


class _ElleChecker:
    """The shared body of :class:`ListAppendChecker` and :class:`RwRegisterChecker`."""

    name = "elle"
    kind: Literal["list-append", "rw-register"] = "list-append"

    def __init__(self, consistency_model: str = "strict-serializable") -> None:
        """``consistency_model``: one of :data:`CONSISTENCY_MODELS`; anomalies it allows are
        reported but do not make the history invalid. Raises ``ValueError`` for another name."""
        if consistency_model not in CONSISTENCY_MODELS:
            raise ValueError(f"no consistency model {consistency_model!r}; use one of: "
                             f"{', '.join(CONSISTENCY_MODELS)}")
        self.consistency_model = consistency_model

    def check(self, history: History, ctx: CheckContext) -> Result:
        """The verdict on ``history`` under the consistency model; ``unknown`` past the limits."""
        t0 = time.monotonic()
        budget = budget_for(ctx, t0)
        counter = [0]

        def tick() -> None:
            counter[0] += 1
            if counter[0] % 8 == 0 or budget.deadline:
                check_budget(budget)

        base: dict[str, Any] = {"model": self.kind, "consistency_model": self.consistency_model}
        try:
            txns = read_txns(history, self.kind)
        except MalformedTxn as e:
            return Result(UNKNOWN, f"cannot check this history: {e}",
                          {**base, "input_error": str(e), "input_error_index": e.position})
        base.update(txns=len(txns), outcomes={o: sum(t.outcome == o for t in txns) for o in ("ok", "fail", "info")})
        try:
            tick()
            an = analyze_list_append(txns, tick) if self.kind == "list-append" else analyze_rw_register(txns, tick)
        except LimitReached as e:
            return Result(UNKNOWN, f"{e} while inferring version orders", {**base, "unknown": [
                {"search": "version orders", "reason": str(e)}], "time_s": round(time.monotonic() - t0, 6)})
        search = find_cycles(an.graph, tick)
        return self._judge(an, search.cycles, {**an.counts, **search.counts}, search.stopped, base, t0)

    def _judge(self, an: Analysis, cycles: list[Cycle], counts: dict[str, int], stopped: str | None,
               base: dict[str, Any], t0: float) -> Result:
        found = {a for a, n in counts.items() if n}
        anomalies = found - INPUT_PROBLEMS
        forbidden = sorted(anomalies & FORBIDS[self.consistency_model], key=_ORDER.index)
        listed = [*(_cycle_json(an, c) for c in cycles), *(x for a in _ORDER for x in an.anomalies.get(a, []))]
        listed.sort(key=lambda x: (_ORDER.index(x["type"]), x["ops"]))
        unknown = [{"search": "cycles", "reason": stopped}] if stopped else []
        unknown += [{"search": a, "reason": x["explanation"][0]} for a in sorted(found & INPUT_PROBLEMS)
                    for x in an.anomalies[a][:1]]
        details = {
            **base, "revisions": an.revisions_used, "edges": an.graph.edge_count,
            "anomaly_types": sorted(found, key=_ORDER.index), "forbidden": forbidden,
            "not": ruled_out(anomalies), "strongest_allowed": strongest_allowed(anomalies),
            "counts": {a: counts[a] for a in sorted(found, key=_ORDER.index)},
            "anomalies": listed, "unknown": unknown, "time_s": round(time.monotonic() - t0, 6),
        }
        valid: bool | Literal["unknown"]
        if forbidden:
            valid = False
            first = next(x for x in listed if x["type"] == forbidden[0])
            summary = ", ".join(f"{a} ×{counts[a]}" for a in forbidden)
            reason = (f"not {self.consistency_model}: {summary} (rules out {', '.join(details['not'])}); "
                      f"{first['explanation'][0]}")
        elif unknown:
            valid = UNKNOWN
            reason = "; ".join(f"{u['search']}: {u['reason']}" for u in unknown)
        else:
            valid = True
            allowed = sorted(anomalies, key=_ORDER.index)
            reason = (f"{len(an.txns)} transactions, {self.consistency_model}"
                      + (f" (found {', '.join(allowed)}, which it allows)" if allowed else ""))
        return Result(valid, reason, details)


class ListAppendChecker(_ElleChecker):
    """List-append transactions (``append``/``r`` micro-ops) checked with Elle's method."""

    kind = "list-append"


class RwRegisterChecker(_ElleChecker):
    """Read/write register transactions (``w``/``r`` micro-ops) checked with Elle's method."""

    kind = "rw-register"


# ---- explanations -----------------------------------------------------------------------

def mops_text(t: Txn, limit: int = 80) -> str:
    """The micro-ops in brief: ``append 3 17, r 5 [1 2]``."""
    text = ", ".join(f"{f} {show(k)} {show(v)}" if f != "r" or t.outcome == "ok" else f"r {show(k)}"
                     for f, k, v in t.mops)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _seconds(ns: int) -> str:
    return f"{ns / 1e9:.6f} s"


def explain_edge(kind: str, a: Txn, b: Txn, edge: str, why: Why) -> str:
    """One sentence saying why ``a`` precedes ``b``, from the ops themselves."""
    head = f"{a.label} < {b.label}: "
    if edge == "process":
        return head + f"process {why[0]} ran {a.label} and then {b.label}"
    if edge == "realtime":
        return head + (f"{a.label} completed (at {_seconds(a.complete_time)}) before {b.label} began "
                       f"(at {_seconds(b.invoke_time)})")
    k = show(why[0])
    if kind == "list-append":
        if edge == "ww":
            return head + f"{b.label} appended {show(why[2])} to key {k} after {a.label}'s append of {show(why[1])}"
        if edge == "wr":
            return head + f"{b.label} read {a.label}'s append of {show(why[1])} to key {k}"
        seen = f"its last element was {show(why[1])}" if why[1] is not None else "it read an empty list"
        return head + f"{a.label} read key {k} without {b.label}'s append of {show(why[2])} ({seen})"
    if edge == "ww":
        return head + f"{b.label}'s write of {show(why[2])} to key {k} overwrote {a.label}'s {show(why[1])}"
    if edge == "wr":
        return head + f"{b.label} read {a.label}'s write of {show(why[1])} to key {k}"
    seen = f"read key {k} = {show(why[1])}" if why[1] is not None else f"read key {k} as absent"
    return head + f"{a.label} {seen}, a version {b.label}'s write of {show(why[2])} overwrote"


def _cycle_json(an: Analysis, c: Cycle) -> dict[str, Any]:
    txns = [an.txns[n] for n in c.nodes]
    sentences = [explain_edge(an.kind, a, txns[(i + 1) % len(txns)], kind, why)
                 for i, (a, (kind, why)) in enumerate(zip(txns, c.edges, strict=True))]
    base = c.anomaly.split("-process")[0].split("-realtime")[0]
    order = " < ".join(t.label for t in [*txns, txns[0]])
    sentences.append(f"so {order}: {_CLASS_WORDS[base]}"
                     + (", with process order" if c.anomaly.endswith("-process") else "")
                     + (", with real-time order" if c.anomaly.endswith("-realtime") else ""))
    nodes = [{"index": t.index, "done_index": t.done_index, "label": t.label, "process": t.process,
              "outcome": t.outcome, "mops": mops_text(t), "invoke_time": t.invoke_time,
              "complete_time": None if t.complete_time == NEVER else t.complete_time} for t in txns]
    edges = [{"from": t.index, "to": txns[(i + 1) % len(txns)].index, "type": kind,
              "key": why[0] if kind in ("ww", "wr", "rw") else None, "why": sentences[i]}
             for i, (t, (kind, why)) in enumerate(zip(txns, c.edges, strict=True))]
    keys = sorted({str(e["key"]) for e in edges if e["key"] is not None})
    return {"type": c.anomaly, "explanation": sentences, "ops": [t.index for t in txns], "keys": keys,
            "cycle": {"nodes": nodes, "edges": edges}}
