"""An example Jepsen-style test with the etcd-harness pytest plugin.

Run it against a real 3-node cluster in Docker (skipped, with the reason, where
there is no Docker)::

    .venv/bin/pytest examples/test_my_lock.py -v

Each thread is one process of the history. It takes etcd's lock (lock service,
under a lease), holds it briefly, and releases it. The plugin records every
acquire and release, and after the body checks the history against the
``mutex`` model: no two processes may hold the lock at once. The test fails
with the checker's reason and the path of report.html if they did.
"""

from __future__ import annotations

import contextlib
import threading

import pytest

from harness import EtcdError

ROUNDS = 3
PROCESSES = 3


@pytest.mark.jepsen(nodes=3, model="mutex")
def test_my_lock(etcd_cluster):  # type: ignore[no-untyped-def]
    def process(p: int) -> None:
        client = etcd_cluster.client(p % len(etcd_cluster.nodes))  # each process talks to its own node
        lease = client.lease_grant(10)
        for _ in range(ROUNDS):
            key = None
            with etcd_cluster.history.op(p, "acquire"):
                key = client.lock("my-lock", lease, timeout=8.0)
            if key is None:  # the acquire failed or its outcome is unknown: stop this process
                break
            with etcd_cluster.history.op(p, "release"):
                client.unlock(key)
        with contextlib.suppress(EtcdError):  # else the lease expires by itself
            client.lease_revoke(lease)

    threads = [threading.Thread(target=process, args=(p,)) for p in range(PROCESSES)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(etcd_cluster.history.ops()) >= 2 * PROCESSES  # every process did at least one acquire


@pytest.mark.jepsen(nodes=3, model="cas-register")
def test_register_survives_a_partition(etcd_cluster):  # type: ignore[no-untyped-def]
    h = etcd_cluster.history
    client = etcd_cluster.client("n1")
    with h.op(0, "write", key="r", value=1):
        client.put("/r", "1")
    # A real minority/majority partition, verified, then healed; the cas runs during it.
    with etcd_cluster.fault("partition"), h.op(1, "cas", key="r", value=[1, 2]) as op:
        if not client.cas("/r", "1", "2"):
            op.fail("compare failed")
    with h.op(2, "read", key="r") as op:
        kv = etcd_cluster.client("n2").get("/r")
        op.ok(None if kv is None else int(kv.value))
