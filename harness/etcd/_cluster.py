"""The :class:`Cluster` protocol: what the runner, the faults and the workloads may ask of a cluster.

:class:`~harness.etcd.DockerCluster` is the implementation that runs real etcd in
Docker; the unit tests use an in-memory one. Anything a fault or a workload needs
from the cluster belongs here, so a second backend (Kubernetes, say) has one list
of methods to implement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from harness.etcd._client import EtcdClient

LABEL = "etcd-harness"
RUN_LABEL = "etcd-harness.run"
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
