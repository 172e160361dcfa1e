"""Twin outputs as FHIR: forecast Observations, RiskAssessments and their Provenance."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from healthtwin.errors import InvalidInputError, ResourceValidationError
from healthtwin.interop.codes import LOINC, SNOMED
from healthtwin.interop.fhir_checks import check_resource
from healthtwin.interop.fhir_export import (
    FORECAST_QUANTILE_SYSTEM,
    FORECAST_TAG,
    PROBABILITY_INTERVAL_URL,
    forecast_observations,
    provenance,
    risk_assessment,
    risk_assessment_to_record,
)
from healthtwin.interop.fhir_json import dump_resource, parse_resource
from healthtwin.interop.records import Coding, RiskRecord

CGM = Coding(system=LOINC, code="105272-9", display="Glucose [Moles/volume] in Interstitial fluid")
T0 = datetime(2024, 5, 1, 9, tzinfo=UTC)
TIMES = [T0 + timedelta(minutes=30 * k) for k in range(3)]
QUANTILES = {0.05: [5.0, 4.6, 4.1], 0.5: [6.0, 6.2, 6.5], 0.95: [7.1, 8.0, 9.2]}
BASIS = ["Observation/cgm-1", "Observation/cgm-2", "MedicationAdministration/bolus-1"]


def _round_trips(resource: Any) -> None:
    dumped = dump_resource(resource)
    again = parse_resource(json.dumps(dumped))
    assert again == resource
    assert dump_resource(again) == dumped
    assert check_resource(again) == ()


def _forecast(**changes: Any) -> list[Any]:
    arguments: dict[str, Any] = {
        "patient_id": "p1",
        "code": CGM,
        "unit": "mmol/L",
        "times": TIMES,
        "quantiles": QUANTILES,
        "model": "hovorka-enkf",
        "model_version": "1.2.0",
        "basis": BASIS,
        "issued": T0 - timedelta(minutes=1),
    }
    return forecast_observations(**{**arguments, **changes})


def test_forecast_encoding() -> None:
    observations = _forecast()
    assert len(observations) == 3
    first = observations[1]
    assert first.status == "preliminary"
    assert first.effectiveDateTime == TIMES[1]
    assert first.issued == T0 - timedelta(minutes=1)
    assert (float(first.valueQuantity.value), first.valueQuantity.code) == (6.2, "mmol/L")
    quantiles = {
        (c.code.coding[0].system, c.code.coding[0].code): float(c.valueQuantity.value)
        for c in first.component
    }
    assert quantiles == {
        (FORECAST_QUANTILE_SYSTEM, "0.05"): 4.6,
        (FORECAST_QUANTILE_SYSTEM, "0.95"): 8.0,
    }
    assert [(t.system, t.code) for t in first.meta.tag] == [
        (FORECAST_TAG.system, FORECAST_TAG.code)
    ]
    # Only Observations can be derivedFrom inputs; all inputs go into the Provenance.
    assert [r.reference for r in first.derivedFrom] == BASIS[:2]
    [device] = first.contained
    assert (device.deviceName[0].name, device.version[0].value) == ("hovorka-enkf", "1.2.0")
    assert first.device.reference == "#model"
    assert first.category[0].coding[0].code == "laboratory"


def test_forecast_observations_pass_checks_and_round_trip() -> None:
    for observation in _forecast():
        _round_trips(observation)


def test_a_median_only_forecast_has_no_components_and_round_trips() -> None:
    [observation] = _forecast(times=TIMES[:1], quantiles={0.5: [6.0]}, basis=[], issued=None)
    assert observation.component is None
    assert observation.derivedFrom is None
    assert observation.issued is None
    _round_trips(observation)


def test_forecast_ids_are_stable_and_distinct() -> None:
    ids = [o.id for o in _forecast()]
    assert ids == [o.id for o in _forecast()]
    assert len(set(ids)) == 3
    assert ids != [o.id for o in _forecast(model_version="1.3.0")]


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"quantiles": {0.05: [5.0] * 3, 0.95: [7.0] * 3}}, "median"),
        ({"quantiles": {0.5: [6.0] * 2}}, "one value per forecast time"),
        ({"quantiles": {0.0: [6.0] * 3, 0.5: [6.0] * 3}}, "(0, 1)"),
        ({"quantiles": {0.5: [6.0, float("nan"), 6.0]}}, "non-finite"),
        ({"quantiles": {0.05: [5.0, 7.0, 5.0], 0.5: [6.0] * 3}}, "cross at time 1"),
        ({"times": [datetime(2024, 5, 1, 9)] * 3}, "no time zone"),
        ({"basis": ["cgm 1"]}, "not a FHIR reference"),
        ({"model": ""}, "needs a name"),
    ],
)
def test_bad_forecasts_are_refused_with_the_reason(changes: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidInputError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        _forecast(**changes)


def test_an_implausible_forecast_median_is_refused_by_our_checks() -> None:
    with pytest.raises(ResourceValidationError) as err:
        _forecast(quantiles={0.5: [6.0, 600.0, 6.0]})
    assert err.value.issues[0].path == "Observation.valueQuantity.value"


RISK = RiskRecord(
    id="risk-1",
    patient_id="p1",
    outcome=Coding(system=SNOMED, code="302866003", display="Hypoglycemia"),
    probability=0.12,
    when=T0,
    horizon=timedelta(hours=6),
    interval=(0.07, 0.19),
    interval_level=0.9,
    model="hypo-risk",
    model_version="0.3.1",
    basis_ids=("Observation/cgm-1", "Condition/t1d"),
)


def test_risk_assessment_encoding() -> None:
    assessment = risk_assessment(RISK)
    [prediction] = assessment.prediction
    assert (assessment.status, float(prediction.probabilityDecimal)) == ("preliminary", 0.12)
    assert (prediction.whenPeriod.start, prediction.whenPeriod.end) == (T0, T0 + timedelta(hours=6))
    [interval] = prediction.extension
    assert interval.url == PROBABILITY_INTERVAL_URL
    assert {e.url: float(e.valueDecimal) for e in interval.extension} == {
        "low": 0.07,
        "high": 0.19,
        "level": 0.9,
    }
    assert [b.reference for b in assessment.basis] == list(RISK.basis_ids)
    assert assessment.performer.reference == "#model"


def test_risk_assessment_round_trips_as_resource_and_as_record() -> None:
    assessment = risk_assessment(RISK)
    _round_trips(assessment)
    assert risk_assessment_to_record(parse_resource(dump_resource(assessment))) == RISK
    bare = RiskRecord(id="r2", patient_id="p1", outcome=RISK.outcome, probability=0.5, when=T0)
    assert risk_assessment_to_record(risk_assessment(bare)) == bare


@pytest.mark.parametrize(
    "changes",
    [
        {"probability": 1.2},
        {"interval": (0.2, 0.3)},
        {"interval": (-0.1, 0.3)},
        {"probability": float("nan")},
    ],
)
def test_impossible_probabilities_are_refused(changes: dict[str, Any]) -> None:
    data = {**RISK.__dict__, **changes}
    with pytest.raises(InvalidInputError, match=r"\[0, 1\]|contain"):
        risk_assessment(RiskRecord(**data))


def test_provenance_names_outputs_inputs_and_the_model() -> None:
    targets = [f"Observation/{o.id}" for o in _forecast()] + ["RiskAssessment/risk-1"]
    record = provenance(targets, BASIS, "hovorka-enkf", "1.2.0", T0)
    assert [t.reference for t in record.target] == targets
    assert [(e.role, e.what.reference) for e in record.entity] == [("source", b) for b in BASIS]
    [agent] = record.agent
    assert agent.type.coding[0].code == "assembler"
    assert (agent.who.reference, agent.who.display) == ("#model", "hovorka-enkf 1.2.0")
    assert record.recorded == T0
    _round_trips(record)
    assert provenance(targets, [], "m", "", T0).entity is None


def test_provenance_needs_a_target_and_an_aware_time() -> None:
    with pytest.raises(InvalidInputError, match="target"):
        provenance([], BASIS, "m", "1", T0)
    with pytest.raises(InvalidInputError, match="time zone"):
        provenance(["Observation/o1"], BASIS, "m", "1", datetime(2024, 5, 1))
