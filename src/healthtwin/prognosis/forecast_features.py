"""Forecasting features from recent traces: the last reading, its slopes, what is on board.

Learned forecasters (:mod:`~healthtwin.prognosis.hybrid`) take plain feature arrays; these
helpers build the usual ones for a signal sampled on a regular grid:

- :func:`history_features`: the last reading and its slopes over several lags;
- :func:`on_board`: an exponentially decaying running sum of doses,
  ``b[k] = a[k] + exp(-dt / tau) b[k - 1]``, a proxy of insulin or carbohydrate still
  acting (a one-compartment version of the insulin-on-board curves of pump calculators).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy.signal import lfilter

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidParameterError, ShapeError

__all__ = ["history_features", "on_board"]


def history_features(
    history_mg_dl: npt.ArrayLike, step_min: float, lags: Sequence[int] = (1, 3, 6)
) -> FloatArray:
    """Last reading and its slopes over several lags, from the recent history.

    Parameters
    ----------
    history_mg_dl
        The most recent readings, oldest first, shape ``(n, k)`` with ``k > max(lags)``.
    step_min
        Time between readings, minutes.
    lags
        Slopes are ``(last - reading lag steps earlier) / (lag * step_min)``.

    Returns
    -------
    FloatArray
        ``(n, 1 + len(lags))``: the last reading (mg/dL), then each slope (mg/dL/min).

    Examples
    --------
    >>> history_features([[100.0, 105.0, 110.0, 120.0]], 5.0, lags=(1, 3))
    array([[120.        ,   2.        ,   1.33333333]])
    """
    history = np.asarray(history_mg_dl, dtype=np.float64)
    if history.ndim != 2 or not lags or min(lags) < 1 or history.shape[1] <= max(lags):
        raise ShapeError(
            f"history must be (n, k) with k > max(lags) = {max(lags, default=0)} and lags "
            f">= 1, got shape {history.shape} and lags {tuple(lags)}; pass a longer history"
        )
    if step_min <= 0:
        raise InvalidParameterError(f"step_min must be > 0 minutes, got {step_min}")
    last = history[:, -1]
    slopes = [(last - history[:, -1 - lag]) / (lag * step_min) for lag in lags]
    return np.column_stack([last, *slopes])


def on_board(amounts: npt.ArrayLike, step_min: float, time_constant_min: float) -> FloatArray:
    """Exponentially decaying running sum of doses: a proxy of what is still on board.

    ``b[k] = a[k] + exp(-step / tau) b[k - 1]`` along the last axis, so a dose counts fully
    when given and decays with time constant ``tau`` (insulin or carbohydrate on board).

    Parameters
    ----------
    amounts
        Doses given at each step, shape ``(n, T)`` (U, g...).
    step_min, time_constant_min
        Grid step and decay time constant, minutes (both > 0).

    Returns
    -------
    FloatArray
        ``(n, T)``, in the unit of ``amounts``.

    Examples
    --------
    >>> on_board([[1.0, 0.0, 0.0]], 10.0, 10.0 / np.log(2.0)).round(3)
    array([[1.  , 0.5 , 0.25]])
    """
    a = np.asarray(amounts, dtype=np.float64)
    if step_min <= 0 or time_constant_min <= 0:
        raise InvalidParameterError(
            f"step and time constant must be > 0 min, got {step_min} and {time_constant_min}"
        )
    decay = np.exp(-step_min / time_constant_min)
    return np.asarray(lfilter([1.0], [1.0, -decay], a, axis=-1), dtype=np.float64)
