"""The error table: which failures are definite (fail) and which indeterminate (info)."""

import httpx
import pytest

from harness.etcd import EtcdError, classify
from harness.etcd._client import _gateway_json


def req() -> httpx.Request:
    return httpx.Request("POST", "http://n1:2379/v3/kv/put")


@pytest.mark.parametrize("exc", [httpx.ConnectError("refused", request=req()),
                                 httpx.ConnectTimeout("slow connect", request=req()),
                                 httpx.PoolTimeout("pool", request=req())])
def test_not_sent_is_definite(exc: Exception) -> None:
    assert classify(exc).definite


@pytest.mark.parametrize("exc", [httpx.ReadTimeout("slow", request=req()),
                                 httpx.WriteTimeout("slow", request=req()),
                                 httpx.ReadError("reset", request=req()),
                                 httpx.RemoteProtocolError("closed", request=req()),
                                 RuntimeError("surprise")])
def test_maybe_sent_is_indeterminate(exc: Exception) -> None:
    assert not classify(exc).definite


def gateway(status: int, body: dict[str, object]) -> httpx.Response:
    return httpx.Response(status, json=body, request=req())


@pytest.mark.parametrize(("code", "message", "definite"), [
    (3, "etcdserver: key is not provided", True),
    (9, "etcdserver: duplicate key given in txn request", True),
    (8, "etcdserver: too many requests", True),
    (14, "etcdserver: leader changed", False),
    (14, "etcdserver: request timed out", False),
    (4, "context deadline exceeded", False),
    (2, "etcdserver: unknown", False),
    (2, "mutex: session is expired", True),  # 3.5's lock service: the waiter's lease expired, not held
])
def test_grpc_codes(code: int, message: str, definite: bool) -> None:
    with pytest.raises(EtcdError) as e:
        _gateway_json(gateway(503, {"error": message, "code": code, "message": message}))
    assert e.value.definite is definite
    assert e.value.code == code


def test_ok_body_passes_and_false_booleans_are_absent() -> None:
    body = _gateway_json(gateway(200, {"header": {"revision": "7"}}))
    assert body.get("succeeded", False) is False
    assert int(body["header"]["revision"]) == 7


def test_non_json_error_is_indeterminate() -> None:
    with pytest.raises(EtcdError) as e:
        _gateway_json(httpx.Response(502, content=b"<html>bad gateway</html>", request=req()))
    assert not e.value.definite
