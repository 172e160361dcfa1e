"""The ensemble Kalman filters against the exact Kalman filter, and their edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from tests.assimilation.linear_model import (
    LinearGaussian,
    LinearObservation,
    LinearState,
    kalman_filter,
    simulate_truth,
)

from healthtwin.assimilation import EnsembleKalmanFilter, StateView, kalman_update
from healthtwin.core import Inputs
from healthtwin.errors import InvalidParameterError, ShapeError

VIEW = StateView(state_columns=(0, 1))
STEPS = 25


def _run(form: str, members: int, seed: int, ys: np.ndarray) -> LinearState:
    model, obs = LinearGaussian(), LinearObservation()
    rng = np.random.default_rng(seed)
    state = model.initial_state(members, rng)
    enkf = EnsembleKalmanFilter(VIEW, form=form, outlier_sigma=None)
    for k, y in enumerate(ys):
        if k:
            state = model.advance(state, k - 1, k, Inputs(), rng)
        state = enkf.update(state, y, obs, rng)
    return state


@pytest.fixture(scope="module")
def truth() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    _, ys = simulate_truth(STEPS, np.random.default_rng(11))
    means, covs = kalman_filter(ys)
    return ys, means[-1], covs[-1]


@pytest.mark.parametrize("form", ["etkf", "stochastic"])
def test_large_ensembles_match_the_kalman_filter(
    form: str, truth: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> None:
    ys, mean, cov = truth
    state = _run(form, 4000, 1, ys)
    ens_mean = state.x.mean(axis=0)
    ens_cov = np.cov(state.x.T)
    sd = np.sqrt(np.diag(cov))
    # Monte Carlo error of the mean is about sd / sqrt(m) = 0.016 sd; allow 5x.
    np.testing.assert_allclose(ens_mean, mean, atol=float(0.08 * sd.max()) + 0.01)
    np.testing.assert_allclose(np.diag(ens_cov), np.diag(cov), rtol=0.12)


def test_error_shrinks_as_members_grow(truth: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    ys, mean, _ = truth
    errors = {}
    for members in (20, 2000):
        errs = [np.abs(_run("etkf", members, s, ys).x.mean(axis=0) - mean).max() for s in range(4)]
        errors[members] = float(np.mean(errs))
    assert errors[2000] < errors[20] / 3


def test_one_etkf_update_is_exact_for_a_gaussian_ensemble() -> None:
    # With the prior moments of the ensemble, the ETKF analysis mean and covariance equal
    # the Kalman update of those moments (a deterministic identity, any member count).
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 2)) @ np.array([[1.0, 0.3], [0.0, 0.7]])
    state = LinearState(x, np.ones((50, 1)))
    y = np.array([0.8])
    post = EnsembleKalmanFilter(VIEW, outlier_sigma=None).update(state, y, LinearObservation(), rng)
    kmean, kcov = kalman_update(
        x.mean(axis=0)[None],
        np.cov(x.T)[None],
        y,
        np.array([[1.0, 0.0]]),
        np.diag(LinearObservation.noise_sd**2),
    )
    np.testing.assert_allclose(post.x.mean(axis=0), kmean[0], atol=1e-12)
    np.testing.assert_allclose(np.cov(post.x.T), kcov[0], atol=1e-12)


def test_twins_are_updated_independently_in_one_batch() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3 * 40, 2))
    state = LinearState(x, np.ones((120, 1)))
    ys = np.array([[0.5], [-1.0], [2.0]])
    enkf = EnsembleKalmanFilter(VIEW, members_per_twin=40, outlier_sigma=None)
    batched = enkf.update(state, ys, LinearObservation(), rng)
    for t in range(3):
        alone_state = LinearState(x[t * 40 : (t + 1) * 40], np.ones((40, 1)))
        alone = EnsembleKalmanFilter(VIEW, outlier_sigma=None).update(
            alone_state, ys[t], LinearObservation(), rng
        )
        np.testing.assert_allclose(batched.x[t * 40 : (t + 1) * 40], alone.x, atol=1e-12)


def test_missing_and_outlying_readings_are_not_assimilated() -> None:
    rng = np.random.default_rng(2)
    state = LinearState(rng.normal(size=(2 * 30, 2)), np.ones((60, 1)))
    enkf = EnsembleKalmanFilter(VIEW, members_per_twin=30, outlier_sigma=10.0)
    analysis = enkf.analyse(state, np.array([[np.nan], [60.0]]), LinearObservation(), rng)
    np.testing.assert_array_equal(analysis.state.x, state.x)  # kept exactly
    assert analysis.used.tolist() == [[False], [False]]
    assert analysis.flagged.tolist() == [[False], [True]]
    assert analysis.innovation[1, 0] / analysis.innovation_sd[1, 0] > 10


def test_inflation_widens_states_only_and_rtps_keeps_parameter_spread() -> None:
    rng = np.random.default_rng(4)
    theta = np.exp(rng.normal(0.0, 0.2, size=(400, 1)))
    x = rng.normal(size=(400, 2))
    x[:, 0] = 3.0 * np.log(theta[:, 0]) + 0.3 * x[:, 0]  # the observed state tracks it
    state = LinearState(x, theta)
    view = StateView(state_columns=(0, 1), parameter_columns=(0,), lower=(1e-3,), upper=(1e3,))
    y = np.array([0.7])
    obs = LinearObservation()
    plain = EnsembleKalmanFilter(view, outlier_sigma=None).update(state, y, obs, rng)
    relaxed = EnsembleKalmanFilter(view, rtps=1.0, outlier_sigma=None).update(state, y, obs, rng)
    inflated = EnsembleKalmanFilter(view, inflation=1.5, rtps=1.0, outlier_sigma=None).update(
        state, y, obs, rng
    )
    prior_spread = np.log(theta).std()
    assert np.log(plain.theta).std() < 0.99 * prior_spread  # the reading informs it
    # RTPS with alpha = 1 restores the prior spread exactly; inflation never touches it.
    np.testing.assert_allclose(np.log(relaxed.theta).std(), prior_spread, rtol=1e-10)
    np.testing.assert_allclose(np.log(inflated.theta).std(), prior_spread, rtol=1e-10)
    assert inflated.x[:, 1].std() > relaxed.x[:, 1].std()


def test_bad_settings_are_refused() -> None:
    with pytest.raises(InvalidParameterError, match="inflation"):
        EnsembleKalmanFilter(VIEW, inflation=0.9)
    with pytest.raises(InvalidParameterError, match="form"):
        EnsembleKalmanFilter(VIEW, form="square")
    enkf = EnsembleKalmanFilter(VIEW, members_per_twin=7)
    state = LinearState(np.zeros((20, 2)), np.ones((20, 1)))
    with pytest.raises(ShapeError, match="whole number of twins"):
        enkf.update(state, np.array([0.0]), LinearObservation(), np.random.default_rng(0))
