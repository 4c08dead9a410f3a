"""End-of-run consistency: what the cluster says of itself once the faults are healed.

The history checkers judge what clients saw. These judge the members' own state,
from facts the runner saved in the run directory after the heal and the recovery
(``cluster.json``, see ``harness/run/_cluster_facts.py``) and from each node's log
(``nodes/<node>/etcd.log``). They read files only, so ``etcd-harness check --run``
re-judges a stored run from the same facts.

Three checkers, each with its own verdict:

``hashkv``
    Every member's HashKV at one common revision (the lowest current revision).
    Members that applied the same raft log must hold the same keys: a hash that
    differs between two members with the same compact revision is **invalid**,
    naming the members, the revision and the hashes. So are members that applied
    the raft log to the same index yet report different revisions (etcd 13766's
    symptom). A member that was unreachable, had compacted past the revision,
    or never settled on one applied index makes the verdict **unknown**, with
    the reason.

``logs``
    A scan of every node's log for what etcd only logs when something is badly
    wrong: a Go panic or fatal error, a zap record at level ``panic`` / ``dpanic``
    / ``fatal``, a hash mismatch or data inconsistency found by etcd's own
    corruption checks, a raised alarm. Each finding is **invalid**, cited as
    ``nodes/<node>/etcd.log:<line>`` with the line, except on a node whose files
    the ``file`` fault damaged on purpose (``corrupt-file`` in the history): there
    refusing to start and saying so is the right answer, listed as expected. The patterns are tight on
    purpose: etcd logs many benign lines with "error" or "failed" in them
    (a peer unreachable under a partition, a killed member's restart).

``alarms``
    The alarms the members list (``Alarm`` GET). Any ``CORRUPT`` or ``NOSPACE``
    alarm is **invalid**; no member answering is **unknown**.

The facts' format (``cluster.json``)::

    {"members": {"n1": {"revision": 120, "applied_index": 301, "compact_revision": 0,
                        "member_id": "...", "error": null}, ...},
     "settled": true,            # the applied indexes stopped moving and agreed
     "hashkv": {"revision": 120, "method": "gateway" | "etcdctl",
                "members": {"n1": {"hash": 123, "compact_revision": -1}, "n2": {"error": "..."}}},
     "alarms": {"members": {"n1": [{"member": "n2", "alarm": "CORRUPT"}], "n3": {"error": "..."}}},
     "corrupted": {"node": "n2", ...}   # only when the corrupt_member canary ran
    }
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checkers._result import UNKNOWN, CheckContext, Checker, Result
from harness.core import CLUSTER_FACTS, NEMESIS, NODE_LOG, NODES, History

#: Alarms that mean the cluster is not in a state the test may call valid.
BAD_ALARMS = ("CORRUPT", "NOSPACE")
#: How many log findings a result lists in full (the count is always exact).
MAX_FINDINGS = 20


# -- the facts --------------------------------------------------------------------------------


def load_facts(run_dir: Path | None) -> dict[str, Any] | None:
    """``cluster.json`` of ``run_dir`` as a dict; None if the run has none (it predates these
    checks, or its cluster was not a real one). A file that is not a JSON object raises ValueError."""
    if run_dir is None:
        return None
    path = Path(run_dir) / CLUSTER_FACTS
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a JSON object")
    return data


def has_cluster_facts(run_dir: Path | None) -> bool:
    """Whether ``run_dir`` holds end-of-run facts (so the cluster checkers apply to it)."""
    return run_dir is not None and (Path(run_dir) / CLUSTER_FACTS).is_file()


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


# -- hashkv -----------------------------------------------------------------------------------


def judge_hashkv(facts: Mapping[str, Any]) -> Result:
    """The ``hashkv`` verdict on ``facts`` (see the module docstring)."""
    members = _mapping(facts.get("members"))
    hashkv = _mapping(facts.get("hashkv"))
    if not members:
        return Result(UNKNOWN, "no member status was collected after the run")
    details: dict[str, Any] = {"members": dict(members), "hashkv": dict(hashkv)}

    # Members with the same applied index hold the same revision: the revision is a function of the log.
    by_index: dict[int, dict[str, int]] = {}
    for name, member in sorted(members.items()):
        m = _mapping(member)
        if isinstance(m.get("applied_index"), int) and isinstance(m.get("revision"), int):
            by_index.setdefault(m["applied_index"], {})[name] = m["revision"]
    for index, revisions in sorted(by_index.items()):
        if len(set(revisions.values())) > 1:
            listed = ", ".join(f"{n} at revision {r}" for n, r in sorted(revisions.items()))
            return Result(False, f"members applied the raft log up to the same index {index} but hold different "
                                 f"revisions: {listed}", {**details, "revision_mismatch":
                                                          {"applied_index": index, "revisions": revisions}})

    hashes = _mapping(hashkv.get("members"))
    revision = hashkv.get("revision")
    good: dict[str, tuple[int, int]] = {}  # member -> (hash, compact revision)
    problems: list[str] = []
    for name in sorted(members):
        status = _mapping(members[name])
        h = _mapping(hashes.get(name))
        if status.get("error"):
            problems.append(f"{name} did not answer: {status['error']}")
        elif not h:
            problems.append(f"{name}: no HashKV was taken")
        elif h.get("error"):
            problems.append(f"{name}: HashKV at revision {revision} failed: {h['error']}")
        elif isinstance(h.get("hash"), int):
            compact = h.get("compact_revision")
            good[name] = (h["hash"], compact if isinstance(compact, int) else -1)
        else:
            problems.append(f"{name}: HashKV answered without a hash")

    # Compare within groups of one compact revision: etcd's own corruption check does the same, as
    # a member that compacted further hashes fewer old revisions.
    by_compact: dict[int, dict[str, int]] = {}
    for name, (member_hash, compact_revision) in good.items():
        by_compact.setdefault(compact_revision, {})[name] = member_hash
    for compact, group in sorted(by_compact.items()):
        if len(set(group.values())) > 1:
            majority = max(set(group.values()), key=list(group.values()).count)
            odd = sorted(n for n, h in group.items() if h != majority)
            same = sorted(n for n, h in group.items() if h == majority)
            listed = ", ".join(f"{n}={h}" for n, h in sorted(group.items()))
            return Result(False, f"HashKV at revision {revision} differs: {', '.join(odd)} disagree"
                                 f"{' with ' + ', '.join(same) if same else ''} ({listed}; compact revision "
                                 f"{compact})", {**details, "hash_mismatch": {"revision": revision,
                                                                               "hashes": group, "members": odd}})
    if not facts.get("settled", True):
        problems.insert(0, "the members' applied indexes did not settle on one value")
    if problems:
        return Result(UNKNOWN, "; ".join(problems), details)
    if len(by_compact) > 1:
        return Result(UNKNOWN, f"members compacted to different revisions ({sorted(by_compact)}), so their "
                               f"HashKV at revision {revision} cannot be compared", details)
    return Result(True, f"{len(good)} members agree on HashKV at revision {revision}", details)


# -- alarms -----------------------------------------------------------------------------------


def judge_alarms(facts: Mapping[str, Any]) -> Result:
    """The ``alarms`` verdict on ``facts``: any CORRUPT or NOSPACE alarm is invalid."""
    listed = _mapping(_mapping(facts.get("alarms")).get("members"))
    if not listed:
        return Result(UNKNOWN, "no alarm list was collected after the run")
    found: dict[tuple[str, str], list[str]] = {}  # (alarm, member it names) -> members that listed it
    errors: list[str] = []
    for name, alarms in sorted(listed.items()):
        if isinstance(alarms, Mapping):
            errors.append(f"{name}: {alarms.get('error', 'no answer')}")
            continue
        for entry in alarms if isinstance(alarms, list) else []:
            alarm = _mapping(entry)
            kind = str(alarm.get("alarm", "")).upper()
            if kind and kind != "NONE":
                found.setdefault((kind, str(alarm.get("member", "?"))), []).append(name)
    details = {"alarms": [{"alarm": k, "member": m, "listed_by": by} for (k, m), by in sorted(found.items())]}
    bad = [(k, m) for (k, m) in sorted(found) if k in BAD_ALARMS]
    if bad:
        text = ", ".join(f"{k} on {m}" for k, m in bad)
        return Result(False, f"the cluster raised {text}", details)
    if len(errors) == len(listed):
        return Result(UNKNOWN, "no member listed its alarms: " + "; ".join(errors), details)
    if found:
        return Result(UNKNOWN, "alarms other than CORRUPT/NOSPACE: "
                               + ", ".join(f"{k} on {m}" for k, m in sorted(found)), details)
    return Result(True, f"no alarms ({len(listed) - len(errors)} of {len(listed)} members listed theirs)", details)


# -- logs -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogPattern:
    """A kind of log line that only appears when something is badly wrong."""

    kind: str
    regex: re.Pattern[str]


#: Each pattern matched against one line. Tested on the logs of normal kill and partition runs
#: (tests/unit/test_cluster_state_checkers.py): they must not match there.
LOG_PATTERNS: tuple[LogPattern, ...] = (
    # A Go runtime panic or fatal error starts a line of its own, outside zap's JSON.
    LogPattern("panic", re.compile(r"^(panic: |fatal error: )")),
    # zap records at the levels that end the process (or would, in development mode).
    LogPattern("fatal", re.compile(r'"level"\s*:\s*"(panic|dpanic|fatal)"')),
    # etcd's own corruption checks (initial, periodic, compaction hash checks).
    LogPattern("corruption", re.compile(r"data inconsistency|hash mismatch|mismatched hashes|"
                                        r"corrupt(ed|ion)? (detected|found)|database (file )?(is )?corrupt", re.I)),
    # An alarm activated (NOSPACE, CORRUPT): 3.4 and 3.5 log "alarm raised".
    LogPattern("alarm", re.compile(r'"msg"\s*:\s*"alarm raised"|raised alarm', re.I)),
)


def scan_log(node: str, text: str) -> list[dict[str, Any]]:
    """The findings in one node's log: ``{"node", "line", "kind", "text", "where"}`` per matching line."""
    findings = []
    for number, line in enumerate(text.splitlines(), start=1):
        for pattern in LOG_PATTERNS:
            if pattern.regex.search(line):
                findings.append({"node": node, "line": number, "kind": pattern.kind, "text": line[:500],
                                 "where": f"{NODES}/{node}/{NODE_LOG}:{number}"})
                break
    return findings


def judge_logs(logs: Mapping[str, str], damaged: frozenset[str] = frozenset()) -> Result:
    """The ``logs`` verdict on ``{node: log text}``: any finding is invalid; no logs is unknown.

    ``damaged``: nodes whose files a fault damaged on purpose (:func:`damaged_nodes`). Their findings
    are listed as ``expected_findings`` and do not count: a member that panics on a flipped bit, or
    says its data is corrupt, refuses to start and says so, which is what etcd should do then."""
    if not logs:
        return Result(UNKNOWN, "no node logs were saved")
    every = [f for node in sorted(logs) for f in scan_log(node, logs[node])]
    findings = [f for f in every if f["node"] not in damaged]
    expected = [f for f in every if f["node"] in damaged]
    details: dict[str, Any] = {"findings": findings[:MAX_FINDINGS], "finding_count": len(findings),
                               "nodes": sorted(logs)}
    if expected:
        details["expected_findings"] = expected[:MAX_FINDINGS]
        details["expected_finding_count"] = len(expected)
        details["damaged_nodes"] = sorted(damaged)
    if findings:
        first = findings[0]
        kinds = sorted({f["kind"] for f in findings})
        return Result(False, f"{len(findings)} log line(s) of kind {', '.join(kinds)}; the first, {first['where']}: "
                             f"{first['text'][:200]}", details)
    also = (f" ({len(expected)} on {', '.join(sorted(damaged))}, whose files a fault damaged on purpose)"
            if expected else "")
    return Result(True, f"no panic, fatal, corruption or alarm lines in {len(logs)} node logs{also}", details)


#: Nemesis ops that damage a member's files on purpose; their value names the node (``nemesis/_file.py``).
DAMAGING_OPS = ("corrupt-file",)


def damaged_nodes(history: History) -> frozenset[str]:
    """The nodes whose files a fault op of :data:`DAMAGING_OPS` damaged during the run."""
    return frozenset(str(op.value["node"]) for op in history
                     if op.process == NEMESIS and not op.is_invoke and op.f in DAMAGING_OPS
                     and isinstance(op.value, dict) and op.value.get("node"))


def read_node_logs(run_dir: Path) -> dict[str, str]:
    """``{node: text}`` of ``run_dir/nodes/<node>/etcd.log`` (undecodable bytes replaced)."""
    logs: dict[str, str] = {}
    nodes = Path(run_dir) / NODES
    if nodes.is_dir():
        for log_file in sorted(nodes.glob(f"*/{NODE_LOG}")):
            logs[log_file.parent.name] = log_file.read_bytes().decode("utf-8", "replace")
    return logs


# -- the checkers -----------------------------------------------------------------------------


def _judge_saved_facts(ctx: CheckContext, judge: Callable[[Mapping[str, Any]], Result]) -> Result:
    """``judge`` of the run's saved cluster facts; ``unknown`` when there are none to read."""
    try:
        facts = load_facts(ctx.out_dir)
    except (OSError, ValueError) as e:
        return Result(UNKNOWN, f"{CLUSTER_FACTS} cannot be read: {e}")
    if facts is None:
        return Result(UNKNOWN, f"the run saved no {CLUSTER_FACTS}")
    return judge(facts)


class HashKVChecker:
    """``hashkv``: the members hold the same keys at one revision (:func:`judge_hashkv`)."""

    name = "hashkv"

    def check(self, history: History, ctx: CheckContext) -> Result:
        return _judge_saved_facts(ctx, judge_hashkv)


class AlarmChecker:
    """``alarms``: no CORRUPT or NOSPACE alarm (:func:`judge_alarms`)."""

    name = "alarms"

    def check(self, history: History, ctx: CheckContext) -> Result:
        return _judge_saved_facts(ctx, judge_alarms)


class LogChecker:
    """``logs``: no panic, fatal, corruption or alarm line in any node's log (:func:`judge_logs`)."""

    name = "logs"

    def check(self, history: History, ctx: CheckContext) -> Result:
        if ctx.out_dir is None:
            return Result(UNKNOWN, "no run directory to read node logs from")
        try:
            return judge_logs(read_node_logs(ctx.out_dir), damaged_nodes(history))
        except OSError as e:
            return Result(UNKNOWN, f"the node logs cannot be read: {e}")


def cluster_checkers(run_dir: Path | None) -> dict[str, Checker]:
    """The end-of-run checkers for a run directory that holds ``cluster.json``; none for one without
    (a run on a fake cluster, or one made before these checks): their absence is not a finding."""
    if not has_cluster_facts(run_dir):
        return {}
    return {"hashkv": HashKVChecker(), "logs": LogChecker(), "alarms": AlarmChecker()}
