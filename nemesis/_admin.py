"""Admin: the maintenance an operator runs during traffic: compaction, then defragmentation.

A start compacts the key-value history to the current revision minus a few
hundred (a random 100..500; at a revision below twice that, to half of it) and
then defragments one random running member. Both are requests a client sends,
through the cluster's own API; they are not undone, so a ``stop`` undoes
nothing: it checks that the defragmented member answers again and follows a
leader, and reports its backend size.

Verified when applied:

* compaction: the request is made ``physical`` (it returns once this member's
  backend has applied it), and a read at the revision just below the target
  must fail with "required revision has been compacted";
* defragmentation: the request succeeds and the member answers a status
  request afterwards; the op value has its backend size before and after.

A watch that asked for compacted revisions gets a compaction error; the watch
workload reports what it cannot resume as unknown. ``heal`` has nothing to undo.
"""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any

from harness.core import ClusterError
from harness.etcd import EtcdError
from nemesis._base import Fault, FaultNotApplied, FaultSkipped
from nemesis._pause import container_status, process_state

if TYPE_CHECKING:
    from harness.etcd import Cluster, Node

#: How far below the current revision the history is compacted: a random number in this range.
KEEP_REVISIONS = (100, 500)


def compaction_target(current: int, keep: int) -> int | None:
    """The revision to compact to: ``current - keep``, but at least half of ``current`` (a short test
    has few revisions); None if there is nothing to compact."""
    target = max(current - keep, current // 2)
    return target if target > 1 else None


class Admin(Fault):
    name = "admin"

    def __init__(self, keep: tuple[int, int] = KEEP_REVISIONS, rejoin_timeout: float = 15.0) -> None:
        self.keep = keep
        self.rejoin_timeout = rejoin_timeout
        self.defragmented: str | None = None

    @property
    def start_f(self) -> str:
        return "compact-defrag"

    @property
    def stop_f(self) -> str:
        return "check-defrag"

    def start(self, cluster: Cluster, rng: random.Random) -> dict[str, Any]:
        running = [n for n in cluster.nodes
                   if container_status(cluster, n) == "running" and process_state(cluster, n) != "T"]
        if not running:
            raise FaultSkipped("no running node to compact or defragment")
        keep = rng.randint(*self.keep)
        victim = rng.choice(running)
        t0 = time.monotonic()
        value: dict[str, Any] = {"node": victim.name}
        try:
            with cluster.client(victim, request_timeout=10.0) as c:
                current = c.status(timeout=2.0)
                revision, _ = c.get_prefix("\0", serializable=False)
                target = compaction_target(revision, keep)
                if target is None:
                    raise FaultSkipped(f"revision {revision}: nothing below {keep} revisions to compact",
                                       {"revision": revision})
                value |= {"revision": revision, "compact_to": target}
                c.compact(target, physical=True, timeout=10.0)
                value["compaction_verified"] = _compacted(c, target - 1)
                if not value["compaction_verified"]:
                    raise FaultNotApplied(f"compacted to {target}, yet revision {target - 1} can still be read",
                                          value | {"verified": False})
                value["db_size_before"] = current["db_size"]
                t_defrag = time.monotonic()
                c.defragment(timeout=30.0)
                value["defrag_s"] = round(time.monotonic() - t_defrag, 3)
                value["db_size_after"] = c.status(timeout=2.0)["db_size"]
        except EtcdError as e:
            if "compacted" in str(e) and "compact_to" in value and "compaction_verified" not in value:
                # Someone compacted further already: the history is compacted at least this far.
                raise FaultSkipped(f"revision {value['compact_to']} was compacted already: {e}", value) from e
            raise FaultNotApplied(f"{victim.name}: {e}", value | {"verified": False}) from e
        self.defragmented = victim.name
        return value | {"verified": True, "apply_s": round(time.monotonic() - t0, 3)}

    def stop(self, cluster: Cluster) -> dict[str, Any]:
        name, self.defragmented = self.defragmented, None
        if name is None:
            raise FaultSkipped("no member was defragmented")
        t0 = time.monotonic()
        try:
            node: Node = cluster.node(name)
        except KeyError as e:
            raise FaultSkipped(f"{name} is no longer a member (member fault)") from e
        try:
            cluster.wait_rejoined(node, self.rejoin_timeout)
            size = cluster.status(node, timeout=2.0)["db_size"]
        except (ClusterError, EtcdError) as e:
            raise FaultNotApplied(f"after defragmentation: {e}", {"node": name, "verified": False}) from e
        return {"node": name, "db_size": size, "verified": True, "heal_s": round(time.monotonic() - t0, 3)}

    def heal(self, cluster: Cluster) -> None:
        """Compaction and defragmentation are not undone; nothing to heal."""


def _compacted(client: Any, revision: int) -> bool:
    """Whether a read at ``revision`` fails as compacted."""
    try:
        client.post("/v3/kv/range", {"key": "AA==", "revision": str(revision)}, timeout=2.0)
    except EtcdError as e:
        return "compacted" in str(e)
    return False
