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
An entry without a seed gets one derived from the *suite seed* and the entry's
name (:func:`derive_seed`): the same entry gets the same seed whichever shard
runs it and however many shards there are. The suite seed is ``--seed``, else
drawn at random; it is recorded in ``suite.json``, and each entry's seed in its
``config.json`` and in ``junit.xml``, so every entry can be replayed with
``etcd-harness test --replay``. :meth:`Plan.fingerprint` names a plan's
entries (seeds drawn from the suite seed left out), so that ``etcd-harness
merge`` can refuse shards of different plans.

:func:`expected_s` estimates an entry's wall time from its fields (the model is
in its docstring); the suite's progress, ``--dry-run`` and the shard split
(:mod:`harness.run._shard`) use it.

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
* Ctrl-C or SIGTERM tears down the current cluster (with ``--jobs J``, every
  running one), then stops: the summary and ``junit.xml`` are still written (an
  interrupted entry is an error, entries not reached are skipped), and the exit
  code is 130.
* ``--shard K/N`` runs one of N slices of the plan (:mod:`harness.run._shard`),
  into ``results/<suite>-shard-K-of-N/<timestamp>/``; ``etcd-harness merge``
  (:mod:`harness.run._merge`) combines the shards with the exit codes above.
  ``--jobs J`` runs J entries at once (:mod:`harness.run._jobs`). See
  ``docs/scaling.md``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from harness.core import (
    PlanError,
    TestSpec,
)
from harness.run._bugs import BUG_WHAT, bugs_of, is_bug
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

Expect = Literal["valid", "invalid", "unknown", "any"]
EXPECTS: tuple[Expect, ...] = ("valid", "invalid", "unknown", "any")
Status = Literal["pass", "fail", "error", "interrupted", "skipped"]

TOP_KEYS = ("name", "description", "defaults", "tests")
AXES = ("workload", "nemesis", "nodes", "image", "seed")
#: Seconds a 60 s, 5-node entry with a fault takes besides its time limit, by :func:`expected_s`
#: (the nightly plan measured ~85 s per such entry); kept for callers that want one number.
OVERHEAD_GUESS_S = 24.0


def expected_s(spec: TestSpec) -> float:
    """The expected wall time of one entry, in seconds, from its fields alone.

    The model (each term a phase of :func:`harness.run.run_test`)::

        cluster start    3 s + 1 s per node          (containers created in parallel, then health)
        op phase         time_limit
        heal and drain   2 s                          (heal at the limit, workers joined)
        recovery         1 s without faults, 4 s with, 3 s more with kill (a member restarts and rejoins)
        check            10% of time_limit, at most check_time_limit   (the history grows with it)
        teardown         1 s + 0.6 s per node         (logs collected, containers removed)

    Calibrated on the nightly plan's figure: a 60 s entry on 5 nodes with one fault comes to
    8 + 60 + 2 + 4 + 6 + 4 = 84 s (the plan's comment says ~85 s measured). It is an estimate:
    a suite that has run once can do better with its measured durations (``--durations``).
    """
    families = {name.split(":", 1)[0] for name in spec.nemesis}
    start = 3.0 + 1.0 * spec.nodes
    recovery = (4.0 if families else 1.0) + (3.0 if "kill" in families else 0.0)
    check = min(0.1 * spec.time_limit, spec.check_time_limit)
    teardown = 1.0 + 0.6 * spec.nodes
    return start + spec.time_limit + 2.0 + recovery + check + teardown


def derive_seed(suite_seed: int, entry_name: str) -> int:
    """The seed of an entry that gives none: a hash of the suite seed and the entry's (unique) name,
    so it depends on neither the entry's position nor on how the plan is sharded."""
    digest = hashlib.sha256(f"{suite_seed}:{entry_name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % (1 << 31)


# -- the plan --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlanEntry:
    """One test of a plan, after matrix expansion: a full :class:`TestSpec` and its expected verdict."""

    name: str
    spec: TestSpec
    expect: Expect
    line: int  # 1-based line of the plan entry it came from
    seed_given: bool = True  # False: the seed was derived from the suite seed (derive_seed)
    bug: tuple[dict[str, Any], ...] = ()  # known etcd bugs this entry reproduces or must not (harness.run._bugs)


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    path: Path
    description: str
    entries: tuple[PlanEntry, ...]
    suite_seed: int = 0  # the seed that entries without one derive theirs from

    def estimated_s(self) -> float:
        """Every entry's :func:`expected_s`, one after the other."""
        return sum(expected_s(e.spec) for e in self.entries)

    def fingerprint(self) -> str:
        """A short hash of what the plan runs: its name and each entry's name, expectation and spec, with
        the seeds derived from the suite seed left out (those are the suite seed's business), and without
        the file's path or lines (a CI runner checks the plan out where it likes)."""
        entries = []
        for e in self.entries:
            spec = e.spec.to_json()
            spec.pop("results_dir", None)
            if not e.seed_given:
                spec["seed"] = None
            entries.append({"name": e.name, "expect": e.expect, "spec": spec, "bug": list(e.bug)})
        text = json.dumps({"plan": self.name, "entries": entries}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_plan(path: str | Path, *, suite_seed: int | None = None, seeds: random.Random | None = None) -> Plan:
    """Read and validate a plan file; :class:`PlanError` (file:line, allowed values) if it is not valid.
    ``suite_seed`` and ``seeds`` as for :func:`parse_plan`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanError(path, None, "no such plan file; plans live in suites/*.yaml") from None
    except (OSError, UnicodeDecodeError) as e:
        raise PlanError(path, None, f"cannot read the plan: {e}") from None
    return parse_plan(text, path, suite_seed=suite_seed, seeds=seeds)


def parse_plan(text: str, path: str | Path = "<plan>", *, suite_seed: int | None = None,
               seeds: random.Random | None = None) -> Plan:
    """Validate plan ``text`` (named ``path`` in errors) and expand its matrix.

    Entries that give no seed derive theirs from ``suite_seed`` (:func:`derive_seed`); without one,
    the suite seed is drawn from ``seeds`` (default: a fresh random source).
    """
    if suite_seed is None:
        suite_seed = (seeds or random.Random()).randrange(1 << 31)
    return _PlanReader(Path(path), suite_seed).read(text)


#: A plan entry's keys besides ``workload`` and ``nemesis``: the spec's fields (the same rules
#: as the CLI, the pytest plugin and the runner: ``harness.run._validate.FIELDS``) but
#: ``results_dir`` (the suite's), plus ``expect``.
_ENTRY_FIELDS: dict[str, FieldRule] = {
    **{k: rule for k, rule in FIELDS.items() if k != "results_dir"},
    "expect": FieldRule(lambda v: isinstance(v, str) and v in EXPECTS, f"one of {', '.join(EXPECTS)}"),
    "bug": FieldRule(is_bug, BUG_WHAT, bugs_of),
}
#: Every key a test entry (or ``defaults``) may have.
ENTRY_KEYS: tuple[str, ...] = tuple(sorted([*_ENTRY_FIELDS, "workload", "nemesis"]))


class _PlanReader:
    """Walks the composed YAML nodes, so every error knows its line."""

    def __init__(self, path: Path, suite_seed: int) -> None:
        self.path = path
        self.suite_seed = suite_seed
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
        # Seeds are derived after the names are made unique: the name is what a seed is derived from.
        seeded = [e if e.seed_given else
                  dataclasses.replace(e, spec=dataclasses.replace(e.spec, seed=derive_seed(self.suite_seed, e.name)))
                  for e in _unique_names(entries)]
        return Plan(name=name, path=self.path, description=description, entries=tuple(seeded),
                    suite_seed=self.suite_seed)

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
        bug: tuple[dict[str, Any], ...] = settings.pop("bug", ())
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
            seed_given = chosen["seed"] is not None
            seed = chosen["seed"] if seed_given else 0  # derived once the names are final (see read)
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
            out.append(PlanEntry(name=name, spec=spec, expect=expect, line=line, seed_given=seed_given, bug=bug))
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
