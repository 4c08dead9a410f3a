"""Benchmark of ``etcd-harness check``'s limits on a big history. Prints figures; asserts nothing.

    .venv/bin/python bench/check_limits.py [--mb 50] [--reps 3] [--time-limit 2] [--memory-mb 200]

Generates a linearizable cas-register history of about ``--mb`` MB in /tmp (many
keys, 16 processes, some ``info`` ops; kept between runs), then runs
``etcd-harness check`` on it in fresh processes:

1. with ``--time-limit T`` (and no memory limit): the wall time to the answer;
2. with ``--memory-mb M`` (and no time limit): the wall time and the peak RSS;
3. with both;
4. with ``--memory-mb`` ``--tight-mb`` (less than the check needs, no time limit): the
   answer is ``unknown`` and the peak stays near it.

Each figure is the median of ``--reps`` runs. The peak RSS is sampled every 10 ms
over the whole process tree (the check may fork workers), and also taken from
``ru_maxrss`` (the largest single process). The limits hold when the answer comes
within about 1 s of ``T`` and the peak stays near ``M``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "harness", "check"]


def generate(path: Path, megabytes: float, seed: int = 7) -> int:
    """Write a linearizable register history of about ``megabytes`` MB to ``path``; the op count."""
    rng = random.Random(seed)
    target = int(megabytes * 1e6)
    keys = 5000
    state: dict[str, int | None] = {}
    procs = list(range(16))
    size = n = 0
    t = 0
    with path.open("w", encoding="utf-8") as out:
        while size < target:
            slot = rng.randrange(len(procs))
            p = procs[slot]
            key = f"r{rng.randrange(keys)}"
            f = rng.choice(("read", "write", "cas"))
            value: object = None if f == "read" else rng.randrange(5) if f == "write" else [rng.randrange(5),
                                                                                            rng.randrange(5)]
            lines: list[dict[str, object]] = [
                {"index": n, "time": t, "process": p, "type": "invoke", "f": f, "key": key, "value": value}]
            t += rng.randrange(1000, 50_000)
            cur = state.get(key)
            done: dict[str, object]
            if f == "read":
                done = {"type": "ok", "value": cur}
            elif f == "write":
                state[key] = value  # type: ignore[assignment]
                done = {"type": "ok", "value": value}
            else:
                assert isinstance(value, list)
                done = {"type": "ok", "value": value} if cur == value[0] else {"type": "fail", "value": value}
                if cur == value[0]:
                    state[key] = value[1]
            if f != "read" and done["type"] == "ok" and rng.random() < 0.02:
                done = {"type": "info", "value": value, "error": "timed out"}
                procs[slot] = p + 16  # a process with an unknown outcome is retired
            lines.append({"index": n + 1, "time": t, "process": p, "key": key, "f": f, **done})
            t += rng.randrange(1000, 50_000)
            n += 2
            for d in lines:
                text = json.dumps(d, separators=(",", ":")) + "\n"
                out.write(text)
                size += len(text)
    return n


def tree_rss(pid: int) -> int:
    """RSS bytes of ``pid`` and its descendants (Linux)."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm", "rb") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children", "rb") as f:
                    todo.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return total


def run_once(path: Path, args: list[str]) -> tuple[float, int, str]:
    """(wall seconds, peak RSS of the process tree, the verdict line) of one check."""
    peak = [0]
    started = time.perf_counter()
    proc = subprocess.Popen([*CLI, str(path), *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            peak[0] = max(peak[0], tree_rss(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    first = next((line for line in out.splitlines() if str(path) in line), out.strip()[:200])
    return wall, peak[0], first.replace(str(path), "FILE")


def measure(path: Path, args: list[str], reps: int) -> None:
    walls, peaks = [], []
    verdict = ""
    for _ in range(reps):
        wall, peak, verdict = run_once(path, args)
        walls.append(wall)
        peaks.append(peak)
    maxrss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"  check {' '.join(args)}")
    print(f"    wall to answer: median {statistics.median(walls):.2f} s  (runs: "
          f"{', '.join(f'{w:.2f}' for w in walls)})")
    print(f"    peak RSS (process tree): median {statistics.median(peaks) / 2**20:.0f} MiB  "
          f"(largest single process so far: {maxrss:.0f} MiB)")
    print(f"    answer: {verdict[:160]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=50.0, help="history size in MB (default 50)")
    ap.add_argument("--reps", type=int, default=3, help="runs per figure; the median is shown (default 3)")
    ap.add_argument("--time-limit", type=float, default=2.0)
    ap.add_argument("--memory-mb", type=int, default=200)
    ap.add_argument("--tight-mb", type=int, default=120, help="a memory limit the check cannot meet (default 120)")
    ap.add_argument("--out", default="/tmp/etcd-harness-bench-limits.jsonl", help="where the history is written")
    args = ap.parse_args()
    path = Path(args.out)
    if not path.exists() or abs(path.stat().st_size - args.mb * 1e6) > 0.05 * args.mb * 1e6:
        started = time.perf_counter()
        ops = generate(path, args.mb)
        print(f"generated {path}: {ops} events, {path.stat().st_size / 1e6:.1f} MB "
              f"in {time.perf_counter() - started:.1f} s")
    else:
        print(f"using {path}: {path.stat().st_size / 1e6:.1f} MB")
    print(f"{os.cpu_count()} cores; medians of {args.reps} runs")
    measure(path, ["--time-limit", f"{args.time_limit:g}", "--memory-mb", "0"], args.reps)
    measure(path, ["--time-limit", "0", "--memory-mb", str(args.memory_mb)], args.reps)
    measure(path, ["--time-limit", f"{args.time_limit:g}", "--memory-mb", str(args.memory_mb)], args.reps)
    measure(path, ["--time-limit", "0", "--memory-mb", str(args.tight_mb)], args.reps)


if __name__ == "__main__":
    main()
