"""Governance read-outs for people: the recent audit trail and the model cards.

- ``GET /api/v1/governance/audit?hours=24&limit=100&patient=Patient/p1``: the newest
  audit events (newest first) of the last ``hours``;
- ``GET /api/v1/governance/cards``: every shipped model card (one entry per card file, with
  the models it covers) with its credibility risk level, intended uses and caveats;
- ``GET /api/v1/governance/consents``: the consent state per patient: each Consent on file
  (status, scope, base decision, period, purposes and exceptions) and each opt-out of
  secondary use in the server's registry.

All go through the governance layer like every ``/api/v1`` route (``AuditEvent``,
``Library`` and ``Consent`` searches).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from healthtwin.api.schemas import success
from healthtwin.api.schemas.governance import AuditTrail, ConsentStates, ModelCards
from healthtwin.errors import InvalidInputError
from healthtwin.governance.consent import compile_consent, resource_patient
from healthtwin.governance.model_registry import load_cards
from healthtwin.governance.optout import OptOutRegistry
from healthtwin.store import Store

__all__ = ["audit_trail", "consent_state", "governance_router", "model_cards"]

governance_router = APIRouter(prefix="/api/v1/governance", tags=["governance"])


def audit_trail(
    store: Store, *, hours: float = 24.0, limit: int = 100, patient: str | None = None
) -> list[dict[str, Any]]:
    """The newest ``limit`` audit events of the last ``hours``, newest first.

    Examples
    --------
    >>> from healthtwin.store import open_store
    >>> with open_store("sqlite://") as store:
    ...     _ = store.record_audit(actor="Practitioner/a", action="accept")
    ...     [e["action"] for e in audit_trail(store)]
    ['accept']
    """
    since = datetime.now(UTC) - timedelta(hours=hours)
    events = store.audit_events(start=since, patient=patient)[-limit:]
    return [
        {
            "sequence": e.sequence,
            "time": e.time.isoformat(),
            "actor": e.actor,
            "action": e.action,
            "purpose": e.purpose,
            "outcome": e.outcome,
            "patient": e.patient,
            "resources": list(e.resource_refs),
            "status": e.details.get("status"),
            "reason": e.details.get("reason"),
        }
        for e in reversed(events)
    ]


def model_cards() -> list[dict[str, Any]]:
    """The shipped model cards, summarised.

    Examples
    --------
    >>> cards = model_cards()
    >>> any("uva-padova" in c["models"] for c in cards), 1 <= cards[0]["risk_level"] <= 5
    (True, True)
    >>> names = [m for c in cards for m in c["models"]]
    >>> len(names) == len(set(names))  # one entry per card, not one per covered model
    True
    """
    out = []
    # I14d: a card file covers several models; list it once, with all of them.
    by_title = {card.title: card for card in load_cards().values()}
    for title, card in sorted(by_title.items()):
        models = [m.name for m in card.models]
        out.append(
            {
                "name": models[0],
                "models": models,
                "title": title,
                "model_type": card.model_card.model_type,
                "primary_uses": list(card.model_card.primary_uses),
                "out_of_scope_uses": list(card.model_card.out_of_scope_uses),
                "caveats": list(card.model_card.caveats),
                "risk_level": card.credibility.risk.risk_level,
                "context_of_use": card.credibility.context.context_of_use,
                "conclusion": card.credibility.conclusion,
            }
        )
    return out


@governance_router.get(
    "/audit",
    responses={**success(200, AuditTrail, "The audit trail, newest first.")},
)
def get_audit(
    request: Request,
    hours: Annotated[float, Query(gt=0, le=24 * 365)] = 24.0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    patient: Annotated[str | None, Query(max_length=100)] = None,
) -> dict[str, Any]:
    """The recent audit trail, newest first."""
    store: Store = request.app.state.store
    return {"events": audit_trail(store, hours=hours, limit=limit, patient=patient)}


@governance_router.get(
    "/cards",
    responses={**success(200, ModelCards, "The model cards.")},
)
def get_cards() -> dict[str, Any]:
    """The model cards with their credibility risk levels."""
    return {"cards": model_cards()}


# I14d: the consent state for the dashboard's governance view (read only).
def consent_state(store: Store, optouts: OptOutRegistry | None = None) -> list[dict[str, Any]]:
    """Per patient: the Consents on file and the opt-out of secondary use, if any.

    A Consent that cannot be compiled is listed as ``unreadable`` (the governance layer
    denies its patient's data: fail closed).

    Examples
    --------
    >>> from healthtwin.store import open_store
    >>> from healthtwin.governance.optout import OptOut
    >>> with open_store("sqlite://") as store:
    ...     _ = store.create({"resourceType": "Consent", "id": "c1", "status": "active",
    ...         "scope": {"coding": [{"code": "research"}]},
    ...         "patient": {"reference": "Patient/p1"},
    ...         "policyRule": {"coding": [{"code": "OPTIN"}]}})
    ...     state = consent_state(store, OptOutRegistry([OptOut("p2")]))
    >>> [(p["patient"], len(p["consents"]), p["opt_out"] is not None) for p in state]
    [('p1', 1, False), ('p2', 0, True)]
    >>> state[0]["consents"][0]["decision"], state[0]["consents"][0]["scope"]
    ('permit', 'research')
    """
    patients: dict[str, dict[str, Any]] = {}

    def entry(patient: str) -> dict[str, Any]:
        return patients.setdefault(patient, {"patient": patient, "consents": [], "opt_out": None})

    for resource in store.iter_resources("Consent"):
        patient = resource_patient(resource)
        if patient is not None:
            entry(patient)["consents"].append(_consent_summary(resource))
    if optouts is not None:
        for item in json.loads(optouts.to_json()):
            entry(str(item["patient_id"]))["opt_out"] = {
                "purposes": list(item["purposes"]),
                "since": item["since"],
            }
    return [patients[p] for p in sorted(patients)]


def _consent_summary(resource: Mapping[str, Any]) -> dict[str, Any]:
    consent_id = str(resource.get("id", "?"))
    try:
        compiled = compile_consent(resource)
    except InvalidInputError as err:
        return {
            "id": consent_id,
            "status": "unreadable",
            "active": True,
            "scope": None,
            "decision": "deny",
            "period": [None, None],
            "purposes": [],
            "exceptions": [],
            "note": f"{err}"[:300],
        }
    root = compiled.root
    raw = resource.get("provision") or {}
    raw_children = raw.get("provision") or []
    return {
        "id": consent_id,
        "status": str(resource.get("status", "unknown")),
        "active": compiled.active,
        "scope": compiled.scope,
        "decision": root.type,
        "period": _period(raw),
        "purposes": sorted(root.purposes),
        "exceptions": [
            {
                "decision": child.type,
                "purposes": sorted(child.purposes),
                "resource_types": sorted(child.resource_types),
                "period": _period(node),
            }
            for child, node in zip(root.children, raw_children, strict=False)
        ],
        "note": None,
    }


def _period(provision: Mapping[str, Any]) -> list[str | None]:
    """A provision's period as written (FHIR dateTime strings; ``None``: open)."""
    period = provision.get("period") or {}
    return [period.get("start"), period.get("end")]


@governance_router.get(
    "/consents",
    responses={**success(200, ConsentStates, "The consent state per patient.")},
)
def get_consents(request: Request) -> dict[str, Any]:
    """The consent state per patient: Consents on file and opt-outs of secondary use."""
    store: Store = request.app.state.store
    security = getattr(request.app.state, "security", None)
    return {"patients": consent_state(store, getattr(security, "optouts", None))}
