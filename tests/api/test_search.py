"""Search through a real server: criteria, _sort, _count, paging links, the index path."""

from __future__ import annotations

import httpx
from fhirpy import SyncFHIRClient
from tests.api.conftest import Server, unique
from tests.api.fixtures import cgm, heart_rate, patient


def test_patient_search_by_name_gender_birthdate_identifier(fhir: SyncFHIRClient) -> None:
    family = unique("Fam")
    system = "urn:test:mrn"
    for i, (gender, born) in enumerate([("female", "1970-01-02"), ("male", "1980-05-06")]):
        fhir.resource(
            "Patient",
            **patient(family, gender=gender, birthDate=born),
            identifier=[{"system": system, "value": f"{family}-{i}"}],
        ).save()
    found = fhir.resources("Patient").search(family=family, gender="female").fetch_all()
    assert [p["birthDate"] for p in found] == ["1970-01-02"]
    found = fhir.resources("Patient").search(name=family, birthdate="ge1975").fetch_all()
    assert [p["gender"] for p in found] == ["male"]
    found = fhir.resources("Patient").search(identifier=f"{system}|{family}-1").fetch_all()
    assert len(found) == 1
    assert found[0]["gender"] == "male"


def test_observation_search_pages_and_sorts(fhir: SyncFHIRClient, http: httpx.Client) -> None:
    owner = fhir.resource("Patient", **patient("Pager"))
    owner.save()
    for minute in range(7):
        fhir.resource(
            "Observation", **heart_rate(owner.id, f"2024-05-01T08:0{minute}:00Z", 60 + minute)
        ).save()
    search = fhir.resources("Observation").search(patient=owner.id).sort("-date").limit(3)
    values = [o["valueQuantity"]["value"] for o in search.fetch_all()]
    assert values == [66, 65, 64, 63, 62, 61, 60]
    page = http.get("/Observation", params={"patient": owner.id, "_count": 3, "_offset": 3})
    bundle = page.json()
    assert bundle["total"] == 7
    assert len(bundle["entry"]) == 3
    assert {link["relation"] for link in bundle["link"]} == {"self", "first", "previous", "next"}


def test_observation_search_by_code_and_date_prefix(fhir: SyncFHIRClient) -> None:
    owner = fhir.resource("Patient", **patient("Glucose"))
    owner.save()
    for hour in range(0, 24, 6):
        fhir.resource(
            "Observation", **cgm(owner.id, f"2024-05-02T{hour:02d}:00:00Z", 5 + hour)
        ).save()
    fhir.resource("Observation", **heart_rate(owner.id, "2024-05-02T12:00:00Z", 70)).save()
    found = (
        fhir.resources("Observation")
        .search(patient=f"Patient/{owner.id}", code="http://loinc.org|105272-9")
        .search(date__ge="2024-05-02T06:00:00Z")
        .search(date__lt="2024-05-02T18:00:00Z")
        .fetch_all()
    )
    assert sorted(o["valueQuantity"]["value"] for o in found) == [11, 17]
    assert (
        fhir.resources("Observation").search(patient=owner.id, category="vital-signs").count() == 1
    )


def test_post_search_is_form_encoded(http: httpx.Client, fhir: SyncFHIRClient) -> None:
    family = unique("Form")
    fhir.resource("Patient", **patient(family)).save()
    response = http.post("/Patient/_search", data={"family": family})
    assert response.status_code == 200
    assert response.json()["total"] == 1


def test_count_is_capped_and_unknown_parameter_refused(http: httpx.Client) -> None:
    capped = http.get("/Patient", params={"_count": 10**6}).json()
    assert "_count=1000" in capped["link"][0]["url"]
    refused = http.get("/Patient", params={"colour": "blue"})
    assert refused.status_code in (400, 422)
    assert refused.json()["issue"][0]["expression"] == ["colour"]


def test_everything_returns_the_patient_and_its_resources(
    fhir: SyncFHIRClient, http: httpx.Client, server: Server
) -> None:
    owner = fhir.resource("Patient", **patient("Everything"))
    owner.save()
    fhir.resource("Observation", **heart_rate(owner.id, "2024-05-01T08:00:00Z", 70)).save()
    fhir.resource(
        "Condition",
        subject={"reference": f"Patient/{owner.id}"},
        code={"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}]},
    ).save()
    bundle = http.get(f"/Patient/{owner.id}/$everything").json()
    types = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert types == ["Patient", "Observation", "Condition"]
