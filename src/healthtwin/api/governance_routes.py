"""Governance read-outs for people: the recent audit trail and the model cards.

- ``GET /api/v1/governance/audit?hours=24&limit=100&patient=Patient/p1``: the newest
  audit events (newest first) of the last ``hours``;
- ``GET /api/v1/governance/cards``: every shipped model card with its credibility risk
  level, intended uses and caveats.

Both go through the governance layer like every ``/api/v1`` route (``AuditEvent`` and
``Library`` searches).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from healthtwin.governance.model_registry import load_cards
from healthtwin.store import Store

__all__ = ["audit_trail", "governance_router", "model_cards"]

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
    >>> any(c["name"] == "uva-padova" for c in cards), 1 <= cards[0]["risk_level"] <= 5
    (True, True)
    """
    out = []
    for name, card in sorted(load_cards().items()):
        out.append(
            {
                "name": name,
                "title": card.title,
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


@governance_router.get("/audit")
def get_audit(
    request: Request,
    hours: Annotated[float, Query(gt=0, le=24 * 365)] = 24.0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    patient: Annotated[str | None, Query(max_length=100)] = None,
) -> dict[str, Any]:
    """The recent audit trail, newest first."""
    store: Store = request.app.state.store
    return {"events": audit_trail(store, hours=hours, limit=limit, patient=patient)}


@governance_router.get("/cards")
def get_cards() -> dict[str, Any]:
    """The model cards with their credibility risk levels."""
    return {"cards": model_cards()}
