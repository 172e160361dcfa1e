"""Hybrid glucose forecasting on a small simulated cohort, split by patient.

Nine simglucose patients (three of each age group) live one day of the "snacks" scenario
under basal-bolus therapy with an imperfectly calibrated twin alongside; six train the
learners and three are held out. Measured on the held-out points (ridge regressor,
seed 0): RMSE at 30 / 60 min is about 27 / 35 mg/dL for the mechanistic twin, 20.5 / 30.4
for the hybrid and 22 / 34 for the pure-ML forecaster, so the hybrid is better, not only
no worse.
"""

from __future__ import annotations

import numpy as np
import pytest

from healthtwin.coupling.closed_loop import run_closed_loop
from healthtwin.coupling.glucose_scenarios import scenario
from healthtwin.coupling.hybrid_forecasting import (
    FEATURE_NAMES,
    ForecastDataset,
    collect_forecasts,
    compare_forecasters,
)
from healthtwin.coupling.twin_forecasts import BIASED_PARAMETERS, biased_patients
from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.physiology.patients import cohort_names, load_patients
from healthtwin.prognosis.glucose_metrics import forecast_accuracy

TRAIN = ("adolescent#001", "adult#001", "child#001", "adolescent#002", "adult#002", "child#002")
TEST = ("adolescent#003", "adult#003", "child#003")


@pytest.fixture(scope="module")
def dataset() -> ForecastDataset:
    return collect_forecasts(load_patients([*TRAIN, *TEST]), scenario="snacks", days=1)


def test_points_are_device_data_aligned_with_the_truth(dataset: ForecastDataset) -> None:
    # The twin only watches: an independent run of the same loop gives the same traces.
    run = run_closed_loop("basal-bolus", load_patients([*TRAIN, *TEST]), scenario("snacks"))
    row = np.array([run.patients.index(p) for p in dataset.patient])
    k = np.round(dataset.t_min / 5.0).astype(int)
    np.testing.assert_array_equal(dataset.features[:, 0], run.cgm_mg_dl[row, k])
    for j, h in enumerate(dataset.horizons_min):
        np.testing.assert_array_equal(dataset.cgm_mg_dl[:, j], run.cgm_mg_dl[row, k + int(h / 5)])
        np.testing.assert_array_equal(dataset.plasma_mg_dl[:, j], run.bg_mg_dl[row, k + int(h / 5)])
    slope_15 = (run.cgm_mg_dl[row, k] - run.cgm_mg_dl[row, k - 3]) / 15.0
    np.testing.assert_allclose(dataset.features[:, FEATURE_NAMES.index("slope_15_min")], slope_15)
    assert dataset.t_min.min() >= 120.0
    assert np.all(dataset.t_min % 15.0 == 0.0)
    assert dataset.n_points == 9 * (1440 - 120 - 60) // 15  # every 15 min to the last hour


def test_the_twin_forecasts_sensibly(dataset: ForecastDataset) -> None:
    last_cgm = dataset.features[:, 0]
    rmse = {}
    for j in range(2):
        mech, cgm = dataset.mechanistic_mg_dl[:, j], dataset.cgm_mg_dl[:, j]
        rmse[j] = forecast_accuracy(cgm, mech).rmse_mg_dl
        assert rmse[j] < 0.9 * cgm.std()  # better than forecasting the mean
        assert np.corrcoef(mech, cgm)[0, 1] > 0.6
    assert rmse[0] < rmse[1]  # longer horizons are harder
    # an hour ahead, the twin beats carrying the last reading forward
    assert rmse[1] < forecast_accuracy(dataset.cgm_mg_dl[:, 1], last_cgm).rmse_mg_dl


def test_hybrid_beats_the_mechanistic_twin_on_held_out_patients(
    dataset: ForecastDataset,
) -> None:
    train, test = dataset.subset(TRAIN), dataset.subset(TEST)
    assert set(train.patient).isdisjoint(test.patient)
    result = compare_forecasters(train, test, regressor="ridge")
    for j, h in enumerate(test.horizons_min):
        scores = result[h]
        # all three forecasters are scored on the same held-out points
        assert {a.n_pairs for a in scores.values()} == {test.n_points}
        direct = forecast_accuracy(test.cgm_mg_dl[:, j], test.mechanistic_mg_dl[:, j])
        assert scores["mechanistic"] == direct
        assert scores["hybrid"].rmse_mg_dl <= scores["mechanistic"].rmse_mg_dl  # not worse
        assert scores["hybrid"].rmse_mg_dl < 0.95 * scores["mechanistic"].rmse_mg_dl  # better
        assert scores["hybrid"].rmse_mg_dl < scores["ml"].rmse_mg_dl


def test_scoring_against_true_plasma_glucose(dataset: ForecastDataset) -> None:
    result = compare_forecasters(
        dataset.subset(TRAIN), dataset.subset(TEST), regressor="ridge", reference="plasma"
    )
    test = dataset.subset(TEST)
    expected = forecast_accuracy(test.plasma_mg_dl[:, 1], test.mechanistic_mg_dl[:, 1])
    assert result[60.0]["mechanistic"] == expected


def test_calibration_error_is_per_patient_and_has_the_asked_spread() -> None:
    rows = load_patients(list(cohort_names()))
    biased = biased_patients(rows, 0.2)
    log_factors = np.log(
        [
            float(getattr(b.params, name)[0] / getattr(r.params, name)[0])
            for r, b in zip(rows, biased, strict=True)
            for name in BIASED_PARAMETERS
        ]
    )
    assert 0.14 < log_factors.std() < 0.26  # sigma = sqrt(log(1 + 0.2^2)) = 0.198
    alone = biased_patients(rows[5:6], 0.2)[0]
    # the same error in any cohort
    np.testing.assert_array_equal(alone.params.to_matrix(), biased[5].params.to_matrix())
    unbiased = biased_patients(rows[:1], 0.0)[0]
    np.testing.assert_array_equal(unbiased.params.to_matrix(), rows[0].params.to_matrix())


def test_bad_settings_say_what_to_change(dataset: ForecastDataset) -> None:
    rows = load_patients(["adult#001"])
    with pytest.raises(InvalidParameterError, match=r"multiples of the 5\.0-min"):
        collect_forecasts(rows, horizons_min=(32.0,))
    with pytest.raises(InvalidParameterError, match="warmup"):
        collect_forecasts(rows, warmup_min=1400.0)
    with pytest.raises(InvalidInputError, match="choose from"):
        dataset.subset(["adult#009"])
    with pytest.raises(InvalidParameterError, match="reference"):
        compare_forecasters(dataset, dataset, reference="venous")
