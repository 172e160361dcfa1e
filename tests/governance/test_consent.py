"""FHIR R4 Consent enforcement: provisions, defaults, and the batch index against the oracle.

Every Consent built here is validated with the ``fhir.resources`` R4B model first; three
come from the official FHIR R4 examples (package ``hl7.fhir.r4.examples`` 4.0.1, CC0),
reduced to the elements that matter (their narrative removed).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from fhir.resources.R4B.consent import Consent

from healthtwin.errors import InvalidInputError
from healthtwin.governance.consent import (
    ConsentDefaults,
    compile_consent,
    evaluate_consent,
    resource_patient,
)
from healthtwin.governance.consent_index import ConsentIndex
from healthtwin.governance.policy import AccessRequest

V3 = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
ACTCODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
NOW = datetime(2025, 6, 1, tzinfo=UTC)


def consent(
    cid: str,
    patient: str = "p1",
    provision: dict[str, Any] | None = None,
    *,
    status: str = "active",
    scope: str = "patient-privacy",
    rule: str | None = None,
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Consent",
        "id": cid,
        "status": status,
        "scope": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": scope}
            ]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{patient}"},
    }
    if rule:
        resource["policyRule"] = {"coding": [{"system": ACTCODE, "code": rule}]}
    if provision is not None:
        resource["provision"] = provision
    Consent.model_validate(resource)
    return resource


def purpose(*codes: str) -> list[dict[str, str]]:
    return [{"system": V3, "code": code} for code in codes]


def actor(reference: str, role: str = "PRCP") -> dict[str, Any]:
    return {
        "role": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                    "code": role,
                }
            ]
        },
        "reference": {"reference": reference},
    }


def ask(**overrides: Any) -> AccessRequest:
    fields: dict[str, Any] = {
        "actor": "Practitioner/1",
        "roles": ("clinician",),
        "purpose": "TREAT",
        "action": "r",
        "resource_type": "Observation",
        "patient_id": "p1",
        "at": NOW,
    }
    fields.update(overrides)
    return AccessRequest(**fields)


def decide(resources: list[dict[str, Any]], **overrides: Any) -> str | None:
    return evaluate_consent([compile_consent(r) for r in resources], ask(**overrides)).decision


DENY_EXCEPT_CARE = {"type": "deny", "provision": [{"type": "permit", "purpose": purpose("TREAT")}]}


def test_a_nested_permit_is_an_exception_to_the_base_deny() -> None:
    c = consent("c1", provision=DENY_EXCEPT_CARE)
    assert decide([c], purpose="ETREAT") == "permit"  # specialisations are covered
    assert decide([c], purpose="HRESCH") == "deny"
    assert decide([c], purpose="PUBHLTH") == "deny"


def test_deny_overrides_permit_among_siblings_and_below() -> None:
    siblings = consent(
        "c1",
        provision={
            "type": "permit",
            "provision": [
                {"type": "permit", "purpose": purpose("TREAT")},
                {"type": "deny", "actor": [actor("Practitioner/1")]},
            ],
        },
    )
    assert decide([siblings]) == "deny"
    assert decide([siblings], actor="Practitioner/2") == "permit"
    deeper = consent(
        "c2",
        provision={
            "type": "deny",
            "provision": [
                {
                    "type": "permit",
                    "purpose": purpose("TREAT"),
                    "provision": [
                        {
                            "type": "deny",
                            "class": [
                                {
                                    "system": "http://hl7.org/fhir/resource-types",
                                    "code": "Observation",
                                }
                            ],
                        }
                    ],
                }
            ],
        },
    )
    assert decide([deeper]) == "deny"
    assert decide([deeper], resource_type="Condition") == "permit"
    exception_of_exception = consent(
        "c3",
        provision={
            "type": "deny",
            "provision": [
                {
                    "type": "permit",
                    "purpose": purpose("TREAT"),
                    "provision": [
                        {
                            "type": "deny",
                            "actor": [actor("Organization/x")],
                            "provision": [{"type": "permit", "purpose": purpose("ETREAT")}],
                        }
                    ],
                }
            ],
        },
    )
    assert decide([exception_of_exception], organization="Organization/x") == "deny"
    assert (
        decide([exception_of_exception], organization="Organization/x", purpose="ETREAT")
        == "permit"
    )


def test_several_consents_deny_overrides_and_outcome_names_the_provision() -> None:
    permit = consent("c1", rule="OPTIN")
    deny = consent(
        "c2",
        provision={"type": "permit", "provision": [{"type": "deny", "purpose": purpose("HRESCH")}]},
    )
    outcome = evaluate_consent(
        [compile_consent(permit), compile_consent(deny)], ask(purpose="BIORCH")
    )
    assert (outcome.decision, outcome.consent_id, outcome.provision) == (
        "deny",
        "c2",
        "provision.provision[0]",
    )
    assert decide([permit, deny]) == "permit"


def test_period_actor_action_and_class_conditions() -> None:
    timed = consent(
        "c1", provision={"type": "permit", "period": {"start": "2025-01-01", "end": "2025-05-31"}}
    )
    assert decide([timed], at=datetime(2025, 5, 31, 23, 59, tzinfo=UTC)) == "permit"
    assert decide([timed], at=datetime(2025, 6, 1, tzinfo=UTC)) is None  # end day included
    assert decide([timed], at=datetime(2024, 12, 31, 23, tzinfo=UTC)) is None
    by_role = consent(
        "c2",
        provision={
            "type": "permit",
            "provision": [{"type": "deny", "actor": [actor("Group/researcher")]}],
        },
    )
    assert decide([by_role], roles=("researcher",)) == "deny"
    assert decide([by_role], roles=("clinician",)) == "permit"
    no_correction = consent(
        "c3",
        provision={
            "type": "permit",
            "provision": [{"type": "deny", "action": [{"coding": [{"code": "correct"}]}]}],
        },
    )
    assert decide([no_correction], action="r") == "permit"
    assert decide([no_correction], action="u") == "deny"


def test_scope_status_and_defaults() -> None:
    research_optin = consent("c1", scope="research", rule="OPTIN")
    assert decide([research_optin], purpose="CLINTRCH") == "permit"
    assert decide([research_optin], purpose="TREAT") is None  # a research consent only
    for status in ("draft", "proposed", "rejected", "inactive", "entered-in-error"):
        assert decide([consent("c2", status=status, rule="OPTOUT")]) is None
    assert decide([consent("c3", scope="treatment", rule="OPTOUT")]) is None
    defaults = ConsentDefaults()
    assert defaults.allows("BTG")
    assert defaults.allows("PUBHLTH")
    assert not defaults.allows("DSRCH")
    assert not defaults.allows("HTEST")
    assert defaults.allows("RECORDMGT")  # under HOPERAT
    strict = ConsentDefaults({"TREAT": True})
    assert not strict.allows("PUBHLTH")
    with pytest.raises(InvalidInputError):
        ConsentDefaults({"CARE": True})


def test_undecidable_conditions_resolve_toward_refusal() -> None:
    labelled_deny = consent(
        "c1",
        provision={
            "type": "permit",
            "provision": [{"type": "deny", "securityLabel": [{"system": ACTCODE, "code": "PSY"}]}],
        },
    )
    assert decide([labelled_deny]) == "deny"
    coded_permit = consent(
        "c2",
        rule="OPTOUT",
        provision={
            "provision": [
                {
                    "type": "permit",
                    "code": [{"coding": [{"system": "http://loinc.org", "code": "34133-9"}]}],
                }
            ]
        },
    )
    assert decide([coded_permit]) == "deny"


def test_official_r4_examples() -> None:
    emergency = consent(
        "consent-example-Emergency",
        "f001",
        rule="OPTOUT",
        provision={
            "actor": [actor("Organization/f001", "CST")],
            "purpose": purpose("ETREAT"),
            "provision": [{"type": "deny", "actor": [actor("Organization/f001", "CST")]}],
        },
    )
    # the nested deny matches the named organisation only: its emergency access is refused
    assert (
        decide([emergency], patient_id="f001", purpose="ETREAT", organization="Organization/f001")
        == "deny"
    )
    not_time = consent(
        "consent-example-notTime",
        "f001",
        rule="OPTIN",
        provision={"period": {"start": "2015-01-01", "end": "2015-02-01"}},
    )
    assert decide([not_time], at=datetime(2015, 1, 15, tzinfo=UTC)) == "permit"
    assert decide([not_time]) is None
    smart = consent(
        "consent-example-smartonfhir",
        "xcda",
        rule="OPTIN",
        provision={
            "period": {"start": "2016-06-23T17:02:33+10:00", "end": "2016-06-23T17:32:33+10:00"},
            "provision": [
                {
                    "type": "permit",
                    "action": [{"coding": [{"code": "access"}]}],
                    "class": [
                        {
                            "system": "http://hl7.org/fhir/resource-types",
                            "code": "MedicationRequest",
                        }
                    ],
                }
            ],
        },
    )
    during = datetime(2016, 6, 23, 7, 10, tzinfo=UTC)
    assert decide([smart], at=during, resource_type="MedicationRequest") == "permit"
    assert decide([smart], at=datetime(2016, 6, 23, 8, 0, tzinfo=UTC)) is None


@pytest.mark.parametrize(
    ("resource", "message"),
    [
        ({"resourceType": "Patient"}, "expected a FHIR Consent"),
        ({"resourceType": "Consent", "id": "x"}, "enforcement needs 'Patient/<id>'"),
        (
            {
                "resourceType": "Consent",
                "id": "x",
                "patient": {"reference": "Patient/1"},
                "provision": {"provision": [{"purpose": purpose("TREAT")}]},
            },
            r"provision\.provision\[0\]\.type is None",
        ),
        (
            {
                "resourceType": "Consent",
                "id": "x",
                "patient": {"reference": "Patient/1"},
                "provision": {"period": {"start": "2020-13-01"}},
            },
            "not a valid FHIR date",
        ),
        (
            {
                "resourceType": "Consent",
                "id": "x",
                "patient": {"reference": "Patient/1"},
                "provision": {"period": {"start": "2020-01-01T10:00:00"}},
            },
            "needs a time zone",
        ),
        (
            {
                "resourceType": "Consent",
                "id": "x",
                "patient": {"reference": "Patient/1"},
                "provision": {"purpose": purpose("FUN")},
            },
            "unknown purpose",
        ),
    ],
)
def test_malformed_consents_are_refused(resource: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        compile_consent(resource)


def observation(oid: str, patient: str, when: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"text": "glucose"},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": when,
    }


def test_filter_resources_decides_data_and_data_period_per_resource() -> None:
    index = ConsentIndex(
        [
            consent(
                "c1",
                "p1",
                {
                    "type": "permit",
                    "provision": [
                        {
                            "type": "deny",
                            "data": [
                                {
                                    "meaning": "instance",
                                    "reference": {"reference": "Observation/o2"},
                                }
                            ],
                        }
                    ],
                },
            ),
            consent(
                "c2",
                "p2",
                {
                    "type": "permit",
                    "provision": [{"type": "deny", "dataPeriod": {"start": "2020", "end": "2020"}}],
                },
            ),
            consent("c3", "p3", {"type": "deny"}),
        ]
    )
    resources = [
        observation("o1", "p1", "2021-03-01T10:00:00Z"),
        observation("o2", "p1", "2021-03-01T10:00:00Z"),
        observation("o3", "p2", "2020-07-01T10:00:00Z"),
        observation("o4", "p2", "2021-01-01T00:00:00Z"),
        observation("o5", "p3", "2021-01-01T00:00:00Z"),
        observation("o6", "p4", "2021-01-01T00:00:00Z"),
        {"resourceType": "Organization", "id": "org1"},
    ]
    kept, removed = index.filter_resources(ask(patient_id=None), resources)
    assert [r["id"] for r in kept] == ["o1", "o4", "o6", "org1"]
    assert removed == 3
    # patient level, the resource-dependent denies resolve toward refusal
    assert index.allowed_patients(ask(), ["p1", "p2", "p3", "p4"]).tolist() == [
        False,
        False,
        False,
        True,
    ]
    assert resource_patient({"resourceType": "Patient", "id": "p9"}) == "p9"
    assert resource_patient({"resourceType": "Organization", "id": "o"}) is None


PURPOSE_POOL = ("TREAT", "ETREAT", "HRESCH", "CLINTRCH", "PUBHLTH", "HMARKT", "HOPERAT")
ACTORS = ("Practitioner/1", "Practitioner/2", "Organization/a", "Group/researcher")
TYPES = ("Observation", "Condition", "Patient")


def random_provision(rng: np.random.Generator, depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"type": str(rng.choice(["permit", "deny"]))}
    if rng.random() < 0.4:
        node["purpose"] = purpose(*rng.choice(PURPOSE_POOL, size=rng.integers(1, 3)))
    if rng.random() < 0.3:
        node["actor"] = [actor(str(a)) for a in rng.choice(ACTORS, size=rng.integers(1, 3))]
    if rng.random() < 0.3:
        node["class"] = [
            {"system": "http://hl7.org/fhir/resource-types", "code": str(t)}
            for t in rng.choice(TYPES, size=rng.integers(1, 3))
        ]
    if rng.random() < 0.2:
        year = int(rng.integers(2023, 2027))
        node["period"] = {"start": f"{year}-01-01", "end": f"{year + 1}-06-30"}
    if rng.random() < 0.1:
        node["action"] = [{"coding": [{"code": str(rng.choice(["access", "correct"]))}]}]
    if rng.random() < 0.05:
        node["dataPeriod"] = {"start": "2020-01-01"}
    if rng.random() < 0.05:
        node["securityLabel"] = [{"code": "R"}]
    if depth < 3:
        node["provision"] = [
            random_provision(rng, depth + 1) for _ in range(int(rng.integers(0, 3)))
        ]
    return node


def test_batch_index_agrees_with_consent_by_consent_evaluation() -> None:
    rng = np.random.default_rng(20250601)
    resources = []
    for number in range(600):
        root = random_provision(rng, 0)
        if rng.random() < 0.3:
            root.pop("type")
        resources.append(
            consent(
                f"c{number}",
                f"p{rng.integers(0, 400)}",
                root,
                status=str(rng.choice(["active", "active", "inactive"])),
                scope=str(rng.choice(["patient-privacy", "research"])),
                rule=str(rng.choice(["OPTIN", "OPTOUT"])) if rng.random() < 0.5 else None,
            )
        )
    index = ConsentIndex(resources)
    patients = [f"p{i}" for i in range(420)]  # some without any consent
    n_checked = n_allowed = 0
    for code in PURPOSE_POOL:
        for who in ACTORS[:3]:
            for kind in TYPES:
                for year in (2024, 2026):
                    request = ask(
                        purpose=code,
                        actor=who,
                        resource_type=kind,
                        patient_id=None,
                        roles=("researcher",),
                        at=datetime(year, 3, 1, tzinfo=UTC),
                    )
                    batch = index.allowed_patients(request, patients)
                    one_by_one = [index.allows(request, p) for p in patients]
                    assert batch.tolist() == one_by_one, (code, who, kind, year)
                    n_checked += 1
                    n_allowed += int(batch.sum())
    assert n_checked == 126
    assert 0.1 < n_allowed / (n_checked * len(patients)) < 0.9  # both answers occur
