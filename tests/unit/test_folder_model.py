"""The folder model: a recursive read is a snapshot of the whole map."""

from __future__ import annotations

from typing import Any

from checkers import CheckContext, LinearizabilityChecker
from checkers.folder_model import FolderModel
from harness.core import History, Op, OpType

CTX = CheckContext(time_limit=10)


def h(*events: tuple[int, str, str, Any]) -> History:
    return History.of([Op(type=OpType(kind), f=f, value=v, process=p, time=i + 1, key="f0")
                       for i, (p, kind, f, v) in enumerate(events)])


def check(history: History) -> Any:
    return LinearizabilityChecker(FolderModel()).check(history, CTX)


def test_sequential_puts_deletes_and_reads_are_linearizable() -> None:
    r = check(h((0, "invoke", "put", ["a", 1]), (0, "ok", "put", ["a", 1]),
                (0, "invoke", "put", ["b", 2]), (0, "ok", "put", ["b", 2]),
                (1, "invoke", "read", None), (1, "ok", "read", {"a": 1, "b": 2}),
                (0, "invoke", "delete", "a"), (0, "ok", "delete", True),
                (1, "invoke", "read", None), (1, "ok", "read", {"b": 2}),
                (0, "invoke", "delete", "a"), (0, "ok", "delete", False)))
    assert r.valid is True, r.reason


def test_a_read_that_mixes_two_moments_is_not_linearizable() -> None:
    # b=2 is written after a is deleted; a read with both a and b=2 saw no single moment.
    r = check(h((0, "invoke", "put", ["a", 1]), (0, "ok", "put", ["a", 1]),
                (0, "invoke", "delete", "a"), (0, "ok", "delete", True),
                (0, "invoke", "put", ["b", 2]), (0, "ok", "put", ["b", 2]),
                (1, "invoke", "read", None), (1, "ok", "read", {"a": 1, "b": 2})))
    assert r.valid is False
    assert "folder can only be {b=2}" in r.reason


def test_a_concurrent_read_may_see_either_side_of_a_put() -> None:
    r = check(h((0, "invoke", "put", ["a", 1]), (1, "invoke", "read", None), (1, "ok", "read", {}),
                (2, "invoke", "read", None), (2, "ok", "read", {"a": 1}), (0, "ok", "put", ["a", 1])))
    assert r.valid is True


def test_a_stale_whole_map_read_is_not_linearizable() -> None:
    r = check(h((0, "invoke", "put", ["a", 1]), (0, "ok", "put", ["a", 1]),
                (0, "invoke", "put", ["a", 3]), (0, "ok", "put", ["a", 3]),
                (1, "invoke", "read", None), (1, "ok", "read", {"a": 1})))
    assert r.valid is False


def test_a_delete_that_claims_a_removal_of_an_absent_key_is_not_linearizable() -> None:
    r = check(h((0, "invoke", "delete", "a"), (0, "ok", "delete", True)))
    assert r.valid is False


def test_an_unknown_put_may_or_may_not_have_happened() -> None:
    r = check(h((0, "invoke", "put", ["a", 1]), (0, "info", "put", None),
                (1, "invoke", "read", None), (1, "ok", "read", {}),
                (1, "invoke", "read", None), (1, "ok", "read", {"a": 1})))
    assert r.valid is True


def test_bad_values_are_refused_with_what_is_allowed() -> None:
    model = FolderModel()
    assert model.accepts(Op(type=OpType.INVOKE, f="put", value="a")) is not None
    assert "allowed" in (model.accepts(Op(type=OpType.INVOKE, f="cas", value=None)) or "")
    assert model.accepts(Op(type=OpType.INVOKE, f="delete", value="a")) is None
