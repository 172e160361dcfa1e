"""Property: records -> OMOP -> records is the identity for every field OMOP holds.

Hypothesis draws patients with random ids, dates down to the microsecond, mapped and
unmapped codes, panels, infusions, open and closed encounters, and checks the import against
``omop_view`` (the record with the fields OMOP does not hold reset to the import defaults).
"""

from __future__ import annotations

import tempfile
from datetime import UTC, date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine
from tests.interop.test_omop_samples import omop_view

from healthtwin.interop.codes import LOINC, RXNORM, SNOMED, VITALS
from healthtwin.interop.omop import export_omop, export_omop_csv, import_omop, import_omop_csv
from healthtwin.interop.records import (
    Coding,
    ConditionRecord,
    EncounterRecord,
    MedicationRecord,
    ObservationComponent,
    ObservationRecord,
    PatientData,
    PatientRecord,
)

IDS = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.", min_size=1, max_size=64
)
TIMES = st.datetimes(
    min_value=datetime(1950, 1, 1), max_value=datetime(2060, 1, 1), timezones=st.just(UTC)
)
VALUES = st.floats(allow_nan=False, allow_infinity=False, width=64)
TEXT = st.text("abcdefghijklmnopqrstuvwxyz/[]%0123456789 ,\"'", min_size=1, max_size=12)
LOCAL = st.builds(
    lambda s, c: Coding(system=s, code=c),
    st.sampled_from(["urn:local:lab", LOINC, SNOMED, "http://hl7.org/fhir/sid/icd-10"]),
    st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-", min_size=1, max_size=70),
)
CONDITIONS = st.one_of(
    st.sampled_from(["46635009", "44054006", "91302008", "59621000", "22298006"]).map(
        lambda c: Coding(system=SNOMED, code=c, display="shown by the source")
    ),
    LOCAL,
)
DRUGS = st.one_of(
    st.sampled_from(["8782", "73032", "86009", "274783"]).map(
        lambda c: Coding(system=RXNORM, code=c)
    ),
    LOCAL,
)


def _after(start: datetime) -> st.SearchStrategy[datetime | None]:
    return st.one_of(
        st.none(), st.timedeltas(timedelta(0), timedelta(days=90)).map(lambda d: start + d)
    )


@st.composite
def observations(draw: st.DrawFn, pid: str, oid: str) -> ObservationRecord:
    effective = draw(TIMES)
    if draw(st.booleans()):
        vital = draw(st.sampled_from(list(VITALS.values())))
        value = draw(st.one_of(st.none(), VALUES))
        return ObservationRecord(
            id=oid,
            patient_id=pid,
            code=Coding(system=LOINC, code=vital.code),
            effective=effective,
            value=value,
            unit=None if value is None else vital.unit,
            status="preliminary",
        )
    if draw(st.booleans()):
        parts = tuple(
            ObservationComponent(
                code=Coding(system=LOINC, code=code), value=draw(VALUES), unit="mm[Hg]"
            )
            for code in draw(st.sampled_from([("8480-6", "8462-4"), ("8480-6",), ("8478-0",)]))
        )
        return ObservationRecord(
            id=oid,
            patient_id=pid,
            code=Coding(system=LOINC, code="85354-9"),
            effective=effective,
            components=parts,
            category="vital-signs",
        )
    return ObservationRecord(
        id=oid,
        patient_id=pid,
        code=draw(LOCAL),
        effective=effective,
        value=draw(st.one_of(st.none(), VALUES)),
        unit=draw(st.one_of(st.none(), TEXT)),
    )


@st.composite
def patients(draw: st.DrawFn, pid: str) -> PatientData:
    encounters = []
    for i in range(draw(st.integers(0, 2))):
        start = draw(TIMES)
        encounters.append(
            EncounterRecord(
                id=f"{pid}-e{i}",
                patient_id=pid,
                status="in-progress",
                class_code=draw(st.sampled_from(["IMP", "AMB", "EMER", "HH", "VR"])),
                start=start,
                end=draw(_after(start)),
                organization_id=draw(st.sampled_from([None, "org-a", "org-b"])),
                location_ids=("Location/ward",),
            )
        )
    links = st.sampled_from([None, *(e.id for e in encounters)])
    conditions = []
    for i in range(draw(st.integers(0, 2))):
        onset = draw(TIMES)
        conditions.append(
            ConditionRecord(
                id=f"{pid}-c{i}",
                patient_id=pid,
                code=draw(CONDITIONS),
                onset=onset,
                abatement=draw(_after(onset)),
                encounter_id=draw(links),
                clinical_status=draw(st.sampled_from(["active", "resolved", "remission"])),
            )
        )
    medications = []
    for i in range(draw(st.integers(0, 2))):
        start = draw(TIMES)
        rate = draw(st.one_of(st.none(), VALUES))
        medications.append(
            MedicationRecord(
                id=f"{pid}-m{i}",
                patient_id=pid,
                kind=draw(st.sampled_from(["administration", "request"])),
                medication=draw(DRUGS),
                start=start,
                end=draw(_after(start)),
                dose=draw(st.one_of(st.none(), VALUES)),
                dose_unit=draw(st.one_of(st.none(), TEXT)),
                rate=rate,
                rate_unit=None if rate is None else draw(st.one_of(st.none(), TEXT)),
                route=draw(st.sampled_from([None, Coding(system=SNOMED, code="47625008")])),
                encounter_id=draw(links),
                status="on-hold",
            )
        )
    n_obs = draw(st.integers(0, 3))
    return PatientData(
        patient=PatientRecord(
            id=pid,
            birth_date=draw(st.dates(date(1900, 1, 1), date(2030, 12, 31))),
            gender=draw(st.sampled_from([None, "male", "female", "other", "unknown"])),
            country=draw(st.sampled_from([None, "DE", "JP", "BR"])),
            managing_organization_id=draw(st.sampled_from([None, "org-a"])),
            family="Doe",
            given=("Jo",),
        ),
        observations=tuple(draw(observations(pid, f"{pid}-o{i}")) for i in range(n_obs)),
        conditions=tuple(conditions),
        medications=tuple(medications),
        encounters=tuple(encounters),
    )


COHORTS = st.lists(IDS, min_size=1, max_size=3, unique=True).flatmap(
    lambda ids: st.tuples(*(patients(pid) for pid in ids))
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(COHORTS)
def test_database_round_trip_is_the_identity_on_what_omop_holds(
    cohort: tuple[PatientData, ...],
) -> None:
    engine = create_engine("sqlite://")
    try:
        export_omop(cohort, engine)
        back = import_omop(engine)
    finally:
        engine.dispose()
    assert back == [omop_view(p) for p in sorted(cohort, key=lambda p: p.patient.id)]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(COHORTS)
def test_csv_round_trip_is_the_identity_on_what_omop_holds(cohort: tuple[PatientData, ...]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        export_omop_csv(cohort, folder)
        back = import_omop_csv(folder)
    assert back == [omop_view(p) for p in sorted(cohort, key=lambda p: p.patient.id)]
