"""Property tests of the search with the models other than the register."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkers import CheckContext, LinearizabilityChecker, model_named
from harness.core import History
from tests.unit.test_linear_support import brute_force, h, linearizable_history, random_model_history

CTX = CheckContext(time_limit=20)
MODELS = ["mutex", "counter", "kv"]


@pytest.mark.parametrize("name", MODELS)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_simulated_linearizable_executions_are_accepted(name: str, data: st.DataObject) -> None:
    history: History = data.draw(linearizable_history(name))
    result = LinearizabilityChecker(name, shrink_seconds=0).check(history, CTX)
    assert result.valid is True, result.reason


@pytest.mark.parametrize("name", MODELS)
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_agrees_with_brute_force_on_small_histories(name: str, data: st.DataObject) -> None:
    history: History = data.draw(random_model_history(name))
    model = model_named(name)
    assert LinearizabilityChecker(model, shrink_seconds=0).check(history, CTX).valid is brute_force(model, history)


@pytest.mark.parametrize(
    ("name", "rows"),
    [
        ("mutex", [(0, "invoke", "acquire", None), (0, "ok", "acquire", None),
                   (1, "invoke", "acquire", None), (1, "ok", "acquire", None)]),
        ("counter", [(0, "invoke", "add", 2), (0, "ok", "add", 2), (1, "invoke", "read", None), (1, "ok", "read", 1)]),
        ("kv", [(0, "invoke", "append", "a"), (0, "ok", "append", "a"),
                (1, "invoke", "get", None), (1, "ok", "get", "")]),
    ],
)
def test_the_random_strategies_can_produce_bad_histories(name: str, rows: list[tuple[object, ...]]) -> None:
    # histories like these are what the agreement test needs both verdicts on
    hist = h(*rows)
    assert brute_force(model_named(name), hist) is False
    assert LinearizabilityChecker(name).check(hist, CTX).valid is False
