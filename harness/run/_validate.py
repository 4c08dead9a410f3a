"""The one validation of a :class:`~harness.core.TestSpec`.

The CLI, YAML plans, the pytest plugin and the runner all call it, so they agree
on the bounds and say the same thing. Each check returns the message (what is
wrong and what is allowed) or None; the caller wraps it in its own error:

* the CLI and the pytest plugin in :class:`~harness.core.UsageError` (exit 2);
* the plan reader in :class:`~harness.core.PlanError`, with the file and the line (exit 3);
* the runner (``Run``) calls :func:`validate_spec` before it touches Docker.

The checks: :func:`field_problem` (one field's value, :data:`FIELDS`),
:func:`workload_problem`, :func:`nemesis_problem`, :func:`unsupported_roles`
(role targets such as ``pause:lock-holder``) and :func:`option_problem` (the
options a workload declares, ``workloads.Option``). :func:`validate_spec` runs
them all; :func:`spec_from_fields` builds a spec from keyword arguments first.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import re
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.core import TestSpec, UsageError
from nemesis import FAULTS, TARGETS, check_fault_name, check_repeats, role_targets, split_target
from workloads import WORKLOADS, Option

NODE_COUNTS = (1, 3, 5, 7)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,79}$")


# -- one field ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldRule:
    """How one field is validated: ``accepts(value)``; ``what`` says what is allowed, for messages;
    ``convert`` gives the value as the spec stores it (seconds as float)."""

    accepts: Callable[[Any], bool]
    what: str  # "a positive number of seconds"
    convert: Callable[[Any], Any] = lambda v: v  # as given


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _positive_number(v: Any) -> bool:
    return _is_number(v) and v > 0


def _non_negative_number(v: Any) -> bool:
    return _is_number(v) and v >= 0


def _positive_int(v: Any) -> bool:
    return _is_int(v) and v >= 1


def _seed(v: Any) -> bool:
    return _is_int(v) and v >= 0


def _one_of(*allowed: Any) -> Callable[[Any], bool]:
    def accepts(v: Any) -> bool:
        return not isinstance(v, bool) and v in allowed

    return accepts


def _image(v: Any) -> bool:
    return isinstance(v, str) and bool(v) and not any(c.isspace() for c in v)


def _name(v: Any) -> bool:
    return isinstance(v, str) and bool(_NAME_RE.match(v))


def _path(v: Any) -> bool:
    return isinstance(v, str) and bool(v.strip()) and "\0" not in v


def _options(v: Any) -> bool:
    if not isinstance(v, dict) or not all(isinstance(k, str) for k in v):
        return False
    try:
        json.dumps(v, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def _etcd_args(v: Any) -> bool:
    return isinstance(v, list | tuple) and all(isinstance(a, str) and a.strip() and "\0" not in a for a in v)


def _as_tuple(v: Any) -> tuple[Any, ...]:
    return tuple(v)


def _seconds(v: Any) -> float:
    return float(v)


_SECONDS = "a positive number of seconds"

#: The rule of every :class:`~harness.core.TestSpec` field but ``workload`` and ``nemesis``
#: (:func:`workload_problem`, :func:`nemesis_problem`), in the spec's order.
FIELDS: dict[str, FieldRule] = {
    "nodes": FieldRule(_one_of(*NODE_COUNTS), f"a cluster size, one of {', '.join(map(str, NODE_COUNTS))}"),
    "time_limit": FieldRule(_positive_number, _SECONDS, _seconds),
    "concurrency": FieldRule(_positive_int, "a whole number of client processes, 1 or more"),
    "rate": FieldRule(_non_negative_number, "a number of ops/s, 0 or more (0 = as fast as possible)", _seconds),
    "seed": FieldRule(_seed, "a whole number, 0 or more"),
    "image": FieldRule(_image, "an image tag such as etcd-harness/etcd:3.5.16"),
    "name": FieldRule(_name, "a name of letters, digits and . _ + - (up to 80)"),
    "nemesis_interval": FieldRule(_positive_number, _SECONDS, _seconds),
    "ops_per_key": FieldRule(_positive_int, "a whole number, 1 or more"),
    "read_mode": FieldRule(_one_of("linearizable", "serializable"), "one of linearizable, serializable"),
    "counter_mode": FieldRule(_one_of("safe", "unsafe"), "one of safe, unsafe"),
    "ttl": FieldRule(_positive_int, "a whole number of seconds, 1 or more"),
    "request_timeout": FieldRule(_positive_number, _SECONDS, _seconds),
    "recovery_timeout": FieldRule(_positive_number, _SECONDS, _seconds),
    "check_time_limit": FieldRule(_positive_number, _SECONDS, _seconds),
    "check_memory_mb": FieldRule(_positive_int, "a whole number of MiB, 1 or more"),
    "results_dir": FieldRule(_path, "a directory path"),
    "options": FieldRule(_options, "a mapping of workload options (string keys, JSON values)"),
    "etcd_args": FieldRule(_etcd_args, "a list of etcd flags, e.g. [--experimental-initial-corrupt-check=true]",
                           _as_tuple),
}

#: The flags the harness gives every member itself (``DockerCluster.etcd_args``): an ``--etcd-arg``
#: may not set them again (a unit test keeps this list equal to what the cluster passes).
HARNESS_ETCD_FLAGS = (
    "name", "data-dir", "listen-client-urls", "advertise-client-urls", "listen-peer-urls",
    "initial-advertise-peer-urls", "initial-cluster", "initial-cluster-state", "initial-cluster-token",
    "logger", "log-outputs", "enable-v2",
)


def etcd_args_problem(args: Sequence[str]) -> str | None:
    """Why ``args`` (``--etcd-arg`` values, in order) cannot be passed to etcd, saying what can; None if they can.

    Each is a flag (``--flag=value``, or ``--flag`` followed by its value as the next item); a flag the
    harness sets itself is refused. Whether etcd knows the flag is checked against the image's
    ``etcd --help`` when the run starts (``DockerCluster``)."""
    previous_takes_value = False
    for arg in args:
        if not arg.startswith("-"):
            if not previous_takes_value:
                return (f"--etcd-arg {arg!r} is not a flag; write each flag with its value, "
                        "e.g. --etcd-arg=--experimental-corrupt-check-time=1m")
            previous_takes_value = False
            continue
        name, has_value, _ = arg.lstrip("-").partition("=")
        if not name:
            return f"--etcd-arg {arg!r} names no flag"
        if name in HARNESS_ETCD_FLAGS:
            return (f"--etcd-arg {arg}: the harness sets --{name} on every member itself; "
                    f"it may not be changed (the flags it sets: {', '.join('--' + f for f in HARNESS_ETCD_FLAGS)})")
        previous_takes_value = not has_value
    return None


def shown(value: Any) -> str:
    """A value in a message: ``'ten'``, ``-5``, ``a list``, ``a mapping``."""
    return "a list" if isinstance(value, list | tuple) else "a mapping" if isinstance(value, dict) else repr(value)


def field_problem(key: str, value: Any, rules: Mapping[str, FieldRule] = FIELDS) -> str | None:
    """Why ``value`` does not fit field ``key``, saying what is allowed; None if it fits.

    ``time_limit``, ``0`` → ``time_limit must be a positive number of seconds, not 0``."""
    rule = rules[key]
    return None if rule.accepts(value) else f"{key} must be {rule.what}, not {shown(value)}"


def field_value(key: str, value: Any, rules: Mapping[str, FieldRule] = FIELDS) -> Any:
    """``value`` (which :func:`field_problem` accepted) as the spec stores it."""
    return rules[key].convert(value)


def did_you_mean(word: str, allowed: Sequence[str]) -> str:
    """`` (did you mean 'hold_max'?)`` for a close match, else nothing."""
    close = difflib.get_close_matches(word, list(allowed), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# -- workload, nemesis, roles ------------------------------------------------------------------


def workload_problem(name: Any) -> str | None:
    """Why ``name`` is not a workload, with the allowed ones; None if it is."""
    if isinstance(name, str) and name in WORKLOADS:
        return None
    text = name if isinstance(name, str) else repr(name)
    return f"unknown workload {text!r}{did_you_mean(str(text), list(WORKLOADS))}; allowed: {', '.join(WORKLOADS)}"


def _nemesis_hint() -> str:
    faults = list(FAULTS)
    example = f", e.g. {faults[0]}+{faults[1]}" if len(faults) > 1 else ""
    return f"allowed: {', '.join([*faults, 'all', 'none'])} (combine faults with '+' or ','{example})"


def _nemesis_names(raw: Any) -> list[str] | None:
    """``"partition+kill"`` / ``"a,b"`` / ``["a", "b"]`` → the names; None if ``raw`` is neither text nor a list."""
    if isinstance(raw, str):
        return [n.strip() for n in re.split(r"[+,]", raw) if n.strip()]
    if isinstance(raw, list | tuple) and all(isinstance(n, str) for n in raw):
        return [n.strip() for n in raw]
    return None


def nemesis_problem(raw: Any) -> str | None:
    """Why ``raw`` (``"partition+kill"``, ``"pause:lock-holder"``, ``"all"``, ``"none"``, or a list of
    fault names) is not a nemesis, with what is allowed; None if it is."""
    names = _nemesis_names(raw)
    if names is None:
        return f"nemesis must be a fault name or a list of them, not {raw!r}; {_nemesis_hint()}"
    if names in ([], ["none"], ["all"]):
        return None
    for n in names:
        if n in ("all", "none"):
            return f"'all' and 'none' stand alone; {_nemesis_hint()}"
        family, target = split_target(n)
        if family not in FAULTS:
            return f"unknown nemesis {family!r}{did_you_mean(family, list(FAULTS))}; {_nemesis_hint()}"
        why = check_fault_name(n)
        if why:
            return f"{why}{did_you_mean(target or '', TARGETS[family])}"
    return check_repeats(list(dict.fromkeys(names)))


def nemesis_value(raw: Any) -> tuple[str, ...]:
    """The fault names of ``raw`` (which :func:`nemesis_problem` accepted): ``all`` and ``none``
    expanded, repeats dropped."""
    names = _nemesis_names(raw) or []
    if names in ([], ["none"]):
        return ()
    if names == ["all"]:
        return tuple(FAULTS)
    return tuple(dict.fromkeys(names))


def unsupported_roles(spec: TestSpec) -> str | None:
    """Why a role target in ``spec.nemesis`` (``pause:lock-holder``) does not fit its workload; None if all fit."""
    reported = WORKLOADS[spec.workload].roles if spec.workload in WORKLOADS else ()
    missing = [r for r in role_targets(spec.nemesis) if r not in reported]
    if not missing:
        return None
    offering = sorted(name for name, w in WORKLOADS.items() if set(missing) <= set(w.roles))
    return (f"nemesis target {', '.join(missing)} needs a workload that reports it; {spec.workload} does not "
            f"(use one of: {', '.join(offering) or 'none'})")


# -- workload options ----------------------------------------------------------------------------


def option_problem(workload: str, key: str, value: Any) -> str | None:
    """Why option ``key=value`` does not fit ``workload`` (a known one), saying what is allowed; None if it fits.

    An unknown option gets a "did you mean" and the workload's options; a bad value the option's bounds."""
    declared = {o.name: o for o in WORKLOADS[workload].options}
    if key in declared:
        return declared[key].problem(value, workload)
    elsewhere = sorted(name for name, w in WORKLOADS.items() if any(o.name == key for o in w.options))
    owners = f" ({key} is an option of {', '.join(elsewhere)})" if elsewhere else ""
    if not declared:
        return f"unknown option {key!r} for workload {workload}, which takes no options{owners}"
    return (f"unknown option {key!r} for workload {workload}{did_you_mean(key, list(declared))}; "
            f"allowed: {', '.join(declared)}{owners}")


# -- the whole spec ------------------------------------------------------------------------------


def spec_problem(spec: TestSpec) -> str | None:
    """The first reason ``spec`` cannot run (workload, fields, nemesis, role targets, options); None if it can."""
    why = workload_problem(spec.workload)
    if why:
        return why
    for key in FIELDS:
        value = getattr(spec, key)
        if key == "name" and value == "":  # no name: <workload>-<nemesis>
            continue
        why = field_problem(key, value)
        if why:
            return why
    why = nemesis_problem(spec.nemesis)
    if why:
        return why
    why = unsupported_roles(dataclasses.replace(spec, nemesis=nemesis_value(spec.nemesis)))
    if why:
        return why
    for key, value in spec.options.items():
        why = option_problem(spec.workload, key, value)
        if why:
            return why
    return etcd_args_problem(spec.etcd_args)


def validate_spec(spec: TestSpec) -> TestSpec:
    """``spec``, normalized (seconds as floats, ``all``/``none`` expanded), if it can run;
    else :class:`~harness.core.UsageError` saying what is allowed."""
    why = spec_problem(spec)
    if why:
        raise UsageError(why)
    changes: dict[str, Any] = {k: field_value(k, getattr(spec, k)) for k in FIELDS}
    changes["nemesis"] = nemesis_value(spec.nemesis)
    return dataclasses.replace(spec, **changes)


#: Every field :func:`spec_from_fields` takes.
SPEC_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(TestSpec))


def spec_from_fields(**fields: Any) -> TestSpec:
    """A validated spec from :class:`~harness.core.TestSpec` fields (``nemesis`` may be text such as
    ``"partition+kill"``), as the pytest plugin's ``jepsen_run(**fields)`` and the CLI give them;
    :class:`~harness.core.UsageError` for an unknown field or a value that does not fit."""
    for key in fields:
        if key not in SPEC_FIELDS:
            raise UsageError(f"unknown test field {key!r}{did_you_mean(key, SPEC_FIELDS)}; "
                             f"allowed: {', '.join(SPEC_FIELDS)}")
    if "nemesis" in fields:
        why = nemesis_problem(fields["nemesis"])
        if why:
            raise UsageError(why)
        fields["nemesis"] = nemesis_value(fields["nemesis"])
    return validate_spec(TestSpec(**fields))


# -- documentation of the options, from the declarations ---------------------------------------


def _grouped() -> list[tuple[list[str], tuple[Option, ...]]]:
    """Workloads with the same options, together, in ``WORKLOADS`` order."""
    groups: dict[tuple[Option, ...], list[str]] = {}
    for name, workload in WORKLOADS.items():
        groups.setdefault(workload.options, []).append(name)
    return [(names, options) for options, names in groups.items()]


def options_help(width: int = 100) -> str:
    """The workloads and their options, for ``etcd-harness test --help``."""
    lines = ["workloads (--workload) and their options (--option NAME=VALUE, repeatable):"]
    for names, options in _grouped():
        if not options:
            lines.append(f"  {', '.join(names)}: no options")
            continue
        lines.append(f"  {', '.join(names)}:")
        for o in options:
            text = f"{o.help}. Allowed: {o.allowed()}. Default: {o.default_shown()}."
            lines.extend(textwrap.wrap(text, width, initial_indent=f"    {o.name:<15} ",
                                       subsequent_indent=" " * 20))
    return "\n".join(lines) + "\n"


def options_markdown() -> str:
    """The README's "Workload options" table (a unit test keeps the README equal to it)."""
    rows = ["| workload | option | allowed | default | what it does |", "| --- | --- | --- | --- | --- |"]
    for names, options in _grouped():
        workloads = ", ".join(f"`{n}`" for n in names)
        if not options:
            rows.append(f"| {workloads} | (none) | | | takes no options |")
        for o in options:
            rows.append(f"| {workloads} | `{o.name}` | {o.allowed()} | `{o.default_shown()}` | {o.help} |")
    return "\n".join(rows) + "\n"
