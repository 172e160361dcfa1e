"""De-identification against synthetic patients carrying planted identifiers.

``planted_bundle`` writes one FHIR R4 transaction bundle per synthetic patient (Patient,
Encounter, Observation, Condition, DocumentReference, Device) in which every one of the 18
Safe Harbor identifiers occurs, in structured fields, in narratives, notes and extensions,
and base64-encoded inside attachments. After de-identification no planted value may
survive anywhere in the JSON (every string searched case-insensitively, base64 strings
decoded first), intervals between a patient's dates are kept, and references resolve.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import json
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fhir.resources.R4B.bundle import Bundle
from hypothesis import given, settings
from hypothesis import strategies as st

from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.governance.deidentify import (
    DeidentificationConfig,
    deidentify_bundle,
    deidentify_resource,
)
from healthtwin.governance.deidentify_table import Column, ColumnAction, deidentify_records
from healthtwin.governance.generalise import shift_date
from healthtwin.governance.pseudonyms import PseudonymKey, format_urn_uuid
from healthtwin.governance.safe_harbor import Handling, HipaaIdentifier

SECRET = bytes(range(32))
REFERENCE_DAY = dt.date(2024, 6, 1)
SYLLABLES = ("zy", "qor", "ba", "tu", "vex", "lim", "dra", "ko", "wen", "yph", "sul", "mir")


def _word(rng: np.random.Generator, n: int = 4) -> str:
    return "".join(rng.choice(SYLLABLES, size=n)).capitalize()


def _digits(rng: np.random.Generator, n: int) -> str:
    return "".join(str(d) for d in rng.integers(0, 10, size=n))


def _day(rng: np.random.Generator, start: dt.date, span_days: int) -> dt.date:
    return start + dt.timedelta(days=int(rng.integers(0, span_days)))


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def planted_bundle(index: int, rng: np.random.Generator) -> tuple[dict[str, Any], dict[str, Any]]:
    """One patient's bundle and what was planted in it (values, dates, age)."""
    old = index % 3 == 0
    birth = _day(rng, dt.date(1925, 1, 1) if old else dt.date(1950, 1, 1), 3000)
    admitted = _day(rng, dt.date(2021, 1, 1), 600)
    discharged = admitted + dt.timedelta(days=int(rng.integers(1, 30)))
    died = discharged + dt.timedelta(days=int(rng.integers(1, 90)))
    v = {
        "given": _word(rng),
        "family": _word(rng, 5),
        "relative": _word(rng, 5),
        "maiden": _word(rng, 5),
        "clinician": _word(rng, 5),
        "street": f"{int(rng.integers(10, 999))} {_word(rng)} Lane",
        "city": _word(rng, 3) + "ville",
        "zip": "03601" if index % 4 == 0 else f"{int(rng.integers(100, 999))}{_digits(rng, 2)}",
        "phone": f"+1 617-{_digits(rng, 3)}-{_digits(rng, 4)}",
        "fax": f"+1 617-{_digits(rng, 3)}-{_digits(rng, 4)}",
        "relative_phone": f"(508) {_digits(rng, 3)}-{_digits(rng, 4)}",
        "email": f"{_word(rng).lower()}.{index}@mail{_digits(rng, 3)}.example.org",
        "ssn": f"{_digits(rng, 3)}-{_digits(rng, 2)}-{_digits(rng, 4)}",
        "mrn": f"MRN{_digits(rng, 8)}",
        "member": f"HP-{_digits(rng, 10)}",
        "account": f"ACCT{_digits(rng, 9)}",
        "licence": f"DL{_digits(rng, 8)}",
        "vin": f"1HGCM{_digits(rng, 12)}",
        "plate": f"PLT{_digits(rng, 4)}X",
        "serial": f"SN-{_digits(rng, 11)}",
        "udi": f"(01)0{_digits(rng, 13)}(21){_digits(rng, 6)}",
        "lot": f"LOT{_digits(rng, 7)}",
        "url": f"https://{_word(rng).lower()}-{index}.blog.example.net/me",
        "device_url": f"http://pump-{_digits(rng, 6)}.example.com/api",
        "ip": "10." + ".".join(str(int(x)) for x in rng.integers(2, 250, size=3)),
        "biometric": f"FP-{_digits(rng, 12)}",
        "photo": _b64(f"JPEG face of {index} {_digits(rng, 20)}"),
    }
    dates = {
        "birth": birth.isoformat(),
        "admitted": f"{admitted.isoformat()}T08:{int(rng.integers(0, 6))}5:00+01:00",
        "discharged": discharged.isoformat() + "T17:30:00Z",
        "died": died.isoformat() + "T03:15:00Z",
        "observed": (admitted + dt.timedelta(days=1)).isoformat(),
    }
    pid = v["mrn"].lower()
    note = (
        f"Seen {v['given']} {v['family']} (SSN {v['ssn']}, MRN {v['mrn']}) on {dates['admitted']};"
        f" call {v['phone']} or {v['email']}; logged in from {v['ip']}; blog {v['url']}."
    )

    def ref(kind: str, rid: str) -> dict[str, str]:
        return {"reference": f"{kind}/{rid}", "display": f"{v['given']} {v['family']}"}

    patient = {
        "resourceType": "Patient",
        "id": pid,
        "meta": {"lastUpdated": dates["discharged"]},
        "text": {
            "status": "generated",
            "div": f"<div xmlns='http://www.w3.org/1999/xhtml'>{note}</div>",
        },
        "extension": [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName",
                "valueString": v["maiden"],
            },
            {"url": "http://example.org/fhir/last-login-ip", "valueCode": v["ip"]},
            {"url": "http://example.org/fhir/homepage", "valueUri": v["url"]},
        ],
        "identifier": [
            {
                "type": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}
                    ]
                },
                "system": "http://hospital.example.org/mrn",
                "value": v["mrn"],
            },
            {"system": "http://hl7.org/fhir/sid/us-ssn", "value": v["ssn"]},
            {"type": {"coding": [{"code": "MB"}]}, "value": v["member"]},
            {"type": {"coding": [{"code": "AN"}]}, "value": v["account"]},
            {"type": {"coding": [{"code": "DL"}]}, "value": v["licence"]},
            {"type": {"text": "vehicle identification number"}, "value": v["vin"]},
            {"type": {"text": "licence plate of vehicle"}, "value": v["plate"]},
            {"type": {"text": "fingerprint biometric template"}, "value": v["biometric"]},
        ],
        "name": [
            {"family": v["family"], "given": [v["given"]], "text": f"{v['given']} {v['family']}"}
        ],
        "telecom": [
            {"system": "phone", "value": v["phone"]},
            {"system": "fax", "value": v["fax"]},
            {"system": "email", "value": v["email"]},
            {"system": "url", "value": v["url"]},
        ],
        "gender": "female" if index % 2 else "male",
        "birthDate": dates["birth"],
        "deceasedDateTime": dates["died"],
        "address": [
            {
                "line": [v["street"]],
                "city": v["city"],
                "district": v["city"] + " County",
                "state": "NH",
                "postalCode": v["zip"],
                "country": "US",
            }
        ],
        "photo": [{"contentType": "image/jpeg", "data": v["photo"]}],
        "contact": [
            {
                "name": {"family": v["relative"]},
                "telecom": [{"system": "phone", "value": v["relative_phone"]}],
            }
        ],
        "generalPractitioner": [
            {"reference": f"Practitioner/{pid}-gp", "display": f"Dr {v['clinician']}"}
        ],
    }
    practitioner = {
        "resourceType": "Practitioner",
        "id": f"{pid}-gp",
        "name": [{"family": v["clinician"]}],
        "telecom": [{"system": "phone", "value": v["phone"]}],
    }
    encounter = {
        "resourceType": "Encounter",
        "id": f"{pid}-enc",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": ref("Patient", pid),
        "period": {"start": dates["admitted"], "end": dates["discharged"]},
        "identifier": [{"type": {"coding": [{"code": "AN"}]}, "value": v["account"]}],
    }
    observation = {
        "resourceType": "Observation",
        "id": f"{pid}-obs",
        "status": "final",
        "code": {
            "coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}],
            "text": f"HR of {v['family']}",
        },
        "subject": {"reference": f"urn:uuid:{index:08d}-0000-4000-8000-000000000000"},
        "encounter": ref("Encounter", f"{pid}-enc"),
        "effectiveDateTime": dates["observed"],
        "valueQuantity": {
            "value": 72,
            "unit": "/min",
            "system": "http://unitsofmeasure.org",
            "code": "/min",
        },
        "performer": [ref("Practitioner", f"{pid}-gp")],
        "device": ref("Device", f"{pid}-dev"),
        "note": [{"authorString": v["clinician"], "time": dates["observed"], "text": note}],
    }
    condition = {
        "resourceType": "Condition",
        "id": f"{pid}-cond",
        "code": {
            "coding": [
                {
                    "system": "http://snomed.info/sct",
                    "code": "44054006",
                    "display": "Diabetes mellitus type 2",
                }
            ]
        },
        "subject": ref("Patient", pid),
        "onsetAge": {
            "value": 93 if old else 51,
            "unit": "a",
            "system": "http://unitsofmeasure.org",
            "code": "a",
        },
        "recordedDate": dates["admitted"],
        "note": [{"text": note}],
    }
    document = {
        "resourceType": "DocumentReference",
        "id": f"{pid}-doc",
        "status": "current",
        "subject": ref("Patient", pid),
        "date": dates["discharged"].replace("Z", "+00:00"),
        "description": f"Discharge letter for {v['given']} {v['family']}",
        "content": [
            {
                "attachment": {
                    "contentType": "text/plain",
                    "data": _b64(note),
                    "url": v["url"],
                    "title": f"Letter {v['family']}",
                    "creation": dates["discharged"],
                }
            }
        ],
    }
    device = {
        "resourceType": "Device",
        "id": f"{pid}-dev",
        "identifier": [{"system": "http://devices.example.org/serial", "value": v["serial"]}],
        "udiCarrier": [{"deviceIdentifier": v["udi"][4:18], "carrierHRF": v["udi"]}],
        "serialNumber": v["serial"],
        "lotNumber": v["lot"],
        "url": v["device_url"],
        "patient": ref("Patient", pid),
        "note": [{"text": f"Pump of {v['given']} at {v['ip']}"}],
    }
    entries = [
        {
            "fullUrl": f"urn:uuid:{index:08d}-0000-4000-8000-000000000000",
            "resource": patient,
            "request": {"method": "PUT", "url": f"Patient/{pid}"},
        },
        *(
            {
                "fullUrl": f"http://hospital.example.org/fhir/{r['resourceType']}/{r['id']}",
                "resource": r,
                "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
            }
            for r in (practitioner, encounter, observation, condition, document, device)
        ),
    ]
    bundle = {
        "resourceType": "Bundle",
        "id": f"bundle-{pid}",
        "type": "transaction",
        "entry": entries,
    }
    values = {k: x for k, x in v.items() if k != "zip"} | {"zip": v["zip"]}
    return bundle, {"values": values, "dates": dates, "old": old, "id": pid}


@pytest.fixture(scope="module")
def cohort() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    rng = np.random.default_rng(20260613)
    return [planted_bundle(i, rng) for i in range(12)]


@pytest.fixture(scope="module")
def config() -> DeidentificationConfig:
    return DeidentificationConfig(key=PseudonymKey(SECRET), age_reference_date=REFERENCE_DAY)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value
        with contextlib.suppress(binascii.Error, ValueError):
            yield base64.b64decode(value, validate=True).decode("utf-8", "replace")


def _surviving(output: Any, planted: list[str]) -> list[str]:
    text = "\n".join(_strings(output)).lower() + json.dumps(output).lower()
    return [p for p in planted if p.lower() in text]


def test_the_synthetic_bundles_are_valid_fhir(cohort: list[tuple[dict[str, Any], Any]]) -> None:
    for bundle, _ in cohort:
        Bundle.model_validate(bundle)


def test_no_planted_identifier_survives(
    cohort: list[tuple[dict[str, Any], dict[str, Any]]], config: DeidentificationConfig
) -> None:
    outputs = [deidentify_bundle(bundle, config)[0] for bundle, _ in cohort]
    for output, (_, planted) in zip(outputs, cohort, strict=True):
        values = [*planted["values"].values(), planted["id"], *planted["dates"].values()]
        values += [d[:10] for d in planted["dates"].values()]
        assert _surviving(output, values) == []
        Bundle.model_validate(output)
    everything = [p for _, planted in cohort for p in planted["values"].values()]
    assert _surviving(outputs, everything) == []
    assert _surviving(outputs, [SECRET.hex(), base64.b64encode(SECRET).decode()]) == []


def test_dates_to_year_leaves_only_years(
    cohort: list[tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    config = DeidentificationConfig(
        key=PseudonymKey(SECRET), dates_to_year=True, age_reference_date=REFERENCE_DAY
    )
    output, report = deidentify_bundle(cohort[1][0], config)
    dates = [s for s in _strings(output) if re.match(r"^\d{4}-\d{2}", s)]
    assert dates == []
    assert report.finding("C").handling == (Handling.GENERALISED,)
    assert report.meets_safe_harbor
    assert output["entry"][0]["resource"]["birthDate"] == cohort[1][1]["dates"]["birth"][:4]


def _dates_of(output: dict[str, Any]) -> dict[str, dt.datetime]:
    by_type = {e["resource"]["resourceType"]: e["resource"] for e in output["entry"]}
    found = {
        "died": by_type["Patient"]["deceasedDateTime"],
        "admitted": by_type["Encounter"]["period"]["start"],
        "discharged": by_type["Encounter"]["period"]["end"],
        "observed": by_type["Observation"]["effectiveDateTime"],
    }
    if "birthDate" in by_type["Patient"]:
        found["birth"] = by_type["Patient"]["birthDate"]
    return {k: _instant(x) for k, x in found.items()}


def _instant(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def test_intervals_within_each_patient_are_kept(
    cohort: list[tuple[dict[str, Any], dict[str, Any]]], config: DeidentificationConfig
) -> None:
    shifts = set()
    for bundle, planted in cohort:
        output, _ = deidentify_bundle(bundle, config)
        after = _dates_of(output)
        before = {k: _instant(x) for k, x in planted["dates"].items() if k in after}
        assert ("birth" in after) is not planted["old"]
        for name, moment in after.items():
            assert moment - after["admitted"] == before[name] - before["admitted"], name
        shift = after["admitted"] - before["admitted"]
        low, high = config.shift_range_days
        assert shift != dt.timedelta(0)
        assert dt.timedelta(days=low) <= shift <= dt.timedelta(days=high)
        shifts.add(shift)
    assert len(shifts) > len(cohort) // 2


def test_references_still_resolve_and_pseudonyms_are_consistent(
    cohort: list[tuple[dict[str, Any], dict[str, Any]]], config: DeidentificationConfig
) -> None:
    bundle, planted = cohort[2]
    output, _ = deidentify_bundle(bundle, config)
    again, _ = deidentify_bundle(bundle, config)
    assert again == output
    targets = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in output["entry"]}
    full_urls = {e["fullUrl"] for e in output["entry"]}
    references = [s for e in output["entry"] for s in _references(e["resource"])]
    assert len(references) >= 8
    for reference in references:
        assert reference in targets or reference in full_urls, reference
    patient = output["entry"][0]["resource"]
    assert patient["id"] == config.key.pseudonym("Patient", planted["id"])
    alone, _ = deidentify_resource(bundle["entry"][2]["resource"], config)
    assert alone["subject"]["reference"] == f"Patient/{patient['id']}"


def _references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference":
                yield item
            else:
                yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


def test_another_key_gives_other_pseudonyms_and_shifts(
    cohort: list[tuple[dict[str, Any], dict[str, Any]]], config: DeidentificationConfig
) -> None:
    other = DeidentificationConfig(key=PseudonymKey(b"x" * 32), age_reference_date=REFERENCE_DAY)
    first, _ = deidentify_bundle(cohort[4][0], config)
    second, _ = deidentify_bundle(cohort[4][0], other)
    assert first["entry"][0]["resource"]["id"] != second["entry"][0]["resource"]["id"]


def test_the_report_names_every_planted_identifier(
    cohort: list[tuple[dict[str, Any], dict[str, Any]]], config: DeidentificationConfig
) -> None:
    _, report = deidentify_bundle(cohort[0][0], config)
    handled = {f.identifier: f for f in report.findings}
    for letter in HipaaIdentifier:
        assert handled[letter].count > 0, letter
    assert handled[HipaaIdentifier.B].handling == (Handling.GENERALISED, Handling.REMOVED)
    assert Handling.SHIFTED in handled[HipaaIdentifier.C].handling
    assert "Patient.birthDate (age 90+)" in handled[HipaaIdentifier.C].locations
    assert Handling.PSEUDONYMISED in handled[HipaaIdentifier.R].handling
    assert not report.meets_safe_harbor
    assert report.free_text_removed >= 6
    assert any("expert determination" in note for note in report.notes)


def test_ages_over_89_and_small_zip_areas_are_generalised(
    cohort: list[tuple[dict[str, Any], dict[str, Any]]], config: DeidentificationConfig
) -> None:
    output, _ = deidentify_bundle(cohort[0][0], config)
    patient = output["entry"][0]["resource"]
    condition = next(
        e["resource"] for e in output["entry"] if e["resource"]["resourceType"] == "Condition"
    )
    assert patient["address"] == [{"state": "NH", "postalCode": "000", "country": "US"}]
    assert condition["onsetAge"]["value"] == 90
    assert condition["onsetAge"]["comparator"] == ">="
    assert {"system": "urn:healthtwin:deidentification", "code": "age-90-or-older"} in patient[
        "meta"
    ]["tag"]


def test_tabular_records_are_deidentified_by_declared_columns(
    config: DeidentificationConfig,
) -> None:
    rows = [
        {
            "mrn": "A1",
            "admitted": dt.date(2020, 3, 4),
            "discharged": "2020-03-09",
            "zip": "05901",
            "age": 95,
            "note": "call 555",
            "ward": "ICU",
        },
        {
            "mrn": "A1",
            "admitted": dt.date(2020, 5, 1),
            "discharged": "2020-05-02",
            "zip": "02139",
            "age": 45,
            "note": "",
            "ward": "ICU",
        },
    ]
    columns = {
        "mrn": ColumnAction.PATIENT_ID,
        "admitted": ColumnAction.DATE,
        "discharged": ColumnAction.DATE,
        "zip": ColumnAction.ZIP,
        "age": ColumnAction.AGE,
        "note": Column(ColumnAction.FREE_TEXT),
        "ward": ColumnAction.KEEP,
    }
    out, report = deidentify_records(rows, columns, config)
    assert [r["zip"] for r in out] == ["000", "021"]
    assert [r["age"] for r in out] == ["90+", 45]
    assert all("note" not in r for r in out)
    assert out[0]["mrn"] == out[1]["mrn"] != "A1"
    gap = dt.date.fromisoformat(out[0]["discharged"]) - out[0]["admitted"]
    assert gap == dt.timedelta(days=5)
    assert out[1]["admitted"] - out[0]["admitted"] == dt.timedelta(days=58)
    assert report.finding("C").count == 4 + 1
    assert report.free_text_removed == 2


def test_undeclared_columns_and_bad_configuration_are_refused(
    config: DeidentificationConfig,
) -> None:
    with pytest.raises(InvalidInputError, match="without a de-identification rule"):
        deidentify_records([{"mrn": "1", "phone": "555"}], {"mrn": ColumnAction.PATIENT_ID}, config)
    with pytest.raises(InvalidParameterError, match="exactly one column"):
        deidentify_records([], {"a": ColumnAction.KEEP}, config)
    with pytest.raises(InvalidParameterError, match="at least 32 bytes"):
        PseudonymKey(b"short")
    with pytest.raises(InvalidParameterError, match="empty or only 0"):
        DeidentificationConfig(key=PseudonymKey(SECRET), shift_range_days=(0, 0))
    with pytest.raises(InvalidInputError, match="expected a FHIR Bundle"):
        deidentify_bundle({"resourceType": "Patient"}, config)


def test_contained_resources_keep_their_local_references(config: DeidentificationConfig) -> None:
    observation = {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "contained": [{"resourceType": "Patient", "id": "p1", "name": [{"family": "Qorvex"}]}],
        "subject": {"reference": "#p1"},
        "extension": [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/workflow-episodeOfCare",
                "valueReference": {"reference": "EpisodeOfCare/e1"},
            }
        ],
    }
    out, _ = deidentify_resource(observation, config)
    assert out["subject"]["reference"] == "#" + out["contained"][0]["id"]
    assert "name" not in out["contained"][0]
    assert out["extension"][0]["url"].endswith("workflow-episodeOfCare")
    assert out["extension"][0]["valueReference"]["reference"].startswith("EpisodeOfCare/")
    assert "e1" not in out["extension"][0]["valueReference"]["reference"][14:]


def test_a_passphrase_key_is_stretched_and_hidden() -> None:
    key = PseudonymKey.from_text("a long enough passphrase")
    assert len(key.secret) == 32
    assert "passphrase" not in repr(key)
    with pytest.raises(InvalidParameterError, match="too short"):
        PseudonymKey.from_text("short")
    with pytest.raises(InvalidParameterError, match="32 lowercase hex"):
        format_urn_uuid("not-hex")


def test_strings_inside_lists_are_shifted_and_scanned(config: DeidentificationConfig) -> None:
    request = {
        "resourceType": "MedicationRequest",
        "id": "m1",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"text": "Metformin for Zyqorbatu"},
        "dosageInstruction": [{"timing": {"event": ["2021-03-04T08:00:00Z", "2021-03-05"]}}],
        "instantiatesUri": ["http://zyqorbatu.example.net/plan"],
    }
    out, report = deidentify_resource(request, config)
    events = out["dosageInstruction"][0]["timing"]["event"]
    shift = config.key.shift_days("Patient/p1", *config.shift_range_days)
    assert events == [
        (dt.date(2021, 3, 4) + dt.timedelta(days=shift)).isoformat() + "T08:00:00Z",
        (dt.date(2021, 3, 5) + dt.timedelta(days=shift)).isoformat(),
    ]
    assert "instantiatesUri" not in out
    assert "medicationCodeableConcept" not in out
    assert report.finding("N").count == 1
    coverage = {"resourceType": "Coverage", "id": "c", "subscriberId": "HP-99",
                "status": "active", "beneficiary": {"reference": "Patient/p1"},
                "payor": [{"reference": "Organization/o"}]}  # fmt: skip
    out, report = deidentify_resource(coverage, config)
    assert "subscriberId" not in out
    assert report.finding("I").count == 1


@settings(max_examples=100, deadline=None)
@given(
    st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2090, 1, 1)),
    st.integers(min_value=0, max_value=20_000),
    st.text(min_size=1, max_size=20),
)
def test_a_patient_shift_keeps_every_interval(first: dt.date, gap_days: int, patient: str) -> None:
    key = PseudonymKey(SECRET)
    shift = key.shift_days(patient, -365, 365)
    second = first + dt.timedelta(days=gap_days)
    a = dt.date.fromisoformat(shift_date(first.isoformat(), shift))
    b = dt.date.fromisoformat(shift_date(second.isoformat(), shift))
    assert b - a == second - first
    assert a != first


def test_patients_without_ids_get_their_own_shift(config: DeidentificationConfig) -> None:
    def entry(n: int, kind: str, **fields: Any) -> dict[str, Any]:
        return {"fullUrl": f"urn:uuid:{n:08d}-1111-4000-8000-000000000000",
                "resource": {"resourceType": kind, **fields}}  # fmt: skip

    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            entry(1, "Patient", birthDate="1970-01-01"),
            entry(2, "Patient", birthDate="1970-01-01"),
            entry(
                3,
                "Observation",
                status="final",
                code={"text": "x"},
                subject={"reference": "urn:uuid:00000002-1111-4000-8000-000000000000"},
                effectiveDateTime="1970-01-01",
            ),
        ],
    }
    out, _ = deidentify_bundle(bundle, config)
    first, second, observation = (e["resource"] for e in out["entry"])
    assert first["birthDate"] != second["birthDate"]
    assert observation["effectiveDateTime"] == second["birthDate"]
