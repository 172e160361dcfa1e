"""Longitudinal synthetic patients: records, timelines, twins and missingness."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import numpy as np
import pytest

from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.interop.records import MedicationRecord, ObservationRecord
from healthtwin.synthetic.demographics import demographics_from_table, sample_demographics
from healthtwin.synthetic.longitudinal import (
    HBA1C,
    INSULIN_LISPRO,
    LongitudinalConfig,
    SyntheticPatient,
    adag_hba1c_percent,
    consistency_issues,
    generate_patients,
)
from healthtwin.synthetic.virtual_population import VirtualPopulation, steady_state_ok

CONFIG = LongitudinalConfig(follow_up_days=365.0, cgm_days=2)


@pytest.fixture(scope="module")
def elderly() -> tuple[SyntheticPatient, ...]:
    """Old patients over a year: some die, half are diabetic."""
    demo = sample_demographics(
        24,
        np.random.default_rng(7),
        diabetes_prevalence=0.5,
        age_bins_years=(85.0, 100.0),
        age_weights=(1.0,),
    )
    return generate_patients(demo, config=CONFIG, seed=4)


def test_records_are_consistent_and_some_patients_die(
    elderly: tuple[SyntheticPatient, ...],
) -> None:
    assert consistency_issues(elderly) == []
    dead = [p for p in elderly if p.deceased is not None]
    assert dead, "the fixture should contain deaths to exercise the timeline rule"
    for p in dead:
        assert p.deceased is not None
        assert all(o.effective < p.deceased for o in p.data.observations)
        assert all(e.end is None or e.end <= p.deceased for e in p.data.encounters)


def test_insulin_and_cgm_only_for_diabetics(elderly: tuple[SyntheticPatient, ...]) -> None:
    cgm_code = "99504-3"
    for p in elderly:
        has_cgm = any(o.code.code == cgm_code for o in p.data.observations)
        if p.diabetic:
            assert p.twin is not None
            assert {m.medication.code for m in p.data.medications} <= {INSULIN_LISPRO.code}
        else:
            assert p.twin is None
            assert not p.data.medications
            assert not has_cgm
            assert p.cgm_mg_dl.size == 0
    alive_diabetics = [p for p in elderly if p.diabetic and p.deceased is None]
    assert alive_diabetics
    for p in alive_diabetics:
        readings = [o for o in p.data.observations if o.code.code == cgm_code]
        assert len(readings) == int(np.isfinite(p.cgm_mg_dl).sum()) > 0
        assert p.cgm_t_min.size == CONFIG.cgm_days * 288  # 5-min sensor over 2 days


def test_every_observation_sits_in_its_encounter(elderly: tuple[SyntheticPatient, ...]) -> None:
    for p in elderly:
        encounters = {e.id: e for e in p.data.encounters}
        for o in p.data.observations:
            enc = encounters[o.encounter_id or ""]
            assert enc.start is not None
            assert enc.end is not None
            assert enc.start <= o.effective <= enc.end
            assert o.patient_id == p.data.patient.id == enc.patient_id


def test_hba1c_follows_the_twins_mean_glucose(elderly: tuple[SyntheticPatient, ...]) -> None:
    checked = 0
    for p in elderly:
        if p.twin is None or p.glucose_mg_dl.size == 0:
            continue
        expected = float(adag_hba1c_percent(p.glucose_mg_dl.mean()))
        for o in p.data.observations:
            if o.code.code == HBA1C.code:
                assert o.value is not None
                # 0.3 % lab noise (4 SD) plus the 5-min vs 1-min mean difference.
                assert abs(o.value - expected) < 1.5
                checked += 1
    assert checked > 0


def test_sensor_dropouts_remove_readings_at_the_configured_rate() -> None:
    demo = sample_demographics(16, np.random.default_rng(1), diabetes_prevalence=1.0)
    config = LongitudinalConfig(follow_up_days=30.0, cgm_days=1, dropout_start_probability=0.01)
    pats = generate_patients(demo, config=config, seed=2)
    lost = np.mean([np.isnan(p.cgm_mg_dl).mean() for p in pats if p.cgm_mg_dl.size])
    # Expected: 1 % isolated losses + about 0.01 * 18 / (1 + 0.01 * 18) = 15 % in gaps.
    assert 0.08 < lost < 0.25
    none = dataclasses.replace(config, dropout_start_probability=0.0, reading_loss_probability=0.0)
    clean = generate_patients(demo, config=none, seed=2)
    assert all(np.isfinite(p.cgm_mg_dl).all() for p in clean)


def test_same_seed_same_patients_other_seed_other_patients() -> None:
    demo = sample_demographics(4, np.random.default_rng(3), diabetes_prevalence=0.5)
    config = LongitudinalConfig(follow_up_days=20.0, cgm_days=1)
    a = generate_patients(demo, config=config, seed=5)
    b = generate_patients(demo, config=config, seed=5)
    c = generate_patients(demo, config=config, seed=6)
    assert [p.data for p in a] == [p.data for p in b]
    assert [p.data for p in a] != [p.data for p in c]


def test_consistency_check_catches_broken_records(elderly: tuple[SyntheticPatient, ...]) -> None:
    healthy = next(p for p in elderly if not p.diabetic and p.data.encounters)
    pid = healthy.data.patient.id
    late = ObservationRecord(
        id="late",
        patient_id=pid,
        code=HBA1C,
        effective=healthy.data.encounters[0].start + timedelta(days=400),  # type: ignore[operator]
        value=6.0,
        unit="%",
        encounter_id=healthy.data.encounters[0].id,
    )
    insulin = MedicationRecord(
        id="insulin",
        patient_id=pid,
        kind="request",
        medication=INSULIN_LISPRO,
        start=healthy.data.encounters[0].start,  # type: ignore[arg-type]
    )
    broken = dataclasses.replace(
        healthy,
        data=dataclasses.replace(
            healthy.data,
            observations=(*healthy.data.observations, late),
            medications=(insulin,),
        ),
        deceased=healthy.data.encounters[-1].end + timedelta(days=1),  # type: ignore[operator]
    )
    issues = consistency_issues([broken])
    assert any("outside encounter" in i for i in issues)
    assert any("after the death" in i for i in issues)
    assert any("without diabetes" in i for i in issues)


def test_virtual_population_draws_are_at_steady_state() -> None:
    pats = VirtualPopulation().sample(np.full(40, 75.0), np.random.default_rng(4))
    assert steady_state_ok(pats).all()
    # A subject whose liver constant no longer balances the basal point drifts away.
    bad = pats[0]
    kp1 = np.asarray(bad.params.kp1) * 1.3
    drifting = dataclasses.replace(bad, params=dataclasses.replace(bad.params, kp1=kp1))
    assert steady_state_ok([drifting, pats[1]]).tolist() == [False, True]


def test_population_from_patients_recovers_log_spread() -> None:
    rng = np.random.default_rng(0)
    wide = VirtualPopulation(cv={"Vmx": 0.3})
    pats = wide.sample(np.full(400, 70.0), rng)
    fitted = VirtualPopulation.from_patients(pats)
    assert fitted.cv["Vmx"] == pytest.approx(0.3, abs=0.04)  # SE of a CV at n=400 is ~0.012
    assert fitted.reference["Vmx"] == pytest.approx(0.047, rel=0.06)
    assert fitted.cv["kp3"] == pytest.approx(0.0, abs=1e-9)


def test_demographics_from_a_generator_table() -> None:
    demo = demographics_from_table(
        {
            "age_years": [30.0, 70.0, 55.0],
            "female": [True, False, True],
            "bmi_kg_m2": [22.0, 30.0, 27.0],
            "diabetes": [0, 1, 1],
            "hypertension": [0, 1, 0],
        }
    )
    assert demo.diabetes.tolist() == [False, True, True]
    config = LongitudinalConfig(follow_up_days=30.0, cgm_days=1)
    pats = generate_patients(demo, config=config, seed=0)
    assert [p.diabetic for p in pats] == [False, True, True]
    assert [p.data.patient.gender for p in pats] == ["female", "male", "female"]
    with pytest.raises(InvalidInputError, match="lacks column"):
        demographics_from_table({"age_years": [1.0]})
    with pytest.raises(InvalidInputError, match="unknown sex"):
        demographics_from_table(
            {"age_years": [1.0], "sex": ["x"], "bmi_kg_m2": [20.0], "diabetes": [0]}
        )


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(InvalidParameterError, match="cgm_days"):
        LongitudinalConfig(follow_up_days=2.0, cgm_days=2)
    with pytest.raises(InvalidParameterError, match="probability"):
        sample_demographics(5, np.random.default_rng(0), diabetes_prevalence=1.5)
    with pytest.raises(InvalidParameterError, match="unknown constant"):
        VirtualPopulation(cv={"nope": 0.1})
