"""What the v3 workload clients record about revisions, from canned JSON-gateway answers.

Only the parsing is faked here (an httpx mock transport answering like etcd's gateway:
int64s as strings, zero values left out); tests/integration/test_revisions_on_docker.py
records the same fields from real etcd.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import httpx

from checkers.revisions import PROFILES
from harness.core import Op, OpType
from harness.etcd import EtcdClient, KeyValue
from workloads._base import key_revisions
from workloads.counter import CounterClient
from workloads.folder import FolderClient
from workloads.register import RegisterClient
from workloads.watch import WatchClient

Handler = Callable[[str, dict[str, Any]], dict[str, Any]]


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def gateway(handler: Handler) -> EtcdClient:
    """An EtcdClient whose requests ``handler(path, body)`` answers."""
    etcd = EtcdClient("http://gateway.invalid")

    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=handler(request.url.path, json.loads(request.content or b"{}")))

    etcd._http = httpx.Client(base_url="http://gateway.invalid", transport=httpx.MockTransport(respond))
    return etcd


def kv(key: str, value: str, mod: int, create: int, version: int) -> dict[str, Any]:
    return {"key": b64(key), "value": b64(value), "mod_revision": str(mod), "create_revision": str(create),
            "version": str(version)}


def invoke(client: Any, f: str, value: Any = None, key: Any = 0) -> Op:
    done: Op = client.invoke(Op(type=OpType.INVOKE, f=f, value=value, process=0, key=key))
    return done


def test_key_revisions_of_present_and_absent_keys() -> None:
    assert key_revisions(9, None) == {"rev": 9, "mod_rev": 0, "create_rev": 0, "version": 0}
    assert key_revisions(9, KeyValue("k", "1", 7, 3, 2)) == {"rev": 9, "mod_rev": 7, "create_rev": 3, "version": 2}


def test_register_records_header_and_key_revisions() -> None:
    answers: dict[str, dict[str, Any]] = {
        "/v3/kv/range": {"header": {"revision": "12"}, "kvs": [kv("/register/0", "3", 11, 4, 5)], "count": "1"},
        "/v3/kv/put": {"header": {"revision": "13"}},
        "/v3/kv/txn": {"header": {"revision": "13"}},  # no "succeeded": false is left out
    }
    client = RegisterClient(gateway(lambda path, body: answers[path]), serializable=False)
    read = invoke(client, "read")
    assert read.is_ok and read.value == 3
    assert read.extra == {"rev": 12, "mod_rev": 11, "create_rev": 4, "version": 5}
    write = invoke(client, "write", 2)
    assert write.is_ok and write.extra == {"rev": 13}
    cas = invoke(client, "cas", [1, 2])
    assert cas.is_fail and cas.extra == {"rev": 13, "succeeded": False}
    answers["/v3/kv/txn"] = {"header": {"revision": "14"}, "succeeded": True}
    cas = invoke(client, "cas", [2, 4])
    assert cas.is_ok and cas.extra == {"rev": 14, "succeeded": True}


def test_register_marks_serializable_reads_and_absent_keys() -> None:
    client = RegisterClient(gateway(lambda path, body: {"header": {"revision": "5"}}), serializable=True)
    read = invoke(client, "read")
    assert read.value is None
    assert read.extra == {"rev": 5, "mod_rev": 0, "create_rev": 0, "version": 0, "serializable": True}


def test_lie_revision_reports_the_previous_answers_header() -> None:
    revisions = iter(["10", "11", "12", "13"])
    client = RegisterClient(gateway(lambda path, body: {"header": {"revision": next(revisions)}}),
                            serializable=False, lie_revision=True)
    reported = [(invoke(client, "write", 1).extra or {})["rev"] for _ in range(4)]
    assert reported == [10, 10, 11, 12]


def test_counter_add_records_its_txn_and_reads_their_key() -> None:
    def answer(path: str, body: dict[str, Any]) -> dict[str, Any]:
        if path == "/v3/kv/range":
            return {"header": {"revision": "20"}, "kvs": [kv("/counter/c", "7", 20, 2, 6)]}
        return {"header": {"revision": "21"}, "succeeded": True}

    client = CounterClient(gateway(answer), safe=True, serializable=False, deadline_s=1.0)
    add = invoke(client, "add", 3)
    assert add.is_ok and add.extra == {"rev": 21, "succeeded": True}
    read = invoke(client, "read")
    assert read.value == 7 and read.extra == {"rev": 20, "mod_rev": 20, "create_rev": 2, "version": 6}


def test_folder_records_per_key_revisions_and_deletes() -> None:
    def answer(path: str, body: dict[str, Any]) -> dict[str, Any]:
        if path == "/v3/kv/range":
            return {"header": {"revision": "30"}, "kvs": [kv("/folder/f1/k0", "2", 28, 25, 3)]}
        if path == "/v3/kv/deleterange":
            return {"header": {"revision": "31"}, "deleted": "1"}
        return {"header": {"revision": "32"}}

    client = FolderClient(gateway(answer), serializable=False)
    read = invoke(client, "read", None, 1)
    assert read.value == {"k0": 2} and read.extra == {"rev": 30, "mod_revs": {"k0": [28, 25, 3]}}
    (r,) = PROFILES["folder"](Op(type=OpType.INVOKE, f="read", key=1), read).reads
    assert (r.key, r.value, r.mod_rev, r.create_rev, r.version) == ((1, "k0"), 2, 28, 25, 3)
    delete = invoke(client, "delete", "k0", 1)
    assert delete.value is True and delete.extra == {"rev": 31, "deleted": 1}
    put = invoke(client, "put", ["k1", 3], 1)
    assert put.extra == {"rev": 32}


def test_watch_writers_record_revisions() -> None:
    client = WatchClient(["http://gateway.invalid"], 0, 1.0)
    client.etcds = [gateway(lambda path, body: {"header": {"revision": "41"}})]
    put = invoke(client, "put", ["k1", "p.1"], "v3")
    assert put.value == ["k1", "p.1", 41] and put.extra == {"rev": 41}
    delete = invoke(client, "delete", ["k1", None], "v3")  # nothing deleted: no revision made
    assert delete.value == ["k1", None, None] and delete.extra == {"rev": 41, "deleted": 0}
    assert PROFILES["watch"](Op(type=OpType.INVOKE, f="delete", value=["k1", None], key="v3"), delete).writes == ()
    client.close()
