"""Profile likelihood: closed intervals for what the data inform, open for what they don't."""

from __future__ import annotations

import numpy as np
import pytest
from tests.assimilation.pk_problem import TRUE_K10, TRUE_V1, pk_problem

from healthtwin.assimilation.calibration import fit_problem
from healthtwin.assimilation.profile import profile_likelihood
from healthtwin.errors import InvalidParameterError


@pytest.fixture(scope="module")
def problem_and_fit():  # type: ignore[no-untyped-def]
    problem = pk_problem(with_ec50=True)
    return problem, fit_problem(problem, starts=2, rng=np.random.default_rng(0))


def test_profiles_bracket_the_truth_of_informed_parameters(problem_and_fit) -> None:  # type: ignore[no-untyped-def]
    problem, fit = problem_and_fit
    rng = np.random.default_rng(1)
    for name, truth in (("v1_l", TRUE_V1), ("k10", TRUE_K10)):
        grid = np.geomspace(truth.min() / 2, truth.max() * 2, 41)
        profile = profile_likelihood(problem, name, grid, rng=rng, start=fit)
        interval = profile.interval(0.95)
        assert np.all(profile.identifiable())
        assert np.all((interval[:, 0] < truth) & (truth < interval[:, 1]))
        assert np.all(profile.ratio >= 0.0)


def test_the_profile_interval_matches_the_wald_interval_when_near_linear(problem_and_fit) -> None:  # type: ignore[no-untyped-def]
    # With small noise the model is nearly linear in log V1 over the interval, so the
    # likelihood-ratio interval and the Laplace (Wald) interval of the likelihood agree.
    problem, _ = problem_and_fit
    rng = np.random.default_rng(2)
    fit = fit_problem(problem, starts=1, rng=rng)  # the prior barely matters here
    centre, sd = fit.log_estimate[:, 0], fit.log_sd[:, 0]
    grid = np.exp(np.linspace(centre.min() - 4 * sd.max(), centre.max() + 4 * sd.max(), 161))
    interval = np.log(profile_likelihood(problem, "v1_l", grid, rng=rng, start=fit).interval())
    for p in range(problem.n_patients):
        wald = [centre[p] - 1.96 * sd[p], centre[p] + 1.96 * sd[p]]
        np.testing.assert_allclose(interval[p], wald, atol=0.3 * sd[p])


def test_an_unseen_parameter_has_a_flat_profile(problem_and_fit) -> None:  # type: ignore[no-untyped-def]
    problem, fit = problem_and_fit
    profile = profile_likelihood(
        problem, "ec50", np.geomspace(0.1, 100.0, 9), rng=np.random.default_rng(3), start=fit
    )
    assert not np.any(profile.identifiable())
    assert np.all(np.isnan(profile.interval()))
    np.testing.assert_allclose(profile.ratio, 0.0, atol=1e-6)
    # with the prior included the posterior profile is closed by the prior alone
    posterior = profile_likelihood(
        problem,
        "ec50",
        np.geomspace(0.1, 100.0, 9),
        rng=np.random.default_rng(3),
        start=fit,
        include_prior=True,
    )
    assert np.all(posterior.identifiable())


def test_bad_profile_requests_are_refused(problem_and_fit) -> None:  # type: ignore[no-untyped-def]
    problem, _ = problem_and_fit
    rng = np.random.default_rng(0)
    with pytest.raises(InvalidParameterError, match="unknown parameter 'cl'"):
        profile_likelihood(problem, "cl", np.array([1.0, 2.0, 3.0]), rng=rng)
    with pytest.raises(InvalidParameterError, match="increasing"):
        profile_likelihood(problem, "k10", np.array([0.2, 0.1, 0.3]), rng=rng)
    with pytest.raises(InvalidParameterError, match="level"):
        profile_likelihood(problem, "k10", np.array([0.05, 0.1, 0.2]), rng=rng).interval(1.5)
