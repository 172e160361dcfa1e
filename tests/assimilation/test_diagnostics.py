"""Consistency and calibration scores against theory: chi-square, uniform ranks, Gaussian CRPS."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats
from tests.assimilation.linear_model import (
    R_SD,
    X0_COV,
    X0_MEAN,
    F,
    H,
    Q,
    kalman_filter,
    simulate_truth,
)

from healthtwin.assimilation.diagnostics import (
    chi2_interval,
    crps_ensemble,
    crps_gaussian,
    interval_coverage,
    nees,
    nis,
    rank_histogram,
    spread_skill,
)
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError


def calibrated(n_cases: int, m: int, seed: int) -> tuple[FloatArray, FloatArray]:
    """Members and truth drawn from the same per-case Gaussian."""
    rng = np.random.default_rng(seed)
    centre = rng.normal(0.0, 5.0, size=(n_cases, 1))
    scale = rng.uniform(0.5, 2.0, size=(n_cases, 1))
    draws = centre + scale * rng.standard_normal((n_cases, m + 1))
    return draws[:, :m], draws[:, m]


@pytest.fixture(scope="module")
def kalman_runs() -> dict[str, FloatArray]:
    """Errors, innovations and the covariances the exact KF claims, over 300 runs x 10 steps."""
    rng = np.random.default_rng(0)
    errors, covs, innovations, innovation_covs = [], [], [], []
    r = np.diag(R_SD**2)
    for _ in range(300):
        xs, ys = simulate_truth(10, rng)
        means, filtered = kalman_filter(ys)
        predicted_mean = np.vstack([X0_MEAN, means[:-1] @ F.T])
        predicted_cov = np.concatenate([X0_COV[None], F @ filtered[:-1] @ F.T + Q])
        errors.append(means - xs)
        covs.append(filtered)
        innovations.append(ys - predicted_mean @ H.T)
        innovation_covs.append(H @ predicted_cov @ H.T + r)
    return {
        "error": np.array(errors),
        "cov": np.array(covs),
        "innovation": np.array(innovations),
        "innovation_cov": np.array(innovation_covs),
    }


def test_nees_of_the_exact_kalman_filter_has_mean_dof(kalman_runs: dict[str, FloatArray]) -> None:
    values = nees(kalman_runs["error"], kalman_runs["cov"])  # (runs, steps)
    assert values.shape == (300, 10)
    lo, hi = chi2_interval(2, 300, level=0.999)
    assert np.all((lo < values.mean(axis=0)) & (values.mean(axis=0) < hi))
    assert abs(values.mean() - 2.0) < 0.15


def test_nis_of_the_exact_kalman_filter_is_chi_square(kalman_runs: dict[str, FloatArray]) -> None:
    values = nis(kalman_runs["innovation"], kalman_runs["innovation_cov"]).ravel()
    lo, hi = chi2_interval(1, values.size)
    assert lo < values.mean() < hi
    assert stats.kstest(values, stats.chi2(1).cdf).pvalue > 0.01


def test_nis_flags_an_overconfident_filter(kalman_runs: dict[str, FloatArray]) -> None:
    values = nis(kalman_runs["innovation"], 0.5 * kalman_runs["innovation_cov"])
    assert values.mean() > chi2_interval(1, values.size)[1]


def test_normalized_squares_broadcast_one_covariance() -> None:
    v = np.random.default_rng(0).normal(size=(7, 3))
    cov = np.array([[2.0, 0.3, 0.0], [0.3, 1.0, 0.1], [0.0, 0.1, 0.5]])
    expected = np.einsum("ni,ij,nj->n", v, np.linalg.inv(cov), v)
    np.testing.assert_allclose(nis(v, cov), expected)
    np.testing.assert_allclose(nees(v, np.broadcast_to(cov, (7, 3, 3))), expected)


def test_chi2_interval_matches_a_simulation() -> None:
    rng = np.random.default_rng(1)
    means = rng.chisquare(3, size=(20000, 50)).mean(axis=1)
    lo, hi = chi2_interval(3, 50, level=0.9)
    assert abs(np.mean((lo < means) & (means < hi)) - 0.9) < 0.01


def test_rank_histogram_is_flat_for_a_calibrated_ensemble() -> None:
    ensemble, truth = calibrated(5000, 9, seed=2)
    counts = rank_histogram(ensemble, truth)
    assert counts.shape == (10,)
    assert counts.sum() == 5000
    assert stats.chisquare(counts).pvalue > 0.01


def test_rank_histogram_shows_bias_and_underdispersion() -> None:
    ensemble, truth = calibrated(5000, 9, seed=3)
    biased = rank_histogram(ensemble + 1.0, truth)
    assert biased[0] > 2 * biased[-1]
    centre = ensemble.mean(axis=1, keepdims=True)
    narrow = rank_histogram(centre + 0.3 * (ensemble - centre), truth)
    assert narrow[0] + narrow[-1] > 0.5 * narrow.sum()
    assert stats.chisquare(narrow).pvalue < 1e-6


def test_rank_histogram_breaks_ties_at_random() -> None:
    rng = np.random.default_rng(4)
    ensemble = rng.integers(0, 3, size=(6000, 4)).astype(float)
    truth = rng.integers(0, 3, size=6000).astype(float)
    counts = rank_histogram(ensemble, truth, np.random.default_rng(5))
    assert stats.chisquare(counts).pvalue > 0.01
    with pytest.raises(InvalidParameterError, match="pass rng"):
        rank_histogram(ensemble, truth)


def test_spread_equals_skill_for_a_calibrated_ensemble() -> None:
    for m in (3, 20):
        ensemble, truth = calibrated(20000, m, seed=m)
        spread, rmse = spread_skill(ensemble, truth)
        assert abs(spread / rmse - 1.0) < 0.03
    ensemble, truth = calibrated(20000, 20, seed=6)
    centre = ensemble.mean(axis=1, keepdims=True)
    narrow = spread_skill(centre + 0.5 * (ensemble - centre), truth)
    assert narrow.spread < 0.7 * narrow.rmse


def test_crps_gaussian_matches_the_integral_definition() -> None:
    for mean, sd, y in [(0.0, 1.0, 0.3), (2.0, 0.5, -1.0), (-3.0, 4.0, 5.0)]:
        dist = stats.norm(mean, sd)
        below, _ = integrate.quad(lambda x, d=dist: d.cdf(x) ** 2, -np.inf, y)
        above, _ = integrate.quad(lambda x, d=dist: (1.0 - d.cdf(x)) ** 2, y, np.inf)
        assert crps_gaussian(mean, sd, y) == pytest.approx(below + above, rel=1e-7)


def test_ensemble_crps_converges_to_the_gaussian_crps() -> None:
    rng = np.random.default_rng(7)
    mean, sd = np.array([0.0, 1.0, -2.0]), np.array([1.0, 0.5, 3.0])
    truth = np.array([0.4, 2.5, -2.0])
    ensemble = mean[:, None] + sd[:, None] * rng.standard_normal((3, 200_000))
    exact = crps_gaussian(mean, sd, truth)
    np.testing.assert_allclose(crps_ensemble(ensemble, truth), exact, rtol=0.01)
    np.testing.assert_allclose(crps_ensemble(ensemble, truth, fair=True), exact, rtol=0.01)


def test_fair_crps_is_unbiased_for_small_ensembles() -> None:
    rng = np.random.default_rng(8)
    ensemble, truth = rng.standard_normal((40000, 5)), rng.standard_normal(40000)
    exact = crps_gaussian(0.0, 1.0, truth)
    fair = crps_ensemble(ensemble, truth, fair=True) - exact
    standard = crps_ensemble(ensemble, truth) - exact
    assert abs(fair.mean()) < 4 * fair.std() / np.sqrt(fair.size)
    # The plain ensemble CRPS is too high by E|X - X'| / (2 m) = 1 / (m sqrt(pi)).
    assert standard.mean() == pytest.approx(1.0 / (5 * np.sqrt(np.pi)), rel=0.1)


def test_crps_ensemble_equals_the_pairwise_definition() -> None:
    rng = np.random.default_rng(9)
    ensemble, truth = rng.normal(size=(50, 7)), rng.normal(size=50)
    first = np.abs(ensemble - truth[:, None]).mean(axis=1)
    pairs = np.abs(ensemble[:, :, None] - ensemble[:, None, :]).sum(axis=(1, 2))
    np.testing.assert_allclose(crps_ensemble(ensemble, truth), first - pairs / (2 * 49))
    np.testing.assert_allclose(crps_ensemble(ensemble, truth, fair=True), first - pairs / (2 * 42))
    np.testing.assert_allclose(crps_ensemble(truth[:, None], truth), 0.0)


def test_interval_coverage_of_a_gaussian_interval() -> None:
    rng = np.random.default_rng(10)
    truth = rng.standard_normal(50000)
    z = stats.norm.ppf(0.95)
    assert interval_coverage(-z, z, truth) == pytest.approx(0.9, abs=0.005)
    assert interval_coverage(np.array([0.0, 1.0]), np.array([1.0, 2.0]), np.array(1.0)) == 1.0


def test_bad_inputs_are_clear_errors() -> None:
    with pytest.raises(ShapeError, match=r"\(n_cases, m\)"):
        crps_ensemble(np.zeros(5), np.zeros(5))
    with pytest.raises(ShapeError, match="truth"):
        rank_histogram(np.zeros((5, 3)), np.zeros(4))
    with pytest.raises(InvalidInputError, match="finite"):
        spread_skill(np.full((2, 3), np.nan), np.zeros(2))
    with pytest.raises(ShapeError, match="at least 2 members"):
        spread_skill(np.zeros((2, 1)), np.zeros(2))
    with pytest.raises(ShapeError, match="covariance"):
        nis(np.zeros((4, 2)), np.eye(3))
    with pytest.raises(InvalidInputError, match="singular"):
        nees(np.ones(2), np.zeros((2, 2)))
    with pytest.raises(InvalidInputError, match="lower > upper"):
        interval_coverage(np.ones(3), np.zeros(3), np.zeros(3))
    with pytest.raises(ShapeError, match="broadcast"):
        interval_coverage(np.zeros(3), np.ones(2), np.zeros(3))
    with pytest.raises(InvalidParameterError, match="level"):
        chi2_interval(1, 10, level=1.0)
    with pytest.raises(InvalidParameterError, match="sd must be positive"):
        crps_gaussian(0.0, 0.0, 1.0)
