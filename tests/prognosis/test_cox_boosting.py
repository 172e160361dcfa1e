"""Cox gradient boosting against scikit-survival's GradientBoostingSurvivalAnalysis (the oracle)."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest
from sklearn.base import clone
from sksurv.ensemble import GradientBoostingSurvivalAnalysis
from sksurv.ensemble.survival_loss import CoxPH
from sksurv.metrics import concordance_index_censored

from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.prognosis.cox_boosting import (
    CoxGradientBoosting,
    cox_negative_gradient,
    cox_partial_likelihood_loss,
)
from healthtwin.prognosis.datasets import load_dataset
from healthtwin.prognosis.design_matrix import DesignMatrix
from healthtwin.prognosis.survival import SURVIVAL_MODELS, SurvivalModel


def _target(event: Any, time: Any) -> np.ndarray:
    target = np.empty(len(time), dtype=[("event", np.bool_), ("time", np.float64)])
    target["event"], target["time"] = event, time
    return target


def _encoded(name: str) -> tuple[np.ndarray, np.ndarray]:
    data = load_dataset(name)
    matrix = DesignMatrix.fit(data.features).transform(data.features)
    return matrix, _target(data.event, data.time)


def _random_cohort(n: int, n_times: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Events, times with many ties (``n_times`` distinct values) and log hazards."""
    rng = np.random.default_rng(seed)
    time = rng.integers(0, n_times, n).astype(np.float64)
    return rng.random(n) < 0.6, time, rng.normal(scale=2.0, size=n)


def _same_trees(ours: CoxGradientBoosting, oracle: Any) -> bool:
    return len(ours.estimators_) == oracle.estimators_.shape[0] and all(
        np.array_equal(a.tree_.feature, b.tree_.feature)
        and np.array_equal(a.tree_.threshold, b.tree_.threshold)
        for a, b in zip(ours.estimators_, oracle.estimators_[:, 0], strict=True)
    )


@pytest.mark.parametrize(
    ("n", "n_times", "seed"),
    [(1, 1, 0), (2, 1, 1), (7, 3, 2), (60, 5, 3), (400, 40, 4), (1500, 1500, 5), (300, 1, 6)],
)
def test_gradient_and_loss_equal_scikit_survivals_with_ties(
    n: int, n_times: int, seed: int
) -> None:
    event, time, log_hazard = _random_cohort(n, n_times, seed)
    event[0] = True  # at least one event
    oracle = CoxPH()
    y = _target(event, time)
    expected = oracle.gradient(y_true=y, raw_prediction=log_hazard)
    np.testing.assert_allclose(cox_negative_gradient(event, time, log_hazard), expected, atol=1e-12)
    loss = cox_partial_likelihood_loss(event, time, log_hazard)
    assert loss == pytest.approx(oracle(y_true=y, raw_prediction=log_hazard), rel=1e-12)


def test_gradient_does_not_overflow_where_exp_would() -> None:
    event, time, log_hazard = _random_cohort(50, 10, 7)
    shifted = cox_negative_gradient(event, time, log_hazard + 800.0)  # exp(800) = inf
    np.testing.assert_allclose(shifted, cox_negative_gradient(event, time, log_hazard), atol=1e-12)
    # The gradient sums to zero: each event's unit is spread over its risk set.
    assert shifted.sum() == pytest.approx(0.0, abs=1e-10)


def test_registry_gbs_uses_our_estimator_with_scikit_survivals_settings() -> None:
    spec = SURVIVAL_MODELS["gbs"]
    assert spec.reference is not None
    oracle_class = getattr(importlib.import_module(spec.reference[0]), spec.reference[1])
    assert oracle_class is GradientBoostingSurvivalAnalysis
    assert SurvivalModel("gbs").estimator_class is CoxGradientBoosting
    # Every hyper-parameter is scikit-survival's, with its default.
    ours, theirs = CoxGradientBoosting().get_params(), oracle_class().get_params()
    assert ours == {name: theirs[name] for name in ours}
    assert theirs["loss"] == "coxph"


@pytest.mark.parametrize("name", ["whas500", "gbsg2"])
@pytest.mark.parametrize("subsample", [1.0, 0.8])
def test_predictions_equal_scikit_survivals(name: str, subsample: float) -> None:
    matrix, y = _encoded(name)
    settings = {**SURVIVAL_MODELS["gbs"].defaults, "n_estimators": 100, "subsample": subsample}
    ours = CoxGradientBoosting(**settings, random_state=0).fit(matrix, y)
    oracle = GradientBoostingSurvivalAnalysis(**settings, random_state=0).fit(matrix, y)
    assert _same_trees(ours, oracle)
    expected = oracle.predict(matrix)
    np.testing.assert_allclose(ours.predict(matrix), expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(ours.unique_times_, oracle.unique_times_)
    for method in ("predict_survival_function", "predict_cumulative_hazard_function"):
        got = getattr(ours, method)(matrix[:50], return_array=True)
        np.testing.assert_allclose(
            got, getattr(oracle, method)(matrix[:50], return_array=True), atol=1e-11
        )
    np.testing.assert_allclose(ours.train_score_, oracle.train_score_, rtol=1e-12)
    if subsample < 1.0:
        np.testing.assert_allclose(ours.oob_scores_, oracle.oob_scores_, rtol=1e-12)
        np.testing.assert_allclose(ours.oob_improvement_, oracle.oob_improvement_, atol=1e-9)
    assert ours.score(matrix, y) == oracle.score(matrix, y)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_out_of_bag_ties_may_break_differently_but_the_fit_is_as_good(seed: int) -> None:
    # With subsample < 1 the out-of-bag patients stay in each tree with weight 0, so two
    # splits that cut the in-bag patients alike tie exactly; last-bit differences in the
    # gradient can pick the other one (here on veterans). The fit stays as good.
    matrix, y = _encoded("veterans")
    settings = {**SURVIVAL_MODELS["gbs"].defaults, "random_state": seed}
    ours = CoxGradientBoosting(**settings).fit(matrix, y)
    oracle = GradientBoostingSurvivalAnalysis(**settings).fit(matrix, y)
    c_ours = concordance_index_censored(y["event"], y["time"], ours.predict(matrix))[0]
    c_oracle = concordance_index_censored(y["event"], y["time"], oracle.predict(matrix))[0]
    assert c_ours == pytest.approx(c_oracle, abs=0.005)
    assert ours.train_score_[-1] == pytest.approx(oracle.train_score_[-1], rel=0.01)


def test_step_functions_match_scikit_survivals() -> None:
    matrix, y = _encoded("whas500")
    ours = CoxGradientBoosting(n_estimators=20, random_state=1).fit(matrix, y)
    oracle = GradientBoostingSurvivalAnalysis(n_estimators=20, random_state=1).fit(matrix, y)
    for a, b in zip(
        ours.predict_survival_function(matrix[:3]),
        oracle.predict_survival_function(matrix[:3]),
        strict=True,
    ):
        np.testing.assert_array_equal(a.x, b.x)
        np.testing.assert_allclose(a.y, b.y, atol=1e-13)


def test_seeds_and_generators_reproduce_and_clone() -> None:
    matrix, y = _encoded("gbsg2")
    model = CoxGradientBoosting(n_estimators=15, subsample=0.5, random_state=3)
    first = model.fit(matrix, y).predict(matrix)
    np.testing.assert_array_equal(clone(model).fit(matrix, y).predict(matrix), first)
    generator = CoxGradientBoosting(
        n_estimators=15, subsample=0.5, random_state=np.random.RandomState(3)
    )
    np.testing.assert_array_equal(generator.fit(matrix, y).predict(matrix), first)
    other = CoxGradientBoosting(n_estimators=15, subsample=0.5, random_state=4).fit(matrix, y)
    assert not np.array_equal(other.predict(matrix), first)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"n_estimators": 0}, "n_estimators must be an integer >= 1, got 0"),
        ({"n_estimators": 2.5}, "n_estimators must be an integer"),
        ({"learning_rate": 0.0}, r"learning_rate must be a number > 0, got 0.0"),
        ({"subsample": 1.5}, r"subsample must be a number > 0 and <= 1, got 1.5"),
        ({"subsample": 0.0}, "subsample must be"),
        ({"max_depth": 0}, "max_depth must be an integer >= 1"),
        ({"min_samples_leaf": 0}, "min_samples_leaf"),
        ({"max_features": "all"}, "max_features"),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, Any], message: str) -> None:
    matrix, y = _encoded("veterans")
    with pytest.raises(InvalidParameterError, match=message):
        CoxGradientBoosting(**settings).fit(matrix, y)


def test_bad_inputs_are_refused() -> None:
    matrix, y = _encoded("veterans")
    model = CoxGradientBoosting(n_estimators=2)
    with pytest.raises(InvalidInputError, match="structured array"):
        model.fit(matrix, y["time"])
    with pytest.raises(InvalidInputError, match="137 rows but y has 136"):
        model.fit(matrix, y[:-1])
    with pytest.raises(InvalidInputError, match="no event"):
        model.fit(matrix, _target(np.zeros(len(y), bool), y["time"]))
    with pytest.raises(InvalidInputError, match="non-negative"):
        model.fit(matrix, _target(y["event"], -y["time"]))
    counts = np.empty(len(y), dtype=[("event", np.int64), ("time", np.float64)])
    counts["event"], counts["time"] = 2, y["time"]
    with pytest.raises(InvalidInputError, match="boolean or 0/1"):
        model.fit(matrix, counts)
    with pytest.raises(InvalidInputError, match="NaN"):
        model.fit(np.where(np.arange(matrix.size).reshape(matrix.shape) == 0, np.nan, matrix), y)
    with pytest.raises(InvalidParameterError, match="not fitted"):
        model.predict(matrix)
    model.fit(matrix, y)
    with pytest.raises(InvalidInputError, match="features"):
        model.predict(matrix[:, :3])
