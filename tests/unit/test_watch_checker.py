"""The watch checker on hand-made histories: exactly once, in order, no gaps, agreement with writes and reads."""

from __future__ import annotations

from typing import Any

from checkers import CheckContext
from checkers.watch import WatchChecker
from harness.core import History, Op, OpType

CTX = CheckContext(time_limit=10)


class Builder:
    """Ops with increasing times; each call records an invoke and its completion."""

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.t = 0

    def op(self, process: int, f: str, value: Any, done: Any, key: str = "v3", kind: OpType = OpType.OK) -> None:
        self.t += 10
        self.ops.append(Op(type=OpType.INVOKE, f=f, value=value, process=process, time=self.t, key=key))
        self.t += 10
        self.ops.append(Op(type=kind, f=f, value=done, process=process, time=self.t, key=key))

    def put(self, sub: str, value: str, rev: int, process: int = 9) -> None:
        self.op(process, "put", [sub, value], [sub, value, rev])

    def delete(self, sub: str, rev: int | None, process: int = 9) -> None:
        self.op(process, "delete", [sub, None], [sub, None, rev])

    def watch(self, watcher: str, start: int, events: list[list[Any]], *, catch_up: bool = False,
              created: int = 0, process: int = 0, **extra: Any) -> None:
        value = {"watcher": watcher, "from": start, "node": 0}
        done: dict[str, Any] = {**value, "events": events, "stop": "cut off: no event for 2 s", **extra}
        if catch_up:
            value["catch_up"] = True
            done["catch_up"] = True
            done["created_revision"] = created
        if events:
            done.setdefault("last_revision", events[-1][0])
        self.op(process, "watch", value, done)

    def read(self, revision: int, kvs: dict[str, Any]) -> None:
        self.op(20, "read", None, {"revision": revision, "kvs": kvs})

    def history(self) -> History:
        return History.of(self.ops)


def good() -> Builder:
    b = Builder()
    b.put("a", "1", 2)
    b.put("b", "2", 3)
    b.watch("w0", 2, [[2, "a", "1"], [3, "b", "2"]])
    b.watch("w1", 2, [[2, "a", "1"]], process=1)
    b.delete("a", 4)
    b.delete("zz", None)  # v3 deleted nothing: no change
    b.put("b", "5", 5)
    b.watch("w0", 4, [[4, "a", None], [5, "b", "5"]])
    b.watch("w1", 3, [[3, "b", "2"], [4, "a", None]], process=1)
    b.read(5, {"b": "5"})
    b.watch("w0", 6, [], catch_up=True, created=5)
    b.watch("w1", 5, [[5, "b", "5"]], catch_up=True, created=5, process=1)
    return b


def test_watchers_that_saw_everything_once_are_valid() -> None:
    result = WatchChecker().check(good().history(), CTX)
    assert result.valid is True, result.reason
    assert result.details["watchers"]["w0"]["events"] == 4
    assert result.details["folders"]["v3"]["first_change"]["delivered_to"] == ["w0", "w1"]


def test_a_skipped_event_is_reported_with_its_revision() -> None:
    b = Builder()
    b.put("a", "1", 2)
    b.put("b", "2", 3)
    b.put("c", "3", 4)
    b.watch("w0", 2, [[2, "a", "1"], [4, "c", "3"]])  # dropped revision 3
    b.watch("w1", 2, [[2, "a", "1"], [3, "b", "2"], [4, "c", "3"]], process=1)
    b.read(4, {"a": "1", "b": "2", "c": "3"})
    result = WatchChecker().check(b.history(), CTX)
    assert result.valid is False
    assert "revision 3" in result.reason and "w0 missed put b=2" in result.reason


def test_the_first_write_into_a_new_folder_must_be_delivered() -> None:
    b = Builder()
    b.put("a", "1", 2)
    b.put("b", "2", 3)
    b.watch("w0", 2, [[3, "b", "2"]])
    b.read(3, {"a": "1", "b": "2"})
    result = WatchChecker().check(b.history(), CTX)
    assert result.valid is False
    assert result.details["folders"]["v3"]["first_change"]["missed_by"] == ["w0"]


def test_an_event_seen_twice_is_reported() -> None:
    b = Builder()
    b.put("a", "1", 2)
    b.put("b", "2", 3)
    b.watch("w0", 2, [[2, "a", "1"], [3, "b", "2"]])
    b.watch("w0", 3, [[3, "b", "2"]], last_revision=3)  # resumed one too early
    result = WatchChecker().check(b.history(), CTX)
    assert result.valid is False
    assert "again" in result.reason


def test_a_gap_after_resuming_is_reported() -> None:
    b = Builder()
    b.put("a", "1", 2)
    b.put("b", "2", 3)
    b.put("c", "3", 4)
    b.watch("w0", 2, [[2, "a", "1"]])
    b.watch("w0", 4, [[4, "c", "3"]])
    result = WatchChecker().check(b.history(), CTX)
    assert result.valid is False
    assert "gap" in result.reason or "missed" in result.reason


def test_watchers_that_disagree_are_reported() -> None:
    b = Builder()
    b.op(9, "put", ["a", "1"], None, kind=OpType.INFO)
    b.op(8, "put", ["a", "7"], None, kind=OpType.INFO)
    b.watch("w0", 2, [[2, "a", "1"]])
    b.watch("w1", 2, [[2, "a", "7"]], process=1)
    result = WatchChecker().check(b.history(), CTX)
    assert result.valid is False
    assert "w1 saw put a=7 at revision 2" in result.reason


def test_a_value_nobody_wrote_is_reported() -> None:
    b = Builder()
    b.watch("w0", 2, [[2, "a", "ghost"]])
    result = WatchChecker().check(b.history(), CTX)
    assert result.valid is False
    assert "never written" in result.reason


def test_an_event_out_of_order_is_reported() -> None:
    b = Builder()
    b.put("a", "1", 2)
    b.put("b", "2", 3)
    b.watch("w0", 2, [[3, "b", "2"], [2, "a", "1"]])
    assert WatchChecker().check(b.history(), CTX).valid is False


def test_a_final_read_that_differs_from_the_changes_is_reported() -> None:
    b = Builder()
    b.put("a", "1", 2)
    b.watch("w0", 2, [[2, "a", "1"]])
    b.read(2, {})
    result = WatchChecker().check(b.history(), CTX)
    assert result.valid is False
    assert "final recursive read" in result.reason


def test_a_compacted_resume_is_reported_as_unknown_not_skipped() -> None:
    b = Builder()
    b.put("a", "1", 2)
    b.put("b", "2", 3)
    b.put("c", "3", 4)
    b.watch("w0", 2, [[2, "a", "1"]])
    b.watch("w0", 3, [], compact_revision=4, stop="canceled: compacted")
    b.watch("w0", 4, [[4, "c", "3"]])
    b.read(4, {"a": "1", "b": "2", "c": "3"})
    result = WatchChecker().check(b.history(), CTX)
    assert result.valid == "unknown"
    assert "compacted" in result.reason


def test_a_watcher_that_never_caught_up_leaves_the_verdict_unknown() -> None:
    b = Builder()
    b.put("a", "1", 2)
    b.put("b", "2", 3)
    b.watch("w0", 2, [[2, "a", "1"]])
    b.read(3, {"a": "1", "b": "2"})
    result = WatchChecker().check(b.history(), CTX)
    assert result.valid == "unknown"
    assert "covered only up to revision 2" in result.reason


def test_a_catch_up_that_ends_quietly_covers_up_to_its_creation_revision() -> None:
    b = Builder()
    b.put("a", "1", 2)
    b.put("b", "2", 3)
    b.watch("w0", 2, [[2, "a", "1"]])
    b.watch("w0", 3, [], catch_up=True, created=3)  # lost the last event
    result = WatchChecker().check(b.history(), CTX)
    assert result.valid is False
    assert "missed put b=2 at revision 3" in result.reason


def test_a_bad_history_gives_unknown_not_a_crash() -> None:
    b = Builder()
    b.op(0, "watch", {"watcher": "w0"}, {"watcher": "w0"})
    assert WatchChecker().check(b.history(), CTX).valid == "unknown"
