"""The :class:`Cluster` protocol: what the runner, the faults and the workloads may ask of a cluster.

:class:`~harness.etcd.DockerCluster` is the implementation that runs real etcd in
Docker; the unit tests use an in-memory one. Anything a fault or a workload needs
from the cluster belongs here, so a second backend (Kubernetes, say) has one list
of methods to implement.

Optional capabilities are protocols of their own, as Jepsen's DB capabilities are
(``Kill``, ``Pause``, ...): a fault that needs one checks ``isinstance(cluster,
Membership)`` and skips when the cluster cannot. :class:`Membership` changes who
is a member (the ``member`` fault, and the repair of a member that refuses to
start); :class:`NodeFiles` reads and writes a member's files even while it is
stopped (the ``file`` fault); :class:`NodeLogs` reads a node's whole log (the
``snapshot`` and ``file`` faults look for etcd's own evidence in it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from harness.etcd._client import EtcdClient, Member

LABEL = "etcd-harness"
RUN_LABEL = "etcd-harness.run"
#: ``host/pid/start-ticks`` of the process that started the run: ``clean`` spares runs whose owner lives.
OWNER_LABEL = "etcd-harness.owner"
ALLOWED_SIZES = (1, 3, 5, 7)
CLIENT_PORT = 2379
PEER_PORT = 2380
DEFAULT_IMAGE = "etcd-harness/etcd:3.5.16"


@dataclass(frozen=True, slots=True)
class Node:
    """One etcd member as the harness sees it."""

    name: str  # n1..nN, also the container's hostname
    ip: str  # fixed address on the run's network
    container: str  # container name
    host_port: int  # client port published on 127.0.0.1

    @property
    def peer_url(self) -> str:
        return f"http://{self.ip}:{PEER_PORT}"


class Cluster(Protocol):
    """An etcd cluster for one run. Every method is bounded in time.

    Lifecycle: :meth:`start` creates everything or nothing; :meth:`teardown` is
    idempotent, never raises, and is safe after a partial start.
    """

    run_id: str
    nodes: list[Node]
    etcd_version: str
    started_in_s: float

    # -- lifecycle
    def start(self) -> None: ...
    def teardown(self) -> None: ...
    def collect_logs(self, run_dir: Path) -> None:
        """Copy every node's log to ``run_dir/nodes/<node>/etcd.log``."""
        ...

    # -- finding nodes and talking to them
    @property
    def v2_enabled(self) -> bool: ...
    def node(self, name: str) -> Node: ...
    def endpoint(self, node: Node) -> str: ...
    def client(self, node: Node, *, request_timeout: float = 5.0) -> EtcdClient: ...
    def status(self, node: Node, timeout: float = 1.0) -> dict[str, Any]: ...
    def leader(self, timeout: float = 1.0, among: Sequence[Node] | None = None) -> str | None: ...
    def wait_healthy(self, timeout: float, nodes: Sequence[Node] | None = None) -> float: ...
    def wait_rejoined(self, node: Node, timeout: float, max_gap: int = 50) -> float: ...
    def log_tail(self, node: Node, lines: int = 15) -> str: ...

    # -- what faults do to nodes
    def exec(self, node: Node, argv: Sequence[str], *, check: bool = True) -> tuple[int, str]:
        """Run ``argv`` (a list, never a shell string) inside the node; (exit code, output)."""
        ...
    def kill(self, node: Node) -> None: ...
    def restart(self, node: Node) -> None: ...
    def signal(self, node: Node, signal: str) -> None:
        """Send ``signal`` (``"SIGSTOP"``, ``"SIGCONT"``, ...) to the node's etcd process."""
        ...
    def container_status(self, node: Node) -> str:
        """The runtime's view: ``running``, ``paused``, ``exited``, ..."""
        ...
    def pause(self, node: Node) -> None:
        """Freeze the node (its whole container: cgroup freezer)."""
        ...
    def resume(self, node: Node) -> None: ...
    def is_running(self, node: Node) -> bool:
        """Running and not paused."""
        ...


@runtime_checkable
class Membership(Protocol):
    """Optional capability: members can be added and removed while the cluster runs.

    ``size`` is the configured size, the one the run ends at. :meth:`add_member` and
    :meth:`remove_member` keep ``nodes`` equal to the started members: ``nodes`` is
    replaced (never mutated in place), so a reader holding the old list stays consistent.
    """

    size: int

    def members(self, timeout: float = 2.0) -> list[Member]:
        """The member list, as the first node that answers reports it; ClusterError if none does."""
        ...

    def add_member(self, name: str | None = None, timeout: float = 30.0) -> Node:
        """Add a member with an empty data directory (``--initial-cluster-state existing``), start it,
        and wait until it has joined; returns its node, now in ``nodes``. ``name`` reuses a name no
        current node has (a replaced member); by default the lowest free ``n<i>``. ClusterError, with
        the half-added member removed again, if it does not join within ``timeout``."""
        ...

    def remove_member(self, node: Node, timeout: float = 15.0) -> Member | None:
        """Remove ``node``'s member from the cluster (verified through the member list), then its
        container and data, keeping its log for :meth:`Cluster.collect_logs`; ``node`` leaves ``nodes``.
        Returns the removed member (None: it was no member, only a container)."""
        ...

    def remove_stray_member(self, member: Member, timeout: float = 15.0) -> None:
        """Remove a member that no node stands for (a half-done add), verified through the member list."""
        ...


@runtime_checkable
class NodeFiles(Protocol):
    """Optional capability: a node's files, read and written whether its etcd runs or not."""

    def data_dir(self, node: Node) -> str:
        """The etcd data directory inside the node (``--data-dir``)."""
        ...

    def read_file(self, node: Node, path: str) -> bytes:
        """The contents of ``path`` (absolute, inside the node); ClusterError if it cannot be read."""
        ...

    def write_file(self, node: Node, path: str, data: bytes) -> None:
        """Replace ``path`` (absolute, inside the node) with ``data``, keeping it owned by the same user."""
        ...


@runtime_checkable
class NodeLogs(Protocol):
    """Optional capability: a node's whole log, optionally only what it wrote since a wall-clock time."""

    def log_text(self, node: Node, since: float | None = None) -> str:
        """The node's log (stdout and stderr) written at or after ``since`` (Unix seconds; None: all)."""
        ...
