"""``folder``: a map model where a recursive read reads the whole map at once.

The state is a frozenset of ``(key, value)`` items (a map with hashable,
immutable states, as the search memoises them). Ops, on one folder (``op.key``
names the folder; folders are independent partitions):

=======  ====================  ============================================================
f        invoke value          ok value
=======  ====================  ============================================================
put      ``[key, value]``      ``[key, value]``
delete   ``key``               ``true`` if it removed the key, ``false`` if it was absent
                               (``null``: not reported, either is fine)
read     ``null``              ``{key: value}``: the whole folder, one snapshot
=======  ====================  ============================================================

A read is legal only if it equals the entire map at one point: a read that
mixes two moments (one key before a write, another after) is not linearizable.

Example::

    >>> LinearizabilityChecker(FolderModel()).check(history, ctx)
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, ClassVar

from checkers._model import Model, freeze, thaw
from harness.core import Op

FolderState = frozenset[tuple[str, Hashable]]


class FolderModel(Model[FolderState]):
    """A map of keys to values, read whole. Starts empty."""

    name: ClassVar[str] = "folder"
    noun: ClassVar[str] = "folder"
    fs: ClassVar[tuple[str, ...]] = ("put", "delete", "read")

    def init(self) -> FolderState:
        return frozenset()

    def accepts(self, call: Op) -> str | None:
        problem = super().accepts(call)
        if problem is None and call.f == "put" and not (isinstance(call.value, list | tuple) and len(call.value) == 2):
            problem = f"a put value must be [key, value], got {call.value!r}"
        if problem is None and call.f == "delete" and not isinstance(call.value, str):
            problem = f"a delete value must be the key (a string), got {call.value!r}"
        return problem

    def step(self, state: FolderState, call: Op, result: Op) -> tuple[bool, FolderState]:
        if call.f == "read":
            return (result.is_info or _as_state(result.value) == state), state
        if call.f == "put":
            key, value = call.value
            return True, frozenset({(k, v) for k, v in state if k != key} | {(str(key), freeze(value))})
        key = str(call.value)
        present = any(k == key for k, _ in state)
        if result.is_ok and isinstance(result.value, bool) and result.value != present:
            return False, state
        return True, frozenset((k, v) for k, v in state if k != key)

    def readonly(self, call: Op) -> bool:
        return call.f == "read"

    def describe_op(self, call: Op, result: Op) -> str:
        if call.f == "read":
            return f"read {_show_map(_as_state(result.value))}" if result.is_ok else "read"
        if call.f == "put":
            return f"put {call.value[0]}={call.value[1]}"
        if result.is_ok and isinstance(result.value, bool):
            return f"delete {call.value} ({'removed it' if result.value else 'it was absent'})"
        return f"delete {call.value}"

    def describe_state(self, state: FolderState) -> str:
        return _show_map(state)

    def state_json(self, state: FolderState) -> Any:
        return {k: thaw(v) for k, v in sorted(state, key=lambda kv: kv[0])}

    def state_from_json(self, data: Any) -> FolderState:
        if not isinstance(data, dict):
            raise ValueError(f"a folder state is a map, got {data!r}")
        return _as_state(data)


def _as_state(value: object) -> FolderState:
    if not isinstance(value, dict):
        return frozenset({("<not a map>", freeze(value))})
    return frozenset((str(k), freeze(v)) for k, v in value.items())


def _show_map(state: FolderState) -> str:
    items = sorted(state, key=lambda kv: kv[0])
    return "{" + ", ".join(f"{k}={v}" for k, v in items) + "}"
