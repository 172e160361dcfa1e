"""Ensemble forecasts: member trajectories on a time grid, with quantiles and calibration.

Every prediction in healthtwin is an ensemble; its spread is the uncertainty. The
:meth:`Forecast.coverage` check compares central intervals with what was later observed,
which is how a twin's calibration is judged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from healthtwin.core.protocols import Channel
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, ShapeError, UnknownModelError

__all__ = ["DEFAULT_QUANTILES", "Forecast"]

DEFAULT_QUANTILES: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass(frozen=True)
class Forecast:
    """Member trajectories of a model's outputs.

    Attributes
    ----------
    t
        Time grid, shape ``(T,)``, in ``time_unit``.
    values
        Outputs, shape ``(n, T, k)``: member, time, channel.
    channels
        The ``k`` output channels with units.
    time_unit
        Unit of ``t``.
    plan
        Name of the plan that produced it (``""`` for the standing plan).
    """

    t: FloatArray
    values: FloatArray
    channels: tuple[Channel, ...]
    time_unit: str
    plan: str = ""

    def __post_init__(self) -> None:
        t = np.array(self.t, dtype=np.float64)
        values = np.array(self.values, dtype=np.float64)
        if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)):
            raise ShapeError(f"t must be a non-empty finite 1-D grid, got shape {t.shape}")
        if np.any(np.diff(t) <= 0):
            raise InvalidInputError("t must be strictly increasing")
        if values.ndim != 3 or values.shape[1] != t.size:
            raise ShapeError(f"values must be (n, {t.size}, k), got {values.shape}")
        if values.shape[2] != len(self.channels):
            raise ShapeError("values' last axis must match the channels")
        for name, arr in (("t", t), ("values", values)):
            arr.setflags(write=False)  # our copies; the caller's arrays stay as they were
            object.__setattr__(self, name, arr)

    @property
    def n_members(self) -> int:
        return int(self.values.shape[0])

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.channels)

    def unit(self, name: str) -> str:
        """Unit of channel ``name``."""
        return self.channels[self._index(name)].unit

    def _index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError as err:
            raise UnknownModelError(
                f"no output channel {name!r}; this forecast has {list(self.names)}"
            ) from err

    def channel(self, name: str) -> FloatArray:
        """Member trajectories of one channel, shape ``(n, T)``."""
        return np.asarray(self.values[:, :, self._index(name)])

    def quantiles(self, name: str, levels: Sequence[float] = DEFAULT_QUANTILES) -> FloatArray:
        """Quantiles over members of one channel, shape ``(len(levels), T)``."""
        lv = np.asarray(levels, dtype=np.float64)
        if not np.all((lv >= 0) & (lv <= 1)):
            raise InvalidInputError(f"quantile levels must be in [0, 1], got {lv.tolist()}")
        return np.asarray(np.quantile(self.channel(name), lv, axis=0))

    def mean(self, name: str) -> FloatArray:
        """Ensemble mean of one channel, shape ``(T,)``."""
        return np.asarray(self.channel(name).mean(axis=0))

    def interval(self, name: str, level: float = 0.9) -> tuple[FloatArray, FloatArray]:
        """Central ``level`` interval of one channel: lower and upper, each ``(T,)``."""
        if not 0 < level < 1:
            raise InvalidInputError(f"level must be in (0, 1), got {level}")
        q = self.quantiles(name, [(1 - level) / 2, (1 + level) / 2])
        return q[0], q[1]

    def coverage(
        self, name: str, t_obs: FloatArray, y_obs: FloatArray, level: float = 0.9
    ) -> float:
        """Fraction of observations inside the central ``level`` interval.

        Observations are matched to the nearest grid time; a calibrated forecast covers
        about ``level`` of them. Observations outside the forecast's window are refused:
        scoring them against the window's edge would flatter the forecast.
        """
        t_obs = np.asarray(t_obs, dtype=np.float64)
        y_obs = np.asarray(y_obs, dtype=np.float64)
        if t_obs.shape != y_obs.shape or t_obs.ndim != 1 or t_obs.size == 0:
            raise ShapeError("t_obs and y_obs must be non-empty 1-D arrays of one length")
        step = float(np.min(np.diff(self.t))) if self.t.size > 1 else 0.0
        outside = (t_obs < self.t[0] - 0.5 * step) | (t_obs > self.t[-1] + 0.5 * step)
        if np.any(outside):
            raise InvalidInputError(
                f"{int(outside.sum())} observation time(s) fall outside the forecast window "
                f"[{self.t[0]}, {self.t[-1]}]; score only observations inside it"
            )
        lo, hi = self.interval(name, level)
        idx = np.abs(self.t[None, :] - t_obs[:, None]).argmin(axis=1)
        return float(np.mean((y_obs >= lo[idx]) & (y_obs <= hi[idx])))
