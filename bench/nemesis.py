"""Median time to apply and to heal each fault on a real etcd cluster.

    .venv/bin/python bench/nemesis.py [--nodes 5] [--rounds 5] [--image TAG]

"Apply" is ``start`` (apply + verify); "heal" is ``stop`` (undo + verify:
for kill, the restart until the node has rejoined). Each kind is started and
stopped ``--rounds`` times on one cluster; the figures are medians, and a
kind that cannot be applied on this machine says why. Nothing outlives the
script: every family is healed and the cluster torn down in ``finally``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.etcd import DEFAULT_IMAGE, DockerCluster
from nemesis import FAULTS, Fault, FaultNotApplied, Kill, Latency, Loss, Partition, Pause, leftovers

KINDS: dict[str, Callable[[], Fault]] = {
    **{f"partition {s}": (lambda s=s: Partition(shapes=(s,)))  # type: ignore[misc]
       for s in ("halves", "isolate-one", "isolate-leader", "majorities-ring", "bridge")},
    "partition halves (tc)": lambda: Partition(shapes=("halves",), backend="tc"),
    **{f"pause {t}": (lambda t=t: Pause(targets=(t,))) for t in ("leader", "one", "all")},  # type: ignore[misc]
    **{f"kill {t}": (lambda t=t: Kill(targets=(t,))) for t in ("leader", "one", "minority", "all")},  # type: ignore[misc]
    "latency": Latency,
    "loss": Loss,
}


def median(xs: list[float]) -> str:
    return f"{statistics.median(xs):8.2f}" if xs else f"{'-':>8}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", type=int, default=5)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--image", default=DEFAULT_IMAGE)
    p.add_argument("--only", default="", help="comma-separated kinds (default: all)")
    args = p.parse_args()
    kinds = [k for k in KINDS if not args.only or k in args.only.split(",")]
    cluster = DockerCluster(run_id=f"bench-nemesis-{os.getpid()}", size=args.nodes, image=args.image)
    rng = random.Random(0)
    print(f"{'fault':<28} {'apply s':>8} {'heal s':>8}  rounds  note")
    try:
        cluster.start()
        for kind in kinds:
            applies: list[float] = []
            heals: list[float] = []
            note = ""
            for _ in range(args.rounds):
                fault = KINDS[kind]()
                try:
                    t0 = time.monotonic()
                    fault.start(cluster, rng)
                    applies.append(time.monotonic() - t0)
                    t0 = time.monotonic()
                    fault.stop(cluster)
                    heals.append(time.monotonic() - t0)
                except FaultNotApplied as e:
                    note = str(e).splitlines()[0][:90]
                finally:
                    fault.heal(cluster)
                cluster.wait_healthy(60)
                if note and not applies:
                    break  # cannot be applied here at all: say why once
            print(f"{kind:<28} {median(applies)} {median(heals)}  {len(applies):>6}  {note}", flush=True)
        left = leftovers(cluster)
        print(f"leftovers after all rounds: {left or 'none'}")
        return 1 if left else 0
    finally:
        for make in FAULTS.values():
            make().heal(cluster)
        cluster.teardown()


if __name__ == "__main__":
    sys.exit(main())
