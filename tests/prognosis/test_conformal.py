"""Split conformal and CQR intervals: the order statistic, coverage on real data, MAPIE.

Coverage is checked on scikit-learn's diabetes progression data (442 patients, one-year
disease progression). Conditional on the fitted model, every random split of the remaining
patients into calibration and test halves is exchangeable, so the mean coverage over
splits is exactly ``k/(n + 1)`` with ``k = ceil((n + 1)(1 - alpha))``, which lies in
``[1 - alpha, 1 - alpha + 1/(n + 1)]``. The reference intervals come from MAPIE 1.x, an
independent implementation of the same methods.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from mapie.classification import SplitConformalClassifier as MapieClassifier
from mapie.regression import ConformalizedQuantileRegressor as MapieCQR
from mapie.regression import SplitConformalRegressor as MapieSplit
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError
from healthtwin.prognosis.conformal import (
    ConformalizedQuantileRegressor,
    PredictionInterval,
    SplitConformalRegressor,
    conformal_quantile,
    conformal_rank,
    cqr_scores,
)
from healthtwin.prognosis.conformal_sets import SplitConformalClassifier

ALPHA = 0.1
N_TRAIN = 221  # the other 221 patients are split 110 calibration / 111 test
N_CAL = 110


@pytest.fixture(scope="module")
def diabetes() -> tuple[Any, Any]:
    return load_diabetes(return_X_y=True)


@pytest.mark.parametrize("n", [1, 9, 19, 99, 109, 110, 1000])
@pytest.mark.parametrize("alpha", ["0.05", "0.1", "0.2", "0.25", "0.5"])
def test_rank_is_the_exact_ceiling(n: int, alpha: str) -> None:
    exact = (n + 1) * (1 - Fraction(alpha))
    k = math.ceil(exact)
    if k > n:
        with pytest.raises(InvalidParameterError, match="calibration cases"):
            conformal_rank(n, float(alpha))
    else:
        assert conformal_rank(n, float(alpha)) == k


def test_quantile_is_the_order_statistic() -> None:
    scores = np.random.default_rng(1).exponential(size=57)
    for alpha in (0.05, 0.1, 0.3):
        k = conformal_rank(57, alpha)
        assert conformal_quantile(scores, alpha) == np.sort(scores)[k - 1]
        # inverted_cdf at k/n is the k-th smallest value, by numpy's own definition.
        assert conformal_quantile(scores, alpha) == np.quantile(
            scores, k / 57, method="inverted_cdf"
        )


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, 1.5])
def test_alpha_outside_the_unit_interval_is_refused(alpha: float) -> None:
    with pytest.raises(InvalidParameterError, match="alpha must be in"):
        conformal_quantile([1.0, 2.0], alpha)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ShapeError, match="one length"):
        cqr_scores([1.0, 2.0], [0.0], [3.0, 3.0])
    with pytest.raises(InvalidInputError, match="NaN or infinite"):
        conformal_quantile([1.0, np.nan, 2.0], 0.5)
    with pytest.raises(ShapeError, match="shape"):
        PredictionInterval(np.zeros(2), np.ones(2), 0.1).covers([1.0])


def _split_coverages(
    residual_scores: Any, n_splits: int, rng: np.random.Generator
) -> tuple[float, float]:
    """Mean and standard error of coverage over random calibration/test splits.

    ``residual_scores`` are conformity scores on the pool of patients not used for
    fitting; a test case is covered when its score is at most the calibration quantile.
    """
    scores = np.asarray(residual_scores)
    coverages = np.empty(n_splits)
    for i in range(n_splits):
        order = rng.permutation(scores.size)
        q = conformal_quantile(scores[order[:N_CAL]], ALPHA)
        coverages[i] = np.mean(scores[order[N_CAL:]] <= q)
    return float(coverages.mean()), float(coverages.std(ddof=1) / math.sqrt(n_splits))


def _assert_valid_coverage(means: list[float], errors: list[float]) -> None:
    exact = conformal_rank(N_CAL, ALPHA) / (N_CAL + 1)
    assert 1 - ALPHA <= exact <= 1 - ALPHA + 1 / (N_CAL + 1)
    for mean, se in zip(means, errors, strict=True):
        assert abs(mean - exact) < 4.5 * se, (mean, exact, se)
    mean = float(np.mean(means))
    se = float(np.sqrt(np.sum(np.square(errors)))) / len(errors)
    assert 1 - ALPHA - 4 * se <= mean <= 1 - ALPHA + 1 / (N_CAL + 1) + 4 * se


def _training_splits(n_fits: int, seed: int) -> list[tuple[Any, Any]]:
    rng = np.random.default_rng(seed)
    orders = [rng.permutation(442) for _ in range(n_fits)]
    return [(o[:N_TRAIN], o[N_TRAIN:]) for o in orders]


@pytest.mark.parametrize(
    "make_model",
    [
        lambda: make_pipeline(StandardScaler(), LinearRegression()),
        lambda: GradientBoostingRegressor(n_estimators=60, max_depth=2, random_state=0),
    ],
    ids=["linear", "gradient_boosting"],
)
def test_split_conformal_coverage_on_diabetes(diabetes: tuple[Any, Any], make_model: Any) -> None:
    X, y = diabetes
    rng = np.random.default_rng(2024)
    means, errors = [], []
    for train, pool in _training_splits(4, seed=7):
        model = make_model().fit(X[train], y[train])
        scores = np.abs(y[pool] - model.predict(X[pool]))
        mean, se = _split_coverages(scores, 1500, rng)
        means.append(mean)
        errors.append(se)
    _assert_valid_coverage(means, errors)


def test_cqr_coverage_on_diabetes(diabetes: tuple[Any, Any]) -> None:
    X, y = diabetes
    rng = np.random.default_rng(99)
    means, errors = [], []
    for train, pool in _training_splits(3, seed=11):
        lo, hi = (
            GradientBoostingRegressor(
                loss="quantile", alpha=a, n_estimators=60, max_depth=2, random_state=0
            ).fit(X[train], y[train])
            for a in (ALPHA / 2, 1 - ALPHA / 2)
        )
        scores = cqr_scores(y[pool], lo.predict(X[pool]), hi.predict(X[pool]))
        mean, se = _split_coverages(scores, 1500, rng)
        means.append(mean)
        errors.append(se)
    _assert_valid_coverage(means, errors)


@pytest.fixture(scope="module")
def one_split(diabetes: tuple[Any, Any]) -> dict[str, Any]:
    X, y = diabetes
    train, pool = _training_splits(1, seed=3)[0]
    cal, test = pool[:N_CAL], pool[N_CAL:]
    return {"X": X, "y": y, "train": train, "cal": cal, "test": test}


@pytest.mark.parametrize("confidence", [0.8, 0.9, 0.95])
@pytest.mark.parametrize("kind", ["linear", "gradient_boosting"])
def test_split_intervals_match_mapie(
    one_split: dict[str, Any], confidence: float, kind: str
) -> None:
    X, y, train, cal, test = (one_split[k] for k in ("X", "y", "train", "cal", "test"))
    model = (
        LinearRegression()
        if kind == "linear"
        else GradientBoostingRegressor(n_estimators=60, max_depth=2, random_state=0)
    ).fit(X[train], y[train])
    ours = SplitConformalRegressor.calibrate(model, X[cal], y[cal]).predict_interval(
        X[test], alpha=1 - confidence
    )
    mapie = MapieSplit(model, confidence_level=confidence, prefit=True)
    _, bounds = mapie.conformalize(X[cal], y[cal]).predict_interval(X[test])
    np.testing.assert_allclose(ours.lower, bounds[:, 0, 0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours.upper, bounds[:, 1, 0], rtol=0, atol=1e-9)
    inside = (bounds[:, 0, 0] <= y[test]) & (y[test] <= bounds[:, 1, 0])
    assert ours.coverage(y[test]) == pytest.approx(inside.mean(), abs=1e-12)


@pytest.mark.parametrize("symmetric", [True, False])
def test_cqr_intervals_match_mapie(one_split: dict[str, Any], symmetric: bool) -> None:
    X, y, train, cal, test = (one_split[k] for k in ("X", "y", "train", "cal", "test"))
    lo, hi, median = (
        GradientBoostingRegressor(
            loss="quantile", alpha=a, n_estimators=60, max_depth=2, random_state=0
        ).fit(X[train], y[train])
        for a in (ALPHA / 2, 1 - ALPHA / 2, 0.5)
    )
    ours = ConformalizedQuantileRegressor.calibrate(
        lo, hi, X[cal], y[cal], symmetric=symmetric
    ).predict_interval(X[test], alpha=ALPHA)
    mapie = MapieCQR([lo, hi, median], confidence_level=1 - ALPHA, prefit=True)
    _, bounds = mapie.conformalize(X[cal], y[cal]).predict_interval(
        X[test], symmetric_correction=symmetric
    )
    np.testing.assert_allclose(ours.lower, bounds[:, 0, 0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours.upper, bounds[:, 1, 0], rtol=0, atol=1e-9)
    # CQR adapts: its widths vary across patients, unlike split conformal's.
    assert np.ptp(ours.width) > 1.0


def test_classifier_sets_cover_and_match_mapie() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    order = np.random.default_rng(5).permutation(len(y))
    train, cal, test = order[:250], order[250:410], order[410:]
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.05)).fit(X[train], y[train])
    scp = SplitConformalClassifier.calibrate(model, X[cal], y[cal])
    for alpha in (0.02, 0.05, 0.1):
        sets = scp.predict_set(X[test], alpha)
        mapie = MapieClassifier(model, confidence_level=1 - alpha, prefit=True)
        _, mapie_sets = mapie.conformalize(X[cal], y[cal]).predict_set(X[test])
        np.testing.assert_array_equal(sets, mapie_sets[:, :, 0])
        # 159 test patients: coverage within three binomial standard errors of nominal.
        coverage = scp.covers(sets, y[test]).mean()
        assert coverage >= 1 - alpha - 3 * math.sqrt(alpha * (1 - alpha) / len(test))


def test_classifier_refuses_unknown_labels() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X[:100], y[:100])
    with pytest.raises(InvalidInputError, match="not among the classifier's classes"):
        SplitConformalClassifier.calibrate(model, X[100:103], np.array([0, 1, 2]))
