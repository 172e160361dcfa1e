"""Bundles to patients' records and back.

:func:`bundle_to_patients` reads every Patient of a Bundle with everything that refers to
it: Observations, Conditions, MedicationAdministrations and MedicationRequests, and
Encounters. References are resolved inside the Bundle
(:class:`~healthtwin.interop.fhir_bundle_index.BundleIndex`); one that points at no entry
is an error with code ``not-found`` and the entry's path when it is the patient or the
encounter of a record (references to other types, such as a managing Organization or a
Location, are kept as ids and may point outside the Bundle). Records need their times
and coded concepts: an Observation without ``effective[x]`` is an error, not a gap.
Nothing is dropped silently:
resources of other types are counted in each :class:`PatientData`'s ``extra``:

- ``extra["unmapped"]``: ``{type: count}`` of resources about this patient that have no
  record (DiagnosticReport, AllergyIntolerance, RiskAssessment...), and of twin outputs
  tagged as forecasts (``"Observation:forecast"``), which are never read as measurements;
- Observations tagged ``imputed`` (values estimated to fill a gap, also tagged as
  forecasts; :mod:`healthtwin.interop.fhir_imputed`) are read, with their variance and
  band, into :attr:`PatientData.imputed_observations`, apart from the measurements;
- ``extra["shared"]``: ``{type: count}`` of resources about no one patient
  (Practitioner, Organization, Location, Medication...), the same in every patient.

Empty counts are left out, so a Bundle written by :func:`patients_to_bundle` reads back
into equal :class:`PatientData`.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import tzinfo
from functools import partial
from typing import Any, Literal

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.resource import Resource

from healthtwin.errors import ResourceValidationError, ValidationIssue
from healthtwin.interop.codes import RXNORM, SNOMED
from healthtwin.interop.fhir_bundle_index import BundleIndex, IndexedEntry
from healthtwin.interop.fhir_checks import validate_resource
from healthtwin.interop.fhir_export import FORECAST_TAG
from healthtwin.interop.fhir_imputed import is_imputed
from healthtwin.interop.fhir_json import build_resource
from healthtwin.interop.fhir_medications import (
    administration_to_record,
    medication_from_record,
    request_to_record,
)
from healthtwin.interop.fhir_read import ReadContext, plain_resolver, read_coding
from healthtwin.interop.fhir_records import (
    condition_from_record,
    condition_to_record,
    encounter_from_record,
    encounter_to_record,
    observation_from_record,
    observation_to_record,
    patient_from_record,
    patient_to_record,
)
from healthtwin.interop.records import Coding, PatientData, PatientRecord

__all__ = ["FULL_URL_NAMESPACE", "bundle_to_patients", "full_url", "patients_to_bundle"]

#: Namespace of the name-based (version 5) UUIDs written as fullUrls of ``Type/id``.
FULL_URL_NAMESPACE = uuid.UUID("8d6c6d1e-4f5b-5a0c-9e51-3b0f2d7c6a41")
_READERS: dict[str, Callable[[Any, ReadContext], Any]] = {
    "Observation": observation_to_record,
    "Condition": condition_to_record,
    "MedicationAdministration": administration_to_record,
    "MedicationRequest": request_to_record,
    "Encounter": encounter_to_record,
}
_FIELDS = {
    "Observation": "observations",
    "Condition": "conditions",
    "MedicationAdministration": "medications",
    "MedicationRequest": "medications",
    "Encounter": "encounters",
}
_SUBJECT_ELEMENTS = ("subject", "patient", "beneficiary")
#: Referenced types whose records must be in the same Bundle (others are kept as ids).
_MUST_BE_HERE = frozenset({"Patient", "Encounter"})


def bundle_to_patients(
    bundle: Bundle, *, default_zone: tzinfo | None = None, check: bool = True
) -> list[PatientData]:
    """Every Patient of a Bundle with the records that refer to it, in Bundle order.

    Parameters
    ----------
    bundle
        A parsed R4B Bundle (any type: collection, transaction, document, searchset...).
    default_zone
        Zone of dates without a time (see :mod:`healthtwin.interop.fhir_read`).
    check
        Run :func:`~healthtwin.interop.fhir_checks.validate_resource` on the Bundle first.

    Returns
    -------
    list[PatientData]
        One per Patient entry.

    Raises
    ------
    ResourceValidationError
        With every issue of every entry: a reference to a missing resource (``not-found``,
        path ``Bundle.entry[i].resource.subject.reference``), a missing time, a text-only
        code, two Patients with the same id, and the checks' issues when ``check``.

    Examples
    --------
    >>> from healthtwin.interop.fhir_json import parse_resource
    >>> bundle = parse_resource({"resourceType": "Bundle", "type": "collection", "entry": [
    ...     {"resource": {"resourceType": "Patient", "id": "p1"}},
    ...     {"resource": {"resourceType": "Practitioner", "id": "dr"}},
    ...     {"resource": {"resourceType": "Observation", "id": "o1", "status": "final",
    ...      "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
    ...      "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2024-05-01T08:00:00Z",
    ...      "valueQuantity": {"value": 61, "system": "http://unitsofmeasure.org",
    ...                        "code": "/min"}}}]})
    >>> [data] = bundle_to_patients(bundle)
    >>> data.patient.id, len(data.observations), data.extra
    ('p1', 1, {'shared': {'Practitioner': 1}})
    """
    if check:
        validate_resource(bundle)
    index = BundleIndex(bundle)
    resolve = _Resolver(index)
    medications = _medication_codes(index)
    patients: dict[str, PatientRecord] = {}
    records: dict[str, dict[str, list[Any]]] = {}
    unmapped: dict[str, Counter[str]] = {}
    shared: Counter[str] = Counter()
    issues: list[ValidationIssue] = []
    for entry in index.entries:
        context = ReadContext(
            default_zone=default_zone,
            resolve=partial(resolve, entry.full_url),
            medications=medications,
            path=f"Bundle.entry[{entry.index}].resource",
        )
        try:
            resource = _with_id(entry)
            owner = _owner(resource, resolve, entry)
            if entry.resource_type == "Patient":
                patient = patient_to_record(resource, context)
                if patient.id in patients:
                    _duplicate(patient.id, context.path)
                patients[patient.id] = patient
            elif (
                entry.resource_type == "Observation" and is_imputed(resource) and owner is not None
            ):
                record = observation_to_record(resource, context)
                field = "imputed_observations"
                records.setdefault(record.patient_id, {}).setdefault(field, []).append(record)
            elif _is_forecast(resource) and owner is not None:
                unmapped.setdefault(owner, Counter())[f"{entry.resource_type}:forecast"] += 1
            elif entry.resource_type in _READERS and owner is not None:
                record = _READERS[entry.resource_type](resource, context)
                field = _FIELDS[entry.resource_type]
                records.setdefault(record.patient_id, {}).setdefault(field, []).append(record)
            elif owner is not None:
                unmapped.setdefault(owner, Counter())[entry.resource_type] += 1
            else:
                shared[entry.resource_type] += 1
        except ResourceValidationError as err:
            issues.extend(err.issues)
    if issues:
        listed = "; ".join(f"{i.path}: {i.message}" for i in issues[:5])
        raise ResourceValidationError(
            f"the Bundle cannot be read into patients ({len(issues)} issue(s)): {listed}",
            tuple(issues),
        )
    return [
        _patient_data(p, records.get(i, {}), unmapped.get(i), shared) for i, p in patients.items()
    ]


def _resolve(index: BundleIndex, full_url: str | None, reference: str) -> tuple[str, str] | None:
    """In the Bundle; a Patient or Encounter must be there, other types may be elsewhere."""
    found = index.resolve(reference, full_url)
    if found is not None:
        return found
    outside = plain_resolver(reference)
    return outside if outside is not None and outside[0] not in _MUST_BE_HERE else None


class _Resolver:
    """:func:`_resolve` in one Bundle, remembered for each reference and RESTful base.

    A reference resolves alike from every entry whose fullUrl is not a RESTful URL (only
    such a fullUrl gives relative references a base), so the 100,000 readings of four
    patients resolve four references instead of 200,000.
    """

    def __init__(self, index: BundleIndex) -> None:
        self._index = index
        self._known: dict[tuple[str, str | None], tuple[str, str] | None] = {}

    def __call__(self, full_url: str | None, reference: str) -> tuple[str, str] | None:
        restful = full_url if full_url and full_url.startswith(("http://", "https://")) else None
        key = (reference, restful)
        if key not in self._known:
            self._known[key] = _resolve(self._index, full_url, reference)
        return self._known[key]


def _is_forecast(resource: Any) -> bool:
    tags = resource.meta.tag if resource.meta is not None else None
    return any(t.system == FORECAST_TAG.system and t.code == FORECAST_TAG.code for t in tags or ())


def _with_id(entry: IndexedEntry) -> Any:
    if entry.resource.id is None and entry.id is not None:
        return entry.resource.model_copy(update={"id": entry.id})
    return entry.resource


def _owner(resource: Any, resolve: _Resolver, entry: IndexedEntry) -> str | None:
    """The id of the Patient a resource is about, None when it is about no one patient."""
    if entry.resource_type == "Patient":
        return entry.id
    for element in _SUBJECT_ELEMENTS:
        ref = getattr(resource, element, None)
        if ref is None:
            continue
        text = getattr(ref, "reference", None)
        target = resolve(entry.full_url, text) if isinstance(text, str) else None
        if target is None:
            # A record reader reports the reference it cannot follow, with its path.
            return "" if entry.resource_type in _READERS else None
        return target[1] if target[0] == "Patient" else None
    return None


def _medication_codes(index: BundleIndex) -> dict[str, Coding]:
    codes: dict[str, Coding] = {}
    for entry in index.entries:
        code = getattr(entry.resource, "code", None)
        if entry.resource_type != "Medication" or code is None or entry.id is None:
            continue
        try:
            coding = read_coding(
                code, f"Bundle.entry[{entry.index}].resource.code", prefer=(RXNORM, SNOMED)
            )
        except ResourceValidationError:
            continue  # a reference to it fails where it is used, with that path
        for key in (entry.full_url, f"Medication/{entry.id}"):
            if key:
                codes[key] = coding
    return codes


def _duplicate(patient_id: str, path: str) -> None:
    message = (
        f"a second Patient with id {patient_id!r}; send one version of each patient per Bundle"
    )
    raise ResourceValidationError(
        message, (ValidationIssue(path=path, message=message, code="duplicate"),)
    )


def _patient_data(
    patient: PatientRecord,
    records: dict[str, list[Any]],
    unmapped: Counter[str] | None,
    shared: Counter[str],
) -> PatientData:
    extra: dict[str, object] = {}
    if unmapped:
        extra["unmapped"] = dict(unmapped)
    if shared:
        extra["shared"] = dict(shared)
    return PatientData(
        patient=patient,
        observations=tuple(records.get("observations", ())),
        imputed_observations=tuple(records.get("imputed_observations", ())),
        conditions=tuple(records.get("conditions", ())),
        medications=tuple(records.get("medications", ())),
        encounters=tuple(records.get("encounters", ())),
        extra=extra,
    )


def full_url(resource_type: str, logical_id: str) -> str:
    """The ``urn:uuid:`` fullUrl written for a resource (a UUID5 of ``Type/id``).

    Examples
    --------
    >>> full_url("Patient", "p1") == full_url("Patient", "p1") != full_url("Patient", "p2")
    True
    """
    return f"urn:uuid:{uuid.uuid5(FULL_URL_NAMESPACE, f'{resource_type}/{logical_id}')}"


def patients_to_bundle(
    patients: Sequence[PatientData],
    type: Literal["collection", "transaction"] = "collection",
    *,
    check: bool = True,
) -> Bundle:
    """Write patients' records as one Bundle.

    Each patient is followed by its encounters, conditions, observations (measured, then
    imputed) and medications;
    fullUrls are :func:`full_url`; references are ``Type/id``. A transaction ``PUT``s every
    resource at ``Type/id``, so loading it twice changes nothing. ``extra`` is not written.

    Raises
    ------
    ResourceValidationError
        When ``check`` and the Bundle breaks a rule (two resources with the same type and
        id, an invalid status...), with every issue.

    Examples
    --------
    >>> from healthtwin.interop.records import PatientRecord
    >>> bundle = patients_to_bundle([PatientData(patient=PatientRecord(id="p1"))], "transaction")
    >>> bundle.entry[0].request.method, bundle.entry[0].request.url
    ('PUT', 'Patient/p1')
    """
    entries: list[dict[str, Any]] = []
    for data in patients:
        resources: list[Resource] = [patient_from_record(data.patient)]
        resources += [encounter_from_record(r) for r in data.encounters]
        resources += [condition_from_record(r) for r in data.conditions]
        resources += [observation_from_record(r) for r in data.observations]
        resources += [observation_from_record(r) for r in data.imputed_observations]
        resources += [medication_from_record(r) for r in data.medications]
        for resource in resources:
            rtype, rid = resource.get_resource_type(), str(resource.id)
            entry: dict[str, Any] = {"fullUrl": full_url(rtype, rid), "resource": resource}
            if type == "transaction":
                entry["request"] = {"method": "PUT", "url": f"{rtype}/{rid}"}
            entries.append(entry)
    bundle = build_resource(Bundle, {"type": type, "entry": entries})
    if check:
        validate_resource(bundle)
    return bundle
