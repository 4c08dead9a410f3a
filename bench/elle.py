"""Benchmark of the Elle list-append checker. Prints figures; asserts nothing.

    .venv/bin/python bench/elle.py [--sizes 1000,10000,100000] [--reps 3] [--store both]

For each size, a list-append history is generated the way the ``append`` workload runs:
``--processes`` (10) concurrent clients, transactions of ``--mops`` (5) micro-ops on distinct
keys, drawn from ``--active-keys`` (10) live keys, each key retired after 32 appends (Jepsen's
rotating key space), 5 % ``fail`` and 5 % ``info``. The store is strictly serializable
(``valid``: the cost of a clean run) or lets reads see the state as of the transaction's
start with no conflict check (``stale``: every SCC searched and explained).

Each history is written as JSONL and checked in a fresh process (``etcd-harness check``'s
path: read the file, then check): the read and check seconds, the peak RSS of that process
(``wait4``), and transactions per second of the check's CPU time, medians of ``--reps``
(wall seconds are printed too; on a shared machine they measure the neighbours). Elle (JVM)
reports about 22 million transactions in about 2 minutes on a 60 GB heap (~180,000 txns/s);
its figure is printed beside ours. The machine may be shared: compare figures made together.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from checkers import CheckContext, ListAppendChecker  # noqa: E402
from harness.core import read_history  # noqa: E402

#: Elle's published figure: ~22 million transactions in ~2 minutes (60 GB heap).
ELLE_TXNS, ELLE_SECONDS = 22_000_000, 120.0


def generate(path: Path, txns: int, *, stale: bool, processes: int, mops: int, active_keys: int, seed: int) -> None:
    """Write a list-append history of ``txns`` transactions to ``path`` (see the module docstring)."""
    rng = random.Random(seed)
    lists: dict[int, list[int]] = {}
    writes: dict[int, int] = {}
    active = list(range(active_keys))
    next_key = active_keys
    index = now = started = 0
    live: dict[int, dict[str, Any]] = {p: {"phase": "idle"} for p in range(processes)}
    with path.open("w") as f:

        def emit(kind: str, p: int, value: Any) -> None:
            nonlocal index, now
            now += rng.randint(1, 2000) * 1000
            f.write(json.dumps({"index": index, "time": now, "process": p, "type": kind, "f": "txn",
                                "value": value}) + "\n")
            index += 1

        while started < txns or any(s["phase"] != "idle" for s in live.values()):
            p = rng.choice(list(live))
            s = live[p]
            if s["phase"] == "idle":
                if started >= txns:
                    continue
                started += 1
                value: list[list[Any]] = []
                for k in rng.sample(active, min(mops, len(active))):
                    if rng.random() < 0.5:
                        value.append(["r", k, None])
                        continue
                    writes[k] = writes.get(k, 0) + 1
                    value.append(["append", k, writes[k]])
                    if writes[k] >= 32:  # retire the key, as Jepsen's generator does
                        active[active.index(k)] = next_key
                        next_key += 1
                emit("invoke", p, value)
                roll = rng.random()
                outcome = "fail" if roll < 0.05 else "info" if roll < 0.1 else "ok"
                s.update(phase="invoked", value=value, outcome=outcome,
                         snapshot={k: list(v) for k, v in lists.items()} if stale else None, result=None)
            elif s["phase"] == "invoked":
                if s["outcome"] == "ok" or (s["outcome"] == "info" and rng.random() < 0.5):
                    view = s["snapshot"] if stale else lists
                    own: dict[int, list[int]] = {}
                    result = []
                    for mf, k, v in s["value"]:
                        if mf == "r":
                            result.append(["r", k, [*view.get(k, []), *own.get(k, [])]])
                        else:
                            own.setdefault(k, []).append(v)
                            result.append([mf, k, v])
                    for k, vs in own.items():
                        lists.setdefault(k, []).extend(vs)
                    s["result"] = result
                s["phase"] = "applied"
            else:
                if s["outcome"] == "ok":
                    emit("ok", p, s["result"])
                    s["phase"] = "idle"
                elif s["outcome"] == "fail":
                    emit("fail", p, s["value"])
                    s["phase"] = "idle"
                else:
                    emit("info", p, s["value"])
                    del live[p]
                    live[p + processes] = {"phase": "idle"}


def child(path: str) -> None:
    """In a fresh process: read and check ``path``; print one JSON line of figures."""
    t0, c0 = time.perf_counter(), time.process_time()
    history = read_history(path)
    t1, c1 = time.perf_counter(), time.process_time()
    result = ListAppendChecker().check(history, CheckContext(time_limit=600))
    t2, c2 = time.perf_counter(), time.process_time()
    print(json.dumps({"read_s": t1 - t0, "check_s": t2 - t1, "read_cpu_s": c1 - c0, "check_cpu_s": c2 - c1,
                      "valid": result.valid,
                      "txns": result.details.get("txns"), "edges": result.details.get("edges"),
                      "anomalies": result.details.get("counts")}))


def measure(path: Path) -> dict[str, Any]:
    """One fresh process checking ``path``: its figures and its peak RSS."""
    proc = subprocess.Popen([sys.executable, __file__, "--child", str(path)], stdout=subprocess.PIPE, cwd=ROOT)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    figures: dict[str, Any] = json.loads(out)
    figures["peak_rss_mib"] = usage.ru_maxrss / 1024
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--store", choices=("valid", "stale", "both"), default="both")
    ap.add_argument("--processes", type=int, default=10)
    ap.add_argument("--mops", type=int, default=5)
    ap.add_argument("--active-keys", type=int, default=10)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    stores = ("valid", "stale") if args.store == "both" else (args.store,)
    elle_rate = ELLE_TXNS / ELLE_SECONDS
    print(f"Elle (JVM, published): {ELLE_TXNS:,} txns in ~{ELLE_SECONDS:.0f} s on a 60 GB heap = "
          f"~{elle_rate:,.0f} txns/s")
    print("read/check: wall seconds (CPU seconds); txns/s from the check's CPU time")
    print(f"{'store':<6} {'txns':>7} {'file MiB':>8} {'read s':>13} {'check s':>13} {'peak RSS MiB':>12} "
          f"{'check txns/s':>12} {'vs Elle':>8}  verdict")
    with tempfile.TemporaryDirectory() as tmp:
        for store in stores:
            for size in (int(s) for s in args.sizes.split(",")):
                path = Path(tmp) / f"{store}-{size}.jsonl"
                generate(path, size, stale=store == "stale", processes=args.processes, mops=args.mops,
                         active_keys=args.active_keys, seed=size)
                runs = [measure(path) for _ in range(args.reps)]
                read_s = statistics.median(r["read_s"] for r in runs)
                check_s = statistics.median(r["check_s"] for r in runs)
                read_cpu = statistics.median(r["read_cpu_s"] for r in runs)
                check_cpu = statistics.median(r["check_cpu_s"] for r in runs)
                rss = statistics.median(r["peak_rss_mib"] for r in runs)
                rate = size / check_cpu
                found = runs[0]["anomalies"] or {}
                verdict = f"{runs[0]['valid']}" + (f" {dict(list(found.items())[:4])}" if found else "")
                print(f"{store:<6} {size:>7} {path.stat().st_size / 2**20:>8.1f} {read_s:>6.2f} ({read_cpu:>4.2f}) "
                      f"{check_s:>6.2f} ({check_cpu:>4.2f}) "
                      f"{rss:>12.0f} {rate:>12,.0f} {rate / elle_rate:>7.1%}  {verdict}", flush=True)


if __name__ == "__main__":
    main()
