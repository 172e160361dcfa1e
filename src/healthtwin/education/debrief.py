"""Counterfactual debrief: what would have happened had the learner acted differently.

Only a twin can answer "had fluids started 10 minutes earlier...": the learner's session is
replayed on the same virtual patient with its actions changed, and on the expert pathway.
Each variant is played on ``n_draws`` patients: draw 0 is the case's nominal patient with
the session's own seed (so the learner's own variant on draw 0 reproduces the played
record), draws 1.. are drawn from the case's parameter uncertainty
(:func:`~healthtwin.education.patients.draw_patients`). Every variant sees the same
patients and the same random streams (common random numbers), so differences between
variants come from the actions alone.

Variants:

- ``played``: the learner's actions as taken;
- ``shift:<k>:<minutes>``: action ``k`` moved by each of ``shifts`` minutes (negative is
  earlier), clamped to the case's time and to when the action becomes available;
- ``without:<k>``: action ``k`` removed;
- ``expert``: the case's ``expert`` pathway, with the information requests the rubric
  asks for made as soon as they are available.

For each variant the score and the rubric's final-state measures are given on the
learner's own patient (draw 0: ``own_score``, ``own_outcomes``) and summarised by their
5 %, 50 % and 95 % quantiles over the draws, and each counterfactual is explained in a
:class:`~healthtwin.education.record.Message` (English id plus parameters) for the
localizer. The headline is the learner's own patient, as played against the variant; the
bands over the patients drawn come as context, e.g. *Had you chosen "Give IV fluids" 10
minutes earlier: at minute 60, lactate 2.1 instead of 3.0 for your patient; across similar
patients 1.8 to 2.6 instead of 2.5 to 3.6*. The message parameters ``score``,
``played_score``, ``value`` and ``played`` (and their glucose and pH forms) are the own
patient's values; ``*_low`` and ``*_high`` are the bands' 5 % and 95 % quantiles.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from healthtwin.core.types import FloatArray
from healthtwin.education.case import Case
from healthtwin.education.engine import replay
from healthtwin.education.patients import draw_patients, seeded_patient_parameters
from healthtwin.education.record import ActionTaken, InfoRequest, Message, Quantity, SessionRecord
from healthtwin.education.scoring import ScoreReport, measure_family, measure_params, score
from healthtwin.errors import InvalidInputError, InvalidParameterError

__all__ = [
    "MSG_DEBRIEF",
    "QUANTILES",
    "Band",
    "Debrief",
    "VariantOutcome",
    "debrief",
    "expert_requests",
]

MSG_DEBRIEF = "Debrief: what would have happened"
#: Quantile levels of the outcome bands.
QUANTILES = (0.05, 0.5, 0.95)
VariantKind = Literal["played", "shifted", "removed", "expert"]


@dataclass(frozen=True)
class Band:
    """The 5 %, 50 % and 95 % quantiles of an outcome over the patients drawn."""

    low: float
    median: float
    high: float

    @classmethod
    def of(cls, values: FloatArray) -> Band:
        """The band of ``values`` (shape ``(n_draws,)``).

        Examples
        --------
        >>> Band.of(np.arange(101.0))
        Band(low=5.0, median=50.0, high=95.0)
        """
        low, median, high = np.quantile(np.asarray(values, dtype=float), QUANTILES)
        return cls(float(low), float(median), float(high))


@dataclass(frozen=True)
class VariantOutcome:
    """One way the session could have gone, over every patient drawn.

    Attributes
    ----------
    id : str
        ``played``, ``shift:<k>:<minutes>``, ``without:<k>`` or ``expert``.
    kind : str
        ``played``, ``shifted``, ``removed`` or ``expert``.
    actions : tuple of ActionTaken
        The actions replayed.
    action_index : int or None
        Index (in the learner's actions) of the action shifted or removed.
    shift_min : float or None
        Minutes the action was moved (negative: earlier).
    reports : tuple of ScoreReport
        The score on each patient drawn (``n_draws``).
    outcomes : dict
        Final-state measure -> values on each patient, shape ``(n_draws,)``.
    record : SessionRecord
        The replay on draw 0 (the played patient).
    """

    id: str
    kind: VariantKind
    actions: tuple[ActionTaken, ...]
    action_index: int | None
    shift_min: float | None
    reports: tuple[ScoreReport, ...]
    outcomes: dict[str, FloatArray]
    record: SessionRecord

    @property
    def scores(self) -> FloatArray:
        """Total score on each patient drawn, shape ``(n_draws,)``."""
        return np.array([r.total for r in self.reports], dtype=float)

    @property
    def score_band(self) -> Band:
        """Quantiles of the total score over the patients drawn."""
        return Band.of(self.scores)

    @property
    def outcome_bands(self) -> dict[str, Band]:
        """Quantiles of each final-state measure over the patients drawn."""
        return {m: Band.of(v) for m, v in self.outcomes.items()}

    @property
    def own_score(self) -> float:
        """The total score on the learner's own patient (draw 0)."""
        return float(self.reports[0].total)

    @property
    def own_outcomes(self) -> dict[str, float]:
        """Each final-state measure on the learner's own patient (draw 0)."""
        return {m: float(v[0]) for m, v in self.outcomes.items()}


@dataclass(frozen=True)
class Debrief:
    """The counterfactual debrief of one session.

    Attributes
    ----------
    case_id : str
    n_draws : int
    seed : int
        Seed of the patient draws.
    at_min : dict
        Final-state measure -> the minute it is read at.
    variants : tuple of VariantOutcome
        ``played`` first, then the shifted and removed actions, then ``expert``.
    messages : tuple of Message
        One explanation per counterfactual and outcome, for the localizer.
    """

    case_id: str
    n_draws: int
    seed: int
    at_min: dict[str, float]
    variants: tuple[VariantOutcome, ...]
    messages: tuple[Message, ...]

    def variant(self, variant_id: str) -> VariantOutcome:
        """The variant with this id (:class:`InvalidInputError` listing the ids if none)."""
        for v in self.variants:
            if v.id == variant_id:
                return v
        raise InvalidInputError(
            f"no debrief variant {variant_id!r}; variants are {[v.id for v in self.variants]}"
        )

    def to_dict(self) -> dict[str, Any]:
        """The debrief as JSON-ready data (bands and messages; no records)."""
        return {
            "case_id": self.case_id,
            "n_draws": self.n_draws,
            "seed": self.seed,
            "quantiles": list(QUANTILES),
            "at_min": dict(self.at_min),
            "variants": [
                {
                    "id": v.id,
                    "kind": v.kind,
                    "action_index": v.action_index,
                    "shift_min": v.shift_min,
                    "actions": [
                        {"t_min": a.t_min, "action_id": a.action_id, "dose": a.dose}
                        for a in v.actions
                    ],
                    "score": _band_dict(v.score_band),
                    "outcomes": {m: _band_dict(b) for m, b in v.outcome_bands.items()},
                    "own": {"score": v.own_score, "outcomes": v.own_outcomes},
                }
                for v in self.variants
            ],
            "messages": [
                {"msgid": m.msgid, "params": {k: _plain(p) for k, p in m.params.items()}}
                for m in self.messages
            ],
        }

    def to_json(self) -> str:
        """The debrief as JSON (:meth:`to_dict`)."""
        return json.dumps(self.to_dict())


def _band_dict(b: Band) -> dict[str, float]:
    return {"q05": b.low, "q50": b.median, "q95": b.high}


def _plain(value: str | float | Quantity) -> Any:
    if isinstance(value, Quantity):
        return {"value": value.value, "unit": value.unit}
    return value


def debrief(
    case: Case,
    record: SessionRecord,
    *,
    shifts: Sequence[float] = (-10.0,),
    n_draws: int = 20,
    seed: int = 0,
    until_min: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Debrief:
    """Replay a session with its actions changed, and the expert pathway, over many patients.

    Parameters
    ----------
    case : Case
        The case played.
    record : SessionRecord
        The learner's session.
    shifts : sequence of float
        Minutes by which each action is moved, one variant per action and shift (negative
        is earlier).
    n_draws : int
        Patients per variant (>= 1): the played patient, then ``n_draws - 1`` drawn.
    seed : int
        Seed of the patient draws.
    until_min : float, optional
        How long each variant is played; default the case's ``duration_min`` (a session
        the learner ended early is played on to show what would have happened).
    progress : callable, optional
        Called as ``progress(done, total)`` after each variant (for a progress bar). The
        cost is ``total * n_draws`` replays, with ``total = 2 + len(actions) *
        (len(shifts) + 1)``.

    Returns
    -------
    Debrief

    Raises
    ------
    InvalidParameterError
        If ``n_draws`` < 1 or a shift is not finite.
    InvalidInputError
        If the record belongs to another case.

    Examples
    --------
    >>> from healthtwin.education.case import load_case
    >>> case = load_case("hypoglycaemia")
    >>> played = replay(case, [ActionTaken(20.0, "give_dextrose_iv", 15.0)])
    >>> d = debrief(case, played, n_draws=2)
    >>> d.variant("shift:0:-10").score_band.median >= d.variant("played").score_band.median
    True
    """
    if n_draws < 1:
        raise InvalidParameterError(f"n_draws must be >= 1, got {n_draws}")
    if not all(np.isfinite(s) for s in shifts):
        raise InvalidParameterError(f"shifts must be finite minutes, got {list(shifts)}")
    if record.case_id != case.id:
        raise InvalidInputError(
            f"the record is of case {record.case_id!r}, not {case.id!r}; debrief it with the "
            "case it was played on"
        )
    patients = _patients(case, record.seed, n_draws, seed)
    horizon = case.duration_min if until_min is None else float(until_min)
    at_min = {g.measure: min(g.at_min, horizon) for g in case.rubric.final_state}

    def run(vid: str, kind: VariantKind, actions: Sequence[ActionTaken],
            requests: Sequence[InfoRequest], index: int | None = None,
            shift: float | None = None) -> VariantOutcome:  # fmt: skip
        records = [
            replay(case, actions, seed=s, until_min=horizon, requests=requests, parameters=p)
            for s, p in patients
        ]
        reports = tuple(score(case, r) for r in records)
        outcomes = {m: np.array([r.final_state[m] for r in reports]) for m in at_min}
        return VariantOutcome(vid, kind, tuple(actions), index, shift, reports, outcomes,
                              records[0])  # fmt: skip

    learner = tuple(sorted(record.actions, key=lambda a: a.t_min))
    total = 2 + len(learner) * (len(shifts) + 1)
    variants: list[VariantOutcome] = []

    def add(variant: VariantOutcome) -> None:
        variants.append(variant)
        if progress is not None:
            progress(len(variants), total)

    add(run("played", "played", learner, record.requests))
    for k, action in enumerate(learner):
        for shift in shifts:
            moved = _moved(case, action, float(shift), horizon)
            if moved.t_min == action.t_min:
                total -= 1  # clamped to where it was: nothing to replay
                continue
            changed = (*learner[:k], moved, *learner[k + 1 :])
            add(
                run(f"shift:{k}:{float(shift):g}", "shifted", changed, record.requests, k,
                    moved.t_min - action.t_min)
            )  # fmt: skip
        add(run(f"without:{k}", "removed", learner[:k] + learner[k + 1 :], record.requests, k))
    expert = tuple(ActionTaken(e.at_min, e.action, e.dose) for e in case.expert)
    add(run("expert", "expert", expert, expert_requests(case)))
    messages = tuple(_explain(case, variants[0], v, at_min) for v in variants[1:])
    return Debrief(
        case_id=case.id,
        n_draws=n_draws,
        seed=seed,
        at_min=at_min,
        variants=tuple(variants),
        messages=tuple(m for group in messages for m in group),
    )


def _patients(
    case: Case, record_seed: int, n_draws: int, seed: int
) -> list[tuple[int, dict[str, float]]]:
    """(seed, parameters) of each patient: the played one first, then draws."""
    out = [(record_seed, seeded_patient_parameters(case, record_seed))]
    if n_draws > 1:
        drawn = draw_patients(case, n_draws - 1, seed)
        seeds = np.random.SeedSequence(seed).generate_state(n_draws - 1)
        out += [(int(s), p) for s, p in zip(seeds, drawn, strict=True)]
    return out


def _moved(case: Case, action: ActionTaken, shift: float, horizon: float) -> ActionTaken:
    earliest = case.action(action.action_id).available_after_min
    t = float(np.clip(action.t_min + shift, earliest, max(earliest, horizon)))
    return ActionTaken(t, action.action_id, action.dose)


def expert_requests(case: Case) -> tuple[InfoRequest, ...]:
    """The information requests of the expert pathway.

    Every item the rubric asks for (``required`` info and ``before_info`` of
    contraindications), with the items it ``requires`` first, each requested as soon as it
    is available.

    Examples
    --------
    >>> from healthtwin.education.case import load_case
    >>> all(r.t_min >= 0 for r in expert_requests(load_case("hypoglycaemia")))
    True
    """
    wanted = [q.info for q in case.rubric.required if q.info is not None]
    wanted += [c.before_info for c in case.rubric.contraindicated if c.before_info is not None]
    ready: dict[str, float] = {}
    asked: dict[str, float] = {}

    def visit(info_id: str, depth: int = 0) -> float:
        if info_id in ready:
            return ready[info_id]
        spec = case.info(info_id)
        if depth > len(case.information):
            raise InvalidInputError(f"information {info_id!r} requires itself; fix 'requires'")
        t = max([spec.available_after_min, *(visit(r, depth + 1) for r in spec.requires)])
        asked[info_id] = t
        ready[info_id] = t + spec.turnaround_min
        return ready[info_id]

    for info_id in wanted:
        visit(info_id)
    return tuple(
        InfoRequest(t, i, ready[i]) for i, t in sorted(asked.items(), key=lambda kv: kv[1])
    )


def _explain(
    case: Case, played: VariantOutcome, v: VariantOutcome, at_min: dict[str, float]
) -> list[Message]:
    label = ""
    if v.action_index is not None:
        label = case.action(played.actions[v.action_index].action_id).label
    head_params: dict[str, str | float | Quantity] = {
        "action": label,
        "minutes": abs(v.shift_min or 0.0),
    }
    mine, theirs = played.score_band, v.score_band
    out = [
        Message(_head_msgid(v.kind, (v.shift_min or 0.0) < 0), head_params, "feedback"),
        Message(
            "Score: {score} instead of {played_score} for your patient; across similar "
            "patients {score_low} to {score_high} instead of {played_low} to {played_high}.",
            {
                "score": v.own_score,
                "score_low": theirs.low,
                "score_high": theirs.high,
                "played_score": played.own_score,
                "played_low": mine.low,
                "played_high": mine.high,
            },
            "feedback",
        ),
    ]
    for measure, t in at_min.items():
        b, p = v.outcome_bands[measure], played.outcome_bands[measure]
        params = {
            **measure_params(
                measure,
                value=v.own_outcomes[measure],
                low=b.low,
                high=b.high,
                played=played.own_outcomes[measure],
                played_low=p.low,
                played_high=p.high,
            ),
            "at_min": t,
        }
        out.append(Message(_outcome_msgid(measure_family(measure)), params, "feedback"))
    return out


def _head_msgid(kind: VariantKind, earlier: bool) -> str:
    # One literal per message id so that the catalog extractor finds each of them.
    if kind == "expert":
        return Message("On the expert pathway:").msgid
    if kind == "removed":
        return Message('Without "{action}":').msgid
    if earlier:
        return Message('Had you chosen "{action}" {minutes} minutes earlier:').msgid
    return Message('Had you chosen "{action}" {minutes} minutes later:').msgid


def _outcome_msgid(family: str) -> str:
    # Glucose and pH messages name their quantities glucose_* / ph_* so that the unit
    # layer converts and formats them; other measures keep their canonical unit.
    if family == "glucose":
        m = Message(
            "At minute {at_min}: glucose {glucose} instead of {glucose_played} for your "
            "patient; across similar patients {glucose_low} to {glucose_high} instead of "
            "{glucose_played_low} to {glucose_played_high}."
        )
    elif family == "ph":
        m = Message(
            "At minute {at_min}: pH {ph} instead of {ph_played} for your patient; across "
            "similar patients {ph_low} to {ph_high} instead of {ph_played_low} to "
            "{ph_played_high}."
        )
    else:
        m = Message(
            "At minute {at_min}: {measure} {value} instead of {played} for your patient; "
            "across similar patients {low} to {high} instead of {played_low} to "
            "{played_high}."
        )
    return m.msgid
