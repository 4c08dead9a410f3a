"""HashKV through a node's etcdctl (3.4 and 3.5.1 have no HashKV on the JSON gateway)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.etcd import EtcdError, Node
from harness.run._cluster_facts import hashkv

ANSWER = '[{"Endpoint":"http://127.0.0.1:2379","HashKV":{"header":{},"hash":12345,"compact_revision":7}}]'


class _NoGateway:
    def __enter__(self) -> _NoGateway:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def post(self, path: str, body: Any, *, timeout: float | None = None) -> dict[str, Any]:
        raise EtcdError("404 page not found", definite=True, status=404)


class _Cluster:
    """Answers ``exec`` with the outputs given, one per call."""

    def __init__(self, outputs: Sequence[tuple[int, str]]) -> None:
        self.outputs = list(outputs)
        self.calls = 0

    def client(self, node: Node, **kwargs: Any) -> _NoGateway:
        return _NoGateway()

    def exec(self, node: Node, argv: list[str], check: bool = True) -> tuple[int, str]:
        self.calls += 1
        return self.outputs.pop(0)


NODE = Node(name="n1", ip="172.28.0.11", container="c-n1", host_port=23790)


def test_log_lines_around_the_json_are_skipped() -> None:
    cluster = _Cluster([(0, '{"level":"warn","msg":"slow"}\n' + ANSWER + "\n")])
    answer, method = hashkv(cluster, NODE, 100, 1.0)  # type: ignore[arg-type]
    assert (answer, method) == ({"hash": 12345, "compact_revision": 7}, "etcdctl")


def test_an_empty_answer_is_asked_again_and_not_taken_for_an_error() -> None:
    cluster = _Cluster([(0, ""), (0, ANSWER)])
    answer, _ = hashkv(cluster, NODE, 100, 1.0)  # type: ignore[arg-type]
    assert answer == {"hash": 12345, "compact_revision": 7}
    assert cluster.calls == 2


def test_a_persistent_failure_is_reported_with_what_etcdctl_said() -> None:
    cluster = _Cluster([(1, "context deadline exceeded")] * 3)
    answer, _ = hashkv(cluster, NODE, 100, 1.0)  # type: ignore[arg-type]
    assert "exited 1" in answer["error"] and "deadline" in answer["error"]
    assert cluster.calls == 3
