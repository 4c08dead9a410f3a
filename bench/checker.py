"""Benchmark of the linearizability checker. Prints figures; asserts nothing.

    .venv/bin/python bench/checker.py [--corpus DIR] [--ops 100000] [--keys 1000]

1. The Porcupine etcd corpus and kv corpus, each as one process (start-up, parse
   and check included), by running ``python -m checkers`` on every file.
2. Each corpus file alone in this process: check time and peak memory (tracemalloc).
3. A generated history (default 100,000 ops, 1,000 keys, 16 processes, 10% info)
   checked in fresh processes with one worker and with one per core: wall and CPU
   time and peak RSS, medians of ``--reps`` runs (the machine may be shared: compare
   CPU time, and wall time only between runs made together).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from checkers import CheckContext, LinearizabilityChecker  # noqa: E402
from harness.core import (  # noqa: E402
    HistoryWriter,
    Op,
    OpType,
    read_history,
)

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "porcupine"


def whole_corpus(files: list[Path], model: str) -> float:
    """Seconds for one ``python -m checkers`` process over ``files``."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "checkers", *map(str, files), "--model", model],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        check=False,
    )
    return time.perf_counter() - started


def per_file(files: list[Path], model: str) -> None:
    checker = LinearizabilityChecker(model)
    rows = []
    for path in files:
        started = time.perf_counter()
        result = checker.check(read_history(path), CheckContext(time_limit=60))
        elapsed = time.perf_counter() - started
        tracemalloc.start()  # a second run for memory: tracing slows the first tenfold
        checker.check(read_history(path), CheckContext(time_limit=60))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        rows.append((elapsed, path.name, result.valid, peak))
    for elapsed, name, valid, peak in rows:
        print(f"  {name:<16} {elapsed * 1000:8.2f} ms  peak {peak / 2**20:6.2f} MiB  valid={valid}")
    rows.sort(reverse=True)
    print(
        f"  sum {sum(r[0] for r in rows):.3f} s; slowest: "
        + ", ".join(f"{n} {e * 1000:.1f} ms" for e, n, _, _ in rows[:3])
    )


def generate(path: Path, ops: int, keys: int, procs: int, info: float, seed: int = 1) -> None:
    """A linearizable cas-register history from a simulated run, written as JSONL."""
    rng = random.Random(seed)
    state: dict[str, int | None] = {}
    pid = list(range(procs))
    inflight: list[tuple[int, int, Op, bool]] = []  # (process slot, pid, invoke, applied-at-invoke)
    with HistoryWriter(path, flush_interval=60) as writer:
        done = 0
        clock = 0
        while done < ops:
            clock += 1
            busy = {slot for slot, *_ in inflight}
            idle = [s for s in range(procs) if s not in busy]
            if idle and (not inflight or rng.random() < 0.5):
                slot = rng.choice(idle)
                key = f"r{rng.randrange(keys)}"
                f = rng.choice(["read", "write", "cas"])
                value = (
                    None if f == "read" else rng.randrange(5) if f == "write" else [rng.randrange(5), rng.randrange(5)]
                )
                call = writer.record(Op(type=OpType.INVOKE, f=f, value=value, process=pid[slot], key=key, time=clock))
                inflight.append((slot, pid[slot], call, False))
                continue
            # complete one in-flight op: it takes effect now (between invoke and completion)
            slot, p, call, _ = inflight.pop(rng.randrange(len(inflight)))
            cur = state.get(call.key)
            typ, out = OpType.OK, call.value
            if call.f == "read":
                out = cur
            elif call.f == "write":
                state[call.key] = call.value
            elif call.value[0] == cur:
                state[call.key] = call.value[1]
            else:
                typ = OpType.FAIL
            if rng.random() < info and call.f != "read":
                typ, out = OpType.INFO, None
                pid[slot] += procs
            writer.record(Op(type=typ, f=call.f, value=out, process=p, key=call.key, time=clock))
            done += 1


def large(ops: int, keys: int, procs: int, info: float, reps: int = 3) -> None:
    """Check one generated history in fresh processes, one worker vs one per core,
    alternating; print medians of wall time, CPU time (this process and its workers)
    and peak RSS (the largest single process)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "large.jsonl"
        generate(path, ops, keys, procs, info)
        code = (
            "import resource, sys, time\n"
            "from checkers import CheckContext, LinearizabilityChecker\n"
            "from harness.core import read_history\n"
            "t = time.perf_counter()\n"
            f"h = read_history({str(path)!r}, 'jsonl')\n"
            "p = time.perf_counter()\n"
            "c0 = time.process_time()\n"
            "w = int(sys.argv[1])\n"
            "r = LinearizabilityChecker('cas-register', workers=w).check(\n"
            "    h, CheckContext(time_limit=300, memory_limit=2**30))\n"
            "e = time.perf_counter()\n"
            "ru = resource.getrusage\n"
            "kids = ru(resource.RUSAGE_CHILDREN)\n"
            "cpu = time.process_time() - c0 + kids.ru_utime + kids.ru_stime\n"
            "rss = max(ru(resource.RUSAGE_SELF).ru_maxrss, kids.ru_maxrss)\n"
            "print(f'{p - t} {e - p} {cpu} {rss / 1024} {r.valid} {len(h)}')\n"
        )
        cores = os.cpu_count() or 1
        rows: dict[int, list[list[float]]] = {1: [], cores: []}
        valid = events = ""
        for _ in range(reps):
            for workers in rows:
                out = subprocess.run(
                    [sys.executable, "-c", code, str(workers)], cwd=ROOT, check=False, capture_output=True, text=True
                )
                parse, check, cpu, rss, valid, events = out.stdout.split()
                rows[workers].append([float(parse), float(check), float(cpu), float(rss)])
        print(f"  {events} events, valid={valid}; medians of {reps} runs:")
        for workers, runs in rows.items():
            parse_s, check_s, cpu_s, rss_mib = (statistics.median(r[i] for r in runs) for i in range(4))
            print(
                f"    workers={workers}: parse {parse_s:.2f} s, check {check_s:.2f} s wall, {cpu_s:.2f} s CPU, "
                f"peak RSS {rss_mib:.0f} MiB (largest process)"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--ops", type=int, default=100_000)
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--procs", type=int, default=16)
    parser.add_argument("--info", type=float, default=0.10)
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--skip-corpus", action="store_true")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()

    if args.skip_corpus:
        pass
    elif args.corpus.exists():
        etcd = sorted((args.corpus / "jepsen").glob("*.log"))
        kv = sorted((args.corpus / "kv").glob("*.txt"))
        for name, files, model in (("etcd", etcd, "cas-register"), ("kv", kv, "kv")):
            best = min(whole_corpus(files, model) for _ in range(3))
            print(f"{name} corpus, {len(files)} files, one process with start-up: {best:.3f} s (best of 3)")
            per_file(files, model)
    else:
        print(f"corpus not found at {args.corpus}; skipped")
    if not args.skip_large:
        print(f"generated history: {args.ops} ops, {args.keys} keys, {args.procs} processes, {args.info:.0%} info")
        large(args.ops, args.keys, args.procs, args.info, args.reps)
    print(f"(this process: peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB)")


if __name__ == "__main__":
    main()
