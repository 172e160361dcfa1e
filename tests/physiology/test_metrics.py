"""Tests of healthtwin.physiology.metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from healthtwin.errors import InvalidInputError
from healthtwin.physiology.metrics import GlycaemicMetrics, glycaemic_metrics

READINGS = [50.0, 60.0, 100.0, 200.0, 300.0]

# Kovatchev risk r(g) = 10 * f(g)**2 with f(g) = 1.509 * (ln(g)**1.084 - 5.381):
#   g    ln g      (ln g)**1.084  f          r
#   50   3.912023  4.386954      -1.500015  22.500445
#   60   4.094345  4.609012      -1.164929  13.570602
#   100  4.605170  5.235502      -0.219557   0.482051
#   200  5.298317  6.094886       1.077253  11.604748
#   300  5.703782  6.602078       1.842607  33.951988
LBGI = (22.500445 + 13.570602 + 0.482051) / 5  # = 7.3106196
HBGI = (11.604748 + 33.951988) / 5  # = 9.1113472


def test_hand_computed_values_of_five_readings() -> None:
    m = glycaemic_metrics(READINGS)
    assert m.n_valid.tolist() == [5]
    assert m.tbr_54[0] == pytest.approx(20.0)  # 50 -> 1 of 5
    assert m.tbr_70[0] == pytest.approx(40.0)  # 50, 60 -> 2 of 5
    assert m.tir_70_180[0] == pytest.approx(20.0)  # 100 -> 1 of 5
    assert m.tar_180[0] == pytest.approx(40.0)  # 200, 300 -> 2 of 5
    assert m.tar_250[0] == pytest.approx(20.0)  # 300 -> 1 of 5
    assert m.mean[0] == pytest.approx(142.0)  # 710 / 5
    # deviations -92, -82, -42, 58, 158; squares sum to 45280; / (5 - 1) = 11320
    assert m.sd[0] == pytest.approx(106.39548862616309)  # sqrt(11320)
    assert m.cv[0] == pytest.approx(74.92640044095992)  # 100 * 106.3955 / 142
    assert m.gmi[0] == pytest.approx(6.70664)  # 3.31 + 0.02392 * 142
    assert m.lbgi[0] == pytest.approx(LBGI, abs=1e-5)
    assert m.hbgi[0] == pytest.approx(HBGI, abs=1e-5)
    assert m.risk_index[0] == pytest.approx(LBGI + HBGI, abs=1e-5)  # = 16.4219668
    # VLow = 20 (50), Low = 20 (60), High = 20 (200), VHigh = 20 (300)
    assert m.gri_hypo[0] == pytest.approx(36.0)  # 20 + 0.8 * 20
    assert m.gri_hyper[0] == pytest.approx(30.0)  # 20 + 0.5 * 20
    assert m.gri[0] == pytest.approx(100.0)  # 3 * 36 + 1.6 * 30 = 156, capped at 100


def test_gri_below_the_cap_equals_the_weighted_sum() -> None:
    m = glycaemic_metrics([60.0, 100.0, 100.0, 100.0, 200.0])
    # Low = 20, High = 20: hypo = 0.8 * 20 = 16, hyper = 0.5 * 20 = 10
    assert m.gri_hypo[0] == pytest.approx(16.0)
    assert m.gri_hyper[0] == pytest.approx(10.0)
    assert m.gri[0] == pytest.approx(64.0)  # 3 * 16 + 1.6 * 10 = 2.4 * 20 + 0.8 * 20


def test_range_boundaries_follow_the_consensus() -> None:
    m = glycaemic_metrics([53.9, 54.0, 69.9, 70.0, 180.0, 180.1, 250.0, 250.1])
    assert m.tbr_54[0] == pytest.approx(100 / 8)  # only 53.9 is < 54
    assert m.tbr_70[0] == pytest.approx(300 / 8)  # 53.9, 54, 69.9
    assert m.tir_70_180[0] == pytest.approx(200 / 8)  # 70 and 180 are in range
    assert m.tar_180[0] == pytest.approx(300 / 8)  # 180.1, 250, 250.1
    assert m.tar_250[0] == pytest.approx(100 / 8)  # only 250.1 is > 250


def test_lbgi_and_hbgi_average_over_all_readings() -> None:
    m = glycaemic_metrics(READINGS)
    low_only_mean = (22.500445 + 13.570602 + 0.482051) / 3  # mean over the 3 low readings
    assert m.lbgi[0] != pytest.approx(low_only_mean, abs=1e-3)
    assert m.lbgi[0] == pytest.approx(LBGI, abs=1e-5)


def test_risk_index_is_not_the_risk_of_the_mean() -> None:
    m = glycaemic_metrics(READINGS)
    of_mean = glycaemic_metrics([142.0])
    # f(142) = 1.509 * (4.955827**1.084 - 5.381) = 0.434581 > 0, r = 1.888606
    assert of_mean.lbgi[0] == 0.0
    assert of_mean.hbgi[0] == pytest.approx(1.888606, abs=1e-5)
    assert m.lbgi[0] > 7.0  # the 50 and 60 readings carry low risk that the mean hides
    assert m.risk_index[0] == pytest.approx(16.4219668, abs=1e-5)
    assert of_mean.risk_index[0] == pytest.approx(1.888606, abs=1e-5)


def test_vectorized_over_patients_equals_one_by_one() -> None:
    rng = np.random.default_rng(3)
    glucose = rng.uniform(40.0, 400.0, size=(6, 288))
    together = glycaemic_metrics(glucose).to_dict()
    for i in range(glucose.shape[0]):
        alone = glycaemic_metrics(glucose[i]).to_dict()
        for name, values in alone.items():
            np.testing.assert_allclose(together[name][i], values[0], rtol=1e-12, err_msg=name)


def test_nan_readings_are_ignored_and_counted() -> None:
    with_gaps = np.array(
        [
            [50.0, np.nan, 60.0, 100.0, 200.0, np.nan, 300.0],
            [120.0, 130.0, 140.0, np.nan, np.nan, np.nan, np.nan],
        ]
    )
    m = glycaemic_metrics(with_gaps)
    assert m.n_valid.tolist() == [5, 3]
    expected = glycaemic_metrics(READINGS).to_dict()
    for name, values in m.to_dict().items():
        assert values[0] == pytest.approx(expected[name][0]), name
    assert m.mean[1] == pytest.approx(130.0)  # (120 + 130 + 140) / 3
    assert m.sd[1] == pytest.approx(10.0)  # sqrt((100 + 0 + 100) / 2)
    assert m.tir_70_180[1] == pytest.approx(100.0)


def test_a_single_reading_has_undefined_sd_without_a_warning() -> None:
    m = glycaemic_metrics([[100.0, np.nan], [100.0, 110.0]])
    assert math.isnan(m.sd[0])
    assert math.isnan(m.cv[0])
    assert m.mean[0] == 100.0
    assert m.sd[1] == pytest.approx(math.sqrt(50.0))  # (25 + 25) / 1


def test_results_are_read_only_and_tabular() -> None:
    m = glycaemic_metrics([[100.0, 200.0], [60.0, 120.0]])
    assert isinstance(m, GlycaemicMetrics)
    assert len(m) == 2
    with pytest.raises(ValueError, match="read-only"):
        m.gri[0] = 0.0
    columns = m.to_dict()
    assert list(columns)[:3] == ["n_valid", "tir_70_180", "tbr_70"]
    assert all(column.shape == (2,) for column in columns.values())
    rows = m.to_records()
    assert rows[1]["tbr_70"] == pytest.approx(50.0)
    assert rows[0]["n_valid"] == 2.0


@pytest.mark.parametrize(
    ("glucose", "match"),
    [
        ([100.0, 0.0], "at least 1.0 mg/dL, got 0.0"),
        ([100.0, -5.0], "got -5.0 for patient 0 at reading 1"),
        ([[100.0, 0.5]], "check that readings are in mg/dL"),
        (np.ones((2, 2, 2)), r"got shape \(2, 2, 2\)"),
        (np.ones((2, 0)), "no readings"),
        ([[100.0, 110.0], [np.nan, np.nan]], r"patients \[1\] have no valid reading"),
        ([100.0, np.inf], "infinite"),
        (["high", "low"], "must be numeric"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(glucose: object, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        glycaemic_metrics(glucose)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=30),
        elements=st.floats(20.0, 600.0),
    )
)
def test_percentages_partition_the_readings(glucose: np.ndarray) -> None:
    m = glycaemic_metrics(glucose)
    np.testing.assert_allclose(m.tbr_70 + m.tir_70_180 + m.tar_180, 100.0)
    assert np.all(m.tbr_54 <= m.tbr_70)
    assert np.all(m.tar_250 <= m.tar_180)
    assert np.all((m.gri >= 0.0) & (m.gri <= 100.0))
    assert np.all((m.lbgi >= 0.0) & (m.hbgi >= 0.0))
    np.testing.assert_allclose(m.risk_index, m.lbgi + m.hbgi)
