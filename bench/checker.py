"""Benchmark of the linearizability checker: every class of history in issue 16's table.
Prints figures; asserts nothing.

    .venv/bin/python bench/checker.py [--reps 3] [--baseline DIR] [--only NAME ...]

Each row is ``etcd-harness check`` in a fresh process (start-up, reading and checking
included), measured by the kernel (``wait4``): CPU time (user + system) and peak RSS,
medians of ``--reps`` runs. With ``--baseline DIR`` (a copy of the packages ``harness``,
``checkers``, ... from another version), each run is paired with one of that version,
interleaved, so both see the same machine load: the ratio column compares those.
The Porcupine column holds the figures issue 16 measured on this machine kind (Go
Porcupine v1.3.0; no Go toolchain here to rebuild it): compare ratios, not seconds.

The histories come from :func:`simulate`, a seeded simulated linearizable etcd: each op
takes effect at a random instant between its invocation and completion; an ``info`` op
takes effect or not, and its process is retired (the next op of that thread gets a new
process number, as in Jepsen); ok ops carry the revisions etcd reports (``extra``).
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

from harness.core import Op, OpType  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "porcupine"


def simulate(
    seed: int, ops: int, keys: int = 1, procs: int = 20, info: float = 0.05, values: int = 5,
    revisions: bool = True,
) -> list[Op]:
    """A linearizable cas-register history of ``ops`` ops over ``keys`` keys, ``procs``
    threads, a share ``info`` of writes and cas ending ``info`` (half of them took effect),
    values from ``range(values)``; with ``revisions``, ok and fail ops carry etcd's
    revisions in ``extra`` (one revision counter for all keys, as in etcd)."""
    rng = random.Random(seed)
    out: list[Op] = []
    state: dict[str, tuple[Any, int, int, int]] = {}  # key -> (value, mod_rev, create_rev, version)
    rev = 1
    pid = list(range(procs))
    flying: dict[int, list[Any]] = {}  # thread -> [call, applied, output, extra, ends info]
    clock = 0

    def emit(typ: OpType, f: str, value: Any, process: int, key: str, extra: dict[str, Any] | None = None) -> Op:
        nonlocal clock
        clock += rng.randrange(1, 1000)
        op = Op(type=typ, f=f, value=value, process=process, key=key, time=clock, index=len(out), extra=extra)
        out.append(op)
        return op

    done = 0
    while done < ops or flying:
        idle = [s for s in range(procs) if s not in flying]
        invoke_now = rng.random() < 0.4
        if idle and done + len(flying) < ops and (not flying or invoke_now):
            s = rng.choice(idle)
            key = f"r{rng.randrange(keys)}"
            x = rng.random()
            f = "read" if x < 0.4 else "write" if x < 0.7 else "cas"
            value = None if f == "read" else rng.randrange(values) if f == "write" else [
                rng.randrange(values), rng.randrange(values)]
            call = emit(OpType.INVOKE, f, value, pid[s], key)
            flying[s] = [call, False, None, None, f != "read" and rng.random() < info]
            continue
        s = rng.choice(list(flying))
        call, applied, _, _, lost = fl = flying[s]
        if not applied and not (lost and rng.random() < 0.5):
            fl[1] = True  # it takes effect now
            cur = state.get(call.key)
            if call.f == "read":
                mod, create, version = (0, 0, 0) if cur is None else cur[1:]
                fl[2] = None if cur is None else cur[0]
                fl[3] = {"rev": rev, "mod_rev": mod, "create_rev": create, "version": version}
            elif call.f == "write" or call.value[0] == (None if cur is None else cur[0]):
                rev += 1
                new = call.value if call.f == "write" else call.value[1]
                state[call.key] = (new, rev, rev if cur is None else cur[2], 1 if cur is None else cur[3] + 1)
                fl[2], fl[3] = call.value, {"rev": rev} if call.f == "write" else {"rev": rev, "succeeded": True}
            else:
                fl[2], fl[3] = "fail", {"rev": rev, "succeeded": False}
            if not lost:
                continue
        del flying[s]
        done += 1
        extra = fl[3] if revisions else None
        if lost:
            emit(OpType.INFO, call.f, None, call.process, call.key)
            pid[s] += procs
        elif fl[2] == "fail":
            emit(OpType.FAIL, call.f, call.value, call.process, call.key, extra)
        else:
            emit(OpType.OK, call.f, fl[2], call.process, call.key, extra)
    return out


def concurrent_info_writes(writes: int = 64) -> list[Op]:
    """One key: ``writes`` concurrent writes of distinct values, all of unknown outcome, then
    sequential reads of some of those values, each once (linearizable)."""
    out: list[Op] = []
    t = 0

    def emit(typ: OpType, f: str, value: Any, process: int) -> None:
        nonlocal t
        t += 1
        out.append(Op(type=typ, f=f, value=value, process=process, time=t, index=len(out)))

    for p in range(writes):
        emit(OpType.INVOKE, "write", p, p)
    for p in range(writes):
        emit(OpType.INFO, "write", None, p)
    for v in range(0, writes, 3):
        emit(OpType.INVOKE, "read", None, writes)
        emit(OpType.OK, "read", v, writes)
    return out


def bad_read(seed: int, at: float) -> list[Op]:
    """The 3,000-op single-key history of ``seed`` (no revisions) with the ok read nearest
    ``at`` (a share of the history) returning 99, which nobody ever wrote."""
    ops = simulate(seed, 3000, revisions=False)
    reads = [n for n, op in enumerate(ops) if op.is_ok and op.f == "read"]
    n = min(reads, key=lambda r: abs(r - at * len(ops)))
    ops[n] = ops[n].with_(value=99)
    return ops


def write_jsonl(path: Path, ops: list[Op]) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for op in ops:
            f.write(json.dumps(op.to_json(), separators=(",", ":")) + "\n")
    return path


def measure(args: list[str], pythonpath: str | None) -> tuple[float, float, str]:
    """CPU seconds, peak RSS in MiB and the last output line of one ``etcd-harness`` process."""
    env = dict(os.environ)
    env["PYTHONPATH"] = pythonpath or str(ROOT)
    # not from ROOT: ``python -m`` puts the working directory first on the path
    with tempfile.TemporaryFile() as out, tempfile.TemporaryDirectory() as cwd:
        proc = subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=cwd, env=env, stdout=out,
                                stderr=subprocess.DEVNULL)
        _, _, usage = os.wait4(proc.pid, 0)
        proc.returncode = 0
        out.seek(0)
        lines = out.read().decode("utf-8", "replace").splitlines()
    verdict = next((line for line in lines if "linearizable" in line or "unknown" in line), "")
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, verdict


def verdict_word(line: str) -> str:
    for word in ("NOT linearizable", "linearizable", "unknown"):
        if f": {word}" in line:
            return {"NOT linearizable": "invalid", "linearizable": "valid"}.get(word, word)
    return "?"


def row(name: str, args: list[str], porcupine: str, reps: int, baseline: str | None, today: str = "") -> None:
    """Measure one class; print CPU (median), peak RSS, verdict, and the ratios."""
    now: list[tuple[float, float, str]] = []
    before: list[tuple[float, float, str]] = []
    for _ in range(reps):
        now.append(measure(args, None))
        if baseline and "--no-shrink" not in args:  # (the baseline may not have the flag)
            before.append(measure(args, baseline))
    cpu = statistics.median(c for c, _, _ in now)
    rss = max(r for _, r, _ in now)
    line = f"{name:<58} {cpu:8.3f} s {rss:6.0f} MiB  {verdict_word(now[0][2]):<8}"
    if before:
        cpu_b = statistics.median(c for c, _, _ in before)
        line += f" | before {cpu_b:8.3f} s {max(r for _, r, _ in before):6.0f} MiB {verdict_word(before[0][2]):<8}"
        line += f" ×{cpu / cpu_b:5.2f}"
    line += f" | Porcupine {porcupine}"
    if today:
        line += f" | issue's 'ours' {today}"
    print(line, flush=True)


def generate_all(d: Path) -> None:
    """Write every generated history into ``d`` (run in a child process, so that the
    processes measured later are not forked from a parent that held them: the kernel's
    peak RSS of a child counts its parent's pages up to ``exec``)."""
    write_jsonl(d / "small.jsonl", simulate(1, 10, procs=3))
    write_jsonl(d / "100k.jsonl", simulate(1, 100_000, 1000, 16, 0.10, revisions=False))
    write_jsonl(d / "100k-rev.jsonl", simulate(1, 100_000, 1000, 16, 0.10))
    for seed in SEEDS:
        write_jsonl(d / f"one-{seed}.jsonl", simulate(seed, 3000, revisions=False))
        write_jsonl(d / f"one-rev-{seed}.jsonl", simulate(seed, 3000))
    write_jsonl(d / "info64.jsonl", concurrent_info_writes())
    many = simulate(1, 16_000, procs=10, info=1.0, revisions=False)
    write_jsonl(d / "info10k.jsonl", many)
    (d / "info10k.count").write_text(str(sum(1 for op in many if op.is_info)))
    for at in BAD_AT:
        write_jsonl(d / f"bad-{at}.jsonl", bad_read(1, at))


SEEDS = {1: ("16.9 s", "7.5 s"), 2: ("5.6 s", "20.6 s"), 3: ("63.3 s", "2.8 s")}  # issue 16's figures
BAD_AT = (0.5, 0.9)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--baseline", help="PYTHONPATH of another version to pair every run with")
    parser.add_argument("--time-limit", type=float, default=60.0, help="per check, seconds")
    parser.add_argument("--only", nargs="*", default=[], help="only the rows whose name contains one of these")
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate is not None:
        generate_all(args.generate)
        return
    limit = ["--time-limit", f"{args.time_limit:g}", "--memory-mb", "4096"]

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        subprocess.run([sys.executable, __file__, "--generate", tmp], check=True)
        rows: list[tuple[str, list[str], str, str]] = []
        etcd = sorted(p for p in (args.corpus / "jepsen").glob("*.log") if p.stat().st_size)
        if etcd:
            files = [str(p) for p in etcd]
            rows.append((f"corpus: {len(etcd)} etcd Jepsen logs, one process",
                         ["check", "--format", "jepsen-log", *limit, *files], "1.44 s", "1.04 s"))
            rows.append(("corpus, --no-shrink", ["check", "--format", "jepsen-log", "--no-shrink", *limit, *files],
                         "1.42 s", "0.71 s"))
        rows.append(("one small file (start-up)", ["check", *limit, str(d / "small.jsonl")], "0.003 s", "0.29 s"))
        rows.append(("100,000 ops, 1,000 keys, 16 proc, 10% info, no revisions",
                     ["check", *limit, str(d / "100k.jsonl")], "0.63 s, 64 MiB", "5.30 s, 139 MiB"))
        rows.append(("100,000 ops, 1,000 keys, 16 proc, 10% info, revisions",
                     ["check", *limit, str(d / "100k-rev.jsonl")], "0.63 s, 64 MiB", "-"))
        for seed, (porc, ours) in SEEDS.items():
            rows.append((f"1 key, 20 proc, 3,000 ops, 5% info, seed {seed}, no revisions",
                         ["check", *limit, str(d / f"one-{seed}.jsonl")], porc, ours))
            rows.append((f"1 key, 20 proc, 3,000 ops, 5% info, seed {seed}, revisions",
                         ["check", *limit, str(d / f"one-rev-{seed}.jsonl")], porc, ours))
        rows.append(("1 key, 64 concurrent info writes, then reads", ["check", *limit, str(d / "info64.jsonl")],
                     "unknown at 30 s", "0.03 s"))
        n_info = (d / "info10k.count").read_text()
        rows.append((f"1 key, {n_info} info ops over 5 values", ["check", *limit, str(d / "info10k.jsonl")],
                     "unknown at 60 s, 4.2 GB", "8.8 s"))
        for at in BAD_AT:
            rows.append((f"a read of a never-written value at {at:.0%} of 3,000 ops",
                         ["check", *limit, str(d / f"bad-{at}.jsonl")], "unknown", "unknown at 60 s"))
        print(f"CPU s (median of {args.reps}), peak RSS; ratio = this version / --baseline, same run, interleaved")
        started = time.perf_counter()
        for name, check_args, porcupine, today in rows:
            if args.only and not any(o in name for o in args.only):
                continue
            row(name, check_args, porcupine, args.reps, args.baseline, today)
        print(f"(bench wall time {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
