"""Member: change who is in the cluster while clients work, as an operator would.

Actions, one chosen at random per start from those that fit the member count,
unless restricted (``member:replace``, ``member:grow``, ``member:shrink``):

============  ==========================================================================
``replace``   remove one running member (any, the leader included): its member, its
              container and its data; ``stop`` adds a fresh member under the same name,
              with an empty data directory (``--initial-cluster-state existing``)
``grow``      (fewer than 5 members) add members, one at a time, up to 5 (two at most);
              ``stop`` removes them again
``shrink``    (more than 3 members) remove members down to 3 (two at most); ``stop``
              adds fresh ones back under the same names
============  ==========================================================================

A start waits for every node to run: a membership change while another fault
has a node down could cost the quorum (etcd's strict reconfiguration check
refuses most such changes; we do not lean on it).

Every change is verified through the cluster's member list, asked after the
change: an added member is listed under its name (it has started), a removed one
is not. The op value records the member lists before and after
(``members_before``/``members_after``: name → member id in hex), so the
history shows the new id a replaced member got.

``heal`` restores the configured membership from whatever state it finds:
members that no node stands for (a half-done add) are removed, the configured
names ``n1..n<size>`` that are missing are added fresh, nodes beyond them are
removed. It keeps the record of the active change, so a ``stop`` after it still
verifies the member list.

The cluster must have the :class:`~harness.etcd.Membership` capability;
otherwise a start is skipped.
"""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any

from harness.core import ClusterError
from harness.etcd import Membership
from nemesis._base import Fault, FaultNotApplied, FaultSkipped
from nemesis._pause import container_status, process_state

if TYPE_CHECKING:
    from harness.etcd import Cluster, Member

ACTIONS = ("replace", "grow", "shrink")
#: Membership changes stay between these sizes.
MIN_MEMBERS, MAX_MEMBERS = 3, 5
#: Members a grow or shrink adds or removes at most.
MAX_STEP = 2


def fitting_actions(actions: tuple[str, ...], count: int) -> list[str]:
    """The actions of ``actions`` that fit a cluster of ``count`` members."""
    fits = {"replace": count >= MIN_MEMBERS, "grow": count < MAX_MEMBERS, "shrink": count > MIN_MEMBERS}
    return [a for a in actions if fits[a]]


def step_size(action: str, count: int) -> int:
    """How many members ``action`` adds or removes at ``count`` members."""
    if action == "grow":
        return min(MAX_STEP, MAX_MEMBERS - count)
    if action == "shrink":
        return min(MAX_STEP, count - MIN_MEMBERS)
    return 1


def member_map(members: list[Member]) -> dict[str, str]:
    """name → id in hex, as the op value records it; a member not started yet is ``?<id>``."""
    return {(m.name or f"?{m.id:x}"): f"{m.id:x}" for m in members}


def configured_names(size: int) -> list[str]:
    return [f"n{i}" for i in range(1, size + 1)]


def restore_plan(size: int, node_names: list[str], members: list[Member],
                 node_urls: dict[str, str]) -> tuple[list[Member], list[str], list[str]]:
    """What brings the cluster back to its configured membership: (stray members to remove, names to
    add fresh, node names to remove). A stray member is one no node stands for (``node_urls``: node name
    → peer URL)."""
    urls = set(node_urls.values())
    strays = [m for m in members if not (set(m.peer_urls) & urls)]
    wanted = configured_names(size)
    to_add = [n for n in wanted if n not in node_names]
    to_remove = [n for n in node_names if n not in wanted]
    return strays, to_add, to_remove


def restore_membership(cluster: Cluster, add_timeout: float = 20.0) -> dict[str, Any]:
    """Bring ``cluster`` back to its configured members (see the module docstring); returns what was
    done. Raises ClusterError (or EtcdError) if a step fails."""
    if not isinstance(cluster, Membership):
        return {}
    strays, to_add, to_remove = restore_plan(cluster.size, [n.name for n in cluster.nodes], cluster.members(),
                                             {n.name: n.peer_url for n in cluster.nodes})
    for member in strays:
        cluster.remove_stray_member(member)
    for name in to_add:
        cluster.add_member(name, timeout=add_timeout)
    for name in to_remove:
        cluster.remove_member(cluster.node(name))
    return {"strays_removed": [f"{m.id:x}" for m in strays], "added": to_add, "removed": to_remove}


def membership_problems(cluster: Cluster) -> list[str]:
    """How the member list differs from the configured cluster, one line each (empty: it does not)."""
    if not isinstance(cluster, Membership):
        return []
    try:
        members = cluster.members()
    except ClusterError as e:
        return [f"member list: {e}"]
    problems = []
    names = sorted(m.name or f"(unstarted {m.id:x})" for m in members)
    if names != sorted(configured_names(cluster.size)):
        problems.append(f"members are {', '.join(names)}; configured: {', '.join(configured_names(cluster.size))}")
    if sorted(n.name for n in cluster.nodes) != sorted(configured_names(cluster.size)):
        problems.append(f"nodes are {', '.join(n.name for n in cluster.nodes)}; configured: "
                        f"{', '.join(configured_names(cluster.size))}")
    return problems


class MemberChange(Fault):
    name = "member"

    def __init__(self, actions: tuple[str, ...] = ACTIONS, add_timeout: float = 30.0) -> None:
        bad = [a for a in actions if a not in ACTIONS]
        if bad:
            raise ValueError(f"unknown member action {bad}; allowed: {', '.join(ACTIONS)}")
        self.actions = actions
        self.add_timeout = add_timeout
        self.action = ""
        self.to_add: list[str] = []  # what stop must add back (names)
        self.to_remove: list[str] = []  # what stop must remove again (names)
        self.members_at_start: list[Member] = []  # a re-added member must get a new id

    def start(self, cluster: Cluster, rng: random.Random) -> dict[str, Any]:
        if not isinstance(cluster, Membership):
            raise FaultSkipped("this cluster cannot change its membership")
        not_running = [n.name for n in cluster.nodes
                       if container_status(cluster, n) != "running" or process_state(cluster, n) == "T"]
        if not_running:
            raise FaultSkipped(f"membership changes wait for every node to run ({', '.join(not_running)} not)")
        before = cluster.members()
        fits = fitting_actions(self.actions, len(before))
        if not fits:
            raise FaultSkipped(f"no member action of {list(self.actions)} fits {len(before)} members")
        action = rng.choice(fits)
        t0 = time.monotonic()
        value: dict[str, Any] = {"action": action, "members_before": member_map(before)}
        self.action, self.members_at_start = action, before
        try:
            if action == "grow":
                for _ in range(step_size(action, len(before))):
                    node = cluster.add_member(timeout=self.add_timeout)
                    self.to_remove.append(node.name)
                value["nodes"] = list(self.to_remove)
            else:
                victims = sorted(rng.sample(list(cluster.nodes), step_size(action, len(before))),
                                 key=lambda n: n.name)
                for node in victims:
                    self.to_add.append(node.name)
                    cluster.remove_member(node)
                value["nodes"] = list(self.to_add)
            after = cluster.members()
        except (ClusterError, KeyError) as e:
            raise FaultNotApplied(f"{action}: {e}", value | {"added": self.to_remove, "removed": self.to_add}) from e
        value["members_after"] = member_map(after)
        problems = _check_members(after, present=self.to_remove, absent=self.to_add, before=before)
        if problems:
            raise FaultNotApplied(f"{action}: " + "; ".join(problems), value | {"verified": False})
        return value | {"verified": True, "apply_s": round(time.monotonic() - t0, 3)}

    def stop(self, cluster: Cluster) -> dict[str, Any]:
        if not isinstance(cluster, Membership):
            raise FaultSkipped("this cluster cannot change its membership")
        if not (self.action or self.to_add or self.to_remove):
            raise FaultSkipped("no membership change to undo")
        t0 = time.monotonic()
        before = cluster.members()
        to_add, to_remove, action, at_start = self.to_add, self.to_remove, self.action, self.members_at_start
        self.to_add, self.to_remove, self.action, self.members_at_start = [], [], "", []
        value: dict[str, Any] = {"action": action, "nodes": to_add + to_remove, "members_before": member_map(before)}
        try:
            running = {n.name for n in cluster.nodes}
            for name in to_add:
                if name not in running:  # heal may have added it already
                    cluster.add_member(name, timeout=self.add_timeout)
            for name in to_remove:
                if name in running:
                    cluster.remove_member(cluster.node(name))
            after = cluster.members()
        except (ClusterError, KeyError) as e:
            raise FaultNotApplied(f"undo {action}: {e}", value | {"verified": False}) from e
        value["members_after"] = member_map(after)
        problems = _check_members(after, present=to_add, absent=to_remove, before=at_start)
        if problems:
            raise FaultNotApplied(f"undo {action}: " + "; ".join(problems), value | {"verified": False})
        return value | {"verified": True, "heal_s": round(time.monotonic() - t0, 3)}

    def heal(self, cluster: Cluster) -> None:
        """Restore the configured membership; keeps the record of the active change for ``stop``."""
        try:
            restore_membership(cluster)
        except Exception:  # heal must not raise; leftovers() checks what remains
            return


def _check_members(members: list[Member], *, present: list[str], absent: list[str],
                   before: list[Member] | None = None) -> list[str]:
    """What is wrong with ``members`` if every name of ``present`` must be a started member and none of
    ``absent`` may be one."""
    names = {m.name for m in members}
    problems = [f"{n} is not in the member list" for n in present if n not in names]
    problems += [f"{n} is still in the member list" for n in absent if n in names]
    unstarted = [f"{m.id:x}" for m in members if not m.name]
    if unstarted:
        problems.append(f"members added but not started: {', '.join(unstarted)}")
    old_ids = {m.name: m.id for m in before or []}
    problems += [f"{m.name} kept its old member id {m.id:x}" for m in members
                 if m.name in present and old_ids.get(m.name) == m.id]
    return problems
