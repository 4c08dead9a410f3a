"""Packet filtering inside a node's network namespace: iptables (nft or legacy), else tc.

Every rule the harness adds lives in a chain of its own (``ETCD-HARNESS`` for
partitions, ``ETCD-HARNESS-LOSS`` for the loss fallback), jumped to from
``INPUT``; healing removes the jump and the chain and touches nothing else
(Docker's own rules in the namespace stay). Rules match *peer* source
addresses only, so the harness's client traffic (from the network gateway)
is never filtered.

Backend, per node (:func:`detect_backend`):

* ``iptables-nft`` or ``iptables-legacy``: whichever already holds more rules
  in the namespace (the iptables-wrapper heuristic: stay on the backend the
  system uses), nft on a tie; a variant whose ``-L`` fails is not a candidate.
* ``iptables``: a plain binary without the variants.
* ``tc``: no usable iptables. A ``clsact`` qdisc with u32 filters on *egress*
  redirects packets to a peer into a sink device that is down, where the
  kernel drops them (``mirred`` is the one action kernels without
  ``act_gact`` still have). "X stops hearing P" then is applied on P as "P
  sends nothing to X".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from nemesis._base import FaultNotApplied

if TYPE_CHECKING:
    from harness.etcd import Cluster, Node

PARTITION_CHAIN = "ETCD-HARNESS"
LOSS_CHAIN = "ETCD-HARNESS-LOSS"
IPTABLES_VARIANTS = ("iptables-nft", "iptables-legacy")
TC = "tc"
SINK_DEVICE = "nemesis-sink"  # <= 15 characters (IFNAMSIZ)
TC_FILTER_PREF = "49"  # our filters' preference on clsact egress; deleted together on heal
DEVICE = "eth0"


def _ok(cluster: Cluster, node: Node, argv: list[str]) -> bool:
    return cluster.exec(node, argv, check=False)[0] == 0


def _rule_count(cluster: Cluster, node: Node, variant: str) -> int | None:
    """Rules (``-A`` lines) in the namespace for ``variant``, or None if it cannot be used."""
    if not _ok(cluster, node, [variant, "-w", "-L", "INPUT", "-n"]):
        return None
    code, out = cluster.exec(node, [f"{variant}-save"], check=False)
    if code != 0:
        return None
    return sum(1 for line in out.splitlines() if line.startswith("-A "))


def detect_backend(cluster: Cluster, node: Node) -> str:
    """The packet-filter command for ``node``: an iptables variant, ``iptables``, or ``tc``.

    Raises :class:`FaultNotApplied` if the node has neither iptables nor tc.
    """
    counts = {v: n for v in IPTABLES_VARIANTS if (n := _rule_count(cluster, node, v)) is not None}
    if counts:
        # max() keeps the first of equal counts: nft wins a tie.
        return max(IPTABLES_VARIANTS, key=lambda v: counts.get(v, -1))
    if _ok(cluster, node, ["iptables", "-w", "-L", "INPUT", "-n"]):
        return "iptables"
    if _ok(cluster, node, [TC, "qdisc", "show", "dev", DEVICE]):
        return TC
    raise FaultNotApplied(f"{node.name} has neither a usable iptables nor tc; cannot filter packets")


# -- inspection ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NetState:
    """What one node's namespace holds: filter-table lines per usable iptables variant, and qdiscs."""

    filter_rules: dict[str, list[str]]  # "iptables-nft" / "iptables-legacy" -> `-save -t filter` lines
    qdiscs: list[str]  # `tc qdisc show` lines, every device
    links: list[str]  # network device names

    def chain_variants(self, chain: str) -> list[str]:
        """The variants in which ``chain`` exists."""
        return [v for v, lines in self.filter_rules.items() if any(line.startswith(f":{chain} ") for line in lines)]

    def jumps(self, variant: str, chain: str) -> int:
        return sum(1 for line in self.filter_rules.get(variant, []) if line.strip() == f"-A INPUT -j {chain}")

    def has_qdisc(self, fragment: str) -> bool:
        return any(fragment in line for line in self.qdiscs)

    @property
    def has_sink(self) -> bool:
        return SINK_DEVICE in self.links


def inspect(cluster: Cluster, node: Node) -> NetState:
    """One read of ``node``'s filter tables (both variants), qdiscs and devices: four execs."""
    rules: dict[str, list[str]] = {}
    for variant in IPTABLES_VARIANTS:
        code, out = cluster.exec(node, [f"{variant}-save", "-t", "filter"], check=False)
        if code == 0:
            rules[variant] = [line for line in out.splitlines() if line and not line.startswith("#")]
    code, out = cluster.exec(node, [TC, "qdisc", "show"], check=False)
    qdiscs = out.splitlines() if code == 0 else []
    code, out = cluster.exec(node, ["ip", "-o", "link", "show"], check=False)
    # "3: nemesis-sink: <BROADCAST,NOARP> ..." / "48: eth0@if49: ..." -> the name before any "@"
    links = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if code == 0 and ":" in line]
    return NetState(rules, qdiscs, links)


# -- iptables -----------------------------------------------------------------------


def iptables_drop_from(cluster: Cluster, node: Node, cmd: str, chain: str, sources: list[str],
                       probability: float | None = None) -> None:
    """Make ``node`` drop packets from each IP in ``sources`` (all, or with ``probability``)."""
    if _ok(cluster, node, [cmd, "-w", "-N", chain]) or not _ok(cluster, node, [cmd, "-w", "-C", "INPUT", "-j", chain]):
        cluster.exec(node, [cmd, "-w", "-I", "INPUT", "1", "-j", chain])
    match = [] if probability is None else ["-m", "statistic", "--mode", "random",
                                            "--probability", f"{probability:.4f}"]
    # A comma-separated source list: one exec, one rule per address.
    cluster.exec(node, [cmd, "-w", "-A", chain, "-s", ",".join(sources), *match, "-j", "DROP"])


def iptables_remove_chain(cluster: Cluster, node: Node, chain: str, state: NetState | None = None) -> None:
    """Remove ``chain`` and every jump to it, in every variant that has it. Idempotent."""
    state = state or inspect(cluster, node)
    variants = state.chain_variants(chain)
    if not state.filter_rules:  # no variant binaries: plain iptables, if any, blind
        variants = ["iptables"] if _ok(cluster, node, ["iptables", "-w", "-L", chain, "-n"]) else []
    for cmd in variants:
        for _ in range(max(1, state.jumps(cmd, chain))):
            cluster.exec(node, [cmd, "-w", "-D", "INPUT", "-j", chain], check=False)
        cluster.exec(node, [cmd, "-w", "-F", chain], check=False)
        cluster.exec(node, [cmd, "-w", "-X", chain], check=False)


def iptables_leftovers(node: Node, state: NetState) -> list[str]:
    """Chains of ours, or any rule in the filter table's INPUT, in any variant."""
    return [f"{node.name} {variant}: {line.strip()}"
            for variant, lines in state.filter_rules.items() for line in lines
            if "ETCD-HARNESS" in line or line.startswith("-A INPUT")]


# -- tc --------------------------------------------------------------------------------


def tc_drop_to(cluster: Cluster, node: Node, destinations: list[str]) -> None:
    """Make ``node`` send nothing to each IP in ``destinations`` (clsact egress + mirred to a down sink)."""
    state = inspect(cluster, node)
    if not state.has_sink:
        cluster.exec(node, ["ip", "link", "add", SINK_DEVICE, "type", "ifb"])  # left down: mirred drops
    if not state.has_qdisc("qdisc clsact "):
        cluster.exec(node, [TC, "qdisc", "add", "dev", DEVICE, "clsact"])
    for ip in destinations:
        cluster.exec(node, [TC, "filter", "add", "dev", DEVICE, "egress", "protocol", "ip", "pref", TC_FILTER_PREF,
                            "u32", "match", "ip", "dst", f"{ip}/32",
                            "action", "mirred", "egress", "redirect", "dev", SINK_DEVICE])


def tc_remove(cluster: Cluster, node: Node, state: NetState | None = None) -> None:
    """Remove the clsact qdisc (and its filters) and the sink device, where present. Idempotent."""
    state = state or inspect(cluster, node)
    if state.has_qdisc("qdisc clsact "):
        cluster.exec(node, [TC, "qdisc", "del", "dev", DEVICE, "clsact"], check=False)
    if state.has_sink:
        cluster.exec(node, ["ip", "link", "del", SINK_DEVICE], check=False)


def tc_leftovers(node: Node, state: NetState) -> list[str]:
    """Any qdisc other than the defaults (``noqueue`` on eth0 and lo), and our sink device."""
    found = [f"{node.name} tc: {line.strip()}" for line in state.qdiscs
             if line.strip() and not line.startswith("qdisc noqueue")]
    return found + ([f"{node.name}: device {SINK_DEVICE}"] if state.has_sink else [])
