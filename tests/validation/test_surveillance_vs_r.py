"""Detectors against R ``surveillance`` 1.20.3 outputs on real series R ships.

The reference CSVs were written by ``tests/data/surveillance/make_surveillance_reference.R``
(R is not needed here). On every shipped series, dated (reference weeks chosen by date, as
R with ``epochAsDate=TRUE``) and indexed (52-week years), and in every setting (Noufaily
``nbPlugin``, ``muan`` and ``delta``; the original 1996 settings with the three power
transforms): Farrington expected values, upper bounds and scores to 1e-6 relative, alarms
exactly; EARS bounds to 1e-9; CUSUM bounds to 1e-9 and alarms exactly. (The measured
agreement is about 1e-13: the batched fits stop at the same IRLS iterate as R's ``glm``.)
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


@pytest.fixture(scope="module")
def farrington_ref() -> pd.DataFrame:
    return pd.read_csv(DATA / "farrington_reference.csv")


def _inputs(series: pd.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    rows = series[series.series == name]
    dates = None if rows.date.iloc[0] == "" else rows.date.to_numpy().astype("datetime64[D]")
    return rows.observed.to_numpy(float)[None, :], dates


def _rel(ours: np.ndarray, ref: np.ndarray) -> float:
    """Largest relative difference; both must be undefined (NaN) at the same weeks."""
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    both = np.isfinite(ref)
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


@pytest.mark.parametrize("name", INDEXED + DATED)
def test_farrington_matches_r_in_every_setting(
    series: pd.DataFrame, farrington_ref: pd.DataFrame, name: str
) -> None:
    observed, dates = _inputs(series, name)
    for config, control in FARRINGTON.items():
        rows = farrington_ref[(farrington_ref.series == name) & (farrington_ref.config == config)]
        d = detect_matrix(
            observed, method="farrington-flexible", monitored=rows.t.to_numpy(), dates=dates,
            control=control,
        )  # fmt: skip
        where = (name, config)
        np.testing.assert_array_equal(d.alarm[0], rows.alarm.to_numpy() == 1, err_msg=str(where))
        assert _rel(d.expected[0], rows.expected.to_numpy(float)) < 1e-6, where
        assert _rel(d.upperbound[0], rows.upperbound.to_numpy(float)) < 1e-6, where
        # R reports the score also for weeks silenced by the limit54 rule.
        assert _rel(d.score[0], rows.score.to_numpy(float)) < 1e-6, where


def test_original_farrington_method_is_the_original_settings(
    series: pd.DataFrame, farrington_ref: pd.DataFrame
) -> None:
    observed, _ = _inputs(series, "shadar")
    rows = farrington_ref[
        (farrington_ref.series == "shadar") & (farrington_ref.config == "original_delta")
    ]
    d = detect_matrix(
        observed, method="farrington", monitored=rows.t.to_numpy(),
        control={"alpha": 0.01, "past_weeks_not_included": 3},
    )  # fmt: skip
    assert _rel(d.upperbound[0], rows.upperbound.to_numpy(float)) < 1e-6


def test_first_monitorable_week_matches_r(series: pd.DataFrame) -> None:
    first = pd.read_csv(DATA / "farrington_first_t.csv")
    for row in first.itertuples():
        observed, dates = _inputs(series, str(row.series))
        t = int(row.first_t)
        d = detect_matrix(
            observed, method="farrington-flexible", monitored=[t - 1, t], dates=dates,
            control=FARRINGTON[str(row.config)],
        )  # fmt: skip
        assert d.reason[0].tolist()[0] == "not enough history", (row.series, row.config)
        assert d.reason[0, 1] != "not enough history", (row.series, row.config)


def test_cusum_matches_r_on_every_series(series: pd.DataFrame) -> None:
    ref = pd.read_csv(DATA / "cusum_reference.csv")
    for (name, config), rows in ref.groupby(["series", "config"]):
        observed, _ = _inputs(series, name)
        control: dict[str, object] = {"trans": str(config).removesuffix("_m")}
        if config == "standard_m":
            control.update(k=0.5, h=4.0, m=float(rows.m.iloc[0]))
        d = detect_matrix(observed, method="cusum", monitored=rows.t.to_numpy(), control=control)
        assert _rel(d.expected[0], rows.m.to_numpy(float)) < 1e-12, (name, config)
        assert _rel(d.upperbound[0], rows.upperbound.to_numpy(float)) < 1e-9, (name, config)
        np.testing.assert_array_equal(d.alarm[0], rows.alarm.to_numpy() == 1)
