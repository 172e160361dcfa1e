"""EARS C1, C2 and C3 (Hutwagner et al. 2003; Fricker, Hegler & Dunfee 2008).

For a week ``t`` and a baseline of ``B`` weeks (default 7) ending ``lag`` weeks before it
(``lag`` 0 for C1, 2 for C2 and C3), with baseline mean ``Ybar(t)`` and standard deviation
``S(t)`` (``n - 1`` denominator, raised to ``min_sigma`` when smaller)::

    C(t) = (Y(t) - Ybar(t)) / S(t)            C1, C2: alarm when C(t) > z,  U = Ybar + z S
    C3(t) = sum_{i=t-2}^{t} max(0, C2(i) - 1) C3: alarm when C3(t) >= z (Fricker et al.)

with ``z`` the ``1 - alpha`` standard normal quantile. C3 is the paper's statistic, and its
upper bound is the smallest count at ``t`` that raises it to ``z``:
``U3 = Ybar(t) + S(t) (1 + z - sum_{i=t-2}^{t-1} max(0, C2(i) - 1))``.

R compatibility (``r_compat=True``, the default because it is what the CDC software and R
users see; found by experiment on R ``surveillance`` 1.20.3's outputs, see
``tests/validation/test_surveillance_vs_r.py``):

* R's C3 bound is ``U3 = Y(t) + S(t) (z - sum_{i=t-2}^{t-1} max(0, C2(i) - 1))``: it starts
  from the observed count, not from ``Ybar(t)``, and leaves out the current week's term, so
  the alarm ``Y(t) > U3`` holds exactly when ``C2(t-1)`` and ``C2(t-2)`` alone exceed the
  threshold; the current week never matters. The bound is floored at 0.
  ``r_compat=False`` gives the paper's C3.
* Where a previous C2 is undefined (zero variance: ``0/0``) R gives no bound; so do we.

The default alpha is 0.001 for C1 and C2 and 0.025 for C3, as in R and at the CDC.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from healthtwin.core.types import FloatArray, IntArray
from healthtwin.surveillance.controls import EarsControl
from healthtwin.surveillance.result import NOT_ENOUGH_HISTORY, Detection, empty_detection

__all__ = ["ears", "first_monitorable_week"]

_LAG = {"C1": 0, "C2": 2, "C3": 2}
_EXTRA = {"C1": 0, "C2": 0, "C3": 2}
_DEFAULT_ALPHA = {"C1": 0.001, "C2": 0.001, "C3": 0.025}


def first_monitorable_week(variant: str, baseline: int) -> int:
    """The first 1-based week with a full baseline.

    Examples
    --------
    >>> [first_monitorable_week(v, 7) for v in ("C1", "C2", "C3")]
    [8, 10, 12]
    """
    return baseline + _LAG[variant] + _EXTRA[variant] + 1


def ears(
    observed: FloatArray, monitored: IntArray, *, variant: str, control: EarsControl
) -> Detection:
    """Run EARS C1, C2 or C3 on many series at once.

    Parameters
    ----------
    observed : ndarray of float64, shape (n_series, n_weeks)
        Counts, ``NaN`` where missing.
    monitored : ndarray of int64, shape (n_monitored,)
        1-based weeks to monitor.
    variant : {"C1", "C2", "C3"}
    control : EarsControl

    Returns
    -------
    Detection
        ``expected`` is the baseline mean, ``score`` is C1/C2 or C3.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([[1.0, 2, 3, 2, 1, 2, 3, 9]])
    >>> d = ears(y, np.array([8]), variant="C1", control=EarsControl())
    >>> round(float(d.upperbound[0, 0]), 4), bool(d.alarm[0, 0])
    (4.5232, True)
    """
    method = f"ears-{variant.lower()}"
    out = empty_detection(method, monitored, observed.shape[0])
    alpha = _DEFAULT_ALPHA[variant] if control.alpha is None else control.alpha
    z = float(stats.norm.ppf(1.0 - alpha))
    t0 = monitored - 1
    enough = monitored >= first_monitorable_week(variant, control.baseline)
    out.reason[:, ~enough] = NOT_ENOUGH_HISTORY
    if not enough.any():
        return out
    cols = t0[enough]
    mean, sd = _baseline_stats(observed, cols, _LAG[variant], control)
    y = observed[:, cols]
    with np.errstate(divide="ignore", invalid="ignore"):
        c_now = (y - mean) / sd
        if variant == "C3":
            previous = np.zeros_like(y)
            for back in (1, 2):
                m_b, s_b = _baseline_stats(observed, cols - back, 2, control)
                c_b = (observed[:, cols - back] - m_b) / s_b
                previous = previous + np.maximum(0.0, c_b - 1.0)
            if control.r_compat:
                upper = np.maximum(0.0, y + sd * (z - previous))
            else:
                upper = mean + sd * (1.0 + z - previous)
            score = previous + np.maximum(0.0, c_now - 1.0)
            alarm = y > upper if control.r_compat else score >= z
        else:
            upper = mean + z * sd
            score = c_now
            alarm = y > upper
    defined = np.isfinite(upper)
    _store(out, enough, mean, upper, score, alarm, defined)
    return out


def _baseline_stats(
    observed: FloatArray, cols: IntArray, lag: int, control: EarsControl
) -> tuple[FloatArray, FloatArray]:
    """Mean and sd of the ``baseline`` weeks ending ``lag`` weeks before each column."""
    offsets = np.arange(-control.baseline, 0) - lag
    window = observed[:, cols[:, None] + offsets[None, :]]  # (n_series, n_cols, baseline)
    mean = window.mean(axis=2)
    sd = np.sqrt(((window - mean[..., None]) ** 2).sum(axis=2) / (control.baseline - 1))
    return mean, np.maximum(sd, control.min_sigma)


def _store(
    out: Detection,
    columns: np.ndarray,
    mean: FloatArray,
    upper: FloatArray,
    score: FloatArray,
    alarm: np.ndarray,
    defined: np.ndarray,
) -> None:
    out.expected[:, columns] = np.where(np.isfinite(mean), mean, np.nan)
    out.upperbound[:, columns] = np.where(defined, upper, np.nan)
    out.score[:, columns] = np.where(defined, score, np.nan)
    out.alarm[:, columns] = alarm & defined
    out.defined[:, columns] = defined
    reason = np.where(
        defined,
        "",
        np.where(
            np.isnan(mean), "missing values in baseline", "undefined: zero variance in baseline"
        ),
    )
    out.reason[:, columns] = reason
