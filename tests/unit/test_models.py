"""Each model: a good history passes and a known-bad one fails, for the right reason."""

from __future__ import annotations

import pytest

from checkers import MODELS, CheckContext, KVModel, LinearizabilityChecker, Model, model_named
from harness.core import History, Op, OpType
from tests.unit.test_linear_support import brute_force, h

CTX = CheckContext(time_limit=10)


def verdict(model: str, history: History) -> tuple[object, str]:
    result = LinearizabilityChecker(model).check(history, CTX)
    return result.valid, result.reason


def test_registry_names() -> None:
    assert set(MODELS) == {"register", "cas-register", "mutex", "kv", "counter"}
    with pytest.raises(KeyError, match="allowed"):
        model_named("queue")


def test_register_good_and_bad() -> None:
    good = h((0, "invoke", "write", 2), (0, "ok", "write", 2), (1, "invoke", "read", None), (1, "ok", "read", 2))
    bad = h((0, "invoke", "write", 2), (0, "ok", "write", 2), (1, "invoke", "read", None), (1, "ok", "read", None))
    assert verdict("register", good)[0] is True
    assert verdict("register", bad) == (False, "read absent, but the register can only be 2 here")


def test_cas_register_bad_cas() -> None:
    bad = h((0, "invoke", "write", 1), (0, "ok", "write", 1), (1, "invoke", "cas", [2, 3]), (1, "ok", "cas", [2, 3]))
    assert verdict("cas-register", bad) == (False, "cas 2→3, but the register can only be 1 here")


def test_mutex_double_acquire_is_bad() -> None:
    good = h(
        (0, "invoke", "acquire", None),
        (0, "ok", "acquire", None),
        (0, "invoke", "release", None),
        (0, "ok", "release", None),
        (1, "invoke", "acquire", None),
        (1, "ok", "acquire", None),
    )
    bad = h(
        (0, "invoke", "acquire", None),
        (0, "ok", "acquire", None),
        (1, "invoke", "acquire", None),
        (1, "ok", "acquire", None),
    )
    assert verdict("mutex", good)[0] is True
    assert verdict("mutex", bad) == (False, "acquire, but the lock can only be held here")


def test_mutex_locks_are_partitioned_by_name() -> None:
    two = h(
        (0, "invoke", "acquire", None, "a"),
        (0, "ok", "acquire", None, "a"),
        (1, "invoke", "acquire", None, "b"),
        (1, "ok", "acquire", None, "b"),
    )
    assert verdict("mutex", two)[0] is True


def test_mutex_release_of_free_lock_is_bad() -> None:
    assert verdict("mutex", h((0, "invoke", "release", None), (0, "ok", "release", None)))[0] is False


def test_kv_append_order_must_be_consistent() -> None:
    good = h(
        (0, "invoke", "append", "a", "k"),
        (1, "invoke", "append", "b", "k"),
        (0, "ok", "append", "a", "k"),
        (1, "ok", "append", "b", "k"),
        (2, "invoke", "get", None, "k"),
        (2, "ok", "get", "ba", "k"),
    )
    bad = h(
        (0, "invoke", "append", "a", "k"),
        (0, "ok", "append", "a", "k"),
        (1, "invoke", "append", "b", "k"),
        (1, "ok", "append", "b", "k"),
        (2, "invoke", "get", None, "k"),
        (2, "ok", "get", "ba", "k"),
    )
    assert verdict("kv", good)[0] is True
    assert verdict("kv", bad) == (False, "key k: get 'ba', but the value can only be 'ab' here")


def test_kv_put_resets() -> None:
    good = h(
        (0, "invoke", "append", "a", "k"),
        (0, "ok", "append", "a", "k"),
        (0, "invoke", "put", "z", "k"),
        (0, "ok", "put", "z", "k"),
        (1, "invoke", "get", None, "k"),
        (1, "ok", "get", "z", "k"),
    )
    assert verdict("kv", good)[0] is True


def test_kv_invariant_is_sound_and_prunes() -> None:
    model = KVModel()
    ops = [(Op(type=OpType.INVOKE, f="get"), Op(type=OpType.OK, f="get", value="abc"))]
    inv = model.invariant(ops)
    assert inv is not None
    assert inv("ab") and inv("abcd") and not inv("b")
    assert model.invariant([*ops, (Op(type=OpType.INVOKE, f="put", value="x"), Op(type=OpType.OK, f="put"))]) is None


def test_counter_good_and_bad() -> None:
    good = h((0, "invoke", "add", 2), (1, "invoke", "read", None), (1, "ok", "read", 2), (0, "ok", "add", 2))
    bad = h((0, "invoke", "add", 2), (0, "ok", "add", 2), (1, "invoke", "read", None), (1, "ok", "read", 3))
    assert verdict("counter", good)[0] is True
    assert verdict("counter", bad) == (False, "read 3, but the counter can only be 2 here")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_rejects_unknown_ops(name: str) -> None:
    assert model_named(name).accepts(Op(type=OpType.INVOKE, f="frobnicate")) is not None


def test_a_new_model_needs_no_change_to_the_search() -> None:
    class Toggle(Model[bool]):
        name = "toggle"
        noun = "switch"

        def init(self) -> bool:
            return False

        def step(self, state: bool, call: Op, result: Op) -> tuple[bool, bool]:
            if call.f == "flip":
                return True, not state
            return result.is_info or result.value == state, state

    bad = h((0, "invoke", "flip", None), (0, "ok", "flip", None), (1, "invoke", "look", None), (1, "ok", "look", False))
    result = LinearizabilityChecker(Toggle()).check(bad, CTX)
    assert result.valid is False
    assert brute_force(Toggle(), bad) is False
    assert "the switch can only be True here" in result.reason
