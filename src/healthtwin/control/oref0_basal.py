"""Pump-rate rounding and the temp-basal setter of oref0.

Ports of openaps/oref0 ``lib/round-basal.js`` (rates rounded to what the pump can
deliver) and ``lib/basal-set-temp.js`` (the max safe basal, and setting a temp: clamp to
``[0, max safe basal]``, round, and skip a temp close to the one running), MIT licence;
see :mod:`healthtwin.control.oref0_iob` for its notice.
"""

from __future__ import annotations

from typing import Any

from healthtwin.control.oref0_iob import _js_min, _js_str, _math_round, _num, _truthy
from healthtwin.control.oref0_types import CurrentTemp, Profile
from healthtwin.errors import InvalidInputError

__all__ = ["get_max_safe_basal", "round_basal"]


def round_basal(basal: float, model: str | None = None) -> float:
    """Round a rate to the pump's increment (oref0 ``lib/round-basal.js``).

    Below 1 U/h: 0.05 U/h, or 0.025 U/h on x23/x54 pumps; below 10 U/h: 0.05; else 0.1.
    Halves round up, as JavaScript's ``Math.round``.

    Examples
    --------
    >>> round_basal(0.025), round_basal(0.025, "554"), round_basal(10.86)
    (0.05, 0.025, 10.9)
    """
    scale = 40.0 if model is not None and model.endswith(("54", "23")) else 20.0
    if basal < 1:
        return _math_round(basal * scale) / scale
    if basal < 10:
        return _math_round(basal * 20) / 20
    return _math_round(basal * 10) / 10


def get_max_safe_basal(profile: Profile) -> float:
    """``min(max_basal, 3 x max_daily_basal, 4 x current_basal)`` (``basal-set-temp.js``).

    Raises
    ------
    InvalidInputError
        A limit is missing: oref0 would get NaN there and leave temps uncapped.

    Examples
    --------
    >>> get_max_safe_basal(Profile(current_basal=0.9, max_daily_basal=1.3, max_basal=3.5))
    3.5
    """
    missing = [
        name
        for name in ("max_basal", "max_daily_basal", "current_basal")
        if getattr(profile, name) is None
    ]
    if missing:
        raise InvalidInputError(
            f"the max safe basal needs Profile fields {missing}; oref0 would compute NaN and "
            "leave the temp uncapped, so set them (oref0-get-profile always does)"
        )
    daily = profile.max_daily_safety_multiplier
    current = profile.current_basal_safety_multiplier
    return _js_min(
        _num(profile.max_basal),
        (3.0 if daily is None else daily) * _num(profile.max_daily_basal),
        (4.0 if current is None else current) * _num(profile.current_basal),
    )


def _add_reason(rt: dict[str, Any], msg: str) -> None:
    rt["reason"] = (rt["reason"] + ". " if rt.get("reason") else "") + msg


def _set_temp_basal(
    rate: float, duration: float, profile: Profile, rt: dict[str, Any], temp: CurrentTemp
) -> dict[str, Any]:
    """``tempBasalFunctions.setTempBasal``: clamp, round, and skip near-equal temps."""
    max_safe = get_max_safe_basal(profile)
    if rate < 0:
        rate = 0.0
    elif rate > max_safe:
        rate = max_safe
    suggested = round_basal(rate, profile.model)
    if duration - 10 < temp.duration <= 120 and temp.rate * 0.8 <= suggested <= temp.rate * 1.2:
        rt["reason"] = (
            f"{_js_str(rt.get('reason'))} {_js_str(temp.duration)}m left and "
            f"{_js_str(temp.rate)} ~ req {_js_str(suggested)}U/hr: no temp required"
        )
        return rt
    if suggested == profile.current_basal:
        if _truthy(profile.skip_neutral_temps):
            if temp.duration > 0:
                _add_reason(
                    rt,
                    "Suggested rate is same as profile rate, a temp basal is "
                    "active, canceling current temp",
                )
                rt["duration"], rt["rate"] = 0.0, 0.0
            else:
                _add_reason(
                    rt,
                    "Suggested rate is same as profile rate, no temp basal is "
                    "active, doing nothing",
                )
            return rt
        _add_reason(rt, f"Setting neutral temp basal of {_js_str(profile.current_basal)}U/hr")
    rt["duration"], rt["rate"] = duration, suggested
    return rt
