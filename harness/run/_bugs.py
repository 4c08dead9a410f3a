"""Known etcd bugs in a plan: an entry's ``bug:`` key, judged from its run, and a per-bug summary.

A plan entry that reproduces (or must not reproduce) a known etcd bug says so::

    - name: etcd-15247-3.4.23
      bug: {issue: 15247, evidence: mutex-lease-alive, expect: reproduced}
      workload: lock-set
      nemesis: pause:lock-holder
      options: {hold_max: 5}
      image: etcd-harness/etcd:3.4.23
      seed: [1, 2, 3, 4, 5]
      expect: any

``evidence`` names what in a run's ``results.json`` shows the bug
(:data:`EVIDENCE`): a verdict alone often cannot, as the scenario that provokes a
bug may break a guarantee etcd never gave (a lock holder paused past its TTL
loses the lock on every version). ``expect`` is ``reproduced`` on an affected
version (judged over all the seeds of that bug and image: found in none fails them
all), ``absent`` on a fixed one (any seed that shows it fails), ``any`` to only
measure. A bug expectation not met fails the entry, whatever its verdict's
``expect`` said.

After the suite, :func:`format_bug_summary` prints per bug and image: in how
many seeds it was reproduced, when in the run it was first seen, and the
seconds of runs until the first reproduction (time to detection).
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.run._outcome import EntryResult, SuiteOutcome


@dataclass(frozen=True, slots=True)
class Evidence:
    """What a run's results show of a bug: ``found``, and when in the run (s on its clock) if known."""

    found: bool
    at_s: float | None = None
    text: str = ""


def _first_violation(results: Mapping[str, Any], shows: Callable[[Mapping[str, Any]], bool]) -> Evidence:
    """The first mutual-exclusion violation in ``results`` that ``shows`` the bug: when in the run (its
    grant) and its explanation."""
    mutex = results.get("checkers", {}).get("mutex")
    violations = mutex.get("violations") if isinstance(mutex, dict) else None
    for v in violations if isinstance(violations, list) else []:
        if isinstance(v, dict) and shows(v):
            return Evidence(True, v.get("overlap_start", 0) / 1e9, str(v.get("explanation", "")))
    return Evidence(False)


def _mutex_lease_alive(results: Mapping[str, Any]) -> Evidence:
    """A mutual-exclusion violation while the first holder's lease was alive (its last acknowledged
    keepalive within one TTL of the second grant) and the second holder's was too: etcd revoked or
    ignored a live lease (etcd 15247)."""
    def both_alive(v: Mapping[str, Any]) -> bool:
        lease = v.get("lease")
        # The grantee's lease must be known alive: a grant on its own expired lease is etcd 9921, not this.
        return isinstance(lease, dict) and lease.get("expired") is False and v.get("grantee_lease_expired") is False
    return _first_violation(results, both_alive)


def _mutex_grantee_expired(results: Mapping[str, Any]) -> Evidence:
    """A mutual-exclusion violation whose second holder was granted the lock after its own lease had
    expired: the lock service answered a lock request whose key was gone (etcd 9921)."""
    return _first_violation(results, lambda v: v.get("grantee_lease_expired") is True)


def _mutex_stale_revoke(results: Mapping[str, Any]) -> Evidence:
    """A mutual-exclusion violation under two live leases at whose grant a member that no longer led had
    its lessor revoke leases, as its log and the others' show (etcd 15247's mechanism, seen rather than
    inferred: ``checkers.node_events``)."""
    return _first_violation(results, lambda v: isinstance(v.get("stale_revoke"), dict))


def _checker_invalid(name: str) -> Callable[[Mapping[str, Any]], Evidence]:
    def evidence(results: Mapping[str, Any]) -> Evidence:
        checker = results.get("checkers", {}).get(name)
        if isinstance(checker, dict) and checker.get("valid") is False:
            # Found after the run, from the cluster's own state: detected at the end of the op phase.
            at = results.get("stats", {}).get("op_phase_s")
            return Evidence(True, at if isinstance(at, int | float) else None, str(checker.get("reason", "")))
        return Evidence(False)
    evidence.__doc__ = f"The {name} checker found the run invalid."
    return evidence


def _cluster_state_invalid(results: Mapping[str, Any]) -> Evidence:
    """Any end-of-run consistency checker (hashkv, logs, alarms) found the run invalid: the members
    diverged, or etcd's own corruption checks said so in a log or an alarm."""
    for name in ("hashkv", "logs", "alarms"):
        found = _checker_invalid(name)(results)
        if found.found:
            return Evidence(True, found.at_s, f"{name}: {found.text}")
    return Evidence(False)


def _run_invalid(results: Mapping[str, Any]) -> Evidence:
    """The run's verdict is invalid."""
    return Evidence(results.get("valid") is False, None, str(results.get("reason", "")))


#: Evidence name -> how to find it in a run's ``results.json``.
EVIDENCE: dict[str, Callable[[Mapping[str, Any]], Evidence]] = {
    "mutex-lease-alive": _mutex_lease_alive,
    "mutex-grantee-expired": _mutex_grantee_expired,
    "mutex-stale-revoke": _mutex_stale_revoke,
    "hashkv": _checker_invalid("hashkv"),
    "revisions": _checker_invalid("revisions"),
    "cluster-state": _cluster_state_invalid,
    "invalid": _run_invalid,
}
BUG_EXPECTS = ("reproduced", "absent", "any")
BUG_KEYS = ("issue", "evidence", "expect", "title")


def bug_problem(value: Any) -> str | None:
    """Why ``value`` is not a ``bug:`` value (one mapping, or a list of them: one run can show several
    bugs), saying what is allowed; None if it is one."""
    if isinstance(value, list) and value:
        return next((why for why in map(bug_problem, value) if why), None)
    if not isinstance(value, Mapping):
        return "a mapping {issue: N, evidence: E, expect: reproduced|absent|any}"
    unknown = sorted(set(value) - set(BUG_KEYS))
    if unknown:
        return f"a mapping with keys {', '.join(BUG_KEYS)} (not {', '.join(map(str, unknown))})"
    issue = value.get("issue")
    if not isinstance(issue, int) or isinstance(issue, bool) or issue <= 0:
        return "a mapping whose issue is the etcd issue number, e.g. 15247"
    if value.get("evidence") not in EVIDENCE:
        return f"a mapping whose evidence is one of {', '.join(EVIDENCE)}"
    if value.get("expect", "reproduced") not in BUG_EXPECTS:
        return f"a mapping whose expect is one of {', '.join(BUG_EXPECTS)}"
    if "title" in value and not isinstance(value["title"], str):
        return "a mapping whose title is text"
    return None


def bugs_of(value: Any) -> tuple[dict[str, Any], ...]:
    """A ``bug:`` value (which :func:`bug_problem` accepted) as the plan entry keeps it: a tuple of mappings."""
    return tuple(dict(b) for b in (value if isinstance(value, list) else [value]))


def is_bug(value: Any) -> bool:
    """For the plan's field rule: :func:`bug_problem` finds nothing."""
    return bug_problem(value) is None


#: What the plan's error message says a ``bug:`` value must be.
BUG_WHAT = (f"a mapping {{issue: <etcd issue number>, evidence: {'|'.join(EVIDENCE)}, "
            f"expect: {'|'.join(BUG_EXPECTS)}, title: <text>}}, or a list of them")


def evidence_of(result: EntryResult, bug: Mapping[str, Any]) -> Evidence | None:
    """The evidence of ``bug`` in a finished entry's run; None if there are no results to read."""
    if result.run_dir is None:
        return None
    try:
        results = json.loads((result.run_dir / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return EVIDENCE[bug["evidence"]](results) if isinstance(results, dict) else None


def judge_bug(result: EntryResult) -> EntryResult:
    """``result`` with its ``absent`` bugs applied: an entry that passed fails when a bug that its version
    fixed was found. (``reproduced`` is judged over all the seeds of a bug and image, by
    :func:`judge_bug_groups`: a bug that shows in some seeds only is still reproduced.)"""
    if result.status != "pass":
        return result
    for bug in result.entry.bug:
        evidence = evidence_of(result, bug)
        if evidence is not None and evidence.found and bug.get("expect", "reproduced") == "absent":
            return dataclasses.replace(result, status="fail", message=f"etcd {bug['issue']} reproduced on a version "
                                                                       f"that fixed it ({bug['evidence']}): "
                                                                       f"{evidence.text[:300]}")
    return result


def judge_bug_groups(results: list[EntryResult]) -> list[EntryResult]:
    """``results`` with each ``expect: reproduced`` bug judged over its group (the entries of one bug and
    image that ran): when no seed of the group reproduced it, every entry of the group that passed fails."""
    missed: dict[tuple[int, str], str] = {}
    groups: dict[tuple[int, str], list[tuple[EntryResult, dict[str, Any]]]] = {}
    for r in results:
        for bug in r.entry.bug:
            if bug.get("expect", "reproduced") == "reproduced" and r.status in ("pass", "fail"):
                groups.setdefault((int(bug["issue"]), r.entry.spec.image), []).append((r, bug))
    for key, runs in groups.items():
        if not any((ev := evidence_of(r, bug)) is not None and ev.found for r, bug in runs):
            missed[key] = (f"etcd {key[0]} was expected to reproduce on {key[1]} ({runs[0][1]['evidence']}) "
                           f"and did in none of {len(runs)} seed(s)")
    out = []
    for r in results:
        why = next((missed[(int(b["issue"]), r.entry.spec.image)] for b in r.entry.bug
                    if (int(b["issue"]), r.entry.spec.image) in missed), None)
        out.append(dataclasses.replace(r, status="fail", message=why) if why and r.status == "pass" else r)
    return out


def format_bug_summary(outcome: SuiteOutcome) -> str:
    """Per bug and image: reproduced in k of n seeds, the first detection, and the time to detection
    (seconds of runs, in plan order, until the first that reproduced it). ``""`` if no entry names a bug."""
    groups: dict[tuple[int, str], list[tuple[EntryResult, dict[str, Any]]]] = {}
    for r in outcome.results:
        if r.status in ("skipped", "interrupted"):
            continue
        for bug in r.entry.bug:
            groups.setdefault((int(bug["issue"]), r.entry.spec.image), []).append((r, bug))
    if not groups:
        return ""
    lines = ["bugs:"]
    for (issue, image), runs in sorted(groups.items()):
        expect = runs[0][1].get("expect", "reproduced")
        found: list[tuple[EntryResult, Evidence]] = []
        elapsed = 0.0
        to_detection: float | None = None
        for r, bug in runs:
            elapsed += r.duration_s
            ev = evidence_of(r, bug)
            if ev is not None and ev.found:
                found.append((r, ev))
                if to_detection is None:
                    to_detection = elapsed
        median_s = statistics.median(r.duration_s for r, _ in runs)
        line = (f"  etcd {issue} on {image}: {'reproduced' if found else 'not reproduced'} in {len(found)} of "
                f"{len(runs)} seed(s) (expected {expect}); median run {median_s:.0f} s")
        if found:
            first, ev = found[0]
            at = f" at {ev.at_s:.1f} s into the run" if ev.at_s is not None else ""
            line += (f"; first in seed {first.entry.spec.seed}{at}; {to_detection:.0f} s of runs to the first "
                     f"detection")
        lines.append(line)
    return "\n".join(lines)
