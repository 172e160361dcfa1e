"""The bootstrap particle filter: convergence to the Kalman filter, batching, weights, data."""

from __future__ import annotations

import numpy as np
import pytest
from tests.assimilation.linear_model import (
    R_SD,
    LinearGaussian,
    LinearObservation,
    LinearState,
    kalman_filter,
    simulate_truth,
)

from healthtwin.assimilation.particle import ParticleFilter, systematic_resample
from healthtwin.assimilation.view import StateView
from healthtwin.core import Assimilator, Inputs
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError

N_TWINS = 20


class BothStates:
    """Observes both states with independent noise of ``sd``."""

    def __init__(self, sd: float = 0.4) -> None:
        self.noise_sd = np.array([sd, sd])

    def predict(self, state: LinearState) -> FloatArray:
        return np.asarray(state.x, dtype=np.float64)

    def log_likelihood(self, state: LinearState, y: FloatArray) -> FloatArray:
        z = (y - state.x) / self.noise_sd
        return np.asarray(-0.5 * np.sum(z * z, axis=1))


class WithoutNoiseSd:
    """The same observation model, seen only through ``log_likelihood`` (no ``noise_sd``)."""

    def __init__(self, obs: LinearObservation | BothStates) -> None:
        self.obs = obs

    def predict(self, state: LinearState) -> FloatArray:
        return self.obs.predict(state)

    def log_likelihood(self, state: LinearState, y: FloatArray) -> FloatArray:
        return self.obs.log_likelihood(state, y)


def prior(n: int, seed: int = 0, n_theta: int = 1) -> LinearState:
    rng = np.random.default_rng(seed)
    state = LinearGaussian().initial_state(n, rng)
    theta = np.exp(rng.normal(0.0, 0.3, size=(n, n_theta)))
    return LinearState(state.x, theta)


def run_filter(
    m: int, ys: FloatArray, *, seed: int, weighted: bool
) -> tuple[FloatArray, FloatArray]:
    """Filtered means and variances per step and twin, shape (T, N_TWINS, 2)."""
    model, obs = LinearGaussian(), LinearObservation()
    rng = np.random.default_rng(seed)
    pf = ParticleFilter(members_per_twin=m, outlier_sigma=None)
    state = model.initial_state(m * N_TWINS, rng)
    log_weights = None
    means, variances = [], []
    for k, y in enumerate(ys):
        if k:
            state = model.advance(state, k - 1, k, Inputs(), rng)
        if weighted:
            analysis = pf.analyse(state, y, obs, rng, log_weights=log_weights)
            state, log_weights = analysis.state, analysis.log_weights
            w = analysis.weights.reshape(N_TWINS, m, 1)
        else:
            state = pf.update(state, y, obs, rng)
            w = np.full((N_TWINS, m, 1), 1.0 / m)
        x = state.x.reshape(N_TWINS, m, 2)
        mean = np.sum(w * x, axis=1)
        means.append(mean)
        variances.append(np.sum(w * (x - mean[:, None]) ** 2, axis=1))
    return np.array(means), np.array(variances)


@pytest.fixture(scope="module")
def reference() -> tuple[FloatArray, FloatArray, FloatArray]:
    _, ys = simulate_truth(15, np.random.default_rng(3))
    kf_mean, kf_cov = kalman_filter(ys)
    return ys, kf_mean, np.diagonal(kf_cov, axis1=1, axis2=2)


@pytest.mark.parametrize("weighted", [False, True], ids=["update", "analyse-with-weights"])
def test_converges_to_the_kalman_filter(
    reference: tuple[FloatArray, FloatArray, FloatArray], weighted: bool
) -> None:
    ys, kf_mean, kf_var = reference
    mean, var = run_filter(5000, ys, seed=1, weighted=weighted)
    error = mean - kf_mean[:, None]
    # 20 independent twins share the data: their spread is the Monte Carlo error.
    standard_error = error.std(axis=1, ddof=1) / np.sqrt(N_TWINS)
    assert np.all(np.abs(error.mean(axis=1)) < 4.0 * standard_error)
    assert np.sqrt(np.mean(error**2 / kf_var[:, None])) < 0.1  # in posterior SDs
    ratio = var / kf_var[:, None]
    assert np.all(np.abs(ratio.mean(axis=1) - 1.0) < 0.1)
    assert abs(ratio.mean() - 1.0) < 0.03
    coarse, _ = run_filter(200, ys, seed=2, weighted=weighted)
    rmse_coarse = np.sqrt(np.mean((coarse - kf_mean[:, None]) ** 2))
    assert rmse_coarse > 2.5 * np.sqrt(np.mean(error**2))


def test_batched_twins_equal_twins_one_by_one() -> None:
    m, n_twins = 40, 3
    state = prior(m * n_twins, n_theta=2)
    y = np.array([[0.5], [np.nan], [2.5]])
    log_weights = np.random.default_rng(5).normal(size=m * n_twins)
    view = StateView(state_columns=(), parameter_columns=(1,), lower=(0.5,), upper=(2.0,))
    pf = ParticleFilter(m, resample_threshold=1.0, jitter_view=view, jitter_scale=0.3)
    batch = pf.analyse(
        state, y, LinearObservation(), np.random.default_rng(7), log_weights=log_weights
    )
    rng = np.random.default_rng(7)
    for twin in range(n_twins):
        rows = slice(twin * m, (twin + 1) * m)
        alone = pf.analyse(
            state.take(rows), y[twin], LinearObservation(), rng, log_weights=log_weights[rows]
        )
        np.testing.assert_array_equal(alone.state.x, batch.state.x[rows])
        np.testing.assert_allclose(alone.state.theta, batch.state.theta[rows], rtol=1e-13)
        np.testing.assert_allclose(alone.log_weights, batch.log_weights[rows], rtol=1e-13)
        np.testing.assert_allclose(alone.ess, batch.ess[twin : twin + 1], rtol=1e-13)
        assert alone.resampled[0] == batch.resampled[twin]
    assert batch.resampled.tolist() == [True, True, True]


def test_weights_and_ess_match_the_gaussian_likelihood() -> None:
    state = prior(500)
    pf = ParticleFilter(resample_threshold=0.0)
    analysis = pf.analyse(state, np.array([1.3]), LinearObservation(), np.random.default_rng(0))
    log_w = -0.5 * ((1.3 - state.x[:, 0]) / R_SD[0]) ** 2
    w = np.exp(log_w - log_w.max())
    w /= w.sum()
    np.testing.assert_allclose(analysis.weights, w, rtol=1e-10)
    np.testing.assert_allclose(analysis.ess, [1.0 / np.sum(w**2)])
    assert not analysis.resampled[0]
    np.testing.assert_array_equal(analysis.state.x, state.x)  # weights carry the update


def test_weights_thread_through_successive_analyses() -> None:
    state, obs, rng = prior(300), LinearObservation(), np.random.default_rng(0)
    pf = ParticleFilter(resample_threshold=0.0)
    first = pf.analyse(state, np.array([0.8]), obs, rng)
    second = pf.analyse(state, np.array([1.2]), obs, rng, log_weights=first.log_weights)
    together = BothStates(0.4 / np.sqrt(2.0))  # two readings of x0 = one at their mean
    both = pf.analyse(state, np.array([1.0, np.nan]), together, rng)
    np.testing.assert_allclose(second.weights, both.weights, rtol=1e-9)


def test_low_ess_triggers_resampling_and_high_ess_does_not() -> None:
    state, obs, rng = prior(1000), LinearObservation(), np.random.default_rng(0)
    sharp = ParticleFilter(resample_threshold=0.5).analyse(state, np.array([3.0]), obs, rng)
    assert sharp.ess[0] < 500
    assert sharp.resampled[0]
    np.testing.assert_allclose(sharp.weights, 1.0 / 1000)
    assert len(np.unique(sharp.state.x[:, 0])) < 1000  # copies of the likely members
    vague = ParticleFilter(resample_threshold=0.5).analyse(
        state, np.array([1.0, 1.0]), BothStates(50.0), rng
    )
    assert vague.ess[0] > 990
    assert not vague.resampled[0]
    np.testing.assert_array_equal(vague.state.x, state.x)


def test_update_resamples_every_updated_twin() -> None:
    state = prior(200)
    pf = ParticleFilter(members_per_twin=100, resample_threshold=0.0)
    y = np.array([[1.0], [np.nan]])
    after = pf.update(state, y, LinearObservation(), np.random.default_rng(0))
    assert isinstance(pf, Assimilator)
    assert len(np.unique(after.x[:100, 0])) < 100
    np.testing.assert_array_equal(after.x[100:], state.x[100:])


def test_systematic_resampling_keeps_counts_within_one_of_expected() -> None:
    rng = np.random.default_rng(0)
    weights = rng.dirichlet(np.full(50, 0.3), size=200)
    weights[:, 7] = 0.0
    weights /= weights.sum(axis=1, keepdims=True)
    chosen = systematic_resample(weights, rng.random(200))
    counts = np.stack([np.bincount(row, minlength=50) for row in chosen])
    assert np.all(np.abs(counts - 50 * weights) < 1.0)
    assert not np.any(chosen == 7)
    assert np.all(np.diff(chosen, axis=1) >= 0)


def test_missing_readings_leave_twins_unchanged() -> None:
    state, obs = prior(100), LinearObservation()
    pf = ParticleFilter()
    after = pf.update(state, np.array([np.nan]), obs, np.random.default_rng(0))
    np.testing.assert_array_equal(after.x, state.x)
    analysis = pf.analyse(state, np.array([np.nan]), obs, np.random.default_rng(0))
    assert not analysis.used.any()
    assert not analysis.resampled.any()
    np.testing.assert_allclose(analysis.weights, 1.0 / 100)


def test_partly_missing_reading_uses_the_observed_components() -> None:
    state = prior(400)
    pf = ParticleFilter()
    partial = pf.analyse(state, np.array([1.2, np.nan]), BothStates(), np.random.default_rng(4))
    first_only = pf.analyse(state, np.array([1.2]), LinearObservation(), np.random.default_rng(4))
    assert partial.used.tolist() == [[True, False]]
    np.testing.assert_allclose(partial.log_weights, first_only.log_weights, rtol=1e-12)
    np.testing.assert_array_equal(partial.state.x, first_only.state.x)


def test_model_without_noise_sd_uses_its_log_likelihood() -> None:
    state, pf = prior(300), ParticleFilter(members_per_twin=100)
    y = np.array([[0.4], [np.nan], [1.9]])
    gaussian = pf.analyse(state, y, LinearObservation(), np.random.default_rng(1))
    own = pf.analyse(state, y, WithoutNoiseSd(LinearObservation()), np.random.default_rng(1))
    np.testing.assert_allclose(own.log_weights, gaussian.log_weights, rtol=1e-10)
    np.testing.assert_array_equal(own.state.x, gaussian.state.x)
    shared = pf.analyse(
        state, np.array([0.4]), WithoutNoiseSd(LinearObservation()), np.random.default_rng(1)
    )
    assert shared.used.all()
    with pytest.raises(InvalidInputError, match="partly missing"):
        ParticleFilter().analyse(
            state, np.array([1.0, np.nan]), WithoutNoiseSd(BothStates()), np.random.default_rng(0)
        )


def test_members_with_failed_predictions_get_zero_weight() -> None:
    x = np.array(prior(100).x)
    x[[3, 50], 0] = np.nan  # say the solver failed for these members
    state = LinearState(x, np.ones((100, 1)))
    pf = ParticleFilter(outlier_sigma=None)
    analysis = pf.analyse(state, np.array([1.0]), LinearObservation(), np.random.default_rng(0))
    assert analysis.weights[3] == 0.0
    assert analysis.weights[50] == 0.0
    after = pf.update(state, np.array([1.0]), LinearObservation(), np.random.default_rng(0))
    assert np.all(np.isfinite(after.x))


def test_a_ten_sigma_reading_is_flagged_and_ignored() -> None:
    state, obs = prior(400), LinearObservation()
    x0 = state.x[:, 0].reshape(2, 200)
    far = x0.mean(axis=1) + 10.5 * np.sqrt(x0.var(axis=1) + R_SD[0] ** 2)
    y = np.array([[far[0]], [1.0]])
    pf = ParticleFilter(members_per_twin=200)
    analysis = pf.analyse(state, y, obs, np.random.default_rng(0))
    assert analysis.outliers.tolist() == [[True], [False]]
    assert analysis.used.tolist() == [[False], [True]]
    np.testing.assert_array_equal(analysis.state.x[:200], state.x[:200])
    trusting = ParticleFilter(members_per_twin=200, outlier_sigma=None)
    assert trusting.analyse(state, y, obs, np.random.default_rng(0)).resampled[0]


def jitter_pair(lower: float, upper: float) -> tuple[LinearState, LinearState]:
    """Analyses with and without jitter of theta[:, 0], from the same random numbers."""
    state = prior(4000, n_theta=2)
    view = StateView(state_columns=(0,), parameter_columns=(0,), lower=(lower,), upper=(upper,))
    y, obs = np.array([1.0]), LinearObservation()
    jitter = ParticleFilter(resample_threshold=1.0, jitter_view=view, jitter_scale=0.5)
    plain = ParticleFilter(resample_threshold=1.0)
    jittered = jitter.analyse(state, y, obs, np.random.default_rng(11)).state
    copied = plain.analyse(state, y, obs, np.random.default_rng(11)).state
    return jittered, copied


def test_jitter_moves_only_the_chosen_parameter_within_bounds() -> None:
    jittered, copied = jitter_pair(0.7, 1.4)
    np.testing.assert_array_equal(jittered.x, copied.x)  # states in the view are not jittered
    np.testing.assert_array_equal(jittered.theta[:, 1], copied.theta[:, 1])
    moved = jittered.theta[:, 0]
    assert np.all(moved != copied.theta[:, 0])
    assert np.all((moved >= 0.7) & (moved <= 1.4))


def test_jitter_restores_diversity_and_keeps_mean_and_spread() -> None:
    jittered, copied = jitter_pair(1e-3, 1e3)
    before, after = np.log(copied.theta[:, 0]), np.log(jittered.theta[:, 0])
    assert len(np.unique(before)) < 3000
    assert len(np.unique(after)) == 4000
    assert abs(after.mean() - before.mean()) < 0.02
    assert abs(after.std() / before.std() - 1.0) < 0.05


def test_jitter_leaves_twins_that_were_not_resampled() -> None:
    state = prior(200, n_theta=1)
    view = StateView(state_columns=(), parameter_columns=(0,))
    pf = ParticleFilter(100, resample_threshold=0.5, jitter_view=view, jitter_scale=0.5)
    y = np.array([[3.0], [np.nan]])
    analysis = pf.analyse(state, y, LinearObservation(), np.random.default_rng(0))
    assert analysis.resampled.tolist() == [True, False]
    np.testing.assert_array_equal(analysis.state.theta[100:], state.theta[100:])


@pytest.mark.parametrize(
    ("y", "pattern"),
    [
        (np.array([1.0, 2.0]), r"y must have shape \(1,\) or \(2, 1\)"),
        (np.ones((3, 1)), r"got \(3, 1\)"),
        (np.array([[1.0, 2.0]]), "y must have shape"),
    ],
)
def test_wrong_reading_shape_is_a_shape_error(y: FloatArray, pattern: str) -> None:
    with pytest.raises(ShapeError, match=pattern):
        ParticleFilter(50).analyse(prior(100), y, LinearObservation(), np.random.default_rng(0))


def test_bad_inputs_are_clear_errors() -> None:
    state, obs, rng = prior(100), LinearObservation(), np.random.default_rng(0)
    with pytest.raises(ShapeError, match="100 members do not split into twins of 30"):
        ParticleFilter(30).update(state, np.array([1.0]), obs, rng)
    with pytest.raises(InvalidInputError, match="finite or NaN"):
        ParticleFilter().update(state, np.array([np.inf]), obs, rng)
    with pytest.raises(ShapeError, match=r"log_weights must have shape \(100,\)"):
        ParticleFilter().analyse(state, np.array([1.0]), obs, rng, log_weights=np.zeros(99))
    with pytest.raises(InvalidInputError, match="log_weights"):
        ParticleFilter().analyse(state, np.array([1.0]), obs, rng, log_weights=np.full(100, np.nan))
    with pytest.raises(InvalidInputError, match="can explain"):
        ParticleFilter(outlier_sigma=None).update(state, np.array([1e200]), obs, rng)
    with pytest.raises(ValueError, match="noise_sd"):  # every leaf is also a ValueError
        ParticleFilter().update(state, np.array([1.0, 2.0]), BothStates(-1.0), rng)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"members_per_twin": 0}, "members_per_twin"),
        ({"members_per_twin": True}, "members_per_twin"),
        ({"resample_threshold": 1.5}, "resample_threshold"),
        ({"jitter_scale": 1.5}, "jitter_scale"),
        ({"jitter_scale": 0.1}, "jitter_view"),
        ({"outlier_sigma": 0.0}, "outlier_sigma"),
    ],
)
def test_bad_settings_are_invalid_parameters(kwargs: dict[str, object], pattern: str) -> None:
    with pytest.raises(InvalidParameterError, match=pattern):
        ParticleFilter(**kwargs)  # type: ignore[arg-type]
