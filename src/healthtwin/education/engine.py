"""Play a training case: the learner acts and asks, the twin advances, text comes back.

A :class:`Session` binds a :class:`~healthtwin.education.case.Case` to one virtual patient
(its responder state) and a clock in minutes. The physiology advances on a fixed grid of
whole minutes: each grid step integrates one minute of twin time, fires the timeline
events that are due, records every measure, checks for death and fires narrative
triggers (each once); an event or narrative item due at a fractional minute fires at the
first grid minute at or after it. The learner's clock may stop between grid points; an action then
acts on the state at the last grid point, and a lab reads the measures recorded there.
Because the grid does not depend on how the learner chunks time, :func:`replay` of a
session's actions and requests gives the identical record (and so the identical score).

Nothing here is localised: messages are English message ids with parameters
(:class:`~healthtwin.education.record.Message`), quantities carry canonical units. A move
the learner cannot make is refused with a
:class:`~healthtwin.education.learner_errors.LearnerError` (an ``InvalidInputError``): an
English message for developers, plus the ``errors``-domain message id and parameters that
the faces render in the learner's language and units.

Examples
--------
>>> from healthtwin.education.case import load_case
>>> s = Session(load_case("hypoglycaemia"), seed=0)
>>> opening = s.start()
>>> _ = s.request("capillary_glucose")
>>> results = s.advance(5)
>>> [m.kind for m in results if m.kind == "result"]
['result']
>>> _ = s.act("give_dextrose_iv")
>>> rec = replay(s.case, s.record().actions, requests=s.record().requests,
...              until_min=s.now_min)
>>> bool((rec.measures["glucose_mmol_per_l"] == s.record().measures["glucose_mmol_per_l"]).all())
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np

from healthtwin.education.case import ActionSpec, Case, InfoSpec, measure_unit
from healthtwin.education.learner_errors import (
    ERR_ACTION_NOT_YET,
    ERR_DOSE_NOT_A_NUMBER,
    ERR_DOSE_OUT_OF_RANGE,
    ERR_ENDED_DIED,
    ERR_ENDED_TIME,
    ERR_INFO_NEEDS,
    ERR_INFO_NOT_YET,
    ERR_MINUTES_NOT_POSITIVE,
    ERR_NO_DOSE,
    ERR_UNKNOWN_ACTION,
    ERR_UNKNOWN_INFO,
    LearnerError,
)
from healthtwin.education.patients import seeded_patient_parameters
from healthtwin.education.record import (
    ActionTaken,
    InfoRequest,
    Message,
    Quantity,
    SessionRecord,
)
from healthtwin.education.responders import make_responder
from healthtwin.errors import InvalidInputError

__all__ = [
    "ENGINE_MESSAGES",
    "MONITOR_MEASURES",
    "MSG_CASE_ENDED",
    "MSG_PATIENT_DIED",
    "MSG_RESULT_PENDING",
    "Session",
    "replay",
]

MSG_PATIENT_DIED: Final = "The patient has died."
MSG_CASE_ENDED: Final = "The case has ended."
MSG_RESULT_PENDING: Final = "Result expected in {wait_min} minutes."
#: Every message id the engine itself emits (the catalog extractor reads this).
ENGINE_MESSAGES: Final = (MSG_PATIENT_DIED, MSG_CASE_ENDED, MSG_RESULT_PENDING)
#: Measures shown on the bedside monitor when a case does not list its own ``monitor``.
MONITOR_MEASURES: Final = (
    "hr_per_min",
    "map_mmhg",
    "sbp_mmhg",
    "resp_rate_per_min",
    "spo2_percent",
    "temp_c",
    "bis",
)
_EPS = 1e-9


class Session:
    """One learner playing one case on one virtual patient.

    Parameters
    ----------
    case
        The case to play.
    seed
        Seed of the virtual patient and its random streams (same seed, same patient and
        course): 0 is the case's own patient, another seed another patient like it
        (:func:`healthtwin.education.patients.seeded_patient_parameters`).
    parameters
        Responder parameters of the patient; default the patient ``seed`` chooses (see
        :func:`healthtwin.education.patients.draw_patients` for others).
    started_at
        Wall-clock start of the session (ISO 8601), kept in the record for the xAPI
        export; the faces pass the current time, replays leave it ``None``.
    """

    def __init__(
        self,
        case: Case,
        seed: int = 0,
        *,
        parameters: Mapping[str, float] | None = None,
        started_at: str | None = None,
    ) -> None:
        self.case = case
        self.seed = int(seed)
        self.started_at = started_at
        self._responder = make_responder(case.patient.model)
        init_seq, dyn_seq = np.random.SeedSequence(self.seed).spawn(2)
        params = (
            seeded_patient_parameters(case, self.seed) if parameters is None else dict(parameters)
        )
        self._state: Any = self._responder.initial(
            params, case.initial_state, np.random.default_rng(init_seq)
        )
        self._rng = np.random.default_rng(dyn_seq)
        self._clock = 0.0
        self._grid = 0
        self._started = False
        self._dead = False
        self._actions: list[ActionTaken] = []
        self._requests: list[InfoRequest] = []
        self._pending: list[tuple[float, int, InfoSpec, dict[str, Quantity]]] = []
        self._disclosed: set[str] = set()
        self._fired_events: set[int] = set()
        self._fired_narrative: set[int] = set()
        self._events: list[tuple[float, str]] = []
        self._times: list[float] = []
        self._series: dict[str, list[float]] = {m: [] for m in self._responder.measures}
        self._last: dict[str, float] = {}

    # --- state ------------------------------------------------------------------------

    @property
    def now_min(self) -> float:
        """Minutes since the case's start on the learner's clock."""
        return self._clock

    @property
    def finished(self) -> bool:
        """Whether the case has ended (its ``duration_min`` reached, or death)."""
        return self._dead or self._clock >= self.case.duration_min - _EPS

    @property
    def dead(self) -> bool:
        """Whether the patient has died."""
        return self._dead

    def vitals(self) -> dict[str, Quantity]:
        """The bedside monitor now, in canonical units."""
        names = self.case.monitor or [m for m in MONITOR_MEASURES if m in self._responder.measures]
        values = self._last or self._responder.measure(self._state)
        return {m: Quantity(float(values[m]), measure_unit(m)) for m in names}

    def available_actions(self) -> list[ActionSpec]:
        """Actions the learner may take now."""
        return [a for a in self.case.actions if a.available_after_min <= self._clock + _EPS]

    def available_information(self) -> list[InfoSpec]:
        """Information the learner may request now (progressive disclosure)."""
        return [i for i in self.case.information if self._info_open(i)]

    def record(self) -> SessionRecord:
        """Everything so far, enough to score and to replay the session."""
        return SessionRecord(
            case_id=self.case.id,
            case_version=self.case.version,
            seed=self.seed,
            actions=tuple(self._actions),
            requests=tuple(self._requests),
            times_min=np.asarray(self._times, dtype=np.float64),
            measures={k: np.asarray(v, dtype=np.float64) for k, v in self._series.items()},
            events=tuple(self._events),
            ended_min=self._clock,
            died_min=self._clock if self._dead else None,
            started_at=self.started_at,
        )

    # --- the learner's moves ----------------------------------------------------------

    def start(self) -> list[Message]:
        """Open the case: its summary, then whatever happens at minute 0.

        Raises
        ------
        InvalidInputError
            If the session has already started.
        """
        if self._started:
            raise InvalidInputError("the session has already started; call advance() or act()")
        self._started = True
        out = [Message(self.case.summary, {}, "narrative", 0.0)]
        out += self._grid_point()
        return out

    def act(self, action_id: str, dose: float | None = None) -> list[Message]:
        """Take an action now, with ``dose`` in its canonical unit (default: the case's).

        Raises
        ------
        InvalidInputError
            If the action is unknown or not yet available, the dose is out of range (the
            message gives the allowed range), or the session has finished.

        Examples
        --------
        >>> from healthtwin.education.case import load_case
        >>> s = Session(load_case("hypoglycaemia"))
        >>> s.act("give_dextrose_iv", dose=500.0)
        Traceback (most recent call last):
        ...
        healthtwin.education.learner_errors.LearnerError: dose 500 g for 'give_dextrose_iv' ...
        """
        out = self._ensure_started()
        self._check_open()
        spec = self._action(action_id)
        if spec.available_after_min > self._clock + _EPS:
            raise LearnerError(
                ERR_ACTION_NOT_YET,
                {
                    "action": spec.label,
                    "action_id": spec.id,
                    "from_min": spec.available_after_min,
                    "now_min": self._clock,
                },
                english=(
                    f"action {action_id!r} is available from minute "
                    f"{spec.available_after_min:g}; it is minute {self._clock:g}"
                ),
            )
        value = _checked_dose(spec, dose)
        self._state = self._responder.apply(self._state, spec.effect, value, float(self._grid))
        self._actions.append(ActionTaken(self._clock, spec.id, value))
        params: dict[str, str | float | Quantity] = {}
        if value is not None and spec.dose is not None:
            params["dose"] = Quantity(value, spec.dose.unit)
        if spec.drug is not None:
            params["drug"] = f"drug:{spec.drug}"
        return [*out, Message(spec.label, params, "feedback", self._clock)]

    def request(self, info_id: str) -> list[Message]:
        """Ask for information now; results with a turnaround arrive from :meth:`advance`.

        History and examination items (turnaround 0) are answered at once. Labs and
        monitors report the measures at the last grid minute.

        Raises
        ------
        InvalidInputError
            If the item is unknown, not yet available (its ``requires`` not disclosed or
            before ``available_after_min``), or the session has finished.
        """
        out = self._ensure_started()
        self._check_open()
        spec = self._info(info_id)
        if not self._info_open(spec):
            self._refuse_info(spec)
        ready = self._clock + spec.turnaround_min
        self._requests.append(InfoRequest(self._clock, spec.id, ready))
        values = self._last or self._responder.measure(self._state)
        params = {m: Quantity(float(values[m]), measure_unit(m)) for m in spec.all_measures}
        out.append(Message(spec.label, {}, "info", self._clock))
        if spec.turnaround_min <= 0:
            self._disclosed.add(spec.id)
            out.append(Message(spec.text, dict(params), "result", self._clock))
        else:
            out.append(
                Message(MSG_RESULT_PENDING, {"wait_min": spec.turnaround_min}, "info", self._clock)
            )
            self._pending.append((ready, len(self._requests), spec, params))
        return out

    def advance(self, minutes: float) -> list[Message]:
        """Let ``minutes`` of twin time pass (capped at the case's end).

        Raises
        ------
        InvalidInputError
            If ``minutes`` is not a positive finite number, or the session has finished.
        """
        if not (isinstance(minutes, int | float) and math.isfinite(minutes) and minutes > 0):
            finite = isinstance(minutes, int | float) and math.isfinite(minutes)
            shown: str | float = float(minutes) if finite else repr(minutes)
            raise LearnerError(
                ERR_MINUTES_NOT_POSITIVE,
                {"minutes": shown},
                english=f"minutes must be a positive number, got {minutes!r}",
            )
        return self._advance_to(self._clock + float(minutes))

    # --- internals --------------------------------------------------------------------

    def _advance_to(self, target: float) -> list[Message]:
        out = self._ensure_started()
        self._check_open()
        target = min(target, self.case.duration_min)
        while self._grid + 1 <= target + _EPS and not self._dead:
            t0 = float(self._grid)
            self._state = self._responder.advance(self._state, t0, t0 + 1.0, self._rng)
            self._grid += 1
            self._clock = float(self._grid)
            out += self._deliver(self._clock)
            out += self._grid_point()
        if not self._dead:
            self._clock = max(self._clock, target)
            out += self._deliver(self._clock)
            if self.finished:
                out.append(Message(MSG_CASE_ENDED, {}, "info", self._clock))
        return out

    def _grid_point(self) -> list[Message]:
        """Timeline events, recording, death and narrative at the current grid minute."""
        t = float(self._grid)
        out: list[Message] = []
        for k, event in enumerate(self.case.timeline):
            if k not in self._fired_events and event.at_min <= t + _EPS:
                self._fired_events.add(k)
                self._state = self._responder.event(self._state, event.params, t)
                self._events.append((t, event.event))
                text = event.params.get("text")
                if isinstance(text, str):
                    out.append(Message(text, {}, "narrative", t))
        self._last = {k: float(v) for k, v in self._responder.measure(self._state).items()}
        self._times.append(t)
        for name, series in self._series.items():
            series.append(self._last[name])
        if self._responder.dead(self._state):
            self._dead = True
            self._clock = t
            return [*out, Message(MSG_PATIENT_DIED, {}, "alert", t)]
        quantities = {m: Quantity(v, measure_unit(m)) for m, v in self._last.items()}
        for k, item in enumerate(self.case.narrative):
            if k in self._fired_narrative:
                continue
            due = item.at_min is not None and item.at_min <= t + _EPS
            if due or (item.when is not None and item.when.holds(self._last)):
                self._fired_narrative.add(k)
                out.append(Message(item.text, dict(quantities), "narrative", t))
        return out

    def _deliver(self, t: float) -> list[Message]:
        ready = sorted((p for p in self._pending if p[0] <= t + _EPS), key=lambda p: p[:2])
        self._pending = [p for p in self._pending if p[0] > t + _EPS]
        out = []
        for ready_min, _, spec, params in ready:
            self._disclosed.add(spec.id)
            out.append(Message(spec.text, dict(params), "result", ready_min))
        return out

    def _info_open(self, spec: InfoSpec) -> bool:
        return spec.available_after_min <= self._clock + _EPS and set(spec.requires) <= (
            self._disclosed
        )

    def _ensure_started(self) -> list[Message]:
        return [] if self._started else self.start()

    def _check_open(self) -> None:
        if self.finished:
            why = "the patient died" if self._dead else "the case's time is over"
            raise LearnerError(
                ERR_ENDED_DIED if self._dead else ERR_ENDED_TIME,
                {"minute": self._clock},
                english=(
                    f"the session has finished at minute {self._clock:g} ({why}); read record()"
                ),
            )

    def _action(self, action_id: str) -> ActionSpec:
        try:
            return self.case.action(action_id)
        except InvalidInputError as err:
            ids = [a.id for a in self.available_actions()]
            raise LearnerError(
                ERR_UNKNOWN_ACTION,
                {"action_id": action_id, "actions": ", ".join(ids)},
                english=str(err),
            ) from err

    def _info(self, info_id: str) -> InfoSpec:
        try:
            return self.case.info(info_id)
        except InvalidInputError as err:
            ids = [i.id for i in self.available_information()]
            raise LearnerError(
                ERR_UNKNOWN_INFO,
                {"info_id": info_id, "items": ", ".join(ids)},
                english=str(err),
            ) from err

    def _refuse_info(self, spec: InfoSpec) -> None:
        missing = sorted(set(spec.requires) - self._disclosed)
        available = [i.id for i in self.available_information()]
        english = (
            f"information {spec.id!r} is not available yet (needs {missing} disclosed and "
            f"minute >= {spec.available_after_min:g}; it is minute {self._clock:g}); "
            f"available now: {available}"
        )
        params: dict[str, str | float | Quantity] = {
            "info": spec.label,
            "info_id": spec.id,
            "needed": ", ".join(missing),
            "from_min": spec.available_after_min,
            "now_min": self._clock,
            "available": ", ".join(available) or "-",
        }
        raise LearnerError(ERR_INFO_NEEDS if missing else ERR_INFO_NOT_YET, params, english=english)


def _checked_dose(spec: ActionSpec, dose: float | None) -> float | None:
    if spec.dose is None:
        if dose is not None:
            raise LearnerError(
                ERR_NO_DOSE,
                {"action": spec.label, "action_id": spec.id, "dose": repr(dose)},
                english=f"action {spec.id!r} takes no dose; got {dose!r}",
            )
        return None
    if dose is None:
        return float(spec.dose.default)
    d = spec.dose
    if isinstance(dose, bool) or not isinstance(dose, int | float) or not math.isfinite(dose):
        raise LearnerError(
            ERR_DOSE_NOT_A_NUMBER,
            {"action": spec.label, "action_id": spec.id, "dose": repr(dose)},
            english=f"dose for {spec.id!r} must be a finite number, got {dose!r}",
        )
    if not d.min <= dose <= d.max:
        raise LearnerError(
            ERR_DOSE_OUT_OF_RANGE,
            {
                "dose": Quantity(float(dose), d.unit),
                "action": spec.label,
                "action_id": spec.id,
                "low": Quantity(d.min, d.unit),
                "high": Quantity(d.max, d.unit),
            },
            english=(
                f"dose {dose:g} {d.unit} for {spec.id!r} is outside the allowed range "
                f"{d.min:g}-{d.max:g} {d.unit}; give a dose in that range"
            ),
        )
    return float(dose)


def replay(
    case: Case,
    actions: Sequence[ActionTaken],
    *,
    seed: int = 0,
    until_min: float | None = None,
    requests: Sequence[InfoRequest] = (),
    parameters: Mapping[str, float] | None = None,
) -> SessionRecord:
    """Play ``actions`` (and ``requests``) at their times and return the record.

    Deterministic: replaying a session's own actions and requests with its seed and
    ``until_min=record.ended_min`` gives the identical record.

    Parameters
    ----------
    case
        The case.
    actions
        Actions with their times (minutes) and doses; sorted by time here.
    seed
        Seed of the patient (as for :class:`Session`).
    until_min
        Where to stop; default the case's ``duration_min``.
    requests
        Information requests (only ``t_min`` and ``info_id`` are used).
    parameters
        Responder parameters of the patient (default the case's nominal patient).

    Returns
    -------
    SessionRecord

    Examples
    --------
    >>> from healthtwin.education.case import load_case
    >>> case = load_case("hypoglycaemia")
    >>> rec = replay(case, [ActionTaken(2.0, "give_dextrose_iv", 15.0)], until_min=20)
    >>> rec.ended_min, len(rec.times_min)
    (20.0, 21)
    """
    session = Session(case, seed, parameters=parameters)
    session.start()
    moves = sorted(
        [(a.t_min, 0, k) for k, a in enumerate(actions)]
        + [(r.t_min, 1, k) for k, r in enumerate(requests)]
    )
    for t, kind, k in moves:
        if t > session.now_min + _EPS and not session.finished:
            session._advance_to(t)
        if session.finished:
            break
        if kind == 0:
            session.act(actions[k].action_id, actions[k].dose)
        else:
            session.request(requests[k].info_id)
    end = case.duration_min if until_min is None else min(until_min, case.duration_min)
    if not session.finished and end > session.now_min + _EPS:
        session._advance_to(end)
    return session.record()
