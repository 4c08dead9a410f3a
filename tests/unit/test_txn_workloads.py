"""The transactional workloads' pure logic: the generator, and the append / wr clients on a fake etcd.

The fake is a tiny MVCC store that answers ``/v3/kv/txn`` the way etcd's JSON gateway does
(compares on ``MOD`` with an absent key as ``mod_revision`` 0, a txn that reads its own writes,
one revision per writing txn, empty ``kvs`` left out). Real etcd runs are in
``tests/integration/test_txn_on_docker.py``.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from typing import Any

import pytest

from harness.core import Op, OpType, TestSpec, UsageError
from harness.etcd import EtcdError, b64, unb64
from harness.run import validate_spec
from workloads import WORKLOADS, Invocation
from workloads._txn import (
    AppendClient,
    TxnGenerator,
    WrClient,
    decode_list,
    final_read_invocations,
)
from workloads.append import AppendWorkload
from workloads.wr import WrWorkload


class FakeStore:
    """One etcd keyspace: key -> (value, mod_revision), and the store revision."""

    def __init__(self) -> None:
        self.revision = 1
        self.kv: dict[str, tuple[str, int]] = {}
        self.lock = threading.Lock()

    def holds(self, compare: dict[str, Any]) -> bool:
        assert compare["target"] == "MOD"
        _, mod = self.kv.get(unb64(compare["key"]) or "", ("", 0))
        want = int(compare["mod_revision"])
        return {"EQUAL": mod == want, "LESS": mod < want, "GREATER": mod > want}[compare["result"]]

    def txn(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            if not all(self.holds(c) for c in body.get("compare", [])):
                return {"header": {"revision": str(self.revision)}}  # "succeeded": false is left out
            staged, wrote = dict(self.kv), False
            responses: list[dict[str, Any]] = []
            for request in body["success"]:
                if "request_put" in request:
                    put = request["request_put"]
                    staged[unb64(put["key"]) or ""] = (unb64(put["value"]) or "", self.revision + 1)
                    wrote = True
                    responses.append({"response_put": {}})
                    continue
                found = staged.get(unb64(request["request_range"]["key"]) or "")
                responses.append({"response_range": {} if found is None else
                                  {"kvs": [{"value": b64(found[0]), "mod_revision": str(found[1])}]}})
            if wrote:
                self.revision += 1
                self.kv = staged
            return {"header": {"revision": str(self.revision)}, "succeeded": True, "responses": responses}


class FakeConnection:
    """What a client holds instead of an ``EtcdClient``: posts go to ``store``, after ``before[n]`` runs
    (n counts this connection's posts from 0), or raise ``errors[n]``."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.bodies: list[dict[str, Any]] = []
        self.before: dict[int, Callable[[], object]] = {}
        self.errors: dict[int, EtcdError] = {}
        self.closed = False

    def post(self, path: str, body: dict[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
        assert path == "/v3/kv/txn"
        n = len(self.bodies)
        self.bodies.append(body)
        if n in self.before:
            self.before[n]()
        if n in self.errors:
            raise self.errors[n]
        return self.store.txn(body)

    def close(self) -> None:
        self.closed = True


def invoke(value: list[list[Any]]) -> Op:
    return Op(type=OpType.INVOKE, f="txn", value=value, process=0)


def append_client(store: FakeStore, *, guard: bool = True, serializable: bool = False) -> tuple[AppendClient,
                                                                                                  FakeConnection]:
    conn = FakeConnection(store)
    return AppendClient(conn, prefix="/a/", guard=guard, serializable_read_phase=serializable), conn  # type: ignore[arg-type]


def stored_list(store: FakeStore, key: int) -> Any:
    return json.loads(store.kv[f"/a/{key}"][0])


TIMEOUT = EtcdError("timeout: ReadTimeout", definite=False)
REFUSED = EtcdError("ConnectError: refused (not sent)", definite=True)


# -- the generator ------------------------------------------------------------------------------


def test_generated_txns_follow_the_contract() -> None:
    gen = TxnGenerator("append", key_count=3, max_writes_per_key=5, max_txn_length=4)
    rng = random.Random(7)
    txns = [gen.next_txn(rng) for _ in range(2000)]
    assert {len(t) for t in txns} == {1, 2, 3, 4}
    per_key: dict[int, list[int]] = {}
    for txn in txns:
        written = [k for f, k, _ in txn if f == "append"]
        assert len(written) == len(set(written)), txn  # etcd refuses two puts of one key in a txn
        for f, k, v in txn:
            assert f in ("append", "r") and isinstance(k, int)
            if f == "r":
                assert v is None
            else:
                per_key.setdefault(k, []).append(v)
    # Unique per key, counted 1, 2, ...; a key retires after 5 writes and fresh keys keep coming.
    assert all(values == list(range(1, len(values) + 1)) and len(values) <= 5 for values in per_key.values())
    assert len(per_key) > 100
    assert gen.used_keys()[:3] == [0, 1, 2] and set(per_key) <= set(gen.used_keys())
    # Reads stay among the keys in play: never a key that was not yet used.
    assert max(k for t in txns for _, k, _ in t) < len(gen.used_keys())


def test_values_stay_unique_when_processes_draw_concurrently() -> None:
    gen = TxnGenerator("w", key_count=2, max_writes_per_key=1000, max_txn_length=4)
    drawn: list[list[list[Any]]] = []

    def draw(seed: int) -> None:
        rng = random.Random(seed)
        mine = [gen.next_txn(rng) for _ in range(500)]
        drawn.extend(mine)

    threads = [threading.Thread(target=draw, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writes = [(k, v) for txn in drawn for f, k, v in txn if f == "w"]
    assert len(writes) == len(set(writes)) and len(writes) > 1000


def test_read_fraction_sets_the_share_of_reads() -> None:
    rng = random.Random(3)
    all_reads = TxnGenerator("w", key_count=3, max_writes_per_key=32, max_txn_length=4, read_fraction=1)
    assert all(f == "r" for _ in range(200) for f, _, _ in all_reads.next_txn(rng))
    # With no reads asked for, a read appears only where a key was drawn twice for one txn.
    writes = TxnGenerator("w", key_count=50, max_writes_per_key=1000, max_txn_length=4, read_fraction=0)
    for _ in range(200):
        txn = writes.next_txn(rng)
        assert all(f == "w" or any(g == "w" and j == k for g, j, _ in txn[:i]) for i, (f, k, _) in enumerate(txn))
    mostly = TxnGenerator("append", key_count=3, max_writes_per_key=32, max_txn_length=4, read_fraction=0.9)
    micro = [f for _ in range(2000) for f, _, _ in mostly.next_txn(rng)]
    assert 0.85 < micro.count("r") / len(micro) < 0.97


def test_generator_refuses_impossible_shapes() -> None:
    with pytest.raises(ValueError):
        TxnGenerator("append", key_count=0, max_writes_per_key=1, max_txn_length=4)
    with pytest.raises(ValueError):
        TxnGenerator("append", key_count=1, max_writes_per_key=1, max_txn_length=5)
    with pytest.raises(ValueError):
        TxnGenerator("append", key_count=1, max_writes_per_key=1, max_txn_length=4, read_fraction=1.5)


def test_final_reads_cover_every_key_in_small_read_only_txns() -> None:
    invocations = final_read_invocations(list(range(10)))
    assert [len(i.value) for i in invocations] == [4, 4, 2]
    assert [k for i in invocations for f, k, v in i.value if f == "r" and v is None] == list(range(10))
    assert all(i.f == "txn" and i.key is None for i in invocations)


# -- append ------------------------------------------------------------------------------------


def test_append_reads_then_commits_one_guarded_txn_with_reads_in_order() -> None:
    store = FakeStore()
    client, conn = append_client(store)
    first = client.invoke(invoke([["append", 1, 1]]))
    assert first.type is OpType.OK and first.value == [["append", 1, 1]]
    # An absent key is guarded by mod_revision < the read phase's revision.
    guard = conn.bodies[1]["compare"][0]
    assert (guard["result"], guard["mod_revision"]) == ("LESS", str(first.extra["read_rev"]))  # type: ignore[index]
    assert first.extra == {"rev": 2, "read_rev": 1, "mod_revs": [None]}

    txn = [["r", 1, None], ["append", 1, 2], ["r", 1, None], ["r", 2, None]]
    done = client.invoke(invoke(txn))
    assert done.type is OpType.OK
    assert done.value == [["r", 1, [1]], ["append", 1, 2], ["r", 1, [1, 2]], ["r", 2, []]]
    assert done.extra == {"rev": 3, "read_rev": 2, "mod_revs": [2, None, 3, 0]}
    assert txn == [["r", 1, None], ["append", 1, 2], ["r", 1, None], ["r", 2, None]]  # the invoke is untouched
    # The read phase read only the appended key; the present key is guarded on its mod_revision.
    read_phase, write = conn.bodies[2], conn.bodies[3]
    assert [unb64(r["request_range"]["key"]) for r in read_phase["success"]] == ["/a/1"]
    assert [(c["result"], c["mod_revision"]) for c in write["compare"]] == [("EQUAL", "2")]
    assert [next(iter(r)) for r in write["success"]] == ["request_range", "request_put", "request_range",
                                                          "request_range"]
    assert stored_list(store, 1) == [1, 2]


def test_read_only_txn_is_one_txn_of_ranges() -> None:
    store = FakeStore()
    client, conn = append_client(store, serializable=True)
    client.invoke(invoke([["append", 0, 1]]))
    done = client.invoke(invoke([["r", 0, None], ["r", 1, None]]))
    assert done.type is OpType.OK and done.value == [["r", 0, [1]], ["r", 1, []]]
    assert done.extra == {"rev": 2, "read_rev": 2, "mod_revs": [2, 0]}
    assert len(conn.bodies) == 3 and "compare" not in conn.bodies[2]
    # read_phase=serializable reaches the read phase and read-only txns, never the committing txn.
    assert all(r["request_range"].get("serializable") for r in conn.bodies[0]["success"] + conn.bodies[2]["success"])
    assert not any("request_range" in r and r["request_range"].get("serializable") for r in conn.bodies[1]["success"])


def test_a_failed_guard_is_fail_and_never_retried() -> None:
    store = FakeStore()
    client, conn = append_client(store)
    rival, _ = append_client(store)
    conn.before[1] = lambda: rival.invoke(invoke([["append", 4, 2]]))  # lands between read phase and commit
    done = client.invoke(invoke([["append", 4, 1]]))
    assert done.type is OpType.FAIL and "guard failed" in (done.error or "")
    assert done.extra == {"read_rev": 1}
    assert len(conn.bodies) == 2
    assert stored_list(store, 4) == [2]


def test_without_guards_a_concurrent_append_is_lost() -> None:
    store = FakeStore()
    client, conn = append_client(store, guard=False)
    rival, _ = append_client(store, guard=False)
    conn.before[1] = lambda: rival.invoke(invoke([["append", 4, 2]]))
    done = client.invoke(invoke([["append", 4, 1]]))
    assert done.type is OpType.OK and "compare" in conn.bodies[1] and conn.bodies[1]["compare"] == []
    assert stored_list(store, 4) == [1]  # the rival's acknowledged append of 2 is gone


def test_append_errors_are_classified_by_phase() -> None:
    store = FakeStore()
    client, conn = append_client(store)
    conn.errors[0] = TIMEOUT  # the read phase: nothing was written yet
    done = client.invoke(invoke([["append", 0, 1]]))
    assert done.type is OpType.FAIL and done.error is not None and done.error.startswith("read phase")

    conn.errors[2] = TIMEOUT  # the commit: it may have happened
    done = client.invoke(invoke([["append", 0, 1]]))
    assert done.type is OpType.INFO and done.extra == {"read_rev": 1}

    conn.errors[4] = REFUSED  # the commit was never sent
    done = client.invoke(invoke([["append", 0, 2]]))
    assert done.type is OpType.FAIL and done.extra == {"read_rev": 1}

    conn.errors[5] = TIMEOUT  # a read-only txn changes nothing
    assert client.invoke(invoke([["r", 0, None]])).type is OpType.FAIL


def test_an_unexpected_answer_is_indeterminate() -> None:
    store = FakeStore()
    client, _ = append_client(store)
    real = store.txn

    def short_answer(body: dict[str, Any]) -> dict[str, Any]:
        out = real(body)
        if body.get("compare"):
            out["responses"] = out["responses"][:-1]
        return out

    store.txn = short_answer  # type: ignore[method-assign]
    done = client.invoke(invoke([["append", 0, 1], ["r", 1, None]]))
    assert done.type is OpType.INFO and "responses" in (done.error or "")


def test_a_stored_value_that_is_not_a_list_is_passed_on_raw() -> None:
    assert decode_list(None) == [] and decode_list("[1,2]") == [1, 2]
    assert decode_list("garbage") == "garbage" and decode_list("[true]") == "[true]" and decode_list("3") == "3"
    store = FakeStore()
    store.kv["/a/0"] = ("oops", 1)
    client, _ = append_client(store)
    assert client.invoke(invoke([["r", 0, None]])).value == [["r", 0, "oops"]]
    refused = client.invoke(invoke([["append", 0, 5]]))
    assert refused.type is OpType.FAIL and "not a list" in (refused.error or "")


# -- wr ----------------------------------------------------------------------------------------


def test_wr_is_one_txn_of_reads_and_blind_writes() -> None:
    store = FakeStore()
    conn = FakeConnection(store)
    client = WrClient(conn, prefix="/w/")  # type: ignore[arg-type]
    done = client.invoke(invoke([["r", 3, None], ["w", 3, 1], ["r", 3, None], ["w", 4, 1]]))
    assert done.type is OpType.OK
    assert done.value == [["r", 3, None], ["w", 3, 1], ["r", 3, 1], ["w", 4, 1]]
    assert done.extra == {"rev": 2, "mod_revs": [0, None, 2, None]}
    assert len(conn.bodies) == 1 and not conn.bodies[0].get("compare")
    again = client.invoke(invoke([["r", 4, None]]))
    assert again.value == [["r", 4, 1]] and again.extra == {"rev": 2, "mod_revs": [2]}

    conn.errors[2] = TIMEOUT
    assert client.invoke(invoke([["w", 3, 2]])).type is OpType.INFO
    conn.errors[3] = TIMEOUT
    assert client.invoke(invoke([["r", 3, None]])).type is OpType.FAIL
    with pytest.raises(ValueError):
        client.invoke(Op(type=OpType.INVOKE, f="read", value=None))


# -- the workloads and their options ----------------------------------------------------------


def test_both_workloads_are_registered_with_their_checker_and_model() -> None:
    assert WORKLOADS["append"] is AppendWorkload and WORKLOADS["wr"] is WrWorkload
    append = AppendWorkload(TestSpec(workload="append", options={"consistency_model": "serializable"}))
    checker = append.checkers()["elle"]
    assert checker.name == "elle" and checker.consistency_model == "serializable"  # type: ignore[attr-defined]
    assert (append.guard, append.serializable_read_phase) == (True, False)
    wr = WrWorkload(TestSpec(workload="wr"))
    assert wr.checkers()["elle"].consistency_model == "strict-serializable"  # type: ignore[attr-defined]
    canary = AppendWorkload(TestSpec(workload="append", options={"guard": False, "read_phase": "serializable"}))
    assert (canary.guard, canary.serializable_read_phase) == (False, True)


@pytest.mark.parametrize(("workload", "options", "words"), [
    ("append", {"guard": "no"}, "guard must be true or false"),
    ("append", {"read_phase": "local"}, "read_phase must be one of linearizable, serializable"),
    ("wr", {"consistency_model": "linearizable"}, "consistency_model must be one of strict-serializable"),
    ("wr", {"max_txn_length": 5}, "max_txn_length must be a whole number from 1 to 4"),
    ("wr", {"guard": True}, "guard"),  # append's option, not wr's
    ("append", {"read_fraction": 2}, "read_fraction must be a number from 0 to 1"),
])
def test_bad_options_are_refused_before_anything_starts(workload: str, options: dict[str, Any], words: str) -> None:
    with pytest.raises(UsageError, match=words):
        validate_spec(TestSpec(workload=workload, options=options))


def test_script_yields_txn_invocations_from_the_shared_generator() -> None:
    workload = AppendWorkload(TestSpec(workload="append", options={"key_count": 1, "max_writes_per_key": 2}))
    a, b = workload.script(0, random.Random(1)), workload.script(1, random.Random(2))
    appends = []
    for script in (a, b) * 20:
        inv = next(script)
        assert isinstance(inv, Invocation)
        assert inv.f == "txn" and inv.key is None and 1 <= len(inv.value) <= 4
        appends += [(k, v) for f, k, v in inv.value if f == "append"]
    assert len(appends) == len(set(appends)) and {v for _, v in appends} <= {1, 2}
    assert [i.value for i in workload.final_invocations()] == [
        [["r", k, None] for k in chunk] for chunk in
        (workload.generator.used_keys()[i:i + 4] for i in range(0, len(workload.generator.used_keys()), 4))]
