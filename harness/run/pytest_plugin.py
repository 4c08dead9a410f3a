"""pytest plugin: Jepsen-style tests against a real etcd cluster in Docker.

Installed with the package (entry point ``pytest11: etcd_harness``). A test asks
for the ``etcd_cluster`` fixture, records what its clients did, and the plugin
checks the history when the test body returns::

    import pytest

    @pytest.mark.jepsen(nodes=3, model="cas-register")
    def test_register(etcd_cluster):
        client = etcd_cluster.client("n1")
        h = etcd_cluster.history
        with h.op(0, "write", key="r", value=1):       # ok unless it raises
            client.put("/r", "1")
        with h.op(1, "read", key="r") as op:           # reads say what they read
            kv = client.get("/r")
            op.ok(None if kv is None else int(kv.value))
        with etcd_cluster.fault("partition"):           # a real fault, recorded and healed
            ...

Contract:

* ``etcd_cluster`` is a fresh :class:`~harness.etcd.DockerCluster` per test
  (3 nodes and the default image unless the ``jepsen`` marker or ``--etcd-nodes`` /
  ``--etcd-image`` say otherwise), torn down after the test whatever happens.
* ``history.op(process, f, ...)`` records an invocation and its completion. An
  etcd error is classified as in the harness: ``fail`` when it certainly did not
  take effect (reads always), else ``info``; the error is recorded, not raised.
  A process that got ``info`` continues under a new number (``p + 1000``), as
  in Jepsen. Any other exception is recorded as ``info`` and re-raised.
* When the body passes, the history is checked with the marker's ``model``
  (default ``cas-register``; ``check=False`` turns this off) within
  ``check_time_limit`` seconds; invalid fails the test with the checker's
  reason and the path of ``report.html``. Unknown (a limit was hit) fails too.
* Without a reachable Docker engine, or without the image, tests that use the
  fixtures or carry the ``jepsen`` marker are skipped, and the reason says how
  to fix it.
* ``jepsen_run(**spec)`` runs a whole :class:`~harness.core.TestSpec`
  (workload + nemesis) and returns the runner's outcome. The fields are checked first,
  with the rules of the CLI and YAML plans (``harness.run.spec_from_fields``): a bad
  value is a :class:`~harness.core.UsageError`, with or without Docker.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import re
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from checkers import CheckContext, Result, run_checkers
from checkers.linearizable import LinearizabilityChecker
from harness.core import NEMESIS, DockerUnavailable, HistoryWriter, ImageMissing, Op, OpType
from harness.etcd import DEFAULT_IMAGE, DockerCluster, EtcdError, docker_client
from harness.report import write_report
from harness.run._runner import run_test
from harness.run._validate import spec_from_fields
from nemesis import FAULTS
from workloads import complete_with_error

if TYPE_CHECKING:
    from checkers import Checker, Result
    from harness.etcd import DockerCluster, EtcdClient, Node
    from harness.run._runner import RunOutcome

DEFAULT_NODES = 3
DEFAULT_MODEL = "cas-register"
DEFAULT_CHECK_TIME_LIMIT = 60.0
#: A process that got ``info`` continues as ``p + RETIRED_STRIDE``; user process numbers stay below it.
RETIRED_STRIDE = 1000
MARKER_HELP = ("jepsen(nodes=3, image=..., model='cas-register', check=True, check_time_limit=60): "
               "a Jepsen-style test against a real etcd cluster; the etcd_cluster history is checked after the body")

_cluster_ids = itertools.count(1)
_SAME: Any = object()  # OpHandle.ok() without a value: the completion keeps the invoked value


# -- options and marker --------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:

    group = parser.getgroup("etcd-harness", "Jepsen-style tests against etcd in Docker")
    group.addoption("--etcd-image", default=None, help=f"etcd image for etcd_cluster (default {DEFAULT_IMAGE})")
    group.addoption("--etcd-nodes", type=int, default=None, help=f"etcd_cluster size (default {DEFAULT_NODES})")
    group.addoption("--etcd-results-dir", default=None,
                    help="keep etcd_cluster histories and reports here (default: the test's tmp_path)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)


_docker_state: dict[str, str | None] = {}


def docker_unavailable_reason() -> str | None:
    """Why Docker cannot be used (cached for the session), or None if it can."""
    if "reason" not in _docker_state:

        try:
            docker_client().close()
            _docker_state["reason"] = None
        except DockerUnavailable as e:
            _docker_state["reason"] = f"Docker is not reachable, so this Jepsen-style test cannot run: {e}"
    return _docker_state["reason"]


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("jepsen") is not None:
        reason = docker_unavailable_reason()
        if reason:
            pytest.skip(reason)


# -- the history recorder ---------------------------------------------------------------------


class OpHandle:
    """The op in flight inside ``history.op(...)``: say how it ended, or let the ``with`` decide."""

    def __init__(self, invocation: Op) -> None:
        self.invocation = invocation
        self.completion: Op | None = None

    def ok(self, value: Any = _SAME) -> None:
        """It took effect; ``value`` is what it returned (a read's value, ``None`` if absent).

        Without ``value``, the completion carries the invoked value (a write of 3 is ok with 3).
        """
        self.completion = self.invocation.with_(type=OpType.OK, time=0,
                                                value=self.invocation.value if value is _SAME else value)

    def fail(self, error: str) -> None:
        """It certainly did not take effect (e.g. a compare that did not match)."""
        self.completion = self.invocation.with_(type=OpType.FAIL, time=0, error=error)

    def info(self, error: str) -> None:
        """Its outcome is unknown: it may take effect at any time, or never."""
        self.completion = self.invocation.with_(type=OpType.INFO, time=0, error=error)


class HistoryRecorder:
    """Records a test's ops into ``history.jsonl`` as they happen. Thread-safe."""

    def __init__(self, path: Path) -> None:
        self.writer = HistoryWriter(path)
        self._lock = threading.Lock()
        self._actual: dict[int, int] = {}  # the process number a user's process currently records as
        self._pending: set[int] = set()

    def __len__(self) -> int:
        return len(self.writer.history())

    def _process(self, process: int) -> int:
        if not isinstance(process, int) or isinstance(process, bool) or not 0 <= process < RETIRED_STRIDE:
            raise ValueError(f"process must be a whole number from 0 to {RETIRED_STRIDE - 1}, got {process!r}")
        with self._lock:
            actual = self._actual.setdefault(process, process)
            if actual in self._pending:
                raise RuntimeError(f"process {process} already has an op in flight; a process does one op at a "
                                   "time (use another process number per thread)")
            self._pending.add(actual)
            return actual

    @contextlib.contextmanager
    def op(self, process: int, f: str, *, value: Any = None, key: Any = None,
           idempotent: bool | None = None) -> Iterator[OpHandle]:
        """Record one op of ``process``. See the module docstring for how its completion is chosen.

        ``idempotent`` (default: ``f == "read"``): an error means it certainly had no effect.
        """

        actual = self._process(process)
        handle = OpHandle(self.writer.record(Op(type=OpType.INVOKE, f=f, value=value, key=key, process=actual)))
        reraise: BaseException | None = None
        try:
            yield handle
        except EtcdError as e:  # the harness's classification: definite → fail, indeterminate → info
            handle.completion = complete_with_error(handle.invocation, e,
                                                    idempotent=f == "read" if idempotent is None else idempotent)
        except BaseException as e:  # a bug or an assertion in the test: the op's outcome is unknown
            handle.info(f"the test raised {type(e).__name__}: {e}")
            reraise = e
        finally:
            done = handle.completion or handle.invocation.with_(type=OpType.OK, time=0)
            self.writer.record(done.with_(time=0, index=-1))
            with self._lock:
                self._pending.discard(actual)
                if done.type is OpType.INFO:
                    self._actual[process] = actual + RETIRED_STRIDE
        if reraise is not None:
            raise reraise

    def nemesis(self, f: str, action: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Record a nemesis op around ``action``; its error is recorded, then re-raised."""
        self.writer.record(Op(type=OpType.INVOKE, f=f, process=NEMESIS))
        try:
            value = action()
        except Exception as e:
            self.writer.record(Op(type=OpType.INFO, f=f, process=NEMESIS, error=f"{type(e).__name__}: {e}"))
            raise
        self.writer.record(Op(type=OpType.INFO, f=f, process=NEMESIS, value=value))
        self.writer.flush()
        return value

    def ops(self) -> list[Op]:
        return list(self.writer.history())


# -- the cluster a test gets ----------------------------------------------------------------


class JepsenCluster:
    """What ``etcd_cluster`` yields: the running cluster, clients, the history and its check."""

    def __init__(self, cluster: DockerCluster, run_dir: Path, *, model: Any, check_time_limit: float,
                 auto_check: bool, test_name: str) -> None:
        self.cluster = cluster
        self.run_dir = run_dir
        self.model = model
        self.check_time_limit = check_time_limit
        self.auto_check = auto_check
        self.test_name = test_name
        self.history = HistoryRecorder(run_dir / "history.jsonl")
        self.result: Result | None = None
        self._clients: list[EtcdClient] = []

    @property
    def nodes(self) -> list[str]:
        return [n.name for n in self.cluster.nodes]

    def node(self, node: str | int | Node) -> Node:
        """A node by name (``"n1"``), by 0-based position, or as given."""
        if isinstance(node, str):
            return self.cluster.node(node)
        if isinstance(node, int):
            return self.cluster.nodes[node]
        return node

    def client(self, node: str | int | Node = 0, *, request_timeout: float = 3.0) -> EtcdClient:
        """An etcd client for one node (closed after the test). It never retries a request."""
        c = self.cluster.client(self.node(node), request_timeout=request_timeout)
        self._clients.append(c)
        return c

    def leader(self) -> str | None:
        return self.cluster.leader(timeout=1.0)

    @contextlib.contextmanager
    def fault(self, name: str, *, seed: int = 0) -> Iterator[dict[str, Any]]:
        """Apply a nemesis fault (``"partition"``, ...) for the ``with`` block; recorded and always healed."""

        if name not in FAULTS:
            raise ValueError(f"unknown fault {name!r}; allowed: {', '.join(FAULTS)}")
        fault = FAULTS[name]()
        rng = random.Random(f"{seed}:{name}")
        try:
            value = self.history.nemesis(fault.start_f, lambda: fault.start(self.cluster, rng))
            try:
                yield value
            finally:
                self.history.nemesis(fault.stop_f, lambda: fault.stop(self.cluster))
        finally:
            fault.heal(self.cluster)  # idempotent; also undoes a half-applied start

    def check(self, model: Any = None, *, checker: Checker | None = None,
              time_limit: float | None = None) -> Result:
        """Check the history so far (linearizability against ``model``, or ``checker``); writes the report."""

        self.history.writer.flush()
        chosen: Checker = checker or LinearizabilityChecker(model or self.model)
        limit = self.check_time_limit if time_limit is None else time_limit
        ctx = CheckContext(config=self._config(), out_dir=self.run_dir, time_limit=limit,
                           memory_limit=2048 * 1024 * 1024)
        results = run_checkers({chosen.name: chosen}, self.history.writer.history(), ctx)
        (self.run_dir / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
        self._write_report()
        c = results["checkers"][chosen.name]
        self.result = Result(results["valid"], str(c.get("reason", "")),
                              {k: v for k, v in c.items() if k not in ("valid", "reason")})
        return self.result

    def assert_valid(self, model: Any = None, *, checker: Checker | None = None) -> None:
        """Check, and fail the test (no traceback) unless the history is valid."""
        result = self.check(model, checker=checker)
        if result.valid is not True:
            word = "not linearizable" if result.valid is False else "could not be checked (unknown)"
            pytest.fail(f"the history of {self.test_name} is {word}: {result.reason}\n"
                        f"  history: {self.run_dir / 'history.jsonl'}\n  report:  {self.run_dir / 'report.html'}",
                        pytrace=False)

    def _config(self) -> dict[str, Any]:
        model = self.model if isinstance(self.model, str) else type(self.model).__name__
        return {"name": self.test_name, "workload": f"pytest ({model})", "nemesis": [], "nodes": self.cluster.size,
                "image": self.cluster.image, "etcd_version": self.cluster.etcd_version, "run_id": self.cluster.run_id,
                "started_at": datetime.now(UTC).isoformat(timespec="seconds")}

    def _write_report(self) -> None:
        with contextlib.suppress(Exception):  # a report bug must not hide the verdict
            write_report(self.run_dir)

    def close(self) -> None:
        for c in self._clients:
            with contextlib.suppress(Exception):
                c.close()
        self.history.writer.close()


def _marker_kwargs(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker("jepsen")
    return dict(marker.kwargs) if marker is not None else {}


def _results_dir(request: pytest.FixtureRequest) -> Path:
    root = request.config.getoption("--etcd-results-dir")
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", request.node.name)[:80]
    if root:
        d = Path(root) / name / datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    else:
        d = Path(request.getfixturevalue("tmp_path")) / "jepsen"
    d.mkdir(parents=True, exist_ok=True)
    return d


def start_cluster(nodes: int, image: str) -> DockerCluster:
    """A started cluster, or a pytest skip saying why there cannot be one."""

    reason = docker_unavailable_reason()
    if reason:
        pytest.skip(reason)
    cluster = DockerCluster(run_id=f"pytest-{os.getpid()}-{next(_cluster_ids)}", size=nodes, image=image)
    try:
        cluster.start()
    except ImageMissing as e:
        pytest.skip(f"the etcd image is missing, so this Jepsen-style test cannot run: {e}")
    except DockerUnavailable as e:
        pytest.skip(f"Docker is not reachable, so this Jepsen-style test cannot run: {e}")
    return cluster


@pytest.fixture
def etcd_cluster(request: pytest.FixtureRequest) -> Iterator[JepsenCluster]:
    """A fresh etcd cluster in Docker; its recorded history is checked after the test body."""

    kw = _marker_kwargs(request)
    nodes = int(kw.get("nodes") or request.config.getoption("--etcd-nodes") or DEFAULT_NODES)
    image = str(kw.get("image") or request.config.getoption("--etcd-image") or DEFAULT_IMAGE)
    run_dir = _results_dir(request)
    cluster = start_cluster(nodes, image)
    jc = JepsenCluster(cluster, run_dir, model=kw.get("model", DEFAULT_MODEL),
                       check_time_limit=float(kw.get("check_time_limit", DEFAULT_CHECK_TIME_LIMIT)),
                       auto_check=bool(kw.get("check", True)), test_name=request.node.nodeid)
    try:
        yield jc
    finally:
        try:
            jc.close()
            cluster.collect_logs(run_dir)
        finally:
            cluster.teardown()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """After a passing body, check the ``etcd_cluster`` history (unless the test already did)."""
    result = yield  # raises if the body failed: then there is nothing to add
    funcargs = getattr(item, "funcargs", {})
    jc = funcargs.get("etcd_cluster")
    if isinstance(jc, JepsenCluster) and jc.auto_check and jc.result is None and len(jc.history):
        jc.assert_valid()
    return result


@pytest.fixture
def jepsen_run(request: pytest.FixtureRequest) -> Callable[..., RunOutcome]:
    """``jepsen_run(workload="register", nemesis=("partition",), time_limit=10, ...)`` runs a whole test.

    Keyword arguments are :class:`~harness.core.TestSpec` fields; nodes default to 3, the
    seed to a random one (recorded in ``config.json``), results to the test's tmp_path.
    """

    kw = _marker_kwargs(request)

    def run(**fields: Any) -> RunOutcome:
        fields.setdefault("nodes", int(kw.get("nodes") or request.config.getoption("--etcd-nodes")
                                       or DEFAULT_NODES))
        fields.setdefault("image", str(kw.get("image") or request.config.getoption("--etcd-image")
                                       or DEFAULT_IMAGE))
        fields.setdefault("seed", random.randrange(1 << 31))
        fields.setdefault("results_dir", str(_results_dir(request)))
        spec = spec_from_fields(**fields)  # UsageError (same rules as the CLI and plans), with or without Docker
        reason = docker_unavailable_reason()
        if reason:
            pytest.skip(reason)
        try:
            return run_test(spec)
        except ImageMissing as e:
            pytest.skip(f"the etcd image is missing, so this Jepsen-style test cannot run: {e}")

    return run
