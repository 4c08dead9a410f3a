"""Suites: a YAML test plan, run entry by entry, with live progress, a summary and JUnit XML.

A plan (``suites/*.yaml``) is a mapping::

    name: nightly                 # optional; default: the file name without .yaml
    description: every workload x every fault family x etcd 3.4 and 3.5
    defaults:                     # optional; any entry key, for every entry
      nodes: 5
      time_limit: 60
    tests:                        # required; each entry is a matrix
      - workload: [register, counter]          # list → one entry per value
        nemesis: [partition, kill, partition+kill, none]
        image: [etcd-harness/etcd:3.5.16, etcd-harness/etcd:3.4.23]
        seed: [1, 2]
      - name: stale-reads-canary
        workload: register
        read_mode: serializable
        expect: invalid                        # a canary: it must find an anomaly

The matrix axes are ``workload``, ``nemesis``, ``nodes``, ``image`` and ``seed``:
each takes one value or a list, and an entry expands to their product. In
``nemesis``, ``+`` (or ``,``) combines faults into one entry (``partition+kill``),
``all`` is every fault at once and ``none`` is no fault. An entry may also set
``time_limit``, ``concurrency``, ``rate``, ``ttl``, ``read_mode``, ``counter_mode``,
``nemesis_interval``, ``ops_per_key``, ``request_timeout``, ``recovery_timeout``,
``check_time_limit``, ``check_memory_mb``, ``options`` (workload extras) and
``expect`` (``valid``, the default; ``invalid`` for canaries; ``unknown``; ``any``).
An entry without a seed gets a random one, recorded in its ``config.json`` and
in ``junit.xml``, so every entry can be replayed with ``etcd-harness test --replay``.

Contract:

* The whole plan is validated before anything starts. An unknown key, workload
  or nemesis, or a value of the wrong type, is a :class:`PlanError` (exit 3)
  naming the file, the line and the allowed values. ``etcd-harness suite``
  then checks that Docker is reachable and every image is there (exit 4).
* Each entry runs on a fresh cluster (:func:`harness._runner.run_test`); run
  directories go below ``results/<suite>/<timestamp>/``, beside ``junit.xml``
  (one testcase per entry), ``summary.txt`` and ``suite.json``.
* The exit code is 0 when every entry's verdict is what it expected; else 1 if
  some verdict (valid or invalid) differed, else 4 if some entry could not run
  (infrastructure), else 5 (a verdict was unexpectedly unknown).
* Ctrl-C or SIGTERM tears down the current cluster, then stops: the summary and
  ``junit.xml`` are still written (the interrupted entry is an error, entries
  not reached are skipped), and the exit code is 130.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import itertools
import json
import os
import random
import re
import shutil
import signal
import statistics
import sys
import time
import traceback
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TextIO

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from harness._errors import (
    EXIT_INFRA,
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_UNKNOWN,
    EXIT_VALID,
    HarnessError,
    PlanError,
)
from harness._spec import TestSpec

if TYPE_CHECKING:
    import argparse

    from harness._runner import RunOutcome

Expect = Literal["valid", "invalid", "unknown", "any"]
EXPECTS: tuple[Expect, ...] = ("valid", "invalid", "unknown", "any")
Status = Literal["pass", "fail", "error", "interrupted", "skipped"]

TOP_KEYS = ("name", "description", "defaults", "tests")
AXES = ("workload", "nemesis", "nodes", "image", "seed")
NODE_COUNTS = (1, 3, 5, 7)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,79}$")
#: Seconds an entry takes besides its time limit (cluster start, recovery, check, teardown),
#: used for the remaining-time estimate until the suite has measured its own.
OVERHEAD_GUESS_S = 20.0


# -- the plan --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlanEntry:
    """One test of a plan, after matrix expansion: a full :class:`TestSpec` and its expected verdict."""

    name: str
    spec: TestSpec
    expect: Expect
    line: int  # 1-based line of the plan entry it came from


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    path: Path
    description: str
    entries: tuple[PlanEntry, ...]

    def estimated_s(self, overhead_s: float = OVERHEAD_GUESS_S) -> float:
        return sum(e.spec.time_limit + overhead_s for e in self.entries)


def load_plan(path: str | Path, *, seeds: random.Random | None = None) -> Plan:
    """Read and validate a plan file; :class:`PlanError` (file:line, allowed values) if it is not valid."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanError(path, None, "no such plan file; plans live in suites/*.yaml") from None
    except (OSError, UnicodeDecodeError) as e:
        raise PlanError(path, None, f"cannot read the plan: {e}") from None
    return parse_plan(text, path, seeds=seeds)


def parse_plan(text: str, path: str | Path = "<plan>", *, seeds: random.Random | None = None) -> Plan:
    """Validate plan ``text`` (named ``path`` in errors) and expand its matrix.

    ``seeds`` draws the seed of entries that give none (default: a fresh random source).
    """
    return _PlanReader(Path(path), seeds or random.Random()).read(text)


@dataclass(frozen=True, slots=True)
class _Field:
    """How one entry key is validated: ``convert(value) -> value`` or a message saying what is allowed."""

    convert: Callable[[Any], Any]
    what: str  # "a positive number of seconds": for messages


class _Bad(Exception):
    """A value that does not fit; the message says what is allowed."""


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _positive_number(v: Any) -> float:
    if not _is_number(v) or v <= 0:
        raise _Bad
    return float(v)


def _non_negative_number(v: Any) -> float:
    if not _is_number(v) or v < 0:
        raise _Bad
    return float(v)


def _positive_int(v: Any) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise _Bad
    return v


def _seed(v: Any) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise _Bad
    return v


def _one_of(*allowed: Any) -> Callable[[Any], Any]:
    def convert(v: Any) -> Any:
        if isinstance(v, bool) or v not in allowed:
            raise _Bad
        return v

    return convert


def _image(v: Any) -> str:
    if not isinstance(v, str) or not v or any(c.isspace() for c in v):
        raise _Bad
    return v


def _name(v: Any) -> str:
    if not isinstance(v, str) or not _NAME_RE.match(v):
        raise _Bad
    return v


def _options(v: Any) -> dict[str, Any]:
    if not isinstance(v, dict) or not all(isinstance(k, str) for k in v):
        raise _Bad
    try:
        json.dumps(v)
    except (TypeError, ValueError):
        raise _Bad from None
    return v


_FIELDS: dict[str, _Field] = {
    "name": _Field(_name, "a name of letters, digits and . _ + - (up to 80)"),
    "nodes": _Field(_one_of(*NODE_COUNTS), f"a cluster size, one of {', '.join(map(str, NODE_COUNTS))}"),
    "image": _Field(_image, "an image tag such as etcd-harness/etcd:3.5.16"),
    "seed": _Field(_seed, "a whole number, 0 or more"),
    "time_limit": _Field(_positive_number, "a positive number of seconds"),
    "concurrency": _Field(_positive_int, "a whole number of client processes, 1 or more"),
    "rate": _Field(_non_negative_number, "a number of ops/s, 0 or more (0 = as fast as possible)"),
    "ttl": _Field(_positive_int, "a whole number of seconds, 1 or more"),
    "read_mode": _Field(_one_of("linearizable", "serializable"), "one of linearizable, serializable"),
    "counter_mode": _Field(_one_of("safe", "unsafe"), "one of safe, unsafe"),
    "nemesis_interval": _Field(_positive_number, "a positive number of seconds"),
    "ops_per_key": _Field(_positive_int, "a whole number, 1 or more"),
    "request_timeout": _Field(_positive_number, "a positive number of seconds"),
    "recovery_timeout": _Field(_positive_number, "a positive number of seconds"),
    "check_time_limit": _Field(_positive_number, "a positive number of seconds"),
    "check_memory_mb": _Field(_positive_int, "a whole number of MiB, 1 or more"),
    "options": _Field(_options, "a mapping of workload options (string keys, JSON values)"),
    "expect": _Field(_one_of(*EXPECTS), f"one of {', '.join(EXPECTS)}"),
}
#: Every key a test entry (or ``defaults``) may have.
ENTRY_KEYS: tuple[str, ...] = tuple(sorted([*_FIELDS, "workload", "nemesis"]))


def _did_you_mean(word: str, allowed: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(allowed), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _PlanReader:
    """Walks the composed YAML nodes, so every error knows its line."""

    def __init__(self, path: Path, seeds: random.Random) -> None:
        self.path = path
        self.seeds = seeds
        self.constructor = SafeConstructor()
        from nemesis import FAULTS
        from workloads import WORKLOADS

        self.workloads = list(WORKLOADS)
        self.faults = list(FAULTS)

    # -- helpers ---------------------------------------------------------------------

    def error(self, node: Node | None, message: str) -> PlanError:
        return PlanError(self.path, node.start_mark.line + 1 if node is not None else None, message)

    def value(self, node: Node) -> Any:
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as e:
            raise self.error(node, f"cannot read this value: {e}") from None

    def mapping(self, node: Node, what: str, allowed: Sequence[str]) -> dict[str, tuple[Node, Node]]:
        """``key -> (key node, value node)``; unknown and repeated keys are errors."""
        if not isinstance(node, MappingNode):
            raise self.error(node, f"{what} must be a mapping with keys: {', '.join(allowed)}")
        self.constructor.flatten_mapping(node)  # YAML merge keys (<<: *defaults)
        out: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            key = self.value(key_node) if isinstance(key_node, ScalarNode) else None
            if not isinstance(key, str):
                raise self.error(key_node, f"keys of {what} must be words; allowed: {', '.join(allowed)}")
            if key not in allowed:
                raise self.error(key_node, f"unknown key {key!r} in {what}{_did_you_mean(key, allowed)}; "
                                           f"allowed: {', '.join(allowed)}")
            if key in out:
                first = out[key][0].start_mark.line + 1
                raise self.error(key_node, f"key {key!r} is repeated in {what} (first on line {first})")
            out[key] = (key_node, value_node)
        return out

    def axis(self, key: str, node: Node) -> list[tuple[Any, Node]]:
        """A matrix axis: a list gives one value per item, anything else is one value."""
        if isinstance(node, SequenceNode):
            if not node.value:
                raise self.error(node, f"{key}: an empty list would expand to no test; give at least one value")
            return [(self.one(key, item), item) for item in node.value]
        return [(self.one(key, node), node)]

    def one(self, key: str, node: Node) -> Any:
        if key == "workload":
            return self.workload(node)
        if key == "nemesis":
            return self.nemesis(node)
        raw = self.value(node)
        rule = _FIELDS[key]
        try:
            return rule.convert(raw)
        except _Bad:
            shown = "a list" if isinstance(raw, list) else "a mapping" if isinstance(raw, dict) else repr(raw)
            raise self.error(node, f"{key} must be {rule.what}, not {shown}") from None

    def workload(self, node: Node) -> str:
        name = self.value(node)
        if not isinstance(name, str) or name not in self.workloads:
            shown = name if isinstance(name, str) else repr(name)
            raise self.error(node, f"unknown workload {shown!r}{_did_you_mean(str(shown), self.workloads)}; "
                                   f"allowed: {', '.join(self.workloads)}")
        return name

    def nemesis(self, node: Node) -> tuple[str, ...]:
        """One nemesis value: ``partition``, ``partition+kill``, ``pause:lock-holder``, ``all``, ``none``
        or a list to combine."""
        from nemesis import TARGETS, check_fault_name, check_repeats, split_target

        allowed = [*self.faults, "all", "none"]
        example = f", e.g. {self.faults[0]}+{self.faults[1]}" if len(self.faults) > 1 else ""
        hint = f"allowed: {', '.join(allowed)} (combine faults with '+'{example})"
        raw = self.value(node)
        if isinstance(raw, str):
            names = [n.strip() for n in re.split(r"[+,]", raw) if n.strip()]
        elif isinstance(raw, list) and all(isinstance(n, str) for n in raw):
            names = [n.strip() for n in raw]
        else:
            raise self.error(node, f"nemesis must be a fault name or a list of them, not {raw!r}; {hint}")
        if names in ([], ["none"]):
            return ()
        if names == ["all"]:
            return tuple(self.faults)
        for n in names:
            if n in ("all", "none"):
                raise self.error(node, f"'all' and 'none' stand alone; {hint}")
            family, target = split_target(n)
            if family not in self.faults:
                raise self.error(node, f"unknown nemesis {family!r}{_did_you_mean(family, self.faults)}; {hint}")
            why = check_fault_name(n)
            if why:
                raise self.error(node, f"{why}{_did_you_mean(target or '', TARGETS[family])}")
        names = list(dict.fromkeys(names))
        why = check_repeats(names)
        if why:
            raise self.error(node, why)
        return tuple(names)

    # -- the plan ----------------------------------------------------------------------

    def read(self, text: str) -> Plan:
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            line = mark.line + 1 if mark is not None else None
            raise PlanError(self.path, line, f"not valid YAML: {e.problem or e}") from None
        except yaml.YAMLError as e:
            raise PlanError(self.path, None, f"not valid YAML: {e}") from None
        if root is None:
            raise PlanError(self.path, None,
                            f"the plan is empty; it needs a 'tests:' list (keys: {', '.join(TOP_KEYS)})")
        top = self.mapping(root, "the plan", TOP_KEYS)
        name = self.path.stem if self.path.suffix else "suite"
        if "name" in top:
            name = self.one("name", top["name"][1])
        description = ""
        if "description" in top:
            d = self.value(top["description"][1])
            if not isinstance(d, str):
                raise self.error(top["description"][1], "description must be text")
            description = d
        defaults: dict[str, tuple[Node, Node]] = {}
        if "defaults" in top:
            defaults = self.mapping(top["defaults"][1], "defaults", ENTRY_KEYS)
            if "name" in defaults:
                raise self.error(defaults["name"][0], "name cannot be a default: each entry names itself")
        if "tests" not in top:
            raise self.error(root, "the plan has no 'tests:' list of entries")
        tests_node = top["tests"][1]
        if not isinstance(tests_node, SequenceNode) or not tests_node.value:
            raise self.error(tests_node, "tests must be a non-empty list of entries (mappings)")
        entries: list[PlanEntry] = []
        for entry_node in tests_node.value:
            entries.extend(self.expand(entry_node, defaults))
        return Plan(name=name, path=self.path, description=description, entries=tuple(_unique_names(entries)))

    def expand(self, node: Node, defaults: dict[str, tuple[Node, Node]]) -> list[PlanEntry]:
        given = self.mapping(node, "a test entry", ENTRY_KEYS)
        merged = {**defaults, **given}
        line = node.start_mark.line + 1
        axes: dict[str, list[tuple[Any, Node]]] = {}
        for key in AXES:
            if key in merged:
                axes[key] = self.axis(key, merged[key][1])
        settings: dict[str, Any] = {}
        for key, (_, value_node) in merged.items():
            if key not in AXES:
                settings[key] = self.one(key, value_node)
        user_name: str | None = settings.pop("name", None)
        expect: Expect = settings.pop("expect", "valid")
        base = TestSpec()
        values: dict[str, list[Any]] = {
            "workload": [v for v, _ in axes.get("workload", [])] or [base.workload],
            "nemesis": [v for v, _ in axes.get("nemesis", [])] or [base.nemesis],
            "nodes": [v for v, _ in axes.get("nodes", [])] or [base.nodes],
            "image": [v for v, _ in axes.get("image", [])] or [base.image],
            "seed": [v for v, _ in axes.get("seed", [])] or [None],
        }
        varying = [k for k in AXES if len(values[k]) > 1]
        out = []
        for combo in itertools.product(*(values[k] for k in AXES)):
            chosen = dict(zip(AXES, combo, strict=True))
            seed = chosen["seed"] if chosen["seed"] is not None else self.seeds.randrange(1 << 31)
            name = _entry_name(user_name, chosen, varying)
            spec = TestSpec(workload=chosen["workload"], nemesis=chosen["nemesis"], nodes=chosen["nodes"],
                            image=chosen["image"], seed=seed, name=name, **settings)
            why = spec.unsupported_roles()
            if why:
                raise self.error(merged["nemesis"][1] if "nemesis" in merged else node, why)
            out.append(PlanEntry(name=name, spec=spec, expect=expect, line=line))
        return out


def _nemesis_label(names: tuple[str, ...]) -> str:
    return "+".join(names) or "none"


def _image_label(image: str) -> str:
    tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else image.rsplit("/", 1)[-1]
    return re.sub(r"[^A-Za-z0-9._+-]", "_", tag)


def _entry_name(user_name: str | None, chosen: dict[str, Any], varying: list[str]) -> str:
    """``<name or workload-nemesis>`` plus the matrix values that vary within this entry."""
    parts = [user_name or f"{chosen['workload']}-{_nemesis_label(chosen['nemesis']).replace(':', '-')}"]
    for axis in varying:
        if user_name is None and axis in ("workload", "nemesis"):
            continue
        parts.append({
            "workload": lambda: str(chosen["workload"]),
            "nemesis": lambda: _nemesis_label(chosen["nemesis"]).replace(":", "-"),
            "nodes": lambda: f"n{chosen['nodes']}",
            "image": lambda: _image_label(chosen["image"]),
            "seed": lambda: f"s{chosen['seed']}",
        }[axis]())
    return "-".join(parts)


def _unique_names(entries: list[PlanEntry]) -> list[PlanEntry]:
    """Entry names become directory and testcase names: make repeats unique with -2, -3, ..."""
    seen: dict[str, int] = {}
    out = []
    for e in entries:
        n = seen.get(e.name, 0) + 1
        seen[e.name] = n
        if n > 1:
            name = f"{e.name}-{n}"
            e = dataclasses.replace(e, name=name, spec=dataclasses.replace(e.spec, name=name))
        out.append(e)
    return out


# -- results of a run ---------------------------------------------------------------------


@dataclass(slots=True)
class EntryResult:
    entry: PlanEntry
    status: Status
    verdict: bool | str | None = None  # True, False, "unknown"; None if there is none
    message: str = ""  # one sentence: why it failed / errored, or the checker's reason
    run_dir: Path | None = None
    duration_s: float = 0.0
    ops_per_s: float | None = None
    detail: str = ""  # longer text for junit (traceback, checker details)

    @property
    def report(self) -> Path | None:
        return self.run_dir / "report.html" if self.run_dir is not None else None


@dataclass(slots=True)
class SuiteOutcome:
    plan: Plan
    suite_dir: Path
    results: list[EntryResult] = field(default_factory=list)
    interrupted: bool = False
    started_at: str = ""
    duration_s: float = 0.0

    @property
    def exit_code(self) -> int:
        return suite_exit_code(self.results, self.interrupted)


def suite_exit_code(results: Sequence[EntryResult], interrupted: bool) -> int:
    """0 if every entry met its expectation; see the module docstring for the rest."""
    if interrupted:
        return EXIT_INTERRUPTED
    failed = [r for r in results if r.status == "fail"]
    if any(r.verdict is True or r.verdict is False for r in failed):
        return EXIT_INVALID
    if any(r.status == "error" for r in results):
        return EXIT_INFRA
    if failed:
        return EXIT_UNKNOWN
    return EXIT_VALID


def verdict_word(verdict: bool | str | None) -> str:
    if verdict is None:
        return "-"
    if verdict is True:
        return "valid"
    if verdict is False:
        return "invalid"
    return "unknown"


def matches(expect: Expect, verdict: bool | str | None) -> bool:
    return expect == "any" or verdict_word(verdict) == expect


def checker_reason(results: dict[str, Any]) -> str:
    """The one-sentence reason behind a verdict: the first invalid checker's, else the first unknown one's."""
    checkers = results.get("checkers") or {}
    for wanted in (False, "unknown"):
        for name, c in checkers.items():
            if isinstance(c, dict) and (c.get("valid") is wanted if wanted is False else c.get("valid") == wanted):
                return f"{name}: {c.get('reason') or 'no reason given'}"
    return str(results.get("reason") or "")


def judge(entry: PlanEntry, outcome: RunOutcome, duration_s: float) -> EntryResult:
    """Compare a finished run with what the entry expected."""
    verdict = outcome.valid
    reason = checker_reason(outcome.results)
    ops = outcome.results.get("stats", {}).get("ops_per_s")
    result = EntryResult(entry=entry, status="pass", verdict=verdict, message=reason, run_dir=outcome.run_dir,
                         duration_s=duration_s, ops_per_s=ops)
    if matches(entry.expect, verdict):
        return result
    result.status = "fail"
    if entry.expect == "invalid" and verdict is True:
        result.message = "expected an anomaly (expect: invalid), but every checker found the history valid"
    elif verdict is False:
        result.message = reason or "invalid"
    else:
        result.message = f"expected {entry.expect}, got {verdict_word(verdict)}: {reason or 'no reason given'}"
    result.detail = json.dumps({k: v.get("reason") for k, v in (outcome.results.get("checkers") or {}).items()
                                if isinstance(v, dict)}, indent=2)
    return result


# -- running ----------------------------------------------------------------------------


def _fmt_s(seconds: float) -> str:
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
                   f"{_nemesis_label(s.nemesis)}, {s.nodes} nodes, {s.image}, {s.time_limit:g} s, seed {s.seed}, "
                   f"expect {entry.expect}")

    def update(self, info: dict[str, Any]) -> None:
        """The runner's progress callback (about once a second)."""
        if self.entry is None:
            return
        elapsed, left = float(info.get("elapsed_s", 0.0)), float(info.get("remaining_s", 0.0))
        text = (f"[{self.index + 1}/{len(self.plan.entries)}] {self.entry.name}  {_fmt_s(elapsed)} elapsed, "
                f"{_fmt_s(left)} left  {float(info.get('ops_per_s', 0.0)):.0f} ops/s  "
                f"suite ~{_fmt_s(self.suite_left_s(left))} left  {self.tally()}")
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


Runner = Callable[..., "RunOutcome"]


def new_suite_dir(results_root: Path, suite_name: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    base = results_root / suite_name / stamp
    suite_dir, n = base, 1
    while suite_dir.exists():
        n += 1
        suite_dir = base.with_name(f"{stamp}-{n}")
    suite_dir.mkdir(parents=True)
    return suite_dir


def _run_dir_of(spec: TestSpec) -> Path | None:
    """The newest run directory of ``spec`` (the runner does not return it when interrupted)."""
    runs = sorted((Path(spec.results_dir) / spec.test_name).glob("*/"), key=lambda p: p.stat().st_mtime)
    return runs[-1] if runs else None


def _tear_down_leftovers(run_dir: Path | None) -> None:
    """After an interrupt: remove anything still labelled with the run's id (the runner should have)."""
    if run_dir is None:
        return
    try:
        run_id = json.loads((run_dir / "config.json").read_text()).get("run_id")
    except (OSError, ValueError):
        return
    if not run_id:
        return
    from harness._cluster import RUN_LABEL, docker_client, remove_labelled

    with contextlib.suppress(HarnessError):
        remove_labelled(docker_client(), {RUN_LABEL: run_id})


def run_entry(entry: PlanEntry, suite_dir: Path, progress: Progress, runner: Runner) -> EntryResult:
    """Run one entry on a fresh cluster. Re-raises KeyboardInterrupt after recording it in ``progress``."""
    spec = dataclasses.replace(entry.spec, results_dir=str(suite_dir))
    t0 = time.monotonic()
    try:
        outcome = runner(spec, progress=progress.update)
    except HarnessError as e:  # infrastructure: this entry has no verdict; the suite goes on
        return EntryResult(entry=entry, status="error", message=str(e).splitlines()[0], run_dir=_run_dir_of(spec),
                           duration_s=time.monotonic() - t0, detail=str(e))
    except Exception as e:  # a harness bug in one entry must not lose the suite's results
        return EntryResult(entry=entry, status="error", message=f"internal error: {type(e).__name__}: {e}",
                           run_dir=_run_dir_of(spec), duration_s=time.monotonic() - t0,
                           detail=traceback.format_exc())
    return judge(entry, outcome, time.monotonic() - t0)


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    """While the suite writes its results after an interrupt, a second Ctrl-C must not cut it short."""
    if not _is_main_thread():
        yield
        return
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _is_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def run_plan(plan: Plan, results_root: str | Path = "results", *, stream: TextIO | None = None,
             tty: bool | None = None, runner: Runner | None = None) -> SuiteOutcome:
    """Run every entry of ``plan`` and write ``junit.xml``, ``summary.txt`` and ``suite.json``."""
    from harness._runner import run_test, sigterm_as_interrupt

    stream = stream or sys.stdout
    tty = stream.isatty() if tty is None else tty
    runner = runner or run_test
    suite_dir = new_suite_dir(Path(results_root), plan.name)
    with contextlib.suppress(OSError):
        shutil.copyfile(plan.path, suite_dir / "plan.yaml")
    progress = Progress(plan, stream, tty=tty)
    outcome = SuiteOutcome(plan=plan, suite_dir=suite_dir,
                           started_at=datetime.now(UTC).isoformat(timespec="seconds"))
    t0 = time.monotonic()
    progress.print(f"suite {plan.name}: {len(plan.entries)} entries, about {_fmt_s(plan.estimated_s())}; "
                   f"results in {suite_dir}")
    current: PlanEntry | None = None
    try:
        with sigterm_as_interrupt():
            for i, entry in enumerate(plan.entries):
                current = entry
                progress.start(i, entry)
                t_entry = time.monotonic()
                try:
                    result = run_entry(entry, suite_dir, progress, runner)
                except KeyboardInterrupt:
                    spec = dataclasses.replace(entry.spec, results_dir=str(suite_dir))
                    result = EntryResult(entry=entry, status="interrupted", verdict="unknown",
                                         message="interrupted (Ctrl-C or SIGTERM); the cluster was torn down",
                                         run_dir=_run_dir_of(spec), duration_s=time.monotonic() - t_entry)
                    outcome.results.append(result)
                    raise
                outcome.results.append(result)
                progress.finish(result)
                current = None
    except KeyboardInterrupt:
        outcome.interrupted = True
    finally:
        with _signals_ignored():
            if outcome.interrupted:
                last = outcome.results[-1] if outcome.results and outcome.results[-1].entry is current else None
                if last is not None:
                    _tear_down_leftovers(last.run_dir)
                    progress.finish(last)
                progress.print("suite interrupted: the current cluster was torn down; writing what ran")
            ran = {id(r.entry) for r in outcome.results}
            for entry in plan.entries:
                if id(entry) not in ran:
                    outcome.results.append(EntryResult(entry=entry, status="skipped",
                                                       message="not run: the suite was interrupted"
                                                       if outcome.interrupted else "not run"))
            outcome.duration_s = time.monotonic() - t0
            write_outputs(outcome)
            progress.print(format_summary(outcome))
    return outcome


# -- outputs ------------------------------------------------------------------------------


_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(text: str) -> str:
    """XML 1.0 cannot carry most control characters (etcd logs may): replace them."""
    return _XML_ILLEGAL.sub("\ufffd", text)


def replay_command(run_dir: Path) -> str:
    import shlex

    return shlex.join(["etcd-harness", "test", "--replay", str(run_dir)])


def junit_xml(outcome: SuiteOutcome) -> ET.ElementTree[ET.Element]:
    """One ``<testsuite>`` with one ``<testcase>`` per entry (JUnit's common schema, as CI servers read it)."""
    results = outcome.results
    counts = {s: sum(1 for r in results if r.status == s) for s in ("fail", "error", "interrupted", "skipped")}
    root = ET.Element("testsuites", name=outcome.plan.name, tests=str(len(results)), failures=str(counts["fail"]),
                      errors=str(counts["error"] + counts["interrupted"]), skipped=str(counts["skipped"]),
                      time=f"{outcome.duration_s:.3f}")
    suite = ET.SubElement(root, "testsuite", name=outcome.plan.name, tests=str(len(results)),
                          failures=str(counts["fail"]), errors=str(counts["error"] + counts["interrupted"]),
                          skipped=str(counts["skipped"]), time=f"{outcome.duration_s:.3f}",
                          timestamp=outcome.started_at)
    props = ET.SubElement(suite, "properties")
    for k, v in (("plan", str(outcome.plan.path)), ("suite_dir", str(outcome.suite_dir)),
                 ("interrupted", str(outcome.interrupted).lower())):
        ET.SubElement(props, "property", name=k, value=_xml_text(v))
    for r in results:
        s = r.entry.spec
        case = ET.SubElement(suite, "testcase", classname=f"etcd-harness.{outcome.plan.name}", name=r.entry.name,
                             time=f"{r.duration_s:.3f}", file=str(outcome.plan.path), line=str(r.entry.line))
        cprops = ET.SubElement(case, "properties")
        for k, v in (("workload", s.workload), ("nemesis", _nemesis_label(s.nemesis)), ("nodes", str(s.nodes)),
                     ("image", s.image), ("seed", str(s.seed)), ("time_limit", f"{s.time_limit:g}"),
                     ("expect", r.entry.expect), ("verdict", verdict_word(r.verdict))):
            ET.SubElement(cprops, "property", name=k, value=_xml_text(v))
        if r.run_dir is not None:
            ET.SubElement(cprops, "property", name="run_dir", value=_xml_text(str(r.run_dir)))
        where = ""
        if r.run_dir is not None:
            where = f"\nreport: {r.report}\nreplay: {replay_command(r.run_dir)}"
        if r.status == "fail":
            el = ET.SubElement(case, "failure", message=_xml_text(r.message),
                               type="unexpected-" + verdict_word(r.verdict))
            el.text = _xml_text(r.message + where + (f"\n\n{r.detail}" if r.detail else ""))
        elif r.status in ("error", "interrupted"):
            el = ET.SubElement(case, "error", message=_xml_text(r.message), type=r.status)
            el.text = _xml_text(r.message + where + (f"\n\n{r.detail}" if r.detail else ""))
        elif r.status == "skipped":
            ET.SubElement(case, "skipped", message=_xml_text(r.message))
        if r.status == "pass" and r.run_dir is not None:
            ET.SubElement(case, "system-out").text = _xml_text(
                f"{verdict_word(r.verdict)}: {r.message or 'every checker valid'}{where}")
    ET.indent(root)
    return ET.ElementTree(root)


def format_summary(outcome: SuiteOutcome) -> str:
    """A plain-text table: one row per entry, then the totals."""
    header = ("#", "test", "expect", "verdict", "result", "ops/s", "time", "reason")
    rows = []
    for i, r in enumerate(outcome.results, 1):
        reason = r.message  # for a passing canary: the anomaly its checker found
        if len(reason) > 70:
            reason = reason[:69] + "…"
        rows.append((str(i), r.entry.name, r.entry.expect, verdict_word(r.verdict), r.status.upper(),
                     f"{r.ops_per_s:.0f}" if r.ops_per_s is not None else "-",
                     _fmt_s(r.duration_s) if r.status != "skipped" else "-", reason))
    widths = [max(len(row[c]) for row in [header, *rows]) for c in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    counts = {s: sum(1 for r in outcome.results if r.status == s)
              for s in ("pass", "fail", "error", "interrupted", "skipped")}
    total = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    verdict = "INTERRUPTED" if outcome.interrupted else "OK" if outcome.exit_code == EXIT_VALID else "FAILED"
    lines.append("")
    lines.append(f"suite {outcome.plan.name}: {verdict} ({total}) in {_fmt_s(outcome.duration_s)}, "
                 f"exit {outcome.exit_code}")
    lines.append(f"junit: {outcome.suite_dir / 'junit.xml'}")
    return "\n".join(lines)


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_outputs(outcome: SuiteOutcome) -> None:
    """``junit.xml``, ``summary.txt`` and ``suite.json`` in the suite directory."""
    d = outcome.suite_dir
    tree = junit_xml(outcome)
    tmp = d / f".junit.xml.{os.getpid()}.tmp"
    tree.write(tmp, encoding="utf-8", xml_declaration=True)
    tmp.replace(d / "junit.xml")
    _write_atomically(d / "summary.txt", format_summary(outcome) + "\n")
    data = {
        "suite": outcome.plan.name, "plan": str(outcome.plan.path), "started_at": outcome.started_at,
        "duration_s": round(outcome.duration_s, 3), "interrupted": outcome.interrupted,
        "exit_code": outcome.exit_code,
        "entries": [{"name": r.entry.name, "line": r.entry.line, "expect": r.entry.expect, "status": r.status,
                     "verdict": r.verdict, "message": r.message, "duration_s": round(r.duration_s, 3),
                     "ops_per_s": r.ops_per_s, "run_dir": str(r.run_dir) if r.run_dir else None,
                     "spec": r.entry.spec.to_json()} for r in outcome.results],
    }
    _write_atomically(d / "suite.json", json.dumps(data, indent=2, default=str) + "\n")


# -- the command ----------------------------------------------------------------------------


def check_images(plan: Plan) -> None:
    """Before anything starts: Docker is reachable and every image of the plan is there."""
    from harness._cluster import docker_client
    from harness._errors import ImageMissing

    client = docker_client()
    missing = []
    for image in sorted({e.spec.image for e in plan.entries}):
        try:
            client.images.get(image)
        except Exception:  # not found or unreadable: either way it cannot run
            missing.append(image)
    if missing:
        raise ImageMissing(f"{plan.path}: the plan needs image(s) that are not there: {', '.join(missing)}. "
                           "Build them with `make images` (docker/build-image.sh trixie|bookworm).")


def format_plan(plan: Plan) -> str:
    header = ("#", "test", "workload", "nemesis", "nodes", "image", "seed", "time", "expect", "line")
    rows = [(str(i), e.name, e.spec.workload, _nemesis_label(e.spec.nemesis), str(e.spec.nodes), e.spec.image,
             str(e.spec.seed), f"{e.spec.time_limit:g}s", e.expect, str(e.line))
            for i, e in enumerate(plan.entries, 1)]
    widths = [max(len(row[c]) for row in [header, *rows]) for c in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(f"\n{plan.name}: {len(plan.entries)} entries, about {_fmt_s(plan.estimated_s())} "
                 f"(time limits + ~{OVERHEAD_GUESS_S:.0f} s each)")
    return "\n".join(lines)


def suite_command(args: argparse.Namespace) -> int:
    """``etcd-harness suite PLAN.yaml [--results-dir DIR] [--dry-run]``."""
    plan = load_plan(args.plan)
    if getattr(args, "dry_run", False):
        print(format_plan(plan))
        return EXIT_VALID
    check_images(plan)
    outcome = run_plan(plan, args.results_dir)
    return outcome.exit_code
