"""Hypoglycaemia safety: suspend insulin when the forecast says glucose will go low."""

from __future__ import annotations

import numpy as np

from healthtwin.core.types import BoolArray, FloatArray

__all__ = ["predicted_low"]


def predicted_low(
    forecast_mg_dl: FloatArray,
    dt_out_min: float,
    *,
    threshold_mg_dl: float = 70.0,
    within_min: float = 30.0,
    quantile: float = 0.1,
) -> BoolArray:
    """Whether each patient's lower forecast band falls below ``threshold`` soon.

    Parameters
    ----------
    forecast_mg_dl
        Member forecasts per patient, ``(n, m, s)`` at ``dt_out_min`` spacing from now.
    within_min
        How far ahead to look.
    quantile
        The band's lower quantile over members (0.1: a 1-in-10 member is enough).

    Examples
    --------
    >>> falling = np.array([[[100.0, 80.0, 60.0]] * 10, [[120.0, 118.0, 116.0]] * 10])
    >>> predicted_low(falling, 10.0).tolist()
    [True, False]
    """
    steps = max(1, int(np.floor(within_min / dt_out_min + 1e-9)))
    soon = np.asarray(forecast_mg_dl)[:, :, :steps]
    low = np.quantile(soon.min(axis=2), quantile, axis=1)
    return np.asarray(low < threshold_mg_dl)
