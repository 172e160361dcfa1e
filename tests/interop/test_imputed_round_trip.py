"""Imputed readings survive FHIR: written flagged, read back apart with value and variance."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation
from hypothesis import given, settings
from hypothesis import strategies as st

from healthtwin.errors import InvalidInputError, ResourceValidationError
from healthtwin.interop.codes import LOINC
from healthtwin.interop.fhir_bundle import bundle_to_patients, patients_to_bundle
from healthtwin.interop.fhir_imputed import IMPUTATION_URL, IMPUTED_TAG, is_imputed
from healthtwin.interop.fhir_json import build_resource, parse_resource
from healthtwin.interop.fhir_records import (
    observation_from_record,
    observation_json,
    observation_to_record,
)
from healthtwin.interop.records import (
    Coding,
    Imputation,
    ObservationRecord,
    PatientData,
    PatientRecord,
)
from healthtwin.synthetic.fhir_output import gap_fill_observations

T0 = datetime(2025, 3, 1, 6, tzinfo=UTC)
CGM = Coding(system=LOINC, code="99504-3")


def _reading(i: int, value: float, imputation: Imputation | None = None) -> ObservationRecord:
    return ObservationRecord(
        id=f"g{i}", patient_id="p1", code=CGM, effective=T0 + timedelta(minutes=5 * i),
        value=value, unit="mg/dL", status="preliminary" if imputation else "final",
        category="laboratory", imputation=imputation,
    )  # fmt: skip


def _through_json(data: list[PatientData]) -> list[PatientData]:
    text = patients_to_bundle(data).model_dump_json(by_alias=True, exclude_none=True)
    return bundle_to_patients(parse_resource(text))


def test_imputed_readings_come_back_flagged_with_their_variance_apart_from_measured() -> None:
    rng = np.random.default_rng(3)
    measured = tuple(_reading(i, float(v)) for i, v in enumerate(rng.uniform(70, 250, 6)))
    imputed = tuple(
        _reading(
            10 + i,
            float(v),
            Imputation(
                variance=float(var),
                lower=float(v - 30.123456789),
                upper=float(v + 29.9),
                level=0.9,
                method="healthtwin-cgm-gap-smoother/1",
            ),
        )
        for i, (v, var) in enumerate(
            zip(rng.uniform(70, 250, 4), rng.uniform(1, 900, 4), strict=True)
        )
    )
    data = PatientData(
        patient=PatientRecord(id="p1"), observations=measured, imputed_observations=imputed
    )
    [back] = _through_json([data])
    assert back == data  # every field, exactly
    assert not any(o.imputed for o in back.observations)
    assert all(o.imputed for o in back.imputed_observations)
    for before, after in zip(imputed, back.imputed_observations, strict=True):
        assert before.imputation is not None
        assert after.imputation is not None
        assert after.value == pytest.approx(before.value, abs=1e-9)
        assert after.imputation.variance == pytest.approx(before.imputation.variance, abs=1e-9)
        assert (after.imputation.lower, after.imputation.upper) == (
            before.imputation.lower,
            before.imputation.upper,
        )
    assert "unmapped" not in back.extra  # no longer dropped as "Observation:forecast"


def test_gap_fill_observations_read_back_as_the_fill() -> None:
    from healthtwin.synthetic import CgmGapFill

    mean = np.array([[120.0, 131.25, 140.5, 150.0]])
    fill = CgmGapFill(
        filled_mg_dl=mean, imputed=np.array([[False, True, True, False]]), mean_mg_dl=mean,
        variance_mg_dl2=np.array([[0.0, 81.5, 144.0625, 0.0]]),
        lower_mg_dl=mean - 20.0, upper_mg_dl=mean + 21.0, level=0.8,
    )  # fmt: skip
    written = gap_fill_observations("p1", T0, fill, [0.0, 5.0, 10.0, 15.0])
    bundle = build_resource(
        Bundle,
        {"type": "collection", "entry": [
            {"resource": {"resourceType": "Patient", "id": "p1"}},
            *({"resource": json.loads(o.model_dump_json(by_alias=True, exclude_none=True))}
              for o in written)]},
    )  # fmt: skip
    [back] = bundle_to_patients(bundle)
    assert back.observations == ()
    got = back.imputed_observations
    assert [o.effective for o in got] == [T0 + timedelta(minutes=5), T0 + timedelta(minutes=10)]
    assert [o.value for o in got] == [131.25, 140.5]
    assert [o.imputation.variance for o in got if o.imputation] == [81.5, 144.0625]
    assert [o.imputation.level for o in got if o.imputation] == [0.8, 0.8]
    assert all(is_imputed(o) for o in written)


def test_the_bulk_json_of_an_imputed_reading_is_its_validated_dump() -> None:
    record = _reading(1, 111.0, Imputation(variance=4.0, lower=100.0, upper=120.0, level=0.5))
    data = observation_json(record)
    assert data == json.loads(
        observation_from_record(record).model_dump_json(by_alias=True, exclude_none=True)
    )
    tags = data["meta"]["tag"]
    assert {"system": IMPUTED_TAG.system, "code": IMPUTED_TAG.code} in tags


def test_a_tagged_reading_without_its_extension_is_refused_with_its_path() -> None:
    record = _reading(1, 111.0, Imputation(variance=4.0, lower=100.0, upper=120.0, level=0.5))
    data = observation_json(record)
    del data["extension"]
    with pytest.raises(ResourceValidationError, match=IMPUTATION_URL) as err:
        observation_to_record(build_resource(Observation, data))
    assert err.value.issues[0].path == "Observation.extension"
    data = observation_json(record)
    data["extension"][0]["extension"] = data["extension"][0]["extension"][:2]
    with pytest.raises(ResourceValidationError, match=r"lacks \['high', 'level'\]"):
        observation_to_record(build_resource(Observation, data))


def test_an_imputation_must_be_a_band_with_a_level() -> None:
    with pytest.raises(InvalidInputError, match="lower <= upper"):
        Imputation(variance=1.0, lower=5.0, upper=4.0, level=0.9)
    with pytest.raises(InvalidInputError, match="variance >= 0"):
        Imputation(variance=-1.0, lower=1.0, upper=4.0, level=0.9)
    with pytest.raises(InvalidInputError, match="finite"):
        Imputation(variance=float("nan"), lower=1.0, upper=4.0, level=0.9)


@settings(max_examples=40, deadline=None)
@given(
    value=st.floats(39.0, 600.0),
    variance=st.floats(0.0, 1e4),
    half=st.floats(0.0, 300.0),
    level=st.floats(0.01, 0.99),
)
def test_any_imputed_reading_round_trips_to_1e_9(
    value: float, variance: float, half: float, level: float
) -> None:
    imputation = Imputation(variance=variance, lower=value - half, upper=value + half, level=level)
    data = PatientData(
        patient=PatientRecord(id="p1"), imputed_observations=(_reading(0, value, imputation),)
    )
    [back] = _through_json([data])
    [after] = back.imputed_observations
    assert after.imputation is not None
    assert abs(after.imputation.variance - variance) <= 1e-9
    assert abs(after.imputation.lower - (value - half)) <= 1e-9
    assert abs(after.imputation.level - level) <= 1e-9
    assert after.value is not None
    assert abs(after.value - value) <= 1e-9
