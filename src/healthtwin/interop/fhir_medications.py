"""MedicationAdministration and MedicationRequest to :class:`MedicationRecord` and back.

Doses keep the unit they were given in (``U`` for insulin units, ``mg`` for most drugs;
the UCUM code of the quantity, else its unit text); an infusion rate is read from
``rateQuantity`` or from a ``rateRatio`` (``U`` per ``1 h`` reads as ``U/h``).

- MedicationAdministration: ``effectiveDateTime`` (start only) or ``effectivePeriod``;
  ``dosage.dose``, ``dosage.rate[x]``, ``dosage.route``; ``context`` is the encounter.
- MedicationRequest: the first ``dosageInstruction``: ``timing.repeat.boundsPeriod``
  gives start and end (else ``authoredOn`` is the start), its first ``doseAndRate`` the
  dose and rate. Written back with ``intent = "order"``.

The drug is ``medicationCodeableConcept`` or a ``medicationReference`` to a contained
Medication (``#id``) or to one whose code the context knows (a Medication in the Bundle).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from fhir.resources.R4B.medicationadministration import MedicationAdministration
from fhir.resources.R4B.medicationrequest import MedicationRequest

from healthtwin.interop.codes import RXNORM, SNOMED
from healthtwin.interop.fhir_json import build_resource
from healthtwin.interop.fhir_read import (
    ReadContext,
    fail,
    issue_error,
    read_coding,
    read_quantity,
    reference_id,
    to_utc,
)
from healthtwin.interop.fhir_records import resource_id
from healthtwin.interop.fhir_write import concept, drop_none, reference, ucum_quantity
from healthtwin.interop.records import Coding, MedicationRecord

__all__ = [
    "administration_from_record",
    "administration_to_record",
    "medication_from_record",
    "request_from_record",
    "request_to_record",
]

Medication = MedicationAdministration | MedicationRequest


def administration_to_record(
    resource: MedicationAdministration, context: ReadContext | None = None
) -> MedicationRecord:
    """Read a MedicationAdministration.

    Examples
    --------
    >>> given = build_resource(MedicationAdministration, {"id": "m1", "status": "completed",
    ...     "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "274783"}]},
    ...     "subject": {"reference": "Patient/p1"},
    ...     "effectiveDateTime": "2024-05-01T07:30:00Z",
    ...     "dosage": {"dose": {"value": 6, "system": "http://unitsofmeasure.org", "code": "U"}}})
    >>> record = administration_to_record(given)
    >>> record.kind, record.dose, record.dose_unit
    ('administration', 6.0, 'U')
    """
    ctx = context or ReadContext()
    where = partial(ctx.where, "MedicationAdministration")
    period = resource.effectivePeriod
    start = resource.effectiveDateTime or (period.start if period is not None else None)
    if start is None:
        fail("needs effectiveDateTime or effectivePeriod.start", where("effective[x]"), "required")
    end = None if period is None else period.end
    dosage = resource.dosage
    dose = read_quantity(dosage.dose if dosage else None)
    rate = _rate(dosage, where("dosage")) if dosage else (None, None)
    return MedicationRecord(
        id=resource_id(resource, ctx),
        patient_id=reference_id(resource.subject, "Patient", where("subject"), ctx),
        kind="administration",
        medication=_drug(resource, ctx),
        start=to_utc(start, where("effective[x]"), ctx),
        end=None if end is None else to_utc(end, where("effectivePeriod.end"), ctx),
        dose=dose[0],
        dose_unit=dose[1],
        rate=rate[0],
        rate_unit=rate[1],
        route=_route(dosage.route if dosage else None, where("dosage.route")),
        status=str(resource.status),
        encounter_id=None
        if resource.context is None
        else reference_id(resource.context, "Encounter", where("context"), ctx),
    )


def request_to_record(
    resource: MedicationRequest, context: ReadContext | None = None
) -> MedicationRecord:
    """Read a MedicationRequest.

    Examples
    --------
    >>> order = build_resource(MedicationRequest, {"id": "r1", "status": "active",
    ...     "intent": "order", "subject": {"reference": "Patient/p1"},
    ...     "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "274783"}]},
    ...     "authoredOn": "2024-05-01T07:00:00Z",
    ...     "dosageInstruction": [{"doseAndRate": [{"doseQuantity": {"value": 20,
    ...         "system": "http://unitsofmeasure.org", "code": "U"}}]}]})
    >>> record = request_to_record(order)
    >>> record.kind, record.start.isoformat(), record.dose
    ('request', '2024-05-01T07:00:00+00:00', 20.0)
    """
    ctx = context or ReadContext()
    where = partial(ctx.where, "MedicationRequest")
    instruction = resource.dosageInstruction[0] if resource.dosageInstruction else None
    repeat = instruction.timing.repeat if instruction and instruction.timing else None
    bounds = repeat.boundsPeriod if repeat is not None else None
    start = bounds.start if bounds is not None and bounds.start else resource.authoredOn
    if start is None:
        fail(
            "needs authoredOn or dosageInstruction[0].timing.repeat.boundsPeriod.start",
            where("authoredOn"),
            "required",
        )
    end = None if bounds is None else bounds.end
    amounts = instruction.doseAndRate[0] if instruction and instruction.doseAndRate else None
    dose = read_quantity(amounts.doseQuantity if amounts else None)
    rate = _rate(amounts, where("dosageInstruction[0].doseAndRate[0]")) if amounts else (None, None)
    return MedicationRecord(
        id=resource_id(resource, ctx),
        patient_id=reference_id(resource.subject, "Patient", where("subject"), ctx),
        kind="request",
        medication=_drug(resource, ctx),
        start=to_utc(start, where("authoredOn"), ctx),
        end=None if end is None else to_utc(end, where("boundsPeriod.end"), ctx),
        dose=dose[0],
        dose_unit=dose[1],
        rate=rate[0],
        rate_unit=rate[1],
        route=_route(instruction.route if instruction else None, where("route")),
        status=str(resource.status),
        encounter_id=None
        if resource.encounter is None
        else reference_id(resource.encounter, "Encounter", where("encounter"), ctx),
    )


def _drug(resource: Medication, context: ReadContext) -> Coding:
    where = partial(context.where, resource.get_resource_type())
    if resource.medicationCodeableConcept is not None:
        return read_coding(
            resource.medicationCodeableConcept,
            where("medicationCodeableConcept"),
            prefer=(RXNORM, SNOMED),
        )
    text = resource.medicationReference.reference if resource.medicationReference else None
    if text and text.startswith("#"):
        for contained in resource.contained or ():
            if contained.id == text[1:] and contained.get_resource_type() == "Medication":
                return read_coding(
                    getattr(contained, "code", None),
                    where("contained.code"),
                    prefer=(RXNORM, SNOMED),
                )
    if text and text in context.medications:
        return context.medications[text]
    raise issue_error(
        f"the drug {text!r} cannot be found; give medicationCodeableConcept, contain the "
        "Medication, or include it in the Bundle",
        where("medicationReference"),
        "not-found",
    )


def _rate(holder: Any, path: str) -> tuple[float | None, str | None]:
    if holder.rateQuantity is not None:
        return read_quantity(holder.rateQuantity)
    ratio = holder.rateRatio
    if ratio is None or ratio.numerator is None or ratio.denominator is None:
        return None, None
    (num, num_unit), (den, den_unit) = (
        read_quantity(ratio.numerator),
        read_quantity(ratio.denominator),
    )
    if num is None or not den:
        fail("rateRatio needs a numerator value and a non-zero denominator", f"{path}.rateRatio")
    if den == 1.0:
        return num, f"{num_unit}/{den_unit}"
    return num / den, f"{num_unit}/{den_unit}"


def _route(route: Any, path: str) -> Coding | None:
    if route is None or not any(c.system and c.code for c in route.coding or ()):
        return None
    return read_coding(route, path, prefer=(SNOMED,))


def _dosage(record: MedicationRecord, dose_key: str) -> dict[str, Any]:
    return drop_none(
        {
            "route": None if record.route is None else concept(record.route),
            dose_key: None
            if record.dose is None and record.dose_unit is None
            else ucum_quantity(record.dose, record.dose_unit),
            "rateQuantity": None
            if record.rate is None and record.rate_unit is None
            else ucum_quantity(record.rate, record.rate_unit),
        }
    )


def administration_from_record(record: MedicationRecord) -> MedicationAdministration:
    """Write a MedicationAdministration.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> record = MedicationRecord(id="m1", patient_id="p1", kind="administration",
    ...     medication=Coding(system=RXNORM, code="274783"),
    ...     start=datetime(2024, 5, 1, 7, 30, tzinfo=UTC), dose=6.0, dose_unit="U")
    >>> administration_to_record(administration_from_record(record)) == record
    True
    """
    data: dict[str, Any] = {
        "id": record.id,
        "status": record.status,
        "medicationCodeableConcept": concept(record.medication),
        "subject": reference("Patient", record.patient_id),
    }
    if record.end is None:
        data["effectiveDateTime"] = record.start
    else:
        data["effectivePeriod"] = {"start": record.start, "end": record.end}
    dosage = _dosage(record, "dose")
    if dosage:
        data["dosage"] = dosage
    if record.encounter_id is not None:
        data["context"] = reference("Encounter", record.encounter_id)
    return build_resource(MedicationAdministration, data)


def request_from_record(record: MedicationRecord) -> MedicationRequest:
    """Write a MedicationRequest (``authoredOn`` is the start; an end adds boundsPeriod).

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> record = MedicationRecord(id="r1", patient_id="p1", kind="request", status="active",
    ...     medication=Coding(system=RXNORM, code="274783"),
    ...     start=datetime(2024, 5, 1, tzinfo=UTC), end=datetime(2024, 5, 2, tzinfo=UTC),
    ...     rate=1.5, rate_unit="U/h")
    >>> request_to_record(request_from_record(record)) == record
    True
    """
    data: dict[str, Any] = {
        "id": record.id,
        "status": record.status,
        "intent": "order",
        "medicationCodeableConcept": concept(record.medication),
        "subject": reference("Patient", record.patient_id),
        "authoredOn": record.start,
    }
    dosage = _dosage(record, "doseQuantity")
    instruction: dict[str, Any] = {}
    if "route" in dosage:
        instruction["route"] = dosage.pop("route")
    if dosage:
        instruction["doseAndRate"] = [dosage]
    if record.end is not None:
        instruction["timing"] = {
            "repeat": {"boundsPeriod": {"start": record.start, "end": record.end}}
        }
    if instruction:
        data["dosageInstruction"] = [instruction]
    if record.encounter_id is not None:
        data["encounter"] = reference("Encounter", record.encounter_id)
    return build_resource(MedicationRequest, data)


def medication_from_record(record: MedicationRecord) -> Medication:
    """Write the resource a record's ``kind`` names.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> record = MedicationRecord(id="m1", patient_id="p1", kind="administration",
    ...     medication=Coding(system=RXNORM, code="274783"), start=datetime(2024, 5, 1, tzinfo=UTC))
    >>> type(medication_from_record(record)).__name__
    'MedicationAdministration'
    """
    if record.kind == "administration":
        return administration_from_record(record)
    return request_from_record(record)
