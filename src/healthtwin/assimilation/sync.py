"""Replay a stream of timestamped observations into a twin and report as it goes.

:func:`synchronise` is what a bedside twin does all day: advance to the next reading,
correct the ensemble, and at each reading report the filtered state (ensemble quantiles),
the parameter estimates with intervals, and forecasts a few horizons ahead.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from healthtwin.core.inputs import Inputs
from healthtwin.core.twin import Twin
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, ShapeError

__all__ = ["ObservationSeries", "SyncReport", "synchronise"]

QUANTILES = (0.05, 0.5, 0.95)


@dataclass(frozen=True)
class ObservationSeries:
    """Timestamped readings: ``times`` (T,) strictly increasing, ``values`` (T, k).

    NaN in ``values`` marks a missing component; it is skipped, not filled.
    """

    times: FloatArray
    values: FloatArray

    def __post_init__(self) -> None:
        times = np.asarray(self.times, dtype=np.float64)
        values = np.asarray(self.values, dtype=np.float64)
        if values.ndim == 1:
            values = values[:, None]
        if times.ndim != 1 or values.shape[0] != times.size or times.size == 0:
            raise ShapeError(
                f"need times (T,) and values (T, k), got {times.shape}, {values.shape}"
            )
        if not np.all(np.isfinite(times)):
            raise InvalidInputError("observation times must be finite")
        order_breaks = np.flatnonzero(np.diff(times) <= 0)
        if order_breaks.size:
            i = int(order_breaks[0])
            raise InvalidInputError(
                f"observation times must be strictly increasing: row {i + 2} (t={times[i + 1]}) "
                f"comes after t={times[i]}; sort the file by time and drop duplicates"
            )
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "values", values)


@dataclass(frozen=True)
class SyncReport:
    """Per observation: filtered output quantiles, parameter quantiles, forecasts.

    Attributes
    ----------
    times
        Observation times, ``(T,)``.
    observed
        The readings, ``(T, k)``, one column per observed output.
    outputs
        Names of the observed outputs.
    filtered
        Quantiles (5, 50, 95 %) and mean of each observed output after each update,
        ``(T, k, 4)``: p5, p50, p95, mean.
    parameters
        Per estimated parameter, its quantiles and mean after each update, ``(T, p, 4)``.
    parameter_names
        Names of the estimated parameters.
    forecasts
        Per horizon and output, quantiles and mean that far ahead, ``(T, h, k, 4)``.
    horizons
        Forecast horizons in the model's time unit.
    used
        Whether each reading was assimilated: every present component used (missing
        components do not count; False when a component was refused as an outlier or
        nothing was present).
    """

    times: FloatArray
    observed: FloatArray
    outputs: tuple[str, ...]
    filtered: FloatArray
    parameters: FloatArray
    parameter_names: tuple[str, ...]
    forecasts: FloatArray
    horizons: tuple[float, ...]
    used: FloatArray

    def header(self, time_unit: str) -> list[str]:
        """CSV column names (see :meth:`write_csv`)."""
        stats = ("p5", "p50", "p95", "mean")
        header = [f"t_{time_unit}", *(f"observed_{o}" for o in self.outputs), "assimilated"]
        header += [f"{o}_{q}" for o in self.outputs for q in stats]
        header += [f"{n}_{q}" for n in self.parameter_names for q in stats]
        header += [
            f"forecast_{h:g}_{o}_{q}" for h in self.horizons for o in self.outputs for q in stats
        ]
        return header

    def write_csv(self, path: Path, time_unit: str) -> None:
        """One row per observation: time, readings, filtered quantiles, parameters, forecasts."""
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(self.header(time_unit))
            for i, t in enumerate(self.times):
                row = [t, *self.observed[i], int(self.used[i])]
                row += list(self.filtered[i].ravel())
                row += list(self.parameters[i].ravel())
                row += list(self.forecasts[i].ravel())
                writer.writerow(
                    [f"{v:.8g}" if isinstance(v, float | np.floating) else v for v in row]
                )


def _summary(values: FloatArray) -> FloatArray:
    """p5, p50, p95 and mean over the members (axis 0), stacked last."""
    q = np.quantile(values, QUANTILES, axis=0)
    return np.moveaxis(np.concatenate([q, values.mean(axis=0)[None]], axis=0), 0, -1)


def synchronise(
    twin: Twin[Any],
    series: ObservationSeries,
    obs: Any,
    *,
    inputs: Inputs | None = None,
    parameter_columns: Sequence[int] = (),
    parameter_names: Sequence[str] = (),
    horizons: Sequence[float] = (30.0, 60.0, 120.0),
    forecast_every: int = 1,
) -> SyncReport:
    """Assimilate every reading of ``series`` in time order and report after each.

    Parameters
    ----------
    twin
        The twin (with an assimilator); it moves to the last reading's time.
    series
        The readings, one column per output of ``obs``; the first must not precede the
        twin's time.
    obs
        Observation model of the readings (``outputs`` names what each column is).
    inputs
        Inputs actually delivered (meals, insulin, doses) over the whole stream.
    parameter_columns, parameter_names
        Columns of ``state.theta`` to report and their names.
    horizons
        Forecast horizons after each reading (model time unit).
    forecast_every
        Forecast after every n-th reading (forecasts cost one run per horizon set).
    """
    if series.times[0] < twin.t:
        raise InvalidInputError(
            f"the first reading (t={series.times[0]}) precedes the twin's time t={twin.t}"
        )
    outputs = tuple(getattr(obs, "outputs", ()))
    if series.values.shape[1] != len(outputs):
        raise ShapeError(
            f"the readings have {series.values.shape[1]} column(s); the observation model "
            f"reads {len(outputs)} ({', '.join(outputs)})"
        )
    if forecast_every < 1:
        raise InvalidInputError(f"forecast_every must be >= 1, got {forecast_every}")
    n_t, n_h, k = series.times.size, len(horizons), len(outputs)
    filtered = np.empty((n_t, k, 4))
    params = np.empty((n_t, len(parameter_columns), 4))
    forecasts = np.full((n_t, n_h, k, 4), np.nan)
    used = np.zeros(n_t)
    horizon_max = max(horizons) if horizons else 0.0
    for i, (t, y) in enumerate(zip(series.times, series.values, strict=True)):
        twin.assimilate(float(t), y, obs, inputs)
        report = twin.history[-1].report
        present = np.isfinite(y)
        if report is not None and np.any(present):
            used[i] = float(np.all(np.asarray(report.used).reshape(-1)[present]))
        filtered[i] = _summary(np.asarray(obs.predict(twin.state)))
        theta = np.asarray(twin.state.theta)
        if parameter_columns:
            params[i] = _summary(theta[:, list(parameter_columns)])
        if n_h and i % forecast_every == 0:
            fc = twin.forecast(horizon_max, inputs, dt_out=min(horizons))
            for h, horizon in enumerate(horizons):
                step = int(np.argmin(np.abs(fc.t - (twin.t + horizon))))
                members = np.stack([fc.channel(o)[:, step] for o in outputs], axis=1)
                forecasts[i, h] = _summary(members)
    return SyncReport(
        series.times,
        series.values,
        outputs,
        filtered,
        params,
        tuple(parameter_names),
        forecasts,
        tuple(float(h) for h in horizons),
        used,
    )
