"""DP-FedAvg: clipping, the noise scale, and the epsilon against known values and OpenDP."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from healthtwin.errors import InvalidParameterError
from healthtwin.federation.privacy import (
    DifferentialPrivacy,
    clip_update,
    gaussian_epsilon,
    private_mean,
    rdp_epsilon,
)


def test_analytic_gaussian_matches_balle_and_wang() -> None:
    # Balle & Wang (ICML 2018), analytic Gaussian mechanism: sigma = 3.73 gives
    # (1, 1e-5)-DP for sensitivity 1, where the classical bound needs 4.84.
    dp = DifferentialPrivacy.for_epsilon(1.0, rounds=1, delta=1e-5)
    assert dp.noise_multiplier == pytest.approx(3.7306, abs=5e-4)
    assert np.sqrt(2 * np.log(1.25 / 1e-5)) == pytest.approx(4.84, abs=0.01)


def test_composition_of_gaussians_is_one_gaussian() -> None:
    # T rounds with sigma are exactly one round with sigma / sqrt(T) (Dong, Roth & Su).
    assert gaussian_epsilon(4.0, 16, 1e-5) == pytest.approx(gaussian_epsilon(1.0, 1, 1e-5))


def test_rdp_epsilon_equals_opendp_zcdp_conversion() -> None:
    dp = pytest.importorskip("opendp.prelude")
    dp.enable_features("contrib")
    space = dp.atom_domain(T=float, nan=False), dp.absolute_distance(T=float)
    for sigma, rounds in [(1.0, 1), (2.0, 5), (0.7, 3)]:
        # rounds Gaussian releases of sensitivity 1 = one with sigma / sqrt(rounds).
        gaussian = dp.m.make_gaussian(*space, scale=sigma / np.sqrt(rounds))
        measure = dp.c.make_fix_delta(dp.c.make_zCDP_to_approxDP(gaussian), 1e-5)
        epsilon, _ = measure.map(1.0)
        assert rdp_epsilon(sigma, rounds, 1e-5) == pytest.approx(epsilon, rel=1e-6)


@settings(max_examples=40, deadline=None)
@given(
    sigma=st.floats(0.3, 20.0),
    rounds=st.integers(1, 50),
    delta=st.sampled_from([1e-3, 1e-5, 1e-7]),
)
def test_rdp_bounds_the_exact_epsilon_and_more_noise_spends_less(
    sigma: float, rounds: int, delta: float
) -> None:
    exact = gaussian_epsilon(sigma, rounds, delta)
    assert rdp_epsilon(sigma, rounds, delta) >= exact - 1e-9
    assert gaussian_epsilon(sigma * 1.5, rounds, delta) <= exact + 1e-12
    assert gaussian_epsilon(sigma, rounds + 1, delta) >= exact - 1e-12


def test_for_epsilon_spends_exactly_the_budget_over_the_rounds() -> None:
    dp = DifferentialPrivacy.for_epsilon(2.0, rounds=5, clip_norm=0.5)
    assert dp.epsilon(5) == pytest.approx(2.0, rel=1e-8)
    assert dp.epsilon(1) < dp.epsilon(3) < dp.epsilon(5) < dp.rdp_epsilon(5)


def test_noise_on_the_mean_has_standard_deviation_sigma_c_over_m() -> None:
    dp = DifferentialPrivacy(clip_norm=0.5, noise_multiplier=2.0)
    rng = np.random.default_rng(0)
    m, p, reps = 4, 10, 400
    draws = np.array([private_mean(np.zeros((m, p)), dp, rng)[0] for _ in range(reps)]).ravel()
    expected_sd = dp.noise_multiplier * dp.clip_norm / m
    # 99 % interval of the sample variance of n normal draws (chi-square).
    n = draws.size
    low, high = stats.chi2.ppf([0.005, 0.995], n) / n
    assert low < draws.var() / expected_sd**2 < high
    assert abs(draws.mean()) < 2.58 * expected_sd / np.sqrt(n)


def test_clipping_bounds_each_update_and_counts_clips() -> None:
    dp = DifferentialPrivacy(clip_norm=1.0, noise_multiplier=1e-12)
    updates = np.array([[10.0, 0.0], [0.0, 0.5], [-3.0, 4.0]])
    mean, n_clipped = private_mean(updates, dp, np.random.default_rng(0))
    assert n_clipped == 2
    clipped = np.array([[1.0, 0.0], [0.0, 0.5], [-0.6, 0.8]])
    np.testing.assert_allclose(mean, clipped.mean(axis=0), atol=1e-9)
    short, was = clip_update(np.array([0.1, 0.1]), 1.0)
    assert not was
    assert short.tolist() == [0.1, 0.1]


def test_bad_privacy_settings_are_errors() -> None:
    with pytest.raises(InvalidParameterError, match="delta"):
        DifferentialPrivacy(clip_norm=1.0, noise_multiplier=1.0, delta=1.5)
    with pytest.raises(InvalidParameterError, match="epsilon"):
        DifferentialPrivacy.for_epsilon(0.0, rounds=3)
