"""Human oversight persisted: recommendations, clinicians' decisions, kill switches.

The rules are :mod:`healthtwin.governance.oversight`'s; this module keeps their results in
the append-only tables ``recommendations``, ``recommendation_decisions`` (its primary key
allows one decision per recommendation, so two clinicians deciding at once cannot both
win) and ``model_switches`` (the switch history; the current state is its latest row).
Every proposal, decision and switch change is audited in the same transaction, with the
recommendation as ``GuidanceResponse/<id>`` (FHIR's resource for a decision-support
module's output).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from healthtwin.errors import ConflictError, NotFoundError
from healthtwin.governance.oversight import (
    ALL_VERSIONS,
    ModelSwitch,
    Recommendation,
    decide,
    make_switch,
    propose,
    require_enabled,
    switch_enabled,
)
from healthtwin.store.audit import record_audit
from healthtwin.store.schema import ModelSwitchRow, RecommendationDecisionRow, RecommendationRow

__all__ = ["StoreOversight"]

SessionFactory = Callable[[str], AbstractContextManager[Session]]


class StoreOversight:
    """The :class:`~healthtwin.governance.oversight.Oversight` operations on a store.

    Get one from ``Store.oversight()``.

    Examples
    --------
    >>> from healthtwin.store import open_store
    >>> with open_store("sqlite://") as store:
    ...     board = store.oversight()
    ...     _ = board.propose("r1", model="mpc", model_version="1", value={"dose_units": 3},
    ...                       proposed_by="Device/mpc", patient="Patient/p1")
    ...     _ = board.disable("mpc", "1", reason="recall", actor="Practitioner/cmo")
    ...     board.is_enabled("mpc", "1"), [e.action for e in store.audit_events()]
    (False, ['propose', 'disable'])
    """

    def __init__(self, *, reader: SessionFactory, writer: SessionFactory) -> None:
        self._reader = reader
        self._writer = writer

    # -- kill switches -----------------------------------------------------------------

    def is_enabled(self, model: str, version: str) -> bool:
        """Whether recommendations of the model version may be made and accepted."""
        with self._reader(f"reading the kill switch of {model} {version}") as s:
            return _enabled(s, model, version)

    def require_enabled(self, model: str, version: str) -> None:
        """Raise ``ConsentError`` if the model version is disabled."""
        require_enabled(self, model, version)

    def disable(
        self, model: str, version: str, *, reason: str, actor: str, time: datetime | None = None
    ) -> ModelSwitch:
        """Turn the kill switch of a model version off (``"*"``: every version)."""
        return self._switch(model, version, enabled=False, reason=reason, actor=actor, time=time)

    def enable(
        self, model: str, version: str, *, reason: str, actor: str, time: datetime | None = None
    ) -> ModelSwitch:
        """Turn it back on."""
        return self._switch(model, version, enabled=True, reason=reason, actor=actor, time=time)

    def switch_history(self, model: str | None = None) -> list[ModelSwitch]:
        """Every switch change (of one model, if given), oldest first."""
        query = select(ModelSwitchRow).order_by(ModelSwitchRow.row_id)
        if model is not None:
            query = query.where(ModelSwitchRow.model == model)
        with self._reader("reading the kill-switch history") as s:
            return [_switch(row) for row in s.scalars(query)]

    def _switch(
        self,
        model: str,
        version: str,
        *,
        enabled: bool,
        reason: str,
        actor: str,
        time: datetime | None,
    ) -> ModelSwitch:
        switch = make_switch(model, version, enabled=enabled, reason=reason, actor=actor, time=time)
        action = "enable" if enabled else "disable"
        with self._writer(f"switching model {model} {version} {action}d") as s:
            s.add(
                ModelSwitchRow(
                    model=switch.model,
                    version=switch.version,
                    enabled=switch.enabled,
                    reason=switch.reason,
                    actor=switch.actor,
                    time=switch.time,
                )
            )
            record_audit(
                s,
                actor=actor,
                action=action,
                details={"model": model, "version": version, "reason": reason},
                time=switch.time,
            )
        return switch

    # -- recommendations ---------------------------------------------------------------

    def propose(
        self,
        recommendation_id: str,
        *,
        model: str,
        model_version: str,
        value: Mapping[str, Any],
        proposed_by: str,
        patient: str | None = None,
        time: datetime | None = None,
    ) -> Recommendation:
        """Record a proposal (``ConsentError`` if disabled, ``ConflictError`` if known)."""
        made = propose(
            recommendation_id,
            model=model,
            model_version=model_version,
            value=value,
            proposed_by=proposed_by,
            patient=patient,
            time=time,
        )
        with self._writer(f"proposing recommendation {recommendation_id}") as s:
            _require(s, model, model_version)
            if s.get(RecommendationRow, made.id) is not None:
                raise ConflictError(
                    f"recommendation {made.id} already exists; give each proposal a new id"
                )
            s.add(
                RecommendationRow(
                    id=made.id,
                    model=made.model,
                    model_version=made.model_version,
                    patient=made.patient,
                    value=made.value,
                    proposed_by=made.proposed_by,
                    proposed_time=made.proposed_time,
                )
            )
            s.flush()
            _audit(s, made, "propose", made.proposed_by, made.proposed_time)
        return made

    def accept(
        self,
        recommendation_id: str,
        *,
        actor: str,
        reason: str | None = None,
        time: datetime | None = None,
    ) -> Recommendation:
        """Accept as proposed (``ConsentError`` if its model was disabled since)."""
        return self._decide(recommendation_id, "accept", actor=actor, reason=reason, time=time)

    def override(
        self,
        recommendation_id: str,
        *,
        actor: str,
        reason: str,
        value: Mapping[str, Any],
        time: datetime | None = None,
    ) -> Recommendation:
        """Replace with ``value``, saying why."""
        return self._decide(
            recommendation_id, "override", actor=actor, reason=reason, value=value, time=time
        )

    def recommendation(self, recommendation_id: str) -> Recommendation:
        """The recommendation as it stands; ``NotFoundError`` if unknown."""
        with self._reader(f"reading recommendation {recommendation_id}") as s:
            return _load(s, recommendation_id)

    def recommendations(
        self, *, patient: str | None = None, status: str | None = None
    ) -> list[Recommendation]:
        """Recommendations (of a patient, with a status, if given) by proposal time."""
        query = select(RecommendationRow).order_by(
            RecommendationRow.proposed_time, RecommendationRow.id
        )
        if patient is not None:
            query = query.where(RecommendationRow.patient == patient)
        with self._reader("listing recommendations") as s:
            found = [
                _recommendation(row, s.get(RecommendationDecisionRow, row.id))
                for row in s.scalars(query)
            ]
        return [r for r in found if status is None or r.status == status]

    def _decide(
        self,
        recommendation_id: str,
        decision: Literal["accept", "override"],
        *,
        actor: str,
        reason: str | None,
        time: datetime | None,
        value: Mapping[str, Any] | None = None,
    ) -> Recommendation:
        with self._writer(f"deciding on recommendation {recommendation_id}") as s:
            current = _load(s, recommendation_id)
            if decision == "accept":
                _require(s, current.model, current.model_version)
            decided = decide(current, decision, actor=actor, reason=reason, value=value, time=time)
            assert decided.decided_by is not None
            assert decided.decided_time is not None
            s.add(
                RecommendationDecisionRow(
                    recommendation_id=decided.id,
                    status=decided.status,
                    decided_by=decided.decided_by,
                    decided_time=decided.decided_time,
                    reason=decided.reason,
                    override_value=decided.override_value,
                )
            )
            s.flush()
            _audit(s, decided, decision, actor, decided.decided_time)
        return decided


def _enabled(session: Session, model: str, version: str) -> bool:
    rows = session.scalars(
        select(ModelSwitchRow)
        .where(ModelSwitchRow.model == model, ModelSwitchRow.version.in_((version, ALL_VERSIONS)))
        .order_by(ModelSwitchRow.row_id)
    )
    return switch_enabled((_switch(row) for row in rows), model, version)


class _SessionBoard:
    def __init__(self, session: Session) -> None:
        self._session = session

    def is_enabled(self, model: str, version: str) -> bool:
        return _enabled(self._session, model, version)


def _require(session: Session, model: str, version: str) -> None:
    require_enabled(_SessionBoard(session), model, version)


def _audit(
    session: Session, recommendation: Recommendation, action: str, actor: str, time: datetime
) -> None:
    details: dict[str, Any] = {
        "model": recommendation.model,
        "version": recommendation.model_version,
        "status": recommendation.status,
    }
    if recommendation.reason is not None:
        details["reason"] = recommendation.reason
    if action == "propose":
        details["value"] = recommendation.value
    if recommendation.override_value is not None:
        details["override_value"] = recommendation.override_value
    record_audit(
        session,
        actor=actor,
        action=action,
        resource_refs=(f"GuidanceResponse/{recommendation.id}",),
        patient=recommendation.patient,
        details=details,
        time=time,
    )


def _load(session: Session, recommendation_id: str) -> Recommendation:
    row = session.get(RecommendationRow, recommendation_id)
    if row is None:
        raise NotFoundError(f"no recommendation {recommendation_id!r} was proposed")
    return _recommendation(row, session.get(RecommendationDecisionRow, recommendation_id))


def _recommendation(
    row: RecommendationRow, decision: RecommendationDecisionRow | None
) -> Recommendation:
    proposed = Recommendation(
        id=row.id,
        model=row.model,
        model_version=row.model_version,
        patient=row.patient,
        value=dict(row.value),
        proposed_by=row.proposed_by,
        proposed_time=row.proposed_time,
    )
    if decision is None:
        return proposed
    return Recommendation(
        **{
            **proposed.__dict__,
            "status": decision.status,
            "decided_by": decision.decided_by,
            "decided_time": decision.decided_time,
            "reason": decision.reason,
            "override_value": decision.override_value,
        }
    )


def _switch(row: ModelSwitchRow) -> ModelSwitch:
    return ModelSwitch(
        model=row.model,
        version=row.version,
        enabled=row.enabled,
        reason=row.reason,
        actor=row.actor,
        time=row.time,
    )
