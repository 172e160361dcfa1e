"""Synthetic patients as FHIR R4 Bundles: valid, flagged synthetic, and readable back."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from fhir.resources.R4B.bundle import Bundle

from healthtwin.interop.fhir_bundle import bundle_to_patients, patients_to_bundle
from healthtwin.interop.fhir_imputed import IMPUTATION_URL
from healthtwin.interop.records import PatientData, PatientRecord
from healthtwin.synthetic import CgmGapFill
from healthtwin.synthetic.demographics import sample_demographics
from healthtwin.synthetic.fhir_output import (
    IMPUTED_TAG,
    SYNTHETIC_TAG,
    gap_fill_observations,
    is_flagged_synthetic,
    synthetic_bundle,
)
from healthtwin.synthetic.longitudinal import (
    LongitudinalConfig,
    SyntheticPatient,
    generate_patients,
)


@pytest.fixture(scope="module")
def patients() -> tuple[SyntheticPatient, ...]:
    demo = sample_demographics(4, np.random.default_rng(2), diabetes_prevalence=0.5)
    config = LongitudinalConfig(follow_up_days=60.0, cgm_days=1, dropout_start_probability=0.02)
    pats = generate_patients(demo, config=config, seed=3)
    first = pats[0]
    last_end = max(e.end for e in first.data.encounters if e.end is not None)
    return (dataclasses.replace(first, deceased=last_end + timedelta(days=2)), *pats[1:])


def test_bundle_parses_with_fhir_resources_and_every_resource_is_tagged(
    patients: tuple[SyntheticPatient, ...],
) -> None:
    bundle = synthetic_bundle(patients)
    text = bundle.model_dump_json(by_alias=True, exclude_none=True)
    reparsed = Bundle.model_validate_json(text)  # the library's own validation, from JSON
    assert reparsed.entry is not None
    assert len(reparsed.entry) == sum(
        1
        + len(p.data.encounters)
        + len(p.data.conditions)
        + len(p.data.observations)
        + len(p.data.medications)
        for p in patients
    )
    raw = json.loads(text)
    assert {
        "system": SYNTHETIC_TAG["system"],
        "code": "HTEST",
        "display": "test health data",
    } in raw["meta"]["tag"]
    for entry in raw["entry"]:
        meta = entry["resource"]["meta"]
        assert any(t["code"] == "HTEST" for t in meta["tag"])
        assert any(s["code"] == "HTEST" for s in meta["security"])
    assert all(is_flagged_synthetic(e.resource) for e in reparsed.entry)


def test_references_resolve_inside_the_bundle(patients: tuple[SyntheticPatient, ...]) -> None:
    raw = json.loads(synthetic_bundle(patients).model_dump_json(by_alias=True, exclude_none=True))
    present = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in raw["entry"]}
    for entry in raw["entry"]:
        resource = entry["resource"]
        for key in ("subject", "encounter", "context"):
            ref = resource.get(key, {}).get("reference")
            if ref is not None:
                assert ref in present, f"{resource['resourceType']}/{resource['id']} -> {ref}"


def test_bundle_reads_back_into_the_same_records(patients: tuple[SyntheticPatient, ...]) -> None:
    back = bundle_to_patients(synthetic_bundle(patients, "transaction"))
    by_id = {d.patient.id: d for d in back}
    for p in patients:
        got = by_id[p.data.patient.id]
        assert got.observations == p.data.observations
        assert got.encounters == p.data.encounters
        assert got.conditions == p.data.conditions
        assert len(got.medications) == len(p.data.medications)


def test_deceased_patient_carries_the_time_of_death(
    patients: tuple[SyntheticPatient, ...],
) -> None:
    raw = json.loads(synthetic_bundle(patients).model_dump_json(by_alias=True, exclude_none=True))
    people = {
        e["resource"]["id"]: e["resource"]
        for e in raw["entry"]
        if e["resource"]["resourceType"] == "Patient"
    }
    dead = patients[0]
    assert dead.deceased is not None
    assert people[dead.data.patient.id]["deceasedDateTime"].startswith(
        dead.deceased.date().isoformat()
    )
    assert all("deceasedDateTime" not in people[p.data.patient.id] for p in patients[1:])


def test_untagged_resources_are_not_reported_as_synthetic() -> None:
    assert not is_flagged_synthetic({"resourceType": "Patient", "id": "p"})
    assert not is_flagged_synthetic(
        {"resourceType": "Patient", "meta": {"tag": [{"system": "x", "code": "HTEST"}]}}
    )


def test_gap_filled_values_are_flagged_and_carry_their_band() -> None:
    fill = CgmGapFill(
        filled_mg_dl=np.array([[120.0, 131.0, 142.0, 150.0]]),
        imputed=np.array([[False, True, True, False]]),
        mean_mg_dl=np.array([[120.0, 131.0, 142.0, 150.0]]),
        variance_mg_dl2=np.array([[0.0, 90.0, 140.0, 0.0]]),
        lower_mg_dl=np.array([[0.0, 115.0, 122.0, 0.0]]),
        upper_mg_dl=np.array([[0.0, 147.0, 161.0, 0.0]]),
        level=0.9,
    )
    start = datetime(2025, 3, 1, tzinfo=UTC)
    written = gap_fill_observations("synthetic-1", start, fill, [0.0, 5.0, 10.0, 15.0])
    assert len(written) == 2
    raw = [o.model_dump(mode="json", by_alias=True, exclude_none=True) for o in written]
    assert [r["valueQuantity"]["value"] for r in raw] == [131.0, 142.0]
    assert [r["effectiveDateTime"][11:16] for r in raw] == ["00:05", "00:10"]
    for r in raw:
        assert IMPUTED_TAG in r["meta"]["tag"]
        assert r["status"] == "preliminary"
        assert r["extension"][0]["url"] == IMPUTATION_URL
    parts = raw[1]["extension"][0]["extension"]
    assert [p["valueDecimal"] for p in parts[:4]] == [140.0, 122.0, 161.0, 0.9]
    # A bundle reader never takes them for measurements.
    patient = PatientData(patient=PatientRecord(id="synthetic-1"))
    bundle = patients_to_bundle([patient], check=False)
    data = bundle.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["entry"] += [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in raw]
    (back,) = bundle_to_patients(Bundle.model_validate(data))
    assert back.observations == ()
    assert [o.imputation.variance for o in back.imputed_observations if o.imputation] == [
        90.0,
        140.0,
    ]
    assert "unmapped" not in back.extra
