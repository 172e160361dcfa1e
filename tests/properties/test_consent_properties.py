"""Invariants of consent evaluation on random provision trees (Hypothesis).

- deny overrides permit at the same or a deeper level;
- adding a deny provision never widens access;
- an expired consent grants nothing (the default decides);
- the batch index and consent-by-consent evaluation agree.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from healthtwin.governance.consent import (
    compile_consent,
    evaluate_consent,
)
from healthtwin.governance.consent_index import ConsentIndex
from healthtwin.governance.policy import AccessRequest

V3 = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
PURPOSES = ("TREAT", "ETREAT", "HRESCH", "CLINTRCH", "PUBHLTH")
ACTORS = ("Practitioner/1", "Practitioner/2", "Organization/a")
TYPES = ("Observation", "Condition")
NOW = datetime(2025, 6, 1, tzinfo=UTC)

conditions = st.fixed_dictionaries(
    {},
    optional={
        "purpose": st.lists(st.sampled_from(PURPOSES), min_size=1, max_size=2).map(
            lambda codes: [{"system": V3, "code": c} for c in codes]
        ),
        "actor": st.lists(st.sampled_from(ACTORS), min_size=1, max_size=2).map(
            lambda refs: [
                {"role": {"coding": [{"code": "PRCP"}]}, "reference": {"reference": r}}
                for r in refs
            ]
        ),
        "class": st.lists(st.sampled_from(TYPES), min_size=1, max_size=2).map(
            lambda types: [
                {"system": "http://hl7.org/fhir/resource-types", "code": t} for t in types
            ]
        ),
        "period": st.sampled_from(
            [
                {"start": "2025-01-01"},
                {"end": "2024-12-31"},
                {"start": "2025-01-01", "end": "2025-12-31"},
            ]
        ),
        "securityLabel": st.just([{"code": "R"}]),
    },
)


def _node(children: st.SearchStrategy[list[dict[str, Any]]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda kind, cond, kids: {"type": kind, **cond, **({"provision": kids} if kids else {})},
        st.sampled_from(["permit", "deny"]),
        conditions,
        children,
    )


trees = st.recursive(
    _node(st.just([])), lambda inner: _node(st.lists(inner, max_size=3)), max_leaves=8
)
requests = st.builds(
    lambda purpose, actor, kind: AccessRequest(
        actor=actor, purpose=purpose, action="r", resource_type=kind, patient_id="p", at=NOW
    ),
    st.sampled_from(PURPOSES),
    st.sampled_from(ACTORS),
    st.sampled_from(TYPES),
)


def consent(root: dict[str, Any], cid: str = "c", patient: str = "p") -> dict[str, Any]:
    return {
        "resourceType": "Consent",
        "id": cid,
        "status": "active",
        "scope": {"coding": [{"code": "patient-privacy"}]},
        "patient": {"reference": f"Patient/{patient}"},
        "provision": root,
    }


def outcome(root: dict[str, Any], request: AccessRequest) -> str | None:
    return evaluate_consent([compile_consent(consent(root))], request).decision


def nodes(root: dict[str, Any]) -> list[dict[str, Any]]:
    found = [root]
    for child in root.get("provision", []):
        found.extend(nodes(child))
    return found


@settings(max_examples=150, deadline=None)
@given(trees, requests, conditions, st.data())
def test_adding_a_deny_never_widens_access(
    root: dict[str, Any], request: AccessRequest, cond: dict[str, Any], data: st.DataObject
) -> None:
    before = outcome(root, request)
    widened = copy.deepcopy(root)
    target = data.draw(st.sampled_from(nodes(widened)))
    target.setdefault("provision", []).append({"type": "deny", **cond})
    after = outcome(widened, request)
    rank = {"deny": 0, None: 1, "permit": 2}
    assert rank[after] <= rank[before]


@settings(max_examples=150, deadline=None)
@given(trees, requests, st.data())
def test_deny_overrides_permit_at_the_same_or_deeper_level(
    root: dict[str, Any], request: AccessRequest, data: st.DataObject
) -> None:
    tree = copy.deepcopy(root)
    node = tree
    while True:  # a path from the root whose provisions all match: strip their conditions
        for key in ("purpose", "actor", "class", "period", "securityLabel"):
            node.pop(key, None)
        children = node.get("provision", [])
        if not children or not data.draw(st.booleans()):
            break
        node = data.draw(st.sampled_from(children))
    node.setdefault("provision", []).append({"type": "deny"})
    assert outcome(tree, request) == "deny"


@settings(max_examples=100, deadline=None)
@given(trees, requests)
def test_an_expired_consent_grants_nothing(root: dict[str, Any], request: AccessRequest) -> None:
    expired = {**copy.deepcopy(root), "period": {"start": "2020-01-01", "end": "2024-12-31"}}
    assert outcome(expired, request) is None


@settings(max_examples=25, deadline=None)
@given(st.lists(trees, min_size=1, max_size=30), requests)
def test_batch_and_one_by_one_agree(roots: list[dict[str, Any]], request: AccessRequest) -> None:
    index = ConsentIndex([consent(root, f"c{i}", f"p{i % 7}") for i, root in enumerate(roots)])
    patients = [f"p{i % 9}" for i in range(70)]  # above the scalar limit: the batch path
    assert index.allowed_patients(request, patients).tolist() == [
        index.allows(request, p) for p in patients
    ]
