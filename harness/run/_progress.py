"""Live progress of a suite: one updating line on a terminal, plain lines elsewhere."""

from __future__ import annotations

import shutil
import statistics
import time
from typing import Any, TextIO

from harness.run._outcome import EntryResult, verdict_word
from harness.run._plan import OVERHEAD_GUESS_S, Plan, PlanEntry, nemesis_label


def format_seconds(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class Progress:
    """Live progress: one updating line on a terminal, a plain line every ``every_s`` seconds otherwise."""

    def __init__(self, plan: Plan, stream: TextIO, *, tty: bool, every_s: float = 5.0) -> None:
        self.plan = plan
        self.stream = stream
        self.tty = tty
        self.every_s = every_s
        self.index = 0
        self.entry: PlanEntry | None = None
        self.overheads: list[float] = []
        self.counts: dict[str, int] = {}
        self._last_plain = 0.0
        self._line_open = False

    def overhead_s(self) -> float:
        return statistics.median(self.overheads) if self.overheads else OVERHEAD_GUESS_S

    def suite_left_s(self, entry_left_s: float) -> float:
        later = self.plan.entries[self.index + 1:]
        return entry_left_s + self.overhead_s() + sum(e.spec.time_limit + self.overhead_s() for e in later)

    def start(self, index: int, entry: PlanEntry) -> None:
        self.index, self.entry = index, entry
        s = entry.spec
        self._last_plain = time.monotonic()
        self.print(f"[{index + 1}/{len(self.plan.entries)}] {entry.name}: {s.workload}, nemesis "
                   f"{nemesis_label(s.nemesis)}, {s.nodes} nodes, {s.image}, {s.time_limit:g} s, seed {s.seed}, "
                   f"expect {entry.expect}")

    def update(self, info: dict[str, Any]) -> None:
        """The runner's progress callback (about once a second)."""
        if self.entry is None:
            return
        elapsed, left = float(info.get("elapsed_s", 0.0)), float(info.get("remaining_s", 0.0))
        text = (f"[{self.index + 1}/{len(self.plan.entries)}] {self.entry.name}  {format_seconds(elapsed)} elapsed, "
                f"{format_seconds(left)} left  {float(info.get('ops_per_s', 0.0)):.0f} ops/s  "
                f"suite ~{format_seconds(self.suite_left_s(left))} left  {self.tally()}")
        if self.tty:
            width = shutil.get_terminal_size((120, 20)).columns
            self.stream.write("\r\x1b[K" + text[: width - 1])
            self.stream.flush()
            self._line_open = True
        elif time.monotonic() - self._last_plain >= self.every_s:
            self._last_plain = time.monotonic()
            self.print(text)

    def tally(self) -> str:
        return ", ".join(f"{n} {k}" for k, n in self.counts.items() if n) or "no verdicts yet"

    def finish(self, result: EntryResult) -> None:
        self.counts[result.status] = self.counts.get(result.status, 0) + 1
        if result.status in ("pass", "fail"):
            self.overheads.append(max(0.0, result.duration_s - result.entry.spec.time_limit))
        word = result.status.upper()
        line = (f"[{self.index + 1}/{len(self.plan.entries)}] {word:<11} {result.entry.name}: "
                f"{verdict_word(result.verdict)} (expected {result.entry.expect}) in {result.duration_s:.1f} s")
        if result.message and result.status != "pass":
            line += f" - {result.message}"
        if result.report is not None and result.report.exists():
            line += f"\n      report: {result.report}"
        self.print(line)

    def print(self, text: str) -> None:
        if self._line_open:
            self.stream.write("\r\x1b[K")
            self._line_open = False
        self.stream.write(text + "\n")
        self.stream.flush()

