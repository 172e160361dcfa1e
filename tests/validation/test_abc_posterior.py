"""ABC-SMC against exact conjugate posteriors.

With a sufficient statistic as the summary and a tolerance small against the posterior sd
(or zero for counts), the ABC posterior is the exact posterior; the Monte Carlo error of a
weighted mean is about ``sd / sqrt(ESS)`` and of a weighted sd about ``sd / sqrt(2 ESS)``.
Resampling correlates the particles, so the real error is larger than ESS suggests: over 40
replications (seeds 100-139, 300 particles, the normal model below) the error of the mean had
sd 1.48 ``sd / sqrt(ESS)`` and no bias (mean 0.09 +- 0.23). The bounds below are therefore 4
standard errors inflated by 1.5 (two-sided 99.99 % for a normal error).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from healthtwin.assimilation.abc_smc import (
    GammaPrior,
    IndependentPrior,
    NormalPrior,
    abc_smc,
    posterior_predictive,
    predictive_check,
)

INFLATION = 1.5


def _assert_matches(mean: float, sd: float, exact_mean: float, exact_sd: float, ess: float) -> None:
    assert abs(mean - exact_mean) < 4 * INFLATION * exact_sd / np.sqrt(ess)
    assert abs(sd - exact_sd) < 4 * INFLATION * exact_sd / np.sqrt(2 * ess)


def test_normal_mean_with_known_variance() -> None:
    # y_1..y_25 ~ N(mu, 2^2): the sample mean is sufficient, ybar ~ N(mu, 0.4^2).
    n, sigma = 25, 2.0
    se = sigma / np.sqrt(n)
    prior_mean, prior_sd = 1.0, 2.0
    ybar = 1.7

    def simulate(theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return theta + se * rng.standard_normal(theta.shape)

    post = abc_smc(
        simulate,
        [ybar],
        IndependentPrior((NormalPrior(prior_mean, prior_sd),)),
        n_particles=1000,
        n_generations=20,
        final_tolerance=0.02,
        min_acceptance_rate=0.005,
        seed=20,
    )
    precision = 1 / prior_sd**2 + 1 / se**2
    exact_mean = (prior_mean / prior_sd**2 + ybar / se**2) / precision
    exact_sd = 1 / np.sqrt(precision)
    assert post.stop_reason == "final_tolerance"
    assert post.ess > 300
    # A uniform tolerance of 0.02 widens the variance by 0.02^2 / 3 (0.1 % of it): negligible.
    _assert_matches(post.mean()[0], post.sd()[0], exact_mean, exact_sd, post.ess)


def test_poisson_rate_with_gamma_prior_exact_at_zero_tolerance() -> None:
    # Counts y_1..y_10 ~ Poisson(lambda), sum 37; prior Gamma(2, scale 5): posterior
    # Gamma(2 + 37, scale 1 / (1/5 + 10)). Matching the sum exactly is exact inference.
    n_obs, total = 10, 37.0
    shape, scale = 2.0, 5.0

    def simulate(theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return rng.poisson(theta * n_obs).astype(float)

    post = abc_smc(
        simulate,
        [total],
        IndependentPrior((GammaPrior(shape, scale),)),
        n_particles=1000,
        n_generations=30,
        final_tolerance=0.0,
        seed=21,
    )
    exact = stats.gamma(shape + total, scale=1 / (1 / scale + n_obs))
    assert post.tolerances[-1] == 0.0
    _assert_matches(post.mean()[0], post.sd()[0], exact.mean(), exact.std(), post.ess)
    # The weighted 5 % and 95 % quantiles sit at the exact ones (within 4 binomial sds).
    order = np.argsort(post.particles[:, 0])
    cdf_at = np.cumsum(post.weights[order])
    for p in (0.05, 0.95):
        q = post.particles[order, 0][np.searchsorted(cdf_at, p)]
        assert abs(exact.cdf(q) - p) < 4 * INFLATION * np.sqrt(p * (1 - p) / post.ess)


def test_posterior_predictive_of_the_poisson_model_is_negative_binomial() -> None:
    n_obs, total = 10, 37.0
    shape, scale = 2.0, 5.0

    def simulate(theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return rng.poisson(theta * n_obs).astype(float)

    post = abc_smc(
        simulate,
        [total],
        IndependentPrior((GammaPrior(shape, scale),)),
        n_particles=1000,
        n_generations=30,
        final_tolerance=0.0,
        seed=22,
    )
    draws = posterior_predictive(simulate, post, 4000, seed=23)[:, 0]
    # The gamma-Poisson mixture: NB(r = 2 + 37, p = (1/5 + 10) / (1/5 + 20)).
    rate = 1 / scale + n_obs
    exact = stats.nbinom(shape + total, rate / (rate + n_obs))
    assert abs(draws.mean() - exact.mean()) < 4 * INFLATION * exact.std() / np.sqrt(
        min(post.ess, 4000)
    )
    check = predictive_check(draws[:, None], [total], levels=(0.5, 0.9))
    assert check.coverage.tolist() == [1.0, 1.0]
