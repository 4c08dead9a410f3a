"""The model interface of the linearizability checker.

A model is a sequential specification: a pure :meth:`Model.init` and
:meth:`Model.step`, plus optional abilities whose defaults live here, in one
place. The search (``checkers._linear``) only ever calls these methods, so a new
model never touches the search.

An operation reaches the model as a pair: ``call`` (the ``invoke`` op, whose
``value`` is the input) and ``result`` (its completion). ``result.type`` is

- ``ok``: the op took effect and ``result.value`` is its output;
- ``info``: the outcome is unknown. :meth:`Model.step` answers "could the op take
  effect in this state, and which state would it leave?"; the search itself
  handles "or never". An op that never completed arrives as ``info`` too.

``fail`` ops never reach a model: they certainly did not take effect.

Example, a model of a counter that only grows::

    class Grow(Model[int]):
        name = "grow"
        def init(self) -> int:
            return 0
        def step(self, state: int, call: Op, result: Op) -> tuple[bool, int]:
            if call.f == "add":
                return True, state + call.value
            return result.is_info or result.value == state, state   # a read
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from harness.core import Op

S = TypeVar("S", bound=Hashable)


def freeze(value: Any) -> Hashable:
    """``value`` made hashable: lists become tuples and dicts sorted item tuples, recursively."""
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), freeze(v)) for k, v in value.items()))
    if isinstance(value, set | frozenset):
        return frozenset(freeze(v) for v in value)
    return value  # type: ignore[no-any-return]


def thaw(value: Any) -> Any:
    """:func:`freeze` undone as far as JSON goes: tuples and sets become lists, recursively."""
    if isinstance(value, tuple | list):
        return [thaw(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((thaw(v) for v in value), key=repr)
    return value


def show(value: Any) -> str:
    """A short human form of a value: ``None`` reads as ``absent``."""
    if value is None:
        return "absent"
    if isinstance(value, tuple | list):
        return "[" + " ".join(show(v) for v in value) + "]"
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else repr("…" + value[-39:])
    return str(value)


class Model(Generic[S]):
    """A sequential specification. Subclasses implement :meth:`init` and :meth:`step`.

    Contract:

    - ``init`` and ``step`` are pure; states are immutable and hashable (they are
      memoised), and equal states compare ``==``.
    - ``step`` depends only on the state and the two ops' ``f``, ``value`` and
      ``type`` (not on times or processes); the search relies on this to share
      work between identical ops (see :meth:`signature`).
    - ``step`` may assume :meth:`accepts` returned ``None`` for the call.
    """

    #: The name used on the command line (``--model``).
    name: ClassVar[str] = "model"
    #: What a state is, for explanations: "the register can only be 1 or 4 here".
    noun: ClassVar[str] = "object"
    #: The ``f`` values this model understands, for error messages.
    fs: ClassVar[tuple[str, ...]] = ()

    def init(self) -> S:
        raise NotImplementedError

    def step(self, state: S, call: Op, result: Op) -> tuple[bool, S]:
        """``(True, next_state)`` if ``call`` completing as ``result`` is legal in ``state``, else ``(False, _)``."""
        raise NotImplementedError

    # ---- optional abilities; the defaults below are the only ones -------------------

    def accepts(self, call: Op) -> str | None:
        """``None`` if the model can check this invocation, else what is wrong and what is allowed."""
        if self.fs and call.f not in self.fs:
            return f"the {self.name} model has no operation {call.f!r}; allowed: {', '.join(self.fs)}"
        return None

    def partition_key(self, call: Op) -> Hashable:
        """The independent object the op acts on. The history is linearizable iff each
        partition is (P-compositionality). Default: ``call.key`` (``None`` = one object)."""
        return call.key  # type: ignore[no-any-return]

    def readonly(self, call: Op) -> bool:
        """True if the op can never change the state (a read). Such ops are linearized as
        soon as they are legal, and dropped when their result is unknown. Default: False."""
        return False

    def invariant(self, ops: Sequence[tuple[Op, Op]]) -> Callable[[S], bool] | None:
        """A test every state of every legal linearization of ``ops`` (one partition's
        ``(call, result)`` pairs) must pass; the search prunes states that fail it.
        It must be sound: never reject a state a legal linearization reaches.
        Default: ``None`` (no pruning)."""
        return None

    def reach_test(self, call: Op, result: Op, between: Sequence[tuple[Op, Op]]) -> Callable[[S], bool] | None:
        """A test of the states from which the read-only op ``call``/``result`` (a definite,
        ``ok`` result) can still become legal after some of the ops ``between``, in some
        order; the search prunes states that fail it. It must be sound: never reject a
        state from which such an order exists. Default: ``None`` (no pruning).

        Example, for a string that only grows by appends: a read of ``"abc"`` with no ``put``
        in ``between`` needs the state to be a prefix of it, so the test is
        ``"abc".startswith``. (For a register it rarely prunes enough to pay.)"""
        return None

    def signature(self, call: Op, result: Op) -> Hashable:
        """Ops with equal signatures step identically. Default: ``f``, input and output."""
        return (call.f, freeze(call.value), result.type, freeze(result.value) if result.is_ok else None)

    def describe_op(self, call: Op, result: Op) -> str:
        """The op in the model's words, e.g. ``read 3`` or ``cas 1→4``."""
        out = f" → {show(freeze(result.value))}" if result.is_ok and result.value != call.value else ""
        return f"{call.f} {show(freeze(call.value))}{out}".strip()

    def describe_state(self, state: S) -> str:
        return show(state)

    def state_json(self, state: S) -> Any:
        """``state`` as JSON data, for a reproducer's header (:meth:`state_from_json` reads it
        back). Default: tuples and sets become lists."""
        return thaw(state)

    def state_from_json(self, data: Any) -> S:
        """The state :meth:`state_json` wrote; ``ValueError`` if ``data`` is not one.
        Default: :func:`freeze` (lists become tuples)."""
        return freeze(data)  # type: ignore[return-value]

    def explain(self, call: Op, result: Op, states: Sequence[S]) -> str:
        """Why the op cannot be linearized, given every state it could have seen."""
        seen = sorted({self.describe_state(s) for s in states})
        what = " or ".join(seen) if len(seen) <= 6 else ", ".join(seen[:6]) + f" or {len(seen) - 6} more"
        unknown = " (outcome unknown)" if result.is_info else ""
        return f"{self.describe_op(call, result)}{unknown}, but the {self.noun} can only be {what} here"
