"""How well an early-warning alert rule foresees deterioration, from NEWS2 trajectories.

Input is plain arrays (no physiology): per observation the patient, the time (h), the NEWS2
total and whether any single parameter scored 3; per event (deterioration, death, ...) the
patient and the time; per stay the span in which the patient was observed. A twin-backed
clinical course records exactly these (``coupling.hospital_course.TwinCourse.trajectories``);
a ward's charted observations give the same arrays.

Conventions
-----------
- The alert rule is the RCP (2017) NEWS2 trigger: an observation alerts when its total is at
  least ``threshold`` (5, the key threshold for an urgent response) or, with ``single_3``,
  when any single parameter scored 3 (the red-score trigger).
- An event is *detected* when the same patient had an alerting observation in the
  ``window_hours`` before it (``t_event - window <= t_obs < t_event``). The 24-h window is
  the one of Smith, Prytherch, Meredith, Schmidt & Featherstone, "The ability of the
  National Early Warning Score (NEWS) to discriminate patients at risk of early cardiac
  arrest, unanticipated intensive care unit admission, and death", Resuscitation
  84:465-470 (2013), who scored each observation set against outcomes within 24 h of it;
  :func:`observation_auroc` is their per-observation AUROC.
- Lead time is from the first alerting observation inside the window to the event.
- A *false alert* is the onset of an alert episode (an alerting observation whose previous
  observation of that patient did not alert) with no event of that patient in the following
  ``window_hours``. Counting onsets rather than every alerting observation keeps a patient
  re-observed hourly while alerting from counting as many alerts. Observations after a
  patient's first event are left out of the false-alert count and of the patient-days (the
  patient is already known to be deteriorating), unless ``censor_after_event=False``.
- Rates are per 100 patient-days of observed stay.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from healthtwin.core.types import BoolArray, FloatArray, IntArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError

__all__ = [
    "AlertEvaluation",
    "AlertRule",
    "NewsTrajectories",
    "evaluate_alerts",
    "observation_auroc",
    "threshold_table",
]

_Z95 = 1.959963984540054


@dataclass(frozen=True, eq=False)
class NewsTrajectories:
    """NEWS2 observations, events and observed stays of a set of patients.

    Attributes
    ----------
    patient, time_hours, total, any_single_3
        One entry per observation, shape ``(n_obs,)``.
    event_patient, event_time_hours
        One entry per event, shape ``(n_events,)``.
    stay_patient, stay_start_hours, stay_end_hours
        Observed spans, shape ``(n_stays,)``; they give the patient-days.

    Examples
    --------
    >>> t = NewsTrajectories.from_lists(
    ...     patient=[0, 0], time_hours=[1.0, 5.0], total=[2, 6], any_single_3=[False, False],
    ...     event_patient=[0], event_time_hours=[8.0],
    ...     stay_patient=[0], stay_start_hours=[0.0], stay_end_hours=[48.0])
    >>> t.patient_days()
    2.0
    """

    patient: IntArray
    time_hours: FloatArray
    total: IntArray
    any_single_3: BoolArray
    event_patient: IntArray
    event_time_hours: FloatArray
    stay_patient: IntArray
    stay_start_hours: FloatArray
    stay_end_hours: FloatArray

    def __post_init__(self) -> None:
        groups = (
            ("observation", ("patient", "time_hours", "total", "any_single_3")),
            ("event", ("event_patient", "event_time_hours")),
            ("stay", ("stay_patient", "stay_start_hours", "stay_end_hours")),
        )
        for label, names in groups:
            sizes = {name: np.shape(getattr(self, name)) for name in names}
            if len(set(sizes.values())) != 1 or len(next(iter(sizes.values()))) != 1:
                raise ShapeError(
                    f"{label} arrays must be 1-D and of one length, got shapes {sizes}"
                )
        for name in ("time_hours", "event_time_hours", "stay_start_hours", "stay_end_hours"):
            values = getattr(self, name)
            if not np.isfinite(values).all():
                raise InvalidInputError(f"{name} holds non-finite values; give times in hours")
        bad = np.flatnonzero((self.total < 0) | (self.total > 20))
        if bad.size:
            raise InvalidInputError(
                f"total[{bad[0]}] = {int(self.total[bad[0]])} is not a NEWS2 total (0-20)"
            )
        short = np.flatnonzero(self.stay_end_hours < self.stay_start_hours)
        if short.size:
            i = int(short[0])
            raise InvalidInputError(
                f"stay {i} ends at {float(self.stay_end_hours[i])} h before it starts at "
                f"{float(self.stay_start_hours[i])} h; give stays as start <= end"
            )
        for name in self.__dataclass_fields__:
            stored = np.array(getattr(self, name))
            stored.setflags(write=False)
            object.__setattr__(self, name, stored)

    @classmethod
    def from_lists(
        cls,
        *,
        patient: npt.ArrayLike,
        time_hours: npt.ArrayLike,
        total: npt.ArrayLike,
        any_single_3: npt.ArrayLike,
        event_patient: npt.ArrayLike,
        event_time_hours: npt.ArrayLike,
        stay_patient: npt.ArrayLike,
        stay_start_hours: npt.ArrayLike,
        stay_end_hours: npt.ArrayLike,
    ) -> NewsTrajectories:
        """Trajectories from array-likes (lists, tuples, arrays)."""

        def ints(x: npt.ArrayLike) -> IntArray:
            return np.array(x, dtype=np.int64).reshape(-1)

        def floats(x: npt.ArrayLike) -> FloatArray:
            return np.array(x, dtype=np.float64).reshape(-1)

        return cls(
            patient=ints(patient),
            time_hours=floats(time_hours),
            total=ints(total),
            any_single_3=np.array(any_single_3, dtype=np.bool_).reshape(-1),
            event_patient=ints(event_patient),
            event_time_hours=floats(event_time_hours),
            stay_patient=ints(stay_patient),
            stay_start_hours=floats(stay_start_hours),
            stay_end_hours=floats(stay_end_hours),
        )

    def patient_days(self) -> float:
        """Total observed stay in days."""
        return float(np.sum(self.stay_end_hours - self.stay_start_hours) / 24.0)


@dataclass(frozen=True)
class AlertRule:
    """Alert when ``total >= threshold``, or (with ``single_3``) any single parameter is 3.

    Examples
    --------
    >>> AlertRule().alerts(np.array([4, 5, 2]), np.array([False, False, True])).tolist()
    [False, True, True]
    """

    threshold: int = 5
    single_3: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.threshold <= 21:
            raise InvalidParameterError(
                f"threshold must be a NEWS2 total in 0-21 (21 never alerts), got {self.threshold!r}"
            )

    def alerts(self, total: IntArray, any_single_3: BoolArray) -> BoolArray:
        """Which observations alert, shape ``(n_obs,)``."""
        hit = total >= self.threshold
        if self.single_3:
            hit = hit | any_single_3
        return np.asarray(hit, dtype=np.bool_)


@dataclass(frozen=True)
class AlertEvaluation:
    """Sensitivity, lead time and false alerts of one rule (see the module conventions).

    ``sensitivity_low``/``sensitivity_high`` are the 95 % Wilson interval; the lead-time
    fields are NaN when no event was detected, the sensitivity when there was no event.
    """

    rule: AlertRule
    window_hours: float
    events: int
    detected: int
    sensitivity: float
    sensitivity_low: float
    sensitivity_high: float
    lead_hours: FloatArray
    lead_median_hours: float
    lead_q25_hours: float
    lead_q75_hours: float
    false_alerts: int
    patient_days: float
    false_alerts_per_100_patient_days: float


def evaluate_alerts(
    trajectories: NewsTrajectories,
    rule: AlertRule | None = None,
    *,
    window_hours: float = 24.0,
    censor_after_event: bool = True,
) -> AlertEvaluation:
    """Evaluate ``rule`` (default: NEWS2 >= 5 or any single 3) on ``trajectories``.

    Parameters
    ----------
    trajectories
        Observations, events and stays.
    rule
        The alert rule.
    window_hours
        How long before an event an alert counts as foreseeing it (Smith et al. 2013: 24 h).
    censor_after_event
        Leave observations after a patient's first event out of false alerts and patient-days.

    Returns
    -------
    AlertEvaluation

    Raises
    ------
    InvalidParameterError
        If ``window_hours`` is not a finite positive number.

    Examples
    --------
    >>> t = NewsTrajectories.from_lists(
    ...     patient=[0, 0, 0, 1, 1], time_hours=[0.0, 4.0, 8.0, 0.0, 12.0],
    ...     total=[1, 5, 7, 6, 1], any_single_3=[False] * 5,
    ...     event_patient=[0], event_time_hours=[10.0],
    ...     stay_patient=[0, 1], stay_start_hours=[0.0, 0.0], stay_end_hours=[10.0, 86.0])
    >>> e = evaluate_alerts(t)
    >>> e.sensitivity, e.lead_median_hours, e.false_alerts, e.false_alerts_per_100_patient_days
    (1.0, 6.0, 1, 25.0)
    """
    rule = AlertRule() if rule is None else rule
    _check_window(window_hours)
    t = trajectories
    alert = rule.alerts(t.total, t.any_single_3)
    order = np.lexsort((t.time_hours, t.patient))
    patient, time, alert = t.patient[order], t.time_hours[order], alert[order]
    leads = _lead_times(patient, time, alert, t.event_patient, t.event_time_hours, window_hours)
    detected = leads[np.isfinite(leads)]
    first_event = _first_event(patient, t.event_patient, t.event_time_hours)
    keep = time <= first_event if censor_after_event else np.ones(time.size, dtype=np.bool_)
    onset = alert & ~np.r_[False, alert[:-1] & (patient[1:] == patient[:-1])]
    followed = _followed_by_event(patient, time, t.event_patient, t.event_time_hours, window_hours)
    false_alerts = int(np.sum(onset & ~followed & keep))
    days = _observed_days(t, censor_after_event)
    n_events, n_det = int(t.event_time_hours.size), int(detected.size)
    low, high = _wilson(n_det, n_events)
    q25, q50, q75 = (
        np.quantile(detected, [0.25, 0.5, 0.75]) if n_det else (math.nan, math.nan, math.nan)
    )
    return AlertEvaluation(
        rule=rule,
        window_hours=window_hours,
        events=n_events,
        detected=n_det,
        sensitivity=n_det / n_events if n_events else math.nan,
        sensitivity_low=low,
        sensitivity_high=high,
        lead_hours=detected,
        lead_median_hours=float(q50),
        lead_q25_hours=float(q25),
        lead_q75_hours=float(q75),
        false_alerts=false_alerts,
        patient_days=days,
        false_alerts_per_100_patient_days=100.0 * false_alerts / days if days > 0 else math.nan,
    )


def threshold_table(
    trajectories: NewsTrajectories,
    thresholds: Iterable[int] = range(1, 13),
    *,
    single_3: bool = False,
    window_hours: float = 24.0,
) -> dict[str, FloatArray]:
    """Sensitivity and false alerts over score cut-offs: an ROC-like table.

    Returns
    -------
    dict
        Columns ``threshold``, ``sensitivity``, ``false_alerts_per_100_patient_days``,
        ``lead_median_hours``, one row per threshold. Sensitivity falls as the threshold
        rises; false alerts mostly do, but not always, since a higher threshold can split
        one alert episode into two.

    Examples
    --------
    >>> t = NewsTrajectories.from_lists(
    ...     patient=[0, 0], time_hours=[0.0, 4.0], total=[3, 6], any_single_3=[False] * 2,
    ...     event_patient=[0], event_time_hours=[6.0],
    ...     stay_patient=[0], stay_start_hours=[0.0], stay_end_hours=[24.0])
    >>> threshold_table(t, [3, 6, 7])["sensitivity"].tolist()
    [1.0, 1.0, 0.0]
    """
    rows = [
        evaluate_alerts(trajectories, AlertRule(int(k), single_3), window_hours=window_hours)
        for k in thresholds
    ]
    return {
        "threshold": np.array([r.rule.threshold for r in rows], dtype=np.float64),
        "sensitivity": np.array([r.sensitivity for r in rows]),
        "false_alerts_per_100_patient_days": np.array(
            [r.false_alerts_per_100_patient_days for r in rows]
        ),
        "lead_median_hours": np.array([r.lead_median_hours for r in rows]),
    }


def observation_auroc(trajectories: NewsTrajectories, *, window_hours: float = 24.0) -> float:
    """AUROC of the NEWS2 total for an event within ``window_hours`` after each observation.

    Smith et al. (2013)'s measure: each observation set is a case when the patient has an
    event in the following 24 h; ties count one half (Mann-Whitney). NaN without both classes.

    Examples
    --------
    >>> t = NewsTrajectories.from_lists(
    ...     patient=[0, 0, 1], time_hours=[0.0, 30.0, 0.0], total=[1, 6, 2],
    ...     any_single_3=[False] * 3, event_patient=[0], event_time_hours=[40.0],
    ...     stay_patient=[0, 1], stay_start_hours=[0.0, 0.0], stay_end_hours=[40.0, 24.0])
    >>> observation_auroc(t)
    1.0
    """
    _check_window(window_hours)
    t = trajectories
    case = _followed_by_event(
        t.patient, t.time_hours, t.event_patient, t.event_time_hours, window_hours
    )
    n_pos, n_neg = int(case.sum()), int((~case).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = _midranks(t.total.astype(np.float64))
    return float((ranks[case].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _check_window(window_hours: float) -> None:
    if not (math.isfinite(window_hours) and window_hours > 0):
        raise InvalidParameterError(
            f"window_hours must be a finite number of hours > 0, got {window_hours!r}"
        )


def _lead_times(
    patient: IntArray,
    time: FloatArray,
    alert: BoolArray,
    event_patient: IntArray,
    event_time: FloatArray,
    window: float,
) -> FloatArray:
    """Hours from the first alert in the window to each event (NaN: not detected)."""
    a_patient, a_time = patient[alert], time[alert]
    leads = np.full(event_time.size, math.nan)
    for i, (p, te) in enumerate(zip(event_patient, event_time, strict=True)):
        inside = (a_patient == p) & (a_time >= te - window) & (a_time < te)
        if inside.any():
            leads[i] = te - float(a_time[inside].min())
    return leads


def _followed_by_event(
    patient: IntArray, time: FloatArray, event_patient: IntArray, event_time: FloatArray, w: float
) -> BoolArray:
    """Whether each observation has an event of its patient in ``(t, t + w]``."""
    out = np.zeros(time.size, dtype=np.bool_)
    for p, te in zip(event_patient, event_time, strict=True):
        out |= (patient == p) & (time < te) & (time >= te - w)
    return out


def _first_event(patient: IntArray, event_patient: IntArray, event_time: FloatArray) -> FloatArray:
    """Each observation's patient's first event time (inf: none)."""
    first = np.full(patient.size, math.inf)
    for p, te in zip(event_patient, event_time, strict=True):
        mine = patient == p
        first[mine] = np.minimum(first[mine], te)
    return first


def _observed_days(t: NewsTrajectories, censor: bool) -> float:
    end = t.stay_end_hours
    if censor and t.event_time_hours.size:
        first = _first_event(t.stay_patient, t.event_patient, t.event_time_hours)
        end = np.maximum(np.minimum(end, first), t.stay_start_hours)
    return float(np.sum(end - t.stay_start_hours) / 24.0)


def _wilson(successes: int, n: int) -> tuple[float, float]:
    if n == 0:
        return math.nan, math.nan
    p, z2 = successes / n, _Z95 * _Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = _Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _midranks(values: FloatArray) -> FloatArray:
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    ranks = np.empty(values.size)
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_values)) + 1]
    ends = np.r_[starts[1:], values.size]
    for a, b in zip(starts, ends, strict=True):
        ranks[order[a:b]] = (a + b + 1) / 2.0
    return ranks
