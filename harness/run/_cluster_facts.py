"""End-of-run cluster facts: what the members say of themselves once the faults are healed.

After the heal, the recovery and the final reads, the runner asks every member
for its status (revision, applied raft index, compact revision), its HashKV at
one common revision and its alarms, and saves the answers as ``cluster.json``
(:data:`harness.core.CLUSTER_FACTS`). The checkers in ``checkers/cluster_state.py``
judge that file and the node logs, so a re-check reads the same facts.

Contract:

* Every request is bounded (``request_timeout`` each; the settle wait by
  ``settle_timeout``); a member that does not answer is recorded with its error,
  never waited for without bound, and nothing here raises for a sick cluster.
* The common revision is the lowest current revision among the members that
  answered, taken once their applied raft indexes agree ("settled"), so every
  member can hash it unless it compacted past it.
* HashKV goes through the JSON gateway where the version serves it
  (``/v3/maintenance/hashkv``: 3.5.16 and 3.5.30 do); 3.4.23 and 3.5.1 map
  HashKV onto ``/v3/maintenance/hash`` (which answers Hash instead), so there the
  node's own ``etcdctl endpoint hashkv`` is run inside its container.

:func:`corrupt_member` is the canary of these checks (``--option
corrupt_member=true``): it overwrites one value inside one member's bbolt file,
in place, so that member's KV hash differs while it keeps running.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from harness.etcd import Cluster, EtcdError, Node

log = logging.getLogger(__name__)

#: Where our images keep a member's bbolt database (``--data-dir`` in ``harness/etcd/_docker.py``).
DB_PATH = "/var/lib/etcd/data/member/snap/db"
#: The canary key and its value before and after the corruption: the same length, so the bbolt
#: page keeps its layout and the member keeps running; only the value's bytes differ.
CANARY_KEY = "/etcd-harness/corrupt-member"
CANARY_VALUE = "etcd-harness-canary-" + "A" * 24
CORRUPTED_VALUE = "etcd-harness-canary-" + "B" * 24
#: Overwrites every occurrence of ARGV[1] by ARGV[2] inside the file ARGV[0], in place (same inode,
#: so etcd's shared mmap sees it); prints how many it overwrote. Arguments, never a shell string.
_OVERWRITE_IN_PLACE = r"""
my ($path, $from, $to) = @ARGV;
open(my $f, "+<", $path) or die "open $path: $!";
binmode $f;
local $/;
my $data = <$f>;
my ($n, $at) = (0, 0);
while (($at = index($data, $from, $at)) >= 0) {
  seek($f, $at, 0) or die "seek: $!";
  print $f $to;
  $n++;
  $at += length($from);
}
close($f) or die "close: $!";
print "$n\n";
"""


def _int(value: Any) -> int | None:
    """The gateway writes int64 fields as strings."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def member_status(cluster: Cluster, node: Node, timeout: float) -> dict[str, Any]:
    """``{"revision", "applied_index", "raft_term", "member_id", "error"}`` of one member."""
    try:
        with cluster.client(node, request_timeout=timeout) as client:
            out = client.post("/v3/maintenance/status", {}, timeout=timeout)
    except EtcdError as e:
        return {"error": str(e)}
    header = out.get("header")
    if not isinstance(header, dict):
        header = {}
    return {"revision": _int(header.get("revision")), "applied_index": _int(out.get("raftAppliedIndex")),
            "raft_term": _int(out.get("raftTerm")), "member_id": str(header.get("member_id", "")),
            "error": None}


def settled_statuses(cluster: Cluster, nodes: Sequence[Node], *, timeout: float,
                     settle_timeout: float) -> tuple[dict[str, dict[str, Any]], bool]:
    """Every member's status, polled until all answer with one applied index twice in a row (settled),
    or ``settle_timeout`` passes (the last poll, not settled)."""
    deadline = time.monotonic() + settle_timeout
    previous: dict[str, dict[str, Any]] | None = None
    while True:
        statuses = {n.name: member_status(cluster, n, timeout) for n in nodes}
        indexes = {s.get("applied_index") for s in statuses.values()}
        agreed = all(s["error"] is None for s in statuses.values()) and len(indexes) == 1
        if agreed and previous == statuses:
            return statuses, True
        if time.monotonic() >= deadline:
            return statuses, False
        previous = statuses if agreed else None
        time.sleep(0.3)


def hashkv(cluster: Cluster, node: Node, revision: int, timeout: float) -> tuple[dict[str, Any], str]:
    """``({"hash", "compact_revision"} or {"error"}, method)``: the member's HashKV at ``revision``."""
    try:
        with cluster.client(node, request_timeout=timeout) as client:
            out = client.post("/v3/maintenance/hashkv", {"revision": revision}, timeout=timeout)
        return {"hash": _int(out.get("hash")), "compact_revision": _int(out.get("compact_revision"))}, "gateway"
    except EtcdError as e:
        if e.status != 404:
            return {"error": str(e)}, "gateway"
    # No HashKV in this version's gateway: the node's own etcdctl, on its own client port. The query is
    # read-only, so asking again is safe; under load `docker exec` has come back with empty output.
    argv = ["etcdctl", "--endpoints=http://127.0.0.1:2379", f"--command-timeout={max(1, int(timeout))}s",
            "endpoint", "hashkv", f"--rev={revision}", "-w", "json"]
    answer: dict[str, Any] = {}
    for attempt in range(ETCDCTL_ATTEMPTS):
        if attempt:
            time.sleep(0.5)
        answer = _etcdctl_hashkv(cluster, node, argv)
        if "error" not in answer:
            break
    return answer, "etcdctl"


#: How often a read-only ``etcdctl endpoint hashkv`` is asked before its error is the answer.
ETCDCTL_ATTEMPTS = 3


def _etcdctl_hashkv(cluster: Cluster, node: Node, argv: list[str]) -> dict[str, Any]:
    try:
        code, text = cluster.exec(node, argv, check=False)
    except Exception as e:
        return {"error": f"etcdctl endpoint hashkv: {type(e).__name__}: {e}"}
    if code != 0:
        return {"error": f"etcdctl endpoint hashkv exited {code}: {text.strip()[:300]}"}
    # The JSON array is one line; etcdctl's own log lines (zap JSON objects) may surround it.
    line = next((ln for ln in text.splitlines() if ln.lstrip().startswith("[")), "")
    try:
        answer = json.loads(line)[0]["HashKV"]
        return {"hash": _int(answer.get("hash")), "compact_revision": _int(answer.get("compact_revision"))}
    except (ValueError, LookupError, TypeError, AttributeError) as e:
        return {"error": f"etcdctl endpoint hashkv printed what is not its JSON ({e}): {text.strip()[:300]!r}"}


def alarms(cluster: Cluster, node: Node, names: dict[str, str],
           timeout: float) -> list[dict[str, str]] | dict[str, str]:
    """The alarms ``node`` lists, ``[{"member": name, "alarm": "CORRUPT"}]``, or ``{"error": ...}``."""
    try:
        with cluster.client(node, request_timeout=timeout) as client:
            out = client.post("/v3/maintenance/alarm", {"action": "GET"}, timeout=timeout)
    except EtcdError as e:
        return {"error": str(e)}
    listed = out.get("alarms")
    if not isinstance(listed, list):
        listed = []
    # The gateway leaves out a zero memberID (etcd's periodic corruption check raises CORRUPT with 0).
    ids = [str(a.get("memberID", "0")) for a in listed if isinstance(a, dict)]
    return [{"member": names.get(member_id, f"member id {member_id}"), "alarm": str(a.get("alarm", "NONE"))}
            for member_id, a in zip(ids, [a for a in listed if isinstance(a, dict)], strict=True)]


def collect_cluster_facts(cluster: Cluster, *, timeout: float = 3.0, settle_timeout: float = 10.0) -> dict[str, Any]:
    """The facts ``checkers/cluster_state.py`` judges (its docstring spells the format)."""
    t0 = time.monotonic()
    nodes = list(cluster.nodes)
    statuses, settled = settled_statuses(cluster, nodes, timeout=timeout, settle_timeout=settle_timeout)
    revisions = [s["revision"] for s in statuses.values() if isinstance(s.get("revision"), int)]
    facts: dict[str, Any] = {"members": statuses, "settled": settled}
    if revisions:
        common = min(revisions)
        hashes: dict[str, Any] = {}
        method = ""
        for n in nodes:
            if statuses[n.name].get("error"):
                continue
            hashes[n.name], method = hashkv(cluster, n, common, timeout)
        facts["hashkv"] = {"revision": common, "method": method, "members": hashes}
    names = {s["member_id"]: name for name, s in statuses.items() if s.get("member_id")}
    facts["alarms"] = {"members": {n.name: alarms(cluster, n, names, timeout) for n in nodes}}
    facts["collect_s"] = round(time.monotonic() - t0, 3)
    return facts


def corrupt_member(cluster: Cluster, node: Node, *, timeout: float = 5.0) -> dict[str, Any]:
    """The canary: put :data:`CANARY_KEY`, wait until every member applied it and flushed it to its
    bbolt file, then overwrite its value inside ``node``'s file (same length, in place). Returns
    what was done, ``{"node", "key", "revision", "overwritten"}`` (``overwritten``: copies of the
    value found in the file; 0 means the corruption did not happen), or ``{"error"}``."""
    others = [n for n in cluster.nodes if n != node] or [node]
    try:
        with cluster.client(others[0], request_timeout=timeout) as client:
            revision = client.put(CANARY_KEY, CANARY_VALUE)
    except EtcdError as e:
        return {"node": node.name, "error": f"could not put the canary key: {e}"}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        revs = [member_status(cluster, n, 1.0).get("revision") for n in cluster.nodes]
        if all(isinstance(r, int) and r >= revision for r in revs):
            break
        time.sleep(0.2)
    # etcd commits its bbolt batch every 100 ms: wait for the value to be in the file.
    time.sleep(1.0)
    try:
        code, text = cluster.exec(node, ["perl", "-e", _OVERWRITE_IN_PLACE, DB_PATH, CANARY_VALUE,
                                         CORRUPTED_VALUE], check=False)
    except Exception as e:
        return {"node": node.name, "error": f"could not overwrite the value: {type(e).__name__}: {e}"}
    overwritten = _int(text.strip().splitlines()[-1]) if code == 0 and text.strip() else None
    if overwritten is None:
        return {"node": node.name, "error": f"overwriting the value exited {code}: {text.strip()[:300]}"}
    log.info("corrupt_member: overwrote %d copies of the canary value in %s's %s", overwritten, node.name, DB_PATH)
    return {"node": node.name, "key": CANARY_KEY, "revision": revision, "db": DB_PATH, "overwritten": overwritten}
