"""Figures for the HTML report: page size and generation time.

Prints, for synthetic register runs (``tests.sample_run``) of 60 s at a few
rates and one of 100,000 client ops, the time ``write_report`` takes and the size
of ``report.html``. The issue's limits: a 60 s run's page at most 2 MB, 100,000 ops
generated in at most 5 s. Pass a run directory to measure a real run instead::

    .venv/bin/python bench/report.py
    .venv/bin/python bench/report.py results/latest
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from harness.report import write_report
from tests.sample_run import make_sample_run

SIZE_LIMIT = 2_000_000
TIME_LIMIT_S = 5.0


def measure(run_dir: Path, label: str) -> tuple[float, int]:
    start = time.perf_counter()
    page = write_report(run_dir)
    elapsed = time.perf_counter() - start
    size = page.stat().st_size
    print(f"{label:<44} generate {elapsed:6.2f} s   report.html {size / 1e6:6.2f} MB")
    return elapsed, size


def main(argv: list[str]) -> int:
    if argv:
        for arg in argv:
            measure(Path(arg), arg)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        root = Path(tmp)
        sizes: list[int] = []
        for rate in (50, 200, 500, 1000):
            ops = rate * 60
            run = make_sample_run(root / f"r{rate}", ops=ops, seconds=60, concurrency=10, locks=True, counter=True)
            _, size = measure(run, f"60 s run at {rate} ops/s ({ops} ops)")
            sizes.append(size)
        big = make_sample_run(root / "big", ops=100_000, seconds=300, concurrency=20)
        elapsed, big_size = measure(big, "100,000 ops (300 s, 20 processes)")
        print()
        print(
            f"60 s run, 1000 ops/s: {sizes[-1] / 1e6:.2f} MB (limit {SIZE_LIMIT / 1e6:.0f} MB)"
            f"{'' if sizes[-1] <= SIZE_LIMIT else '  OVER THE LIMIT'}"
        )
        print(
            f"100,000 ops: {elapsed:.2f} s to generate (limit {TIME_LIMIT_S:.0f} s)"
            f"{'' if elapsed <= TIME_LIMIT_S else '  OVER THE LIMIT'}, {big_size / 1e6:.2f} MB"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
