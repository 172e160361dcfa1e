"""Scoring a played session against its case's rubric.

:func:`score` is a pure function of the case and the locale-free
:class:`~healthtwin.education.record.SessionRecord`, so the same actions give the same score
in every language. The rubric (:class:`~healthtwin.education.case.Rubric`) has five parts:

- **critical actions**: the first time the action (or one of its ``any_of``
  alternatives) was taken, in minutes from the case's start; full points when it is at
  most ``within_min``, none when late or missed (the time is still reported when late,
  ``None`` when missed); a session that never takes an ``essential`` one does not pass,
  whatever its total (e.g. blood for a patient bleeding to death);
- **required** actions and information requests: points when done at all (with
  ``before_action``: only when done before that action was first taken);
- **contraindicated** actions: minus ``penalty`` once per rubric item, however often the
  action was repeated; an item with ``when`` counts only if its condition held when the
  action was taken (read at the last recorded time at or before it), one with
  ``before_info`` only if that result had not yet been shown, one with ``above_dose``
  only for doses above it;
- **harm**: minutes a measure spent below (above) a limit, integrated on the record's time
  grid with the left-endpoint rule (each interval ``[t_i, t_i+1)`` counts when the measure
  is beyond the limit at ``t_i`` and the item's ``when`` condition, if any, holds there);
  the first ``grace_min`` minutes are free, the rest cost ``penalty_per_min`` a minute,
  capped at ``max_penalty``;
- **final state**: points when the measure at ``at_min`` (linear interpolation on the
  record; the last value when the session ended earlier) lies in ``between``.

- **death**: a patient who dies fails the case. No final-state item earns points (a
  state reached on the way to death is no goal met), and a ``death`` item costs the
  rubric's whole ``max_total``, so the total is zero and the session fails whatever else
  was done (the report says ``died`` and ``death_min``). Death is the worst outcome a
  case can have, so it is scored as one rather than as a penalty that good process could
  outweigh.

The total is the sum of the items' points, floored at zero; it passes at ``pass_mark`` or
more (and never after a death). Each :class:`ScoreItem` carries an English message id and
parameters (a :class:`~healthtwin.education.record.Quantity` for every measured value) for
the localizer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from healthtwin.education.case import Case, Condition, measure_unit
from healthtwin.education.i18n import N_
from healthtwin.education.record import Message, Quantity, SessionRecord
from healthtwin.education.units import kind_of
from healthtwin.errors import InvalidInputError

__all__ = [
    "MEASURE_NAMES",
    "MSG_FAILED",
    "MSG_PASSED",
    "MSG_SCORE",
    "ItemKind",
    "ScoreItem",
    "ScoreReport",
    "measure_family",
    "measure_name",
    "measure_params",
    "measure_quantity",
    "score",
]

MSG_SCORE = "Score"
MSG_PASSED = "passed"
MSG_FAILED = "failed"

ItemKind = Literal[
    "critical", "required", "information", "contraindicated", "harm", "final_state", "death"
]

#: Learner-facing names of the measures (message ids; English is the id itself).
MEASURE_NAMES: Mapping[str, str] = {
    "glucose_mmol_per_l": N_("glucose"),
    "ketones_mmol_per_l": N_("ketones"),
    "bicarbonate_mmol_per_l": N_("bicarbonate"),
    "potassium_mmol_per_l": N_("potassium"),
    "lactate_mmol_per_l": N_("lactate"),
    "ph": N_("pH"),
    "map_mmhg": N_("mean arterial pressure"),
    "sbp_mmhg": N_("systolic blood pressure"),
    "dbp_mmhg": N_("diastolic blood pressure"),
    "cvp_mmhg": N_("central venous pressure"),
    "hr_per_min": N_("heart rate"),
    "resp_rate_per_min": N_("respiratory rate"),
    "spo2_percent": N_("oxygen saturation"),
    "temp_c": N_("temperature"),
    "bis": N_("BIS"),
    "gcs": N_("Glasgow Coma Scale"),
    "urine_ml_per_h": N_("urine output"),
    "haemoglobin_g_per_dl": N_("haemoglobin"),
    "crystalloid_given_ml": N_("crystalloid given"),
    "blood_given_ml": N_("red cells given"),
    "neuromuscular_block_percent": N_("neuromuscular block"),
}


def measure_name(measure: str) -> str:
    """The learner-facing name (a message id) of a canonical measure.

    Examples
    --------
    >>> measure_name("map_mmhg")
    'mean arterial pressure'
    >>> measure_name("propofol_ce_ug_per_ml")
    'propofol ce ug per ml'
    """
    return MEASURE_NAMES.get(measure, measure.replace("_", " "))


def measure_quantity(measure: str, value: float) -> Quantity:
    """``value`` of ``measure`` as a :class:`Quantity` in its canonical unit.

    A measure whose name has no known unit suffix is given the unit ``"1"``.

    Examples
    --------
    >>> measure_quantity("glucose_mmol_per_l", 4.2)
    Quantity(value=4.2, unit='mmol/L')
    """
    try:
        unit = measure_unit(measure)
    except InvalidInputError:
        unit = "1"
    return Quantity(float(value), unit)


def measure_family(measure: str) -> Literal["glucose", "ph", "generic"]:
    """How messages name a measure's quantity parameters.

    The unit layer reads a quantity's kind from its parameter's name: glucose quantities
    (converted to mg/dL or g/L in some locales) are named ``glucose...`` and pH values (two
    decimals, no unit) ``ph...``; every other measure uses generic names and is shown in
    its canonical unit. Each family has its own message ids.

    Examples
    --------
    >>> measure_family("glucose_mmol_per_l"), measure_family("ph"), measure_family("map_mmhg")
    ('glucose', 'ph', 'generic')
    """
    kind = kind_of(measure)
    if kind == "glucose":
        return "glucose"
    return "ph" if kind == "ph" else "generic"


def measure_params(measure: str, **values: float) -> dict[str, str | float | Quantity]:
    """Message parameters for values of ``measure``, named for its :func:`measure_family`.

    ``value`` becomes ``glucose`` / ``ph`` / ``value``; any other name ``x`` becomes
    ``glucose_x`` / ``ph_x`` / ``x``. Index scores (GCS, BIS) are whole numbers and other
    unitless values plain numbers; a ``measure`` parameter holds the measure's
    learner-facing name.

    Examples
    --------
    >>> sorted(measure_params("glucose_mmol_per_l", value=2.0, low=4.0))
    ['glucose', 'glucose_low', 'measure']
    >>> measure_params("ph", value=7.1)["ph"]
    Quantity(value=7.1, unit='')
    >>> measure_params("bis", value=55.2)["value"]
    55.0
    """
    family = measure_family(measure)
    whole = kind_of(measure) == "index"
    out: dict[str, str | float | Quantity] = {"measure": measure_name(measure)}
    for name, value in values.items():
        if family == "generic":
            key = name
            q = measure_quantity(measure, value)
            if q.unit != "1":
                out[key] = q
            else:
                out[key] = float(round(value)) if whole else float(value)
        else:
            key = family if name == "value" else f"{family}_{name}"
            unit = "" if family == "ph" else measure_unit(measure)
            out[key] = Quantity(float(value), unit)
    return out


@dataclass(frozen=True)
class ScoreItem:
    """One line of a score report.

    Attributes
    ----------
    kind : str
        ``critical``, ``required``, ``information``, ``contraindicated``, ``harm`` or
        ``final_state``.
    ref : str
        The action id, information id or measure the item is about.
    points, max_points : float
        Points earned (negative for penalties) and the most the item can earn (zero for
        penalties).
    msgid : str
        English message id (may hold ``{placeholders}``), translated by the localizer.
    params : mapping
        The message's parameters (``Quantity`` for measured values, floats for minutes).
    """

    kind: ItemKind
    ref: str
    points: float
    max_points: float
    msgid: str
    params: Mapping[str, str | float | Quantity] = field(default_factory=dict)

    def message(self, t_min: float = 0.0) -> Message:
        """The item as a feedback :class:`Message` for the localizer."""
        return Message(self.msgid, dict(self.params), "feedback", t_min)


@dataclass(frozen=True)
class ScoreReport:
    """The structured score of one session.

    Attributes
    ----------
    total, max_total : float
        Points earned (floored at zero) and the most a session can earn.
    passed : bool
        ``total >= pass_mark``.
    items : tuple of ScoreItem
        Every rubric item, in rubric order.
    time_to_critical_min : dict
        Critical action id -> minutes from the start to its first occurrence (``None``
        when never taken).
    harm_minutes : dict
        Measure -> minutes spent beyond its harm limits.
    final_state : dict
        Measure -> value (canonical unit) at the rubric's ``at_min``.
    case_id : str
    pass_mark : float
    died : bool
        Whether the patient died (the session then fails).
    death_min : float or None
        Minute of death (``None`` when the patient survived).
    """

    total: float
    max_total: float
    passed: bool
    items: tuple[ScoreItem, ...]
    time_to_critical_min: dict[str, float | None]
    harm_minutes: dict[str, float]
    final_state: dict[str, float]
    case_id: str = ""
    pass_mark: float = 0.0
    died: bool = False
    death_min: float | None = None

    @property
    def scaled(self) -> float:
        """``total / max_total`` in [0, 1] (0 when the rubric has no points)."""
        return self.total / self.max_total if self.max_total > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready data (quantities as ``{value, unit}``)."""
        return {
            "case_id": self.case_id,
            "total": self.total,
            "max_total": self.max_total,
            "pass_mark": self.pass_mark,
            "passed": self.passed,
            "died": self.died,
            "death_min": self.death_min,
            "scaled": self.scaled,
            "items": [
                {
                    "kind": i.kind,
                    "ref": i.ref,
                    "points": i.points,
                    "max_points": i.max_points,
                    "msgid": i.msgid,
                    "params": {k: _plain(v) for k, v in i.params.items()},
                }
                for i in self.items
            ],
            "time_to_critical_min": dict(self.time_to_critical_min),
            "harm_minutes": dict(self.harm_minutes),
            "final_state": dict(self.final_state),
        }

    def to_json(self) -> str:
        """The report as JSON (:meth:`to_dict`)."""
        return json.dumps(self.to_dict())


def _plain(value: str | float | Quantity) -> Any:
    if isinstance(value, Quantity):
        return {"value": value.value, "unit": value.unit}
    return value


def score(case: Case, record: SessionRecord) -> ScoreReport:
    """Score a session against its case's rubric.

    Parameters
    ----------
    case : Case
        The case played.
    record : SessionRecord
        What the session produced (its ``case_id`` must be ``case.id``).

    Returns
    -------
    ScoreReport

    Raises
    ------
    InvalidInputError
        If the record belongs to another case, or lacks a measure the rubric needs.

    Examples
    --------
    >>> from healthtwin.education.case import load_case
    >>> from healthtwin.education.engine import replay
    >>> case = load_case("hypoglycaemia")
    >>> report = score(case, replay(case, ()))
    >>> report.passed, report.total < report.max_total
    (False, True)
    """
    if record.case_id != case.id:
        raise InvalidInputError(
            f"the record is of case {record.case_id!r} but was scored against {case.id!r}; "
            "grade it with the case it was played on"
        )
    times = np.asarray(record.times_min, dtype=float)
    rubric = case.rubric
    items: list[ScoreItem] = []
    first: dict[str, float | None] = {}
    missed_essential = False
    for crit in rubric.critical_actions:
        t = _first_action(record, *crit.actions)
        first[crit.action] = t
        items.append(_critical_item(crit.action, t, crit.within_min, crit.points, crit.essential))
        if crit.essential and t is None:
            missed_essential = True
    for req in rubric.required:
        items.append(_required_item(record, req.action, req.info, req.points, req.before_action))
    for contra in rubric.contraindicated:
        items.append(_contraindicated_item(record, times, contra))
    harm_minutes: dict[str, float] = {}
    for harm in rubric.harm:
        gate = None if harm.when is None else _values(record, harm.when.measure)
        minutes = _minutes_beyond(
            times, _values(record, harm.measure), harm.below, harm.above, harm.when, gate
        )
        harm_minutes[harm.measure] = harm_minutes.get(harm.measure, 0.0) + minutes
        costly = max(0.0, minutes - harm.grace_min)
        penalty = min(harm.max_penalty, harm.penalty_per_min * costly)
        limit = harm.below if harm.below is not None else harm.above
        # 0.0 - penalty, not -penalty: no "-0" points when nothing was harmed.
        items.append(
            ScoreItem("harm", harm.measure, 0.0 - penalty, 0.0,
                      *_harm_text(harm.measure, float(limit or 0.0), harm.below is not None,
                                  minutes))
        )  # fmt: skip
    final: dict[str, float] = {}
    death = record.died_min
    for goal in rubric.final_state:
        value = _value_at(times, _values(record, goal.measure), goal.at_min)
        final[goal.measure] = value
        low, high = goal.between
        if death is not None:
            m = Message("Not reached: the patient died at minute {time_min}.", {"time_min": death})
            items.append(
                ScoreItem("final_state", goal.measure, 0.0, goal.points, m.msgid, dict(m.params))
            )
            continue
        earned = goal.points if low <= value <= high else 0.0
        items.append(
            ScoreItem("final_state", goal.measure, earned, goal.points,
                      *_final_text(goal.measure, value, low, high, goal.at_min))
        )  # fmt: skip
    max_total = sum(i.max_points for i in items)
    if death is not None:
        m = Message("The patient died at minute {time_min}.", {"time_min": death})
        items.append(ScoreItem("death", "death", 0.0 - max_total, 0.0, m.msgid, dict(m.params)))
    total = max(0.0, sum(i.points for i in items))
    return ScoreReport(
        total=total,
        max_total=max_total,
        passed=death is None and not missed_essential and total >= rubric.pass_mark,
        items=tuple(items),
        time_to_critical_min=first,
        harm_minutes=harm_minutes,
        final_state=final,
        case_id=case.id,
        pass_mark=rubric.pass_mark,
        died=death is not None,
        death_min=death,
    )


def _first_action(record: SessionRecord, *action_ids: str) -> float | None:
    times = [a.t_min for a in record.actions if a.action_id in action_ids]
    return min(times) if times else None


def _critical_item(
    action: str, t: float | None, within_min: float, points: float, essential: bool = False
) -> ScoreItem:
    if t is None and essential:
        m = Message(
            "Not done (target: within {within_min} minutes); the case cannot be passed without it.",
            {"within_min": within_min},
        )
        return ScoreItem("critical", action, 0.0, points, m.msgid, m.params)
    if t is None:
        m = Message("Not done (target: within {within_min} minutes).", {"within_min": within_min})
        return ScoreItem("critical", action, 0.0, points, m.msgid, m.params)
    earned = points if t <= within_min else 0.0
    m = Message(
        "Done at minute {time_min} (target: within {within_min} minutes).",
        {"time_min": t, "within_min": within_min},
    )
    return ScoreItem("critical", action, earned, points, m.msgid, m.params)


def _required_item(
    record: SessionRecord,
    action: str | None,
    info: str | None,
    points: float,
    before_action: str | None = None,
) -> ScoreItem:
    if action is not None:
        when = [a.t_min for a in record.actions if a.action_id == action]
        kind: ItemKind = "required"
        ref = action
    else:
        when = [r.t_min for r in record.requests if r.info_id == info]
        kind = "information"
        ref = str(info)
    done = bool(when)
    deadline = None if before_action is None else _first_action(record, before_action)
    if done and deadline is not None and min(when) > deadline:
        m = Message("Done too late: it had to come first.")
        return ScoreItem(kind, ref, 0.0, points, m.msgid, dict(m.params))
    m = Message("Done.") if done else Message("Not done.")
    return ScoreItem(kind, ref, points if done else 0.0, points, m.msgid, m.params)


def _contraindicated_item(record: SessionRecord, times: Any, contra: Any) -> ScoreItem:
    hit = any(
        _counts(record, times, contra.when, contra.before_info, a.t_min)
        for a in record.actions
        if a.action_id == contra.action
        and (contra.above_dose is None or (a.dose is not None and a.dose > contra.above_dose))
    )
    if hit:
        return ScoreItem("contraindicated", contra.action, -contra.penalty, 0.0, contra.reason)
    m = Message("Avoided.")
    return ScoreItem("contraindicated", contra.action, 0.0, 0.0, m.msgid, m.params)


def _counts(
    record: SessionRecord,
    times: Any,
    when: Condition | None,
    before_info: str | None,
    t_min: float,
) -> bool:
    if before_info is not None:
        shown = [r.ready_min for r in record.requests if r.info_id == before_info]
        if shown and min(shown) <= t_min:
            return False
    if when is not None:
        # The engine applies an action to the state at the last grid minute: read the
        # condition there, not interpolated towards the future.
        values = _values(record, when.measure)
        k = max(0, int(np.searchsorted(times, t_min + 1e-9, side="right")) - 1)
        return when.holds({when.measure: float(values[k])})
    return True


def _values(record: SessionRecord, measure: str) -> Any:
    try:
        return np.asarray(record.measures[measure], dtype=float)
    except KeyError as err:
        raise InvalidInputError(
            f"the record has no measure {measure!r} that the rubric scores; it has "
            f"{sorted(record.measures)} (was it played on another version of the case?)"
        ) from err


def _minutes_beyond(
    times: Any,
    values: Any,
    below: float | None,
    above: float | None,
    when: Condition | None = None,
    gate: Any = None,
) -> float:
    if times.size < 2:
        return 0.0
    beyond = np.zeros(times.size - 1, dtype=bool)
    if below is not None:
        beyond |= values[:-1] < below
    if above is not None:
        beyond |= values[:-1] > above
    if when is not None and gate is not None:
        g = gate[:-1]
        beyond &= g < when.below if when.below is not None else g > float(when.above or 0.0)
    return float(np.sum(np.diff(times)[beyond]))


def _value_at(times: Any, values: Any, t_min: float) -> float:
    if times.size == 0:
        raise InvalidInputError("the record has no samples; play the case before scoring it")
    if t_min >= times[-1]:
        return float(values[-1])
    # The last sample at or before t_min wins ties (a record may hold two samples at one
    # time: before and after an action).
    k = int(np.searchsorted(times, t_min, side="right")) - 1
    if k < 0:
        return float(values[0])
    if times[k] == t_min or k + 1 >= times.size:
        return float(values[k])
    return float(np.interp(t_min, times[k : k + 2], values[k : k + 2]))


def _harm_text(
    measure: str, limit: float, below: bool, minutes: float
) -> tuple[str, dict[str, str | float | Quantity]]:
    # One literal per message id so that the catalog extractor finds each of them.
    params = {**measure_params(measure, value=limit), "minutes": minutes}
    family = measure_family(measure)
    if family == "glucose":
        m = (
            Message("Time with glucose below {glucose}: {minutes} minutes.", params)
            if below
            else Message("Time with glucose above {glucose}: {minutes} minutes.", params)
        )
    elif family == "ph":
        m = (
            Message("Time with pH below {ph}: {minutes} minutes.", params)
            if below
            else Message("Time with pH above {ph}: {minutes} minutes.", params)
        )
    else:
        m = (
            Message("Time with {measure} below {value}: {minutes} minutes.", params)
            if below
            else Message("Time with {measure} above {value}: {minutes} minutes.", params)
        )
    return m.msgid, dict(m.params)


def _final_text(
    measure: str, value: float, low: float, high: float, at_min: float
) -> tuple[str, dict[str, str | float | Quantity]]:
    params = {**measure_params(measure, value=value, low=low, high=high), "at_min": at_min}
    family = measure_family(measure)
    if family == "glucose":
        m = Message(
            "At minute {at_min}, glucose was {glucose} (target {glucose_low} to {glucose_high}).",
            params,
        )
    elif family == "ph":
        m = Message("At minute {at_min}, pH was {ph} (target {ph_low} to {ph_high}).", params)
    else:
        m = Message("At minute {at_min}, {measure} was {value} (target {low} to {high}).", params)
    return m.msgid, dict(m.params)
