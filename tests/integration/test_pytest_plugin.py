"""The pytest plugin, used as a user would: a separate pytest run over a small test file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.etcd import DEFAULT_IMAGE, docker_client

pytest_plugins = ("pytester",)

USER_TESTS = '''
import threading

import pytest


@pytest.mark.jepsen(nodes=3, model="cas-register")
def test_register(etcd_cluster):
    h = etcd_cluster.history

    def process(p):
        client = etcd_cluster.client(p)  # one node per process
        for i in range(5):
            with h.op(p, "write", key="r", value=p * 10 + i):
                client.put("/r", str(p * 10 + i))
            with h.op(p, "read", key="r") as op:
                kv = client.get("/r")
                op.ok(None if kv is None else int(kv.value))

    threads = [threading.Thread(target=process, args=(p,)) for p in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(h.ops()) == 3 * 5 * 2 * 2


@pytest.mark.jepsen(nodes=1)
def test_lying_read_is_caught(etcd_cluster):
    h = etcd_cluster.history
    client = etcd_cluster.client("n1")
    with h.op(0, "write", key="r", value=1):
        client.put("/r", "1")
    with h.op(0, "read", key="r") as op:
        client.get("/r")
        op.ok(7)  # not what etcd returned: the checker must object


@pytest.mark.jepsen(image="etcd-harness/etcd:no-such-tag")
def test_missing_image(etcd_cluster):
    raise AssertionError("must be skipped before the body runs")
'''


@pytest.mark.docker
@pytest.mark.slow
def test_fixture_runs_a_cluster_and_checks_the_history(pytester: pytest.Pytester, tmp_path: Path) -> None:
    try:
        docker_client().images.get(DEFAULT_IMAGE)
    except Exception as e:  # no engine or no image
        pytest.skip(f"needs Docker and {DEFAULT_IMAGE}: {e}")
    pytester.makepyfile(test_user=USER_TESTS)
    results = tmp_path / "jepsen-results"
    run = pytester.runpytest_subprocess("-rs", f"--etcd-results-dir={results}", timeout=300)
    run.assert_outcomes(passed=1, failed=1, skipped=1)
    text = run.stdout.str()
    assert "the history of test_user.py::test_lying_read_is_caught is not linearizable" in text
    assert "report:" in text and "etcd image is missing" in text

    [ok_run] = (results / "test_register").iterdir()
    verdict = json.loads((ok_run / "results.json").read_text())
    assert verdict["valid"] is True
    assert len((ok_run / "history.jsonl").read_text().splitlines()) == 60
    assert (ok_run / "nodes" / "n1" / "etcd.log").exists()
    [bad_run] = (results / "test_lying_read_is_caught").iterdir()
    assert json.loads((bad_run / "results.json").read_text())["valid"] is False


def test_without_docker_jepsen_tests_skip_with_the_reason(pytester: pytest.Pytester,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")  # nothing listens on the discard port
    pytester.makepyfile(test_user=USER_TESTS)
    run = pytester.runpytest_subprocess("-rs", timeout=120)
    run.assert_outcomes(skipped=3)
    assert "Docker is not reachable, so this Jepsen-style test cannot run" in run.stdout.str()
