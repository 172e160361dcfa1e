"""Success bodies of the training case routes (``/api/v1/education``).

Values come twice: canonical (``value``, ``unit``) and as the learner reads them
(``value_local``, ``unit_local``, ``text`` in their language and number format).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from healthtwin.api.schemas.common import Absent, ResponseBody
from healthtwin.api.schemas.jobs import JobStatusName

__all__ = [
    "CaseList",
    "DebriefJob",
    "DebriefStatus",
    "SessionEnded",
    "SessionMoved",
    "SessionReport",
    "SessionState",
]


class CaseSummary(ResponseBody):
    """One shipped case, its title in the learner's language."""

    id: str
    version: int
    model: str
    duration_min: float
    title: str


class CaseList(ResponseBody):
    """The training cases on offer."""

    locale: str
    cases: list[CaseSummary]


class QuantityOut(ResponseBody):
    """A measured value, canonical and as the learner reads it."""

    measure: str
    label: str
    text: str
    value_local: float
    unit_local: str
    value: float
    unit: str


class ResultOut(QuantityOut):
    """A result that has arrived, with its twin time."""

    t_min: float


class MeasureSeries(ResponseBody):
    """One measure's values at the series' times."""

    measure: str
    label: str
    unit_local: str
    values_local: list[float]
    values: list[float]


class SeriesOut(ResponseBody):
    """Everything recorded so far, one value per time."""

    t_min: list[float]
    measures: list[MeasureSeries]


class MessageOut(ResponseBody):
    """One message: twin time, kind and text for the learner."""

    t_min: float
    kind: str
    text: str


class ActionOut(ResponseBody):
    """An action available now (``dose``: its bounds in local units, or ``null``)."""

    id: str
    label: str
    drug: str | None
    dose: dict[str, Any] | None


class InformationOut(ResponseBody):
    """Information that can be requested, and how long until it arrives."""

    id: str
    label: str
    kind: str
    turnaround_min: float


class SessionState(ResponseBody):
    """A session now, rendered in its locale."""

    session_id: str
    case_id: str
    case_version: int
    seed: int
    locale: str
    language: str
    title: str
    now_min: float
    duration_min: float
    finished: bool
    dead: bool
    ended: bool
    vitals: list[QuantityOut]
    series: SeriesOut
    results: list[ResultOut]
    messages: list[MessageOut]
    actions: list[ActionOut]
    information: list[InformationOut]


class SessionMoved(SessionState):
    """The session after an action, a request or time passing, with the new messages."""

    new_messages: list[MessageOut]


class DebriefJob(ResponseBody):
    """A debrief job's status, and where to follow it."""

    id: str
    kind: str
    description: str
    actor: str
    status: JobStatusName
    progress: float
    message: str
    created: str
    started: str | None
    finished: str | None
    error: str | None
    result: str | None
    location: str


class SessionReport(ResponseBody):
    """A finished session's score report (``debrief`` when asked and within budget)."""

    session_id: str
    case_id: str
    locale: str
    record: dict[str, Any] = Field(description="The session record: actions, measures, events.")
    score: dict[str, Any] = Field(description="Total, pass mark, items, harm and final state.")
    xapi: list[dict[str, Any]] = Field(description="xAPI statements of the session.")
    debrief: dict[str, Any] | Absent = None


class SessionEnded(SessionReport):
    """The report on ending, with the final state; a large debrief runs as a job (202)."""

    state: SessionState
    debrief_job: DebriefJob | Absent = None


class DebriefStatus(ResponseBody):
    """A debrief job, with the debrief once it has succeeded.

    After a restart only ``id``, ``status``, ``location``, ``session_id``, ``locale`` and
    ``debrief`` are known (from the store).
    """

    id: str
    status: JobStatusName
    location: str
    kind: str | Absent = None
    description: str | Absent = None
    actor: str | Absent = None
    progress: float | Absent = None
    message: str | Absent = None
    created: str | Absent = None
    started: str | None = None
    finished: str | None = None
    error: str | None = None
    result: str | None = None
    session_id: str | Absent = None
    locale: str | Absent = None
    debrief: dict[str, Any] | Absent = None
