"""A FHIR bundle in, a synced twin, its forecast out as FHIR with provenance."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from fhir.resources.R4B.bundle import Bundle

from healthtwin.coupling.record_twins import sync_from_records
from healthtwin.coupling.twin_fhir import forecast_resources
from healthtwin.errors import InvalidInputError
from healthtwin.interop.fhir_bundle import bundle_to_patients, patients_to_bundle
from healthtwin.interop.fhir_checks import validate_resource
from healthtwin.interop.fhir_json import dump_resource, parse_resource

from .test_record_twins import TRUE_SI, _glucose_patient

ISSUED = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def synced_from_bundle() -> tuple[object, object, object]:
    bundle = patients_to_bundle([_glucose_patient(hours=6)])
    wire = json.dumps(dump_resource(bundle))
    parsed = parse_resource(wire)
    assert isinstance(parsed, Bundle)
    [data] = bundle_to_patients(parsed)
    synced, readings = sync_from_records(
        data, prior_patient="nominal-adult", horizons=(30.0,), members=48
    )
    return data, synced, readings


def test_twin_built_from_a_bundle_learns_the_patient(synced_from_bundle: tuple) -> None:
    data, synced, readings = synced_from_bundle
    assert readings.series.times.size == 72
    assert len(readings.basis) == 72
    p50 = synced.report.parameters[-1, 0, 1] / synced.nominal[0]
    assert abs(p50 - TRUE_SI) < 0.15
    assert data.medications  # insulin boluses survived the FHIR round trip


def test_forecast_goes_out_as_checked_fhir_with_provenance(synced_from_bundle: tuple) -> None:
    data, synced, readings = synced_from_bundle
    resources = forecast_resources(
        synced, readings, data.patient.id, horizon_min=60, step_min=15, issued=ISSUED
    )
    observations = [r for r in resources if r["resourceType"] == "Observation"]
    [prov] = [r for r in resources if r["resourceType"] == "Provenance"]
    assert len(observations) == 4  # 15, 30, 45, 60 min ahead
    for resource in resources:
        validate_resource(parse_resource(resource))
    first = observations[0]
    assert first["status"] == "preliminary"
    assert first["code"]["coding"][0]["code"] == "99504-3"
    assert first["subject"]["reference"] == f"Patient/{data.patient.id}"
    median = first["valueQuantity"]["value"]
    low, high = (c["valueQuantity"]["value"] for c in first["component"])
    assert low <= median <= high
    last_reading = readings.series.values[-1, 0]
    assert abs(median - last_reading) < 40.0
    assert {e["what"]["reference"] for e in prov["entity"]} == set(readings.basis)
    assert sorted(t["reference"] for t in prov["target"]) == sorted(
        f"Observation/{o['id']}" for o in observations
    )
    times = [datetime.fromisoformat(o["effectiveDateTime"]) for o in observations]
    gaps = {(b - a).total_seconds() for a, b in pairwise(times)}
    assert gaps == {900.0}
    assert times[0] == readings.origin + timedelta(minutes=float(readings.series.times[-1]) + 15)


def test_bad_forecast_grid_is_refused(synced_from_bundle: tuple) -> None:
    data, synced, readings = synced_from_bundle
    with pytest.raises(InvalidInputError, match="step_min"):
        forecast_resources(synced, readings, data.patient.id, horizon_min=10, step_min=15)
