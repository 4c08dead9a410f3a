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
``check_time_limit``, ``check_memory_mb``, ``options`` (workload extras),
``etcd_args`` (a list of extra etcd flags for every member, as ``--etcd-arg`` takes them,
e.g. ``[--experimental-initial-corrupt-check=true]``) and
``expect`` (``valid``, the default; ``invalid`` for canaries; ``unknown``; ``any``).
An entry without a seed gets a random one, recorded in its ``config.json`` and
in ``junit.xml``, so every entry can be replayed with ``etcd-harness test --replay``.

Contract:

* The whole plan is validated before anything starts, with the rules of the CLI
  and the runner (``harness.run._validate``). An unknown key, workload, nemesis
  or workload option, or a value of the wrong type or out of bounds, is a
  :class:`PlanError` (exit 3) naming the file, the line and the allowed values. ``etcd-harness suite``
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
import itertools
import random
import re
from collections.abc import Sequence
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
from harness.run._validate import (
    FIELDS,
    FieldRule,
    did_you_mean,
    etcd_args_problem,
    field_problem,
    field_value,
    nemesis_problem,
    nemesis_value,
    option_problem,
    unsupported_roles,
    workload_problem,
)

if TYPE_CHECKING:

    pass

Expect = Literal["valid", "invalid", "unknown", "any"]
EXPECTS: tuple[Expect, ...] = ("valid", "invalid", "unknown", "any")
Status = Literal["pass", "fail", "error", "interrupted", "skipped"]

TOP_KEYS = ("name", "description", "defaults", "tests")
AXES = ("workload", "nemesis", "nodes", "image", "seed")
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


#: A plan entry's keys besides ``workload`` and ``nemesis``: the spec's fields (the same rules
#: as the CLI, the pytest plugin and the runner: ``harness.run._validate.FIELDS``) but
#: ``results_dir`` (the suite's), plus ``expect``.
_ENTRY_FIELDS: dict[str, FieldRule] = {
    **{k: rule for k, rule in FIELDS.items() if k != "results_dir"},
    "expect": FieldRule(lambda v: isinstance(v, str) and v in EXPECTS, f"one of {', '.join(EXPECTS)}"),
}
#: Every key a test entry (or ``defaults``) may have.
ENTRY_KEYS: tuple[str, ...] = tuple(sorted([*_ENTRY_FIELDS, "workload", "nemesis"]))


class _PlanReader:
    """Walks the composed YAML nodes, so every error knows its line."""

    def __init__(self, path: Path, seeds: random.Random) -> None:
        self.path = path
        self.seeds = seeds
        self.constructor = SafeConstructor()

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
                raise self.error(key_node, f"unknown key {key!r} in {what}{did_you_mean(key, allowed)}; "
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
        why = field_problem(key, raw, _ENTRY_FIELDS)
        if why:
            raise self.error(node, why)
        return field_value(key, raw, _ENTRY_FIELDS)

    def workload(self, node: Node) -> str:
        name = self.value(node)
        why = workload_problem(name)
        if why:
            raise self.error(node, why)
        return str(name)

    def nemesis(self, node: Node) -> tuple[str, ...]:
        """One nemesis value: ``partition``, ``partition+kill``, ``pause:lock-holder``, ``all``, ``none``
        or a list to combine."""
        raw = self.value(node)
        why = nemesis_problem(raw)
        if why:
            raise self.error(node, why)
        return nemesis_value(raw)

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
            for key, value in spec.options.items():
                why = option_problem(spec.workload, key, value)
                if why:
                    raise self.error(_key_node(merged["options"][1], key), why)
            why = etcd_args_problem(spec.etcd_args)
            if why:
                raise self.error(merged["etcd_args"][1], why)
            out.append(PlanEntry(name=name, spec=spec, expect=expect, line=line))
        return out


def _key_node(mapping: Node, key: str) -> Node:
    """The node of ``key`` in a YAML mapping, for its line; else the mapping itself."""
    if isinstance(mapping, MappingNode):
        for key_node, _ in mapping.value:
            if isinstance(key_node, ScalarNode) and key_node.value == key:
                return key_node
    return mapping


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
