"""The data the page draws, built from a loaded run: compact, bounded, JSON-ready.

Everything here is plain data; no HTML. Strings taken from the history or the
results stay raw here and are escaped where they are put into the page (the
JSON block escapes ``<``, the script only ever sets ``textContent``).

Times are integer microseconds since the run started: small enough to be exact
in JavaScript and short in the page. Client ops are stored column-wise with
delta-encoded start times and interned strings, which keeps a 100,000-op run
to a couple of megabytes. Past :data:`MAX_EMBEDDED_OPS` ok ops are sampled
(every fail, info and pending op is kept) and the page says how many were left out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.core import NEMESIS, Op, OpType, Process
from harness.report._load import RunFiles

#: Most client ops (invoke/completion pairs) the page embeds before sampling ok ops.
MAX_EMBEDDED_OPS = 150_000
#: Most linearizability failures drawn, ops per failure window, lock holds, counter reads.
MAX_LINEAR_FAILURES = 10
MAX_WINDOW_OPS = 400
#: Most steps of a failure's longest linearizable order drawn: its last ones, up to the failing op.
MAX_PREFIX_DRAWN = 300
#: Most ops of a minimal reproducer drawn, and most of its history lines quoted.
MAX_MINIMAL_OPS = 60
#: Most lost locks listed, and most failure marks on the time charts.
MAX_LOST_LOCKS = 200
MAX_MARKS = 20
MAX_HOLDS = 20_000
MAX_VIOLATIONS = 500
MAX_COUNTER_READS = 30_000
#: Most transactional anomalies drawn per checker (each with its cycle and its transactions).
MAX_ELLE_ANOMALIES = 30
#: Longest value or state text kept; the rest is cut with an ellipsis.
MAX_TEXT = 120

TYPE_CODES = {OpType.OK: 0, OpType.FAIL: 1, OpType.INFO: 2}
PENDING_CODE = 3  # invoked, never completed: an unknown outcome, like info

# How a nemesis f opens or closes a fault of a kind. Anything else is a point event.
_OPENERS = {"kill": "kill", "pause": "pause"}
_CLOSERS = {"restart": "kill", "start": "kill", "resume": "pause"}


def short_text(value: Any, limit: int = MAX_TEXT) -> str:
    """A value as compact text (JSON for non-strings), cut to ``limit`` characters."""
    text: str
    if type(value) is int:  # the common case, fast: register values, indexes
        return str(value)
    if isinstance(value, str):
        text = value
    elif value is None:
        return "null"
    else:
        try:
            text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_value(f: str, value: Any) -> str:
    """How an op's value reads in a chart label: ``cas`` ``[1, 4]`` as ``1→4``."""
    if type(value) is int:
        return str(value)
    if f == "cas" and isinstance(value, list | tuple) and len(value) == 2:
        return f"{short_text(value[0], 40)}→{short_text(value[1], 40)}"
    if value is None:
        return "nil"
    return short_text(value)


def us(ns: Any) -> int | None:
    """Nanoseconds (any JSON number) to integer microseconds; ``None`` if not a number."""
    if isinstance(ns, bool) or not isinstance(ns, int | float):
        return None
    return int(ns // 1000)


class _Interner:
    def __init__(self) -> None:
        self.table: list[str] = []
        self._ids: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        i = self._ids.get(text)
        if i is None:
            i = self._ids[text] = len(self.table)
            self.table.append(text)
        return i


@dataclass(slots=True)
class _Pair:
    invoke: Op
    done: Op | None

    @property
    def code(self) -> int:
        return PENDING_CODE if self.done is None else TYPE_CODES.get(self.done.type, PENDING_CODE)

    @property
    def shown_value(self) -> Any:
        # An ok op shows what it observed; anything else what it tried.
        if self.done is not None and self.done.type is OpType.OK:
            return self.done.value
        return self.invoke.value


def _process_label(p: Any) -> str:
    return str(p)


def _client_pairs(ops: list[Op]) -> list[_Pair]:
    pending: dict[Process, int] = {}
    pairs: list[_Pair] = []
    for op in ops:
        if op.process == NEMESIS:
            continue
        if op.type is OpType.INVOKE:
            pending[op.process] = len(pairs)
            pairs.append(_Pair(op, None))
        else:
            slot = pending.pop(op.process, None)
            if slot is not None:
                pairs[slot].done = op
    return pairs


def _sample(pairs: list[_Pair], limit: int) -> tuple[list[_Pair], int]:
    """Keep every non-ok pair and an even sample of ok pairs, ``limit`` in all."""
    if len(pairs) <= limit:
        return pairs, 0
    not_ok = sum(1 for p in pairs if p.code != 0)
    ok_total = len(pairs) - not_ok
    room = max(limit - not_ok, 0)
    step = ok_total / room if room else float("inf")
    kept: list[_Pair] = []
    next_pick = 0.0
    seen_ok = 0
    for p in pairs:
        if p.code != 0:
            kept.append(p)
            continue
        if seen_ok >= next_pick:
            kept.append(p)
            next_pick += step
        seen_ok += 1
    return kept, len(pairs) - len(kept)


def _ops_columns(pairs: list[_Pair], strings: _Interner) -> tuple[dict[str, list[int]], list[str], list[str]]:
    fs = _Interner()
    procs = _Interner()
    cols: dict[str, list[int]] = {k: [] for k in ("i", "p", "f", "t", "s", "d", "v", "e", "k")}
    last_start = 0
    last_index = 0
    for pair in pairs:
        inv, done = pair.invoke, pair.done
        start = inv.time // 1000
        cols["i"].append(inv.index - last_index)
        last_index = inv.index
        cols["p"].append(procs(_process_label(inv.process)))
        cols["f"].append(fs(inv.f))
        cols["t"].append(pair.code)
        cols["s"].append(start - last_start)
        last_start = start
        cols["d"].append(-1 if done is None else max(done.time // 1000 - start, 0))
        cols["v"].append(strings(describe_value(inv.f, pair.shown_value)))
        error = done.error if done is not None else None
        # string-table index + 1, so that "none" is the one-character 0
        cols["e"].append(0 if error is None else strings(short_text(error, 300)) + 1)
        cols["k"].append(0 if inv.key is None else strings(short_text(inv.key, 60)) + 1)
    return cols, fs.table, procs.table


def _nemesis_kind(f: str) -> tuple[str, str]:
    """``(kind, role)`` of a nemesis f: role is ``open``, ``close`` or ``point``."""
    if f.startswith("start-"):
        return f[len("start-") :], "open"
    if f.startswith("stop-"):
        return f[len("stop-") :], "close"
    if f in _OPENERS:
        return _OPENERS[f], "open"
    if f in _CLOSERS:
        return _CLOSERS[f], "close"
    return f, "point"


def _as_dict(x: Any) -> dict[str, Any]:
    return x if isinstance(x, dict) else {}


def _nodes_of(info: Mapping[str, Any]) -> list[str]:
    """The nodes a fault hit. A partition that names its ``isolated`` side is drawn on that side only."""
    nodes = info.get("isolated", info.get("nodes"))
    if isinstance(nodes, list):
        return [str(n) for n in nodes]
    if isinstance(nodes, str):
        return [nodes]
    grudge = info.get("grudge")
    if isinstance(grudge, dict):
        return sorted({str(k) for k, v in grudge.items() if v})
    return []


def _nemesis(ops: list[Op], end_us: int) -> dict[str, Any]:
    """Nemesis ops as events, fault bands (one per kind) and per-node fault intervals."""
    pending: Op | None = None
    events: list[dict[str, Any]] = []
    for op in ops:
        if op.process != NEMESIS:
            continue
        if op.type is OpType.INVOKE:
            if pending is not None:
                events.append(_nemesis_event(pending, None))
            pending = op
        else:
            if pending is not None and pending.f == op.f:
                events.append(_nemesis_event(pending, op))
                pending = None
            else:
                events.append(_nemesis_event(op, op))
    if pending is not None:
        events.append(_nemesis_event(pending, None))

    bands: list[dict[str, Any]] = []
    node_spans: list[dict[str, Any]] = []
    open_band: dict[str, dict[str, Any]] = {}
    open_nodes: dict[tuple[str, str], dict[str, Any]] = {}
    for ev in events:
        kind, role = _nemesis_kind(ev["f"])
        ev["kind"] = kind
        if role == "open" and ev["skipped"]:
            continue  # nothing was done (no target right now): no fault band
        if role == "open":
            if kind not in open_band:
                band = {"kind": kind, "s": ev["s"], "e": None, "label": ev["f"], "err": ev["err"]}
                open_band[kind] = band
                bands.append(band)
            for n in ev["nodes"]:
                if (kind, n) not in open_nodes:
                    span = {"kind": kind, "node": n, "s": ev["s"], "e": None}
                    open_nodes[(kind, n)] = span
                    node_spans.append(span)
        elif role == "close":
            closing_at = ev["e"] if ev["e"] is not None else ev["s"]
            if kind in open_band:
                open_band.pop(kind)["e"] = closing_at
            closed = [n for (k, n) in open_nodes if k == kind and (not ev["nodes"] or n in ev["nodes"])]
            for n in closed:
                open_nodes.pop((kind, n))["e"] = closing_at
    for band in bands:
        if band["e"] is None:
            band["e"] = end_us
            band["open"] = True  # never healed in the history
    for span in node_spans:
        if span["e"] is None:
            span["e"] = end_us
            span["open"] = True
    return {"events": events, "bands": bands, "nodeSpans": node_spans}


def _nemesis_event(inv: Op, done: Op | None) -> dict[str, Any]:
    info = {**_as_dict(inv.value), **_as_dict(inv.extra)}
    if done is not None and done is not inv:
        info.update(_as_dict(done.value))
        info.update(_as_dict(done.extra))
    error = (done.error if done is not None else None) or inv.error
    summary = {k: v for k, v in info.items() if k not in ("nodes",)}
    return {
        "f": short_text(inv.f, 60),
        "s": inv.time // 1000,
        "e": None if done is None else done.time // 1000,
        "nodes": [short_text(n, 40) for n in _nodes_of(info)],
        "lb": None if info.get("leader_before") is None else short_text(info["leader_before"], 40),
        "la": None if info.get("leader_after") is None else short_text(info["leader_after"], 40),
        "err": None if error is None else short_text(error, 300),
        "info": short_text(summary, 300) if summary else "",
        "skipped": info.get("skipped") is True,
    }


def _leaders(run: RunFiles, events: list[dict[str, Any]]) -> dict[str, Any]:
    if run.leaders:
        return {
            "source": "leaders.jsonl",
            "obs": [[t // 1000, None if ld is None else short_text(ld, 40)] for t, ld in run.leaders],
        }
    obs: list[list[Any]] = []
    for ev in events:
        if ev["lb"] is not None:
            obs.append([ev["s"], ev["lb"]])
        if ev["la"] is not None:
            obs.append([ev["e"] if ev["e"] is not None else ev["s"], ev["la"]])
    obs.sort(key=lambda o: o[0])
    return {"source": "nemesis ops (leader_before / leader_after)" if obs else "", "obs": obs}


def _node_names(run: RunFiles, nemesis: dict[str, Any], leaders: dict[str, Any]) -> list[str]:
    names: list[str] = []
    configured = run.config.get("nodes")
    if isinstance(configured, int) and not isinstance(configured, bool) and 0 < configured <= 64:
        names = [f"n{i}" for i in range(1, configured + 1)]
    elif isinstance(configured, list):
        names = [short_text(n, 40) for n in configured[:64]]
    extra: Iterable[str] = [
        *(log.node for log in run.node_logs),
        *(n for ev in nemesis["events"] for n in ev["nodes"]),
        *(o[1] for o in leaders["obs"] if o[1] is not None),
    ]
    for n in extra:
        if n not in names and len(names) < 64:
            names.append(n)
    return names


# --- checker details, recognised by shape so a renamed checker still draws -------------


def _is_linear(d: Mapping[str, Any]) -> bool:
    return isinstance(d.get("failures"), list)


def _is_mutex(d: Mapping[str, Any]) -> bool:
    return isinstance(d.get("holds"), list) or (
        isinstance(d.get("violations"), list) and any(isinstance(v, dict) and "holders" in v for v in d["violations"])
    )


def _is_counter(d: Mapping[str, Any]) -> bool:
    reads = d.get("reads")
    return isinstance(reads, list) and (not reads or (isinstance(reads[0], dict) and "upper" in reads[0]))


def _is_elle(d: Mapping[str, Any]) -> bool:
    return d.get("model") in ("list-append", "rw-register") and isinstance(d.get("anomalies"), list)


def _elle_node(n: Mapping[str, Any]) -> dict[str, Any]:
    return {"i": n.get("index") if isinstance(n.get("index"), int) else None,
            "d": n.get("done_index") if isinstance(n.get("done_index"), int) else None,
            "label": short_text(n.get("label", "?"), 20), "p": short_text(n.get("process", "?"), 20),
            "outcome": short_text(n.get("outcome", "?"), 8), "mops": short_text(n.get("mops", ""), 200),
            "s": us(n.get("invoke_time")), "c": us(n.get("complete_time"))}


def _elle(details: Mapping[str, Any]) -> dict[str, Any]:
    """The anomalies of a transactional (Elle) check: the table, and for each drawn anomaly its
    explanation, its cycle (nodes and typed edges) and its transactions' times."""
    forbidden = {str(a) for a in details.get("forbidden", []) if isinstance(a, str)}
    counts = _as_dict(details.get("counts"))
    raw = [a for a in details["anomalies"] if isinstance(a, dict)]
    anomalies = []
    for a in raw[:MAX_ELLE_ANOMALIES]:
        cycle = a.get("cycle") if isinstance(a.get("cycle"), dict) else None
        drawn = None
        if cycle is not None:
            nodes = [_elle_node(n) for n in cycle.get("nodes", []) if isinstance(n, dict)]
            edges = [{"from": e.get("from"), "to": e.get("to"), "type": short_text(e.get("type", "?"), 12),
                      "key": None if e.get("key") is None else short_text(e.get("key"), 40),
                      "why": short_text(e.get("why", ""), 400)} for e in cycle.get("edges", []) if isinstance(e, dict)]
            drawn = {"nodes": nodes, "edges": edges}
        kind = short_text(a.get("type", "?"), 40)
        anomalies.append({"type": kind, "forbidden": kind in forbidden,
                          "expl": [short_text(x, 500) for x in a.get("explanation", [])][:12],
                          "ops": [i for i in a.get("ops", []) if isinstance(i, int)][:20],
                          "keys": [short_text(k, 40) for k in a.get("keys", [])][:10], "cycle": drawn})
    return {
        "model": short_text(details.get("model"), 20), "cm": short_text(details.get("consistency_model", ""), 40),
        "txns": details.get("txns") if isinstance(details.get("txns"), int) else None,
        "counts": [[short_text(k, 40), v if isinstance(v, int) else 0, k in forbidden] for k, v in counts.items()],
        "not": [short_text(m, 40) for m in details.get("not", [])],
        "allowed": [short_text(m, 40) for m in details.get("strongest_allowed", [])],
        "unknown": [{"search": short_text(u.get("search", ""), 40), "reason": short_text(u.get("reason", ""), 300)}
                    for u in details.get("unknown", []) if isinstance(u, dict)],
        "anomalies": anomalies, "total": len(raw),
    }


def _window_op(raw: Mapping[str, Any], fallback_end: int | None) -> dict[str, Any] | None:
    index = raw.get("index")
    start = us(raw.get("invoke_time"))
    if not isinstance(index, int) or start is None:
        return None
    f = str(raw.get("f", "?"))
    t = str(raw.get("type", "ok"))
    end = us(raw.get("complete_time"))
    if t in ("info", "invoke", "pending") or end is None or end < start:
        end = None
    return {
        "i": index,
        "p": _process_label(raw.get("process", "?")),
        "f": short_text(f, 40),
        "t": t if t in ("ok", "fail", "info") else "info",
        "s": start,
        "c": end if end is not None else fallback_end,
        "open": end is None,
        "v": describe_value(f, raw.get("value")),
        "err": None if raw.get("error") is None else short_text(raw.get("error"), 200),
    }


def _pair_as_window_op(pair: _Pair) -> dict[str, Any]:
    inv, done = pair.invoke, pair.done
    return {
        "index": inv.index,
        "process": inv.process,
        "f": inv.f,
        "value": pair.shown_value,
        "type": "info" if done is None else done.type.value,
        "invoke_time": inv.time,
        "complete_time": None if done is None else done.time,
        "error": None if done is None else done.error,
    }


def _start_state(part: Mapping[str, Any]) -> str | None:
    """The state a failure's window or minimal reproducer starts from, described, if the checker
    says (``initial_state_description``, else ``initial_state``); None: the model's initial state."""
    for key in ("initial_state_description", "initial_state", "start_state"):
        if part.get(key) is not None:
            return short_text(part[key], MAX_TEXT)
    return None


def _minimal(minimal: Mapping[str, Any], bad: set[int]) -> dict[str, Any] | None:
    raw = [o for o in minimal.get("ops", []) if isinstance(o, dict)]
    if not raw:
        return None
    times = [t for o in raw for t in (us(o.get("invoke_time")), us(o.get("complete_time"))) if t is not None]
    ops = [w for w in (_window_op(o, max(times, default=0)) for o in raw[:MAX_MINIMAL_OPS]) if w is not None]
    ops.sort(key=lambda o: (o["s"], o["i"]))
    order = [i for i in minimal.get("longest_prefix", []) if isinstance(i, int)]
    states = minimal.get("prefix_states", minimal.get("states", []))
    history = [h for h in minimal.get("history", []) if isinstance(h, dict)][: 2 * MAX_MINIMAL_OPS]
    size = minimal.get("size")
    return {
        "ops": ops,
        "size": size if isinstance(size, int) else len(raw),
        "orig": minimal.get("original_size") if isinstance(minimal.get("original_size"), int) else None,
        "complete": minimal.get("complete") is True,
        "orderOnly": minimal.get("order_only") is True,
        "secs": _number(minimal.get("shrunk_in_s")),
        "start": _start_state(minimal),
        "order": order,
        "states": [short_text(x, MAX_TEXT) for x in states] if isinstance(states, list) else [],
        "bad": sorted(i for i in bad if any(o["i"] == i for o in ops)),
        "why": short_text(minimal["why"], 300) if minimal.get("why") else None,
        "jsonl": [json.dumps(h, separators=(",", ":"), ensure_ascii=False, default=str) for h in history],
    }


def _minimal_bad(minimal: Mapping[str, Any], bad: list[dict[str, Any]]) -> set[int]:
    """The op a minimal reproducer fails on: ``fails_on`` if the checker says, else the failure's."""
    fails_on = minimal.get("fails_on")
    return {fails_on} if isinstance(fails_on, int) else {b["i"] for b in bad}


def _linear(details: Mapping[str, Any], by_invoke: Mapping[int, _Pair]) -> dict[str, Any]:
    failures_out: list[dict[str, Any]] = []
    failures = [f for f in details.get("failures", []) if isinstance(f, dict)]
    for failure in failures[:MAX_LINEAR_FAILURES]:
        window = _as_dict(failure.get("window"))
        raw_ops = [o for o in window.get("ops", []) if isinstance(o, dict)]
        window_idx = [o["index"] for o in raw_ops if isinstance(o.get("index"), int)]
        full_order = [i for i in failure.get("longest_prefix", []) if isinstance(i, int)]
        states_raw = failure.get("prefix_states", [])
        full_states = [short_text(s, MAX_TEXT) for s in states_raw] if isinstance(states_raw, list) else []
        # The last steps only: the diagram opens on the failure, not on the key's first op.
        skipped = max(len(full_order) - MAX_PREFIX_DRAWN, 0)
        order = full_order[skipped:]
        bad_raw = [b for b in failure.get("unlinearizable", []) if isinstance(b, dict)]
        have = {o.get("index") for o in raw_ops}
        # The prefix and the culprit must be drawn even if the window left them out.
        for i in [*order, *(b.get("index") for b in bad_raw)]:
            if isinstance(i, int) and i not in have:
                if i in by_invoke:
                    raw_ops.append(_pair_as_window_op(by_invoke[i]))
                else:
                    match = next((b for b in bad_raw if b.get("index") == i), None)
                    if match is not None:
                        raw_ops.append(match)
                have.add(i)
        times = [t for o in raw_ops for t in (us(o.get("invoke_time")), us(o.get("complete_time"))) if t is not None]
        w_start = us(window.get("start_time"))
        w_end = us(window.get("end_time"))
        end = max([*times, *([w_end] if w_end else [])], default=0)
        keep = {*order, *window_idx, *(b.get("index") for b in bad_raw)}
        if len(raw_ops) > MAX_WINDOW_OPS:
            raw_ops = [o for o in raw_ops if o.get("index") in keep] + [
                o for o in raw_ops if o.get("index") not in keep
            ][: max(MAX_WINDOW_OPS - len(keep), 0)]
        ops = [w for w in (_window_op(o, end) for o in raw_ops) if w is not None]
        ops.sort(key=lambda o: (o["s"], o["i"]))
        bad: list[dict[str, Any]] = [
            {"i": b.get("index"), "why": short_text(b.get("why", ""), 300)}
            for b in bad_raw
            if isinstance(b.get("index"), int)
        ]
        bad_times = [us(b.get("invoke_time")) for b in bad_raw]
        minimal = failure.get("minimal")
        failures_out.append(
            {
                "key": None if failure.get("key") is None else short_text(failure.get("key"), 80),
                "ops": ops,
                "order": order,
                "states": full_states[skipped:],
                "skipped": skipped,
                "before": full_states[skipped - 1] if skipped and skipped <= len(full_states) else None,
                "win": window_idx,
                "wstart": _start_state(window),
                "pending": failure.get("pending_info_before_window") or 0,
                "bad": bad,
                "bt": next((t for t in bad_times if t is not None), None),
                "ws": w_start if w_start is not None else min(times, default=0),
                "we": end,
                "min": _minimal(minimal, _minimal_bad(minimal, bad)) if isinstance(minimal, dict) else None,
            }
        )
    unknown = [
        {"key": short_text(u.get("key"), 80), "reason": short_text(u.get("reason", ""), 300)}
        for u in details.get("unknown", [])
        if isinstance(u, dict)
    ][:50]
    return {"failures": failures_out, "total": len(failures), "unknown": unknown}


def _mutex(details: Mapping[str, Any]) -> dict[str, Any]:
    holds_raw = [h for h in details.get("holds", []) if isinstance(h, dict)]
    holds = []
    for h in holds_raw[:MAX_HOLDS]:
        s = us(h.get("start_time"))
        if s is None:
            continue
        e = us(h.get("end_time"))
        holds.append({"p": _process_label(h.get("process", "?")), "s": s, "e": e, "open": bool(h.get("open_ended"))})
    violations = []
    for v in [v for v in details.get("violations", []) if isinstance(v, dict)][:MAX_VIOLATIONS]:
        holders = [
            {
                "p": _process_label(h.get("process", "?")),
                "i": h.get("acquire_index") if isinstance(h.get("acquire_index"), int) else None,
                "s": us(h.get("start_time")),
                "e": us(h.get("end_time")),
            }
            for h in v.get("holders", [])
            if isinstance(h, dict)
        ]
        ttl = v.get("ttl_s")
        violations.append(
            {
                "holders": holders,
                "s": us(v.get("overlap_start")),
                "e": us(v.get("overlap_end")),
                "ttl": ttl if isinstance(ttl, int | float) and not isinstance(ttl, bool) else None,
                "why": str(v.get("explanation") or "")[:500],
            }
        )
    return {"holds": holds, "holdsTotal": len(holds_raw), "violations": violations}


def _number(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    return float(x)


def _counter(details: Mapping[str, Any]) -> dict[str, Any]:
    reads = [r for r in details.get("reads", []) if isinstance(r, dict)]
    bad = [r for r in reads if r.get("ok") is False]
    good = [r for r in reads if r.get("ok") is not False]
    if len(reads) > MAX_COUNTER_READS:
        room = max(MAX_COUNTER_READS - len(bad), 0)
        step = max(len(good) / room, 1.0) if room else float("inf")
        good = [good[int(k * step)] for k in range(min(room, len(good)))] if room else []
    cols: dict[str, list[Any]] = {"t": [], "v": [], "lo": [], "hi": [], "ok": [], "i": []}
    for r in sorted([*good, *bad], key=lambda r: _number(r.get("time")) or 0.0):
        t = us(r.get("time"))
        if t is None:
            continue
        cols["t"].append(t)
        cols["v"].append(_number(r.get("value")))
        cols["lo"].append(_number(r.get("lower")))
        cols["hi"].append(_number(r.get("upper")))
        cols["ok"].append(0 if r.get("ok") is False else 1)
        cols["i"].append(r.get("index") if isinstance(r.get("index"), int) else None)
    final = details.get("final")
    return {"reads": cols, "total": len(reads), "bad": len(bad), "final": short_text(final, 400) if final else ""}


_LOST_LOCK_TIMES = ("time", "lost_at", "expired_at", "start_time", "acquired_at", "acquire_time", "invoke_time")


def lost_locks(checkers: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every checker's ``lost_locks`` (the mutex and linear checkers report them) as one list, each
    lock once, with the checkers that reported it (``by``): one finding, however many checkers saw it."""
    found: dict[tuple[str, str, Any], dict[str, Any]] = {}
    for name, details in checkers.items():
        if not isinstance(details, dict) or not isinstance(details.get("lost_locks"), list):
            continue
        for lost in details["lost_locks"]:
            if not isinstance(lost, dict):
                continue
            t = next((us(lost[k]) for k in _LOST_LOCK_TIMES if us(lost.get(k)) is not None), None)
            process, key = short_text(lost.get("process", "?"), 40), short_text(lost.get("key", ""), 80)
            ident = (process, key, next((lost[k] for k in ("acquire_index", "index") if k in lost), t))
            same = found.get(ident) or found.get((process, key, None))
            if same is not None:
                if short_text(name, 80) not in same["by"]:
                    same["by"].append(short_text(name, 80))
                if same["t"] is None:
                    same["t"] = t
                continue
            rest = {k: v for k, v in lost.items() if k not in ("process", "key", "why")}
            found[ident] = {"p": process, "key": key, "why": short_text(lost.get("why", ""), 500), "t": t,
                            "more": short_text(rest, 300) if rest else "", "by": [short_text(name, 80)]}
    return sorted(found.values(), key=lambda x: (x["t"] is None, x["t"] or 0))[:MAX_LOST_LOCKS]


def failure_marks(linear: list[dict[str, Any]], mutex: list[dict[str, Any]],
                  counter: list[dict[str, Any]], elle: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """When each drawn failure happened (µs), what it is and where the page shows it, earliest first."""
    marks: list[dict[str, Any]] = []
    for c, checker in enumerate(elle or []):
        for n, a in enumerate(checker["anomalies"][:5]):
            times = [x["s"] for x in (a["cycle"] or {}).get("nodes", []) if x["s"] is not None]
            if times and a["forbidden"]:
                marks.append({"t": min(times), "label": f"{checker['name']}: {a['type']}", "href": f"#elle-{c}-{n}"})
    for c, checker in enumerate(linear):
        for n, failure in enumerate(checker["failures"]):
            if failure["bt"] is not None:
                where = f" (key {failure['key']})" if failure["key"] is not None else ""
                marks.append({"t": failure["bt"], "label": f"{checker['name']}: failure {n + 1}{where}",
                              "href": f"#lin-failure-{c}-{n}"})
    for m, checker in enumerate(mutex):
        for v in checker["violations"][:3]:
            if v["s"] is not None:
                marks.append({"t": v["s"], "label": f"{checker['name']}: two holders", "href": f"#locks-{m}"})
    for c, checker in enumerate(counter):
        reads = checker["reads"]
        bad = [reads["t"][k] for k in range(len(reads["t"])) if reads["ok"][k] == 0][:3]
        marks.extend({"t": t, "label": f"{checker['name']}: read out of bounds", "href": f"#counter-{c}"} for t in bad)
    marks.sort(key=lambda x: x["t"])
    return marks[:MAX_MARKS]


def build_payload(run: RunFiles) -> dict[str, Any]:
    """The JSON the page's script draws from. Bounded in size whatever the history."""
    ops = run.history.ops
    end_us = max((op.time for op in ops), default=0) // 1000
    if run.leaders:
        end_us = max(end_us, run.leaders[-1][0] // 1000)
    all_pairs = _client_pairs(ops)
    by_invoke = {p.invoke.index: p for p in all_pairs}
    pairs, omitted = _sample(all_pairs, MAX_EMBEDDED_OPS)
    strings = _Interner()
    cols, fs, procs = _ops_columns(pairs, strings)
    nemesis = _nemesis(ops, end_us)
    leaders = _leaders(run, nemesis["events"])

    checkers: dict[str, Any] = _as_dict((run.results or {}).get("checkers"))
    linear: list[dict[str, Any]] = []
    mutex: list[dict[str, Any]] = []
    counter: list[dict[str, Any]] = []
    elle: list[dict[str, Any]] = []
    for name, details in checkers.items():
        if not isinstance(details, dict):
            continue
        if _is_elle(details):
            elle.append({"name": short_text(name, 80), **_elle(details)})
            continue
        lost = len(details["lost_locks"]) if isinstance(details.get("lost_locks"), list) else 0
        if _is_linear(details):
            linear.append({"name": short_text(name, 80), "lostLocks": lost, **_linear(details, by_invoke)})
        elif _is_mutex(details):
            mutex.append({"name": short_text(name, 80), "lostLocks": lost, **_mutex(details)})
        elif _is_counter(details):
            counter.append({"name": short_text(name, 80), **_counter(details)})

    return {
        "endUs": end_us,
        "fs": fs,
        "procs": procs,
        "strs": strings.table,
        "ops": cols,
        "opsTotal": len(all_pairs),
        "omitted": omitted,
        "nemesis": nemesis,
        "leaders": leaders,
        "nodes": _node_names(run, nemesis, leaders),
        "linear": linear,
        "mutex": mutex,
        "counter": counter,
        "elle": elle,
        "marks": failure_marks(linear, mutex, counter, elle),
    }
