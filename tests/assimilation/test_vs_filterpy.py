"""Our ensemble Kalman filters against filterpy 2.0's on the same linear-Gaussian problem.

filterpy (MIT) loops over members in Python; it is used here only as an independent
implementation (test extra). Over 30 simulated runs both filters' errors against the
truth must match each other and the exact Kalman filter's to within sampling noise.
"""

from __future__ import annotations

import numpy as np
from tests.assimilation.linear_model import (
    R_SD,
    X0_COV,
    X0_MEAN,
    F,
    H,
    LinearGaussian,
    LinearObservation,
    Q,
    kalman_filter,
    simulate_truth,
)
from tests.conftest import require

from healthtwin.assimilation import EnsembleKalmanFilter, StateView
from healthtwin.core import Inputs

STEPS, MEMBERS, RUNS = 20, 100, 30


def _ours(ys: np.ndarray, seed: int) -> np.ndarray:
    model, obs = LinearGaussian(), LinearObservation()
    rng = np.random.default_rng(seed)
    state = model.initial_state(MEMBERS, rng)
    enkf = EnsembleKalmanFilter(
        StateView(state_columns=(0, 1)), form="stochastic", outlier_sigma=None
    )
    means = []
    for k, y in enumerate(ys):
        if k:
            state = model.advance(state, k - 1, k, Inputs(), rng)
        state = enkf.update(state, y, obs, rng)
        means.append(state.x.mean(axis=0))
    return np.array(means)


def _filterpy(ys: np.ndarray, seed: int) -> np.ndarray:
    kalman = require("filterpy.kalman", "test")
    np.random.seed(seed)  # noqa: NPY002 - filterpy draws from numpy's global generator
    enkf = kalman.EnsembleKalmanFilter(
        x=X0_MEAN.copy(),
        P=X0_COV.copy(),
        dim_z=1,
        dt=1.0,
        N=MEMBERS,
        hx=lambda x: H @ x,
        fx=lambda x, dt: F @ x,
    )
    enkf.R = np.diag(R_SD**2)
    enkf.Q = Q.copy()
    means = []
    for k, y in enumerate(ys):
        if k:
            enkf.predict()
        enkf.update(y)
        means.append(enkf.x.copy())
    return np.array(means)


def test_same_accuracy_as_filterpy_and_the_kalman_filter() -> None:
    require("filterpy", "test")
    errors = {"ours": [], "filterpy": [], "kalman": []}
    for run in range(RUNS):
        truth, ys = simulate_truth(STEPS, np.random.default_rng(1000 + run))
        errors["ours"].append(np.mean((_ours(ys, run) - truth) ** 2))
        errors["filterpy"].append(np.mean((_filterpy(ys, run) - truth) ** 2))
        errors["kalman"].append(np.mean((kalman_filter(ys)[0] - truth) ** 2))
    rmse = {k: float(np.sqrt(np.mean(v))) for k, v in errors.items()}
    # 100 members: both ensembles sit a few % above the exact filter and within 10 % of
    # each other (30 runs x 20 steps).
    assert abs(rmse["ours"] - rmse["filterpy"]) <= 0.1 * rmse["filterpy"]
    assert rmse["kalman"] <= rmse["ours"] <= 1.15 * rmse["kalman"]


def test_square_root_ukf_matches_filterpy_ukf() -> None:
    kalman = require("filterpy.kalman", "test")
    from healthtwin.assimilation import UnscentedKalmanFilter

    _, ys = simulate_truth(STEPS, np.random.default_rng(5))
    points = kalman.MerweScaledSigmaPoints(2, alpha=1.0, beta=2.0, kappa=0.0)
    theirs = kalman.UnscentedKalmanFilter(
        dim_x=2, dim_z=1, dt=1.0, fx=lambda x, dt: F @ x, hx=lambda x: H @ x, points=points
    )
    theirs.x, theirs.P, theirs.Q, theirs.R = (
        X0_MEAN.copy(),
        X0_COV.copy(),
        Q.copy(),
        np.diag(R_SD**2),
    )
    model, obs = LinearGaussian(noise=False), LinearObservation()
    ours = UnscentedKalmanFilter(
        StateView(state_columns=(0, 1)), process_sd=np.sqrt(np.diag(Q)), outlier_sigma=None
    )
    template = model.initial_state(5, np.random.default_rng(0))
    state = ours.initialise(template, X0_MEAN, X0_COV[None])
    rng = np.random.default_rng(0)
    # filterpy updates the sigma points its predict step made, so both start with a step.
    for k, y in enumerate(ys[1:], start=1):
        theirs.predict()
        theirs.update(y)
        state = model.advance(state, k - 1, k, Inputs(), rng)
        analysis = ours.analyse(state, y, obs, rng)
        state = analysis.state
        np.testing.assert_allclose(analysis.mean[0], theirs.x, atol=1e-9)
        cov = analysis.sqrt_cov[0] @ analysis.sqrt_cov[0].T
        np.testing.assert_allclose(cov, theirs.P, atol=1e-9)
