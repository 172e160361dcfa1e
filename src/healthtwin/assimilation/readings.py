"""Shared checks of the readings a Gaussian filter assimilates: shapes, missing, outliers.

An imputed reading (a value estimated to fill a gap, with a predictive variance) is not a
measurement: :func:`reading_noise_sd` widens the sensor's error by the estimate's
variance, so a filter that assimilates it with that error weighs it less than a reading.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from healthtwin.assimilation.observation import GaussianObservation
from healthtwin.core.types import BoolArray, FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError

__all__ = ["reading_noise_sd", "readings_per_twin", "screen_readings"]


def readings_per_twin(
    state: Any, y: FloatArray, obs: Any, members_per_twin: int | None, filter_name: str
) -> tuple[int, int, FloatArray, FloatArray]:
    """Twins, members per twin, readings ``(n_twins, k)`` and noise SD ``(k,)``.

    Raises
    ------
    InvalidParameterError
        When ``obs`` has no Gaussian noise (``noise_sd``).
    ShapeError
        When the members are not whole twins or ``y`` is neither ``(k,)`` nor ``(t, k)``.
    """
    if not isinstance(obs, GaussianObservation):
        raise InvalidParameterError(
            f"the {filter_name} needs an observation model with Gaussian noise (a noise_sd)"
        )
    n = int(state.n_members)
    m = n if members_per_twin is None else members_per_twin
    if n % m:
        raise ShapeError(f"{n} members are not a whole number of twins of {m} members")
    twins = n // m
    sd = np.asarray(obs.noise_sd, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if y.shape not in ((sd.size,), (twins, sd.size)):
        raise ShapeError(f"y must have shape ({sd.size},) or ({twins}, {sd.size}), got {y.shape}")
    return twins, m, np.broadcast_to(y, (twins, sd.size)), sd


def screen_readings(
    y: FloatArray, innovation: FloatArray, innovation_sd: FloatArray, outlier_sigma: float | None
) -> tuple[BoolArray, BoolArray]:
    """Which readings to use and which to refuse as outliers, each ``(n_twins, k)``.

    A missing reading (NaN) is neither used nor flagged; a reading whose normalized
    innovation exceeds ``outlier_sigma`` is flagged and not used.
    """
    observed = np.isfinite(y)
    flagged: BoolArray = np.zeros_like(observed)
    if outlier_sigma is not None:
        with np.errstate(invalid="ignore"):
            flagged = observed & (np.abs(innovation) > outlier_sigma * innovation_sd)
    used: BoolArray = observed & ~flagged
    return used, flagged


def reading_noise_sd(noise_sd: npt.ArrayLike, imputed_variance: npt.ArrayLike) -> FloatArray:
    """Observation-error SD of readings: ``sqrt(noise_sd^2 + imputed_variance)``, broadcast.

    ``imputed_variance`` is 0 for a measured reading (its error is the sensor's) and an
    estimate's predictive variance for an imputed one. A predictive variance that already
    contains sensor noise counts it twice: conservative, so that an estimate never weighs
    as much as a measurement.

    Raises
    ------
    InvalidInputError
        For a noise SD that is not positive or a variance that is negative or not finite.

    Examples
    --------
    >>> reading_noise_sd(8.0, [0.0, 225.0]).tolist()
    [8.0, 17.0]
    """
    sd = np.asarray(noise_sd, dtype=np.float64)
    variance = np.asarray(imputed_variance, dtype=np.float64)
    if not np.all(sd > 0) or not np.all(np.isfinite(variance)) or np.any(variance < 0):
        raise InvalidInputError(
            f"need noise SDs > 0 and finite variances >= 0; got noise_sd={sd.tolist()}, "
            f"imputed_variance min {variance.min() if variance.size else 'n/a'}"
        )
    result: FloatArray = np.sqrt(sd**2 + variance)
    return result
