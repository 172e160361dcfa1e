"""Outbreak detection run from files: one series, the Noufaily evaluation, many countries.

:func:`detect_file` runs one detector (Farrington flexible, Farrington, EARS C1-C3, CUSUM;
:func:`healthtwin.surveillance.detect`) on a weekly series read from CSV and writes its
detection table. :func:`simulate_evaluation_design` and :func:`evaluate_methods` score
detectors on the simulation design of Noufaily et al. (2013): false positive rate,
probability of detection and timeliness over its 42 scenarios.
:func:`monitor_weekly_series` ranks the latest week's alarms of many
``(country, disease, syndrome)`` series with their cross-border evidence
(:class:`healthtwin.surveillance.monitor.CrossBorderMonitor`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from healthtwin.errors import InvalidInputError
from healthtwin.surveillance import detect, read_series_csv
from healthtwin.surveillance.detect import METHODS, detect_matrix
from healthtwin.surveillance.evaluation import EvaluationResult, evaluate_detectors
from healthtwin.surveillance.monitor import (
    CrossBorderMonitor,
    FullDetection,
    MonitorConfig,
    MonitorReport,
    SeriesKey,
)
from healthtwin.surveillance.simulation import SimulatedSurveillance, simulate_noufaily

__all__ = [
    "DETECTORS",
    "EvaluationResult",
    "MonitorReport",
    "SimulatedSurveillance",
    "detect_file",
    "evaluate_methods",
    "monitor_weekly_series",
    "simulate_evaluation_design",
]

#: Every detector method name.
DETECTORS: tuple[str, ...] = METHODS


def detect_file(
    series: Path,
    out: Path,
    *,
    method: str,
    range_t: tuple[int, int],
    control: Mapping[str, object] | None = None,
) -> tuple[int, int]:
    """Run ``method`` on the series of a CSV over weeks ``range_t``; write the table as CSV.

    Parameters
    ----------
    series
        CSV with columns ``t, date, observed`` and optionally ``year, week``.
    out
        The detection table written (one row per monitored week).
    method
        One of :data:`DETECTORS`.
    range_t
        First and last monitored week, in ``t``.
    control
        The method's options (R's ``control`` names); missing ones take the defaults.

    Returns
    -------
    tuple of int
        The weeks monitored and the alarms raised.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> rows = [f"{t},,{5 + (t % 3) + (40 if t == 60 else 0)}" for t in range(1, 61)]
    >>> _ = (folder / "s.csv").write_text("t,date,observed\\n" + "\\n".join(rows) + "\\n")
    >>> detect_file(folder / "s.csv", folder / "alarms.csv", method="ears-c1",
    ...             range_t=(50, 60))
    (11, 1)
    """
    table = detect(read_series_csv(series), method=method, range_t=range_t, control=control)
    table.write_csv(out)
    return int(table.detection.t.size), int(table.detection.alarm.sum())


def simulate_evaluation_design(replicates: int, seed: int) -> SimulatedSurveillance:
    """Simulate ``replicates`` series of each of the Noufaily et al. (2013) scenarios.

    Raises
    ------
    InvalidInputError
        If ``replicates < 1``.

    Examples
    --------
    >>> len(simulate_evaluation_design(1, 0).scenarios)
    42
    """
    if replicates < 1:
        raise InvalidInputError(f"--replicates must be >= 1; got {replicates}")
    return simulate_noufaily(replicates, seed)


def evaluate_methods(
    simulated: SimulatedSurveillance,
    methods: Sequence[str],
    *,
    progress: Callable[[str, int], None] | None = None,
) -> EvaluationResult:
    """Score the detectors ``methods`` on the simulated design.

    Parameters
    ----------
    simulated
        From :func:`simulate_evaluation_design`.
    methods
        Detector names, each one of :data:`DETECTORS`.
    progress
        Called as ``progress(method, scenario_number)`` before each detector call.

    Returns
    -------
    EvaluationResult
        Scores by method and scenario (``to_frame()``, ``to_markdown()``, ``summary()``).

    Raises
    ------
    InvalidInputError
        If a method is unknown or none is given.

    Examples
    --------
    >>> evaluate_methods(simulate_evaluation_design(1, 0), ["warp-drive"])
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidInputError: --methods: unknown ['warp-drive']; ...
    """
    unknown = [m for m in methods if m not in DETECTORS]
    if unknown or not methods:
        raise InvalidInputError(f"--methods: unknown {unknown}; choose from {list(DETECTORS)}")
    return evaluate_detectors(simulated, list(methods), progress=progress)


def monitor_weekly_series(
    series: Mapping[tuple[str, str, str], Sequence[tuple[str, float]]],
    *,
    method: str = "farrington-flexible",
    neighbours: Mapping[str, Sequence[str]] | None = None,
    lookback_weeks: int = 4,
    on_progress: Callable[[int, int], None] | None = None,
) -> MonitorReport:
    """Rank the latest week's alarms over many weekly series, with their evidence.

    Parameters
    ----------
    series
        ``(country, disease, syndrome)`` -> ``(ISO Monday, count)`` pairs in any order
        (``nan``: a missing week).
    method
        Detector method.
    neighbours
        Country -> bordering countries (alarms in neighbours are evidence).
    lookback_weeks
        Latest weeks evaluated per series.
    on_progress
        Called with ``(series evaluated, series)``; the detector then runs one series at
        a time (each series' bounds depend on that series alone, so the report is the same).

    Returns
    -------
    MonitorReport
        The ranked alarms (``to_json()``, ``to_dict()``).

    Examples
    --------
    >>> weeks = [f"2024-{m:02d}-{d:02d}" for m, d in [(1, 1), (1, 8), (1, 15), (1, 22),
    ...          (1, 29), (2, 5), (2, 12), (2, 19), (2, 26), (3, 4), (3, 11), (3, 18)]]
    >>> counts = [5, 6, 5, 7, 6, 5, 6, 5, 6, 5, 6, 60]
    >>> report = monitor_weekly_series({("FR", "flu", "ili"): list(zip(weeks, counts))},
    ...                                method="ears-c2", lookback_weeks=2)
    >>> report.to_dict()["alarms"][0]["country"]
    'FR'
    """
    monitor = CrossBorderMonitor(
        MonitorConfig(
            method=method,
            neighbours={} if neighbours is None else neighbours,
            lookback_weeks=lookback_weeks,
        ),
        detector=None if on_progress is None else _SeriesCounter(on_progress, len(series)),
    )
    for (country, disease, syndrome), points in series.items():
        ordered = sorted(points)
        monitor.add_series(
            SeriesKey(country, disease, syndrome),
            [v for _, v in ordered],
            start=ordered[0][0],
        )
    return monitor.evaluate()


@dataclass(frozen=True)
class _Stacked:
    """Detections of single series stacked into ``(n_series, n_monitored)`` arrays."""

    expected: NDArray[np.float64]
    upperbound: NDArray[np.float64]
    alarm: NDArray[np.bool_]
    defined: NDArray[np.bool_]
    score: NDArray[np.float64]
    reason: NDArray[np.str_]


@dataclass
class _SeriesCounter:
    """The monitor's detector, run one series at a time and counting the series done."""

    on_progress: Callable[[int, int], None]
    total: int
    done: int = 0

    def __call__(
        self,
        observed: ArrayLike,
        *,
        method: str,
        monitored: ArrayLike,
        dates: ArrayLike | None = None,
        control: Mapping[str, object] | None = None,
    ) -> FullDetection:
        rows = np.atleast_2d(np.asarray(observed, dtype=np.float64))
        found: list[Any] = []
        for row in rows:
            found.append(
                detect_matrix(
                    row[None, :], method=method, monitored=monitored, dates=dates,
                    control=control,
                )
            )  # fmt: skip
            self.done += 1
            self.on_progress(self.done, self.total)
        return _Stacked(
            *(np.concatenate([np.asarray(getattr(f, name)) for f in found]) for name in _FIELDS)
        )


_FIELDS = ("expected", "upperbound", "alarm", "defined", "score", "reason")
