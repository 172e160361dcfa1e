"""Twin-based filling of CGM gaps, with the uncertainty of every filled value.

:func:`fill_cgm_gaps` runs an ensemble of UVA/Padova twins per patient through the
record's meals and insulin and assimilates the available readings with the assimilation
package's fixed-lag ensemble Kalman smoother
(:class:`~healthtwin.assimilation.smoother.EnsembleKalmanSmoother`; Evensen & van
Leeuwen, MWR 128:1852, 2000): each update also corrects the members' sensor glucose over
the last ``lag_readings`` samples, so a gap is filled from readings on both sides. Each
patient is one group of members with its own gain. The filled values are the smoothed
ensemble mean; the band is predictive for a sensor reading (members plus Breton &
Kovatchev sensor noise).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from healthtwin.assimilation.observation import OutputObservation
from healthtwin.assimilation.smoother import EnsembleKalmanSmoother
from healthtwin.assimilation.view import StateView, view_for
from healthtwin.core.inputs import Events, Inputs, Rate
from healthtwin.core.types import BoolArray, FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.physiology.cgm import CGMParams, CGMSensor
from healthtwin.physiology.uva_padova import UvaPadova, UvaPadovaPatient

__all__ = ["CgmGapFill", "fill_cgm_gaps"]

_SENSOR_COLUMN = 12  # subcutaneous glucose (mg/kg) in the UVA/Padova state
_SMOOTHED_STATES = ("plasma_glucose_mg_per_kg", "tissue_glucose_mg_per_kg", "sc_glucose_mg_per_kg")


@dataclass(frozen=True)
class CgmGapFill:
    """CGM series with gaps filled by the twin, every array ``(n_twins, T)``.

    Attributes
    ----------
    filled_mg_dl
        Readings where present, the smoothed twin estimate where missing.
    imputed
        Which entries were filled.
    mean_mg_dl, variance_mg_dl2
        Smoothed ensemble mean of sensor glucose and predictive variance of a reading.
    lower_mg_dl, upper_mg_dl
        Predictive band of a reading at ``level``.
    level
        Nominal coverage of the band.
    """

    filled_mg_dl: FloatArray
    imputed: BoolArray
    mean_mg_dl: FloatArray
    variance_mg_dl2: FloatArray
    lower_mg_dl: FloatArray
    upper_mg_dl: FloatArray
    level: float


def _repeat_inputs(inputs: Inputs, m: int) -> Inputs:
    """Per-twin input rows repeated for each twin's ``m`` members (shared rows kept)."""

    def rows(values: FloatArray) -> FloatArray:
        return values if values.shape[0] == 1 else np.repeat(values, m, axis=0)

    return Inputs(
        rates={k: Rate(r.times, rows(r.values)) for k, r in inputs.rates.items()},
        events={k: Events(e.times, rows(e.amounts)) for k, e in inputs.events.items()},
    )


def fill_cgm_gaps(
    t_min: npt.ArrayLike,
    readings_mg_dl: npt.ArrayLike,
    inputs: Inputs,
    members: Sequence[UvaPadovaPatient],
    *,
    sensor: CGMParams,
    rng: np.random.Generator,
    level: float = 0.9,
    lag_readings: int = 48,
    assimilate_every: int = 3,
    noise_inflation: float = 1.5,
    noise_draws: int = 8,
) -> CgmGapFill:
    """Fill NaN readings of each twin's CGM series with an ensemble Kalman smoother.

    Parameters
    ----------
    t_min
        Reading times in minutes from the start, on the sensor grid, shape ``(T,)``.
    readings_mg_dl
        Readings with NaN where missing, shape ``(n_twins, T)``.
    inputs
        Meals and insulin of the record (rows per twin, or one shared row), from t = 0.
    members
        The ensemble: ``n_twins * m`` virtual patients, twin by twin (e.g. draws of a
        :class:`~healthtwin.synthetic.virtual_population.VirtualPopulation`).
    sensor
        The CGM's error model (its noise SD sets the observation error).
    rng
        Source of perturbed observations and of the sensor noise of the band.
    level
        Nominal coverage of the predictive band.
    lag_readings
        Smoother lag: an update corrects the last ``lag_readings`` samples (make it longer
        than the longest gap plus a few readings).
    assimilate_every
        Assimilate one reading in this many (consecutive CGM errors are correlated:
        0.89 at 5 min, 0.7 at 15 min).
    noise_inflation
        Factor on the sensor noise SD used as observation error (for the correlation the
        filter ignores).
    noise_draws
        Sensor-noise draws per member for the predictive band.

    Returns
    -------
    CgmGapFill
        The filled series, flags, smoothed mean, predictive variance and band.

    Raises
    ------
    InvalidInputError
        For mismatched shapes or a member count that is not a whole number per twin.
    InvalidParameterError
        For fewer than 2 members per twin, a level outside (0, 1), or a lag, step,
        inflation or draw count below its minimum.

    Examples
    --------
    Two hours of one steady patient with a 30-minute gap, 8 members:

    >>> from healthtwin.physiology.cgm import cgm_params
    >>> from healthtwin.synthetic.virtual_population import VirtualPopulation
    >>> rng = np.random.default_rng(0)
    >>> members = VirtualPopulation().sample(np.full(8, 75.0), rng)
    >>> basal = Rate.constant([members[0].basal_u_per_min], 0.0)
    >>> t = np.arange(0.0, 120.0, 5.0)
    >>> y = np.full((1, t.size), 130.0)
    >>> y[0, 10:16] = np.nan
    >>> fill = fill_cgm_gaps(t, y, Inputs(rates={"insulin_u_per_min": basal}), members,
    ...                      sensor=cgm_params("guardian-rt"), rng=rng)
    >>> int(fill.imputed.sum()), bool(np.isfinite(fill.filled_mg_dl).all())
    (6, True)
    >>> bool((fill.lower_mg_dl[0, 12] < fill.filled_mg_dl[0, 12] < fill.upper_mg_dl[0, 12]))
    True
    """
    t, y, m = _checked(t_min, readings_mg_dl, len(members), level)
    _check_settings(assimilate_every, noise_inflation, noise_draws)
    n_twins, n_t = y.shape
    model = UvaPadova(list(members))
    state = model.initial_state(len(members), rng)
    view = view_for(model, states=list(_SMOOTHED_STATES))
    sd = CGMSensor(sensor).params.noise_sd_mg_dl * noise_inflation
    obs = OutputObservation(model, ["glucose_mg_dl"], [sd])
    smoother = EnsembleKalmanSmoother(view, lag_steps=lag_readings, members_per_group=m)
    shared = _repeat_inputs(inputs, m)
    vg = state.theta[:, UvaPadova.parameter_index("Vg")]
    history = np.full((len(members), n_t), np.nan)
    if t[0] > 0:
        state = model.advance(state, 0.0, float(t[0]), shared, rng)
    for j in range(n_t):
        if j > 0:
            state = model.advance(state, float(t[j - 1]), float(t[j]), shared, rng)
        history[:, j] = obs.predict(state)[:, 0]
        if j % assimilate_every == 0:
            lo = max(0, j - lag_readings)
            step = smoother.update(state, y[:, j, None], obs, history[:, lo : j + 1, None], rng)
            history[:, lo : j + 1] = step.lagged[:, :, 0]
            state = _physical(step.state, view, history[:, j], vg)
    return _band(y, history.reshape(n_twins, m, n_t), sensor, rng, level, noise_draws)


def _checked(
    t_min: npt.ArrayLike, readings_mg_dl: npt.ArrayLike, n_members: int, level: float
) -> tuple[FloatArray, FloatArray, int]:
    """Times ``(T,)``, readings ``(n_twins, T)`` and members per twin, checked."""
    t = np.asarray(t_min, dtype=np.float64).reshape(-1)
    y = np.atleast_2d(np.asarray(readings_mg_dl, dtype=np.float64))
    n_twins, n_t = y.shape
    if t.size != n_t or n_t < 2 or np.any(np.diff(t) <= 0):
        raise InvalidInputError(f"t_min must be {n_t} increasing times, got {t.size}")
    if not n_members or n_members % n_twins:
        raise InvalidInputError(
            f"{n_members} members are not a whole number per twin ({n_twins} twins)"
        )
    m = n_members // n_twins
    if m < 2 or not 0.0 < level < 1.0:
        raise InvalidParameterError("need >= 2 members per twin and a level in (0, 1)")
    return t, y, m


def _check_settings(assimilate_every: int, noise_inflation: float, noise_draws: int) -> None:
    if assimilate_every < 1 or noise_draws < 1 or not noise_inflation > 0:
        raise InvalidParameterError(
            "need assimilate_every >= 1, noise_inflation > 0 and noise_draws >= 1, got "
            f"{assimilate_every}, {noise_inflation} and {noise_draws}"
        )


def _physical(state: Any, view: StateView, sensor_mg_dl: FloatArray, vg: FloatArray) -> Any:
    """Glucose masses kept positive and the sensor state equal to the smoothed reading."""
    x = np.array(state.x)
    columns = list(view.state_columns)
    x[:, columns] = np.maximum(x[:, columns], 1e-3)
    x[:, _SENSOR_COLUMN] = np.maximum(sensor_mg_dl, 1.0) * vg
    return dataclasses.replace(state, x=x)


def _band(
    y: FloatArray,
    history: FloatArray,
    sensor: CGMParams,
    rng: np.random.Generator,
    level: float,
    draws: int,
) -> CgmGapFill:
    n_twins, m, n_t = history.shape
    latent = np.clip(history, sensor.min_mg_dl, sensor.max_mg_dl)
    cgm = CGMSensor(sensor)
    samples = cgm.measure(np.repeat(latent.reshape(-1, n_t), draws, axis=0), rng)
    samples = samples.reshape(n_twins, m * draws, n_t)
    tail = 50.0 * (1.0 - level)
    lower, upper = np.percentile(samples, [tail, 100.0 - tail], axis=1)
    mean = latent.mean(axis=1)
    imputed = ~np.isfinite(y)
    return CgmGapFill(
        filled_mg_dl=np.where(imputed, mean, y),
        imputed=imputed,
        mean_mg_dl=mean,
        variance_mg_dl2=samples.var(axis=1, ddof=1),
        lower_mg_dl=lower,
        upper_mg_dl=upper,
        level=level,
    )
