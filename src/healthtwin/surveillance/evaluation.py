"""Performance of outbreak detectors on simulated series: the Noufaily et al. (2013) metrics.

All metrics work on alarm and outbreak arrays of shape ``(n_series, n_monitored)``: the
alarms a detector raised in the monitored weeks, and the outbreak cases present in each
of those weeks. Weeks where the detector could not compute a bound (``defined`` False)
are left out of every denominator.

- false-positive rate (FPR): alarms / weeks, over weeks without outbreak cases of the
  series simulated *without* a current outbreak (Noufaily's definition);
- probability of detection (POD): share of outbreaks with at least one alarm between
  their first and last week with cases; outbreaks without any case are not counted;
- sensitivity, specificity, positive predictive value (PPV): week-level, on the series
  *with* the outbreak (outbreak week = a week with outbreak cases);
- timeliness: share of the outbreak's duration (first to last week with cases) elapsed
  before its first alarm, 1 when it is not detected (Noufaily et al. 2013, section 5).

Monte Carlo standard errors treat series as independent units: week-level ratios use the
ratio-estimator (linearization) variance over series, POD the binomial variance over
outbreaks, timeliness the standard deviation over outbreaks divided by ``sqrt(n)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from healthtwin.errors import InvalidParameterError, MissingDependencyError, ShapeError
from healthtwin.surveillance.simulation import (
    NoufailyDesign,
    SimulatedSurveillance,
    inject_outbreaks,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DetectionLike",
    "Estimate",
    "EvaluationResult",
    "MatrixDetector",
    "ScenarioScores",
    "evaluate_closed_loop",
    "evaluate_detectors",
    "false_positive_rate",
    "positive_predictive_value",
    "probability_of_detection",
    "score_scenario",
    "sensitivity",
    "specificity",
    "timeliness",
]


class DetectionLike(Protocol):
    """What the evaluation reads from a detector's result (``detect.Detection``)."""

    @property
    def alarm(self) -> NDArray[np.bool_]:
        """Alarms, shape ``(n_series, n_monitored)``."""

    @property
    def defined(self) -> NDArray[np.bool_]:
        """Whether a bound was computed, shape ``(n_series, n_monitored)``."""


class MatrixDetector(Protocol):
    """The signature of ``healthtwin.surveillance.detect.detect_matrix``."""

    def __call__(
        self,
        observed: ArrayLike,
        *,
        method: str,
        monitored: ArrayLike,
        dates: ArrayLike | None = None,
        control: Mapping[str, object] | None = None,
    ) -> DetectionLike:
        """Detect on ``observed`` (n_series, n_weeks) in the 1-based ``monitored`` weeks."""


@dataclass(frozen=True)
class Estimate:
    """A Monte Carlo estimate and its standard error (NaN when undefined)."""

    value: float
    se: float


def _as_2d(values: ArrayLike, dtype: type) -> NDArray[Any]:
    arr: NDArray[Any] = np.asarray(values, dtype=dtype)
    return arr[None, :] if arr.ndim == 1 else arr


def _as_pair(
    alarm: ArrayLike, outbreak: ArrayLike, defined: ArrayLike | None
) -> tuple[NDArray[np.bool_], NDArray[np.bool_], NDArray[np.bool_]]:
    alarm_arr = _as_2d(alarm, bool)
    cases = _as_2d(outbreak, float)
    defined_arr = np.ones(alarm_arr.shape, dtype=bool) if defined is None else _as_2d(defined, bool)
    if (
        alarm_arr.ndim != 2
        or cases.shape != alarm_arr.shape
        or defined_arr.shape != alarm_arr.shape
    ):
        raise ShapeError(
            "alarm, outbreak and defined must share the shape (n_series, n_monitored); got "
            f"{alarm_arr.shape}, {cases.shape}, {defined_arr.shape}"
        )
    return alarm_arr & defined_arr, cases > 0, defined_arr


def _ratio(numerator: NDArray[np.float64], denominator: NDArray[np.float64]) -> Estimate:
    """Pooled ratio of per-series sums with its linearization standard error."""
    total = float(denominator.sum())
    if total == 0:
        return Estimate(math.nan, math.nan)
    value = float(numerator.sum()) / total
    n = numerator.size
    if n < 2:
        return Estimate(value, math.nan)
    residual = numerator - value * denominator
    se = math.sqrt(n / (n - 1) * float((residual**2).sum())) / total
    return Estimate(value, se)


def false_positive_rate(
    alarm: ArrayLike, outbreak: ArrayLike, *, defined: ArrayLike | None = None
) -> Estimate:
    """Alarms per monitored week without outbreak cases.

    Parameters
    ----------
    alarm : array_like of bool, shape (n_series, n_monitored)
        Alarms raised.
    outbreak : array_like, shape (n_series, n_monitored)
        Outbreak cases in each week (weeks with cases are left out).
    defined : array_like of bool, shape (n_series, n_monitored), optional
        Weeks where the detector computed a bound (others are left out).

    Returns
    -------
    Estimate

    Examples
    --------
    >>> false_positive_rate([[True, False, False, True]], [[0, 0, 0, 3]]).value
    0.3333333333333333
    """
    alarms, in_outbreak, defined_arr = _as_pair(alarm, outbreak, defined)
    quiet = defined_arr & ~in_outbreak
    return _ratio((alarms & quiet).sum(axis=1).astype(float), quiet.sum(axis=1).astype(float))


def sensitivity(
    alarm: ArrayLike, outbreak: ArrayLike, *, defined: ArrayLike | None = None
) -> Estimate:
    """Share of outbreak weeks (weeks with outbreak cases) that raised an alarm.

    Examples
    --------
    >>> sensitivity([[True, False, True, False]], [[0, 2, 1, 0]]).value
    0.5
    """
    alarms, in_outbreak, defined_arr = _as_pair(alarm, outbreak, defined)
    weeks = defined_arr & in_outbreak
    return _ratio((alarms & weeks).sum(axis=1).astype(float), weeks.sum(axis=1).astype(float))


def specificity(
    alarm: ArrayLike, outbreak: ArrayLike, *, defined: ArrayLike | None = None
) -> Estimate:
    """Share of weeks without outbreak cases that raised no alarm (``1 - FPR`` there).

    Examples
    --------
    >>> specificity([[True, False, True, False]], [[0, 2, 1, 0]]).value
    0.5
    """
    fpr = false_positive_rate(alarm, outbreak, defined=defined)
    return Estimate(1.0 - fpr.value, fpr.se)


def positive_predictive_value(
    alarm: ArrayLike, outbreak: ArrayLike, *, defined: ArrayLike | None = None
) -> Estimate:
    """Share of alarms raised in weeks with outbreak cases.

    Examples
    --------
    >>> positive_predictive_value([[True, False, True, True]], [[0, 2, 1, 0]]).value
    0.3333333333333333
    """
    alarms, in_outbreak, _ = _as_pair(alarm, outbreak, defined)
    hits = (alarms & in_outbreak).sum(axis=1).astype(float)
    return _ratio(hits, alarms.sum(axis=1).astype(float))


def _episodes(
    alarm: ArrayLike, outbreak: ArrayLike, defined: ArrayLike | None
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """Per series: has an outbreak episode, and timeliness (1 when undetected)."""
    alarms, in_outbreak, _ = _as_pair(alarm, outbreak, defined)
    n_weeks = alarms.shape[1]
    has = in_outbreak.any(axis=1)
    week = np.arange(n_weeks)
    first = np.where(in_outbreak, week, n_weeks).min(axis=1)
    last = np.where(in_outbreak, week, -1).max(axis=1)
    within = alarms & (week >= first[:, None]) & (week <= last[:, None])
    first_alarm = np.where(within, week, n_weeks).min(axis=1)
    duration = np.maximum(last - first + 1, 1)
    elapsed = np.where(within.any(axis=1), (first_alarm - first) / duration, 1.0)
    return np.asarray(has, dtype=bool), elapsed.astype(float)


def probability_of_detection(
    alarm: ArrayLike, outbreak: ArrayLike, *, defined: ArrayLike | None = None
) -> Estimate:
    """Share of outbreaks with at least one alarm while they last (one per series).

    Examples
    --------
    >>> probability_of_detection([[False, True, False], [False] * 3], [[1, 1, 0], [0, 1, 0]])
    Estimate(value=0.5, se=0.3535533905932738)
    """
    has, elapsed = _episodes(alarm, outbreak, defined)
    n = int(has.sum())
    if n == 0:
        return Estimate(math.nan, math.nan)
    p = float((elapsed[has] < 1.0).mean())
    return Estimate(p, math.sqrt(p * (1.0 - p) / n))


def timeliness(
    alarm: ArrayLike, outbreak: ArrayLike, *, defined: ArrayLike | None = None
) -> Estimate:
    """Mean share of the outbreak duration elapsed before the first alarm (1 if missed).

    Examples
    --------
    >>> timeliness([[False, False, True, False]], [[0, 1, 1, 1]]).value
    0.3333333333333333
    """
    has, elapsed = _episodes(alarm, outbreak, defined)
    values = elapsed[has]
    if values.size == 0:
        return Estimate(math.nan, math.nan)
    se = float(values.std(ddof=1) / math.sqrt(values.size)) if values.size > 1 else math.nan
    return Estimate(float(values.mean()), se)


@dataclass(frozen=True, kw_only=True)
class ScenarioScores:
    """The metrics of one method on one scenario."""

    method: str
    scenario: int
    n_series: int
    n_outbreaks: int
    undefined_fraction: float
    false_positive_rate: Estimate
    probability_of_detection: Estimate
    sensitivity: Estimate
    specificity: Estimate
    positive_predictive_value: Estimate
    timeliness: Estimate

    def to_row(self) -> dict[str, float | int | str]:
        """Flat record: each estimate ``x`` gives columns ``x`` and ``x_se``."""
        row: dict[str, float | int | str] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, Estimate):
                row[field.name], row[f"{field.name}_se"] = value.value, value.se
            else:
                row[field.name] = value
        return row


def score_scenario(
    *,
    method: str,
    scenario: int,
    null_alarm: ArrayLike,
    null_outbreak: ArrayLike,
    alarm: ArrayLike,
    outbreak: ArrayLike,
    null_defined: ArrayLike | None = None,
    defined: ArrayLike | None = None,
) -> ScenarioScores:
    """All metrics of one scenario from the null and outbreak series' alarms.

    Parameters
    ----------
    method : str
        Detector name (copied into the result).
    scenario : int
        Scenario number (copied into the result).
    null_alarm, null_outbreak, null_defined : array_like, shape (n_series, n_monitored)
        Alarms, outbreak cases (past outbreaks reaching the window, usually none) and
        defined flags on the series without a current outbreak: the FPR.
    alarm, outbreak, defined : array_like, shape (n_series, n_monitored)
        The same on the series with the current outbreak: POD, sensitivity, specificity,
        PPV and timeliness.

    Examples
    --------
    >>> s = score_scenario(method="m", scenario=1, null_alarm=[[0, 1]], null_outbreak=[[0, 0]],
    ...                    alarm=[[0, 1]], outbreak=[[0, 4]])
    >>> s.false_positive_rate.value, s.probability_of_detection.value, s.timeliness.value
    (0.5, 1.0, 0.0)
    """
    has, _ = _episodes(alarm, outbreak, defined)
    null_ok = np.ones(np.shape(null_alarm), bool) if null_defined is None else null_defined
    ok = np.ones(np.shape(alarm), bool) if defined is None else defined
    n_weeks = np.size(null_ok) + np.size(ok)
    n_undefined = np.size(null_ok) - np.count_nonzero(null_ok) + np.size(ok) - np.count_nonzero(ok)
    return ScenarioScores(
        method=method,
        scenario=scenario,
        n_series=int(np.shape(alarm)[0]),
        n_outbreaks=int(has.sum()),
        undefined_fraction=float(n_undefined / n_weeks) if n_weeks else math.nan,
        false_positive_rate=false_positive_rate(null_alarm, null_outbreak, defined=null_defined),
        probability_of_detection=probability_of_detection(alarm, outbreak, defined=defined),
        sensitivity=sensitivity(alarm, outbreak, defined=defined),
        specificity=specificity(alarm, outbreak, defined=defined),
        positive_predictive_value=positive_predictive_value(alarm, outbreak, defined=defined),
        timeliness=timeliness(alarm, outbreak, defined=defined),
    )


def _default_detector() -> MatrixDetector:
    from healthtwin.surveillance.detect import detect_matrix

    detector: MatrixDetector = detect_matrix
    return detector


def _default_methods() -> tuple[str, ...]:
    from healthtwin.surveillance.detect import METHODS

    return tuple(METHODS)


@dataclass(frozen=True)
class EvaluationResult:
    """Scores of every method on every scenario, in the order they were run."""

    scores: tuple[ScenarioScores, ...]

    def __iter__(self) -> Iterator[ScenarioScores]:
        return iter(self.scores)

    def to_frame(self) -> pd.DataFrame:
        """A tidy table: one row per (method, scenario), estimates with ``_se`` columns."""
        try:
            import pandas as pd
        except ImportError as err:  # pragma: no cover - pandas is a core dependency here
            raise MissingDependencyError(
                "EvaluationResult.to_frame needs pandas: pip install pandas"
            ) from err
        return pd.DataFrame([s.to_row() for s in self.scores])

    def summary(self) -> dict[str, dict[str, float]]:
        """Per method: each metric averaged over scenarios (NaN scenarios skipped)."""
        out: dict[str, dict[str, float]] = {}
        for method in dict.fromkeys(s.method for s in self.scores):
            rows = [s for s in self.scores if s.method == method]
            out[method] = {
                name: _nanmean([getattr(s, name).value for s in rows]) for name in _METRICS
            }
            out[method]["undefined_fraction"] = _nanmean([s.undefined_fraction for s in rows])
        return out

    def to_markdown(self, *, digits: int = 3) -> str:
        """A markdown summary (per method) and a table per scenario of FPR and POD."""
        summary = self.summary()
        header = ["method", *_METRICS, "undefined_fraction"]
        lines = [_md_row(header), _md_row(["---"] * len(header))]
        for method, values in summary.items():
            lines.append(_md_row([method, *(_fmt(values[h], digits) for h in header[1:])]))
        methods = list(summary)
        scenario_header = ["scenario", *(f"{m} FPR / POD" for m in methods)]
        lines += ["", _md_row(scenario_header), _md_row(["---"] * len(scenario_header))]
        by_key = {(s.method, s.scenario): s for s in self.scores}
        for scenario in dict.fromkeys(s.scenario for s in self.scores):
            cells = []
            for m in methods:
                s = by_key.get((m, scenario))
                cells.append(
                    ""
                    if s is None
                    else f"{_fmt(s.false_positive_rate.value, digits)} / "
                    f"{_fmt(s.probability_of_detection.value, digits)}"
                )
            lines.append(_md_row([str(scenario), *cells]))
        return "\n".join(lines) + "\n"


_METRICS = (
    "false_positive_rate",
    "probability_of_detection",
    "sensitivity",
    "specificity",
    "positive_predictive_value",
    "timeliness",
)


def _nanmean(values: Sequence[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan


def _fmt(value: float, digits: int) -> str:
    return "NA" if math.isnan(value) else f"{value:.{digits}f}"


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def evaluate_detectors(
    simulated: SimulatedSurveillance,
    methods: Sequence[str] | None = None,
    *,
    controls: Mapping[str, Mapping[str, object]] | None = None,
    detector: MatrixDetector | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> EvaluationResult:
    """Run detectors on every scenario's series (null and with outbreak) and score them.

    Parameters
    ----------
    simulated : SimulatedSurveillance
        Output of :func:`~healthtwin.surveillance.simulation.simulate_noufaily`.
    methods : sequence of str, optional
        Method names (default ``detect.METHODS``).
    controls : mapping of str to mapping, optional
        Control options per method (missing methods use the detector's defaults).
    detector : MatrixDetector, optional
        Default ``healthtwin.surveillance.detect.detect_matrix``.
    progress : callable, optional
        Called as ``progress(method, scenario_number)`` before each detector call.

    Returns
    -------
    EvaluationResult

    Examples
    --------
    A toy detector alarming above a fixed count, on a short design:

    >>> from types import SimpleNamespace
    >>> from healthtwin.surveillance.simulation import NOUFAILY_SCENARIOS, simulate_noufaily
    >>> def above(observed, *, method, monitored, dates=None, control=None):
    ...     y = np.asarray(observed)[:, np.asarray(monitored) - 1]
    ...     return SimpleNamespace(alarm=y > 20, defined=np.ones(y.shape, bool))
    >>> design = NoufailyDesign(n_weeks=104, n_current=10, past_window=(20, 80))
    >>> sim = simulate_noufaily(20, 0, scenarios=NOUFAILY_SCENARIOS[36:37], design=design)
    >>> result = evaluate_detectors(sim, ["above"], detector=above)
    >>> result.scores[0].scenario, result.scores[0].n_series
    (37, 20)
    """
    detector = _default_detector() if detector is None else detector
    chosen = _default_methods() if methods is None else tuple(methods)
    controls = {} if controls is None else controls
    design: NoufailyDesign = simulated.design
    monitored = design.monitored
    window = monitored - 1
    scores = []
    for method in chosen:
        for index, scenario in enumerate(simulated.scenarios):
            if progress is not None:
                progress(method, scenario.number)
            null_counts = simulated.null_counts[index]
            stacked = np.concatenate([null_counts, simulated.observed[index]])
            found = detector(
                stacked.astype(float),
                method=method,
                monitored=monitored,
                control=controls.get(method),
            )
            n = null_counts.shape[0]
            alarm, defined = np.asarray(found.alarm), np.asarray(found.defined)
            scores.append(
                score_scenario(
                    method=method,
                    scenario=scenario.number,
                    null_alarm=alarm[:n],
                    null_defined=defined[:n],
                    null_outbreak=simulated.past[index][:, window],
                    alarm=alarm[n:],
                    defined=defined[n:],
                    outbreak=simulated.current[index][:, window] + simulated.past[index][:, window],
                )
            )
    return EvaluationResult(tuple(scores))


def evaluate_closed_loop(
    background: ArrayLike,
    *,
    method: str,
    monitored: ArrayLike,
    rng: np.random.Generator,
    k: float | Sequence[float] = (1.0, 2.0, 3.0, 5.0, 10.0),
    control: Mapping[str, object] | None = None,
    detector: MatrixDetector | None = None,
    scenario: int = 0,
) -> ScenarioScores:
    """Score a detector on outbreaks injected into any weekly count series.

    The background (for example national weekly cases from the population twin, one row
    per replicate or region) is the null series; one outbreak per series, starting in a
    uniformly chosen monitored week with ``k`` drawn from ``k``, is added by
    :func:`~healthtwin.surveillance.simulation.inject_outbreaks`.

    Parameters
    ----------
    background : array_like, shape (n_series, n_weeks)
        Weekly counts without the injected outbreaks.
    method : str
        Detector method name.
    monitored : array_like of int
        1-based monitored weeks (sorted, unique).
    rng : numpy.random.Generator
        Source of randomness for the injected outbreaks.
    k : float or sequence of float
        Outbreak size(s) in baseline standard deviations, drawn uniformly per series.
    control : mapping, optional
        Control options of the method.
    detector : MatrixDetector, optional
        Default ``detect.detect_matrix``.
    scenario : int
        Label copied into the result.

    Returns
    -------
    ScenarioScores
    """
    counts = np.asarray(background, dtype=float)
    weeks = np.asarray(monitored, dtype=np.int64)
    if counts.ndim != 2 or weeks.ndim != 1 or weeks.size == 0:
        raise ShapeError(
            f"background must be (n_series, n_weeks) and monitored 1-D, got {counts.shape} "
            f"and {weeks.shape}"
        )
    if weeks.min() < 1 or weeks.max() > counts.shape[1]:
        raise InvalidParameterError(
            f"monitored weeks must lie in 1..{counts.shape[1]}, got {weeks.min()}..{weeks.max()}"
        )
    detector = _default_detector() if detector is None else detector
    starts = rng.choice(weeks, size=counts.shape[0])
    sizes = rng.choice(np.atleast_1d(np.asarray(k, dtype=float)), size=counts.shape[0])
    observed, outbreak = inject_outbreaks(counts, starts, sizes, rng)
    stacked = np.concatenate([counts, observed.astype(float)])
    found = detector(stacked, method=method, monitored=weeks, control=control)
    alarm, defined = np.asarray(found.alarm), np.asarray(found.defined)
    n = counts.shape[0]
    return score_scenario(
        method=method,
        scenario=scenario,
        null_alarm=alarm[:n],
        null_defined=defined[:n],
        null_outbreak=np.zeros((n, weeks.size)),
        alarm=alarm[n:],
        defined=defined[n:],
        outbreak=outbreak[:, weeks - 1],
    )
