"""A real etcd cluster in Docker: one private network, nodes n1..nN (a :class:`~harness.etcd.Cluster`).

Contract:

* :meth:`DockerCluster.start` creates everything or nothing: if any step fails,
  what was created is removed before the error propagates.
* Every container and network carries the label ``etcd-harness=1`` and
  ``etcd-harness.run=<run id>``, so :func:`clean` finds leftovers of any run.
* Containers get the NET_ADMIN capability only (for iptables/tc faults), never
  ``--privileged``. The client port is published on 127.0.0.1 only.
* Each node has a fixed IP on the run's network, so a killed and restarted
  node keeps its address (partition rules and clients stay valid).
* Membership can change (:class:`~harness.etcd.Membership`): a member added later
  (``n<i>`` keeps its address) is a container like the others, with the same labels;
  a removed member's container goes with its data (etcd's data directory is in the
  container's own filesystem), its log kept for :meth:`DockerCluster.collect_logs`.
  A node's files can be read and written while it is stopped
  (:class:`~harness.etcd.NodeFiles`, through the engine's archive API).
* etcd is PID 1 (the image's exec-form entrypoint), so SIGKILL/SIGSTOP from
  Docker reach it, and a restart reuses the container's data directory.
* ``extra_args`` (``--etcd-arg``) go to every member;
  :meth:`DockerCluster.validate_extra_args` (the runner calls it before
  :meth:`DockerCluster.start`) checks each flag against the image's ``etcd --help``
  (read once per image, from a short-lived container) and raises
  :class:`UsageError` naming an unknown flag and its closest match.
* Nothing a signal can cut short leaves a trace: SIGINT and SIGTERM wait while a
  network or container is being created and while :meth:`DockerCluster.teardown`
  runs (they are delivered right after), so a second Ctrl-C cannot leave a
  container or the network behind. A run killed with SIGKILL is reclaimed by
  :func:`clean` (``etcd-harness clean``), by label.
"""

from __future__ import annotations

import difflib
import io
import ipaddress
import logging
import os
import random
import re
import socket
import tarfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path
from typing import Any

from harness.core import ClusterError, DockerUnavailable, ImageMissing, UsageError, signals_held
from harness.etcd._client import EtcdClient, EtcdError, Member
from harness.etcd._cluster import (
    ALLOWED_SIZES,
    CLIENT_PORT,
    DEFAULT_IMAGE,
    LABEL,
    OWNER_LABEL,
    PEER_PORT,
    RUN_LABEL,
    Node,
)

log = logging.getLogger(__name__)

#: etcd's data directory inside a node: in the container's own filesystem, so removing the
#: container (``v=True``) removes the data, and a new container starts empty.
DATA_DIR = "/var/lib/etcd/data"

#: How often the leader compares the members' KV hashes (``--experimental-corrupt-check-time``).
CORRUPT_CHECK_PERIOD = "10s"
#: image id -> the flags its ``etcd --help`` lists (without the leading ``--``).
_HELP_FLAGS: dict[str, frozenset[str]] = {}
_HELP_LOCK = threading.Lock()


def docker_client() -> Any:
    """A docker SDK client, or :class:`DockerUnavailable` saying how to fix it."""
    try:
        import docker

        client = docker.DockerClient.from_env(timeout=60)  # type: ignore[attr-defined]
        client.ping()
        return client
    except Exception as e:
        raise DockerUnavailable(
            f"cannot reach the Docker engine ({type(e).__name__}: {e}). Start Docker, or set DOCKER_HOST, "
            "and check that this user may use it (`docker info` must work)."
        ) from e


def docker_errors() -> Any:
    """The docker SDK's ``errors`` module (imported where used, as :func:`docker_client` does)."""
    import docker.errors

    return docker.errors


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DockerCluster:
    """An etcd cluster of ``size`` nodes for one run.

    Use as a context manager, or call :meth:`start` and :meth:`teardown` (which is
    idempotent and safe after a partial start).
    """

    def __init__(self, *, run_id: str, size: int = 5, image: str = DEFAULT_IMAGE, extra_args: Sequence[str] = (),
                 endpoint_mode: str = "auto", start_timeout: float = 60.0) -> None:
        if size not in ALLOWED_SIZES:
            raise ValueError(f"cluster size must be one of {ALLOWED_SIZES}, got {size}")
        self.run_id = run_id
        self.size = size
        self.image = image
        self.extra_args = list(extra_args)
        self.endpoint_mode = endpoint_mode
        self.start_timeout = start_timeout
        self.nodes: list[Node] = []
        self.network_name = f"etcd-harness-{run_id}"
        self.gateway_ip = ""
        self.etcd_version = ""
        self.started_in_s = 0.0
        self._docker: Any = None
        self._network: Any = None
        self._use_bridge_ip = False
        self._v2_enabled = False
        self._binary: list[str] = []
        self._hosts: list[str] = []  # the run's subnet: node n<i> has address _hosts[9 + i]
        self._retired_logs: list[tuple[str, bytes]] = []  # (node name, log) of removed members
        self._membership_lock = threading.Lock()  # one membership change at a time
        self._corrupt_check_args: list[str] = []

    # -- lifecycle -------------------------------------------------------------

    def __enter__(self) -> DockerCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.teardown()

    @property
    def labels(self) -> dict[str, str]:
        return {LABEL: "1", RUN_LABEL: self.run_id, OWNER_LABEL: owner_token()}

    def _inspect_image(self) -> Any:
        """Connect to Docker and read the image: the etcd version it is labelled with, and how to call
        etcd in it. :class:`DockerUnavailable`, :class:`ImageMissing` saying how to fix it."""
        if self._docker is None:
            self._docker = docker_client()
        try:
            image = self._docker.images.get(self.image)
        except Exception as e:
            raise ImageMissing(
                f"the etcd image {self.image!r} is not there. Build it with `make image` "
                "(or `bash docker/build-image.sh trixie`), or pass --image TAG for an etcd image you have."
            ) from e
        config = image.attrs.get("Config") or {}
        labels = config.get("Labels") or {}
        self.etcd_version = labels.get("etcd-harness.etcd-version", "")
        # Our images run etcd as the entrypoint. Other etcd images (e.g. upstream's) have
        # none and name the binary in Cmd: then the binary leads our arguments.
        cmd = config.get("Cmd") or []
        self._binary = [] if config.get("Entrypoint") else [cmd[0] if cmd and "etcd" in cmd[0] else "etcd"]
        return image

    def validate_extra_args(self) -> None:
        """Check ``extra_args`` against the image's ``etcd --help`` (read once per image, from a
        short-lived container) before anything is created: :class:`UsageError` naming an unknown flag
        and its closest match. The runner calls it before :meth:`start`."""
        if not self.extra_args:
            return
        image = self._inspect_image()
        self.check_extra_args(self.help_flags(str(image.id)))

    def start(self) -> None:
        """Create the network and nodes and wait until all are healthy and agree on a leader.
        (``extra_args`` go to etcd as given: :meth:`validate_extra_args` checks them first.)"""
        image = self._inspect_image()
        self._corrupt_check_args = self.corrupt_check_args(self.help_flags(str(image.id)))
        try:
            with signals_held():  # a create cut short could finish after teardown has looked
                self._create_network()
                self._create_nodes()
            t0 = time.monotonic()
            # Per-node Docker calls in parallel: each one costs about a second on a busy host.
            with signals_held(), ThreadPoolExecutor(self.size) as pool:
                list(pool.map(lambda c: c.start(), self._containers()))
            self._choose_endpoints()
            self.wait_healthy(self.start_timeout)
            self.started_in_s = time.monotonic() - t0
            if not self.etcd_version:
                self.etcd_version = self.status(self.nodes[0]).get("version", "")
        except BaseException:
            self.teardown()
            raise

    def help_flags(self, image_id: str) -> frozenset[str]:
        """The flags (without ``--``) that ``etcd --help`` of this image lists: read once per image,
        from a short-lived container that carries the run's labels (so :func:`clean` finds it)."""
        with _HELP_LOCK:
            if image_id in _HELP_FLAGS:
                return _HELP_FLAGS[image_id]
        try:
            with signals_held():
                out = self._docker.containers.run(
                    self.image, command=[*self._binary, "--help"], remove=True, stdout=True, stderr=True,
                    network_mode="none", labels={**self.labels, "etcd-harness.role": "help"})
        except Exception as e:
            raise ClusterError(f"could not read `etcd --help` from {self.image} to check --etcd-arg: "
                               f"{type(e).__name__}: {e}") from e
        text = out.decode("utf-8", "replace") if isinstance(out, bytes) else str(out)
        flags = frozenset(re.findall(r"^\s+--([a-z0-9][a-z0-9-]*)", text, re.MULTILINE))
        if not flags:
            raise ClusterError(f"`etcd --help` of {self.image} lists no flags; cannot check --etcd-arg:\n{text[:500]}")
        with _HELP_LOCK:
            _HELP_FLAGS[image_id] = flags
        return flags

    def corrupt_check_args(self, known: frozenset[str]) -> list[str]:
        """etcd's own corruption checks, on where this image's etcd has them (``known``: its ``etcd --help``
        flags): the initial check (a member whose data differs from its peers' refuses to start) and the
        periodic one (the leader compares the members' hashes every :data:`CORRUPT_CHECK_PERIOD` and raises
        a CORRUPT alarm). A flag the version lacks is left out, so it never breaks the start; one
        ``--etcd-arg`` also gives is left to it."""
        given = {a.lstrip("-").partition("=")[0] for a in self.extra_args if a.startswith("-")}
        wanted = {"experimental-initial-corrupt-check": "true",
                  "experimental-corrupt-check-time": CORRUPT_CHECK_PERIOD}
        return [f"--{flag}={value}" for flag, value in wanted.items() if flag in known and flag not in given]

    def check_extra_args(self, known: frozenset[str]) -> None:
        """:class:`UsageError` naming the first extra flag that ``known`` (the image's ``etcd --help``)
        does not list, with its closest match."""
        for arg in self.extra_args:
            if not arg.startswith("-"):
                continue  # the value of the flag before it
            name = arg.lstrip("-").partition("=")[0]
            if name in known:
                continue
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f" (did you mean --{close[0]}?)" if close else ""
            version = f"etcd {self.etcd_version}" if self.etcd_version else "etcd"
            raise UsageError(f"--etcd-arg {arg}: {version} ({self.image}) has no flag --{name}{hint}; "
                             f"`docker run --rm {self.image} --help` lists its flags")

    def _create_network(self) -> None:
        import docker.types

        used: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for net in self._docker.networks.list():
            for cfg in (net.attrs.get("IPAM") or {}).get("Config") or []:
                if cfg.get("Subnet"):
                    used.append(ipaddress.ip_network(cfg["Subnet"], strict=False))
        rng = random.Random()
        candidates = [ipaddress.ip_network(f"172.{a}.{b}.0/24") for a in range(28, 32) for b in range(256)]
        rng.shuffle(candidates)
        for subnet in candidates:
            if any(subnet.overlaps(u) for u in used):
                continue
            hosts = list(subnet.hosts())
            pool = docker.types.IPAMPool(subnet=str(subnet), gateway=str(hosts[0]))
            try:
                self._network = self._docker.networks.create(
                    self.network_name, driver="bridge", ipam=docker.types.IPAMConfig(pool_configs=[pool]),
                    labels=self.labels, check_duplicate=True,
                )
            except Exception as e:
                log.debug("network %s on %s failed: %s", self.network_name, subnet, e)
                continue
            self.gateway_ip = str(hosts[0])
            self._hosts = [str(h) for h in hosts]
            self.nodes = [
                Node(name=f"n{i}", ip=str(hosts[9 + i]), container=f"etcd-harness-{self.run_id}-n{i}",
                     host_port=_free_port())
                for i in range(1, self.size + 1)
            ]
            return
        raise ClusterError("no free /24 subnet in 172.28.0.0/14 for the cluster network; run `etcd-harness clean`")

    def etcd_args(self, node: Node, initial_cluster: str | None = None, state: str = "new") -> list[str]:
        """etcd's flags for ``node``: a founding member by default; a member added later passes the
        current members as ``initial_cluster`` and ``state="existing"``."""
        initial = initial_cluster or ",".join(f"{n.name}={n.peer_url}" for n in self.nodes)
        args = [
            "--name", node.name,
            "--data-dir", DATA_DIR,
            "--listen-client-urls", f"http://0.0.0.0:{CLIENT_PORT}",
            "--advertise-client-urls", f"http://{node.ip}:{CLIENT_PORT}",
            "--listen-peer-urls", f"http://0.0.0.0:{PEER_PORT}",
            "--initial-advertise-peer-urls", node.peer_url,
            "--initial-cluster", initial,
            "--initial-cluster-state", state,
            "--initial-cluster-token", f"etcd-harness-{self.run_id}",
            "--logger", "zap",
            "--log-outputs", "stderr",
        ]
        major_minor = tuple(int(x) for x in self.etcd_version.split(".")[:2]) if self.etcd_version else (3, 5)
        if major_minor < (3, 6):
            # v2 API for the lock-v2, index and ttl workloads; gone in 3.6.
            args.append("--enable-v2=true")
            self._v2_enabled = True
        return args + self._corrupt_check_args + self.extra_args

    def _create_nodes(self) -> None:
        with ThreadPoolExecutor(self.size) as pool:
            list(pool.map(self._create_node, self.nodes))

    def _create_node(self, node: Node, args: Sequence[str] | None = None) -> None:
        container = self._docker.containers.create(
            self.image,
            command=[*self._binary, *(self.etcd_args(node) if args is None else args)],
            name=node.container,
            hostname=node.name,
            labels={**self.labels, "etcd-harness.node": node.name},
            cap_add=["NET_ADMIN"],
            ports={f"{CLIENT_PORT}/tcp": ("127.0.0.1", node.host_port)},
            detach=True,
            network=None,
        )
        # Attach to our network with the fixed IP (and off the default bridge).
        with suppress(Exception):  # not attached to the default bridge: fine
            self._docker.networks.get("bridge").disconnect(container)
        self._network.connect(container, ipv4_address=node.ip, aliases=[node.name])

    def _choose_endpoints(self) -> None:
        """Talk to nodes on their bridge IPs where this host can route to them (Linux),
        else through the ports published on 127.0.0.1 (Docker Desktop)."""
        if self.endpoint_mode in ("bridge", "published"):
            self._use_bridge_ip = self.endpoint_mode == "bridge"
            return
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.nodes[0].ip, CLIENT_PORT), timeout=0.5):
                    self._use_bridge_ip = True
                    return
            except OSError:
                time.sleep(0.2)
        self._use_bridge_ip = False

    def endpoint(self, node: Node) -> str:
        if self._use_bridge_ip:
            return f"http://{node.ip}:{CLIENT_PORT}"
        return f"http://127.0.0.1:{node.host_port}"

    @property
    def v2_enabled(self) -> bool:
        return self._v2_enabled

    def client(self, node: Node, *, request_timeout: float = 5.0) -> EtcdClient:
        return EtcdClient(self.endpoint(node), request_timeout=request_timeout)

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def _containers(self) -> list[Any]:
        return [self._docker.containers.get(n.container) for n in self.nodes]

    def container(self, node: Node) -> Any:
        return self._docker.containers.get(node.container)

    # -- health ------------------------------------------------------------------

    def status(self, node: Node, timeout: float = 1.0) -> dict[str, Any]:
        with self.client(node, request_timeout=timeout) as c:
            return c.status(timeout=timeout)

    def member_names(self, timeout: float = 1.0) -> dict[int, str]:
        last: Exception | None = None
        for node in self.nodes:
            try:
                with self.client(node, request_timeout=timeout) as c:
                    return c.members(timeout=timeout)
            except EtcdError as e:
                last = e
        raise ClusterError(f"no node answered a member list: {last}")

    def leader(self, timeout: float = 1.0, among: Sequence[Node] | None = None) -> str | None:
        """The name of the leader that the answering nodes agree on, or None.

        Asks each node's maintenance status; nodes that do not answer are skipped.
        """
        ids: dict[str, int] = {}
        for node in among or self.nodes:
            try:
                st = self.status(node, timeout)
            except EtcdError:
                continue
            ids[node.name] = st["leader"]
            if st["leader"] and st["leader"] == st["member_id"]:
                return node.name
        leaders = {i for i in ids.values() if i}
        if len(leaders) == 1:
            try:
                return self.member_names(timeout).get(leaders.pop())
            except ClusterError:
                return None
        return None

    def wait_healthy(self, timeout: float, nodes: Sequence[Node] | None = None) -> float:
        """Wait until every node answers, all agree on one leader, and raft indexes are close.

        Returns the seconds waited. Raises :class:`ClusterError` naming the failing
        node with the tail of its log.
        """
        nodes = list(nodes or self.nodes)
        t0 = time.monotonic()
        deadline = t0 + timeout
        problem = "not checked yet"
        bad_node = nodes[0]
        while time.monotonic() < deadline:
            for node in nodes:
                state = self._container_state(node)
                if state not in ("running",):
                    raise ClusterError(f"node {node.name} is {state}; last log lines:\n{self.log_tail(node)}")
            statuses: dict[str, dict[str, Any]] = {}
            problem = ""
            for node in nodes:
                try:
                    statuses[node.name] = self.status(node, timeout=1.0)
                except EtcdError as e:
                    problem, bad_node = f"{node.name} does not answer: {e}", node
                    break
            if not problem:
                leaders = {s["leader"] for s in statuses.values()}
                indexes = [s["raft_index"] for s in statuses.values()]
                if 0 in leaders or len(leaders) != 1:
                    problem = f"no agreed leader yet ({sorted(leaders)})"
                elif max(indexes) - min(indexes) > 50:
                    problem = f"raft indexes still catching up ({min(indexes)}..{max(indexes)})"
                else:
                    return time.monotonic() - t0
            time.sleep(0.2)
        raise ClusterError(
            f"cluster not healthy after {timeout:.0f} s: {problem}; last log lines of {bad_node.name}:\n"
            f"{self.log_tail(bad_node)}"
        )

    def wait_rejoined(self, node: Node, timeout: float, max_gap: int = 50) -> float:
        """Wait until ``node`` answers, follows a leader, and its raft index is within ``max_gap``
        of that leader's. Returns the seconds waited; :class:`ClusterError` saying why not on timeout."""
        t0 = time.monotonic()
        problem = "not checked yet"
        while time.monotonic() - t0 < timeout:
            try:
                mine = self.status(node, timeout=1.0)
                leader = next((s for s in (self._status_or_none(n) for n in self.nodes)
                               if s and mine["leader"] and s["member_id"] == mine["leader"]), None)
            except EtcdError as e:
                problem = f"{node.name} does not answer: {e}"
            else:
                if leader is None:
                    problem = f"{node.name} follows no leader that answers"
                elif (gap := leader["raft_index"] - mine["raft_index"]) > max_gap:
                    problem = f"{node.name} is {gap} raft entries behind the leader"
                else:
                    return time.monotonic() - t0
            time.sleep(0.2)
        raise ClusterError(f"{node.name} did not rejoin within {timeout:.0f} s: {problem}")

    def _status_or_none(self, node: Node) -> dict[str, Any] | None:
        try:
            return self.status(node, timeout=1.0)
        except EtcdError:
            return None

    def _container_state(self, node: Node) -> str:
        try:
            c = self.container(node)
            c.reload()
            state = c.attrs.get("State", {})
            if state.get("Paused"):
                return "running"  # paused is a fault, not a crash
            return str(state.get("Status", "unknown"))
        except Exception as e:
            return f"missing ({e})"

    def log_tail(self, node: Node, lines: int = 15) -> str:
        """The last lines of a node's log, led by its last error lines (etcd prints a bad flag's
        error before a long usage text, so a plain tail would hide it)."""
        try:
            text = str(self.container(node).logs().decode("utf-8", "replace"))
        except Exception as e:
            return f"(no log: {e})"
        all_lines = text.splitlines()
        markers = ("error", "fatal", "panic", "not defined", "invalid")
        errors = [ln for ln in all_lines if any(w in ln.lower() for w in markers)][-5:]
        tail = [ln for ln in all_lines[-lines:] if ln not in errors]
        return "\n".join([*errors, *(["..."] if errors else []), *tail])

    # -- faults the nemesis uses -----------------------------------------------

    def exec(self, node: Node, argv: Sequence[str], *, check: bool = True) -> tuple[int, str]:
        """Run ``argv`` (a list: never a shell string) inside the node; returns (exit code, output)."""
        code, out = self.container(node).exec_run(list(argv), demux=False)
        text = out.decode("utf-8", "replace") if isinstance(out, bytes) else str(out or "")
        if check and code != 0:
            raise ClusterError(f"{node.name}: {' '.join(argv)} exited {code}: {text.strip()}")
        return int(code), text

    def kill(self, node: Node) -> None:
        self.container(node).kill(signal="SIGKILL")

    def restart(self, node: Node) -> None:
        """Start a killed node again with the same data directory and address."""
        c = self.container(node)
        c.reload()
        if c.attrs["State"]["Status"] != "running":
            c.start()

    def signal(self, node: Node, signal: str) -> None:
        self.container(node).kill(signal=signal)

    def container_status(self, node: Node) -> str:
        c = self.container(node)
        c.reload()
        state = c.attrs.get("State", {})
        return "paused" if state.get("Paused") else str(state.get("Status", "unknown"))

    def pause(self, node: Node) -> None:
        self.container(node).pause()

    def resume(self, node: Node) -> None:
        c = self.container(node)
        c.reload()
        if c.attrs["State"].get("Paused"):
            c.unpause()

    def is_running(self, node: Node) -> bool:
        c = self.container(node)
        c.reload()
        return bool(c.attrs["State"]["Status"] == "running" and not c.attrs["State"].get("Paused"))

    # -- membership (the Membership capability) ----------------------------------

    def members(self, timeout: float = 2.0) -> list[Member]:
        """The member list, as the leader reports it (else the first other node that answers: a
        follower may not have applied the latest change yet); ClusterError if none answers."""
        try:
            members: list[Member] = self._ask_members(lambda c: c.member_list(timeout=timeout), timeout)
        except EtcdError as e:
            raise ClusterError(f"no node answered a member list: {e}") from e
        return members

    def _ip_for(self, name: str) -> str:
        match = re.fullmatch(r"n(\d+)", name)
        if not match or not self._hosts or 9 + int(match.group(1)) >= len(self._hosts):
            raise ClusterError(f"no address for a node named {name!r} (names are n1, n2, ...)")
        return self._hosts[9 + int(match.group(1))]

    def _ask_members(self, call: Any, timeout: float, avoid: str = "") -> Any:
        """Run ``call(client)`` on the leader, else on any other node but ``avoid``; returns its result.
        Raises the last EtcdError if every node failed."""
        leader = self.leader(timeout=1.0)
        nodes = sorted((n for n in self.nodes if n.name != avoid), key=lambda n: n.name != leader)
        last: EtcdError | None = None
        for node in nodes:
            try:
                with self.client(node, request_timeout=timeout) as c:
                    return call(c)
            except EtcdError as e:
                last = e
        raise last or EtcdError("no node to ask", definite=True)

    def add_member(self, name: str | None = None, timeout: float = 30.0) -> Node:
        """See :meth:`harness.etcd.Membership.add_member`. A membership change is retried (within
        ``timeout``) only after the member list shows it did not happen: etcd refuses one while the
        cluster is not fully connected ("unhealthy cluster")."""
        with self._membership_lock:
            taken = {n.name for n in self.nodes}
            if name is None:
                name = next(f"n{i}" for i in range(1, 64) if f"n{i}" not in taken)
            elif name in taken:
                raise ClusterError(f"cannot add {name}: a node of that name is already running")
            node = Node(name=name, ip=self._ip_for(name), container=f"etcd-harness-{self.run_id}-{name}",
                        host_port=_free_port())
            deadline = time.monotonic() + timeout
            member = self._propose_add(node, deadline)
            try:
                names = {n.ip: n.name for n in self.nodes} | {node.ip: node.name}
                initial = ",".join(f"{m.name or names.get(_url_host(m.peer_urls[0]), f'm{m.id:x}')}={m.peer_urls[0]}"
                                   for m in self._members_with(member, deadline) if m.peer_urls)
                with signals_held():  # a create cut short could finish after teardown has looked
                    self._remove_container(node.container)  # a leftover of an earlier member of this name
                    self._create_node(node, self.etcd_args(node, initial, "existing"))
                    self.container(node).start()
                self.wait_rejoined(node, max(1.0, deadline - time.monotonic()))
            except BaseException:
                with suppress(Exception):
                    self._retire(node)
                    self._remove_by_id(member.id, 10.0, node.name)
                raise
            self.nodes = sorted([*self.nodes, node], key=lambda n: int(n.name[1:]))
            return node

    def _members_with(self, member: Member, deadline: float) -> list[Member]:
        """The member list as the leader (else another node) reports it once it holds ``member``: a
        node that lags would leave the new member out of its ``--initial-cluster``."""
        while True:
            with suppress(EtcdError):
                members: list[Member] = self._ask_members(lambda c: c.member_list(timeout=2.0), 2.0)
                if any(m.id == member.id for m in members):
                    return members
            if time.monotonic() > deadline:
                raise ClusterError(f"member {member.id:x} does not show in the member list")
            time.sleep(0.2)

    def _propose_add(self, node: Node, deadline: float) -> Member:
        # A member of this peer URL left over from an earlier, failed add would make etcd refuse
        # ("Peer URLs already exists") and must not be mistaken for the new one: remove it first.
        for stale in self.members():
            if node.peer_url in stale.peer_urls:
                self._remove_by_id(stale.id, max(1.0, deadline - time.monotonic()), node.name)
        while True:
            try:
                return self._ask_members(lambda c: c.member_add([node.peer_url], timeout=5.0), 5.0)  # type: ignore[no-any-return]
            except EtcdError as e:
                error = e
            # Did it happen after all (an indeterminate error)? The member list says.
            with suppress(ClusterError):
                for m in self.members():
                    if node.peer_url in m.peer_urls:
                        return m
            if time.monotonic() > deadline:
                raise ClusterError(f"could not add member {node.name}: {error}")
            time.sleep(0.5)

    def remove_member(self, node: Node, timeout: float = 15.0) -> Member | None:
        """See :meth:`harness.etcd.Membership.remove_member`."""
        with self._membership_lock:
            member = next((m for m in self.members() if node.peer_url in m.peer_urls), None)
            if member is not None:
                self._remove_by_id(member.id, timeout, node.name)
            with signals_held():
                self._retire(node)
            self.nodes = [n for n in self.nodes if n.name != node.name]
            return member

    def remove_stray_member(self, member: Member, timeout: float = 15.0) -> None:
        """See :meth:`harness.etcd.Membership.remove_stray_member`."""
        with self._membership_lock:
            self._remove_by_id(member.id, timeout, "")

    def _remove_by_id(self, member_id: int, timeout: float, avoid: str) -> None:
        """Remove a member, asking the other nodes; retried only after the member list shows it is
        still there; ClusterError if it still is at ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._ask_members(lambda c: c.member_remove(member_id, timeout=5.0), 5.0, avoid=avoid)
                error = ""
            except EtcdError as e:
                error = str(e)
                if "member not found" in error:
                    return
            with suppress(ClusterError):
                if all(m.id != member_id for m in self.members()):
                    return
            if time.monotonic() > deadline:
                raise ClusterError(f"member {member_id:x} is still in the member list after {timeout:.0f} s"
                                   + (f": {error}" if error else ""))
            time.sleep(0.5)

    def _retire(self, node: Node) -> None:
        """Keep the node's log for collect_logs, then remove its container and data."""
        with suppress(Exception):
            self._retired_logs.append((node.name, bytes(self.container(node).logs(stdout=True, stderr=True))))
        self._remove_container(node.container)

    def _remove_container(self, name: str) -> None:
        try:
            c = self._docker.containers.get(name)
        except Exception:
            return  # none of that name
        c.remove(force=True, v=True)

    # -- files and logs (the NodeFiles and NodeLogs capabilities) -------------------

    def data_dir(self, node: Node) -> str:
        return DATA_DIR

    def read_file(self, node: Node, path: str) -> bytes:
        """``path`` inside the node, through the engine's archive API: works on a stopped container."""
        try:
            stream, _ = self.container(node).get_archive(path)
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                member = tar.next()
                extracted = tar.extractfile(member) if member is not None else None
                if extracted is None:
                    raise ClusterError(f"{node.name}: {path} is not a regular file")
                return extracted.read()
        except ClusterError:
            raise
        except Exception as e:
            raise ClusterError(f"{node.name}: cannot read {path}: {type(e).__name__}: {e}") from e

    def write_file(self, node: Node, path: str, data: bytes) -> None:
        """Replace ``path`` inside the node through the archive API (a stopped container too); keeps the
        owner the file had."""
        folder, _, base = path.rpartition("/")
        try:
            c = self.container(node)
            info = tarfile.TarInfo(base)
            info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
            with suppress(docker_errors().NotFound):  # a new file: root's, mode 600
                stream, stat = c.get_archive(path)
                with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                    old = tar.next()
                info.mode = int(stat.get("mode", 0o600)) & 0o7777
                if old is not None:
                    info.uid, info.gid, info.mtime = old.uid, old.gid, old.mtime
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w") as tar:
                tar.addfile(info, io.BytesIO(data))
            if not c.put_archive(folder or "/", buf.getvalue()):
                raise ClusterError(f"{node.name}: the engine refused to write {path}")
        except ClusterError:
            raise
        except Exception as e:
            raise ClusterError(f"{node.name}: cannot write {path}: {type(e).__name__}: {e}") from e

    def log_text(self, node: Node, since: float | None = None) -> str:
        kwargs: dict[str, Any] = {"stdout": True, "stderr": True}
        if since is not None:
            kwargs["since"] = int(since)  # the engine takes whole seconds: a second early at most
        try:
            return str(self.container(node).logs(**kwargs).decode("utf-8", "replace"))
        except Exception as e:
            return f"(no log: {e})"

    # -- the end -----------------------------------------------------------------

    def collect_logs(self, run_dir: Path) -> None:
        """Copy every node's log to ``run_dir/nodes/<node>/etcd.log``, and the logs of members removed
        during the run (``member`` fault) to ``run_dir/nodes/<node>/etcd-removed-<k>.log``."""
        for k, (name, data) in enumerate(self._retired_logs, 1):
            dest = run_dir / "nodes" / name
            dest.mkdir(parents=True, exist_ok=True)
            (dest / f"etcd-removed-{k}.log").write_bytes(data)
        for node in self.nodes:
            dest = run_dir / "nodes" / node.name
            dest.mkdir(parents=True, exist_ok=True)
            try:
                data = self.container(node).logs(stdout=True, stderr=True)
                (dest / "etcd.log").write_bytes(data)
            except Exception as e:
                (dest / "etcd.log").write_text(f"(log unavailable: {e})\n")

    def teardown(self) -> None:
        """Remove this run's containers and network. Idempotent; never raises (a signal waits for it)."""
        if self._docker is None:
            return
        with signals_held():
            try:
                remove_labelled(self._docker, {RUN_LABEL: self.run_id})
            except Exception as e:  # the engine went away: `etcd-harness clean` reclaims the rest
                log.warning("could not tear down run %s: %s: %s; run `etcd-harness clean`", self.run_id,
                            type(e).__name__, e)


def remove_labelled(docker_api: Any, labels: dict[str, str]) -> tuple[int, int]:
    """Force-remove containers, then networks, carrying ``labels``; look again until none is left
    (three rounds at most). Returns (containers, networks) removed. The networks are removed even
    when removing the containers was cut short."""
    total = (0, 0)
    for _ in range(3):
        removed = _remove_labelled_once(docker_api, labels)
        total = (total[0] + removed[0], total[1] + removed[1])
        if removed == (0, 0):
            break
    return total


def _remove_labelled_once(docker_api: Any, labels: dict[str, str]) -> tuple[int, int]:
    filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
    n_networks = 0
    n_containers = 0

    def remove(c: Any) -> int:
        try:
            c.reload()
            if c.attrs["State"].get("Paused"):
                c.unpause()
            c.remove(force=True, v=True)
            return 1
        except Exception as e:
            log.warning("could not remove container %s: %s", c.name, e)
            return 0

    try:
        containers = docker_api.containers.list(all=True, filters=filters)
        with ThreadPoolExecutor(max(1, min(8, len(containers)))) as pool:
            n_containers = sum(pool.map(remove, containers))
    finally:  # whatever cut the containers' removal short (BaseException too), the network goes as well
        for net in docker_api.networks.list(filters=filters):
            try:
                net.remove()
                n_networks += 1
            except Exception as e:
                log.warning("could not remove network %s: %s", net.name, e)
    return n_containers, n_networks


def owner_token(pid: int | None = None) -> str:
    """``host/pid/start-ticks`` naming a process unambiguously on this host (a reused pid has
    another start time). Labels every container and network of a run (:data:`OWNER_LABEL`)."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}/{pid}/{_start_ticks(pid)}"


def _start_ticks(pid: int) -> str:
    """The process's start time in clock ticks since boot (``/proc/PID/stat`` field 22); "" if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # The command name (field 2) may hold spaces and parentheses: split after its closing ")".
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else ""


def owner_alive(token: str) -> bool:
    """Whether the process named by ``token`` (:func:`owner_token`) still runs on this host.

    A token from another host, or an unreadable one, counts as not alive only when it names this
    host: runs started elsewhere against a shared Docker engine are never judged dead here."""
    host, _, rest = token.partition("/")
    pid_text, _, ticks = rest.partition("/")
    if host != socket.gethostname():
        return True  # not ours to judge: another machine's run on a shared engine
    if not pid_text.isdigit():
        return False
    now = _start_ticks(int(pid_text))
    return bool(now) and now == ticks


def clean(run_id: str | None = None, *, include_live: bool = False) -> tuple[int, int, list[str]]:
    """Remove leftovers of every run (or of one run, named by ``run_id``, whatever its owner).

    Without ``run_id``, a run whose owner process is still alive on this host (a concurrent
    ``suite --jobs``, another CI job on the same engine) is spared unless ``include_live``:
    removing its cluster would turn its history into invented failures. Runs labelled before
    owners were recorded count as leftovers. Returns (containers, networks, run ids spared)."""
    api = docker_client()
    if run_id:
        return (*remove_labelled(api, {RUN_LABEL: run_id}), [])
    if include_live:
        return (*remove_labelled(api, {LABEL: "1"}), [])
    owners: dict[str, str] = {}
    for thing in [*api.containers.list(all=True, filters={"label": f"{LABEL}=1"}),
                  *api.networks.list(filters={"label": f"{LABEL}=1"})]:
        labels = (thing.attrs.get("Config") or {}).get("Labels") or thing.attrs.get("Labels") or {}
        run = labels.get(RUN_LABEL)
        if run:
            owners.setdefault(run, labels.get(OWNER_LABEL, ""))
    spared = sorted(run for run, owner in owners.items() if owner and owner_alive(owner))
    containers = networks = 0
    for run in sorted(set(owners) - set(spared)):
        c, n = remove_labelled(api, {RUN_LABEL: run})
        containers, networks = containers + c, networks + n
    # Anything labelled but without a run label (older versions) goes as before.
    c, n = _remove_unowned(api)
    return containers + c, networks + n, spared


def _remove_unowned(api: Any) -> tuple[int, int]:
    """Labelled containers and networks that carry no run label at all."""
    containers = networks = 0
    for c in api.containers.list(all=True, filters={"label": f"{LABEL}=1"}):
        if RUN_LABEL not in ((c.attrs.get("Config") or {}).get("Labels") or {}):
            with suppress(Exception):
                c.remove(force=True, v=True)
                containers += 1
    for net in api.networks.list(filters={"label": f"{LABEL}=1"}):
        if RUN_LABEL not in (net.attrs.get("Labels") or {}):
            with suppress(Exception):
                net.remove()
                networks += 1
    return containers, networks


def _url_host(url: str) -> str:
    """``http://172.28.1.11:2380`` → ``172.28.1.11``."""
    return url.split("://", 1)[-1].rsplit(":", 1)[0]
