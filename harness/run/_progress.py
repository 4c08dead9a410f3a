"""Live progress of a suite: one updating line on a terminal, plain lines elsewhere.

With ``--jobs J`` several entries run at once. Every line then starts with the
entry it is about (``[3/126] register-kill-3.5.16: ...``) and is written whole by
one thread (the suite's), so lines of different entries never interleave; on a
terminal the one live line shows every running entry side by side.
"""

from __future__ import annotations

import shutil
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from harness.run._outcome import EntryResult, verdict_word
from harness.run._plan import Plan, PlanEntry, expected_s, nemesis_label


def format_seconds(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


@dataclass(slots=True)
class _Running:
    entry: PlanEntry
    info: dict[str, Any] = field(default_factory=dict)
    last_plain: float = 0.0


class Progress:
    """Live progress: one updating line on a terminal, a plain line every ``every_s`` seconds (per entry)
    otherwise. ``jobs`` is how many entries run at once, for the remaining-time estimate."""

    def __init__(self, plan: Plan, stream: TextIO, *, tty: bool, every_s: float = 5.0, jobs: int = 1) -> None:
        self.plan = plan
        self.stream = stream
        self.tty = tty
        self.every_s = every_s
        self.jobs = max(1, jobs)
        self.index = 0  # the entry started last: the one :meth:`update` is about
        self.entry: PlanEntry | None = None
        self.running: dict[int, _Running] = {}
        self.started: set[int] = set()
        self.overheads: list[float] = []
        self.counts: dict[str, int] = {}
        self._line_open = False

    def prefix(self, index: int) -> str:
        return f"[{index + 1}/{len(self.plan.entries)}]"

    def entry_s(self, entry: PlanEntry) -> float:
        """An entry's expected seconds: its time limit plus the overhead measured so far (median), or
        :func:`expected_s` until one has finished."""
        if self.overheads:
            return entry.spec.time_limit + statistics.median(self.overheads)
        return expected_s(entry.spec)

    def suite_left_s(self, entry_left_s: float | None = None) -> float:
        """Seconds until the suite is done: what is left of the running entries and the entries not yet
        started, spread over the job slots."""
        left = 0.0
        for i, r in self.running.items():
            op_left = entry_left_s if entry_left_s is not None and i == self.index else \
                float(r.info.get("remaining_s", r.entry.spec.time_limit))
            left += op_left + self.entry_s(r.entry) - r.entry.spec.time_limit
        left += sum(self.entry_s(e) for i, e in enumerate(self.plan.entries) if i not in self.started)
        return left / self.jobs

    def start(self, index: int, entry: PlanEntry) -> None:
        self.index, self.entry = index, entry
        self.running[index] = _Running(entry, last_plain=time.monotonic())
        self.started.add(index)
        s = entry.spec
        self.print(f"{self.prefix(index)} {entry.name}: {s.workload}, nemesis "
                   f"{nemesis_label(s.nemesis)}, {s.nodes} nodes, {s.image}, {s.time_limit:g} s, seed {s.seed}, "
                   f"expect {entry.expect}")

    def update(self, info: dict[str, Any]) -> None:
        """The runner's progress callback (about once a second), for the entry started last."""
        if self.entry is not None:
            self.update_entry(self.index, info)

    def update_entry(self, index: int, info: dict[str, Any]) -> None:
        """Progress of the running entry ``index``: ``elapsed_s``, ``remaining_s``, ``ops_per_s``."""
        running = self.running.get(index)
        if running is None:
            return
        running.info = info
        elapsed, left = float(info.get("elapsed_s", 0.0)), float(info.get("remaining_s", 0.0))
        if len(self.running) == 1 or not self.tty:
            text = (f"{self.prefix(index)} {running.entry.name}  {format_seconds(elapsed)} elapsed, "
                    f"{format_seconds(left)} left  {float(info.get('ops_per_s', 0.0)):.0f} ops/s  "
                    f"suite ~{format_seconds(self.suite_left_s())} left  {self.tally()}")
        else:  # one terminal line for every running entry
            parts = [f"{self.prefix(i)} {r.entry.name} {format_seconds(float(r.info.get('remaining_s', 0.0)))} left"
                     for i, r in sorted(self.running.items())]
            text = f"{' | '.join(parts)}  suite ~{format_seconds(self.suite_left_s())} left  {self.tally()}"
        if self.tty:
            width = shutil.get_terminal_size((120, 20)).columns
            self.stream.write("\r\x1b[K" + text[: width - 1])
            self.stream.flush()
            self._line_open = True
        elif time.monotonic() - running.last_plain >= self.every_s:
            running.last_plain = time.monotonic()
            self.print(text)

    def entry_line(self, index: int, text: str) -> None:
        """A line about a running entry (its process's log output, with ``--jobs``): prefixed with it."""
        running = self.running.get(index)
        name = running.entry.name if running is not None else self.plan.entries[index].name
        self.print(f"{self.prefix(index)} {name}: {text}")

    def tally(self) -> str:
        return ", ".join(f"{n} {k}" for k, n in self.counts.items() if n) or "no verdicts yet"

    def finish(self, result: EntryResult, index: int | None = None) -> None:
        """An entry is done (``index``: which one; default the one started last)."""
        index = self.index if index is None else index
        self.running.pop(index, None)
        self.counts[result.status] = self.counts.get(result.status, 0) + 1
        if result.status in ("pass", "fail"):
            self.overheads.append(max(0.0, result.duration_s - result.entry.spec.time_limit))
        word = result.status.upper()
        line = (f"{self.prefix(index)} {word:<11} {result.entry.name}: "
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
