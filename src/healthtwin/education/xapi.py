"""xAPI 1.0.3 statements of a training session, for a learning record store (LRS).

A session becomes a short story told in ADL verbs (Experience API 1.0.3, Part Two,
section 2.4): the learner *attempted* the case, *interacted* with it once per action and
per information request, *completed* it, and *passed* or *failed* it, the last two with
the score (``result.score`` with ``scaled``, ``raw``, ``min`` and ``max``; section
2.4.5.1), ``result.success`` and the session's twin-time ``result.duration`` (ISO 8601
duration, section 4.6). Timestamps (section 4.5) are the session's start time plus the
twin minutes at which each thing happened; ``context.extensions`` (section 4.1, IRI keys)
hold the case id, version and seed. The ``context.registration`` (section 4.1) names one
attempt: a UUID derived from the case, the learner, the session's start time, its seed and
its actions, so two attempts never share it (even two attempts with the same actions
started at different times). Statement ids are UUIDs (section 4.4) derived from the
registration, so exporting the same session twice gives the same statements and an LRS
can de-duplicate them. The statement ``version`` is left to the LRS (section
2.4.10: Learning Record Providers SHOULD NOT set it).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from healthtwin.education.case import Case
from healthtwin.education.i18n import Localizer
from healthtwin.education.record import Message, SessionRecord
from healthtwin.education.scoring import ScoreReport
from healthtwin.errors import InvalidInputError

__all__ = ["VERBS", "iso_duration", "xapi_statements"]

ADL_VERBS = "http://adlnet.gov/expapi/verbs/"
#: The ADL verbs used, with their English display.
VERBS = {
    name: (ADL_VERBS + name, name)
    for name in ("attempted", "interacted", "completed", "passed", "failed")
}
SIMULATION = "http://adlnet.gov/expapi/activities/simulation"
INTERACTION = "http://adlnet.gov/expapi/activities/interaction"


def iso_duration(minutes: float) -> str:
    """A duration in minutes as ISO 8601 (``PT1H2M3.5S``), to 0.01 s as xAPI requires.

    Examples
    --------
    >>> iso_duration(62.5), iso_duration(0.0)
    ('PT1H2M30S', 'PT0S')
    """
    centis = round(minutes * 6000.0)
    hours, rest = divmod(centis, 360000)
    mins, centis = divmod(rest, 6000)
    text = "PT"
    if hours:
        text += f"{hours}H"
    if mins:
        text += f"{mins}M"
    if centis or text == "PT":
        seconds = centis / 100.0
        text += f"{seconds:g}S"
    return text


def xapi_statements(
    case: Case,
    record: SessionRecord,
    report: ScoreReport,
    *,
    actor_mbox: str,
    started_at: dt.datetime | None = None,
    base_iri: str = "https://healthtwin.example/xapi",
    actor_name: str | None = None,
) -> list[dict[str, Any]]:
    """The xAPI statements of one session, in the order things happened.

    Parameters
    ----------
    case : Case
        The case played.
    record : SessionRecord
        The session.
    report : ScoreReport
        Its score (:func:`healthtwin.education.scoring.score`).
    actor_mbox : str
        The learner's e-mail, as ``mailto:learner@example.org`` or a bare address.
    started_at : datetime, optional
        When the session started (timezone-aware; naive means UTC). Default: the record's
        own ``started_at`` (written by ``play`` and the API), else the Unix epoch, so that
        an export is reproducible either way.
    base_iri : str
        Prefix of the activity and extension IRIs.
    actor_name : str, optional
        The learner's display name.

    Returns
    -------
    list of dict
        JSON-ready statements: attempted, one interacted per action and request,
        completed, then passed or failed.

    Raises
    ------
    InvalidInputError
        If ``actor_mbox`` is not an e-mail address or ``base_iri`` has no scheme.

    Examples
    --------
    >>> from healthtwin.education.case import load_case
    >>> from healthtwin.education.engine import replay
    >>> from healthtwin.education.scoring import score
    >>> case = load_case("hypoglycaemia")
    >>> rec = replay(case, ())
    >>> st = xapi_statements(case, rec, score(case, rec), actor_mbox="ana@example.org")
    >>> [s["verb"]["id"].rsplit("/", 1)[1] for s in st]
    ['attempted', 'completed', 'failed']
    """
    mbox = actor_mbox if actor_mbox.startswith("mailto:") else f"mailto:{actor_mbox}"
    local, _, domain = mbox.removeprefix("mailto:").partition("@")
    if not local or "." not in domain or " " in mbox:
        raise InvalidInputError(
            f"actor mbox {actor_mbox!r} is not an e-mail address; pass e.g. "
            "'mailto:learner@example.org'"
        )
    if "://" not in base_iri:
        raise InvalidInputError(f"base IRI {base_iri!r} has no scheme; use e.g. 'https://...'")
    start = started_at or _recorded_start(record) or dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    if start.tzinfo is None:
        start = start.replace(tzinfo=dt.UTC)
    base = base_iri.rstrip("/")
    actor: dict[str, Any] = {"objectType": "Agent", "mbox": mbox}
    if actor_name:
        actor["name"] = actor_name
    # Placeholders such as {name} read as neutral English words ("the patient").
    english = Localizer("en")
    case_iri = f"{base}/cases/{case.id}"
    moves_key = (
        ";".join(f"{a.t_min!r},{a.action_id},{a.dose!r}" for a in record.actions)
        + "|"
        + ";".join(f"{r.t_min!r},{r.info_id}" for r in record.requests)
    )
    attempt = f"{case_iri}|{record.case_version}|{mbox}|{start.isoformat()}|{record.seed}"
    registration = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{attempt}|{moves_key}"))
    context = {
        "registration": registration,
        "extensions": {
            f"{base}/extensions/case-id": case.id,
            f"{base}/extensions/case-version": record.case_version,
            f"{base}/extensions/seed": record.seed,
        },
    }
    # Actions and requests are parts of the case: the case is their parent activity.
    child_context = {**context, "contextActivities": {"parent": [{"id": case_iri}]}}
    case_object = {
        "objectType": "Activity",
        "id": case_iri,
        "definition": {
            "name": {"en": english.render(Message(case.title))},
            "description": {"en": english.render(Message(case.summary))},
            "type": SIMULATION,
        },
    }

    def statement(
        n: int, verb: str, obj: dict[str, Any], t_min: float, **extra: Any
    ) -> dict[str, Any]:
        verb_id, display = VERBS[verb]
        when = start + dt.timedelta(minutes=t_min)
        return {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{registration}#{n}")),
            "actor": actor,
            "verb": {"id": verb_id, "display": {"en": display}},
            "object": obj,
            "context": context if obj is case_object else child_context,
            "timestamp": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            **extra,
        }

    out = [statement(0, "attempted", case_object, 0.0)]
    moves: list[tuple[float, str, str, dict[str, Any]]] = []
    for a in record.actions:
        spec = case.action(a.action_id)
        result: dict[str, Any] = {}
        if a.dose is not None and spec.dose is not None:
            result = {"extensions": {f"{base}/extensions/dose": a.dose,
                                     f"{base}/extensions/dose-unit": spec.dose.unit}}  # fmt: skip
        moves.append((a.t_min, f"{case_iri}/actions/{a.action_id}", spec.label, result))
    for r in record.requests:
        moves.append((r.t_min, f"{case_iri}/information/{r.info_id}", case.info(r.info_id).label,
                      {}))  # fmt: skip
    for t_min, iri, label, result in sorted(moves, key=lambda m: m[0]):
        obj = {
            "objectType": "Activity",
            "id": iri,
            "definition": {"name": {"en": english.render(Message(label))}, "type": INTERACTION},
        }
        extra = {"result": result} if result else {}
        out.append(statement(len(out), "interacted", obj, t_min, **extra))
    score_result = {
        "score": {
            "scaled": round(report.scaled, 4),
            "raw": report.total,
            "min": 0.0,
            "max": report.max_total,
        },
        "success": report.passed,
        "completion": True,
        "duration": iso_duration(record.ended_min),
    }
    if report.max_total <= 0:
        del score_result["score"]
    out.append(statement(len(out), "completed", case_object, record.ended_min,
                         result=score_result))  # fmt: skip
    verdict = "passed" if report.passed else "failed"
    out.append(statement(len(out), verdict, case_object, record.ended_min, result=score_result))
    return out


def _recorded_start(record: SessionRecord) -> dt.datetime | None:
    if record.started_at is None:
        return None
    try:
        return dt.datetime.fromisoformat(record.started_at)
    except ValueError as err:
        raise InvalidInputError(
            f"the record's started_at {record.started_at!r} is not an ISO 8601 time"
        ) from err
