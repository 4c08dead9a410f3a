"""Network quality: delay with jitter (``latency``) and packet loss (``loss``) on peer links.

Both use tc netem on each node's ``eth0``, scoped to peer traffic so the
harness's client requests (to and from the gateway) keep their speed::

    root htb 1: (default class 1:1, unshaped)
      ├── class 1:1                 everything else (clients)
      └── class 1:2 ── netem 20:    u32 filters: ip dst = each peer

htb rather than prio because it is the classful qdisc kernels without
``sch_prio`` still have. Latency and loss share the one netem qdisc: each
start or stop rewrites it (``tc qdisc replace``) with the parameters of the
families active at that moment, so stopping one leaves the other in place.

Where the kernel has no netem (``sch_netem`` missing, as on some VM
kernels), ``loss`` falls back to iptables: ``-m statistic --mode random``
drops of packets *from* peers in the ``ETCD-HARNESS-LOSS`` chain, the same
per-direction loss. ``latency`` has no fallback: the start completes ``info``
with the reason.

Verification: ``latency`` pings a peer and needs a round trip of at least
half the configured delay (both directions are delayed, each by
``delay ± jitter``); ``loss`` checks that the qdisc or the rules are in place
on every node (a random drop rate cannot be verified cheaply). A ``stop``
checks that no node's netem still has the family's parameter (and that the
loss chain is gone). A ``stop`` after a start that applied nothing (no netem
on this kernel) raises :class:`FaultSkipped`: nothing was undone, nothing is
claimed verified.
"""

from __future__ import annotations

import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from nemesis import _firewall as fw
from nemesis._base import Fault, FaultNotApplied, FaultSkipped

if TYPE_CHECKING:
    from harness.etcd import Cluster, Node

TC, DEV = fw.TC, fw.DEVICE

# cluster run id -> family name -> its netem arguments, while active. Shared by
# Latency and Loss of one cluster; guarded by _LOCK.
_ACTIVE: dict[str, dict[str, list[str]]] = {}
# cluster run id -> why netem cannot be used there (the kernel is the same for every node).
_NETEM_MISSING: dict[str, str] = {}
_LOCK = threading.Lock()


class NetemUnavailable(FaultNotApplied):
    """The kernel has no netem qdisc."""


def _layout(peers: list[str]) -> list[list[str]]:
    cmds = [[TC, "qdisc", "add", "dev", DEV, "root", "handle", "1:", "htb", "default", "1"],
            [TC, "class", "add", "dev", DEV, "parent", "1:", "classid", "1:1", "htb", "rate", "10gbit"],
            [TC, "class", "add", "dev", DEV, "parent", "1:", "classid", "1:2", "htb", "rate", "10gbit"]]
    cmds += [[TC, "filter", "add", "dev", DEV, "parent", "1:", "protocol", "ip", "prio", "1",
              "u32", "match", "ip", "dst", f"{ip}/32", "flowid", "1:2"] for ip in peers]
    return cmds


def set_netem(cluster: Cluster, node: Node, args: list[str]) -> None:
    """Make ``node``'s peer-link netem be ``args`` (none: remove the layout). NetemUnavailable if no netem."""
    if not args:
        cluster.exec(node, [TC, "qdisc", "del", "dev", DEV, "root"], check=False)
        return
    _, shown = cluster.exec(node, [TC, "qdisc", "show", "dev", DEV])
    try:
        if "htb 1:" not in shown:
            peers = [n.ip for n in cluster.nodes if n is not node]
            for argv in _layout(peers):
                cluster.exec(node, argv)
        code, out = cluster.exec(node, [TC, "qdisc", "replace", "dev", DEV, "parent", "1:2", "handle", "20:",
                                        "netem", *args], check=False)
        if code != 0:
            if "unknown" in out.lower():
                raise NetemUnavailable(f"{node.name}: the kernel has no netem qdisc (sch_netem): {out.strip()}")
            raise FaultNotApplied(f"{node.name}: tc netem {' '.join(args)} failed: {out.strip()}")
    except Exception:
        cluster.exec(node, [TC, "qdisc", "del", "dev", DEV, "root"], check=False)
        raise


def combined(active: dict[str, list[str]]) -> list[str]:
    """One netem argument list for all active families (delay before loss, as netem wants)."""
    order = ("latency", "loss")
    return [a for name in order for a in active.get(name, [])]


def ping_ms(cluster: Cluster, src: Node, dst: Node) -> float | None:
    """One ICMP round trip from ``src`` to ``dst`` in ms, or None (3 s bound)."""
    code, out = cluster.exec(src, ["ping", "-c", "1", "-W", "3", dst.ip], check=False)
    match = re.search(r"time=([\d.]+) ms", out)
    return float(match.group(1)) if code == 0 and match else None


class NetworkQuality(Fault):
    """Shared start/stop/heal of the netem families; subclasses give ``netem_args``."""

    #: Whether an iptables random drop can stand in for netem.
    iptables_fallback = False

    def __init__(self) -> None:
        self.fallback_nodes: list[str] = []
        self.backends: dict[str, str] = {}  # node -> iptables command, for the loss fallback
        #: Whether the last start may have changed anything (a stop then has something to undo).
        self.applied = False
        self.not_applied_why = ""

    def netem_args(self) -> list[str]:
        raise NotImplementedError

    def fallback_probability(self) -> float:
        raise NotImplementedError

    def _apply_all(self, cluster: Cluster, nodes: list[Node], args: list[str]) -> None:
        with ThreadPoolExecutor(max(1, len(nodes))) as pool:
            list(pool.map(lambda n: set_netem(cluster, n, args), nodes))

    def start(self, cluster: Cluster, rng: random.Random) -> dict[str, Any]:
        t0 = time.monotonic()
        running = [n for n in cluster.nodes if cluster.is_running(n)]
        value: dict[str, Any] = {"nodes": [n.name for n in running], "netem": self.netem_args()}
        self.applied, self.not_applied_why = True, ""
        with _LOCK:
            if cluster.run_id not in _NETEM_MISSING:
                active = _ACTIVE.setdefault(cluster.run_id, {})
                active[self.name] = self.netem_args()
                try:
                    self._apply_all(cluster, running, combined(active))
                except NetemUnavailable as e:
                    _NETEM_MISSING[cluster.run_id] = str(e)
                    del active[self.name]
                except Exception as e:
                    del active[self.name]
                    self._apply_all(cluster, running, combined(active))  # put the others back
                    self.applied, self.not_applied_why = False, f"{type(e).__name__}: {e}"
                    raise
            missing = _NETEM_MISSING.get(cluster.run_id)
        if missing is None:
            value |= {"backend": "netem", **self.verify(cluster, running)}
        elif self.iptables_fallback:
            value |= {"backend": "iptables-statistic", "why": missing, **self.start_fallback(cluster, running)}
        else:
            why = missing + f"; {self.name} needs netem and has no fallback"
            self.applied, self.not_applied_why = False, why  # set_netem removed what it had added
            raise NetemUnavailable(why)
        return value | {"verified": True, "apply_s": round(time.monotonic() - t0, 3)}

    def verify(self, cluster: Cluster, running: list[Node]) -> dict[str, Any]:
        missing = [n.name for n in running if "netem" not in cluster.exec(n, [TC, "qdisc", "show", "dev", DEV])[1]]
        if missing:
            raise FaultNotApplied(f"netem qdisc not in place on {', '.join(missing)}")
        return {}

    def start_fallback(self, cluster: Cluster, running: list[Node]) -> dict[str, Any]:
        p = self.fallback_probability()

        def one(node: Node) -> str:
            if node.name not in self.backends:
                self.backends[node.name] = fw.detect_backend(cluster, node)
            backend = self.backends[node.name]
            if backend == fw.TC:
                raise FaultNotApplied(f"{node.name}: no netem and no iptables; cannot drop packets at random")
            peers = [n.ip for n in cluster.nodes if n is not node]
            fw.iptables_drop_from(cluster, node, backend, fw.LOSS_CHAIN, peers, probability=p)
            _, rules = cluster.exec(node, [backend, "-w", "-S", fw.LOSS_CHAIN])
            if sum("statistic" in line for line in rules.splitlines()) != len(peers):
                raise FaultNotApplied(f"{node.name}: loss rules not in place:\n{rules}")
            return backend

        self.fallback_nodes = [n.name for n in running]
        with ThreadPoolExecutor(max(1, len(running))) as pool:
            backends = dict(zip(self.fallback_nodes, pool.map(one, running), strict=True))
        return {"probability": p, "backends": backends}

    def stop(self, cluster: Cluster) -> dict[str, Any]:
        if not self.applied:
            raise FaultSkipped(f"nothing to stop: start-{self.name} applied nothing "
                               f"({self.not_applied_why or 'it was not started'})", {"verified": False})
        t0 = time.monotonic()
        running = [n for n in cluster.nodes if cluster.is_running(n)]
        with _LOCK:
            active = _ACTIVE.setdefault(cluster.run_id, {})
            was = active.pop(self.name, None)
            if was is not None:
                self._apply_all(cluster, running, combined(active))
        fallback = [n for n in running if n.name in self.fallback_nodes]
        with ThreadPoolExecutor(max(1, len(running))) as pool:
            list(pool.map(lambda n: fw.iptables_remove_chain(cluster, n, fw.LOSS_CHAIN), fallback))
        self.fallback_nodes, self.applied = [], False
        value: dict[str, Any] = {"nodes": [n.name for n in running], "still_active": sorted(active)}
        with ThreadPoolExecutor(max(1, len(running))) as pool:
            left = [p for ps in pool.map(lambda n: self._left_on(cluster, n, n in fallback), running) for p in ps]
        if left:
            raise FaultNotApplied(f"{self.name} still in effect after the stop: {'; '.join(left)}",
                                  value | {"verified": False})
        return value | {"verified": True, "heal_s": round(time.monotonic() - t0, 3)}

    def _left_on(self, cluster: Cluster, node: Node, fallback: bool) -> list[str]:
        """What of this family is still in place on ``node``: a netem with its parameter, the loss chain."""
        left = []
        code, out = cluster.exec(node, [TC, "qdisc", "show", "dev", DEV], check=False)
        keyword = self.netem_args()[0]  # "delay" / "loss"
        if code == 0 and any("netem" in line and f" {keyword} " in f"{line} " for line in out.splitlines()):
            left.append(f"{node.name}: netem {keyword} still set")
        backend = self.backends.get(node.name)
        if fallback and backend and cluster.exec(node, [backend, "-w", "-S", fw.LOSS_CHAIN], check=False)[0] == 0:
            left.append(f"{node.name}: chain {fw.LOSS_CHAIN} still there")
        return left

    def heal(self, cluster: Cluster) -> None:
        """Removes the whole netem layout (the other netem family's too) and the loss chain."""
        with _LOCK:
            _ACTIVE.pop(cluster.run_id, None)

        def heal_one(node: Node) -> None:
            try:
                if not cluster.is_running(node):
                    return  # a stopped container's namespace is gone; it restarts clean
                state = fw.inspect(cluster, node)
                if state.has_qdisc(f"qdisc htb 1: dev {DEV} root"):
                    cluster.exec(node, [TC, "qdisc", "del", "dev", DEV, "root"], check=False)
                fw.iptables_remove_chain(cluster, node, fw.LOSS_CHAIN, state)
            except Exception:  # heal must not raise; leftovers() checks what remains
                return

        with ThreadPoolExecutor(max(1, len(cluster.nodes))) as pool:
            list(pool.map(heal_one, cluster.nodes))
        # fallback_nodes and applied stay: a stop after the heal verifies that nothing is left.


class Latency(NetworkQuality):
    """``start-latency``: peer packets wait ``delay_ms ± jitter_ms`` (normal-ish, netem's default)."""

    name = "latency"

    def __init__(self, delay_ms: int = 100, jitter_ms: int = 50) -> None:
        super().__init__()
        self.delay_ms, self.jitter_ms = delay_ms, jitter_ms

    def netem_args(self) -> list[str]:
        return ["delay", f"{self.delay_ms}ms", f"{self.jitter_ms}ms"]

    def verify(self, cluster: Cluster, running: list[Node]) -> dict[str, Any]:
        super().verify(cluster, running)
        # Any reachable pair will do (a partition may cut some): both ends delay, so rtt >= delay.
        for src in running:
            for dst in running:
                if src is dst:
                    continue
                rtt = ping_ms(cluster, src, dst)
                if rtt is None:
                    continue
                if rtt < self.delay_ms / 2:
                    raise FaultNotApplied(f"ping {src.name}->{dst.name} took {rtt} ms; latency not in effect")
                return {"probe": f"{src.name}->{dst.name}", "probe_rtt_ms": rtt}
        return {"probe": "no peer answered a ping (partitioned?); qdiscs checked only"}


class Loss(NetworkQuality):
    """``start-loss``: each peer packet is dropped with probability ``percent``%."""

    name = "loss"
    iptables_fallback = True

    def __init__(self, percent: float = 20.0) -> None:
        super().__init__()
        self.percent = percent

    def netem_args(self) -> list[str]:
        return ["loss", f"{self.percent:g}%"]

    def fallback_probability(self) -> float:
        return self.percent / 100
