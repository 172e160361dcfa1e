"""TSTR/TRTR of a censored outcome: the event by a horizon, IPCW-weighted, and Harrell's C."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tests.conftest import require

from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.synthetic import evaluate
from healthtwin.synthetic.utility import (
    censoring_survival,
    harrell_c,
    ipcw_auroc_at_horizon,
    train_synthetic_test_real,
)


def _cohort(n: int, seed: int) -> pd.DataFrame:
    """Risk from age; follow-up from the site: site A enrolled late, censored by day 20-120."""
    rng = np.random.default_rng(seed)
    age = rng.normal(0.0, 1.0, n)
    site = rng.integers(0, 2, n)
    event_days = rng.exponential(200.0 / np.exp(1.2 * age))
    censor_days = np.where(site == 1, 2000.0, rng.uniform(20.0, 120.0, n))
    return pd.DataFrame({
        "age": age,
        "site": np.where(site == 1, "B", "A"),
        "days": np.minimum(event_days, censor_days).round(2),
        "died": np.where(event_days <= censor_days, "yes", "no"),
    })  # fmt: skip


def test_censoring_flips_which_synthetic_table_looks_useful() -> None:
    # "artefact" keeps the site -> observed-death link (longer follow-up, more deaths seen)
    # but loses age; "faithful" keeps age -> risk but loses the site. Within follow-up the
    # event flag rewards the artefact; by a fixed horizon only age predicts death.
    train, test = _cohort(400, 1), _cohort(400, 2)
    rng = np.random.default_rng(3)
    artefact = train.assign(age=rng.permutation(train.age.to_numpy()))
    faithful = train.assign(site=rng.permutation(train.site.to_numpy()))
    no_time = [t.drop(columns="days") for t in (train, test)]
    scores = {}
    for name, synthetic in (("artefact", artefact), ("faithful", faithful)):
        naive = train_synthetic_test_real(no_time[0], synthetic.drop(columns="days"), no_time[1],
                                          "died", rng=np.random.default_rng(0))  # fmt: skip
        aware = train_synthetic_test_real(train, synthetic, test, "died",
                                          rng=np.random.default_rng(0), time="days")  # fmt: skip
        assert aware.tstr_c_index is not None
        scores[name] = naive.tstr, aware.tstr, aware.tstr_c_index
        assert aware.horizon == pytest.approx(float(train.days.median()))
        assert aware.weighting == "ipcw"
        assert aware.metric == "auroc"
        assert aware.n_test == 400
        assert aware.n_test_censored_before_horizon == int(
            ((test.days < aware.horizon) & (test.died == "no")).sum()
        )
    assert scores["artefact"][0] > scores["faithful"][0] + 0.1  # naive: artefact wins
    assert scores["faithful"][1] > scores["artefact"][1] + 0.2  # by the horizon: it loses
    assert scores["faithful"][2] > scores["artefact"][2] + 0.2  # and by Harrell's C
    assert scores["artefact"][1] < 0.6
    assert scores["faithful"][1] > 0.75


def test_real_rows_as_synthetic_score_like_real_and_the_horizon_can_be_set() -> None:
    train, test = _cohort(300, 4), _cohort(300, 5)
    result = train_synthetic_test_real(train, train, test, "died", rng=np.random.default_rng(1),
                                       time="days", horizon=30.0)  # fmt: skip
    assert result.horizon == 30.0
    assert result.tstr == result.trtr > 0.6
    assert result.tstr_c_index is not None
    assert result.tstr_c_index == result.trtr_c_index
    assert result.tstr_c_index > 0.6
    assert result.ratio == 1.0
    plain = train_synthetic_test_real(train, train, test, "died", rng=np.random.default_rng(1))
    assert plain.time is None
    assert plain.weighting == "none"
    assert plain.trtr_c_index is None


def test_bad_time_columns_and_horizons_are_refused() -> None:
    train, test = _cohort(100, 6), _cohort(100, 7)
    rng = np.random.default_rng(0)
    with pytest.raises(InvalidInputError, match="'weeks' is not a column"):
        train_synthetic_test_real(train, train, test, "died", rng=rng, time="weeks")
    with pytest.raises(InvalidInputError, match="two-level event flag"):
        train_synthetic_test_real(train, train, test, "age", rng=rng, time="days")
    with pytest.raises(InvalidParameterError, match="got -5"):
        train_synthetic_test_real(train, train, test, "died", rng=rng, time="days", horizon=-5)
    with pytest.raises(InvalidInputError, match="horizon 1e"):
        train_synthetic_test_real(train, train, test, "died", rng=rng, time="days", horizon=1e6)


def _censored(n: int, seed: int, ties: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    risk = rng.normal(size=n)
    time = np.minimum(rng.exponential(np.exp(-risk)), rng.exponential(1.5, n))
    event = time < rng.exponential(1.5, n) if ties else rng.random(n) < 0.6
    if ties:  # rounded times and scores: tied times, tied risks
        time, risk = np.round(time, 1) + 0.1, np.round(risk, 1)
    return time, event, risk + rng.normal(0.0, 0.5, n) * (not ties)


@pytest.mark.parametrize("ties", [False, True])
def test_harrell_c_matches_scikit_survival_and_lifelines(ties: bool) -> None:
    metrics = require("sksurv.metrics", "ml")
    lifelines_utils = require("lifelines.utils", "ml")
    time, event, risk = _censored(300, 8, ties)
    ours = harrell_c(time, event, risk)
    theirs = metrics.concordance_index_censored(event, time, risk)[0]
    assert ours == pytest.approx(theirs, abs=1e-12)
    if not ties:  # lifelines counts tied times differently; without ties they agree
        assert ours == pytest.approx(lifelines_utils.concordance_index(time, -risk, event))


def test_ipcw_auroc_and_censoring_curve_match_scikit_survival() -> None:
    metrics = require("sksurv.metrics", "ml")
    nonparametric = require("sksurv.nonparametric", "ml")
    time, event, risk = _censored(300, 9, ties=False)
    horizon = float(np.median(time))
    outcome = np.array(list(zip(event, time, strict=True)), dtype=[("e", bool), ("t", float)])
    theirs = metrics.cumulative_dynamic_auc(outcome, outcome, risk, [horizon])[0][0]
    assert ipcw_auroc_at_horizon(time, event, risk, horizon) == pytest.approx(theirs, abs=1e-10)
    censoring = nonparametric.CensoringDistributionEstimator().fit(outcome)
    probe = np.sort(time)[:-1] + 1e-9  # just after each time: G(t-) there is G(time)
    expected = censoring.predict_proba(probe)
    assert censoring_survival(time, event, probe) == pytest.approx(expected, abs=1e-12)


def test_a_hand_case_of_harrell_c_and_the_ipcw_auroc() -> None:
    time = np.array([1.0, 2.0, 3.0, 5.0, 6.0])
    event = np.array([1, 0, 1, 0, 1])
    # Comparable: (1, all later) 4 pairs, (3, 5), (3, 6): 6; discordant (3 vs 5) only.
    risk = np.array([0.9, 0.1, 0.2, 0.3, 0.1])
    assert harrell_c(time, event, risk) == pytest.approx(5 / 6)
    # Horizon 4: cases t=1 (G=1) and t=3 (G(3-)=3/4, weight 4/3); controls t=5, 6.
    # Case 1 beats both, case 3 beats one: (1 * 2 + 4/3 * 1) / ((1 + 4/3) * 2) = 5/7.
    assert ipcw_auroc_at_horizon(time, event, risk, 4.0) == pytest.approx(5 / 7)


def test_the_evaluation_report_carries_the_censoring_aware_utility() -> None:
    train, holdout = _cohort(150, 10), _cohort(150, 11)
    report = evaluate(train, train, rng=np.random.default_rng(0), holdout=holdout,
                      target="died", plots=False, time="days", horizon=40.0)  # fmt: skip
    utility = report.to_dict()["utility"]
    assert utility["weighting"] == "ipcw"
    assert utility["horizon"] == 40.0
    assert utility["time"] == "days"
    assert utility["tstr"] == utility["trtr"]
    assert utility["tstr_c_index"] == utility["trtr_c_index"]
    assert utility["n_test_censored_before_horizon"] == int(
        ((holdout.days < 40.0) & (holdout.died == "no")).sum()
    )
