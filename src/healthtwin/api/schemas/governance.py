"""Success bodies of the governance views (``/api/v1/governance``)."""

from __future__ import annotations

from pydantic import Field

from healthtwin.api.schemas.common import ResponseBody

__all__ = ["AuditTrail", "ConsentStates", "ModelCards"]


class AuditEventOut(ResponseBody):
    """One audit event (newest first in the trail)."""

    sequence: int
    time: str
    actor: str
    action: str
    purpose: str | None
    outcome: str
    patient: str | None
    resources: list[str]
    status: int | str | None = Field(
        description="The status recorded with the event (an HTTP status, or a decision's)."
    )
    reason: str | None


class AuditTrail(ResponseBody):
    """The recent audit trail."""

    events: list[AuditEventOut]


class ModelCardOut(ResponseBody):
    """A model card, summarised, with its credibility risk level (1-5)."""

    name: str
    models: list[str]
    title: str
    model_type: str
    primary_uses: list[str]
    out_of_scope_uses: list[str]
    caveats: list[str]
    risk_level: int
    context_of_use: str
    conclusion: str


class ModelCards(ResponseBody):
    """The shipped model cards."""

    cards: list[ModelCardOut]


class ProvisionException(ResponseBody):
    """A nested provision: an exception to the Consent's base decision."""

    decision: str
    purposes: list[str]
    resource_types: list[str]
    period: list[str | None]


class ConsentSummary(ResponseBody):
    """One Consent on file (``unreadable``: it cannot be compiled, and denies)."""

    id: str
    status: str
    active: bool
    scope: str | None
    decision: str
    period: list[str | None] = Field(description="[start, end] as written; null: open.")
    purposes: list[str]
    exceptions: list[ProvisionException]
    note: str | None


class OptOutOut(ResponseBody):
    """An opt-out of secondary use."""

    purposes: list[str]
    since: str | None


class PatientConsents(ResponseBody):
    """A patient's Consents and opt-out."""

    patient: str
    consents: list[ConsentSummary]
    opt_out: OptOutOut | None


class ConsentStates(ResponseBody):
    """The consent state per patient."""

    patients: list[PatientConsents]
