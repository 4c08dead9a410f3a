"""The models the harness checks against, and :data:`MODELS`, the registry by name.

=============  ===============================  ==========================================
name           ops (``f``)                      state
=============  ===============================  ==========================================
register       read, write                      the value; ``None`` = absent
cas-register   read, write, cas ``[old, new]``  the value; ``None`` = absent
mutex          acquire, release                 held or free
kv             get, put, append                 the key's string ("" = absent)
counter        add ``n``, read                  the count, from 0
=============  ===============================  ==========================================

Every model partitions by ``op.key``: each key is an independent object.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, ClassVar

from checkers._model import Model, freeze, show
from harness.core import Op


class CasRegisterModel(Model[Hashable]):
    """A register with read, write and compare-and-set; it starts absent (``None``).

    ``read`` outputs the value (``None`` = absent); ``write v``; ``cas [old, new]``
    sets ``new`` if the value is ``old`` (a compare that did not match is a ``fail``).
    """

    name: ClassVar[str] = "cas-register"
    noun: ClassVar[str] = "register"
    fs: ClassVar[tuple[str, ...]] = ("read", "write", "cas")

    def __init__(self, initial: Any = None) -> None:
        self.initial = freeze(initial)

    def init(self) -> Hashable:
        return self.initial

    def accepts(self, call: Op) -> str | None:
        problem = super().accepts(call)
        if problem is None and call.f == "cas" and not (isinstance(call.value, list | tuple) and len(call.value) == 2):
            problem = f"a cas value must be [old, new], got {call.value!r}"
        return problem

    def step(self, state: Hashable, call: Op, result: Op) -> tuple[bool, Hashable]:
        f = call.f
        if f == "read":
            return (result.is_info or freeze(result.value) == state), state
        if f == "write":
            return True, freeze(call.value)
        old, new = call.value
        return (freeze(old) == state), freeze(new)

    def readonly(self, call: Op) -> bool:
        return call.f == "read"

    def describe_op(self, call: Op, result: Op) -> str:
        if call.f == "read":
            return f"read {show(freeze(result.value))}" if result.is_ok else "read"
        if call.f == "cas":
            old, new = call.value
            return f"cas {show(freeze(old))}→{show(freeze(new))}"
        return f"write {show(freeze(call.value))}"


class RegisterModel(CasRegisterModel):
    """A read/write register (no cas); it starts absent (``None``)."""

    name: ClassVar[str] = "register"
    fs: ClassVar[tuple[str, ...]] = ("read", "write")


class MutexModel(Model[bool]):
    """A lock: ``acquire`` succeeds only when it is free, ``release`` only when held."""

    name: ClassVar[str] = "mutex"
    noun: ClassVar[str] = "lock"
    fs: ClassVar[tuple[str, ...]] = ("acquire", "release")

    def init(self) -> bool:
        return False

    def step(self, state: bool, call: Op, result: Op) -> tuple[bool, bool]:
        if call.f == "acquire":
            return (not state), True
        return state, False

    def describe_op(self, call: Op, result: Op) -> str:
        return call.f

    def describe_state(self, state: bool) -> str:
        return "held" if state else "free"

    def state_from_json(self, data: Any) -> bool:
        if not isinstance(data, bool):
            raise ValueError(f"a lock state is true (held) or false (free), got {data!r}")
        return data


class KVModel(Model[str]):
    """One string per key: ``get`` outputs it ("" or ``None`` = absent), ``put v`` sets it,
    ``append v`` appends to it (Porcupine's kv model)."""

    name: ClassVar[str] = "kv"
    noun: ClassVar[str] = "value"
    fs: ClassVar[tuple[str, ...]] = ("get", "put", "append")

    def init(self) -> str:
        return ""

    def accepts(self, call: Op) -> str | None:
        problem = super().accepts(call)
        if problem is None and call.f != "get" and not isinstance(call.value, str):
            problem = f"a {call.f} value must be a string, got {call.value!r}"
        return problem

    def step(self, state: str, call: Op, result: Op) -> tuple[bool, str]:
        f = call.f
        if f == "get":
            return (result.is_info or (result.value or "") == state), state
        if f == "put":
            return True, call.value
        return True, state + call.value

    def readonly(self, call: Op) -> bool:
        return call.f == "get"

    def invariant(self, ops: Sequence[tuple[Op, Op]]) -> Callable[[str], bool] | None:
        """Without ``put``, every state is a prefix of the final value, and so is every
        value read: each state is a prefix of the longest read, or extends it."""
        if any(call.f == "put" for call, _ in ops):
            return None
        longest = max(((r.value or "") for c, r in ops if c.f == "get" and r.is_ok), key=len, default="")
        if not longest:
            return None
        return lambda s: longest.startswith(s) or s.startswith(longest)

    def reach_test(self, call: Op, result: Op, between: Sequence[tuple[Op, Op]]) -> Callable[[str], bool] | None:
        """Appends only extend the value: unless a ``put`` of a prefix of the value read comes
        in between, the state must already be a prefix of it."""
        if call.f != "get" or not result.is_ok:
            return None
        seen: str = result.value or ""
        if any(c.f == "put" and seen.startswith(c.value) for c, _ in between):
            return None
        return seen.startswith

    def state_from_json(self, data: Any) -> str:
        if not isinstance(data, str):
            raise ValueError(f"a kv state is a string, got {data!r}")
        return data

    def describe_op(self, call: Op, result: Op) -> str:
        if call.f == "get":
            return f"get {show(result.value or '')}" if result.is_ok else "get"
        return f"{call.f} {show(call.value)}"


class CounterModel(Model[int]):
    """A counter from 0: ``add n`` adds ``n`` (default 1), ``read`` outputs the count."""

    name: ClassVar[str] = "counter"
    noun: ClassVar[str] = "counter"
    fs: ClassVar[tuple[str, ...]] = ("add", "read")

    def init(self) -> int:
        return 0

    def accepts(self, call: Op) -> str | None:
        problem = super().accepts(call)
        if problem is None and call.f == "add" and not (call.value is None or type(call.value) is int):
            problem = f"an add value must be an integer, got {call.value!r}"
        return problem

    def step(self, state: int, call: Op, result: Op) -> tuple[bool, int]:
        if call.f == "add":
            return True, state + (1 if call.value is None else call.value)
        return (result.is_info or result.value == state), state

    def readonly(self, call: Op) -> bool:
        return call.f == "read"

    def reach_test(self, call: Op, result: Op, between: Sequence[tuple[Op, Op]]) -> Callable[[int], bool] | None:
        """Adds of one sign move the count one way: a read of ``n`` bounds the state by ``n``."""
        if call.f != "read" or not result.is_ok or type(result.value) is not int:
            return None
        steps = {1 if c.value is None else c.value for c, _ in between if c.f == "add"}
        seen: int = result.value
        if all(n >= 0 for n in steps):
            return seen.__ge__
        if all(n <= 0 for n in steps):
            return seen.__le__
        return None

    def state_from_json(self, data: Any) -> int:
        if type(data) is not int:
            raise ValueError(f"a counter state is an integer, got {data!r}")
        return data

    def describe_op(self, call: Op, result: Op) -> str:
        if call.f == "read":
            return f"read {result.value}" if result.is_ok else "read"
        return f"add {1 if call.value is None else call.value}"


#: Every model by its command-line name.
MODELS: dict[str, type[Model[Any]]] = {
    m.name: m for m in (RegisterModel, CasRegisterModel, MutexModel, KVModel, CounterModel)
}


def model_named(name: str) -> Model[Any]:
    """A fresh model by name; ``KeyError`` naming the allowed names if there is none."""
    try:
        return MODELS[name]()
    except KeyError:
        raise KeyError(f"no model {name!r}; allowed: {', '.join(sorted(MODELS))}") from None
