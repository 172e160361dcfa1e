"""The shared battery every registered model passes (scikit-learn's check_estimator idea).

Shapes, declared units, determinism under a seed, no mutation of inputs, identical member
trajectories whether a member runs alone or in an ensemble, and clear rejection of inputs
the model does not take.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from healthtwin.core import Events, Inputs, Model, Rate
from healthtwin.errors import InvalidInputError
from healthtwin.physiology.registry import make_model, model_names

TIME_UNITS = {"min", "h", "day"}


def _plan(model: Model[Any], n: int) -> Inputs:
    rates = {}
    events = {}
    if "insulin_u_per_min" in model.rate_inputs:
        per_member = 0.008 * (1.0 + 0.1 * np.arange(n))
        rates["insulin_u_per_min"] = Rate(np.array([0.0, 200.0]), np.stack([per_member] * 2, 1))
    if "meal_g" in model.event_inputs:
        events["meal_g"] = Events([30.0, 150.5], [50.0, 20.0])
    if "bolus_u" in model.event_inputs:
        events["bolus_u"] = Events([30.0], [2.0])
    return Inputs(rates=rates, events=events)


@pytest.fixture(params=model_names())
def model(request: pytest.FixtureRequest) -> Model[Any]:
    return make_model(request.param)


def test_is_a_model_with_declared_units(model: Model[Any]) -> None:
    assert isinstance(model, Model)
    assert model.time_unit in TIME_UNITS
    for table in (model.rate_inputs, model.event_inputs, model.outputs, model.states):
        assert table, "every model declares its channels"
        for name, channel in table.items():
            assert channel.name == name
            assert channel.unit, f"{name} has no unit"


@pytest.mark.parametrize("n", [1, 4])
def test_shapes(model: Model[Any], n: int) -> None:
    rng = np.random.default_rng(0)
    state = model.initial_state(n, rng)
    assert state.n_members == n
    assert model.observe(state).shape == (n, len(model.outputs))
    assert model.state_matrix(state).shape == (n, len(model.states))
    later = model.advance(state, 0.0, 240.0, _plan(model, n), rng)
    assert type(later) is type(state)
    assert model.observe(later).shape == (n, len(model.outputs))
    assert np.all(np.isfinite(later.to_array()))


def test_deterministic_under_a_seed(model: Model[Any]) -> None:
    results = []
    for _ in range(2):
        rng = np.random.default_rng(42)
        state = model.initial_state(3, rng)
        results.append(model.advance(state, 0.0, 300.0, _plan(model, 3), rng).to_array())
    np.testing.assert_array_equal(results[0], results[1])


def test_does_not_mutate_its_inputs(model: Model[Any]) -> None:
    rng = np.random.default_rng(0)
    state = model.initial_state(2, rng)
    before = state.to_array().copy()
    plan = _plan(model, 2)
    rates_before = {k: r.values.copy() for k, r in plan.rates.items()}
    model.advance(state, 0.0, 180.0, plan, rng)
    np.testing.assert_array_equal(state.to_array(), before)
    for k, values in rates_before.items():
        np.testing.assert_array_equal(plan.rates[k].values, values)
    with pytest.raises(ValueError, match="read-only"):
        next(iter(state.arrays().values()))[0] = 1.0


def test_members_alone_and_together_agree(model: Model[Any]) -> None:
    rng = np.random.default_rng(0)
    n = 3
    together = model.advance(model.initial_state(n, rng), 0.0, 300.0, _plan(model, n), rng)
    plan = _plan(model, n)
    for i in range(n):
        alone_plan = Inputs(
            rates={
                k: Rate(r.times, r.values[i if r.n_members > 1 else 0])
                for k, r in plan.rates.items()
            },
            events=dict(plan.events),
        )
        alone = model.advance(model.initial_state(1, rng), 0.0, 300.0, alone_plan, rng)
        np.testing.assert_allclose(
            model.state_matrix(alone)[0],
            model.state_matrix(together)[i],
            rtol=1e-12,
            atol=1e-12,
        )


def test_an_empty_interval_changes_nothing(model: Model[Any]) -> None:
    rng = np.random.default_rng(0)
    state = model.initial_state(2, rng)
    same = model.advance(state, 10.0, 10.0, _plan(model, 2), rng)
    np.testing.assert_array_equal(same.to_array(), state.to_array())


def test_unknown_channels_are_rejected_by_name(model: Model[Any]) -> None:
    rng = np.random.default_rng(0)
    state = model.initial_state(1, rng)
    with pytest.raises(InvalidInputError, match="heparin_u"):
        model.advance(state, 0.0, 10.0, Inputs(events={"heparin_u": Events([1.0], [1.0])}), rng)


def test_flat_state_round_trips(model: Model[Any]) -> None:
    state = model.initial_state(3, np.random.default_rng(0))
    again = state.from_array(state.to_array())
    np.testing.assert_array_equal(again.to_array(), state.to_array())
