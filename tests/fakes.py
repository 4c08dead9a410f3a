"""In-memory stand-ins for the fast tier: a cluster, a workload, faults and checkers.

No Docker, no network. Each records what was done to it, in order, in a shared
:class:`Journal`, and can be told to fail. :class:`FakeCluster` implements the
:class:`~harness.etcd.Cluster` protocol (mypy checks it below), so
``run_test(spec, cluster=FakeCluster(), workload=FakeWorkload(spec), faults=[FakeFault()])``
runs a whole test in a fraction of a second.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checkers import CheckContext, Checker, Result, Validity
from harness.core import ClusterError, History, Op, OpType, RunDir, TestSpec
from harness.etcd import CLIENT_PORT, EtcdClient, Member, Node
from nemesis import Fault
from workloads import Client, Invocation, ProcessScript, Sleep, Workload, WorkloadContext

if TYPE_CHECKING:
    from harness.etcd import Cluster, Membership, NodeFiles, NodeLogs


class Journal:
    """What happened, in order, across every fake (``"cluster.start"``, ``"fault.heal:a"``...). Thread-safe."""

    def __init__(self) -> None:
        self._events: list[str] = []
        self._lock = threading.Lock()

    def add(self, event: str) -> None:
        with self._lock:
            self._events.append(event)

    @property
    def events(self) -> list[str]:
        with self._lock:
            return list(self._events)

    def count(self, event: str) -> int:
        return self.events.count(event)

    def index(self, event: str) -> int:
        """Where ``event`` first happened; ValueError if it never did."""
        return self.events.index(event)


# -- the cluster ---------------------------------------------------------------------------


class FakeCluster:
    """An in-memory :class:`~harness.etcd.Cluster` of ``size`` nodes, always "healthy" unless told.

    ``fail`` maps a method name to the exception it raises on every call: e.g.
    ``{"wait_healthy": ClusterError(...)}`` is a cluster that never recovers after heal,
    ``{"start": ClusterError(...)}`` one that never comes up. ``delays`` maps a method name to
    the seconds each call takes (a slow ``leader`` probe, say). Each call is counted in
    :attr:`calls`; lifecycle calls and what faults do also go to the :attr:`journal`.
    """

    def __init__(self, size: int = 3, *, journal: Journal | None = None, run_id: str = "fake",
                 etcd_version: str = "3.5.16", v2: bool = True,
                 fail: Mapping[str, BaseException] | None = None,
                 delays: Mapping[str, float] | None = None) -> None:
        self.run_id = run_id
        self.size = size
        self.nodes: list[Node] = []
        self.etcd_version = etcd_version
        self.started_in_s = 0.0
        self.journal = journal if journal is not None else Journal()
        self.fail: dict[str, BaseException] = dict(fail or {})
        self.delays: dict[str, float] = dict(delays or {})
        self.calls: dict[str, int] = {}
        self.kills: list[str] = []
        self.restarts: list[str] = []
        self.pauses: list[str] = []
        self.resumes: list[str] = []
        self.signals: list[tuple[str, str]] = []
        self.execs: list[tuple[str, tuple[str, ...]]] = []
        self.exec_result: tuple[int, str] = (0, "")
        self.collected_logs: list[Path] = []
        self.teardowns = 0
        self.leader_name: str | None = "n1"
        self.state: dict[str, str] = {}  # node -> running / paused / exited
        self.sigstopped: set[str] = set()
        # Membership (the Membership capability): node name -> member id; ids grow as members are added.
        self.member_ids: dict[str, int] = {}
        self.stray_members: list[Member] = []  # members no node stands for (a half-done add)
        self._next_member_id = 0x100
        self.files: dict[tuple[str, str], bytes] = {}  # (node, path) -> contents (NodeFiles)
        self.logs: dict[str, str] = {}  # node -> log text (NodeLogs)
        self._v2 = v2
        self._lock = threading.Lock()

    def _call(self, method: str, detail: str = "", *, journal: bool = True) -> None:
        with self._lock:
            self.calls[method] = self.calls.get(method, 0) + 1
        if journal:
            self.journal.add(f"cluster.{method}" + (f":{detail}" if detail else ""))
        if self.delays.get(method):
            time.sleep(self.delays[method])
        error = self.fail.get(method)
        if error is not None:
            raise error

    # -- lifecycle

    def start(self) -> None:
        self._call("start")
        self.nodes = [Node(name=f"n{i}", ip=f"10.0.0.{10 + i}", container=f"fake-{self.run_id}-n{i}",
                           host_port=40000 + i) for i in range(1, self.size + 1)]
        self.state = {n.name: "running" for n in self.nodes}
        self.member_ids = {n.name: self._new_member_id() for n in self.nodes}
        self.started_in_s = 0.001

    def teardown(self) -> None:
        """Idempotent and never raises, as the protocol says (``fail`` does not apply)."""
        with self._lock:
            self.teardowns += 1
        self.journal.add("cluster.teardown")

    def collect_logs(self, run_dir: Path) -> None:
        self._call("collect_logs")
        self.collected_logs.append(run_dir)
        for node in self.nodes:
            path = RunDir(run_dir).node_log(node.name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"(fake cluster {self.run_id}: no etcd log for {node.name})\n")

    # -- finding nodes and talking to them

    @property
    def v2_enabled(self) -> bool:
        return self._v2

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def endpoint(self, node: Node) -> str:
        return f"http://{node.name}.fake.invalid:{CLIENT_PORT}"

    def client(self, node: Node, *, request_timeout: float = 5.0) -> EtcdClient:
        """A real client for an address that never resolves: making one touches no network."""
        self._call("client", node.name, journal=False)
        return EtcdClient(self.endpoint(node), request_timeout=request_timeout)

    def status(self, node: Node, timeout: float = 1.0) -> dict[str, Any]:
        self._call("status", node.name, journal=False)
        return {"name": node.name, "version": self.etcd_version, "leader": self.leader_name}

    def leader(self, timeout: float = 1.0, among: Sequence[Node] | None = None) -> str | None:
        self._call("leader", journal=False)
        name = self.leader_name
        if name is None or not self._is_up(name):
            return None
        if among is not None and name not in {n.name for n in among}:
            return None
        return name

    def wait_healthy(self, timeout: float, nodes: Sequence[Node] | None = None) -> float:
        self._call("wait_healthy")
        return 0.0

    def wait_rejoined(self, node: Node, timeout: float, max_gap: int = 50) -> float:
        self._call("wait_rejoined", node.name)
        return 0.0

    def log_tail(self, node: Node, lines: int = 15) -> str:
        self._call("log_tail", node.name, journal=False)
        return ""

    # -- what faults do to nodes

    def exec(self, node: Node, argv: Sequence[str], *, check: bool = True) -> tuple[int, str]:
        self._call("exec", f"{node.name}:{' '.join(argv)}")
        with self._lock:
            self.execs.append((node.name, tuple(argv)))
        return self.exec_result

    def kill(self, node: Node) -> None:
        self._call("kill", node.name)
        with self._lock:
            self.kills.append(node.name)
            self.state[node.name] = "exited"

    def restart(self, node: Node) -> None:
        self._call("restart", node.name)
        with self._lock:
            self.restarts.append(node.name)
            self.state[node.name] = "running"
            self.sigstopped.discard(node.name)

    def signal(self, node: Node, signal: str) -> None:
        self._call("signal", f"{node.name}:{signal}")
        with self._lock:
            self.signals.append((node.name, signal))
            if signal == "SIGSTOP":
                self.sigstopped.add(node.name)
            elif signal == "SIGCONT":
                self.sigstopped.discard(node.name)
            elif signal in ("SIGKILL", "SIGTERM"):
                self.state[node.name] = "exited"

    def container_status(self, node: Node) -> str:
        self._call("container_status", node.name, journal=False)
        with self._lock:
            return self.state.get(node.name, "created")

    def pause(self, node: Node) -> None:
        self._call("pause", node.name)
        with self._lock:
            self.pauses.append(node.name)
            self.state[node.name] = "paused"

    def resume(self, node: Node) -> None:
        self._call("resume", node.name)
        with self._lock:
            self.resumes.append(node.name)
            if self.state.get(node.name) == "paused":
                self.state[node.name] = "running"

    def is_running(self, node: Node) -> bool:
        self._call("is_running", node.name, journal=False)
        return self._is_up(node.name)

    def _is_up(self, name: str) -> bool:
        with self._lock:
            return self.state.get(name) == "running" and name not in self.sigstopped

    # -- membership, files, logs (the optional capabilities)

    def _new_member_id(self) -> int:
        self._next_member_id += 1
        return self._next_member_id

    def _fake_node(self, name: str) -> Node:
        i = int(name[1:])
        return Node(name=name, ip=f"10.0.0.{10 + i}", container=f"fake-{self.run_id}-{name}", host_port=40000 + i)

    def members(self, timeout: float = 2.0) -> list[Member]:
        self._call("members", journal=False)
        with self._lock:
            listed = [Member(id=i, name=n, peer_urls=(self._fake_node(n).peer_url,))
                      for n, i in self.member_ids.items()]
            return listed + list(self.stray_members)

    def add_member(self, name: str | None = None, timeout: float = 30.0) -> Node:
        taken = {n.name for n in self.nodes}
        name = name or next(f"n{i}" for i in range(1, 64) if f"n{i}" not in taken)
        self._call("add_member", name)
        if name in taken:
            raise ClusterError(f"cannot add {name}: a node of that name is already running")
        node = self._fake_node(name)
        with self._lock:
            self.member_ids[name] = self._new_member_id()
            self.state[name] = "running"
        self.nodes = sorted([*self.nodes, node], key=lambda n: int(n.name[1:]))
        return node

    def remove_member(self, node: Node, timeout: float = 15.0) -> Member | None:
        self._call("remove_member", node.name)
        with self._lock:
            member_id = self.member_ids.pop(node.name, None)
            self.state.pop(node.name, None)
        self.nodes = [n for n in self.nodes if n.name != node.name]
        return None if member_id is None else Member(id=member_id, name=node.name, peer_urls=(node.peer_url,))

    def remove_stray_member(self, member: Member, timeout: float = 15.0) -> None:
        self._call("remove_stray_member", f"{member.id:x}")
        with self._lock:
            self.stray_members = [m for m in self.stray_members if m.id != member.id]

    def data_dir(self, node: Node) -> str:
        return "/var/lib/etcd/data"

    def read_file(self, node: Node, path: str) -> bytes:
        self._call("read_file", f"{node.name}:{path}")
        try:
            return self.files[(node.name, path)]
        except KeyError:
            raise ClusterError(f"{node.name}: no file {path}") from None

    def write_file(self, node: Node, path: str, data: bytes) -> None:
        self._call("write_file", f"{node.name}:{path}")
        self.files[(node.name, path)] = data

    def log_text(self, node: Node, since: float | None = None) -> str:
        self._call("log_text", node.name, journal=False)
        return self.logs.get(node.name, "")


if TYPE_CHECKING:
    _conforms: Cluster = FakeCluster()  # mypy: FakeCluster implements the Cluster protocol
    _membership: Membership = FakeCluster()  # ... and the optional capabilities
    _files: NodeFiles = FakeCluster()
    _logs: NodeLogs = FakeCluster()


# -- checkers ------------------------------------------------------------------------------


class FixedChecker:
    """A checker whose verdict is decided in advance."""

    def __init__(self, name: str, valid: Validity) -> None:
        self.name = name
        self.valid = valid

    def check(self, history: History, ctx: CheckContext) -> Result:
        return Result(self.valid, f"fixed: {self.valid}", {"ops": len(history)})


# -- the workload --------------------------------------------------------------------------

#: What a fake client answers: op (the invocation) -> its completion.
Responder = Callable[[Op], Op]


def answer_ok(op: Op) -> Op:
    return op.with_(type=OpType.OK, time=0)


class FakeClient:
    def __init__(self, workload: FakeWorkload, process: int, node: str) -> None:
        self.workload = workload
        self.process = process
        self.node = node
        self.closed = False

    def invoke(self, op: Op) -> Op:
        return self.workload.respond(op)

    def close(self) -> None:
        self.closed = True


class FakeWorkload(Workload):
    """Each process writes 1, 2, 3... (``f="write"``), pausing ``pause_s`` between ops; after the
    run one final ``read``. Its verdict is whatever ``verdicts`` says (name -> validity).

    ``respond`` answers each op (default: ok). ``fail`` maps a hook name (``setup``,
    ``open_client``, ``teardown``, ``final_invocations``) to the exception it raises;
    ``crash_after`` ops, the script of process 1 raises ``RuntimeError`` (a worker crash).
    A background thread runs from :meth:`setup` until :meth:`teardown`, like a lock
    workload's keepalives.
    """

    name = "fake"

    def __init__(self, spec: TestSpec, *, journal: Journal | None = None, respond: Responder = answer_ok,
                 verdicts: Mapping[str, Validity] | None = None, fail: Mapping[str, BaseException] | None = None,
                 crash_after: int | None = None, pause_s: float = 0.002) -> None:
        super().__init__(spec)
        self.journal = journal if journal is not None else Journal()
        self.respond = respond
        self.verdicts: dict[str, Validity] = dict(verdicts if verdicts is not None else {"fixed": True})
        self.fail: dict[str, BaseException] = dict(fail or {})
        self.crash_after = crash_after
        self.pause_s = pause_s
        self.opened: list[int] = []  # processes, in the order their clients opened
        self.teardowns = 0
        self._opened_lock = threading.Lock()
        self._background_stop = threading.Event()
        self.background: threading.Thread | None = None

    def _hook(self, name: str) -> None:
        self.journal.add(f"workload.{name}")
        error = self.fail.get(name)
        if error is not None:
            raise error

    def setup(self, ctx: WorkloadContext) -> None:
        self._hook("setup")
        self.background = threading.Thread(target=self._background_stop.wait, name="fake-background", daemon=True)
        self.background.start()

    def open_client(self, ctx: WorkloadContext, node: Node, process: int) -> Client:
        error = self.fail.get("open_client")
        if error is not None:
            raise error
        with self._opened_lock:
            self.opened.append(process)
        return FakeClient(self, process, node.name)

    def script(self, process: int, rng: random.Random) -> ProcessScript:
        n = 0
        while True:
            n += 1
            if self.crash_after is not None and process == 1 and n > self.crash_after:
                raise RuntimeError("fake workload: the script of process 1 crashed")
            yield Invocation("write", n, "k")
            if self.pause_s:
                yield Sleep(self.pause_s)

    def final_invocations(self) -> list[Invocation]:
        self._hook("final_invocations")
        return [Invocation("read", None, "k")]

    def teardown(self) -> None:
        self.teardowns += 1
        self._background_stop.set()
        if self.background is not None:
            self.background.join(timeout=1.0)
        self._hook("teardown")

    def checkers(self) -> dict[str, Checker]:
        return {name: FixedChecker(name, valid) for name, valid in self.verdicts.items()}


# -- faults --------------------------------------------------------------------------------


class FakeFault(Fault):
    """Pauses node n1 on start, resumes it on stop; heal resumes every node. ``fail`` maps
    ``start`` / ``stop`` / ``heal`` to the exception it raises (a :class:`~nemesis.FaultNotApplied`
    from ``stop`` is a stop whose verification failed). Each heal takes ``heal_s`` seconds, then
    sets :attr:`healed`."""

    def __init__(self, name: str = "fake", *, journal: Journal | None = None,
                 fail: Mapping[str, BaseException] | None = None, heal_s: float = 0.0) -> None:
        self.name = name
        self.journal = journal if journal is not None else Journal()
        self.fail: dict[str, BaseException] = dict(fail or {})
        self.heal_s = heal_s
        self.healed = threading.Event()
        self.starts = 0
        self.stops = 0
        self.heals = 0

    def _hook(self, what: str) -> None:
        self.journal.add(f"fault.{what}:{self.name}")
        error = self.fail.get(what)
        if error is not None:
            raise error

    def start(self, cluster: Cluster, rng: random.Random) -> dict[str, Any]:
        self.starts += 1
        self._hook("start")
        cluster.pause(cluster.nodes[0])
        return {"nodes": [cluster.nodes[0].name]}

    def stop(self, cluster: Cluster) -> dict[str, Any]:
        self.stops += 1
        self._hook("stop")
        cluster.resume(cluster.nodes[0])
        return {"nodes": [cluster.nodes[0].name]}

    def heal(self, cluster: Cluster) -> None:
        self.heals += 1
        self._hook("heal")
        if self.heal_s:
            time.sleep(self.heal_s)
        for node in cluster.nodes:
            cluster.resume(node)
        self.journal.add(f"fault.healed:{self.name}")
        self.healed.set()


def never_recovers() -> dict[str, BaseException]:
    """``FakeCluster(fail=never_recovers())``: ``wait_healthy`` after heal always times out."""
    return {"wait_healthy": ClusterError("fake: the cluster did not become healthy")}


__all__ = [
    "FakeClient",
    "FakeCluster",
    "FakeFault",
    "FakeWorkload",
    "FixedChecker",
    "Journal",
    "Responder",
    "answer_ok",
    "never_recovers",
]
