"""Batched ensemble MCMC against an exact grid posterior and against emcee."""

from __future__ import annotations

import numpy as np
import pytest
from tests.assimilation.pk_problem import PRIOR_SD, pk_problem
from tests.conftest import require

from healthtwin.assimilation.calibration import fit_problem
from healthtwin.assimilation.mcmc import (
    ensemble_from_samples,
    integrated_time,
    sample_posterior,
    stretch_sampler,
)
from healthtwin.errors import InvalidParameterError
from healthtwin.physiology.pkpd.model import _P


def _grid_moments(problem, patient: int, centre, half_width, n: int = 161):  # type: ignore[no-untyped-def]
    """Posterior mean and SD of the two log-parameters by quadrature on a grid."""
    axes = [np.linspace(c - h, c + h, n) for c, h in zip(centre, half_width, strict=True)]
    a, b = np.meshgrid(*axes, indexing="ij")
    points = np.stack([a.ravel(), b.ravel()], axis=1)
    rows = np.full(points.shape[0], patient)
    nlp = problem.neg_log_posterior(rows, points, np.random.default_rng(0))
    w = np.exp(-(nlp - nlp.min()))
    w /= w.sum()
    mean = w @ points
    sd = np.sqrt(w @ (points - mean) ** 2)
    return mean, sd


@pytest.fixture(scope="module")
def pk_samples():  # type: ignore[no-untyped-def]
    problem = pk_problem()
    rng = np.random.default_rng(1)
    fit = fit_problem(problem, starts=2, rng=rng)
    samples = sample_posterior(problem, rng=rng, walkers=32, steps=3000, burn=1000, start=fit)
    return problem, fit, samples


def test_mcmc_matches_the_exact_grid_posterior(pk_samples) -> None:  # type: ignore[no-untyped-def]
    problem, fit, samples = pk_samples
    assert np.all(samples.converged())
    assert np.all((samples.acceptance > 0.2) & (samples.acceptance < 0.9))
    for p in range(problem.n_patients):
        mean, sd = _grid_moments(problem, p, fit.log_estimate[p], 8 * fit.log_sd[p])
        # Monte Carlo error of the mean is sd / sqrt(ESS) with ESS > 500
        np.testing.assert_array_less(np.abs(samples.log_mean[p] - mean), 0.15 * sd)
        np.testing.assert_allclose(samples.log_sd[p], sd, rtol=0.1)


def test_mcmc_agrees_with_emcee_on_the_same_target(pk_samples) -> None:  # type: ignore[no-untyped-def]
    emcee = require("emcee", "test")
    problem, fit, samples = pk_samples
    rng = np.random.default_rng(2)
    p = 1  # one patient keeps the run short; both are checked against the grid

    def log_prob(theta):  # type: ignore[no-untyped-def]
        return -problem.neg_log_posterior(np.full(theta.shape[0], p), theta, rng)

    start = fit.log_estimate[p] + 0.1 * fit.log_sd[p] * rng.standard_normal((32, 2))
    sampler = emcee.EnsembleSampler(32, 2, log_prob, vectorize=True)
    sampler.random_state = np.random.RandomState(3).get_state()
    sampler.run_mcmc(start, 2500)
    peer = sampler.get_chain(discard=1000, flat=True)
    sd = peer.std(axis=0)
    np.testing.assert_array_less(np.abs(samples.log_mean[p] - peer.mean(axis=0)), 0.2 * sd)
    np.testing.assert_allclose(samples.log_sd[p], sd, rtol=0.12)
    # the autocorrelation time agrees with emcee's estimator on emcee's own chain
    chain = sampler.get_chain(discard=1000)
    ours = [integrated_time(chain[:, :, j]) for j in range(2)]
    np.testing.assert_allclose(ours, emcee.autocorr.integrated_time(chain), rtol=1e-10)


def test_an_unseen_parameter_keeps_its_prior() -> None:
    # Plasma readings say nothing about the PD's ec50: its posterior is its prior.
    problem = pk_problem(with_ec50=True)
    rng = np.random.default_rng(4)
    samples = sample_posterior(problem, rng=rng, walkers=32, steps=2000)
    np.testing.assert_allclose(samples.log_sd[:, 2], PRIOR_SD, rtol=0.15)
    assert samples.identifiability() == {"v1_l": True, "k10": True, "ec50": False}
    assert np.all(samples.contraction[:, :2] > 0.9)


def test_stretch_sampler_draws_a_correlated_gaussian_per_patient() -> None:
    means = np.array([[0.0, 0.0], [3.0, -1.0], [-2.0, 5.0]])
    cov = np.array([[1.0, 0.9], [0.9, 1.0]])
    precision = np.linalg.inv(cov)

    def log_prob(x):  # type: ignore[no-untyped-def]
        d = x - means[:, None, :]
        return -0.5 * np.einsum("pki,ij,pkj->pk", d, precision, d)

    rng = np.random.default_rng(5)
    chain, acceptance = stretch_sampler(log_prob, rng.standard_normal((3, 20, 2)), 4000, rng)
    draws = chain[:, 1000:].reshape(3, -1, 2)
    np.testing.assert_allclose(draws.mean(axis=1), means, atol=0.1)
    for p in range(3):
        np.testing.assert_allclose(np.cov(draws[p].T), cov, atol=0.1)
    assert np.all(acceptance > 0.3)


def test_autocorrelation_time_of_an_ar1_chain() -> None:
    rng = np.random.default_rng(6)
    x = np.zeros((20000, 8))
    for t in range(1, x.shape[0]):
        x[t] = 0.8 * x[t - 1] + rng.standard_normal(8)
    assert integrated_time(x) == pytest.approx((1 + 0.8) / (1 - 0.8), rel=0.1)


def test_the_posterior_draws_become_the_online_prior(pk_samples) -> None:  # type: ignore[no-untyped-def]
    problem, _, samples = pk_samples
    ensemble = ensemble_from_samples(
        samples, problem.template, problem.view, 400, np.random.default_rng(7)
    )
    assert ensemble.n_members == 2 * 400
    log_v1 = np.log(ensemble.theta[:, _P["v1_l"]]).reshape(2, 400)
    np.testing.assert_allclose(log_v1.mean(axis=1), samples.log_mean[:, 0], atol=0.02)


def test_bad_sampler_settings_are_refused() -> None:
    problem = pk_problem()
    rng = np.random.default_rng(0)
    with pytest.raises(InvalidParameterError, match="even number of walkers"):
        sample_posterior(problem, rng=rng, walkers=3, steps=10)
    with pytest.raises(InvalidParameterError, match="burn"):
        sample_posterior(problem, rng=rng, steps=10, burn=20)
