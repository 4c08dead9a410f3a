"""Recorded ops/s against a 3-node cluster, next to a raw client loop without recording,
and next to what ``etcdctl check perf`` gets on the same cluster.

Both loops run in the same process against the same cluster, alternating
(raw, recorded, raw, recorded, ...) so that machine noise hits both alike.
Prints each round and the medians; the target is that recording costs at most 10%.

Then ``etcdctl check perf --load=L`` runs inside node n1 (the image ships
etcdctl; it writes for 60 s from L's clients against every member) and the
recorded median is shown as a share of its writes/s: how close the harness
drives etcd to what etcd's own tool gets (the goal: 0.8x or more at
concurrency 50). The harness's register ops are a mix of reads, writes and
compare-and-sets, and on a small machine the harness, the tool and the three
members share the same cores, so the ratio is a guide, not a law.

    .venv/bin/python bench/throughput.py [--seconds 10] [--rounds 3] [--concurrency 50] [--perf-load l]
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.core import Op, OpType, TestSpec
from harness.etcd import DockerCluster
from harness.run import Run
from workloads import Invocation, WorkloadContext
from workloads.register import RegisterWorkload


def raw_loop(cluster: DockerCluster, spec: TestSpec, seconds: float) -> float:
    """The same register ops and clients, no history, no runner: the ceiling."""
    workload = RegisterWorkload(spec)
    ctx = WorkloadContext(spec=spec, cluster=cluster)
    stop = threading.Event()
    counts = [0] * spec.concurrency

    def work(i: int) -> None:
        rng = random.Random(i)
        client = workload.open_client(ctx, cluster.nodes[i % len(cluster.nodes)], i)
        script = workload.script(i, rng)
        step = next(script)
        try:
            while not stop.is_set():
                assert isinstance(step, Invocation)
                done = client.invoke(Op(type=OpType.INVOKE, f=step.f, value=step.value, key=step.key, process=i))
                counts[i] += 1
                step = script.send(done)
        finally:
            client.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(spec.concurrency)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return sum(counts) / (time.monotonic() - t0)


def recorded_loop(cluster: DockerCluster, spec: TestSpec, seconds: float, tmp: Path) -> float:
    """The runner's own workers, recording every op to history.jsonl: completions over the op phase."""
    run_dir = Path(tempfile.mkdtemp(dir=tmp))
    run = Run(spec, run_dir, None, cluster=cluster)
    elapsed = run.run_workers(with_nemesis=False)
    run.seal()
    completions = sum(1 for op in run.writer.history() if not op.is_invoke)
    return completions / elapsed


def check_perf(cluster: DockerCluster, load: str) -> tuple[float | None, str]:
    """``etcdctl check perf --load=<load>`` run in node n1 against every member: (writes/s, its output)."""
    endpoints = ",".join(f"{n.ip}:2379" for n in cluster.nodes)
    _, out = cluster.exec(cluster.nodes[0], ["etcdctl", f"--endpoints={endpoints}", "check", "perf",
                                                f"--load={load}", "--auto-compact", "--auto-defrag"], check=False)
    # "PASS: Throughput is 151 writes/s" or "FAIL: Throughput too low: 523 writes/s"
    match = re.search(r"Throughput (?:is|too low:) (\d+(?:\.\d+)?) writes/s", out)
    return (float(match.group(1)) if match else None), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--image", default=TestSpec().image)
    ap.add_argument("--perf-load", default="l", choices=("s", "m", "l", "xl"),
                    help="etcdctl check perf's workload model (s: 50 clients capped at 150 writes/s, m: 200 at 1000, "
                         "l: 500 at 8000, xl: 1000 at 15000); 'l' is above what a small machine reaches, so it "
                         "measures the ceiling (default l)")
    ap.add_argument("--no-check-perf", action="store_true", help="skip etcdctl check perf (it takes 60 s)")
    args = ap.parse_args()
    spec = TestSpec(nodes=3, concurrency=args.concurrency, rate=0, time_limit=args.seconds, nemesis=(),
                    image=args.image)
    raw, recorded = [], []
    perf: float | None = None
    with tempfile.TemporaryDirectory() as tmp, DockerCluster(run_id=f"bench-{int(time.time())}", size=3,
                                                             image=args.image) as cluster:
        print(f"3-node cluster up in {cluster.started_in_s:.2f} s; {args.rounds} rounds of {args.seconds:g} s, "
              f"concurrency {args.concurrency}")
        for r in range(args.rounds):
            raw.append(raw_loop(cluster, spec, args.seconds))
            recorded.append(recorded_loop(cluster, spec, args.seconds, Path(tmp)))
            print(f"round {r + 1}: raw {raw[-1]:8.1f} ops/s   recorded {recorded[-1]:8.1f} ops/s", flush=True)
        if not args.no_check_perf:
            print(f"etcdctl check perf --load={args.perf_load} (60 s) ...", flush=True)
            perf, out = check_perf(cluster, args.perf_load)
            if perf is None:
                print(f"etcdctl check perf gave no throughput:\n{out}")
    raw_m, rec_m = statistics.median(raw), statistics.median(recorded)
    print(f"median: raw {raw_m:.1f} ops/s, recorded {rec_m:.1f} ops/s, "
          f"recording costs {100 * (1 - rec_m / raw_m):.1f}% (target <= 10%)")
    if perf:
        print(f"etcdctl check perf --load={args.perf_load}: {perf:.0f} writes/s; the harness (recorded, concurrency "
              f"{args.concurrency}) reaches {rec_m / perf:.2f}x of it, raw {raw_m / perf:.2f}x (goal >= 0.8x)")


if __name__ == "__main__":
    main()
