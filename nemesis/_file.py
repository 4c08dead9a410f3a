"""File: damage a stopped member's files, restart it, and record what etcd made of it.

Modes, one chosen at random per start unless restricted (``file:truncate-wal``...):

================  ===========================================================================
``truncate-wal``  cut 1..4096 bytes off the end of the records of the newest WAL segment
                  (a torn write: etcd repairs a torn tail of its last segment)
``flip-wal``      flip one bit in the last 4096 bytes of records of the newest WAL segment
                  (every WAL record has a CRC: etcd should notice)
``flip-db``       flip one bit in the used part of the bbolt backend ``member/snap/db``
                  (bbolt checksums only its meta pages: this may go unnoticed, and only the
                  end-of-run hash comparison of the members can tell)
================  ===========================================================================

The victim is one random member while every node runs (a minority: one node of
three or more). A start stops etcd on it with SIGSTOP (no more writes: the damage
lands on a quiet file), reads the file, changes it in place (``truncate``, or
``dd`` of one byte), checks the change by reading back the length or the byte,
and kills the member with SIGKILL: the member is now stopped with damaged files.

A stop restarts it and watches for ``observe_s`` seconds:

* ``refused``: the container exited; the op value has etcd's last error lines. The
  member is then *repaired* as an operator would: removed from the cluster and added
  again with an empty data directory (``member`` machinery), verified by rejoining.
* ``recovered``: it answered, followed the leader and caught up
  (:meth:`Cluster.wait_rejoined`); the value has any repair lines from its log.

Either outcome is fine for etcd; acknowledged writes must still never be lost, and
the checkers judge that from the history (and the hash comparison of the members).
``heal`` does the same recovery for a victim that is still down, and keeps its
result for the ``stop`` that follows.

Needs the :class:`~harness.etcd.NodeFiles` capability (and :class:`~harness.etcd.Membership`
to repair a member that refused to start).
"""

from __future__ import annotations

import random
import re
import time
from typing import TYPE_CHECKING, Any

from harness.core import ClusterError
from harness.etcd import EtcdError, Membership, NodeFiles, NodeLogs
from nemesis._base import Fault, FaultNotApplied, FaultSkipped
from nemesis._pause import container_status, process_state

if TYPE_CHECKING:
    from harness.etcd import Cluster, Node

MODES = ("truncate-wal", "flip-wal", "flip-db")
#: How far back from the end of the records a WAL damage reaches.
TAIL_BYTES = 4096
#: Where a one-byte patch is staged inside the node, for ``dd``.
PATCH_PATH = "/tmp/etcd-harness-patch"
#: Log lines that tell why etcd refused to start, or how it repaired: a warning or worse in etcd's JSON
#: log, Go's own panic line, or a WAL repair.
_EVIDENCE = re.compile(r'"level":"(warn|error|dpanic|panic|fatal)"|^panic:|repair', re.IGNORECASE)
_STRONG = re.compile(r'"level":"(dpanic|panic|fatal)"|^panic:|repair', re.IGNORECASE)


def used_length(data: bytes) -> int:
    """The length of ``data`` without its trailing zero bytes: a WAL segment is preallocated with
    zeros after its records (64 MB), and so are the unused pages at the end of a bbolt file."""
    return len(data.rstrip(b"\0"))


def newest_wal(listing: str) -> str | None:
    """The newest WAL segment in ``find -printf '%s %p\\n'`` output (segment names sort by sequence)."""
    wals = sorted(p for _, _, p in (line.partition(" ") for line in listing.splitlines()) if p.endswith(".wal"))
    return wals[-1] if wals else None


def plan_damage(mode: str, used: int, rng: random.Random) -> dict[str, int]:
    """Where to damage a file with ``used`` bytes of content: ``{"size": new length}`` for a truncation,
    ``{"offset": byte, "bit": 0..7}`` for a bit flip. ValueError if the file holds nothing to damage."""
    if used <= 0:
        raise ValueError("the file holds no data")
    if mode == "truncate-wal":
        return {"size": used - rng.randint(1, min(used, TAIL_BYTES))}
    if mode == "flip-wal":
        return {"offset": rng.randrange(max(0, used - TAIL_BYTES), used), "bit": rng.randrange(8)}
    if mode == "flip-db":
        return {"offset": rng.randrange(used), "bit": rng.randrange(8)}
    raise ValueError(f"unknown file mode {mode!r}")


def evidence_lines(log: str, limit: int = 5) -> list[str]:
    """The last ``limit`` lines of ``log`` that say why etcd refused to start or how it repaired: its
    panic, fatal and repair lines if it wrote any, else its warnings and errors."""
    found = [line[:400] for line in log.splitlines() if _EVIDENCE.search(line)]
    strong = [line for line in found if _STRONG.search(line)]
    return (strong or found)[-limit:]


class FileCorruption(Fault):
    name = "file"

    def __init__(self, modes: tuple[str, ...] = MODES, observe_s: float = 10.0, rejoin_timeout: float = 20.0) -> None:
        bad = [m for m in modes if m not in MODES]
        if bad:
            raise ValueError(f"unknown file mode {bad}; allowed: {', '.join(MODES)}")
        self.modes = modes
        self.observe_s = observe_s
        self.rejoin_timeout = rejoin_timeout
        self.victim: str | None = None
        self.damage: dict[str, Any] = {}
        self.outcome: dict[str, Any] | None = None  # the recovery, once done (by stop or heal)

    @property
    def start_f(self) -> str:
        return "corrupt-file"

    @property
    def stop_f(self) -> str:
        return "restart-corrupted"

    def start(self, cluster: Cluster, rng: random.Random) -> dict[str, Any]:
        if not isinstance(cluster, NodeFiles):
            raise FaultSkipped("this cluster gives no access to a member's files")
        if len(cluster.nodes) < 3:
            raise FaultSkipped("a damaged member must be a minority: needs 3 members or more")
        down = [n.name for n in cluster.nodes
                if container_status(cluster, n) != "running" or process_state(cluster, n) == "T"]
        if down:
            raise FaultSkipped(f"waits for every node to run ({', '.join(down)} not): one damaged member "
                               "must stay a minority")
        mode = rng.choice(self.modes)
        node = rng.choice(cluster.nodes)
        t0 = time.monotonic()
        value: dict[str, Any] = {"mode": mode, "node": node.name}
        self.victim, self.damage, self.outcome = node.name, value, None
        cluster.signal(node, "SIGSTOP")  # etcd writes nothing more; the kill below ends it
        try:
            value |= self._damage(cluster, node, mode, rng)
        except (ClusterError, ValueError) as e:
            self._kill(cluster, node)  # the member goes down either way: stop restarts it
            raise FaultNotApplied(f"{mode} on {node.name}: {e}", value | {"verified": False}) from e
        if not self._kill(cluster, node):
            raise FaultNotApplied(f"{node.name} still runs 5 s after SIGKILL", value | {"verified": False})
        return value | {"verified": True, "apply_s": round(time.monotonic() - t0, 3)}

    def _damage(self, cluster: Cluster, node: Node, mode: str, rng: random.Random) -> dict[str, Any]:
        assert isinstance(cluster, NodeFiles)
        member_dir = f"{cluster.data_dir(node)}/member"
        if mode == "flip-db":
            path = f"{member_dir}/snap/db"
        else:
            _, listing = cluster.exec(node, ["find", f"{member_dir}/wal", "-type", "f", "-printf", "%s %p\\n"])
            found = newest_wal(listing)
            if found is None:
                raise ClusterError(f"no WAL segment in {member_dir}/wal")
            path = found
        data = cluster.read_file(node, path)
        used = used_length(data)
        plan = plan_damage(mode, used, rng)
        value: dict[str, Any] = {"file": path, "file_bytes": len(data), "used_bytes": used}
        if "size" in plan:
            cluster.exec(node, ["truncate", "-s", str(plan["size"]), path])
            _, out = cluster.exec(node, ["stat", "-c", "%s", path])
            if int(out.strip() or -1) != plan["size"]:
                raise ClusterError(f"{path} is {out.strip()} bytes after truncating to {plan['size']}")
            return value | {"size_after": plan["size"], "cut_bytes": used - plan["size"]}
        offset, bit = plan["offset"], plan["bit"]
        before = data[offset]
        after = before ^ (1 << bit)
        cluster.write_file(node, PATCH_PATH, bytes([after]))
        try:
            cluster.exec(node, ["dd", f"if={PATCH_PATH}", f"of={path}", "bs=1", f"seek={offset}", "count=1",
                                "conv=notrunc"])
        finally:
            cluster.exec(node, ["rm", "-f", PATCH_PATH], check=False)
        _, out = cluster.exec(node, ["od", "-An", "-tu1", "-j", str(offset), "-N", "1", path])
        if out.strip() != str(after):
            raise ClusterError(f"byte {offset} of {path} reads {out.strip()} after the flip, not {after}")
        return value | {"offset": offset, "bit": bit, "byte_before": before, "byte_after": after}

    def _kill(self, cluster: Cluster, node: Node) -> bool:
        cluster.kill(node)
        deadline = time.monotonic() + 5.0
        while container_status(cluster, node) == "running":
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def stop(self, cluster: Cluster) -> dict[str, Any]:
        if self.victim is None:
            raise FaultSkipped("no member was damaged")
        outcome = self.outcome if self.outcome is not None else self._recover(cluster)
        self.victim, self.damage, self.outcome = None, {}, None
        if not outcome.get("verified"):
            raise FaultNotApplied(str(outcome.get("problem", "not recovered")), outcome)
        return outcome

    def _recover(self, cluster: Cluster) -> dict[str, Any]:
        """Restart the victim and see what etcd does; repair it if it refuses. Sets ``outcome``."""
        assert self.victim is not None
        t0 = time.monotonic()
        value: dict[str, Any] = {"node": self.victim, "mode": self.damage.get("mode")}
        try:
            node = cluster.node(self.victim)
        except KeyError:
            value |= {"outcome": "removed", "verified": True,
                      "problem": f"{self.victim} is no longer a member (member fault)"}
            self.outcome = value
            return value
        since = time.time()
        cluster.restart(node)
        deadline = time.monotonic() + self.observe_s
        state = "observing"
        while state == "observing":
            if container_status(cluster, node) in ("exited", "dead"):
                state = "refused"
            else:
                try:
                    cluster.wait_rejoined(node, 1.0)
                    state = "recovered"
                except ClusterError:
                    if time.monotonic() > deadline:
                        state = "stuck"
        # Only what this start logged (a container's log spans its restarts).
        log = cluster.log_text(node, since=since) if isinstance(cluster, NodeLogs) else cluster.log_tail(node, 40)
        value["outcome"] = state
        value["evidence"] = evidence_lines(log)
        value["restart_s"] = round(time.monotonic() - t0, 3)
        if state == "recovered":
            value["verified"] = True
        elif state == "refused":
            value |= self._repair(cluster, node)
        else:
            value |= {"verified": False, "problem": f"{node.name} restarted but neither exited nor rejoined "
                                                    f"within {self.observe_s:g} s"}
        value["heal_s"] = round(time.monotonic() - t0, 3)
        self.outcome = value
        return value

    def _repair(self, cluster: Cluster, node: Node) -> dict[str, Any]:
        """Replace a member that refused to start with a fresh one (empty data directory)."""
        if not isinstance(cluster, Membership):
            return {"verified": False, "problem": f"{node.name} refused to start and this cluster cannot "
                                                  "replace a member"}
        try:
            before = cluster.members()
            cluster.remove_member(node)
            cluster.add_member(node.name, timeout=self.rejoin_timeout)
            after = cluster.members()
        except (ClusterError, EtcdError) as e:
            return {"verified": False, "problem": f"{node.name} refused to start; replacing it failed: {e}"}
        old = {m.name: m.id for m in before}
        new = {m.name: m.id for m in after}
        replaced = node.name in new and new.get(node.name) != old.get(node.name)
        return {"repair": "replaced with an empty data directory", "verified": replaced,
                "members_before": {k: f"{v:x}" for k, v in old.items()},
                "members_after": {k: f"{v:x}" for k, v in new.items()},
                **({} if replaced else {"problem": f"{node.name} is not in the member list under a new id"})}

    def heal(self, cluster: Cluster) -> None:
        """Recover a victim that is still down (restart; replace it if it refuses); keeps the outcome."""
        if self.victim is None or self.outcome is not None:
            return
        try:
            # Also when another family's heal (kill) restarted it already: it may still exit.
            self._recover(cluster)
        except Exception:  # heal must not raise; leftovers() checks what remains
            return
