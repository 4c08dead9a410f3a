"""Splitting a plan into N shards balanced by expected time, for ``etcd-harness suite --shard K/N``.

Contract:

* **Every entry lands in exactly one shard**, whatever N (an N above the number of
  entries leaves some shards empty; an empty shard still runs, and writes results
  that say so, so that ``merge`` finds every shard).
* **Deterministic.** The split depends only on the plan's entries and their weights:
  every CI runner that parses the same plan (and is given the same ``--durations``)
  computes the same split, with no coordination. It is LPT (longest processing
  time first): entries in order of decreasing weight, ties broken by their position
  in the plan, each to the shard with the least total so far (ties: the lowest
  shard number).
* **Balance.** An entry's weight is its :func:`~harness.run._plan.expected_s`, or its
  measured duration in an earlier ``suite.json`` when one is given. LPT guarantees
  ``max(shard) - min(shard) <= the heaviest entry``: the most loaded shard was the
  least loaded one when it got its last entry. So shards are within 20% of each
  other whenever the least loaded shard holds at least five times the heaviest entry;
  with fewer entries than that per shard, the bound is the heaviest entry. On the
  nightly plan (126 entries of 81-87 s) that is every N from 1 to 8 (see
  ``tests/unit/test_shard.py``).
* :func:`split_digest` names the split, so ``merge`` can tell shards that were split
  differently (different ``--durations`` files) from shards of one split.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.core import InputError, UsageError
from harness.run._plan import Plan, PlanEntry, expected_s

#: The largest N accepted: far more runners than any CI gives one pipeline.
MAX_SHARDS = 1000

_SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``index`` of ``count`` (1-based): its entries in plan order and their summed weight."""

    index: int
    count: int
    entries: tuple[PlanEntry, ...]
    expected_s: float

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"

    def plan(self, plan: Plan) -> Plan:
        """``plan`` with only this shard's entries."""
        return dataclasses.replace(plan, entries=self.entries)


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/8"`` -> ``(2, 8)``; :class:`UsageError` saying what is allowed otherwise."""
    m = _SHARD.fullmatch(text)
    if not m:
        raise UsageError(f"--shard {text!r}: expected K/N, shard K of N, e.g. --shard 2/8")
    index, count = int(m.group(1)), int(m.group(2))
    if not 1 <= count <= MAX_SHARDS:
        raise UsageError(f"--shard {text!r}: N must be 1 to {MAX_SHARDS}")
    if not 1 <= index <= count:
        raise UsageError(f"--shard {text!r}: K must be 1 to N ({count})")
    return index, count


def entry_weights(plan: Plan, durations: Mapping[str, float] | None = None) -> list[float]:
    """Each entry's weight: its measured duration from ``durations`` (entry name -> seconds) if there,
    else :func:`expected_s`."""
    durations = durations or {}
    return [float(durations.get(e.name, expected_s(e.spec))) for e in plan.entries]


def split_plan(plan: Plan, count: int, durations: Mapping[str, float] | None = None) -> tuple[Shard, ...]:
    """The ``count`` shards of ``plan`` (see the module docstring)."""
    if count < 1:
        raise ValueError(f"count must be 1 or more, got {count}")
    weights = entry_weights(plan, durations)
    loads = [0.0] * count
    members: list[list[int]] = [[] for _ in range(count)]
    for i in sorted(range(len(weights)), key=lambda i: (-weights[i], i)):
        target = min(range(count), key=lambda k: (loads[k], k))
        loads[target] += weights[i]
        members[target].append(i)
    return tuple(
        Shard(index=k + 1, count=count, entries=tuple(plan.entries[i] for i in sorted(members[k])),
              expected_s=loads[k])
        for k in range(count)
    )


def split_digest(shards: Sequence[Shard]) -> str:
    """A short hash of which entry went to which shard."""
    text = json.dumps([[e.name for e in s.entries] for s in shards], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def wall_time_s(weights: Sequence[float], jobs: int) -> float:
    """The expected wall time of running entries of ``weights`` in order, ``jobs`` at a time
    (each entry starts on the first slot to free up, as ``--jobs`` does)."""
    slots = [0.0] * max(1, jobs)
    for w in weights:
        k = min(range(len(slots)), key=lambda k: slots[k])
        slots[k] += w
    return max(slots)


def load_durations(path: str | Path) -> dict[str, float]:
    """Measured durations (entry name -> seconds) from an earlier run's ``suite.json``: the entries that
    ran to a verdict (pass or fail), not the ones that errored, were interrupted or were skipped."""
    path = Path(path)
    if path.is_dir():
        path = path / "suite.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, None, "no such file; --durations takes an earlier suite's suite.json "
                                     "(or its folder)") from None
    except (OSError, ValueError) as e:
        raise InputError(path, None, f"cannot read it as a suite.json: {e}") from None
    entries = data.get("entries") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise InputError(path, None, "not a suite.json: it has no 'entries' list")
    out: dict[str, float] = {}
    for item in entries:
        if (isinstance(item, dict) and item.get("status") in ("pass", "fail") and isinstance(item.get("name"), str)
                and isinstance(item.get("duration_s"), int | float) and item["duration_s"] > 0):
            out[item["name"]] = float(item["duration_s"])
    return out
