"""Replay a stream of timestamped observations into a twin and report as it goes.

:func:`synchronise` is what a bedside twin does all day: advance to the next reading,
correct the ensemble, and at each reading report the filtered state (ensemble quantiles),
the parameter estimates with intervals, and forecasts a few horizons ahead.

A reading may carry its own observation error (``ObservationSeries.noise_sd``): an imputed
value, for one, is assimilated with the sensor's error widened by the estimate's variance
(:func:`~healthtwin.assimilation.readings.reading_noise_sd`), so it weighs less than a
measurement. Without it every reading takes the observation model's ``noise_sd``.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from healthtwin.core.inputs import Inputs
from healthtwin.core.twin import Twin
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError

__all__ = ["ObservationSeries", "SyncReport", "synchronise"]

QUANTILES = (0.05, 0.5, 0.95)


@dataclass(frozen=True)
class ObservationSeries:
    """Timestamped readings: ``times`` (T,) strictly increasing, ``values`` (T, k).

    NaN in ``values`` marks a missing component; it is skipped, not filled.

    Attributes
    ----------
    times
        Reading times, ``(T,)``, in the model's time unit.
    values
        Readings, ``(T, k)`` (a ``(T,)`` array is one column).
    noise_sd
        Observation-error SD of each reading, ``(T, k)`` like ``values``, in the output's
        unit; NaN (or ``None`` for all) takes the observation model's own ``noise_sd``.

    Examples
    --------
    >>> series = ObservationSeries(np.array([0.0, 5.0]), np.array([120.0, 130.0]),
    ...                            noise_sd=np.array([np.nan, 17.0]))
    >>> series.values.shape, series.noise_sd.tolist()
    ((2, 1), [[nan], [17.0]])
    >>> series.part(1, 2).noise_sd.tolist()
    [[17.0]]
    """

    times: FloatArray
    values: FloatArray
    noise_sd: FloatArray | None = None

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
        if self.noise_sd is not None:
            sd = np.asarray(self.noise_sd, dtype=np.float64)
            if sd.ndim == 1:
                sd = sd[:, None]
            if sd.shape != values.shape:
                raise ShapeError(
                    f"noise_sd must have the shape of values {values.shape} (one SD per "
                    f"reading), got {sd.shape}"
                )
            given = sd[~np.isnan(sd)]
            if np.any(~np.isfinite(given)) or np.any(given <= 0):
                raise InvalidInputError(
                    f"a reading's noise SD must be > 0 and finite (NaN: the observation "
                    f"model's own), got {given[~np.isfinite(given) | (given <= 0)][:3].tolist()}"
                )
            object.__setattr__(self, "noise_sd", sd)

    def part(self, start: int, stop: int) -> ObservationSeries:
        """Readings ``start:stop``, each with its own noise SD."""
        sd = None if self.noise_sd is None else self.noise_sd[start:stop]
        return ObservationSeries(self.times[start:stop], self.values[start:stop], sd)


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
    noise_sd
        The observation-error SD each reading was assimilated with, ``(T, k)``, when the
        series gave per-reading SDs; ``None`` when every reading took the model's own.
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
    noise_sd: FloatArray | None = None

    def header(self, time_unit: str, extra: Sequence[str] = ()) -> list[str]:
        """CSV column names (see :meth:`write_csv`)."""
        stats = ("p5", "p50", "p95", "mean")
        header = [f"t_{time_unit}", *(f"observed_{o}" for o in self.outputs), "assimilated"]
        header += [f"{o}_{q}" for o in self.outputs for q in stats]
        header += [f"{n}_{q}" for n in self.parameter_names for q in stats]
        header += [
            f"forecast_{h:g}_{o}_{q}" for h in self.horizons for o in self.outputs for q in stats
        ]
        if self.noise_sd is not None:
            header += [f"noise_sd_{o}" for o in self.outputs]
        return header + list(extra)

    def write_csv(
        self, path: Path, time_unit: str, extra: Mapping[str, npt.ArrayLike] | None = None
    ) -> None:
        """One row per observation: time, readings, filtered quantiles, parameters, forecasts.

        Per-reading noise SDs (``noise_sd_<output>``) follow when the series gave them,
        then the ``extra`` columns (name -> ``(T,)`` values), in order.
        """
        added = {k: np.asarray(v).reshape(-1) for k, v in (extra or {}).items()}
        wrong = {k: v.size for k, v in added.items() if v.size != self.times.size}
        if wrong:
            raise ShapeError(f"extra columns need {self.times.size} values each, got {wrong}")
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(self.header(time_unit, tuple(added)))
            for i, t in enumerate(self.times):
                row = [t, *self.observed[i], int(self.used[i])]
                row += list(self.filtered[i].ravel())
                row += list(self.parameters[i].ravel())
                row += list(self.forecasts[i].ravel())
                if self.noise_sd is not None:
                    row += list(self.noise_sd[i])
                row += [v[i].item() for v in added.values()]
                writer.writerow(
                    [f"{v:.8g}" if isinstance(v, float | np.floating) else v for v in row]
                )


def _summary(values: FloatArray) -> FloatArray:
    """p5, p50, p95 and mean over the members (axis 0), stacked last."""
    q = np.quantile(values, QUANTILES, axis=0)
    return np.moveaxis(np.concatenate([q, values.mean(axis=0)[None]], axis=0), 0, -1)


class _ReadingObservation:
    """``obs`` with one reading's own Gaussian noise SD (everything else delegated)."""

    def __init__(self, obs: Any, noise_sd: FloatArray) -> None:
        self._obs = obs
        self.noise_sd = noise_sd
        self.outputs = tuple(getattr(obs, "outputs", ()))

    def predict(self, state: Any) -> FloatArray:
        return np.asarray(self._obs.predict(state), dtype=np.float64)

    def log_likelihood(self, state: Any, y: FloatArray) -> FloatArray:
        """Gaussian log density of the present components of ``y`` per member, ``(n,)``."""
        y = np.asarray(y, dtype=np.float64)
        present = np.isfinite(y)
        z = (y[present] - self.predict(state)[:, present]) / self.noise_sd[present]
        norm = np.sum(np.log(self.noise_sd[present] * np.sqrt(2 * np.pi)))
        return np.asarray(-0.5 * np.sum(z * z, axis=1) - norm)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # copy/pickle probe before __init__ ran: no recursion
            raise AttributeError(name)
        return getattr(self._obs, name)


def _noise_per_reading(series: ObservationSeries, obs: Any) -> FloatArray | None:
    """Each reading's noise SD ``(T, k)``, NaN filled with the model's; None if not given."""
    if series.noise_sd is None:
        return None
    own = getattr(obs, "noise_sd", None)
    if own is None:
        raise InvalidParameterError(
            "per-reading noise SDs need an observation model with Gaussian noise (a noise_sd); "
            f"{type(obs).__name__} has none: drop the series' noise_sd or use such a model"
        )
    base = np.broadcast_to(np.asarray(own, dtype=np.float64), series.noise_sd.shape)
    return np.where(np.isnan(series.noise_sd), base, series.noise_sd)


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
        twin's time. A reading with its own ``noise_sd`` is assimilated with that error
        (the same model otherwise); without, ``obs`` is used as it is.
    obs
        Observation model of the readings (``outputs`` names what each column is; a
        ``noise_sd`` is needed when the series gives per-reading SDs).
    inputs
        Inputs actually delivered (meals, insulin, doses) over the whole stream.
    parameter_columns, parameter_names
        Columns of ``state.theta`` to report and their names.
    horizons
        Forecast horizons after each reading (model time unit).
    forecast_every
        Forecast after every n-th reading (forecasts cost one run per horizon set).

    Raises
    ------
    InvalidInputError
        For a first reading before the twin's time or ``forecast_every < 1``.
    InvalidParameterError
        For per-reading noise SDs with an observation model without a ``noise_sd``.
    ShapeError
        When the readings' columns do not match ``obs.outputs``.

    Examples
    --------
    A reading with a huge error leaves the ensemble where it was:

    >>> from dataclasses import dataclass
    >>> from healthtwin.assimilation import EnsembleKalmanFilter, StateView
    >>> from healthtwin.core import ArrayState, Twin
    >>> @dataclass(frozen=True)
    ... class Members(ArrayState):
    ...     x: np.ndarray
    ...     theta: np.ndarray
    >>> class Still:
    ...     def advance(self, state, t0, t1, inputs, rng): return state
    >>> class Reading:
    ...     outputs, noise_sd = ("x",), np.array([1.0])
    ...     def predict(self, state): return state.x
    ...     def log_likelihood(self, state, y): return -0.5 * (y - state.x[:, 0]) ** 2
    >>> def twin():
    ...     members = Members(np.linspace(-1, 1, 8)[:, None], np.ones((8, 1)))
    ...     return Twin(Still(), members, 0.0, seed=0,
    ...                 assimilator=EnsembleKalmanFilter(StateView((0,)), outlier_sigma=None))
    >>> times, values = np.array([1.0]), np.array([3.0])
    >>> sharp = synchronise(twin(), ObservationSeries(times, values), Reading(), horizons=())
    >>> vague = synchronise(twin(), ObservationSeries(times, values, noise_sd=np.array([1e3])),
    ...                     Reading(), horizons=())
    >>> round(float(sharp.filtered[0, 0, 3]), 2), abs(float(vague.filtered[0, 0, 3])) < 1e-5
    (0.99, True)
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
    noise = _noise_per_reading(series, obs)
    # Readings without an SD of their own go through ``obs`` itself, exactly as before.
    own_noise = np.all(np.isnan(series.noise_sd), axis=1) if series.noise_sd is not None else []
    for i, (t, y) in enumerate(zip(series.times, series.values, strict=True)):
        reading_obs = obs if noise is None or own_noise[i] else _ReadingObservation(obs, noise[i])
        twin.assimilate(float(t), y, reading_obs, inputs)
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
        noise,
    )
