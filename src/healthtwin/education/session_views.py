"""A training session as the learner reads it: JSON views in their language and units.

Sessions are locale-free underneath (:class:`~healthtwin.education.engine.Session`, its
:class:`~healthtwin.education.record.SessionRecord`); a :class:`SessionView` (a
:class:`~healthtwin.education.i18n.Localizer` and the case's
:func:`~healthtwin.education.culture.culture_for` profile) renders them, so the same
actions give the same record, and so the same score, in every locale. The views are plain
JSON-ready dicts, the documents a face answers:

- :func:`session_state`: vitals in local units and canonical, the monitor's series and the
  results shown so far (for charts), every message so far, the actions (with their dose
  ranges and a default as the learner would type it) and information available;
- :func:`report_doc`: the record, the score with its rubric items rendered, xAPI statements;
- :func:`debrief_doc`: a counterfactual debrief with outcome bands in local units.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from healthtwin.education.case import ActionSpec, Case, measure_unit
from healthtwin.education.culture import CultureProfile, culture_for
from healthtwin.education.debrief import Debrief
from healthtwin.education.i18n import Localizer
from healthtwin.education.learner_doses import typed_number
from healthtwin.education.record import Message, Quantity, SessionRecord
from healthtwin.education.scoring import ScoreReport, measure_name, score
from healthtwin.education.xapi import xapi_statements

if TYPE_CHECKING:
    from healthtwin.education.live_sessions import EducationSession

__all__ = [
    "SessionView",
    "case_list",
    "debrief_doc",
    "message_doc",
    "report_doc",
    "session_state",
]


@dataclass(frozen=True)
class SessionView:
    """How one learner reads a case: language, units, number format and culture.

    Examples
    --------
    >>> from healthtwin.education.case import load_case
    >>> view = SessionView.of(load_case("hypoglycaemia"), Localizer("de"))
    >>> glucose = view.quantity("glucose_mmol_per_l", 2.5, "mmol/L")
    >>> glucose["label"], glucose["text"].replace("\\xa0", " "), glucose["unit"]
    ('Glukose', '45 mg/dl', 'mmol/L')
    """

    loc: Localizer
    culture: CultureProfile

    @classmethod
    def of(cls, case: Case, loc: Localizer, *, keep_foreign: bool = False) -> SessionView:
        """The view of ``case`` through ``loc`` (the culture of the localizer's locale)."""
        return cls(loc, culture_for(case, loc.choice.tag, keep_foreign))

    def text(self, message: Message) -> str:
        """A message rendered for the learner."""
        return self.loc.render(message, self.culture)

    def quantity(self, measure: str, value: float, unit: str) -> dict[str, Any]:
        """A measured value: label, text and value in local units, and canonical."""
        return {
            "measure": measure,
            "label": self.loc.gettext(measure_name(measure)),
            "text": self.loc.quantity(Quantity(value, unit), measure),
            "value_local": self.loc.to_local(value, measure),
            "unit_local": self.loc.unit(measure),
            "value": value,
            "unit": unit,
        }


def case_list(cases: Iterable[Case], loc: Localizer) -> dict[str, Any]:
    """The training cases on offer, titles in the learner's language.

    Examples
    --------
    >>> from healthtwin.education.case import load_case
    >>> doc = case_list([load_case("hypoglycaemia")], Localizer("en"))
    >>> doc["locale"], [(c["id"], c["duration_min"]) for c in doc["cases"]]
    ('en', [('hypoglycaemia', 60.0)])
    """
    rows = [
        {
            "id": case.id,
            "version": case.version,
            "model": case.patient.model,
            "duration_min": case.duration_min,
            "title": loc.gettext(case.title),
        }
        for case in cases
    ]
    return {"locale": loc.choice.tag, "cases": rows}


def session_state(session: EducationSession, view: SessionView) -> dict[str, Any]:
    """The session now, rendered through ``view`` (the caller holds the session's lock).

    Once the session has ended, the series also hold every measure the case is judged on
    (the debrief's whole course); before, the vitals and the results shown so far.

    Examples
    --------
    >>> from healthtwin.education.live_sessions import EducationRegistry
    >>> registry = EducationRegistry()
    >>> session = registry.start("hypoglycaemia", locale="de")
    >>> state = session_state(session, registry.view_of(session))
    >>> state["locale"], state["now_min"], state["ended"], state["vitals"][0]["measure"]
    ('de', 0.0, False, 'hr_per_min')
    """
    engine, case, loc = session.engine, session.case, view.loc
    record = engine.record()
    vitals = engine.vitals()
    shown = list(vitals)
    if session.ended:
        judged = [g.measure for g in case.rubric.final_state] + [
            h.measure for h in case.rubric.harm
        ]
        shown += [m for m in dict.fromkeys(judged) if m not in shown]
    shown += [m for m in dict.fromkeys(r[1] for r in session.results) if m not in shown]
    return {
        "session_id": session.session_id,
        "case_id": case.id,
        "case_version": case.version,
        "seed": engine.seed,
        "locale": loc.choice.tag,
        "language": loc.language,
        "title": view.text(Message(case.title)),
        "now_min": engine.now_min,
        "duration_min": case.duration_min,
        "finished": engine.finished,
        "dead": engine.dead,
        "ended": session.ended,
        "vitals": [view.quantity(m, q.value, q.unit) for m, q in vitals.items()],
        "series": {
            "t_min": [float(t) for t in record.times_min],
            "measures": [_series(view, m, record) for m in shown],
        },
        "results": [
            {"t_min": t, **view.quantity(m, v, measure_unit(m))} for t, m, v in session.results
        ],
        "messages": [message_doc(view, m) for m in session.messages],
        "actions": [_action(view, a) for a in engine.available_actions()],
        "information": [
            {
                "id": i.id,
                "label": loc.gettext(i.label),
                "kind": i.kind,
                "turnaround_min": i.turnaround_min,
            }
            for i in engine.available_information()
        ],
    }


def message_doc(view: SessionView, message: Message) -> dict[str, Any]:
    """One message: its twin time, kind and text for the learner.

    Examples
    --------
    >>> from healthtwin.education.case import load_case
    >>> view = SessionView.of(load_case("hypoglycaemia"), Localizer("en"))
    >>> message_doc(view, Message("Hypoglycaemia", t_min=2.0))
    {'t_min': 2.0, 'kind': 'narrative', 'text': 'Hypoglycaemia'}
    """
    return {"t_min": message.t_min, "kind": message.kind, "text": view.text(message)}


def report_doc(
    case: Case,
    record: SessionRecord,
    view: SessionView,
    started_at: datetime,
    actor_mbox: str,
) -> dict[str, Any]:
    """The score report of ``record``: record, score (items rendered) and xAPI statements.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> from healthtwin.education.case import load_case
    >>> from healthtwin.education.engine import replay
    >>> case = load_case("hypoglycaemia")
    >>> doc = report_doc(case, replay(case, []), SessionView.of(case, Localizer("en")),
    ...                  datetime(2026, 1, 1, tzinfo=UTC), "mailto:a@example.org")
    >>> doc["case_id"], doc["locale"], doc["score"]["passed"]
    ('hypoglycaemia', 'en', False)
    """
    report = score(case, record)
    return {
        "case_id": case.id,
        "locale": view.loc.choice.tag,
        "record": json.loads(record.to_json()),
        "score": {**report.to_dict(), "items": _items(view, case, report)},
        "xapi": xapi_statements(case, record, report, actor_mbox=actor_mbox, started_at=started_at),
    }


def debrief_doc(found: Debrief, view: SessionView) -> dict[str, Any]:
    """The debrief as JSON, with outcome bands in local units and its messages rendered.

    Examples
    --------
    >>> from healthtwin.education.case import load_case
    >>> from healthtwin.education.debrief import debrief
    >>> from healthtwin.education.engine import replay
    >>> case = load_case("hypoglycaemia")
    >>> found = debrief(case, replay(case, []), shifts=(-1.0,), n_draws=1)
    >>> doc = debrief_doc(found, SessionView.of(case, Localizer("de")))
    >>> len(doc["variants"]), "outcomes_local" in doc["variants"][0], len(doc["rendered"]) > 0
    (2, True, True)
    """
    plain = found.to_dict()
    for variant in plain["variants"]:
        variant["outcomes_local"] = {
            m: {
                "label": view.loc.gettext(measure_name(m)),
                "unit_local": view.loc.unit(m),
                **{q: view.loc.to_local(v, m) for q, v in band.items()},
            }
            for m, band in variant["outcomes"].items()
        }
    plain["rendered"] = [view.text(m) for m in found.messages]
    return plain


def _series(view: SessionView, measure: str, record: SessionRecord) -> dict[str, Any]:
    values = [float(v) for v in record.measures[measure]]
    return {
        "measure": measure,
        "label": view.loc.gettext(measure_name(measure)),
        "unit_local": view.loc.unit(measure),
        "values_local": [view.loc.to_local(v, measure) for v in values],
        "values": values,
    }


def _action(view: SessionView, action: ActionSpec) -> dict[str, Any]:
    loc = view.loc
    out: dict[str, Any] = {
        "id": action.id,
        "label": loc.gettext(action.label),
        "drug": loc.drug(action.drug) if action.drug is not None else None,
        "dose": None,
    }
    if action.dose is not None:
        d = action.dose
        bounds = (("default", d.default), ("min", d.min), ("max", d.max))
        out["dose"] = {
            "unit": d.unit,
            "unit_local": loc.unit(d.unit),
            **{f"{name}_local": loc.to_local(value, d.unit) for name, value in bounds},
            **{f"{name}_text": loc.quantity(Quantity(value, d.unit)) for name, value in bounds},
            "default_input": typed_number(loc, loc.to_local(d.default, d.unit)),
        }
    return out


def _items(view: SessionView, case: Case, report: ScoreReport) -> list[dict[str, Any]]:
    return [
        {
            "kind": i.kind,
            "ref": i.ref,
            "subject": _subject(view.loc, case, i.ref),
            "points": i.points,
            "max_points": i.max_points,
            "text": view.text(i.message()),
        }
        for i in report.items
    ]


def _subject(loc: Localizer, case: Case, ref: str) -> str:
    """What a rubric item is about, in the learner's language (action, information or
    measure)."""
    labels = {a.id: a.label for a in case.actions} | {i.id: i.label for i in case.information}
    return loc.gettext(labels.get(ref) or measure_name(ref))
