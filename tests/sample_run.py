"""Synthetic run directories, for the report's tests, benchmark and a quick look.

Not a fake of any part of the harness: it writes the same files a run writes
(``config.json``, ``history.jsonl``, ``results.json``, ``leaders.jsonl``, node
logs) with made-up content, so the renderer can be exercised at any size and
with hostile strings without a cluster. The verdicts here are made up too; no
checker ran.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from harness.core import NEMESIS, Op, OpType

HOSTILE = "<script>alert(1)</script>"


def make_sample_run(
    run_dir: Path,
    *,
    ops: int = 2000,
    seconds: float = 60.0,
    concurrency: int = 5,
    nodes: int = 3,
    seed: int = 1,
    hostile: bool = False,
    locks: bool = False,
    counter: bool = False,
) -> Path:
    """Write a plausible register run of about ``ops`` client ops (invocations) to ``run_dir``.

    With ``hostile`` the history, config, results and logs carry ``<script>`` strings
    (see :data:`HOSTILE`) that the report must show as text.
    """
    rng = random.Random(seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    tag = HOSTILE if hostile else ""
    span_ns = int(seconds * 1e9)
    node_names = [f"n{i}" for i in range(1, nodes + 1)]

    # nemesis schedule: partition, kill, pause, alternating, every ~10 s
    events: list[tuple[int, str, dict[str, Any]]] = []
    leader = "n1"
    kinds = [("start-partition", "stop-partition"), ("kill", "restart"), ("pause", "resume")]
    t = int(5e9)
    k = 0
    leaders: list[tuple[int, str | None]] = [(0, leader)]
    while t + 6e9 < span_ns:
        start_f, stop_f = kinds[k % len(kinds)]
        victim = rng.choice(node_names)
        new_leader = rng.choice([n for n in node_names if n != victim]) if victim == leader else leader
        events.append(
            (
                t,
                start_f,
                {
                    "nodes": [victim],
                    "leader_before": leader,
                    "leader_after": new_leader,
                    "verified": True,
                    **({"note": tag} if tag else {}),
                },
            )
        )
        if new_leader != leader:
            leaders.append((t + int(0.3e9), None))
            leaders.append((t + int(1.2e9), new_leader))
        leader = new_leader
        events.append((t + int(4e9), stop_f, {"nodes": [victim], "leader_before": leader, "leader_after": leader}))
        t += int(10e9)
        k += 1

    history: list[Op] = []
    next_process = list(range(concurrency))
    free_at = [0] * concurrency
    register: dict[str, int] = {}
    per_op = span_ns / max(ops, 1) * concurrency
    pending_nemesis = sorted(events)
    for n in range(ops):
        thread = n % concurrency
        start = max(free_at[thread], int(n * span_ns / max(ops, 1)))
        while pending_nemesis and pending_nemesis[0][0] <= start:
            at, f, value = pending_nemesis.pop(0)
            history.append(Op(type=OpType.INVOKE, f=f, process=NEMESIS, time=at, value=None))
            history.append(Op(type=OpType.INFO, f=f, process=NEMESIS, time=at + 50_000_000, value=value))
        latency = int(rng.lognormvariate(14.5, 0.8))
        process = next_process[thread]
        key = f"r{rng.randrange(5)}"
        f = rng.choice(["read", "read", "write", "cas"])
        invoke_value: Any = (
            None if f == "read" else rng.randrange(5) if f == "write" else [rng.randrange(5), rng.randrange(5)]
        )
        roll = rng.random()
        kind = OpType.OK if roll < 0.93 else OpType.FAIL if roll < 0.975 else OpType.INFO
        if kind is OpType.INFO:
            latency = int(2e9)
        result_value = invoke_value
        if f == "read" and kind is OpType.OK:
            result_value = register.get(key)
        elif f == "write" and kind is OpType.OK:
            register[key] = invoke_value
        elif f == "cas" and kind is OpType.OK:
            register[key] = invoke_value[1]
        error = None
        if kind is OpType.FAIL:
            error = "etcdserver: compare failed" + tag if f == "cas" else "connection refused"
        elif kind is OpType.INFO:
            error = "timeout after 2 s" + tag
        history.append(Op(type=OpType.INVOKE, f=f, process=process, time=start, key=key + tag, value=invoke_value))
        history.append(
            Op(
                type=kind,
                f=f,
                process=process,
                time=start + latency,
                key=key + tag,
                value=(tag or result_value) if (hostile and f == "read" and n % 50 == 0) else result_value,
                error=error,
            )
        )
        free_at[thread] = start + latency + int(per_op * 0.2)
        if kind is OpType.INFO:
            next_process[thread] = process + concurrency
    history.sort(key=lambda op: op.time)
    with (run_dir / "history.jsonl").open("w", encoding="utf-8") as out:
        for i, op in enumerate(history):
            out.write(json.dumps(op.with_(index=i).to_json(), separators=(",", ":")) + "\n")
    indexed = [op.with_(index=i) for i, op in enumerate(history)]
    end_ns = indexed[-1].time if indexed else 0

    checkers: dict[str, Any] = {"linear": _linear_failure(indexed, rng, tag), "perf": {"valid": True, "reason": ""}}
    if locks:
        checkers["mutex"] = _mutex_details(node_names, end_ns, rng)
    if counter:
        checkers["counter"] = _counter_details(end_ns, rng)
    results = {
        "valid": False,
        "checkers": checkers,
        "stats": {"ops": len(indexed), "ok": sum(1 for o in indexed if o.type is OpType.OK)},
    }
    config = {
        "name": "register-partition" + tag,
        "workload": "register",
        "nemesis": ["partition", "kill", "pause"],
        "nodes": nodes,
        "image": "etcd-harness/etcd:3.5.17",
        "etcd_version": "3.5.17",
        "seed": seed,
        "time_limit": seconds,
        "concurrency": concurrency,
        "rate": round(ops / seconds, 1),
        "command": f"etcd-harness test --workload register --nemesis partition,kill,pause --nodes {nodes} "
        f"--time-limit {seconds:g} --seed {seed}" + (" --name '" + tag + "'" if tag else ""),
        "started_at": "2025-01-01T03:00:00Z",
        "duration_s": round(end_ns / 1e9, 3),
    }
    (run_dir / "config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
    (run_dir / "results.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    with (run_dir / "leaders.jsonl").open("w", encoding="utf-8") as out:
        for at, who in leaders:
            out.write(json.dumps({"time": at, "leader": who}) + "\n")
    for name in node_names:
        log_dir = run_dir / "nodes" / name
        log_dir.mkdir(parents=True, exist_ok=True)
        lines = [
            {"level": "info", "ts": "2025-01-01T03:00:00Z", "msg": "serving client traffic"},
            {"level": "warn", "ts": "2025-01-01T03:00:05Z", "msg": "failed to reach the peer" + tag},
            {"level": "error", "ts": "2025-01-01T03:00:06Z", "msg": "lost leader" + tag},
        ]
        (log_dir / "etcd.log").write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return run_dir


def _linear_failure(history: list[Op], rng: random.Random, tag: str) -> dict[str, Any]:
    """A made-up failure shaped as ARCHITECTURE.md says: the last ok read near the middle is 'impossible'."""
    pairs: dict[int, Op] = {}
    done: dict[int, Op] = {}
    pending: dict[Any, int] = {}
    for op in history:
        if op.process == NEMESIS:
            continue
        if op.type is OpType.INVOKE:
            pairs[op.index] = op
            pending[op.process] = op.index
        elif op.process in pending:
            done[pending.pop(op.process)] = op
    mid = history[len(history) // 2].time if history else 0
    reads = [i for i, inv in pairs.items() if inv.f == "read" and i in done and done[i].is_ok and inv.time >= mid]
    if not reads:
        return {"valid": True, "reason": "", "failures": [], "partitions": 0, "checked": 0}
    bad = reads[0]
    key = pairs[bad].key
    window = sorted({*[i for i, inv in pairs.items() if inv.key == key and inv.time <= pairs[bad].time][-7:], bad})
    prefix = [i for i in window if i != bad and (i not in done or not done[i].is_fail)]
    states: list[str] = []
    state: Any = None
    for i in prefix:
        inv = pairs[i]
        if inv.f == "write":
            state = inv.value
        elif inv.f == "cas" and isinstance(inv.value, list) and state == inv.value[0]:
            state = inv.value[1]
        states.append(json.dumps(state))
    why = f"read 7, but the register can only be {json.dumps(state)} here" + tag

    def wop(i: int) -> dict[str, Any]:
        inv, c = pairs[i], done.get(i)
        return {
            "index": i,
            "process": inv.process,
            "f": inv.f,
            "value": (c.value if c is not None and c.is_ok else inv.value),
            "type": "info" if c is None else c.type.value,
            "invoke_time": inv.time,
            "complete_time": None if c is None or c.is_info else c.time,
        }

    bad_op = {**wop(bad), "value": 7, "why": why}
    window_ops = [wop(i) if i != bad else {**wop(bad), "value": 7} for i in window]
    return {
        "valid": False,
        "reason": f"key {key}: {why}",
        "partitions": 5,
        "checked": 5,
        "time_s": round(rng.random(), 3),
        "failures": [
            {
                "key": key,
                "longest_prefix": prefix,
                "prefix_states": states,
                "unlinearizable": [bad_op],
                "window": {
                    "start_time": min(o["invoke_time"] for o in window_ops),
                    "end_time": max(o["complete_time"] or o["invoke_time"] for o in window_ops),
                    "ops": window_ops,
                },
            }
        ],
        "unknown": [],
    }


def _mutex_details(node_names: list[str], end_ns: int, rng: random.Random) -> dict[str, Any]:
    holds: list[dict[str, Any]] = []
    t = 0
    process = 0
    while t < end_ns - int(2e9):
        length = int(rng.uniform(0.2e9, 1.5e9))
        holds.append({"process": process % 5, "start_time": t, "end_time": t + length, "open_ended": False})
        t += length + int(rng.uniform(0.01e9, 0.3e9))
        process += 1
    violations = []
    if len(holds) > 10:
        a = holds[len(holds) // 2]
        b = {
            "process": (a["process"] + 1) % 5,
            "start_time": a["start_time"] + int(0.1e9),
            "end_time": None,
            "open_ended": True,
        }
        holds.append(b)
        violations.append(
            {
                "holders": [
                    {
                        "process": a["process"],
                        "acquire_index": 10,
                        "start_time": a["start_time"],
                        "end_time": a["end_time"],
                    },
                    {"process": b["process"], "acquire_index": 12, "start_time": b["start_time"], "end_time": None},
                ],
                "overlap_start": b["start_time"],
                "overlap_end": a["end_time"],
                "ttl_s": 2,
                "explanation": f"p{a['process']}'s lease expired while it held the lock: no keepalive acknowledged "
                               f"in the 2.4 s before p{b['process']} was granted it (TTL 2 s; 3 refreshes failed)",
            }
        )
    return {
        "valid": not violations,
        "reason": "two processes held the lock at once" if violations else "",
        "violations": violations,
        "holds": holds,
    }


def _counter_details(end_ns: int, rng: random.Random) -> dict[str, Any]:
    reads = []
    value = 0
    for i in range(400):
        t = int(i * end_ns / 400)
        value += rng.randrange(3)
        lower, upper = value, value + rng.randrange(4)
        seen = rng.randint(lower, upper) if i != 250 else upper + 3
        reads.append(
            {"index": i * 3, "time": t, "value": seen, "lower": lower, "upper": upper, "ok": lower <= seen <= upper}
        )
    return {
        "valid": all(r["ok"] for r in reads),
        "reason": "1 read outside its bounds",
        "reads": reads,
        "final": {"value": value},
    }
