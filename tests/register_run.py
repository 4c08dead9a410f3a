"""A register run directory whose history is linearizable by construction, with one read made impossible.

Unlike :mod:`tests.sample_run` (made-up verdicts, for the renderer), this one is
for the real checkers: every op takes effect at a random point between its call
and its return, each key is a compare-and-set register, and the results follow
from that, so ``etcd-harness check --run`` / ``report`` find it linearizable,
except for the one read ``bad_at`` makes stale: it returns a value overwritten before it began.
The run directory holds what a run leaves (``config.json``, ``history.jsonl``,
``leaders.jsonl``, node logs) and, with ``stale_results``, a ``results.json``
saying VALID that is older than the history: a history edited after its check.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import NEMESIS, Op, OpType, TestSpec


@dataclass
class _Planned:
    process: int
    f: str
    key: int
    value: Any
    start: int
    end: int
    point: int  # when it takes effect
    outcome: str  # ok, fail (definitely not), info (may have)
    takes_effect: bool = True
    result: Any = None
    error: str | None = None


def _make_one_read_stale(planned: list[_Planned], bad_at: float) -> None:
    """From ``bad_at`` of the way through key 0's ok reads on, the first read that can be given a value
    no op could have left there (not the value at its call, not one written while it ran, not one an
    unfinished op may still write) gets that value: a stale read, as a partitioned member would give."""
    on_key = [o for o in planned if o.key == 0]
    reads = sorted((o for o in on_key if o.f == "read" and o.outcome == "ok"), key=lambda o: o.start)
    for read in reads[int(len(reads) * bad_at):]:
        before = [o for o in on_key if o.point < read.start and o.takes_effect and o.f != "read"]
        at_call = None
        for o in sorted(before, key=lambda o: o.point):
            at_call = o.value if o.f == "write" else o.value[1] if at_call == o.value[0] else at_call
        possible = {at_call}
        for o in on_key:
            if o.f != "read" and ((o.start <= read.end and o.end >= read.start) or o.outcome == "info"):
                possible.add(o.value if o.f == "write" else o.value[1])
        stale = [v for v in range(5) if v not in possible]
        if stale:
            read.result = stale[0]
            return
    raise ValueError("no read on key 0 can be made stale; try another seed")


def make_register_run(
    run_dir: Path,
    *,
    ops: int = 1200,
    keys: int = 2,
    concurrency: int = 5,
    seconds: float = 30.0,
    nodes: int = 3,
    seed: int = 7,
    bad_at: float | None = 0.7,
    stale_results: bool = False,
) -> Path:
    """Write the run to ``run_dir``; ``bad_at``: where (a share of the history) key 0's stale read is."""
    rng = random.Random(seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    span = int(seconds * 1e9)
    gap = span * concurrency // max(ops, 1)
    planned: list[_Planned] = []
    for thread in range(concurrency):
        process, t = thread, rng.randrange(gap + 1)
        while t < span:
            latency = int(rng.lognormvariate(15.5, 0.6))  # ~5 ms
            f = rng.choice(["read", "read", "write", "cas"])
            value: Any = None if f == "read" else rng.randrange(5) if f == "write" else [rng.randrange(5),
                                                                                        rng.randrange(5)]
            roll = rng.random()
            outcome = "info" if roll < 0.01 else "fail" if roll < 0.03 and f != "read" else "ok"
            end = t + (int(2e9) if outcome == "info" else latency)
            op = _Planned(process, f, rng.randrange(keys), value, t, end, rng.randrange(t, end + 1), outcome)
            if outcome == "fail":
                op.takes_effect, op.error = False, "connection refused"
            elif outcome == "info":
                op.takes_effect, op.error = rng.random() < 0.5, "timeout after 2 s"
            planned.append(op)
            if outcome == "info":
                process += concurrency  # an info op retires its process
            t = end + rng.randrange(gap + 1)

    state: dict[int, Any] = {}
    for op in sorted(planned, key=lambda o: o.point):
        current = state.get(op.key)
        if op.f == "read":
            op.result = current
        elif op.f == "write":
            if op.takes_effect:
                state[op.key] = op.value
            op.result = op.value
        elif op.takes_effect:
            if current == op.value[0]:
                state[op.key] = op.value[1]
            elif op.outcome == "ok":
                op.outcome, op.error = "fail", "compare failed"
            op.result = op.value

    if bad_at is not None:
        _make_one_read_stale(planned, bad_at)

    events: list[tuple[int, int, Op]] = []
    for op in planned:
        events.append((op.start, 0, Op(type=OpType.INVOKE, f=op.f, process=op.process, key=op.key, value=op.value)))
        done = Op(type=OpType(op.outcome), f=op.f, process=op.process, key=op.key,
                  value=op.result if op.outcome == "ok" else op.value, error=op.error)
        events.append((op.end, 1, done))
    leaders: list[tuple[int, str | None]] = [(0, "n1")]
    node_names = [f"n{i}" for i in range(1, nodes + 1)]
    t, leader = int(3e9), "n1"
    while t + int(4e9) < span:
        victim = rng.choice(node_names)
        after = rng.choice([n for n in node_names if n != victim]) if victim == leader else leader
        for at, f, value in ((t, "start-partition", {"nodes": [victim], "grudge": {victim: [
                n for n in node_names if n != victim]}, "leader_before": leader, "leader_after": after}),
                             (t + int(3e9), "stop-partition", {"nodes": [victim], "leader_before": after,
                                                               "leader_after": after})):
            events.append((at, 0, Op(type=OpType.INVOKE, f=f, process=NEMESIS)))
            events.append((at + 20_000_000, 1, Op(type=OpType.INFO, f=f, process=NEMESIS, value=value)))
        if after != leader:
            leaders += [(t + 300_000_000, None), (t + 1_000_000_000, after)]
        leader = after
        t += int(rng.uniform(5e9, 8e9))
    events.sort(key=lambda e: (e[0], e[1]))
    with (run_dir / "history.jsonl").open("w", encoding="utf-8") as out:
        for i, (at, _, recorded) in enumerate(events):
            out.write(json.dumps(recorded.with_(index=i, time=at).to_json(), separators=(",", ":")) + "\n")
    with (run_dir / "leaders.jsonl").open("w", encoding="utf-8") as out:
        for at, who in leaders:
            out.write(json.dumps({"time": at, "leader": who}) + "\n")

    spec = TestSpec(workload="register", nemesis=("partition",), nodes=nodes, time_limit=seconds,
                    concurrency=concurrency, seed=seed, results_dir=str(run_dir.parent.parent),
                    check_time_limit=60)
    config = {**spec.to_json(), "command": spec.command(), "etcd_version": "3.5.16",
              "started_at": "2025-01-01T03:00:00+00:00", "run_id": f"register-{seed}"}
    (run_dir / "config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
    for name in node_names:
        (run_dir / "nodes" / name).mkdir(parents=True, exist_ok=True)
        (run_dir / "nodes" / name / "etcd.log").write_text(
            json.dumps({"level": "warn", "msg": "lost the TCP streaming connection with peer"}) + "\n")
    if stale_results:
        results = {"valid": True, "checkers": {"linear": {"valid": True, "reason": "linearizable (2 partitions)"}},
                   "stats": {"ops": len(planned)}, "timing": {"cluster_start_s": 2.5, "total_s": seconds + 9}}
        (run_dir / "results.json").write_text(json.dumps(results), encoding="utf-8")
        history_mtime = (run_dir / "history.jsonl").stat().st_mtime_ns
        os.utime(run_dir / "results.json", ns=(history_mtime - 10**9, history_mtime - 10**9))
    return run_dir
