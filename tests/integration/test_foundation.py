"""The walking skeleton against a real 3-node etcd cluster in Docker."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.core import ClusterError, History, Op, OpType, TestSpec, op_from_json
from harness.etcd import LABEL, OWNER_LABEL, RUN_LABEL, DockerCluster, EtcdClient, EtcdError, docker_client, owner_token
from workloads import complete_with_error

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def cluster() -> Iterator[DockerCluster]:
    c = DockerCluster(run_id="pytest-foundation", size=3)
    try:
        c.start()
        yield c
    finally:
        c.teardown()


def test_cluster_is_healthy_with_one_leader(cluster: DockerCluster) -> None:
    leader = cluster.leader()
    assert leader in {n.name for n in cluster.nodes}
    assert cluster.etcd_version.startswith("3.")
    attrs = cluster.container(cluster.nodes[0]).attrs
    assert attrs["HostConfig"]["CapAdd"] == ["NET_ADMIN"]
    assert not attrs["HostConfig"]["Privileged"]
    bindings = attrs["HostConfig"]["PortBindings"]["2379/tcp"]
    assert all(b["HostIp"] == "127.0.0.1" for b in bindings)


def test_etcd_is_pid_1(cluster: DockerCluster) -> None:
    _, out = cluster.exec(cluster.nodes[0], ["cat", "/proc/1/comm"])
    assert out.strip() == "etcd"


def test_compare_failed_is_a_definite_fail(cluster: DockerCluster) -> None:
    with cluster.client(cluster.nodes[0]) as c:
        c.put("/t/cas", "1")
        assert c.cas("/t/cas", "1", "2") is True
        assert c.cas("/t/cas", "1", "3") is False
        kv = c.get("/t/cas")
        assert kv is not None and kv.value == "2"


def test_invalid_request_is_definite(cluster: DockerCluster) -> None:
    with cluster.client(cluster.nodes[0]) as c, pytest.raises(EtcdError) as e:
        c.put("", "x")  # etcd: "key is not provided"
    assert e.value.definite


def test_connection_refused_is_definite(cluster: DockerCluster) -> None:
    node = cluster.nodes[0]
    with EtcdClient(f"http://{node.ip}:1", request_timeout=1.0) as c, pytest.raises(EtcdError) as e:
        c.put("/t/x", "1")
    assert e.value.definite


def test_timeout_against_a_paused_node_is_indeterminate(cluster: DockerCluster) -> None:
    node = cluster.nodes[-1]
    with cluster.client(node, request_timeout=1.0) as c:
        c.get("/t/warm")  # open the connection first: the request itself must time out
        cluster.pause(node)
        try:
            with pytest.raises(EtcdError) as e:
                c.put("/t/paused", "1")
        finally:
            cluster.resume(node)
    assert not e.value.definite
    inv = Op(type=OpType.INVOKE, f="write", value=1, process=0)
    assert complete_with_error(inv, e.value).type is OpType.INFO
    assert complete_with_error(inv.with_(f="read"), e.value, idempotent=True).type is OpType.FAIL
    cluster.wait_healthy(30)


def test_register_run_under_partitions(tmp_path: Path) -> None:
    """A short register test: ops recorded, partitions applied and healed, valid, nothing left behind."""
    cmd = [sys.executable, "-m", "harness", "test", "--workload", "register", "--nemesis", "partition",
           "--nodes", "3", "--time-limit", "20", "--nemesis-interval", "4", "--seed", "7",
           "--results-dir", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = (tmp_path / "latest").resolve()
    results = json.loads((run_dir / "results.json").read_text())
    assert results["valid"] is True
    history = History([op_from_json(json.loads(line)) for line in (run_dir / "history.jsonl").read_text().splitlines()])
    client_ops = [op for op in history if op.process != "nemesis"]
    assert sum(op.is_ok for op in client_ops) > 200
    assert {op.f for op in client_ops} == {"read", "write", "cas"}
    nemesis = [op for op in history if op.process == "nemesis" and not op.is_invoke]
    starts = [op for op in nemesis if op.f == "start-partition"]
    stops = [op for op in nemesis if op.f == "stop-partition"]
    assert starts and all(op.value["applied"] and op.value["grudge"] for op in starts)
    assert stops and stops[-1].index > starts[-1].index  # the last partition was healed
    config = json.loads((run_dir / "config.json").read_text())
    assert TestSpec.from_json(config).seed == 7 and config["etcd_version"]
    for n in ("n1", "n2", "n3"):
        assert (run_dir / "nodes" / n / "etcd.log").stat().st_size > 0
    leftovers = docker_client().containers.list(all=True, filters={"label": [f"{RUN_LABEL}={config['run_id']}"]})
    assert leftovers == []


def test_clean_removes_labelled_leftovers() -> None:
    api = docker_client()
    net = api.networks.create("etcd-harness-pytest-leftover", labels={LABEL: "1", RUN_LABEL: "pytest-leftover"})
    proc = subprocess.run([sys.executable, "-m", "harness", "clean", "--run-id", "pytest-leftover"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert api.networks.list(names=[net.name]) == []


def test_sigterm_tears_everything_down(tmp_path: Path) -> None:
    """SIGTERM mid-run: exit 130, a history on disk, and no container or network left."""
    import signal
    import time

    cmd = [sys.executable, "-m", "harness", "test", "--nodes", "3", "--time-limit", "60", "--seed", "3",
           "--name", "sigterm", "--results-dir", str(tmp_path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    history = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = list(tmp_path.glob("sigterm/*/history.jsonl"))
        if found and found[0].stat().st_size > 2000:
            history = found[0]
            break
        time.sleep(0.5)
    assert history is not None, "the run never started writing its history"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err
    run_id = json.loads((history.parent / "config.json").read_text())["run_id"]
    api = docker_client()
    assert api.containers.list(all=True, filters={"label": [f"{RUN_LABEL}={run_id}"]}) == []
    assert api.networks.list(filters={"label": [f"{RUN_LABEL}={run_id}"]}) == []
    assert history.read_text().count("\n") > 10


def test_a_node_that_fails_to_start_is_named_with_its_log() -> None:
    c = DockerCluster(run_id="pytest-badstart", size=1, extra_args=["--no-such-flag"], start_timeout=20)
    with pytest.raises(ClusterError) as e:
        c.start()
    assert "n1" in str(e.value) and "no-such-flag" in str(e.value)
    assert docker_client().containers.list(all=True, filters={"label": [f"{RUN_LABEL}=pytest-badstart"]}) == []


def test_clean_spares_a_run_in_progress_and_removes_a_dead_runs_leftovers() -> None:
    """A run whose owner process lives (a concurrent suite job) is spared by a plain ``clean``;
    a run whose owner has exited is a leftover; ``clean --all`` removes the live one too."""
    api = docker_client()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_owner = owner_token(child.pid)
    child.wait()
    live = api.networks.create("etcd-harness-pytest-live", labels={
        LABEL: "1", RUN_LABEL: "pytest-live", OWNER_LABEL: owner_token()})
    dead = api.networks.create("etcd-harness-pytest-dead", labels={
        LABEL: "1", RUN_LABEL: "pytest-dead", OWNER_LABEL: dead_owner})
    try:
        proc = subprocess.run([sys.executable, "-m", "harness", "clean"], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert "pytest-live" in proc.stdout
        assert api.networks.list(names=[dead.name]) == []
        assert [n.name for n in api.networks.list(names=[live.name])] == [live.name]
        proc = subprocess.run([sys.executable, "-m", "harness", "clean", "--all"],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert api.networks.list(names=[live.name]) == []
    finally:
        for net in (live, dead):
            with contextlib.suppress(Exception):
                net.remove()
