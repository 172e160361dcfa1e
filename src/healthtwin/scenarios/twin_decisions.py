"""A patient twin's bolus advice as an oversight proposal, and the clinician's decision applied.

:func:`bolus_proposal` turns a twin's advice
(:meth:`~healthtwin.scenarios.patient_session.PatientTwinSession.recommend_bolus`) into the
value a proposal records: the plan (or none when no bolus is feasible), the proposing twin
(a ``Device`` reference: a patient may have several twins), the explanation and every
assessed plan. :func:`deciding_twin` finds the twin a decided recommendation belongs to and
:func:`apply_decision` gives it the accepted or overriding plan and saves it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from healthtwin.control.recommend import Recommendation as Advice
from healthtwin.governance.oversight import Recommendation
from healthtwin.scenarios.patient_session import PatientTwinSession
from healthtwin.scenarios.twin_store import snapshot
from healthtwin.store import Store

__all__ = ["apply_decision", "bolus_proposal", "deciding_twin", "proposer"]


def bolus_proposal(
    session: PatientTwinSession, advice: Advice, named: Mapping[str, tuple[float, float]]
) -> dict[str, Any]:
    """The JSON value of a proposal from ``advice`` over the plans ``named`` (meal, bolus)."""
    if advice.chosen is None:
        value: dict[str, Any] = {"plan": None, "status": advice.status}
    else:
        meal, bolus = named[advice.chosen]
        value = {"plan": advice.chosen, "meal_g": meal, "bolus_u": bolus, "t_min": session.twin.t}
    # The proposing twin (a patient may have several): decisions are applied to it.
    value["twin"] = f"Device/{session.twin_id}"
    value["explanation"] = advice.explain()
    value["assessments"] = [
        {
            "plan": a.plan,
            "time_in_range_percent": a.objective.mean,
            "feasible": a.feasible,
            "constraints": a.constraint_probability,
        }
        for a in advice.assessments
    ]
    out: dict[str, Any] = json.loads(json.dumps(value, default=float))
    return out


def proposer(r: Recommendation) -> str | None:
    """The id of the twin that proposed ``r`` (``None`` for a record without one)."""
    twin = r.value.get("twin")
    return twin.removeprefix("Device/") if isinstance(twin, str) else None


def deciding_twin(
    decided: Recommendation,
    find: Callable[[str], PatientTwinSession | None],
    sessions: Sequence[PatientTwinSession],
) -> PatientTwinSession | None:
    """The live twin ``decided`` is applied to (``None``: none, or which is unknown).

    ``find`` answers a twin by id (``None`` when it is not live). A record without its twin
    (made before twins were recorded) belongs to its patient's twin only when the patient
    has exactly one among ``sessions``: with several, which one proposed it is unknown.
    """
    twin_id = proposer(decided)
    if twin_id is not None:
        return find(twin_id)
    patient = (decided.patient or "").removeprefix("Patient/")
    owned = [s for s in sessions if s.patient_id == patient]
    return owned[0] if len(owned) == 1 else None


def apply_decision(
    store: Store, session: PatientTwinSession, decided: Recommendation, value: Mapping[str, Any]
) -> bool:
    """Give ``session`` the decided plan ``value`` and save it; ``False`` if it has no bolus.

    The plan is applied at its ``t_min`` (else at the twin's time now), never before 0.
    """
    if value.get("bolus_u") is None:
        return False
    t_min = float(value.get("t_min", session.twin.t))
    session.apply_plan(
        max(t_min, 0.0),
        float(value.get("meal_g", 0.0)),
        float(value["bolus_u"]),
        f"GuidanceResponse/{decided.id} ({decided.status})",
    )
    snapshot(store, session)
    return True
