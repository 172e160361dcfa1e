"""The battery every assimilator passes, on the linear model and on UVA/Padova."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from tests.assimilation.linear_model import LinearObservation, LinearState

from healthtwin.assimilation import (
    EnsembleKalmanFilter,
    OutputObservation,
    ParticleFilter,
    StateView,
    view_for,
)
from healthtwin.core import Assimilator
from healthtwin.physiology import UvaPadova, load_patient

VIEW = StateView(state_columns=(0, 1))
FILTERS: dict[str, Callable[[int | None], Any]] = {
    "etkf": lambda m: EnsembleKalmanFilter(VIEW, members_per_twin=m),
    "stochastic-enkf": lambda m: EnsembleKalmanFilter(VIEW, members_per_twin=m, form="stochastic"),
    "particle": lambda m: ParticleFilter(members_per_twin=m),
}


def _state(n: int, seed: int = 0) -> LinearState:
    rng = np.random.default_rng(seed)
    return LinearState(rng.normal(size=(n, 2)), np.ones((n, 1)))


@pytest.fixture(params=list(FILTERS))
def make(request: pytest.FixtureRequest) -> Callable[[int | None], Any]:
    return FILTERS[request.param]


def test_is_an_assimilator(make: Callable[[int | None], Any]) -> None:
    assert isinstance(make(None), Assimilator)


def test_shapes_and_types_are_kept(make: Callable[[int | None], Any]) -> None:
    state = _state(3 * 50)
    post = make(50).update(
        state, np.array([[0.3], [0.0], [-0.4]]), LinearObservation(), np.random.default_rng(1)
    )
    assert type(post) is type(state)
    assert post.x.shape == state.x.shape
    assert np.all(np.isfinite(post.x))


def test_deterministic_under_a_seed(make: Callable[[int | None], Any]) -> None:
    state = _state(200)
    runs = [
        make(None).update(state, np.array([0.5]), LinearObservation(), np.random.default_rng(7)).x
        for _ in range(2)
    ]
    np.testing.assert_array_equal(runs[0], runs[1])


def test_does_not_mutate_its_input(make: Callable[[int | None], Any]) -> None:
    state = _state(100)
    before = state.x.copy()
    make(None).update(state, np.array([1.5]), LinearObservation(), np.random.default_rng(0))
    np.testing.assert_array_equal(state.x, before)


def test_a_missing_reading_changes_nothing(make: Callable[[int | None], Any]) -> None:
    state = _state(100)
    post = make(None).update(
        state, np.array([np.nan]), LinearObservation(), np.random.default_rng(0)
    )
    np.testing.assert_array_equal(post.x, state.x)


def test_a_reading_pulls_the_ensemble_towards_it(make: Callable[[int | None], Any]) -> None:
    state = _state(2000)
    post = make(None).update(state, np.array([1.0]), LinearObservation(), np.random.default_rng(0))
    prior_gap = abs(state.x[:, 0].mean() - 1.0)
    assert abs(post.x[:, 0].mean() - 1.0) < 0.5 * prior_gap
    assert post.x[:, 0].std() < state.x[:, 0].std()


@pytest.mark.parametrize("form", ["etkf", "stochastic"])
def test_enkf_on_a_physiology_model_keeps_parameters_in_bounds(form: str) -> None:
    model = UvaPadova([load_patient("nominal-adult")])
    state = model.initial_state(40, np.random.default_rng(0))
    view = view_for(model, states=["sc_glucose_mg_per_kg"], parameters={"Vmx": (0.04, 0.06)})
    enkf = EnsembleKalmanFilter(view, form=form, outlier_sigma=None)
    obs = OutputObservation(model, ["glucose_mg_dl"], [8.0])
    post = enkf.update(state, np.array([60.0]), obs, np.random.default_rng(0))
    vmx = post.theta[:, UvaPadova.parameter_index("Vmx")]
    assert np.all((vmx >= 0.04 - 1e-12) & (vmx <= 0.06 + 1e-12))
    # Only the viewed state and parameter may change.
    changed = np.flatnonzero(np.any(post.x != state.x, axis=0))
    assert set(changed.tolist()) <= {12}
