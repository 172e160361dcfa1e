"""WIS against its quantile-loss identity, the scoringrules package, hand values and CRPS.

Conventions (scoringrules 0.10.0, BSD-3, a test-only oracle): its ``interval_score`` is the
same interval score; its ``weighted_interval_score`` takes the median, the ``K`` lower and
upper bounds and the ``alpha_k`` separately and, with its defaults ``w_median = 1/2``,
``w_alpha = alpha/2`` and the divisor ``K + 1/2``, equals ours; its ``quantile_score`` is the
plain pinball loss (our :func:`quantile_loss`), so Bracher et al.'s quantile score is twice
it, and WIS is the mean of the ``2K + 1`` quantile scores ``2 rho_tau``. Its numba backend
(the default when numba is installed) is used: in 0.10.0 the numpy backend's WIS adds
``w_median * median`` instead of ``w_median * |y - median|``.
(scoringrules 0.11.0 needs Python >= 3.12; 0.10.0 is the newest for Python 3.11.)
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats

from healthtwin.population.forecast_hub import HUB_QUANTILES
from healthtwin.population.scoring import (
    interval_score,
    quantile_loss,
    weighted_interval_score,
)

LEVELS = np.asarray(HUB_QUANTILES)
K = 11
finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(
    quantiles=hnp.arrays(np.float64, (5, LEVELS.size), elements=finite),
    observed=hnp.arrays(np.float64, (5,), elements=finite),
    crossing=st.booleans(),
)
def test_wis_equals_twice_the_mean_quantile_loss(
    quantiles: np.ndarray, observed: np.ndarray, crossing: bool
) -> None:
    # Bracher et al. (2021) eq. 4: WIS = (1 / (2K + 1)) sum_j 2 rho_j = (1 / (K + 1/2))
    # sum_j rho_j over the 2K + 1 quantiles (not 2 / (K + 1/2), which doubles it); the
    # identity holds even for crossing quantiles.
    q = quantiles if crossing else np.sort(quantiles, axis=1)
    wis = weighted_interval_score(q, LEVELS, observed).wis
    pinball = quantile_loss(q, LEVELS, observed).sum(axis=1)
    np.testing.assert_allclose(wis, 2.0 / (2 * K + 1) * pinball, rtol=1e-12, atol=1e-9)


def test_hand_computed_example() -> None:
    # Levels 0.05, 0.25, 0.5, 0.75, 0.95 (K = 2, alpha = 0.1, 0.5); quantiles 2, 5, 7, 9, 14.
    # y = 15: median 0.5 * 8 = 4; IS_0.5 = 4 + 4 * 6 = 28 (weight 1/4 -> 7);
    # IS_0.1 = 12 + 20 * 1 = 32 (weight 1/20 -> 1.6); WIS = 12.6 / 2.5 = 5.04,
    # dispersion (1 + 0.6) / 2.5 = 0.64, underprediction (4 + 6 + 1) / 2.5 = 4.4.
    # y = 6: median 0.5 (over), both intervals cover: WIS = (0.5 + 1 + 0.6) / 2.5 = 0.84.
    levels = [0.05, 0.25, 0.5, 0.75, 0.95]
    q = [2.0, 5.0, 7.0, 9.0, 14.0]
    parts = weighted_interval_score([q, q], levels, [15.0, 6.0])
    assert parts.wis == pytest.approx([5.04, 0.84], rel=1e-14)
    assert parts.dispersion == pytest.approx([0.64, 0.64], rel=1e-14)
    assert parts.underprediction == pytest.approx([4.4, 0.0], abs=1e-14)
    assert parts.overprediction == pytest.approx([0.0, 0.2], abs=1e-14)


def test_exact_rational_arithmetic_agrees() -> None:
    rng = np.random.default_rng(4)
    q = np.sort(rng.integers(0, 50, size=LEVELS.size)).astype(float)
    y = 17.0
    tau = [Fraction(str(t)) for t in HUB_QUANTILES]
    exact = sum(
        2 * ((1 if Fraction(y) <= Fraction(qj) else 0) - t) * (Fraction(qj) - Fraction(y))
        for t, qj in zip(tau, q.tolist(), strict=True)
    ) / (2 * K + 1)
    assert float(weighted_interval_score(q, LEVELS, y).wis) == pytest.approx(
        float(exact), rel=1e-14
    )


def test_wis_approaches_the_crps_of_a_normal() -> None:
    # With many evenly spaced levels WIS -> CRPS (Bracher et al. 2021, sec. 2.2).
    levels = np.arange(1, 200) / 200
    y = np.array([-1.5, 0.3, 2.0])
    q = stats.norm.ppf(levels)[None, :].repeat(3, axis=0)
    crps = y * (2 * stats.norm.cdf(y) - 1) + 2 * stats.norm.pdf(y) - 1 / np.sqrt(np.pi)
    wis = weighted_interval_score(q, levels, y).wis
    np.testing.assert_allclose(wis, crps, rtol=0.01)


def test_matches_scoringrules() -> None:
    sr = pytest.importorskip("scoringrules")
    rng = np.random.default_rng(2024)
    n = 500
    q = np.sort(rng.gamma(2.0, 30.0, size=(n, LEVELS.size)), axis=1)
    y = rng.gamma(2.0, 30.0, size=n)
    lower, upper = q[:, :K], q[:, K + 1 :][:, ::-1]
    alpha = 2 * LEVELS[:K]
    ours = weighted_interval_score(q, LEVELS, y).wis
    theirs = np.asarray(sr.weighted_interval_score(y, q[:, K], lower, upper, alpha))
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    is_theirs = np.asarray(sr.interval_score(y, lower, upper, alpha))
    np.testing.assert_allclose(
        interval_score(lower, upper, y[:, None], alpha), is_theirs, rtol=1e-12
    )
    pinball = np.stack(
        [np.asarray(sr.quantile_score(y, q[:, j], LEVELS[j])) for j in range(LEVELS.size)],
        axis=1,
    )
    np.testing.assert_allclose(quantile_loss(q, LEVELS, y), pinball, rtol=1e-12, atol=1e-12)
