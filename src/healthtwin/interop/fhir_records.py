"""Patient, Observation, Condition and Encounter resources to records and back.

Each ``*_to_record`` reads a ``fhir.resources.R4B`` resource into the frozen record of
:mod:`healthtwin.interop.records` (times in UTC, see :mod:`healthtwin.interop.fhir_read`);
each ``*_from_record`` writes the record back as a resource. Writing then reading gives
the record back unchanged; reading keeps only what the records hold.

Writing is split in two: each ``*_json`` is a pure function that builds the resource's
FHIR JSON as plain dictionaries (dates and times already written as the validated model
serialises them, by :func:`fhir_instant`; no empty or None element), and the matching
``*_from_record`` validates exactly that dictionary with
:func:`~healthtwin.interop.fhir_json.build_resource`. Bulk writers that cannot afford a
pydantic model per resource (millions of CGM readings) write the ``*_json`` dictionaries
and validate a sample; ``tests/interop/test_fhir_records_json.py`` checks that a
dictionary equals its validated model's ``model_dump(mode="json", by_alias=True,
exclude_none=True)``. The medication writers (``administration_json``, ``request_json``,
``medication_json``) live here too, beside the others, and are checked against
:mod:`healthtwin.interop.fhir_medications`' validated writers.

What is read:

- Patient: the official (else usual, else first) name, identifiers with a value, birth
  date (a partial ``1970-05`` reads as its first day), gender, the country of the home
  (else first) address as written, managing organization.
- Observation: the LOINC coding (else the first coded one); ``valueQuantity`` (its UCUM
  code, else its unit text) or ``valueInteger``; ``effectiveDateTime``, else the start of
  ``effectivePeriod``, else ``effectiveInstant``; the observation-category code; the
  components (a blood-pressure panel 85354-9 carries systolic 8480-6 and diastolic 8462-4
  there, with no value of its own); an imputed value (tagged ``imputed``) with its
  :class:`~healthtwin.interop.records.Imputation` from the extension of
  :mod:`healthtwin.interop.fhir_imputed`, which the writer adds for such a record.
- Condition: the first coding (SNOMED CT, then ICD-10, then any); clinical status from
  the condition-clinical system (``"unknown"`` when absent; written back as absent);
  onset and abatement from ``*DateTime`` or the start of ``*Period``.
- Encounter: status, class code, period, locations, service provider.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import partial
from typing import Any, cast, get_args

from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient

from healthtwin.interop.codes import ACT_CODE, ICD10, LOINC, OBSERVATION_CATEGORY, SNOMED
from healthtwin.interop.fhir_imputed import (
    imputation_extension,
    imputed_tags,
    is_imputed,
    read_imputation,
)
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
from healthtwin.interop.fhir_write import concept, drop_none, reference, ucum_quantity
from healthtwin.interop.records import (
    ConditionRecord,
    EncounterRecord,
    Gender,
    Identifier,
    MedicationRecord,
    ObservationComponent,
    ObservationRecord,
    PatientRecord,
)

__all__ = [
    "CONDITION_CLINICAL_SYSTEM",
    "administration_json",
    "condition_from_record",
    "condition_json",
    "condition_to_record",
    "encounter_from_record",
    "encounter_json",
    "encounter_to_record",
    "fhir_instant",
    "medication_json",
    "observation_from_record",
    "observation_json",
    "observation_to_record",
    "patient_from_record",
    "patient_json",
    "patient_to_record",
    "request_json",
    "resource_id",
]

CONDITION_CLINICAL_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-clinical"
_DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
_NAME_USES = ("official", "usual")


def fhir_instant(value: date) -> str:
    """A date or an aware datetime as FHIR JSON writes it (as the R4B models serialise it).

    UTC is written ``Z``; other offsets as ``+hh:mm``; fractions of a second only when
    there are some.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> fhir_instant(datetime(2024, 5, 1, 8, tzinfo=UTC)), fhir_instant(date(1970, 5, 1))
    ('2024-05-01T08:00:00Z', '1970-05-01')
    """
    if not isinstance(value, datetime):
        return value.isoformat()
    text = value.isoformat()
    return f"{text[:-6]}Z" if value.utcoffset() == UTC.utcoffset(None) else text


def _instant(value: date | None) -> str | None:
    return None if value is None else fhir_instant(value)


def resource_id(resource: Any, context: ReadContext) -> str:
    """The logical id of a resource being read (required by every record).

    Examples
    --------
    >>> resource_id(build_resource(Patient, {"id": "p1"}), ReadContext())
    'p1'
    >>> resource_id(build_resource(Patient, {}), ReadContext())
    Traceback (most recent call last):
    ...
    healthtwin.errors.ResourceValidationError: Patient.id: the resource has no id; ...
    """
    if not resource.id:
        fail(
            "the resource has no id; give it one (or a urn:uuid fullUrl inside a Bundle)",
            context.where(resource.get_resource_type(), "id"),
            "required",
        )
    return str(resource.id)


def patient_to_record(resource: Patient, context: ReadContext | None = None) -> PatientRecord:
    """Read a Patient.

    Examples
    --------
    >>> patient = build_resource(Patient, {"id": "p1", "gender": "female",
    ...     "birthDate": "1970-05", "name": [{"family": "Ng", "given": ["Ana"]}]})
    >>> record = patient_to_record(patient)
    >>> record.family, record.given, record.birth_date
    ('Ng', ('Ana',), datetime.date(1970, 5, 1))
    """
    ctx = context or ReadContext()
    names = resource.name or []
    name = next(
        (n for use in _NAME_USES for n in names if n.use == use), names[0] if names else None
    )
    addresses = [a for a in resource.address or () if a.country]
    address = next((a for a in addresses if a.use == "home"), addresses[0] if addresses else None)
    organization = resource.managingOrganization
    return PatientRecord(
        id=resource_id(resource, ctx),
        identifiers=tuple(
            Identifier(system=i.system, value=i.value) for i in resource.identifier or () if i.value
        ),
        family=name.family if name else None,
        given=tuple(g for g in name.given or () if g) if name else (),
        birth_date=_birth_date(resource.birthDate),
        gender=_gender(resource.gender, ctx.where("Patient", "gender")),
        country=address.country if address else None,
        managing_organization_id=None
        if organization is None
        else reference_id(
            organization, "Organization", ctx.where("Patient", "managingOrganization"), ctx
        ),
    )


def _gender(value: str | None, path: str) -> Gender | None:
    if value is None:
        return None
    for gender in get_args(Gender):
        if value == gender:
            return cast(Gender, gender)
    raise issue_error(
        f"gender {value!r} is not one of {', '.join(get_args(Gender))}", path, "code-invalid"
    )


def _birth_date(value: object) -> date | None:
    if value is None or isinstance(value, date):
        return value
    text = str(value)
    return date(int(text[:4]), int(text[5:7] or 1), 1)


def patient_from_record(record: PatientRecord) -> Patient:
    """Write a Patient (:func:`patient_json`, validated).

    Examples
    --------
    >>> from healthtwin.interop.records import PatientRecord
    >>> patient_from_record(PatientRecord(id="p1", family="Ng", country="NZ")).address[0].country
    'NZ'
    """
    return build_resource(Patient, patient_json(record))


def patient_json(record: PatientRecord) -> dict[str, Any]:
    """A Patient as FHIR JSON, not validated (see the module notes).

    Examples
    --------
    >>> from healthtwin.interop.records import PatientRecord
    >>> patient_json(PatientRecord(id="p1", birth_date=date(1970, 5, 1)))
    {'resourceType': 'Patient', 'id': 'p1', 'birthDate': '1970-05-01'}
    """
    data: dict[str, Any] = {"resourceType": "Patient", "id": record.id}
    if record.identifiers:
        data["identifier"] = [
            drop_none({"system": i.system, "value": i.value}) for i in record.identifiers
        ]
    if record.family is not None or record.given:
        data["name"] = [
            drop_none(
                {"use": "official", "family": record.family, "given": list(record.given) or None}
            )
        ]
    if record.gender is not None:
        data["gender"] = record.gender
    if record.birth_date is not None:
        data["birthDate"] = fhir_instant(record.birth_date)
    if record.country is not None:
        data["address"] = [{"use": "home", "country": record.country}]
    if record.managing_organization_id is not None:
        data["managingOrganization"] = reference("Organization", record.managing_organization_id)
    return data


def observation_to_record(
    resource: Observation, context: ReadContext | None = None
) -> ObservationRecord:
    """Read an Observation (see the module notes for what is kept).

    Examples
    --------
    >>> obs = build_resource(Observation, {"id": "o1", "status": "final",
    ...     "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
    ...     "subject": {"reference": "Patient/p1"},
    ...     "effectiveDateTime": "2024-05-01T10:00:00+02:00",
    ...     "valueQuantity": {"value": 61, "system": "http://unitsofmeasure.org", "code": "/min"}})
    >>> record = observation_to_record(obs)
    >>> record.patient_id, record.value, record.unit, record.effective.isoformat()
    ('p1', 61.0, '/min', '2024-05-01T08:00:00+00:00')
    """
    ctx = context or ReadContext()
    where = partial(ctx.where, "Observation")
    value, unit = read_quantity(resource.valueQuantity)
    if resource.valueInteger is not None:
        value = float(resource.valueInteger)
    categories = [
        c
        for concept in resource.category or ()
        for c in concept.coding or ()
        if c.system == OBSERVATION_CATEGORY and c.code
    ]
    return ObservationRecord(
        id=resource_id(resource, ctx),
        patient_id=reference_id(resource.subject, "Patient", where("subject"), ctx),
        code=read_coding(resource.code, where("code"), prefer=(LOINC,)),
        effective=to_utc(_effective(resource, where), where("effectiveDateTime"), ctx),
        value=value,
        unit=unit,
        status=str(resource.status),
        category=categories[0].code if categories else None,
        encounter_id=None
        if resource.encounter is None
        else reference_id(resource.encounter, "Encounter", where("encounter"), ctx),
        components=tuple(
            ObservationComponent(
                code=read_coding(comp.code, where(f"component[{i}].code"), prefer=(LOINC,)),
                value=read_quantity(comp.valueQuantity)[0]
                if comp.valueInteger is None
                else float(comp.valueInteger),
                unit=read_quantity(comp.valueQuantity)[1],
            )
            for i, comp in enumerate(resource.component or ())
        ),
        imputation=read_imputation(resource, where()) if is_imputed(resource) else None,
    )


def _effective(resource: Observation, where: Callable[[str], str]) -> object:
    period = resource.effectivePeriod
    for value in (
        resource.effectiveDateTime,
        period.start if period is not None else None,
        resource.effectiveInstant,
    ):
        if value is not None:
            return value
    raise issue_error(
        "the observation has no effectiveDateTime, effectivePeriod.start or effectiveInstant; "
        "give the time it was made",
        where("effective[x]"),
        "required",
    )


def observation_from_record(record: ObservationRecord) -> Observation:
    """Write an Observation (a record without value or components gets a dataAbsentReason).

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> from healthtwin.interop.records import Coding, ObservationRecord
    >>> record = ObservationRecord(id="o1", patient_id="p1",
    ...     code=Coding(system="http://loinc.org", code="8867-4"),
    ...     effective=datetime(2024, 5, 1, 8, tzinfo=UTC), value=61.0, unit="/min")
    >>> observation_to_record(observation_from_record(record)) == record
    True
    """
    return build_resource(Observation, observation_json(record))


def observation_json(record: ObservationRecord) -> dict[str, Any]:
    """An Observation as FHIR JSON, not validated (see the module notes).

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> from healthtwin.interop.records import Coding, ObservationRecord
    >>> record = ObservationRecord(id="o1", patient_id="p1",
    ...     code=Coding(system="http://loinc.org", code="8867-4"),
    ...     effective=datetime(2024, 5, 1, 8, tzinfo=UTC), value=61.0, unit="/min")
    >>> observation_json(record)["effectiveDateTime"]
    '2024-05-01T08:00:00Z'
    """
    data: dict[str, Any] = {
        "resourceType": "Observation",
        "id": record.id,
        "status": record.status,
        "code": concept(record.code),
        "subject": reference("Patient", record.patient_id),
        "effectiveDateTime": fhir_instant(record.effective),
    }
    if record.category is not None:
        data["category"] = [{"coding": [{"system": OBSERVATION_CATEGORY, "code": record.category}]}]
    if record.encounter_id is not None:
        data["encounter"] = reference("Encounter", record.encounter_id)
    if record.value is not None or record.unit is not None:
        data["valueQuantity"] = ucum_quantity(record.value, record.unit)
    elif not record.components:
        data["dataAbsentReason"] = {"coding": [{"system": _DATA_ABSENT, "code": "unknown"}]}
    if record.components:
        data["component"] = [
            drop_none(
                {
                    "code": concept(c.code),
                    "valueQuantity": ucum_quantity(c.value, c.unit)
                    if c.value is not None or c.unit is not None
                    else None,
                }
            )
            for c in record.components
        ]
    if record.imputation is not None:
        data["meta"] = {"tag": imputed_tags()}
        data["extension"] = [imputation_extension(record.imputation)]
    return data


def condition_to_record(resource: Condition, context: ReadContext | None = None) -> ConditionRecord:
    """Read a Condition.

    Examples
    --------
    >>> status = {"coding": [{"system": CONDITION_CLINICAL_SYSTEM, "code": "active"}]}
    >>> condition = build_resource(Condition, {"id": "c1", "subject": {"reference": "Patient/p1"},
    ...     "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}]},
    ...     "clinicalStatus": status})
    >>> condition_to_record(condition).clinical_status
    'active'
    """
    ctx = context or ReadContext()
    where = partial(ctx.where, "Condition")
    statuses = [
        c.code
        for c in (resource.clinicalStatus.coding or () if resource.clinicalStatus else ())
        if c.system == CONDITION_CLINICAL_SYSTEM
    ]
    onset = _start(resource.onsetDateTime, resource.onsetPeriod)
    abatement = _start(resource.abatementDateTime, resource.abatementPeriod)
    return ConditionRecord(
        id=resource_id(resource, ctx),
        patient_id=reference_id(resource.subject, "Patient", where("subject"), ctx),
        code=read_coding(resource.code, where("code"), prefer=(SNOMED, ICD10)),
        clinical_status=str(statuses[0]) if statuses else "unknown",
        onset=None if onset is None else to_utc(onset, where("onset[x]"), ctx),
        abatement=None if abatement is None else to_utc(abatement, where("abatement[x]"), ctx),
        encounter_id=None
        if resource.encounter is None
        else reference_id(resource.encounter, "Encounter", where("encounter"), ctx),
    )


def _start(value: object, period: Any) -> object:
    if value is not None:
        return value
    return None if period is None else period.start


def condition_from_record(record: ConditionRecord) -> Condition:
    """Write a Condition (clinical status ``"unknown"`` is written as absent).

    Examples
    --------
    >>> from healthtwin.interop.records import Coding, ConditionRecord
    >>> record = ConditionRecord(id="c1", patient_id="p1",
    ...     code=Coding(system="http://snomed.info/sct", code="44054006"))
    >>> condition_to_record(condition_from_record(record)) == record
    True
    """
    return build_resource(Condition, condition_json(record))


def condition_json(record: ConditionRecord) -> dict[str, Any]:
    """A Condition as FHIR JSON, not validated (see the module notes).

    Examples
    --------
    >>> from healthtwin.interop.records import Coding, ConditionRecord
    >>> record = ConditionRecord(id="c1", patient_id="p1",
    ...     code=Coding(system="http://snomed.info/sct", code="44054006"))
    >>> sorted(condition_json(record))
    ['clinicalStatus', 'code', 'id', 'resourceType', 'subject']
    """
    data: dict[str, Any] = {
        "resourceType": "Condition",
        "id": record.id,
        "subject": reference("Patient", record.patient_id),
        "code": concept(record.code),
    }
    if record.clinical_status != "unknown":
        data["clinicalStatus"] = {
            "coding": [{"system": CONDITION_CLINICAL_SYSTEM, "code": record.clinical_status}]
        }
    if record.onset is not None:
        data["onsetDateTime"] = fhir_instant(record.onset)
    if record.abatement is not None:
        data["abatementDateTime"] = fhir_instant(record.abatement)
    if record.encounter_id is not None:
        data["encounter"] = reference("Encounter", record.encounter_id)
    return data


def encounter_to_record(resource: Encounter, context: ReadContext | None = None) -> EncounterRecord:
    """Read an Encounter.

    Examples
    --------
    >>> encounter = build_resource(Encounter, {"id": "e1", "status": "finished",
    ...     "class": {"system": ACT_CODE, "code": "IMP"}, "subject": {"reference": "Patient/p1"},
    ...     "period": {"start": "2024-05-01T08:00:00Z"}})
    >>> encounter_to_record(encounter).class_code
    'IMP'
    """
    ctx = context or ReadContext()
    where = partial(ctx.where, "Encounter")
    period = resource.period
    start = None if period is None else period.start
    end = None if period is None else period.end
    if not resource.class_fhir.code:
        fail(
            "needs a class code (v3 ActCode such as AMB, EMER, IMP)",
            where("class.code"),
            "required",
        )
    provider = resource.serviceProvider
    return EncounterRecord(
        id=resource_id(resource, ctx),
        patient_id=reference_id(resource.subject, "Patient", where("subject"), ctx),
        status=str(resource.status),
        class_code=str(resource.class_fhir.code),
        start=None if start is None else to_utc(start, where("period.start"), ctx),
        end=None if end is None else to_utc(end, where("period.end"), ctx),
        location_ids=tuple(
            reference_id(loc.location, "Location", where(f"location[{i}].location"), ctx)
            for i, loc in enumerate(resource.location or ())
        ),
        organization_id=None
        if provider is None
        else reference_id(provider, "Organization", where("serviceProvider"), ctx),
    )


def encounter_from_record(record: EncounterRecord) -> Encounter:
    """Write an Encounter.

    Examples
    --------
    >>> from healthtwin.interop.records import EncounterRecord
    >>> record = EncounterRecord(id="e1", patient_id="p1", status="planned", class_code="AMB")
    >>> encounter_to_record(encounter_from_record(record)) == record
    True
    """
    return build_resource(Encounter, encounter_json(record))


def encounter_json(record: EncounterRecord) -> dict[str, Any]:
    """An Encounter as FHIR JSON, not validated (see the module notes).

    Examples
    --------
    >>> from healthtwin.interop.records import EncounterRecord
    >>> record = EncounterRecord(id="e1", patient_id="p1", status="planned", class_code="AMB")
    >>> encounter_json(record)["class"]
    {'system': 'http://terminology.hl7.org/CodeSystem/v3-ActCode', 'code': 'AMB'}
    """
    data: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": record.id,
        "status": record.status,
        "class": {"system": ACT_CODE, "code": record.class_code},
        "subject": reference("Patient", record.patient_id),
    }
    if record.start is not None or record.end is not None:
        data["period"] = drop_none({"start": _instant(record.start), "end": _instant(record.end)})
    if record.location_ids:
        data["location"] = [{"location": reference("Location", i)} for i in record.location_ids]
    if record.organization_id is not None:
        data["serviceProvider"] = reference("Organization", record.organization_id)
    return data


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


def administration_json(record: MedicationRecord) -> dict[str, Any]:
    """A MedicationAdministration as FHIR JSON, not validated.

    The same resource as
    :func:`~healthtwin.interop.fhir_medications.administration_from_record` writes.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> from healthtwin.interop.records import Coding
    >>> record = MedicationRecord(id="m1", patient_id="p1", kind="administration",
    ...     medication=Coding(system="http://www.nlm.nih.gov/research/umls/rxnorm",
    ...     code="274783"), start=datetime(2024, 5, 1, 7, 30, tzinfo=UTC), dose=6.0,
    ...     dose_unit="U")
    >>> administration_json(record)["dosage"]["dose"]["value"]
    6.0
    """
    data: dict[str, Any] = {
        "resourceType": "MedicationAdministration",
        "id": record.id,
        "status": record.status,
        "medicationCodeableConcept": concept(record.medication),
        "subject": reference("Patient", record.patient_id),
    }
    if record.end is None:
        data["effectiveDateTime"] = fhir_instant(record.start)
    else:
        data["effectivePeriod"] = {
            "start": fhir_instant(record.start),
            "end": fhir_instant(record.end),
        }
    dosage = _dosage(record, "dose")
    if dosage:
        data["dosage"] = dosage
    if record.encounter_id is not None:
        data["context"] = reference("Encounter", record.encounter_id)
    return data


def request_json(record: MedicationRecord) -> dict[str, Any]:
    """A MedicationRequest as FHIR JSON, not validated.

    The same resource as :func:`~healthtwin.interop.fhir_medications.request_from_record`
    writes (``intent = "order"``, ``authoredOn`` is the start, an end adds boundsPeriod).

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> from healthtwin.interop.records import Coding
    >>> record = MedicationRecord(id="r1", patient_id="p1", kind="request",
    ...     medication=Coding(system="http://www.nlm.nih.gov/research/umls/rxnorm",
    ...     code="274783"), start=datetime(2024, 5, 1, tzinfo=UTC))
    >>> request_json(record)["authoredOn"]
    '2024-05-01T00:00:00Z'
    """
    data: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": record.id,
        "status": record.status,
        "intent": "order",
        "medicationCodeableConcept": concept(record.medication),
        "subject": reference("Patient", record.patient_id),
        "authoredOn": fhir_instant(record.start),
    }
    dosage = _dosage(record, "doseQuantity")
    instruction: dict[str, Any] = {}
    if "route" in dosage:
        instruction["route"] = dosage.pop("route")
    if dosage:
        instruction["doseAndRate"] = [dosage]
    if record.end is not None:
        bounds = {"start": fhir_instant(record.start), "end": fhir_instant(record.end)}
        instruction["timing"] = {"repeat": {"boundsPeriod": bounds}}
    if instruction:
        data["dosageInstruction"] = [instruction]
    if record.encounter_id is not None:
        data["encounter"] = reference("Encounter", record.encounter_id)
    return data


def medication_json(record: MedicationRecord) -> dict[str, Any]:
    """The resource a medication record's ``kind`` names, as FHIR JSON, not validated.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> from healthtwin.interop.records import Coding
    >>> record = MedicationRecord(id="m1", patient_id="p1", kind="administration",
    ...     medication=Coding(system="http://snomed.info/sct", code="325072002"),
    ...     start=datetime(2024, 5, 1, tzinfo=UTC))
    >>> medication_json(record)["resourceType"]
    'MedicationAdministration'
    """
    if record.kind == "administration":
        return administration_json(record)
    return request_json(record)
