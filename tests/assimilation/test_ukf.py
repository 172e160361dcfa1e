"""The square-root UKF: exact on linear-Gaussian problems, positive definite, batched."""

from __future__ import annotations

import numpy as np
import pytest
from tests.assimilation.linear_model import (
    X0_COV,
    X0_MEAN,
    LinearGaussian,
    LinearObservation,
    LinearState,
    Q,
    kalman_filter,
    simulate_truth,
)

from healthtwin.assimilation import StateView, UnscentedKalmanFilter
from healthtwin.core import Inputs
from healthtwin.errors import InvalidParameterError, ShapeError

VIEW = StateView(state_columns=(0, 1))


def _template(twins: int = 1) -> LinearState:
    n = twins * 5
    return LinearState(np.zeros((n, 2)), np.ones((n, 1)))


def test_ukf_is_exact_for_a_linear_gaussian_system() -> None:
    """With the process noise added as Q's square root, the UKF is the Kalman filter."""
    _, ys = simulate_truth(30, np.random.default_rng(3))
    model, obs = LinearGaussian(noise=False), LinearObservation()
    # Q is diagonal here, so its square root is the SD per component.
    ukf = UnscentedKalmanFilter(VIEW, process_sd=np.sqrt(np.diag(Q)), outlier_sigma=None)
    rng = np.random.default_rng(0)
    state = ukf.initialise(_template(), X0_MEAN, X0_COV[None])
    means, covs = kalman_filter(ys)
    first = UnscentedKalmanFilter(VIEW, outlier_sigma=None)  # no process noise before y0
    for k, y in enumerate(ys):
        if k:
            state = model.advance(state, k - 1, k, Inputs(), rng)
        analysis = (ukf if k else first).analyse(state, y, obs, rng)
        state = analysis.state
        np.testing.assert_allclose(analysis.mean[0], means[k], atol=1e-10)
        cov = analysis.sqrt_cov[0] @ analysis.sqrt_cov[0].T
        np.testing.assert_allclose(cov, covs[k], atol=1e-10)


def test_square_root_stays_lower_triangular_and_positive() -> None:
    ukf = UnscentedKalmanFilter(VIEW, outlier_sigma=None)
    state = ukf.initialise(_template(3), np.zeros((3, 2)), np.stack([np.eye(2)] * 3))
    analysis = ukf.analyse(
        state, np.array([[1.0], [-2.0], [0.5]]), LinearObservation(), np.random.default_rng(0)
    )
    s = analysis.sqrt_cov
    assert np.allclose(np.triu(s, 1), 0.0)
    assert np.all(np.diagonal(s, axis1=1, axis2=2) > 0)
    assert analysis.state.x.shape == (15, 2)


def test_missing_readings_leave_the_mean() -> None:
    ukf = UnscentedKalmanFilter(VIEW)
    state = ukf.initialise(_template(), np.array([0.3, -0.2]), np.eye(2)[None])
    analysis = ukf.analyse(state, np.array([np.nan]), LinearObservation(), np.random.default_rng(0))
    np.testing.assert_allclose(analysis.mean[0], [0.3, -0.2], atol=1e-12)
    np.testing.assert_allclose(analysis.sqrt_cov[0] @ analysis.sqrt_cov[0].T, np.eye(2), atol=1e-12)
    assert analysis.used.tolist() == [[False]]


def test_settings_and_shapes_are_checked() -> None:
    with pytest.raises(InvalidParameterError, match="weights must be >= 0"):
        UnscentedKalmanFilter(VIEW, alpha=1e-3, beta=0.0)
    ukf = UnscentedKalmanFilter(VIEW)
    with pytest.raises(ShapeError, match="whole number of twins of 5"):
        ukf.update(
            LinearState(np.zeros((7, 2)), np.ones((7, 1))),
            np.array([0.0]),
            LinearObservation(),
            np.random.default_rng(0),
        )
