"""Dosing regimens and their choice by expected time in a target concentration window.

Idea
----
A :class:`Regimen` gives each patient a dose infused over ``infusion_duration`` every
``interval`` (a continuous infusion when both are equal). :func:`choose_regimen` picks,
per patient, the candidate dose and interval that maximize the *expected* share of time
the concentration spends in a window, averaged over members that stand for the patient
(posterior draws, or one typical member for population dosing), and reports that share's
5-95 % range over the members. The model must be linear in its doses: each member is run
once without and once per candidate interval with a unit dose, and every candidate
amount is a superposition, so a search over amounts costs no further simulation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from healthtwin.core.inputs import Inputs, Rate
from healthtwin.core.protocols import Model
from healthtwin.core.trajectory import simulate
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidParameterError, ShapeError

__all__ = [
    "Regimen",
    "RegimenChoice",
    "RegimenSearch",
    "choose_regimen",
    "time_in_window",
    "with_regimen",
]


@dataclass(frozen=True)
class Regimen:
    """Per patient: ``dose`` infused over ``infusion_duration`` every ``interval`` from
    ``start``; each a scalar (shared) or shape ``(patients,)``.

    Examples
    --------
    >>> Regimen(1000.0, 720.0, 60.0).rate(1440.0).at(np.array([30.0, 90.0, 750.0])).tolist()
    [[16.666666666666668, 0.0, 16.666666666666668]]
    """

    dose: float | FloatArray
    interval: float | FloatArray
    infusion_duration: float | FloatArray
    start: float = 0.0

    def __post_init__(self) -> None:
        dose, interval, duration = self.arrays()
        if np.any(dose < 0) or np.any(duration <= 0) or np.any(duration > interval):
            raise InvalidParameterError(
                "need dose >= 0 and 0 < infusion_duration <= interval, got "
                f"{dose.tolist()}, {duration.tolist()}, {interval.tolist()}"
            )

    def arrays(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Dose, interval and infusion duration broadcast to ``(patients,)`` each."""
        parts = (self.dose, self.interval, self.infusion_duration)
        arrays = np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, np.float64)) for v in parts))
        dose, interval, duration = (np.asarray(a, dtype=np.float64) for a in arrays)
        return dose, interval, duration

    def rate(self, until: float) -> Rate:
        """The infusion rate of doses started before ``until``, one row per patient."""
        dose, interval, duration = self.arrays()
        count = np.ceil((until - self.start) / interval - 1e-9).astype(int)
        edges = [
            self.start + j * tau + np.array([0.0, d])
            for tau, d, c in zip(interval, duration, count, strict=True)
            for j in range(max(int(c), 0))
        ]
        times = np.unique(np.concatenate([[self.start], *edges]))
        since = times[None, :] - self.start
        k = np.floor(since / interval[:, None] + 1e-9)
        phase = since - k * interval[:, None]
        on = (k < count[:, None]) & (phase < duration[:, None] - 1e-9)
        return Rate(times, np.where(on, (dose / duration)[:, None], 0.0))


def with_regimen(given: Inputs, channel: str, regimen: Regimen, until: float) -> Inputs:
    """``given`` plus ``regimen``'s doses started before ``until`` on ``channel`` (rates
    add: the model is linear in its doses)."""
    return _with_rate(given, channel, regimen.rate(until))


def _with_rate(given: Inputs, channel: str, extra: Rate) -> Inputs:
    base = given.rates.get(channel)
    if base is None:
        return given.merged(Inputs(rates={channel: extra}))
    times = np.union1d(base.times, extra.times)
    return given.merged(Inputs(rates={channel: Rate(times, base.at(times) + extra.at(times))}))


def time_in_window(conc: FloatArray, low: float, high: float) -> FloatArray:
    """Share of samples (a uniform grid) with ``low <= conc <= high``, along the last axis.

    Examples
    --------
    >>> time_in_window(np.array([[5.0, 12.0, 18.0, 25.0]]), 10.0, 20.0).tolist()
    [0.5]
    """
    return np.asarray(np.mean((conc >= low) & (conc <= high), axis=-1))


@dataclass(frozen=True)
class RegimenChoice:
    """The regimen per patient and its predicted share of time in the window: the mean
    over the patient's members and their 5th and 95th percentiles, each ``(patients,)``."""

    regimen: Regimen
    time_in_window: FloatArray
    time_in_window_low: FloatArray
    time_in_window_high: FloatArray


@dataclass(frozen=True)
class RegimenSearch:
    """What a regimen is chosen for and from.

    Parameters
    ----------
    channel, output
        The model's infusion channel and concentration output.
    window
        Target concentration window ``(low, high)``.
    doses
        Candidate amounts per dose.
    intervals
        Candidate dosing intervals (model time unit).
    infusion_duration
        How long each dose runs (at most the shortest interval).
    step
        Spacing of the grid on which time in window is counted.
    """

    channel: str
    output: str
    window: tuple[float, float]
    doses: Sequence[float]
    intervals: Sequence[float]
    infusion_duration: float
    step: float

    def __post_init__(self) -> None:
        low, high = self.window
        if not 0 <= low < high:
            raise InvalidParameterError(f"need a window 0 <= low < high, got {self.window}")
        doses = tuple(sorted(float(d) for d in self.doses))
        intervals = tuple(float(t) for t in self.intervals)
        if not doses or doses[0] < 0 or not intervals:
            raise InvalidParameterError(f"give doses >= 0 and intervals, got {doses}, {intervals}")
        if not 0 < self.infusion_duration <= min(intervals):
            raise InvalidParameterError(
                f"infusion_duration {self.infusion_duration} must be > 0 and at most the "
                f"shortest interval {min(intervals)}"
            )
        if not (math.isfinite(self.step) and self.step > 0):
            raise InvalidParameterError(f"step must be > 0, got {self.step}")
        object.__setattr__(self, "doses", doses)
        object.__setattr__(self, "intervals", intervals)


def choose_regimen(
    model: Model[Any],
    members: Any,
    per_patient: int,
    given: Inputs,
    search: RegimenSearch,
    *,
    start: float,
    end: float,
    rng: np.random.Generator,
) -> RegimenChoice:
    """The dose and interval with the highest expected time in the window over
    ``[start, end]``, for each patient; doses start at ``start``.

    Parameters
    ----------
    model
        A PK model, linear in its doses.
    members
        State at time 0 of ``per_patient`` members per patient, patient-major (posterior
        draws; one typical member for population dosing).
    per_patient
        Members per patient.
    given
        Doses given before (shared by the patients); they play out after ``start`` too.
    search
        Window and candidates.
    start, end
        When the regimen starts and the end of the period it is judged on.
    rng
        Passed to the model.

    Examples
    --------
    >>> from healthtwin.physiology.pkpd import PkPdModel, PkPdParameters
    >>> model = PkPdModel(PkPdParameters(v1_l=50.0, k10=4 / 60 / 50), n_compartments=1)
    >>> search = RegimenSearch("infusion_mg_per_min", "plasma_mg_l", (10.0, 20.0),
    ...                        doses=[250.0, 500.0, 1000.0], intervals=[480.0, 720.0],
    ...                        infusion_duration=60.0, step=15.0)
    >>> rng = np.random.default_rng(0)
    >>> best = choose_regimen(model, model.initial_state(1, rng), 1, Inputs(), search,
    ...                       start=0.0, end=4 * 1440.0, rng=rng)
    >>> best.regimen.arrays()[:2], round(float(best.time_in_window[0]), 2)
    ((array([500.]), array([480.])), 0.87)
    """
    if not start < end or per_patient < 1:
        raise InvalidParameterError(
            f"need start < end and per_patient >= 1, got [{start}, {end}], {per_patient}"
        )
    n = members.n_members
    if n % per_patient:
        raise ShapeError(f"{n} members is not a multiple of per_patient={per_patient}")
    patients, amounts = n // per_patient, np.asarray(search.doses, dtype=np.float64)
    at_start = model.advance(members, 0.0, start, given, rng) if start > 0 else members
    units = [
        Regimen(1.0, tau, search.infusion_duration, start).rate(end) for tau in search.intervals
    ]
    copies = at_start.concat([at_start] * (1 + len(units)))
    inputs = _with_rate(given, search.channel, _stack_rates(units, n))
    _, course = simulate(model, copies, start, end, search.step, inputs, rng)
    conc = course.output(search.output)[:, :-1].reshape(1 + len(units), n, -1)
    unit = conc[1:] - conc[:1]  # (intervals, members, T)
    shares = np.stack(
        [time_in_window(conc[0] + a * unit, *search.window) for a in amounts], axis=1
    ).reshape(len(units), amounts.size, patients, per_patient)
    # First maximum: the shortest listed interval, then the smallest dose, wins ties.
    best = shares.mean(axis=3).reshape(-1, patients).argmax(axis=0)
    i, j = np.divmod(best, amounts.size)
    chosen = shares[i, j, np.arange(patients)]
    intervals = np.asarray(search.intervals, dtype=np.float64)
    regimen = Regimen(amounts[j], intervals[i], search.infusion_duration, start)
    q = np.percentile(chosen, [5.0, 95.0], axis=1)
    return RegimenChoice(regimen, chosen.mean(axis=1), q[0], q[1])


def _stack_rates(units: Sequence[Rate], members: int) -> Rate:
    """No infusion for the first ``members``, then each unit rate for the next ``members``."""
    times = np.unique(np.concatenate([r.times for r in units]))
    rows = [np.zeros((members, times.size))]
    rows += [np.broadcast_to(r.at(times), (members, times.size)) for r in units]
    return Rate(times, np.concatenate(rows))
