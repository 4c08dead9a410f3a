"""How often each canary fires, and how often each safe variant passes, across N seeds.

Runs real clusters in Docker, one at a time (a few minutes per seed)::

    .venv/bin/python bench/canaries.py --seeds 5 --results-dir /tmp/canaries
    .venv/bin/python bench/canaries.py --seeds 1 --only counter-unsafe

A canary *fires* when its verdict is invalid (``false``); a safe variant
*passes* when its verdict is valid. Anything else (unknown, a crash) is counted
apart and printed: a safe variant that is invalid is a false alarm, a bug.
Prints one line per run, then a table of rates and median ops/s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import TestSpec, run_test

IMAGE_34 = "etcd-harness/etcd:3.4.23"


@dataclass(frozen=True)
class Variant:
    name: str
    canary: bool  # True: must be invalid; False: must be valid
    spec: TestSpec
    why: str
    extra: dict[str, Any] = field(default_factory=dict)


#: The lock canaries pause the node of the newest lock holder, whose critical section lasts up to
#: HOLD_S, longer than the 2 s lease: its keepalives stall, the lease expires, a waiter on another
#: node is granted the lock while the holder still works.
HOLD_S = 5
PAUSE_HOLDER = ("pause:lock-holder",)
PAUSE_WAITER = ("pause:lock-waiter",)

VARIANTS = [
    Variant("register-serializable", True,
            TestSpec(workload="register", read_mode="serializable", nemesis=("partition",), time_limit=60),
            "stale reads from a partitioned member's local state"),
    Variant("lock-set-pause-holder", True,
            TestSpec(workload="lock-set", nemesis=PAUSE_HOLDER, time_limit=60, options={"hold_max": HOLD_S}),
            "the holder's node is paused past the TTL: its lease expires mid-hold, a waiter gets the lock"),
    Variant("lock-set-pause-holder-3.4", True,
            TestSpec(workload="lock-set", nemesis=PAUSE_HOLDER, time_limit=60, options={"hold_max": HOLD_S},
                     image=IMAGE_34),
            "the same on etcd 3.4.23"),
    Variant("lock-set-pause-waiter-3.4", True,
            TestSpec(workload="lock-set", nemesis=PAUSE_WAITER, time_limit=60, image=IMAGE_34),
            "a waiter paused past its TTL is granted the lock on resume (3.4's lock service; fixed in 3.5)",
            extra={"optional": True}),
    Variant("lock-set-pause-waiter-3.5", True,
            TestSpec(workload="lock-set", nemesis=PAUSE_WAITER, time_limit=60),
            "3.5 refuses the expired waiter ('session is expired'); holders paused with it still lose leases",
            extra={"optional": True}),
    Variant("counter-unsafe", True,
            TestSpec(workload="counter", counter_mode="unsafe", nemesis=(), time_limit=30),
            "read-then-put increments overwrite each other"),
    Variant("lock-etcd-set-pause-holder", False,
            TestSpec(workload="lock-etcd-set", nemesis=PAUSE_HOLDER, time_limit=60, options={"hold_max": HOLD_S}),
            "the lock-set canary's faults, but writes fenced by the lock key's create_revision"),
    Variant("lock-etcd-set-pause", False,
            TestSpec(workload="lock-etcd-set", nemesis=("pause",), time_limit=60),
            "fenced writes under random pauses (leader, one, all)"),
    Variant("register-partition-kill", False,
            TestSpec(workload="register", nemesis=("partition", "kill"), time_limit=60),
            "linearizable reads and txn cas"),
    Variant("counter-partition-kill", False,
            TestSpec(workload="counter", nemesis=("partition", "kill"), time_limit=60),
            "txn guarded by mod_revision, retried only on a failed compare"),
]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--first-seed", type=int, default=1)
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--time-limit", type=float, default=0, help="override every variant's seconds (0: keep)")
    p.add_argument("--only", default="", help="comma-separated variant names")
    p.add_argument("--results-dir", default="/tmp/etcd-harness-canaries")
    args = p.parse_args(argv)

    wanted = {n for n in args.only.split(",") if n}
    # Optional variants (informative, not a canary that must fire) run only when named in --only.
    variants = [v for v in VARIANTS if v.name in wanted or (not wanted and not v.extra.get("optional"))]
    rows: list[tuple[Variant, list[Any], list[float]]] = []
    for v in variants:
        verdicts: list[Any] = []
        rates: list[float] = []
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            spec = replace(v.spec, seed=seed, nodes=args.nodes, results_dir=args.results_dir,
                           name=f"bench-{v.name}", time_limit=args.time_limit or v.spec.time_limit)
            t0 = time.monotonic()
            outcome = run_test(spec)
            verdicts.append(outcome.valid)
            rates.append(float(outcome.stats.get("ops_per_s", 0.0)))
            reasons = "; ".join(f"{k}: {c.get('reason', '')}" for k, c in outcome.results["checkers"].items())
            print(f"{v.name:<26} seed {seed}: valid={outcome.valid!s:<7} {rates[-1]:7.1f} ops/s "
                  f"{time.monotonic() - t0:5.0f} s  {reasons[:160]}", flush=True)
        rows.append((v, verdicts, rates))

    print("\nvariant                    kind    result                      median ops/s  why")
    for v, verdicts, rates in rows:
        hits = sum(1 for x in verdicts if x is (not v.canary))
        other = sum(1 for x in verdicts if x == "unknown")
        label = "fired" if v.canary else "passed"
        print(f"{v.name:<26} {'canary' if v.canary else 'safe':<7} {hits}/{len(verdicts)} {label:<7}"
              f"{f' ({other} unknown)' if other else '':<13}{statistics.median(rates):9.1f}     {v.why}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
