"""Patient twins built from health records: readings, inputs, and a recovered parameter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from healthtwin.coupling.record_twins import readings_from_records, sync_from_records
from healthtwin.errors import InvalidInputError
from healthtwin.interop.codes import LOINC, RXNORM
from healthtwin.interop.records import (
    Coding,
    MedicationRecord,
    ObservationComponent,
    ObservationRecord,
    PatientData,
    PatientRecord,
)
from healthtwin.physiology import Meal, UvaPadova, load_patient, meal_plan_inputs
from healthtwin.physiology.hovorka import MG_DL_PER_MMOL_L

START = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
TRUE_SI = 1.3


def _obs(i: int, code: str, value: float, unit: str, minute: float) -> ObservationRecord:
    return ObservationRecord(
        id=f"o{i}",
        patient_id="p1",
        code=Coding(system=LOINC, code=code),
        value=value,
        unit=unit,
        effective=START + timedelta(minutes=minute),
    )


def _glucose_patient(hours: int = 8) -> PatientData:
    """A simulated day: CGM in mmol/L, two meals with boluses, steady basal."""
    patient = load_patient("nominal-adult")
    model = UvaPadova([patient])
    rng = np.random.default_rng(7)
    state = model.initial_state(1, rng)
    theta = np.array(state.theta)
    theta[:, UvaPadova.parameter_index("Vmx")] *= TRUE_SI
    state = type(state)(
        state.x,
        theta,
        state.planned_meal_g,
        state.cho_g_per_min,
        state.meal_start_stomach_mg,
        state.meal_eaten_g,
    )
    meals = [Meal(60, 60), Meal(300, 70)]
    plan = meal_plan_inputs(
        meals, np.array([patient.basal_u_per_min]), np.array([patient.carb_ratio_g_per_u])
    )
    observations = [_obs(1000 + m.t_min, "9059-7", m.carbs_g, "g", m.t_min) for m in meals]
    t_prev = 0
    for t in range(5, hours * 60 + 1, 5):
        state = model.advance(state, t_prev, t, plan, rng)
        t_prev = t
        mg_dl = model.observe(state)[0, 0] + rng.normal(0, 8)
        observations.append(_obs(t, "105272-9", mg_dl / MG_DL_PER_MMOL_L, "mmol/L", t))
    insulin = Coding(system=RXNORM, code="5856", display="insulin")
    boluses = tuple(
        MedicationRecord(
            id=f"m{m.t_min}",
            patient_id="p1",
            kind="administration",
            medication=insulin,
            start=START + timedelta(minutes=m.t_min),
            dose=m.carbs_g / patient.carb_ratio_g_per_u,
            dose_unit="U",
        )
        for m in meals
    )
    return PatientData(
        patient=PatientRecord(id="p1"), observations=tuple(observations), medications=boluses
    )


def test_cgm_records_recover_insulin_sensitivity() -> None:
    data = _glucose_patient()
    synced, readings = sync_from_records(
        data, prior_patient="nominal-adult", estimate=("si",), horizons=(30.0,)
    )
    assert readings.observed == ("glucose_mg_dl",)
    assert readings.series.times[0] == 0.0
    assert readings.origin == START + timedelta(minutes=5)
    p5, p50, p95, _ = synced.report.parameters[-1, 0] / synced.nominal[0]
    width = p95 - p5
    assert p5 - width <= TRUE_SI <= p95 + width  # within about 2 posterior SD, as patient sync
    assert abs(p50 - TRUE_SI) < 0.1
    assert width < 0.3 * 3.29  # narrower than the prior's 90 % interval
    tracked = synced.report.filtered[-24:, 0, 1]
    assert np.sqrt(np.mean((tracked - readings.series.values[-24:, 0]) ** 2)) < 15.0


def test_vitals_panels_become_circulation_readings() -> None:
    panel = ObservationRecord(
        id="bp",
        patient_id="p1",
        code=Coding(system=LOINC, code="85354-9"),
        effective=START,
        components=(
            ObservationComponent(
                code=Coding(system=LOINC, code="8480-6"), value=118, unit="mm[Hg]"
            ),
            ObservationComponent(code=Coding(system=LOINC, code="8462-4"), value=78, unit="mm[Hg]"),
        ),
    )
    data = PatientData(
        patient=PatientRecord(id="p1"),
        observations=(
            panel,
            _obs(1, "8867-4", 72.0, "/min", 0.0),
            _obs(2, "8867-4", 80.0, "/min", 5.0),
            _obs(3, "8310-5", 37.0, "Cel", 5.0),
        ),
    )
    readings = readings_from_records(data, "cvs-smith")
    assert readings.observed == ("heart_rate_bpm", "sbp_mmhg", "dbp_mmhg")
    np.testing.assert_array_equal(readings.series.times, [0.0, 5.0])
    np.testing.assert_array_equal(
        readings.series.values, [[72.0, 118.0, 78.0], [80.0, np.nan, np.nan]]
    )
    assert readings.ignored == {"Observation 8310-5": 1}


def test_record_problems_are_named() -> None:
    patient = PatientRecord(id="p1")
    wrong_unit = PatientData(patient=patient, observations=(_obs(1, "2345-7", 5.5, "mmol/L", 0),))
    with pytest.raises(InvalidInputError, match="o1: code 2345-7 needs 'mg/dL'"):
        readings_from_records(wrong_unit, "uva-padova")
    twice = PatientData(
        patient=patient,
        observations=(_obs(1, "99504-3", 100, "mg/dL", 0), _obs(2, "105272-9", 5.5, "mmol/L", 0)),
    )
    with pytest.raises(InvalidInputError, match="o1 and o2 both give glucose_mg_dl"):
        readings_from_records(twice, "uva-padova")
    with pytest.raises(InvalidInputError, match="no readings for a cvs-smith twin"):
        readings_from_records(twice, "cvs-smith")
    with pytest.raises(InvalidInputError, match="not 'hospital'"):
        readings_from_records(twice, "hospital")
