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

import dataclasses
import difflib
import itertools
import json
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from harness.core import (
    PlanError,
    TestSpec,
)
from harness.run._validate import unsupported_roles
from nemesis import FAULTS, TARGETS, check_fault_name, check_repeats, split_target
from workloads import WORKLOADS

if TYPE_CHECKING:

    pass

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
            why = unsupported_roles(spec)
            if why:
                raise self.error(merged["nemesis"][1] if "nemesis" in merged else node, why)
            out.append(PlanEntry(name=name, spec=spec, expect=expect, line=line))
        return out


def nemesis_label(names: tuple[str, ...]) -> str:
    return "+".join(names) or "none"


def _image_label(image: str) -> str:
    tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else image.rsplit("/", 1)[-1]
    return re.sub(r"[^A-Za-z0-9._+-]", "_", tag)


def _entry_name(user_name: str | None, chosen: dict[str, Any], varying: list[str]) -> str:
    """``<name or workload-nemesis>`` plus the matrix values that vary within this entry."""
    parts = [user_name or f"{chosen['workload']}-{nemesis_label(chosen['nemesis']).replace(':', '-')}"]
    for axis in varying:
        if user_name is None and axis in ("workload", "nemesis"):
            continue
        parts.append({
            "workload": lambda: str(chosen["workload"]),
            "nemesis": lambda: nemesis_label(chosen["nemesis"]).replace(":", "-"),
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
