"""Recorded ops/s against a 3-node cluster, next to a raw client loop without recording.

Both loops run in the same process against the same cluster, alternating
(raw, recorded, raw, recorded, ...) so that machine noise hits both alike.
Prints each round and the medians; the target is that recording costs at most 10%.

    .venv/bin/python bench/throughput.py [--seconds 10] [--rounds 3] [--concurrency 10]
"""

from __future__ import annotations

import argparse
import random
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
    """The runner's own workers, recording every op to history.jsonl."""
    run_dir = Path(tempfile.mkdtemp(dir=tmp))
    run = Run(spec, run_dir, None, cluster=cluster)
    ctx = WorkloadContext(spec=spec, cluster=cluster)
    elapsed = run.run_workers(ctx, with_nemesis=False)
    run.writer.close()
    completions = sum(1 for op in run.writer.history() if not op.is_invoke)
    return completions / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=10)
    ap.add_argument("--image", default=TestSpec().image)
    args = ap.parse_args()
    spec = TestSpec(nodes=3, concurrency=args.concurrency, rate=0, time_limit=args.seconds, nemesis=(),
                    image=args.image)
    raw, recorded = [], []
    with tempfile.TemporaryDirectory() as tmp, DockerCluster(run_id=f"bench-{int(time.time())}", size=3,
                                                             image=args.image) as cluster:
        print(f"3-node cluster up in {cluster.started_in_s:.2f} s; {args.rounds} rounds of {args.seconds:g} s, "
              f"concurrency {args.concurrency}")
        for r in range(args.rounds):
            raw.append(raw_loop(cluster, spec, args.seconds))
            recorded.append(recorded_loop(cluster, spec, args.seconds, Path(tmp)))
            print(f"round {r + 1}: raw {raw[-1]:8.1f} ops/s   recorded {recorded[-1]:8.1f} ops/s")
    raw_m, rec_m = statistics.median(raw), statistics.median(recorded)
    print(f"median: raw {raw_m:.1f} ops/s, recorded {rec_m:.1f} ops/s, "
          f"recording costs {100 * (1 - rec_m / raw_m):.1f}% (target <= 10%)")


if __name__ == "__main__":
    main()
