"""Insulin pump: deliver whole increments of insulin within the device's limits.

A controller asks for a basal rate (U/min, the unit of the glucose-insulin models) and for
boluses (U). The pump

1. converts a basal request to the unit its limits are written in, U/h;
2. clips the request to ``[min, max]``;
3. rounds it *down* to a whole number of increments, because a pump delivers whole
   increments and must never give more insulin than was asked for (a request within
   ``1e-9`` of an increment, a floating-point artefact, counts as reaching it);
4. converts a basal rate back to U/min.

The limits are required to be whole numbers of increments, so the result is always both a
multiple of the increment and within the limits. A request below a non-zero minimum is
raised to the minimum, as a real pump cannot run slower than its minimum rate.

Presets are the Cozmo and Insulet rows of simglucose's pump parameters. simglucose
applies the basal limits and increment (U/h) to rates in U/min (its issue #71), rounds to
the nearest increment and quantizes in pmol; this module keeps the units consistent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from numbers import Real

import numpy as np
import numpy.typing as npt

from healthtwin.core.types import FloatArray
from healthtwin.errors import (
    InvalidInputError,
    InvalidParameterError,
    ShapeError,
    UnknownModelError,
)

__all__ = ["PUMP_PRESETS", "InsulinPump", "PumpParams", "delivery_error", "pump_params"]

_MIN_PER_H = 60.0
# Slack, in increments, that absorbs floating-point error (0.15 / 0.05 = 2.9999999999999996).
_INCREMENT_SLACK = 1e-9


@dataclass(frozen=True, slots=True)
class PumpParams:
    """Limits and resolution of an insulin pump.

    Parameters
    ----------
    min_bolus_u, max_bolus_u
        Smallest and largest bolus, in U; whole multiples of ``bolus_increment_u``.
    bolus_increment_u
        Bolus resolution, in U (positive).
    min_basal_u_per_h, max_basal_u_per_h
        Slowest and fastest basal rate, in U/h; whole multiples of
        ``basal_increment_u_per_h``.
    basal_increment_u_per_h
        Basal rate resolution, in U/h (positive).
    sample_time_min
        Minutes between two commands the pump accepts (positive).

    Raises
    ------
    InvalidParameterError
        If a value is non-finite, negative, inconsistent or not a multiple of its increment.

    Examples
    --------
    >>> PumpParams(max_bolus_u=25.0, max_basal_u_per_h=15.0).bolus_increment_u
    0.05
    """

    min_bolus_u: float = 0.0
    max_bolus_u: float = 30.0
    bolus_increment_u: float = 0.05
    min_basal_u_per_h: float = 0.0
    max_basal_u_per_h: float = 30.0
    basal_increment_u_per_h: float = 0.05
    sample_time_min: float = 1.0

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
                raise InvalidParameterError(
                    f"PumpParams.{field.name} must be a finite number, got {value!r}"
                )
            if value < 0.0:
                raise InvalidParameterError(
                    f"PumpParams.{field.name} must be non-negative, got {value!r}"
                )
        for name in ("bolus_increment_u", "basal_increment_u_per_h", "sample_time_min"):
            if getattr(self, name) == 0.0:
                raise InvalidParameterError(f"PumpParams.{name} must be positive, got 0.0")
        _check_limits("bolus", self.min_bolus_u, self.max_bolus_u, self.bolus_increment_u)
        _check_limits(
            "basal", self.min_basal_u_per_h, self.max_basal_u_per_h, self.basal_increment_u_per_h
        )


def _check_limits(kind: str, low: float, high: float, increment: float) -> None:
    if low > high:
        raise InvalidParameterError(
            f"PumpParams: min {kind} {low!r} exceeds max {kind} {high!r}; swap them"
        )
    for label, value in (("min", low), ("max", high)):
        steps = value / increment
        if abs(steps - round(steps)) > 1e-6:
            raise InvalidParameterError(
                f"PumpParams: {label} {kind} {value!r} is not a whole number of increments "
                f"of {increment!r}; round it to a multiple of the increment"
            )


PUMP_PRESETS: dict[str, PumpParams] = {
    "cozmo": PumpParams(
        min_bolus_u=0.0,
        max_bolus_u=75.0,
        bolus_increment_u=0.05,
        min_basal_u_per_h=0.0,
        max_basal_u_per_h=35.0,
        basal_increment_u_per_h=0.05,
        sample_time_min=1.0,
    ),
    "insulet": PumpParams(
        min_bolus_u=0.0,
        max_bolus_u=30.0,
        bolus_increment_u=0.05,
        min_basal_u_per_h=0.0,
        max_basal_u_per_h=30.0,
        basal_increment_u_per_h=0.05,
        sample_time_min=1.0,
    ),
}
"""Pump presets, from simglucose's pump parameter table (limits in U and U/h)."""


def pump_params(name: str) -> PumpParams:
    """The preset parameters of the pump called ``name``.

    Raises
    ------
    UnknownModelError
        If ``name`` is not a key of :data:`PUMP_PRESETS`; the message lists the valid names.

    Examples
    --------
    >>> pump_params("insulet").max_basal_u_per_h
    30.0
    """
    try:
        return PUMP_PRESETS[name]
    except KeyError as err:
        raise UnknownModelError(
            f"unknown insulin pump {name!r}; valid names are {sorted(PUMP_PRESETS)}"
        ) from err


class InsulinPump:
    """An insulin pump that delivers whole increments within its limits.

    Both methods take an array of requests of any shape (e.g. ``(n_members,)``) and return
    the delivered amounts in the same shape and unit.

    Parameters
    ----------
    params
        Pump parameters, e.g. ``pump_params("insulet")``.

    Examples
    --------
    >>> pump = InsulinPump(pump_params("insulet"))
    >>> pump.basal([0.5, 0.6, 0.01]) * 60  # U/min requested, shown in U/h
    array([30. , 30. ,  0.6])
    >>> pump.bolus([2.37, 45.0])
    array([ 2.35, 30.  ])
    """

    def __init__(self, params: PumpParams) -> None:
        if not isinstance(params, PumpParams):
            raise InvalidParameterError(
                f"params must be a PumpParams, got {type(params).__name__}; "
                "use e.g. pump_params('insulet')"
            )
        self.params = params

    def __repr__(self) -> str:
        return f"InsulinPump({self.params!r})"

    def basal(self, rate_u_per_min: npt.ArrayLike) -> FloatArray:
        """Delivered basal rates, in U/min, for requested rates in U/min.

        Raises
        ------
        InvalidInputError
            If a requested rate is negative or not finite.
        """
        requested_u_per_h = _as_requests(rate_u_per_min, "rate_u_per_min") * _MIN_PER_H
        p = self.params
        delivered_u_per_h = _deliver(
            requested_u_per_h, p.min_basal_u_per_h, p.max_basal_u_per_h, p.basal_increment_u_per_h
        )
        return delivered_u_per_h / _MIN_PER_H

    def bolus(self, dose_u: npt.ArrayLike) -> FloatArray:
        """Delivered boluses, in U, for requested doses in U.

        Raises
        ------
        InvalidInputError
            If a requested dose is negative or not finite.
        """
        p = self.params
        return _deliver(
            _as_requests(dose_u, "dose_u"), p.min_bolus_u, p.max_bolus_u, p.bolus_increment_u
        )


def delivery_error(requested: npt.ArrayLike, delivered: npt.ArrayLike) -> FloatArray:
    """Delivered minus requested insulin, element by element (negative: under-delivery).

    Raises
    ------
    ShapeError
        If the two arrays do not have the same shape.

    Examples
    --------
    >>> pump = InsulinPump(pump_params("insulet"))
    >>> requested = np.array([2.37, 45.0])
    >>> delivery_error(requested, pump.bolus(requested)).round(2)
    array([ -0.02, -15.  ])
    """
    asked = np.asarray(requested, dtype=np.float64)
    given = np.asarray(delivered, dtype=np.float64)
    if asked.shape != given.shape:
        raise ShapeError(
            f"requested has shape {asked.shape} but delivered has shape {given.shape}; "
            "pass the pump's output for the same requests"
        )
    return given - asked


def _as_requests(values: npt.ArrayLike, name: str) -> FloatArray:
    try:
        requests = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(
            f"{name} must be numeric, got {type(values).__name__}: {err}"
        ) from err
    if not np.isfinite(requests).all():
        raise InvalidInputError(f"{name} holds NaN or infinite values; request 0.0 for no insulin")
    negative = requests < 0.0
    if negative.any():
        raise InvalidInputError(
            f"{name} must be non-negative, got {float(requests[negative].min())!r} "
            f"({int(negative.sum())} negative requests); insulin cannot be withdrawn, "
            "request 0.0 instead"
        )
    return requests


def _deliver(requested: FloatArray, low: float, high: float, increment: float) -> FloatArray:
    clipped = np.clip(requested, low, high)
    steps = np.floor(clipped / increment + _INCREMENT_SLACK)
    # Limits are whole increments, so rounding down stays within [low, high].
    return np.asarray(np.clip(steps * increment, low, high), dtype=np.float64)
