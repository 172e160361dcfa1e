"""Detectors against R ``surveillance`` 1.20.3 outputs on real series R ships.

The reference CSVs were written by ``tests/data/surveillance/make_surveillance_reference.R``
(R is not needed here). Indexed series (52-week years): EARS bounds to 1e-9, Farrington
flexible (Noufaily, nbPlugin/muan) expected values to 1e-6 and bounds exactly, the delta
bounds to 2e-4 (a residual difference in the reweighting, see the report), alarms exactly.
Dated series (``epochAsDate=TRUE``) are compared loosely: R's choice of reference weeks by
date is not yet reproduced exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from healthtwin.surveillance import detect_matrix

DATA = Path(__file__).resolve().parents[1] / "data" / "surveillance"
INDEXED = ("salmonella_agona", "ha_pank", "shadar")
DATED = ("salmNewport_total", "salmNewport_Bavaria", "momo_75_85", "campyDE")
NOUFAILY = {"b": 5, "w": 3, "no_periods": 10, "past_weeks_not_included": 26,
            "weights_threshold": 2.58, "p_threshold_trend": 1.0, "powertrans": "2/3"}  # fmt: skip
ORIGINAL = {"b": 5, "w": 3, "no_periods": 1, "past_weeks_not_included": 3,
            "weights_threshold": 1.0, "p_threshold_trend": 0.05, "alpha": 0.01,
            "threshold_method": "delta"}  # fmt: skip
FARRINGTON = {
    "noufaily_nbPlugin": {**NOUFAILY, "threshold_method": "nbPlugin"},
    "noufaily_muan": {**NOUFAILY, "threshold_method": "muan"},
    "noufaily_delta": {**NOUFAILY, "threshold_method": "delta", "alpha": 0.01},
    "original_delta": {**ORIGINAL, "powertrans": "2/3"},
    "original_sqrt": {**ORIGINAL, "powertrans": "1/2", "b": 3, "alpha": 0.05},
    "original_none": {**ORIGINAL, "powertrans": "none", "b": 4, "w": 2},
}
EARS = {
    "C1_default": ("ears-c1", {}),
    "C2_default": ("ears-c2", {}),
    "C3_default": ("ears-c3", {}),
    "C1_b10": ("ears-c1", {"baseline": 10, "min_sigma": 0.5, "alpha": 0.01}),
    "C2_b10": ("ears-c2", {"baseline": 10, "min_sigma": 0.5, "alpha": 0.01}),
    "C3_b10": ("ears-c3", {"baseline": 10, "min_sigma": 0.5, "alpha": 0.01}),
}


@pytest.fixture(scope="module")
def series() -> pd.DataFrame:
    return pd.read_csv(DATA / "series.csv", keep_default_na=False, na_values=["NA"])


def _inputs(series: pd.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    rows = series[series.series == name]
    dates = None if rows.date.iloc[0] == "" else rows.date.to_numpy().astype("datetime64[D]")
    return rows.observed.to_numpy(float)[None, :], dates


def _rel(ours: np.ndarray, ref: np.ndarray) -> float:
    both = np.isfinite(ours) & np.isfinite(ref)
    assert (np.isnan(ours) == np.isnan(ref)).all()
    scale = np.maximum(np.abs(ref[both]), 1e-12)
    return float(np.max(np.abs(ours[both] - ref[both]) / scale, initial=0.0))


def test_ears_matches_r_on_every_series(series: pd.DataFrame) -> None:
    ref = pd.read_csv(DATA / "ears_reference.csv")
    for (name, config), rows in ref.groupby(["series", "config"]):
        observed, _ = _inputs(series, name)
        method, control = EARS[config]
        d = detect_matrix(observed, method=method, monitored=rows.t.to_numpy(), control=control)
        assert _rel(d.upperbound[0], rows.upperbound.to_numpy(float)) < 1e-9, (name, config)
        np.testing.assert_array_equal(d.alarm[0], rows.alarm.fillna(0).to_numpy() == 1)


@pytest.mark.parametrize("name", INDEXED)
def test_farrington_matches_r_on_indexed_series(series: pd.DataFrame, name: str) -> None:
    ref = pd.read_csv(DATA / "farrington_reference.csv")
    observed, _ = _inputs(series, name)
    for config, control in FARRINGTON.items():
        rows = ref[(ref.series == name) & (ref.config == config)]
        d = detect_matrix(
            observed, method="farrington-flexible", monitored=rows.t.to_numpy(), control=control
        )
        np.testing.assert_array_equal(d.alarm[0], rows.alarm.to_numpy() == 1)
        expected_tol, bound_tol = (
            (1e-6, 1e-12) if "noufaily_" in config and "delta" not in config else (1e-4, 2e-4)
        )
        assert _rel(d.expected[0], rows.expected.to_numpy(float)) < expected_tol, config
        assert _rel(d.upperbound[0], rows.upperbound.to_numpy(float)) < bound_tol, config


def test_first_monitorable_week_matches_r_on_indexed_series(series: pd.DataFrame) -> None:
    first = pd.read_csv(DATA / "farrington_first_t.csv")
    for row in first[first.series.isin(INDEXED)].itertuples():
        observed, _ = _inputs(series, str(row.series))
        t = int(row.first_t)  # type: ignore[call-overload]
        d = detect_matrix(
            observed, method="farrington-flexible", monitored=[t - 1, t],
            control=FARRINGTON[str(row.config)],
        )  # fmt: skip
        assert d.reason[0].tolist()[0] == "not enough history"
        assert d.reason[0, 1] != "not enough history"


@pytest.mark.parametrize("name", DATED)
def test_farrington_close_to_r_on_dated_series(series: pd.DataFrame, name: str) -> None:
    ref = pd.read_csv(DATA / "farrington_reference.csv")
    observed, dates = _inputs(series, name)
    rows = ref[(ref.series == name) & (ref.config == "noufaily_nbPlugin")]
    d = detect_matrix(
        observed, method="farrington-flexible", monitored=rows.t.to_numpy(), dates=dates,
        control=FARRINGTON["noufaily_nbPlugin"],
    )  # fmt: skip
    agree = np.mean(d.alarm[0] == (rows.alarm.to_numpy() == 1))
    assert agree >= 0.98
    ratio = d.expected[0] / rows.expected.to_numpy(float)
    assert np.nanmedian(np.abs(ratio - 1)) < 0.05
