"""Synthetic patients as FHIR R4 Bundles, every resource flagged as synthetic.

The records are written by :func:`healthtwin.interop.fhir_bundle.patients_to_bundle`; this
module adds what marks them as not real. FHIR's security-labels page lists ``HTEST``
("test health data") of the v3 ActReason code system for data that are not about real
people; we write it both as a security label (``meta.security``, where FHIR defines it)
and as a tag (``meta.tag``, which servers index and search with ``_tag``). A deceased
patient carries ``deceasedDateTime``.

Gap-filled CGM values (:func:`~healthtwin.synthetic.imputation.fill_cgm_gaps`) are written
by :func:`gap_fill_observations` in the interop layer's forecast encoding (preliminary
Observations whose value is the central estimate and whose components are the band's
quantiles, tagged so that readers never take them for measurements), with a second tag
:data:`IMPUTED_TAG` and the predictive variance in a note, so the uncertainty travels with
the value into later predictions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation

from healthtwin.interop.codes import LOINC, vital
from healthtwin.interop.fhir_bundle import patients_to_bundle
from healthtwin.interop.fhir_checks import validate_resource
from healthtwin.interop.fhir_export import FORECAST_TAG, forecast_observations
from healthtwin.interop.fhir_json import build_resource
from healthtwin.interop.records import Coding
from healthtwin.synthetic.imputation import CgmGapFill
from healthtwin.synthetic.longitudinal import SyntheticPatient

__all__ = [
    "IMPUTED_TAG",
    "SYNTHETIC_TAG",
    "gap_fill_observations",
    "is_flagged_synthetic",
    "synthetic_bundle",
]
#: Tag of a value estimated to fill a gap (healthtwin's output-kind code system).
IMPUTED_TAG: dict[str, str] = {"system": FORECAST_TAG.system, "code": "imputed"}

#: The coding that marks a resource as synthetic (test health data).
SYNTHETIC_TAG: dict[str, str] = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
    "code": "HTEST",
    "display": "test health data",
}


def _flag(resource: dict[str, Any]) -> None:
    meta = resource.setdefault("meta", {})
    for key in ("tag", "security"):
        codings = meta.setdefault(key, [])
        if not any(c.get("code") == SYNTHETIC_TAG["code"] for c in codings):
            codings.append(dict(SYNTHETIC_TAG))


def synthetic_bundle(
    patients: Sequence[SyntheticPatient],
    type: Literal["collection", "transaction"] = "collection",
) -> Bundle:
    """One Bundle with every record of ``patients``, each resource flagged synthetic.

    Raises
    ------
    ResourceValidationError
        If a record cannot be written as valid FHIR (every issue listed).

    Examples
    --------
    >>> import numpy as np
    >>> from healthtwin.synthetic.longitudinal import (
    ...     LongitudinalConfig, generate_patients)
    >>> from healthtwin.synthetic.demographics import sample_demographics
    >>> demo = sample_demographics(2, np.random.default_rng(0), diabetes_prevalence=0.0)
    >>> pats = generate_patients(demo, config=LongitudinalConfig(follow_up_days=30))
    >>> bundle = synthetic_bundle(pats)
    >>> all(is_flagged_synthetic(e.resource) for e in bundle.entry)
    True
    """
    plain = patients_to_bundle([p.data for p in patients], type, check=False)
    data = plain.model_dump(mode="json", by_alias=True, exclude_none=True)
    deaths = {p.data.patient.id: p.deceased for p in patients if p.deceased is not None}
    for entry in data.get("entry", []):
        resource = entry["resource"]
        _flag(resource)
        if resource["resourceType"] == "Patient" and resource["id"] in deaths:
            resource["deceasedDateTime"] = deaths[resource["id"]].isoformat()
    _flag(data)
    return validate_resource(build_resource(Bundle, data))


def is_flagged_synthetic(resource: Any) -> bool:
    """Whether a resource (model or JSON dict) carries the synthetic tag in ``meta.tag``."""
    if not isinstance(resource, dict):
        resource = resource.model_dump(mode="json", by_alias=True, exclude_none=True)
    tags = resource.get("meta", {}).get("tag", [])
    return any(
        t.get("system") == SYNTHETIC_TAG["system"] and t.get("code") == SYNTHETIC_TAG["code"]
        for t in tags
    )


def gap_fill_observations(
    patient_id: str,
    start: datetime,
    fill: CgmGapFill,
    t_min: Sequence[float],
    row: int = 0,
    *,
    model_version: str = "1",
) -> list[Observation]:
    """The filled CGM values of one twin (row ``row``) as flagged FHIR Observations.

    Parameters
    ----------
    patient_id
        Logical id of the Patient.
    start
        Time of ``t_min = 0`` (timezone-aware).
    fill
        The gap fill.
    t_min
        Reading times in minutes, shape ``(T,)``.
    row
        Which twin of ``fill``.
    model_version
        Version written on the model Device.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> fill = CgmGapFill(np.array([[100.0, 110.0]]), np.array([[False, True]]),
    ...     np.array([[100.0, 110.0]]), np.array([[0.0, 64.0]]), np.array([[0.0, 97.0]]),
    ...     np.array([[0.0, 123.0]]), 0.9)
    >>> [obs] = gap_fill_observations("p1", datetime(2025, 1, 1, tzinfo=UTC), fill, [0, 5])
    >>> [t.code for t in obs.meta.tag], float(obs.valueQuantity.value)
    (['forecast', 'imputed'], 110.0)
    """
    spec = vital("cgm_glucose_mass")
    where = np.flatnonzero(fill.imputed[row])
    if where.size == 0:
        return []
    minutes = np.asarray(t_min, dtype=np.float64)
    times = [start + timedelta(minutes=float(minutes[i])) for i in where]
    lower, upper = fill.lower_mg_dl[row, where], fill.upper_mg_dl[row, where]
    central = np.clip(fill.mean_mg_dl[row, where], lower, upper)
    tail = round((1.0 - fill.level) / 2.0, 6)
    written = forecast_observations(
        patient_id,
        Coding(system=LOINC, code=spec.code, display=spec.display),
        spec.unit,
        times,
        {tail: lower.tolist(), 0.5: central.tolist(), 1.0 - tail: upper.tolist()},
        "healthtwin-cgm-gap-smoother",
        model_version,
    )
    out = []
    for obs, i in zip(written, where, strict=True):
        data = obs.model_dump(mode="json", by_alias=True, exclude_none=True)
        data["meta"]["tag"].append(dict(IMPUTED_TAG))
        variance = float(fill.variance_mg_dl2[row, i])
        data["note"] = [
            {
                "text": f"imputed by the twin's ensemble smoother; predictive variance "
                f"{variance:.6g} mg2/dL2; {fill.level:g} band in components"
            }
        ]
        out.append(validate_resource(build_resource(Observation, data)))
    return out
