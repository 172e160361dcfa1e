"""The per-request decision: policy and permit, then opt-out, then consent, then default."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from healthtwin.errors import ConsentError
from healthtwin.governance.access import AccessController
from healthtwin.governance.consent_index import ConsentIndex
from healthtwin.governance.optout import OptOut, OptOutRegistry
from healthtwin.governance.policy import AccessRequest, load_policy

NOW = datetime(2025, 6, 1, tzinfo=UTC)
POLICY = load_policy("""
datasets: {cgm: [Observation, Patient]}
rules:
  - {id: care, roles: [clinician], actions: rs, resource_types: ["*"], purposes: [TREAT]}
  - {id: study, roles: [researcher], actions: rs, resource_types: [Observation, Patient],
     purposes: [HRESCH], requires_permit: true}
permits:
  - {project: cgm-study, purposes: [HRESCH], datasets: [cgm], expires: "2030-01-01T00:00:00Z"}
""")


def consent(cid: str, patient: str, provision: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Consent",
        "id": cid,
        "status": "active",
        "scope": {"coding": [{"code": "patient-privacy"}]},
        "category": [{"coding": [{"code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{patient}"},
        "provision": provision,
    }


def research_permit(patient: str) -> dict[str, Any]:
    return consent(
        f"yes-{patient}",
        patient,
        {
            "type": "permit",
            "purpose": [
                {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HRESCH"}
            ],
        },
    )


CONTROLLER = AccessController(
    POLICY,
    ConsentIndex(
        [
            research_permit("p1"),
            research_permit("p2"),
            consent("no-p3", "p3", {"type": "deny"}),
        ]
    ),
    OptOutRegistry([OptOut("p2")]),
)


def study(patient: str | None, **overrides: Any) -> AccessRequest:
    fields: dict[str, Any] = {
        "actor": "Practitioner/9",
        "roles": ("researcher",),
        "scopes": ("user/Observation.rs",),
        "purpose": "HRESCH",
        "action": "s",
        "resource_type": "Observation",
        "patient_id": patient,
        "project": "cgm-study",
        "at": NOW,
    }
    fields.update(overrides)
    return AccessRequest(**fields)


@pytest.mark.parametrize(
    ("patient", "allowed", "check", "words"),
    [
        ("p1", True, None, "Consent/yes-p1 (provision) permits"),
        ("p2", False, "opt-out", "opted out of secondary use"),
        ("p3", False, "consent", "Consent/no-p3 (provision) denies"),
        ("p4", False, "consent", "default for HRESCH is deny"),
    ],
)
def test_each_check_in_turn(patient: str, allowed: bool, check: str | None, words: str) -> None:
    decision = CONTROLLER.decide(study(patient))
    assert (decision.allowed, decision.failed_check) == (allowed, check)
    assert words in decision.reason


def test_policy_refusals_come_first_and_care_uses_the_default() -> None:
    no_scope = CONTROLLER.decide(study("p1", scopes=("user/Patient.rs",)))
    assert no_scope.failed_check == "scope"
    expired = CONTROLLER.decide(study("p1", at=datetime(2031, 1, 1, tzinfo=UTC)))
    assert expired.failed_check == "permit"
    care = study("p4", roles=("clinician",), purpose="TREAT", project=None)
    decision = CONTROLLER.decide(care)
    assert decision.allowed
    assert "default for TREAT permits" in decision.reason
    assert not CONTROLLER.decide(
        study("p3", roles=("clinician",), purpose="TREAT", project=None)
    ).allowed
    assert CONTROLLER.decide(study(None)).allowed  # a query: results are filtered instead


def test_require_raises_consent_error() -> None:
    assert CONTROLLER.require(study("p1")).allowed
    with pytest.raises(ConsentError, match=r"access refused \(opt-out\)"):
        CONTROLLER.require(study("p2"))
    with pytest.raises(PermissionError):
        CONTROLLER.require(study("p3"))


def test_population_queries_keep_only_permitted_patients() -> None:
    observations = [
        {
            "resourceType": "Observation",
            "id": f"o{p}",
            "status": "final",
            "code": {"text": "glucose"},
            "subject": {"reference": f"Patient/p{p}"},
        }
        for p in range(1, 6)
    ]
    kept, removed = CONTROLLER.filter_resources(study(None), observations)
    assert [r["id"] for r in kept] == ["o1"]
    assert removed == 4
    patients = [f"p{i}" for i in range(1, 6)]
    assert CONTROLLER.allowed_patients(study(None), patients).tolist() == [
        True,
        False,
        False,
        False,
        False,
    ]
    many = [f"p{i}" for i in range(1, 200)]  # the batch path
    assert CONTROLLER.allowed_patients(study(None), many).sum() == 1
    refused = study(None, scopes=("user/Patient.rs",))
    assert CONTROLLER.filter_resources(refused, observations) == ([], 5)
    assert not CONTROLLER.allowed_patients(refused, patients).any()


def test_empty_controller_is_default_deny() -> None:
    controller = AccessController(load_policy("rules: []"))
    decision = controller.decide(study("p1", project=None))
    assert not decision.allowed
    assert decision.failed_check == "policy"
