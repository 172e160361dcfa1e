"""Calibration recovers the parameters of a synthetic epidemic and forecasts its future.

A known epidemic (r0 1.8, contacts cut to 0.6 from day 35, 30 % of cases ascertained and
reported after 0-3 days) is simulated once as the "truth"; ABC-SMC on its first 63 days must
put the true values inside the posterior's central 99 % range, pass a posterior predictive
check, and forecast the next two weeks with 90 % intervals that hold the truth.
"""

from __future__ import annotations

import numpy as np
import pytest

from healthtwin.assimilation.priors import UniformPrior
from healthtwin.errors import InvalidInputError, ShapeError
from healthtwin.population.calibration import (
    EpidemicSetting,
    Reporting,
    _simulate_reports,
    calibrate_epidemic,
)
from healthtwin.population.epidemic_parameters import EpidemicParameters
from healthtwin.population.forecast_hub import hub_table
from healthtwin.population.geography import Geography
from healthtwin.population.mixing import synthetic_contacts
from healthtwin.population.scoring import weighted_interval_score

AGES = ("0-19", "20-59", "60+")
GEO = Geography(
    regions=("north", "south"),
    age_groups=AGES,
    population=np.array([[4e4, 1e5, 4e4], [2e4, 6e4, 2e4]]),
)
SETTING = EpidemicSetting(
    geography=GEO,
    contacts=synthetic_contacts(AGES),
    parameters=EpidemicParameters(r0=2.0, hospitalised_fraction=0.08),
    initial_infected={"north": 200, "south": 50},
    mobility=np.array([[0.95, 0.05], [0.1, 0.9]]),
    change_days=(35,),
    reporting={"cases": Reporting(ascertainment=0.3, delay_pmf=(0.4, 0.3, 0.2, 0.1))},
)
TRUTH = {"r0": 1.8, "contact_change.0": 0.6, "ascertainment.cases": 0.3}
FIT_DAYS, AHEAD = 63, 14


@pytest.fixture(scope="module")
def truth() -> dict[str, np.ndarray]:
    theta = np.array([[TRUTH[k] for k in TRUTH]])
    reports = _simulate_reports(
        SETTING, tuple(TRUTH), theta, FIT_DAYS + AHEAD, ("cases", "admissions"),
        np.random.default_rng(2024),
    )  # fmt: skip
    return {q: v[0] for q, v in reports.items()}


@pytest.fixture(scope="module")
def fit(truth):  # type: ignore[no-untyped-def]
    observed = {q: v[:FIT_DAYS] for q, v in truth.items()}
    priors = {
        "r0": UniformPrior(1.0, 3.0),
        "contact_change.0": UniformPrior(0.2, 1.2),
        "ascertainment.cases": UniformPrior(0.05, 0.9),
    }
    return calibrate_epidemic(SETTING, observed, priors, n_particles=100, n_generations=8, seed=3)


def test_posterior_holds_the_true_parameters(fit) -> None:  # type: ignore[no-untyped-def]
    draws = fit.posterior.resample(4000, np.random.default_rng(0))
    for k, name in enumerate(fit.names):
        lo, hi = np.quantile(draws[:, k], [0.005, 0.995])
        assert lo <= TRUTH[name] <= hi, (name, lo, hi)
    summary = fit.summary()
    # The data are informative: the posterior is far narrower than the U(1, 3) prior (sd 0.58).
    assert summary["r0"]["sd"] < 0.25
    assert fit.posterior.tolerances[-1] < fit.posterior.tolerances[0]


def test_posterior_predictive_check_covers_the_data(fit) -> None:  # type: ignore[no-untyped-def]
    levels = list(fit.check.levels)
    assert fit.check.coverage[levels.index(0.9)] >= 0.7


def test_forecast_intervals_hold_the_future_and_score_in_hub_format(fit, truth) -> None:  # type: ignore[no-untyped-def]
    paths = fit.predict(300, FIT_DAYS + AHEAD, seed=5)["cases"][:, FIT_DAYS:]  # (n, 14, R)
    weekly = paths.reshape(300, 2, 7, 2).sum(axis=2)
    true_weekly = truth["cases"][FIT_DAYS:].reshape(2, 7, 2).sum(axis=1)
    lo, hi = np.quantile(weekly, [0.05, 0.95], axis=0)
    inside = (true_weekly >= lo) & (true_weekly <= hi)
    assert inside.mean() >= 0.75
    table = hub_table(weekly, reference_date="2026-03-02", target="wk inc case",
                      locations=GEO.regions)  # fmt: skip
    assert set(table["output_type"]) == {"quantile"}
    q = np.quantile(weekly, np.sort(table["output_type_id"].unique()), axis=0)
    wis = weighted_interval_score(np.moveaxis(q, 0, -1), np.sort(table["output_type_id"].unique()),
                                  true_weekly).wis  # fmt: skip
    naive = np.abs(true_weekly - weekly.mean(axis=0))
    assert np.all(np.isfinite(wis))
    assert wis.mean() <= naive.mean() * 1.5


def test_bad_calibration_requests_are_clear_errors(truth) -> None:  # type: ignore[no-untyped-def]
    obs = {q: v[:FIT_DAYS] for q, v in truth.items()}
    prior = {"r0": UniformPrior(1.0, 3.0)}
    with pytest.raises(InvalidInputError, match="cannot fit"):
        calibrate_epidemic(SETTING, obs, {"gamma": UniformPrior(0, 1)})
    with pytest.raises(InvalidInputError, match="unknown observed quantity"):
        calibrate_epidemic(SETTING, {"hospital_beds": obs["cases"]}, prior)
    with pytest.raises(ShapeError, match="regions = 2"):
        calibrate_epidemic(SETTING, {"cases": obs["cases"][:, :1]}, prior)
    with pytest.raises(InvalidInputError, match="negative or missing"):
        calibrate_epidemic(SETTING, {"cases": -obs["cases"]}, prior)
    with pytest.raises(InvalidInputError, match="two weeks"):
        calibrate_epidemic(SETTING, {"cases": obs["cases"][:10]}, prior)
