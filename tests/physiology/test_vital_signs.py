"""Bedside vital signs from model outputs, and NEWS2 from a circulation twin."""

from __future__ import annotations

import numpy as np
import pytest

from healthtwin.errors import InvalidInputError, InvalidParameterError, UnknownModelError
from healthtwin.physiology.registry import make_model, make_scenario
from healthtwin.physiology.scores import News2Band, news2
from healthtwin.physiology.vital_signs import (
    NIBP_SYSTOLIC,
    VitalSensor,
    VitalSignsObservation,
    vital_signs_for,
    vitals_for_news2,
)

ASSUMED = {
    "respiratory_rate_per_min": 16,
    "spo2_percent": 97,
    "temperature_c": 37.0,
    "consciousness": "A",
    "on_oxygen": False,
}


@pytest.fixture(scope="module")
def nominal() -> tuple[object, object]:
    model = make_model("cvs-smith")
    return model, model.initial_state(1, np.random.default_rng(0))


def test_predictions_are_the_model_outputs(nominal: tuple[object, object]) -> None:
    model, state = nominal
    monitor = vital_signs_for(model)  # type: ignore[arg-type]
    outputs = dict(zip(model.outputs, model.observe(state)[0], strict=True))  # type: ignore[attr-defined]
    np.testing.assert_allclose(
        monitor.predict(state)[0],
        [outputs["heart_rate_bpm"], outputs["sbp_mmhg"], outputs["map_mmhg"]],
    )


def test_measurement_noise_has_the_stated_spread(nominal: tuple[object, object]) -> None:
    model, state = nominal
    monitor = VitalSignsObservation(model, [NIBP_SYSTOLIC])  # type: ignore[arg-type]
    many = state.repeat(4000)  # type: ignore[attr-defined]
    readings = monitor.measure(many, np.random.default_rng(3))[:, 0]
    errors = readings - monitor.predict(many)[:, 0]
    # SD 8 mmHg (ISO 81060-2) plus 1-mmHg rounding (variance 1/12): 4000 draws give the
    # sample SD to about 1.2 %; the mean to about 0.13 mmHg.
    assert abs(errors.mean()) < 0.5
    assert errors.std() == pytest.approx(np.sqrt(64 + 1 / 12), rel=0.05)
    assert np.all(readings == np.round(readings))


def test_readings_are_clipped_to_the_device_range(nominal: tuple[object, object]) -> None:
    model, state = nominal
    narrow = VitalSensor("systolic_bp_mm_hg", "sbp_mmhg", 0.0, 1.0, 20.0, 100.0)
    monitor = VitalSignsObservation(model, [narrow])  # type: ignore[arg-type]
    assert monitor.measure(state, np.random.default_rng(0))[0, 0] == 100.0


def test_log_likelihood_peaks_at_the_prediction(nominal: tuple[object, object]) -> None:
    model, state = nominal
    monitor = vital_signs_for(model)  # type: ignore[arg-type]
    centre = monitor.predict(state)[0]
    best = monitor.log_likelihood(state, centre)[0]
    worse = monitor.log_likelihood(state, centre + np.array([5.0, 8.0, 8.0]))[0]
    # Exactly one SD off in every sensor: log density falls by 3/2.
    assert best - worse == pytest.approx(0.5 * (4.0 + 1.0 + 1.0))
    with pytest.raises(InvalidInputError, match="3 finite numbers"):
        monitor.log_likelihood(state, np.array([80.0, 120.0]))


def test_septic_shock_raises_the_news2_band() -> None:
    bands = {}
    for scenario in ("nominal", "septic-shock"):
        model, _ = make_scenario("cvs-smith", scenario)
        state = model.initial_state(1, np.random.default_rng(0))
        monitor = vital_signs_for(model)
        readings = dict(zip(monitor.names, monitor.predict(state).T, strict=True))
        vitals = vitals_for_news2(
            {k: v for k, v in readings.items() if k != "mean_arterial_pressure_mm_hg"}, ASSUMED
        )
        scores = news2(vitals)
        bands[scenario] = (int(scores.systolic_bp[0]), News2Band(int(scores.band[0])))
    assert bands["nominal"] == (0, News2Band.LOW)
    assert bands["septic-shock"][0] == 3  # SBP <= 90 mmHg
    assert bands["septic-shock"][1] > News2Band.LOW


def test_news2_parameters_must_be_measured_or_stated() -> None:
    with pytest.raises(InvalidInputError, match="spo2_percent"):
        vitals_for_news2(
            {"systolic_bp_mm_hg": np.array([120.0])},
            {k: v for k, v in ASSUMED.items() if k != "spo2_percent"},
        )
    with pytest.raises(InvalidInputError, match="both measured and assumed"):
        vitals_for_news2({"spo2_percent": np.array([97.0])}, ASSUMED)


def test_bad_sensors_and_models_are_refused() -> None:
    with pytest.raises(InvalidParameterError, match="noise_sd"):
        VitalSensor("x", "sbp_mmhg", -1.0, 1.0, 0.0, 10.0)
    with pytest.raises(UnknownModelError, match="no output"):
        VitalSignsObservation(make_model("cvs-smith"), [VitalSensor("x", "spo2", 1, 1, 0, 100)])
    with pytest.raises(UnknownModelError, match="cvs-smith"):
        vital_signs_for(make_model("hovorka"))
