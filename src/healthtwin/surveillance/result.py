"""The result every detector returns: one row per series, one column per monitored week."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from healthtwin.core.types import BoolArray, FloatArray, IntArray

__all__ = ["NOT_ENOUGH_HISTORY", "Detection", "empty_detection"]

NOT_ENOUGH_HISTORY = "not enough history"
REASON_WIDTH = 96


@dataclass(frozen=True)
class Detection:
    """Detector output for many series at once.

    Attributes
    ----------
    method : str
        The method name (one of ``METHODS``).
    t : ndarray of int64, shape (n_monitored,)
        The monitored 1-based weeks.
    expected : ndarray of float64, shape (n_series, n_monitored)
        The expected count (``NaN`` where undefined).
    upperbound : ndarray of float64, shape (n_series, n_monitored)
        The alarm threshold: an alarm is raised when the observed count exceeds it.
    alarm : ndarray of bool, shape (n_series, n_monitored)
        Alarms (False where undefined).
    defined : ndarray of bool, shape (n_series, n_monitored)
        False where no bound could be computed.
    score : ndarray of float64, shape (n_series, n_monitored)
        The method's exceedance score (``NaN`` where undefined).
    reason : ndarray of str, shape (n_series, n_monitored)
        Why no bound could be computed; ``""`` where defined.
    """

    method: str
    t: IntArray
    expected: FloatArray
    upperbound: FloatArray
    alarm: BoolArray
    defined: BoolArray
    score: FloatArray
    reason: NDArray[np.str_]

    @property
    def n_series(self) -> int:
        """Number of series."""
        return int(self.expected.shape[0])


def empty_detection(method: str, t: IntArray, n_series: int) -> Detection:
    """All-undefined arrays of the right shapes, to be filled by a detector."""
    shape = (n_series, t.size)
    return Detection(
        method=method,
        t=t,
        expected=np.full(shape, np.nan),
        upperbound=np.full(shape, np.nan),
        alarm=np.zeros(shape, dtype=bool),
        defined=np.zeros(shape, dtype=bool),
        score=np.full(shape, np.nan),
        reason=np.full(shape, "", dtype=f"<U{REASON_WIDTH}"),
    )
