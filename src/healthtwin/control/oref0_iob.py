"""Insulin on board as OpenAPS oref0 computes it, and the plumbing its port shares.

A port of ``lib/iob/calculate.js`` (the insulin action curves) and of the summing rules
of ``lib/iob/total.js`` from the OpenAPS reference design, repository ``openaps/oref0``.
Each dose of ``D`` units given ``t`` minutes ago contributes insulin on board and insulin
activity (units per minute):

* ``"bilinear"``: a triangle of activity rising to ``2 / (60 DIA)`` at 75 minutes and
  ending at 180 minutes, both stretched by ``3 h / DIA``; IOB follows oref0's fitted
  quadratics (``x = t'/5 + 1`` before the peak, ``x = (t' - 75)/5`` after it).
* ``"rapid-acting"`` and ``"ultra-rapid"``: the exponential curve with end time
  ``td = 60 DIA`` and peak ``tp`` (75 and 55 minutes by default), computed by
  :func:`healthtwin.control.insulin_action.exponential_insulin`:
  ``tau = tp (1 - tp/td) / (1 - 2 tp/td)``, ``a = 2 tau / td``,
  ``S = 1 / (1 - a + (1 + a) exp(-td/tau))``,
  ``activity = D S / tau^2 t (1 - t/td) exp(-t/tau)`` and
  ``IOB = D (1 - S (1 - a) ((t^2 / (tau td (1 - a)) - t/tau - 1) exp(-t/tau) + 1))``.

:func:`iob_from_doses` adds oref0's rules around the curves: DIA of at least 3 h (5 h for
the exponential curves), doses from the future or older than DIA ignored, doses under
0.1 U counted as basal, totals rounded as ``total.js`` rounds them.

This module also holds what :mod:`healthtwin.control.oref0` shares with it: the
:class:`IobData` input, and JavaScript's number semantics (``Math.round`` rounds halves
up, ``Math.min`` of a NaN is NaN, ``undefined`` is NaN in arithmetic, numbers print
without a trailing ``.0``), which the port needs to reproduce oref0's outputs exactly.

Attribution: ported from openaps/oref0 (files ``lib/iob/calculate.js``,
``lib/iob/total.js``), released under the MIT licence:

    The MIT License (MIT). Copyright (c) 2015-2019 OpenAPS Contributors.
    Permission is hereby granted, free of charge, to any person obtaining a copy of this
    software and associated documentation files (the "Software"), to deal in the Software
    without restriction, including without limitation the rights to use, copy, modify,
    merge, publish, distribute, sublicense, and/or sell copies of the Software, and to
    permit persons to whom the Software is furnished to do so, subject to the following
    conditions: The above copyright notice and this permission notice shall be included
    in all copies or substantial portions of the Software.
    THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED,
    INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A
    PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT
    HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF
    CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE
    OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from healthtwin.control.insulin_action import exponential_insulin
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError

__all__ = ["INSULIN_CURVES", "IobData", "LastTemp", "insulin_activity", "iob_from_doses"]

#: Curve name -> default peak (minutes) and the custom-peak clamp of calculate.js.
INSULIN_CURVES: dict[str, tuple[float, float, float] | None] = {
    "bilinear": None,
    "rapid-acting": (75.0, 50.0, 120.0),
    "ultra-rapid": (55.0, 35.0, 100.0),
}


# --- JavaScript number semantics -------------------------------------------------------


def _math_round(x: float) -> float:
    """``Math.round``: nearest integer, halves towards +infinity; NaN and inf pass."""
    if not math.isfinite(x):
        return x
    lower = math.floor(x)
    return float(lower + 1 if x - lower >= 0.5 else lower)


def _js_round(x: float, digits: int = 0) -> float:
    """oref0's ``round(value, digits)``: ``Math.round(value * 10^d) / 10^d``."""
    scale = 10.0**digits
    return _math_round(x * scale) / scale


def _js_min(*xs: float) -> float:
    """``Math.min``: NaN if any argument is NaN (Python's ``min`` would skip it)."""
    return math.nan if any(math.isnan(x) for x in xs) else min(xs)


def _js_max(*xs: float) -> float:
    """``Math.max``: NaN if any argument is NaN."""
    return math.nan if any(math.isnan(x) for x in xs) else max(xs)


def _js_div(a: float, b: float) -> float:
    """``a / b`` as JavaScript divides: by zero gives +-Infinity or NaN, never raises."""
    if b != 0 or math.isnan(b):
        return a / b
    if a == 0 or math.isnan(a):
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def _num(x: float | None) -> float:
    """A JSON number or ``undefined`` (None) as JavaScript arithmetic sees it."""
    return math.nan if x is None else float(x)


def _truthy(x: object) -> bool:
    """JavaScript truthiness: ``undefined``, ``false``, 0, NaN and ``""`` are false."""
    if x is None:
        return False
    if isinstance(x, float):
        return not (x == 0 or math.isnan(x))
    return bool(x)


def _js_str(x: object) -> str:
    """``String(x)`` for the values oref0 writes into its reasons."""
    if x is None:
        return "undefined"
    if isinstance(x, bool):
        return "true" if x else "false"
    if not isinstance(x, int | float):
        return str(x)
    v = float(x)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    if v == 0:
        return "0"
    sign = "-" if v < 0 else ""
    # Shortest round-trip digits (same in both languages), laid out by ECMA-262 rules.
    dec = Decimal(repr(abs(v))).normalize()
    digits = "".join(map(str, dec.as_tuple().digits))
    exp = dec.as_tuple().exponent
    assert isinstance(exp, int)
    k, n = len(digits), len(digits) + exp
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * (-n) + digits
    else:
        mantissa = digits[0] + ("." + digits[1:] if k > 1 else "")
        body = f"{mantissa}e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"
    return sign + body


def _js_to_fixed(x: float, digits: int) -> str:
    """``Number.prototype.toFixed``: exact binary value, halves rounded away from zero."""
    if math.isnan(x):
        return "NaN"
    text = str(Decimal(x).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))
    return text[1:] if text.startswith("-") and float(text) == 0 else text


# --- oref0 JSON plumbing ----------------------------------------------------------------


def _meta(oref0: str | None, kind: str = "num") -> dict[str, str | None]:
    """Field metadata: the oref0 JSON key (None: not in oref0's JSON) and the value kind."""
    return {"oref0": oref0, "kind": kind}


def _key(oref0: str | None, kind: str = "num", default: object = None) -> Any:
    """A dataclass field that maps to oref0 JSON key ``oref0``."""
    return field(default=default, metadata=_meta(oref0, kind))


_KINDS: dict[str, tuple[type, ...]] = {"num": (int, float), "bool": (bool,), "str": (str,)}


_NESTED: dict[str, str] = {"iob": "IobData", "last_temp": "LastTemp"}


def _check_value(owner: str, name: str, kind: str, value: object) -> None:
    if value is None:
        return
    if kind in _NESTED:
        if type(value).__name__ != _NESTED[kind]:
            raise InvalidInputError(
                f"{owner}.{name} must be a {_NESTED[kind]}, got {value!r}; build it with "
                f"{_NESTED[kind]}.from_oref0_json"
            )
        return
    if kind not in _KINDS:
        return
    ok = isinstance(value, _KINDS[kind]) and not (kind == "num" and isinstance(value, bool))
    if not ok:
        raise InvalidInputError(
            f"{owner}.{name} must be a {'number' if kind == 'num' else kind}, got {value!r}; "
            "fix the input (oref0 JSON numbers, booleans and strings are accepted)"
        )
    if kind == "num" and not math.isfinite(float(value)):  # type: ignore[arg-type]
        raise InvalidInputError(
            f"{owner}.{name} must be finite, got {value!r}; leave it out (None) if unknown"
        )


def _validate(obj: object) -> None:
    """Check every field of an oref0 input dataclass against its declared kind."""
    owner = type(obj).__name__
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        _check_value(owner, f.name, f.metadata.get("kind", "num"), getattr(obj, f.name))


def _from_json(
    cls: Any, data: Mapping[str, Any], *, strict: bool, fill_defaults: bool = True
) -> Any:
    """Build dataclass ``cls`` from an oref0-shaped dict (keys named in field metadata)."""
    if not isinstance(data, Mapping):
        raise InvalidInputError(f"{cls.__name__} needs an oref0 JSON object, got {data!r}")
    fields = [f for f in dataclasses.fields(cls) if f.metadata.get("oref0")]
    known = {f.metadata["oref0"] for f in fields}
    unknown = sorted(set(data) - known)
    if strict and unknown:
        raise InvalidInputError(
            f"{cls.__name__}: unknown oref0 keys {unknown}; known keys are {sorted(known)} "
            "(check for typos or pass strict=False to ignore extra keys)"
        )
    kwargs: dict[str, Any] = {}
    for f in fields:
        key, kind = f.metadata["oref0"], f.metadata["kind"]
        if key not in data:
            if f.default is dataclasses.MISSING:
                raise InvalidInputError(f"{cls.__name__} needs oref0 key {key!r}; add it")
            if not fill_defaults:
                kwargs[f.name] = None
            continue
        value = data[key]
        if kind == "num" and value is not None:
            _check_value(cls.__name__, f.name, kind, value)
            value = float(value)
        elif kind in ("iob", "last_temp") and value is not None:
            nested = IobData if kind == "iob" else LastTemp
            value = _from_json(nested, value, strict=strict)
        kwargs[f.name] = value
    return cls(**kwargs)


def _to_json(obj: object) -> dict[str, Any]:
    """The oref0-shaped dict of a dataclass, leaving out absent (None) values."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        key, value = f.metadata.get("oref0"), getattr(obj, f.name)
        if key is None or value is None:
            continue
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = _to_json(value)
        elif isinstance(value, float) and value.is_integer():
            value = int(value)
        out[key] = value
    return out


# --- inputs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LastTemp:
    """The last temporary basal found in pump history (oref0 ``iob_data.lastTemp``).

    Attributes
    ----------
    date
        ``date``: when it started, milliseconds since the Unix epoch.
    duration
        ``duration``: its length in minutes.
    rate
        ``rate``: its rate in U/h.
    """

    date: float = _key("date", default=dataclasses.MISSING)
    duration: float = _key("duration", default=dataclasses.MISSING)
    rate: float = _key("rate", default=dataclasses.MISSING)

    def __post_init__(self) -> None:
        _validate(self)

    @classmethod
    def from_oref0_json(cls, data: Mapping[str, Any], *, strict: bool = False) -> LastTemp:
        """Build from oref0's ``lastTemp`` object."""
        return _from_json(cls, data, strict=strict)  # type: ignore[no-any-return]

    def to_oref0_json(self) -> dict[str, Any]:
        """The oref0-shaped ``lastTemp`` object."""
        return _to_json(self)


@dataclass(frozen=True)
class IobData:
    """Insulin on board at one time, as oref0's ``iob.json`` holds it (one tick).

    oref0 passes either one tick or an array of ticks 5 minutes apart (the projected IOB
    under the current temp, each with ``iobWithZeroTemp``); only an array lets
    ``determine-basal`` compute its prediction curves.

    Attributes
    ----------
    iob
        ``iob``: net insulin on board, U.
    activity
        ``activity``: insulin activity, U/min.
    bolussnooze, basaliob, bolusiob, netbasalinsulin, bolusinsulin
        Same-named oref0 keys, U (carried, not read by ``determine-basal``).
    time
        ``time``: the tick's timestamp as oref0 writes it (carried).
    iob_with_zero_temp
        ``iobWithZeroTemp``: the same tick if a zero temp ran from now (drives ZTpredBGs).
    last_temp
        ``lastTemp``: last temp basal in pump history (safety cross-check).
    last_bolus_time
        ``lastBolusTime``: ms since epoch (read only by the unported SMB branch).
    """

    iob: float = _key("iob", default=dataclasses.MISSING)
    activity: float = _key("activity", default=dataclasses.MISSING)
    bolussnooze: float | None = _key("bolussnooze")
    basaliob: float | None = _key("basaliob")
    bolusiob: float | None = _key("bolusiob")
    netbasalinsulin: float | None = _key("netbasalinsulin")
    bolusinsulin: float | None = _key("bolusinsulin")
    time: str | None = _key("time", "str")
    iob_with_zero_temp: IobData | None = field(
        default=None, metadata=_meta("iobWithZeroTemp", "iob")
    )
    last_temp: LastTemp | None = field(default=None, metadata=_meta("lastTemp", "last_temp"))
    last_bolus_time: float | None = _key("lastBolusTime")

    def __post_init__(self) -> None:
        _validate(self)

    @classmethod
    def from_oref0_json(cls, data: Mapping[str, Any], *, strict: bool = False) -> IobData:
        """Build from one oref0 IOB tick; ``strict`` rejects keys oref0 does not use.

        Examples
        --------
        >>> IobData.from_oref0_json({"iob": 1, "activity": 0.01}).iob
        1.0
        """
        return _from_json(cls, data, strict=strict)  # type: ignore[no-any-return]

    @classmethod
    def list_from_oref0_json(
        cls, data: Mapping[str, Any] | list[Mapping[str, Any]], *, strict: bool = False
    ) -> IobData | list[IobData]:
        """Build from oref0's ``iob_data``: one tick, or the array of ticks.

        The array ``oref0-calculate-iob`` writes stays a list, so that
        ``determine_basal`` sees what oref0 sees.
        """
        if isinstance(data, list):
            return [cls.from_oref0_json(tick, strict=strict) for tick in data]
        return cls.from_oref0_json(data, strict=strict)

    def to_oref0_json(self) -> dict[str, Any]:
        """The oref0-shaped tick (absent values left out)."""
        return _to_json(self)


# --- insulin action curves -----------------------------------------------------------------


def _curve_name(curve: str) -> str:
    name = curve.lower() if isinstance(curve, str) else curve
    if name not in INSULIN_CURVES:
        raise InvalidParameterError(
            f"unknown insulin curve {curve!r}; valid curves are {sorted(INSULIN_CURVES)}"
        )
    return name


def _peak_minutes(curve: str, peak_min: float | None) -> float:
    """calculate.js: the curve's default peak, or a custom one clamped to its range."""
    spec = INSULIN_CURVES[curve]
    if spec is None:
        if peak_min is not None:
            raise InvalidParameterError(
                f"the bilinear curve has a fixed shape, got peak_min={peak_min}; pass None"
            )
        return 75.0
    default, lowest, highest = spec
    if peak_min is None:
        return default
    if not math.isfinite(peak_min):
        raise InvalidParameterError(f"peak_min must be finite minutes, got {peak_min}")
    return min(highest, max(lowest, float(peak_min)))


def _bilinear(t: FloatArray, dose: FloatArray, dia_h: float) -> tuple[FloatArray, FloatArray]:
    peak, end = 75.0, 180.0
    scaled = (3.0 / dia_h) * t
    activity_peak = 2 / (dia_h * 60)
    slope_up = activity_peak / peak
    slope_down = -1 * (activity_peak / (end - peak))
    x1 = scaled / 5 + 1
    x2 = (scaled - peak) / 5
    rising = scaled < peak
    falling = ~rising & (scaled < end)
    activity = np.where(rising, dose * (slope_up * scaled), 0.0)
    activity = np.where(falling, dose * (activity_peak + slope_down * (scaled - peak)), activity)
    iob = np.where(rising, dose * ((-0.001852 * x1 * x1) + (0.001852 * x1) + 1.000000), 0.0)
    iob = np.where(falling, dose * ((0.001323 * x2 * x2) + (-0.054233 * x2) + 0.555560), iob)
    return iob, activity


def _exponential(
    t: FloatArray, dose: FloatArray, dia_h: float, peak: float
) -> tuple[FloatArray, FloatArray]:
    end = dia_h * 60
    if end <= 2 * peak:
        raise InvalidParameterError(
            f"the exponential curve needs DIA longer than twice its peak: dia_h={dia_h} "
            f"with peak {peak} min; use dia_h >= 5 as oref0 enforces"
        )
    return exponential_insulin(t, dose, peak, end)


def insulin_activity(
    minutes_ago: npt.ArrayLike,
    dose_u: npt.ArrayLike,
    curve: str = "rapid-acting",
    peak_min: float | None = None,
    dia_h: float = 5.0,
) -> tuple[FloatArray, FloatArray]:
    """Insulin on board and activity of doses, as oref0's ``iobCalc`` computes them.

    Parameters
    ----------
    minutes_ago
        Minutes since each dose, ``>= 0``; broadcast against ``dose_u``. (oref0 rounds
        the time since a dose to whole minutes first; :func:`iob_from_doses` does.)
    dose_u
        Insulin of each dose, U (negative for basal below schedule, as oref0 does).
    curve
        ``"bilinear"``, ``"rapid-acting"`` or ``"ultra-rapid"`` (any case).
    peak_min
        Custom peak for the exponential curves (oref0's ``insulinPeakTime`` with
        ``useCustomPeakTime``), clamped to 50-120 (rapid) or 35-100 (ultra-rapid) minutes;
        None uses 75 or 55. Must be None for ``"bilinear"``.
    dia_h
        Duration of insulin action, hours, used as given (oref0's minimums are applied by
        :func:`iob_from_doses`).

    Returns
    -------
    tuple of numpy.ndarray
        ``(iob_u, activity_u_per_min)``, each of the broadcast shape of the inputs.

    Raises
    ------
    InvalidParameterError
        Unknown curve, non-finite or negative times, DIA not positive, a peak for the
        bilinear curve, or a DIA too short for the exponential peak.

    Examples
    --------
    >>> iob, act = insulin_activity([0.0, 75.0], 1.0, curve="bilinear", dia_h=3.0)
    >>> [round(float(v), 5) for v in iob], [round(float(v), 6) for v in act]
    ([1.0, 0.55556], [0.0, 0.011111])
    """
    name = _curve_name(curve)
    t, dose = np.broadcast_arrays(
        np.asarray(minutes_ago, dtype=np.float64), np.asarray(dose_u, dtype=np.float64)
    )
    if not (np.all(np.isfinite(t)) and np.all(t >= 0)):
        raise InvalidParameterError(
            "minutes_ago must be finite and >= 0 (future doses have no IOB yet), "
            f"got {np.asarray(minutes_ago)!r}"
        )
    if not np.all(np.isfinite(dose)):
        raise InvalidParameterError(f"dose_u must be finite, got {np.asarray(dose_u)!r}")
    if not (math.isfinite(dia_h) and dia_h > 0):
        raise InvalidParameterError(f"dia_h must be a positive number of hours, got {dia_h}")
    peak = _peak_minutes(name, peak_min)
    if name == "bilinear":
        return _bilinear(t, dose, float(dia_h))
    return _exponential(t, dose, float(dia_h), peak)


def iob_from_doses(
    times_min: npt.ArrayLike,
    doses_u: npt.ArrayLike,
    now_min: float,
    *,
    curve: str = "rapid-acting",
    dia_h: float = 5.0,
    peak_min: float | None = None,
) -> IobData:
    """Total insulin on board now from dose history, by oref0's ``iobTotal`` rules.

    Parameters
    ----------
    times_min
        When each dose was given, minutes on the same clock as ``now_min``, shape ``(n,)``.
    doses_u
        Each dose, U, shape ``(n,)``; doses under 0.1 U count as basal (``basaliob``).
    now_min
        The time to evaluate at, minutes.
    curve, peak_min
        As in :func:`insulin_activity`.
    dia_h
        Duration of insulin action, hours; raised to 3 h, or to 5 h for the exponential
        curves, as ``total.js`` does.

    Returns
    -------
    IobData
        ``iob``, ``basaliob``, ``bolusiob``, ``netbasalinsulin`` and ``bolusinsulin``
        rounded to 0.001 U and ``activity`` to 0.0001 U/min, as oref0 reports them.

    Raises
    ------
    InvalidParameterError
        Mismatched or non-finite inputs, or as :func:`insulin_activity`.

    Examples
    --------
    >>> iob_from_doses([0.0], [2.0], 60.0, curve="bilinear", dia_h=3.0).iob
    1.422
    """
    times = np.atleast_1d(np.asarray(times_min, dtype=np.float64))
    doses = np.atleast_1d(np.asarray(doses_u, dtype=np.float64))
    if times.shape != doses.shape or times.ndim != 1:
        raise InvalidParameterError(
            f"times_min and doses_u need the same 1-d shape, got {times.shape} and {doses.shape}"
        )
    if not (np.all(np.isfinite(times)) and math.isfinite(now_min)):
        raise InvalidParameterError("times_min and now_min must be finite minutes")
    if not (math.isfinite(dia_h) and dia_h > 0):
        raise InvalidParameterError(f"dia_h must be a positive number of hours, got {dia_h}")
    name = _curve_name(curve)
    dia = max(3.0, float(dia_h))
    if INSULIN_CURVES[name] is not None:
        dia = max(5.0, dia)
    # total.js keeps doses at or before now and strictly after now - DIA.
    keep = (times <= now_min) & (times > now_min - dia * 60)
    minutes = np.array([_math_round(float(m)) for m in now_min - times[keep]])
    iob, activity = insulin_activity(minutes, doses[keep], name, peak_min, dia)
    basal = doses[keep] < 0.1
    # Sequential sums, in dose order, as total.js accumulates them.
    totals = {
        "iob": sum(iob.tolist(), 0.0),
        "basaliob": sum(iob[basal].tolist(), 0.0),
        "bolusiob": sum(iob[~basal].tolist(), 0.0),
        "netbasalinsulin": sum(doses[keep][basal & (iob != 0)].tolist(), 0.0),
        "bolusinsulin": sum(doses[keep][~basal & (iob != 0)].tolist(), 0.0),
    }
    rounded = {k: _math_round(v * 1000) / 1000 for k, v in totals.items()}
    return IobData(
        iob=rounded["iob"],
        activity=_math_round(sum(activity.tolist(), 0.0) * 10000) / 10000,
        basaliob=rounded["basaliob"],
        bolusiob=rounded["bolusiob"],
        netbasalinsulin=rounded["netbasalinsulin"],
        bolusinsulin=rounded["bolusinsulin"],
    )
