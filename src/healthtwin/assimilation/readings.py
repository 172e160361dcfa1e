"""Shared checks of the readings a Gaussian filter assimilates: shapes, missing, outliers."""

from __future__ import annotations

from typing import Any

import numpy as np

from healthtwin.assimilation.observation import GaussianObservation
from healthtwin.core.types import BoolArray, FloatArray
from healthtwin.errors import InvalidParameterError, ShapeError

__all__ = ["readings_per_twin", "screen_readings"]


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
