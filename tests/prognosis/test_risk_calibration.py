"""Calibration of binary risks against scikit-learn and Murphy's decomposition."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np
import pytest
from sklearn.calibration import calibration_curve as sk_calibration_curve
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sksurv.datasets import load_whas500

from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError
from healthtwin.prognosis.risk_calibration import (
    brier_decomposition,
    brier_score,
    calibration_curve,
    calibration_in_the_large,
    event_by_horizon,
    expected_calibration_error,
)


@pytest.fixture(scope="module")
def held_out_risks() -> tuple[Any, Any]:
    """Malignancy risks of a deliberately over-regularized (miscalibrated) model."""
    X, y = load_breast_cancer(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    train, test = order[:300], order[300:]
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.002))
    model.fit(X[train], y[train])
    return y[test], model.predict_proba(X[test])[:, 1]


def _reference_counts(p: Any, edges: Any) -> Any:
    """Cases per bin, bins closed on the right (the first also on the left)."""
    counts = [np.sum((p >= edges[0]) & (p <= edges[1]))]
    counts += [np.sum((p > lo) & (p <= hi)) for lo, hi in pairwise(edges[1:])]
    return np.array(counts)


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
@pytest.mark.parametrize("n_bins", [3, 10, 15])
def test_curve_equals_sklearn(held_out_risks: Any, strategy: Any, n_bins: int) -> None:
    y, p = held_out_risks
    ours = calibration_curve(y, p, n_bins, strategy)
    prob_true, prob_pred = sk_calibration_curve(y, p, n_bins=n_bins, strategy=strategy)
    np.testing.assert_array_equal(ours.observed, prob_true)
    np.testing.assert_array_equal(ours.predicted, prob_pred)
    counts = _reference_counts(p, ours.bin_edges)
    np.testing.assert_array_equal(ours.counts, counts[counts > 0])


def test_brier_equals_sklearn(held_out_risks: Any) -> None:
    y, p = held_out_risks
    assert brier_score(y, p) == brier_score_loss(y, p)
    assert brier_score(y.astype(bool), p) == brier_score_loss(y, p)


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_decomposition_adds_up(held_out_risks: Any, strategy: Any) -> None:
    y, p = held_out_risks
    d = brier_decomposition(y, p, n_bins=10, strategy=strategy)
    total = (
        d.reliability
        - d.resolution
        + d.uncertainty
        + d.within_bin_variance
        - d.within_bin_covariance
    )
    assert total == pytest.approx(brier_score_loss(y, p), abs=1e-13)
    assert d.within_bin_variance > 0.0


def test_murphy_decomposition_for_binned_forecasts() -> None:
    # Forecasts take one value per bin, so the within-bin terms vanish and the classic
    # three-term decomposition holds; REL and RES are rebuilt from sklearn's curve.
    rng = np.random.default_rng(3)
    p = rng.choice(np.arange(0.05, 1.0, 0.1), size=4000)
    y = rng.random(4000) < np.clip(p + 0.08, 0, 1)  # observed rates 8 points above
    d = brier_decomposition(y, p, n_bins=10)
    prob_true, prob_pred = sk_calibration_curve(y, p, n_bins=10)
    _, counts = np.unique(p, return_counts=True)
    base = y.mean()
    assert d.reliability == pytest.approx(np.sum(counts * (prob_pred - prob_true) ** 2) / 4000)
    assert d.resolution == pytest.approx(np.sum(counts * (prob_true - base) ** 2) / 4000)
    assert d.uncertainty == pytest.approx(base * (1 - base))
    assert d.within_bin_variance == pytest.approx(0.0, abs=1e-15)
    assert d.within_bin_covariance == pytest.approx(0.0, abs=1e-15)
    assert d.reliability - d.resolution + d.uncertainty == pytest.approx(brier_score_loss(y, p))
    expected_ece = np.sum(counts * np.abs(prob_pred - prob_true)) / 4000
    assert expected_calibration_error(y, p) == pytest.approx(expected_ece, abs=1e-12)
    assert calibration_in_the_large(y, p) == pytest.approx(p.mean() - y.mean(), abs=1e-12)


def test_calibrated_risks_score_as_calibrated() -> None:
    rng = np.random.default_rng(4)
    p = rng.beta(2, 5, size=20000)
    y = rng.random(20000) < p
    se = np.sqrt(np.mean(p * (1 - p)) / 20000)
    assert abs(calibration_in_the_large(y, p)) < 4 * se
    assert expected_calibration_error(y, p) < 0.02
    # Squaring the risks makes them too low: the model under-predicts.
    assert calibration_in_the_large(y, p**2) == pytest.approx(np.mean(p**2 - p), abs=5 * se)
    assert expected_calibration_error(y, p**2) > 0.1


def test_event_by_horizon_on_whas500() -> None:
    _, outcome = load_whas500()
    time, event = outcome["lenfol"], outcome["fstat"]
    had_event, known = event_by_horizon(time, event, horizon=730.0)
    np.testing.assert_array_equal(had_event, event & (time <= 730.0))
    censored_early = ~event & (time <= 730.0)
    np.testing.assert_array_equal(known, ~censored_early)
    assert 0 < censored_early.sum() < len(time)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="0/1"):
        brier_score([0, 2], [0.1, 0.2])
    with pytest.raises(InvalidInputError, match=r"\[0, 1\]"):
        brier_score([0, 1], [0.1, 1.2])
    with pytest.raises(ShapeError, match="one length"):
        calibration_curve([0, 1], [0.1])
    with pytest.raises(InvalidParameterError, match="strategy"):
        calibration_curve([0, 1], [0.1, 0.2], strategy="kmeans")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="n_bins"):
        expected_calibration_error([0, 1], [0.1, 0.2], n_bins=0)
