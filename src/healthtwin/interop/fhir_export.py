"""Twin outputs as FHIR: forecasts, risk assessments, and their provenance.

Encodings (FHIR R4, no profile beyond the core):

- **Forecast**: one Observation per forecast time, ``status = "preliminary"`` (not yet
  observed), ``effectiveDateTime`` the time forecast, ``issued`` when it was made. The
  median (quantile 0.5, required) is the ``valueQuantity``, so a reader that knows
  nothing of forecasts sees the central value in the usual place. Every other quantile is
  a ``component`` with the same unit whose code is the level in
  :data:`FORECAST_QUANTILE_SYSTEM` (``"0.05"``, display "quantile 0.05"): components are
  the core element for several values of one observation, whereas ``referenceRange``
  means a normal range and would mislead. ``meta.tag`` carries :data:`FORECAST_TAG` so
  forecasts are never mistaken for measurements; ``derivedFrom`` lists the Observation
  inputs and ``device`` points at the model, a contained Device (``deviceName`` of type
  ``model-name``, ``version``).
- **Risk**: a RiskAssessment with ``prediction.probabilityDecimal``, ``whenPeriod`` from
  the time of assessment to that time plus the horizon, the inputs as ``basis``, the model
  as ``performer`` (contained Device). The interval has no core element
  (``probabilityRange`` would replace the point estimate), so it is the complex extension
  :data:`PROBABILITY_INTERVAL_URL` on the prediction, with ``low``, ``high`` and
  ``level`` as ``valueDecimal``.
- **Provenance**: ``target`` the outputs, ``recorded`` when, one ``entity`` with role
  ``source`` per input, and one agent of type ``assembler`` ("a device that operates on
  custodian's algorithms ... for the purpose of generating a new artifact") that is the
  model, a contained Device.

Every resource written is checked with :func:`~healthtwin.interop.fhir_checks.validate_resource`
(a forecast median outside the plausible range of its vital is refused).
"""

from __future__ import annotations

import itertools
import math
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.provenance import Provenance
from fhir.resources.R4B.riskassessment import RiskAssessment

from healthtwin.errors import InvalidInputError
from healthtwin.interop.codes import OBSERVATION_CATEGORY, VITALS_BY_CODE
from healthtwin.interop.fhir_checks import validate_resource
from healthtwin.interop.fhir_json import build_resource
from healthtwin.interop.fhir_read import ReadContext, read_coding, reference_id, to_utc
from healthtwin.interop.fhir_refs import parse_reference
from healthtwin.interop.fhir_write import concept, drop_none, reference, reference_to, ucum_quantity
from healthtwin.interop.records import Coding, RiskRecord, require_utc

__all__ = [
    "FHIR_BASE",
    "FORECAST_QUANTILE_SYSTEM",
    "FORECAST_TAG",
    "PROBABILITY_INTERVAL_URL",
    "forecast_observations",
    "provenance",
    "risk_assessment",
    "risk_assessment_to_record",
]

#: Base of the definitions healthtwin owns (a reserved example domain until one is chosen).
FHIR_BASE = "https://healthtwin.example/fhir"
FORECAST_QUANTILE_SYSTEM = f"{FHIR_BASE}/CodeSystem/forecast-quantile"
FORECAST_TAG = Coding(system=f"{FHIR_BASE}/CodeSystem/output-kind", code="forecast")
PROBABILITY_INTERVAL_URL = f"{FHIR_BASE}/StructureDefinition/probability-interval"
_PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
_DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
_DERIVABLE = frozenset(
    {
        "Observation",
        "DocumentReference",
        "ImagingStudy",
        "Media",
        "QuestionnaireResponse",
        "MolecularSequence",
    }
)
_NAMESPACE = uuid.UUID("0b7e3c58-3a7f-5d8e-b2a4-6f1c9d2e8a90")
_DEVICE_ID = "model"


def forecast_observations(
    patient_id: str,
    code: Coding,
    unit: str,
    times: Sequence[datetime],
    quantiles: Mapping[float, Sequence[float]],
    model: str,
    model_version: str,
    basis: Sequence[str] = (),
    *,
    issued: datetime | None = None,
) -> list[Observation]:
    """One preliminary Observation per forecast time (encoding in the module notes).

    Parameters
    ----------
    patient_id
        Logical id of the Patient.
    code
        What is forecast (a LOINC coding such as CGM glucose 105272-9).
    unit
        UCUM unit of the values.
    times
        Forecast times, timezone-aware.
    quantiles
        Quantile level in (0, 1) -> one value per time; level 0.5 is required.
    model, model_version
        The model that made the forecast.
    basis
        References (``"Observation/abc"``) to the inputs.
    issued
        When the forecast was made.

    Returns
    -------
    list[Observation]
        Ids are name-based UUIDs of patient, code, time and model, so a repeated export
        updates rather than duplicates.

    Raises
    ------
    InvalidInputError
        Without a median, with a level outside (0, 1), a length that is not the number of
        times, non-finite or crossing quantiles, or a naive time.
    ResourceValidationError
        If a written resource breaks our checks (an implausible median).

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> from healthtwin.interop.codes import LOINC
    >>> [obs] = forecast_observations("p1", Coding(system=LOINC, code="105272-9"), "mmol/L",
    ...     [datetime(2024, 5, 1, 9, tzinfo=UTC)], {0.05: [5.1], 0.5: [6.0], 0.95: [7.4]},
    ...     "hovorka-enkf", "1.2.0", ["Observation/cgm-1"])
    >>> obs.status, float(obs.valueQuantity.value), [c.code.coding[0].code for c in obs.component]
    ('preliminary', 6.0, ['0.05', '0.95'])
    """
    levels = _check_quantiles(quantiles, len(times))
    inputs = [reference_to(b) for b in basis]
    made = None if issued is None else require_utc(issued, "issued")
    vital = VITALS_BY_CODE.get(code.code)
    observations = []
    for index, time in enumerate(times):
        when = require_utc(time, "forecast time")
        data: dict[str, Any] = {
            "id": _uuid(patient_id, code.system, code.code, when.isoformat(), model, model_version),
            "meta": {"tag": [{"system": FORECAST_TAG.system, "code": FORECAST_TAG.code}]},
            "contained": [_device(model, model_version)],
            "status": "preliminary",
            "code": concept(code),
            "subject": reference("Patient", patient_id),
            "effectiveDateTime": when,
            "valueQuantity": ucum_quantity(float(quantiles[0.5][index]), unit),
            "device": {"reference": f"#{_DEVICE_ID}"},
            "component": [
                {
                    "code": {
                        "coding": [
                            {
                                "system": FORECAST_QUANTILE_SYSTEM,
                                "code": f"{level:g}",
                                "display": f"quantile {level:g}",
                            }
                        ]
                    },
                    "valueQuantity": ucum_quantity(float(quantiles[level][index]), unit),
                }
                for level in levels
                if level != 0.5
            ],
        }
        if vital is not None:
            data["category"] = [
                {"coding": [{"system": OBSERVATION_CATEGORY, "code": vital.category}]}
            ]
        if made is not None:
            data["issued"] = made
        derived = [r for r in inputs if _type_of(r["reference"]) in _DERIVABLE]
        if derived:
            data["derivedFrom"] = derived
        observations.append(validate_resource(build_resource(Observation, drop_none(data))))
    return observations


def _check_quantiles(quantiles: Mapping[float, Sequence[float]], n_times: int) -> list[float]:
    levels = sorted(quantiles)
    if 0.5 not in quantiles:
        raise InvalidInputError(
            f"a forecast needs its median (level 0.5); got levels {levels}; add the median"
        )
    for level in levels:
        if not 0.0 < level < 1.0:
            raise InvalidInputError(f"quantile levels lie in (0, 1), got {level!r}")
        values = quantiles[level]
        if len(values) != n_times:
            raise InvalidInputError(
                f"quantile {level:g} has {len(values)} values for {n_times} times; give one "
                "value per forecast time"
            )
        if not all(math.isfinite(v) for v in values):
            raise InvalidInputError(f"quantile {level:g} has a non-finite value: {list(values)}")
    for low, high in itertools.pairwise(levels):
        for index, (a, b) in enumerate(zip(quantiles[low], quantiles[high], strict=True)):
            if a > b:
                raise InvalidInputError(
                    f"quantiles cross at time {index}: level {low:g} is {a} but level "
                    f"{high:g} is {b}; quantiles must not decrease with the level"
                )
    return levels


def risk_assessment(record: RiskRecord) -> RiskAssessment:
    """A RiskAssessment of a :class:`RiskRecord` (encoding in the module notes).

    Raises
    ------
    InvalidInputError
        For a probability or interval outside [0, 1], or an interval that excludes the
        probability.

    Examples
    --------
    >>> from datetime import UTC, datetime, timedelta
    >>> from healthtwin.interop.codes import SNOMED
    >>> record = RiskRecord(id="r1", patient_id="p1",
    ...     outcome=Coding(system=SNOMED, code="302866003", display="Hypoglycemia"),
    ...     probability=0.12, when=datetime(2024, 5, 1, tzinfo=UTC), horizon=timedelta(hours=6),
    ...     interval=(0.07, 0.19), interval_level=0.9, model="hypo-risk", model_version="0.3")
    >>> risk_assessment_to_record(risk_assessment(record)) == record
    True
    """
    _check_probability(record)
    prediction: dict[str, Any] = {
        "outcome": concept(record.outcome),
        "probabilityDecimal": record.probability,
    }
    if record.horizon is not None:
        prediction["whenPeriod"] = {"start": record.when, "end": record.when + record.horizon}
    if record.interval is not None:
        parts = [
            ("low", record.interval[0]),
            ("high", record.interval[1]),
            ("level", record.interval_level),
        ]
        prediction["extension"] = [
            {
                "url": PROBABILITY_INTERVAL_URL,
                "extension": [
                    {"url": name, "valueDecimal": value}
                    for name, value in parts
                    if value is not None
                ],
            }
        ]
    data: dict[str, Any] = {
        "id": record.id,
        "status": "preliminary",
        "subject": reference("Patient", record.patient_id),
        "occurrenceDateTime": record.when,
        "prediction": [prediction],
    }
    if record.model:
        data["contained"] = [_device(record.model, record.model_version)]
        data["performer"] = {"reference": f"#{_DEVICE_ID}"}
    if record.basis_ids:
        data["basis"] = [reference_to(b) for b in record.basis_ids]
    return validate_resource(build_resource(RiskAssessment, data))


def _check_probability(record: RiskRecord) -> None:
    values = [record.probability, *(record.interval or ())]
    if not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in values):
        raise InvalidInputError(
            f"probabilities lie in [0, 1]; got probability {record.probability!r} and "
            f"interval {record.interval!r}"
        )
    if record.interval is not None and not (
        record.interval[0] <= record.probability <= record.interval[1]
    ):
        raise InvalidInputError(
            f"the interval {record.interval} does not contain the probability "
            f"{record.probability}; give (low, high) around it"
        )


def risk_assessment_to_record(
    resource: RiskAssessment, context: ReadContext | None = None
) -> RiskRecord:
    """Read a RiskAssessment written by :func:`risk_assessment` (its first prediction).

    Examples
    --------
    >>> assessment = build_resource(RiskAssessment, {"id": "r1", "status": "final",
    ...     "subject": {"reference": "Patient/p1"}, "occurrenceDateTime": "2024-05-01T00:00:00Z",
    ...     "prediction": [{"outcome": {"coding": [{"system": "http://snomed.info/sct",
    ...                     "code": "302866003"}]}, "probabilityDecimal": 0.2}]})
    >>> risk_assessment_to_record(assessment).probability
    0.2
    """
    ctx = context or ReadContext()
    where = ctx.where("RiskAssessment")
    prediction = resource.prediction[0] if resource.prediction else None
    probability = None if prediction is None else prediction.probabilityDecimal
    if prediction is None or probability is None:
        raise InvalidInputError(
            f"{where}.prediction: needs a first prediction with probabilityDecimal"
        )
    when = to_utc(resource.occurrenceDateTime, f"{where}.occurrenceDateTime", ctx)
    period = prediction.whenPeriod
    end = None if period is None or period.end is None else to_utc(period.end, where, ctx)
    interval = _interval(prediction)
    model, version = _model(resource)
    return RiskRecord(
        id=str(resource.id),
        patient_id=reference_id(resource.subject, "Patient", f"{where}.subject", ctx),
        outcome=read_coding(prediction.outcome, f"{where}.prediction[0].outcome"),
        probability=float(probability),
        when=when,
        horizon=None if end is None else end - when,
        interval=None if interval.get("low") is None else (interval["low"], interval["high"]),
        interval_level=interval.get("level"),
        model=model,
        model_version=version,
        basis_ids=tuple(str(b.reference) for b in resource.basis or () if b.reference),
    )


def _interval(prediction: Any) -> dict[str, float]:
    for extension in prediction.extension or ():
        if extension.url == PROBABILITY_INTERVAL_URL:
            return {
                part.url: float(part.valueDecimal)
                for part in extension.extension or ()
                if part.valueDecimal is not None
            }
    return {}


def _model(resource: Any) -> tuple[str, str]:
    for contained in resource.contained or ():
        if contained.get_resource_type() == "Device" and contained.id == _DEVICE_ID:
            names = [n.name for n in contained.deviceName or () if n.type == "model-name"]
            versions = [v.value for v in contained.version or ()]
            return (names[0] if names else ""), (versions[0] if versions else "")
    return "", ""


def provenance(
    targets: Sequence[str],
    basis: Sequence[str],
    model: str,
    model_version: str,
    recorded: datetime,
) -> Provenance:
    """Provenance of twin outputs: what they are, what they came from, which model made them.

    Parameters
    ----------
    targets
        References to the outputs (``"Observation/..."``, ``"RiskAssessment/..."``).
    basis
        References to the inputs, each an entity with role ``source``.
    model, model_version
        The model, written as a contained Device and the agent.
    recorded
        When the outputs were made (timezone-aware).

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> record = provenance(["RiskAssessment/r1"], ["Observation/cgm-1"], "hypo-risk", "0.3",
    ...                     datetime(2024, 5, 1, tzinfo=UTC))
    >>> record.entity[0].role, record.entity[0].what.reference, record.agent[0].who.reference
    ('source', 'Observation/cgm-1', '#model')
    """
    if not targets:
        raise InvalidInputError("a Provenance needs at least one target; give the outputs")
    when = require_utc(recorded, "recorded")
    data: dict[str, Any] = {
        "id": _uuid(*targets, when.isoformat(), model, model_version),
        "contained": [_device(model, model_version)],
        "target": [reference_to(t) for t in targets],
        "recorded": when,
        "activity": {"coding": [{"system": _DATA_OPERATION, "code": "CREATE"}]},
        "agent": [
            {
                "type": {"coding": [{"system": _PARTICIPANT_TYPE, "code": "assembler"}]},
                "who": {
                    "reference": f"#{_DEVICE_ID}",
                    "display": f"{model} {model_version}".strip(),
                },
            }
        ],
    }
    if basis:
        data["entity"] = [{"role": "source", "what": reference_to(b)} for b in basis]
    return validate_resource(build_resource(Provenance, data))


def _type_of(text: str) -> str | None:
    parsed = parse_reference(text)
    return None if parsed is None else parsed.resource_type


def _device(model: str, model_version: str) -> dict[str, Any]:
    if not model:
        raise InvalidInputError("the model needs a name (model=...), to say what made the output")
    device: dict[str, Any] = {
        "resourceType": "Device",
        "id": _DEVICE_ID,
        "deviceName": [{"name": model, "type": "model-name"}],
    }
    if model_version:
        device["version"] = [{"value": model_version}]
    return device


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join(parts)))
