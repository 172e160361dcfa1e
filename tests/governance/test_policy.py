"""Policies as data: SMART scopes, rules (default deny), project permits; the matrix."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import pytest

from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.governance.policy import (
    AccessRequest,
    Policy,
    SmartScope,
    load_policy,
    parse_scope,
    parse_scopes,
)

POLICY = """
datasets:
  diabetes: [Observation, Patient]
  admissions: [Encounter]
rules:
  - {id: care, roles: [clinician], actions: crus, resource_types: ["*"], purposes: [TREAT]}
  - {id: nurse-read, roles: [nurse], actions: rs, resource_types: [Observation, Patient],
     purposes: [TREAT]}
  - {id: research, roles: [researcher], actions: rs,
     resource_types: [Observation, Patient, Encounter], purposes: [HRESCH],
     requires_permit: true}
  - {id: no-trial-encounters, effect: deny, roles: [researcher], actions: cruds,
     resource_types: [Encounter], purposes: [CLINTRCH]}
  - {id: surveillance, roles: [epidemiologist], actions: s,
     resource_types: [Encounter, Observation], purposes: [PUBHLTH]}
permits:
  - {project: diab-1, purposes: [HRESCH], datasets: [diabetes, admissions],
     valid_from: "2024-01-01T00:00:00Z", expires: "2030-01-01T00:00:00Z"}
  - {project: old, purposes: [HRESCH], datasets: [diabetes], expires: "2020-01-01T00:00:00Z"}
  - {project: named, purposes: [DSRCH], datasets: [diabetes], holders: [Practitioner/7],
     actions: s, expires: "2030-01-01T00:00:00Z"}
"""
NOW = datetime(2025, 6, 1, tzinfo=UTC)
ROLES = ("clinician", "nurse", "researcher", "epidemiologist")
SCOPES = (
    "user/*.cruds",
    "user/Observation.rs",
    "user/Patient.r",
    "system/*.s",
    "user/*.read",
    "patient/Observation.rs",
)
PURPOSES = ("TREAT", "ETREAT", "HRESCH", "CLINTRCH", "PUBHLTH", "HMARKT")
TYPES = ("Observation", "Patient", "Encounter")


def request(**overrides: object) -> AccessRequest:
    fields: dict[str, object] = {
        "actor": "Practitioner/1",
        "roles": ("clinician",),
        "scopes": ("user/*.cruds",),
        "purpose": "TREAT",
        "action": "r",
        "resource_type": "Observation",
        "patient_id": "p1",
        "token_patient_id": "p1",
        "at": NOW,
    }
    fields.update(overrides)
    return AccessRequest(**fields)  # type: ignore[arg-type]


def oracle(role: str, scope: str, purpose: str, kind: str, action: str) -> str | None:
    """The expected failed check for one cell of the matrix, written out by hand."""
    _context, rest = scope.split("/")
    scope_type, letters = rest.split(".")
    letters = {"read": "rs", "write": "cud"}.get(letters, letters)
    if action not in letters or scope_type not in ("*", kind):
        return "scope"
    treatment = purpose in ("TREAT", "ETREAT")
    research = purpose in ("HRESCH", "CLINTRCH")
    if role == "researcher" and kind == "Encounter" and purpose == "CLINTRCH":
        return "policy"
    if role == "clinician" and treatment and action != "d":
        return None
    if role == "nurse" and treatment and action in "rs" and kind != "Encounter":
        return None
    if role == "researcher" and research and action in "rs":
        return None  # project diab-1 covers Observation, Patient and Encounter, read/search
    if role == "epidemiologist" and purpose == "PUBHLTH" and action == "s" and kind != "Patient":
        return None
    return "policy"


def test_authorization_matrix_matches_the_oracle() -> None:
    policy = load_policy(POLICY)
    cells = itertools.product(ROLES, SCOPES, PURPOSES, TYPES, "cruds")
    n_allowed = 0
    for role, scope, purpose, kind, action in cells:
        project = "diab-1" if purpose in ("HRESCH", "CLINTRCH") else None
        got = policy.decide(
            request(
                roles=(role,),
                scopes=(scope,),
                purpose=purpose,
                resource_type=kind,
                action=action,
                project=project,
            )
        )
        expected = oracle(role, scope, purpose, kind, action)
        assert got.failed_check == expected, (role, scope, purpose, kind, action, got.reason)
        assert got.allowed == (expected is None)
        n_allowed += got.allowed
    assert 100 < n_allowed < 1000  # the matrix exercises both answers


def test_reasons_name_the_failed_check() -> None:
    policy = load_policy(POLICY)
    scope = policy.decide(request(scopes=("user/Patient.rs",)))
    assert "do not grant 'r' on Observation" in scope.reason
    deny = policy.decide(
        request(
            roles=("researcher",), purpose="CLINTRCH", resource_type="Encounter", project="diab-1"
        )
    )
    assert deny.matched_rule == "no-trial-encounters"
    assert "denies" in deny.reason
    default = policy.decide(request(roles=("janitor",)))
    assert "default deny" in default.reason
    assert default.matched_rule is None
    allowed = policy.decide(request())
    assert allowed.allowed
    assert allowed.matched_rule == "care"
    assert allowed.failed_check is None


def test_patient_scopes_reach_only_the_token_s_patient() -> None:
    policy = load_policy(POLICY)
    own = request(scopes=("patient/Observation.rs",))
    other = request(scopes=("patient/Observation.rs",), patient_id="p2")
    population = request(scopes=("patient/Observation.rs",), patient_id=None)
    assert policy.decide(own).allowed
    for refused in (other, population):
        decision = policy.decide(refused)
        assert decision.failed_check == "scope"
    assert "reach only patient 'p1'" in policy.decide(other).reason


def test_scopes_with_query_constraints_need_a_restricted_request() -> None:
    policy = load_policy(POLICY)
    scope = "user/Observation.rs?category=laboratory"
    assert policy.decide(request(scopes=(scope,))).failed_check == "scope"
    assert policy.decide(request(scopes=(scope,), query=(("category", "laboratory"),))).allowed


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"at": datetime(2031, 1, 1, tzinfo=UTC)}, "permit expired"),
        ({"at": datetime(2023, 1, 1, tzinfo=UTC)}, "valid only from"),
        ({"project": "old"}, "permit expired"),
        ({"project": "nope"}, "no data permit on file"),
        ({"project": None}, "needs a project data permit"),
        ({"project": "named", "purpose": "DSRCH", "action": "s"}, "is not a holder"),
        (
            {"project": "named", "purpose": "CLINTRCH", "actor": "Practitioner/7"},
            "not among the permit's ['DSRCH']",
        ),
        (
            {"project": "named", "purpose": "DSRCH", "actor": "Practitioner/7"},
            "action 'r' is not among",
        ),
    ],
)
def test_permits_refuse_what_they_do_not_cover(overrides: dict[str, object], problem: str) -> None:
    policy = load_policy(POLICY)
    fields: dict[str, object] = {"roles": ("researcher",), "purpose": "HRESCH", "project": "diab-1"}
    fields.update(overrides)
    decision = policy.decide(request(**fields))
    assert not decision.allowed
    assert decision.failed_check == "permit"
    assert problem in decision.reason


def test_a_permit_also_binds_rules_that_do_not_require_it() -> None:
    policy = load_policy(POLICY)
    assert policy.decide(request()).allowed
    decision = policy.decide(request(project="diab-1"))  # TREAT is not the permit's purpose
    assert decision.failed_check == "permit"
    named = request(
        roles=("researcher",),
        purpose="DSRCH",
        project="named",
        actor="Practitioner/7",
        action="s",
        resource_type="Encounter",
    )
    assert "in none of the permit's datasets" in policy.decide(named).reason


def test_scope_parsing_v1_v2_and_non_clinical() -> None:
    assert parse_scope("system/Patient.r") == SmartScope("system", "Patient", "r")
    assert parse_scope("user/*.cruds") == SmartScope("user", "*", "cruds")
    assert parse_scope("patient/Observation.read") == SmartScope("patient", "Observation", "rs")
    assert parse_scope("user/Observation.write") == SmartScope("user", "Observation", "cud")
    assert parse_scope("user/*.*") == SmartScope("user", "*", "cruds")
    assert parse_scope("patient/Observation.rs?category=a|b&code=c").query == (  # type: ignore[union-attr]
        ("category", "a|b"),
        ("code", "c"),
    )
    assert parse_scopes("openid fhirUser launch/patient offline_access") == ()
    assert len(parse_scopes(["user/*.rs", SmartScope("user", "*", "c")])) == 2


@pytest.mark.parametrize(
    "bad",
    [
        "patient/Observation.sr",
        "user/Observation.x",
        "user/observation.rs",
        "system/Patient.",
        "user/*.rr",
        "patient/Observation",
    ],
)
def test_malformed_clinical_scopes_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInputError, match="malformed SMART scope"):
        parse_scope(bad)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"action": "x"}, "not one of c, r, u, d, s"),
        ({"action": "rs"}, "not one of c, r, u, d, s"),
        ({"resource_type": "observation"}, "not a FHIR resource type"),
        ({"actor": " "}, "actor must be a non-empty"),
        ({"purpose": "FUN"}, "unknown purpose of use"),
        ({"at": datetime(2025, 1, 1)}, "no time zone"),
    ],
)
def test_malformed_requests_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        request(**fields)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "rules: [{id: a, roles: [x], actions: rs, resource_types: ['*'], purposes: [FUN]}]",
            "unknown purpose of use",
        ),
        (
            "rules: [{id: a, roles: [x], actions: rq, resource_types: ['*'], purposes: [TREAT]}]",
            "letters of 'cruds'",
        ),
        (
            "rules: [{id: a, actions: r, resource_types: ['*'], purposes: [TREAT]}]",
            "names no roles and no clients",
        ),
        (
            "rules: [{id: a, roles: [x], actions: r, resource_types: ['*'], purposes: [TREAT]},"
            " {id: a, roles: [y], actions: r, resource_types: ['*'], purposes: [TREAT]}]",
            "duplicate rule ids",
        ),
        (
            "permits: [{project: p, purposes: [HRESCH], datasets: [x],"
            " expires: 2030-01-01T00:00:00Z}]",
            "datasets \\['x'\\]",
        ),
        (
            "datasets: {d: [Patient]}\npermits: [{project: p, purposes: [HRESCH], datasets: [d],"
            " expires: '2030-01-01T00:00:00'}]",
            "no time zone",
        ),
        ("default: permit", "default"),
        ("rulez: []", "rulez"),
    ],
)
def test_invalid_policies_list_their_problems(text: str, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        load_policy(text)


def test_policy_files_and_bad_yaml(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    assert load_policy(path) == load_policy(str(path)) == load_policy(POLICY)
    assert isinstance(load_policy(POLICY), Policy)
    with pytest.raises(InvalidInputError, match="cannot read policy file"):
        load_policy(tmp_path / "missing.yaml")
    with pytest.raises(InvalidInputError, match="not valid YAML"):
        load_policy("rules: [\n  {")


def test_clients_and_wildcard_roles() -> None:
    policy = load_policy(
        "rules:\n"
        "  - {id: etl, clients: [client-etl], actions: c, resource_types: [Observation],"
        " purposes: [HOPERAT]}\n"
        "  - {id: any, roles: ['*'], actions: r, resource_types: [Patient], purposes: [PATRQT]}\n"
    )
    etl = request(
        actor="client-etl",
        roles=(),
        scopes=("system/Observation.c",),
        purpose="RECORDMGT",
        action="c",
    )
    assert policy.decide(etl).allowed
    assert not policy.decide(
        request(
            actor="other",
            roles=(),
            scopes=("system/Observation.c",),
            purpose="RECORDMGT",
            action="c",
        )
    ).allowed
    assert policy.decide(
        request(roles=("anyone",), purpose="FAMRQT", resource_type="Patient")
    ).allowed
