"""The simulated design against theory: mean path, outbreak spread, exact false-alarm rates."""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import SimpleNamespace

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from healthtwin.surveillance.evaluation import evaluate_detectors
from healthtwin.surveillance.simulation import (
    NOUFAILY_SCENARIOS,
    NoufailyDesign,
    lognormal_week_probabilities,
    simulate_noufaily,
)


def test_weekly_means_follow_mu_t_for_trend_and_seasonality() -> None:
    # Block 3 with trend and biannual seasonality, and block 4 (phi = 5) likewise.
    chosen = [NOUFAILY_SCENARIOS[17], NOUFAILY_SCENARIOS[23]]
    n_reps = 100
    sim = simulate_noufaily(n_reps, seed=101, scenarios=chosen)
    for index, scenario in enumerate(chosen):
        mu = scenario.mean_counts(624)
        z = (sim.baseline[index].mean(axis=0) - mu) / np.sqrt(scenario.phi * mu / n_reps)
        chi2 = float((z**2).sum())
        assert stats.chi2.ppf(0.005, z.size) < chi2 < stats.chi2.ppf(0.995, z.size), scenario


def test_outbreak_cases_spread_by_the_floored_lognormal() -> None:
    design = NoufailyDesign(n_past_outbreaks=0, current_k=(10.0,))
    sim = simulate_noufaily(300, seed=5, scenarios=NOUFAILY_SCENARIOS[36:37], design=design)
    p = lognormal_week_probabilities()
    n_bins = 4  # delays 0, 1, 2 and >= 3
    starts = sim.current_start[0]
    keep = starts <= design.n_weeks - p.size  # nothing truncated
    counts = np.zeros(n_bins)
    for rep in np.flatnonzero(keep):
        cases = sim.current[0, rep, starts[rep] - 1 :]
        counts[:3] += cases[:3]
        counts[3] += cases[3:].sum()
    expected_p = np.append(p[:3], p[3:].sum())
    result = stats.chisquare(counts, counts.sum() * expected_p)
    assert result.pvalue > 0.01


def nb_quantile_detector(mu: np.ndarray, phi: float, alpha: float) -> tuple[object, float]:
    """A detector that knows the true baseline law: bound = its (1 - alpha) quantile."""
    if phi > 1:
        size = mu / (phi - 1)
        law = stats.nbinom(size, size / (size + mu))
    else:
        law = stats.poisson(mu)
    bound = law.ppf(1 - alpha)

    def detect(
        observed: ArrayLike,
        *,
        method: str,
        monitored: ArrayLike,
        dates: ArrayLike | None = None,
        control: Mapping[str, object] | None = None,
    ) -> SimpleNamespace:
        weeks = np.asarray(monitored) - 1
        y = np.asarray(observed)[:, weeks]
        return SimpleNamespace(alarm=y > bound[weeks], defined=np.ones(y.shape, dtype=bool))

    exact = float(law.sf(bound)[624 - 49 :].mean())
    return detect, exact


def test_false_positive_rate_of_an_oracle_detector_is_the_exact_tail_probability() -> None:
    for scenario in (NOUFAILY_SCENARIOS[5], NOUFAILY_SCENARIOS[28]):  # phi 1.5 and 3
        sim = simulate_noufaily(150, seed=scenario.number, scenarios=[scenario])
        detector, exact = nb_quantile_detector(scenario.mean_counts(624), scenario.phi, 0.01)
        (scores,) = evaluate_detectors(sim, ["oracle"], detector=detector)  # type: ignore[arg-type]
        fpr = scores.false_positive_rate
        assert exact <= 0.01
        # Weeks are independent: a score test with the null variance (a Wald interval
        # from the estimate's own SE undercovers for rare alarms).
        n_weeks = int((sim.past[0][:, 575:] == 0).sum())
        se_null = math.sqrt(exact * (1 - exact) / n_weeks)
        assert abs(fpr.value - exact) < 2.576 * se_null, (scenario, fpr, exact)
        # Outbreak weeks alarm far more often than quiet weeks.
        assert scores.sensitivity.value > 10 * fpr.value
