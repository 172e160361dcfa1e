"""OpenAPS oref0 ``determine-basal``: the temp-basal decision of an open artificial pancreas.

Every 5 minutes oref0 looks at CGM glucose and its deltas, insulin on board (IOB), carbs
on board (COB) and the running temp basal, and returns a 30-minute temp basal (or no
change) with a human-readable reason. In outline (Lewis, Leibrand et al., OpenAPS
reference design, https://openaps.org/reference-design/):

* safety first: no CGM (<= 10 mg/dL, 38, noise >= 3), stale (> 12 min) or flat CGM data
  cancels high temps and shortens long zero temps, and nothing else;
* ``eventualBG = BG - IOB * ISF + deviation``, the deviation being 30 minutes of the
  observed delta beyond the insulin's effect ``BGI = -activity * ISF * 5``;
* with an IOB array it predicts 4 hours of BG under IOB only, carbs (COB), unannounced
  meals (UAM) and a zero temp (ZT), and takes guard minima from them;
* below a threshold (``min_bg - (min_bg - 40) / 2``) it zero-temps (low glucose suspend);
  below ``min_bg`` it low-temps; falling faster than expected or in range, it sets the
  scheduled basal; above ``max_bg`` it high-temps towards target, never above
  ``max_iob`` of IOB or the max safe basal (``min(max_basal, 3 x max daily basal,
  4 x current basal)``), with rates rounded to what the pump can deliver.

This is a line-by-line port of ``lib/determine-basal/determine-basal.js`` (with
``lib/round-basal.js`` and ``lib/basal-set-temp.js``) from openaps/oref0 at commit
69d76737. It keeps JavaScript's semantics where they change results: a missing value is
``undefined`` (NaN in arithmetic, false in comparisons), ``Math.round`` rounds halves
up, and a single IOB tick (not an array) silently disables the prediction curves, as in
oref0. Reasons match oref0's text except that dates print in UTC.

Deliberate deviations, each failing loudly where oref0 would go on: a profile without
``max_basal``, ``max_daily_basal`` or ``current_basal`` raises when a temp is set (oref0's
max safe basal would be NaN and cap nothing); inputs oref0 would crash on (no
``current_temp`` or ``glucose_status`` where read) raise
:class:`~healthtwin.errors.InvalidInputError`.

Not ported: super micro-boluses (SMB: ``enable_smb``, the microbolus dosing branch, the
``currenttemp``/``lastTemp`` rate cross-check that only runs with SMB) and the
``reservoir_data`` pass-through; ``micro_bolus_allowed=True`` raises
:class:`~healthtwin.errors.InvalidInputError`. The SMB preferences of a profile are
therefore not fields of :class:`Profile`.

The port spans several modules, all re-exported here: the inputs and result with their
oref0 JSON forms (:mod:`~healthtwin.control.oref0_types`), rate rounding and the temp
setter (:mod:`~healthtwin.control.oref0_basal`), the prediction curves
(:mod:`~healthtwin.control.oref0_predictions`), and IOB with JavaScript's number
semantics (:mod:`~healthtwin.control.oref0_iob`). What a rig computes before calling
``determine_basal`` is in :mod:`~healthtwin.control.oref0_inputs`, and the closed loop in
:mod:`~healthtwin.control.oref0_controller`.

Attribution: ported from openaps/oref0 (files ``lib/determine-basal/determine-basal.js``,
``lib/round-basal.js``, ``lib/basal-set-temp.js``, defaults of ``lib/profile/index.js``),
released under the MIT licence; its notice is reproduced in
:mod:`healthtwin.control.oref0_iob`. Copyright (c) 2015-2019 OpenAPS Contributors.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from healthtwin.control.oref0_basal import _set_temp_basal, get_max_safe_basal, round_basal
from healthtwin.control.oref0_iob import (
    IobData,
    _js_div,
    _js_max,
    _js_min,
    _js_round,
    _js_str,
    _js_to_fixed,
    _num,
    _truthy,
)
from healthtwin.control.oref0_predictions import _PredictionSteps
from healthtwin.control.oref0_types import (
    CurrentTemp,
    GlucoseStatus,
    MealData,
    Oref0Result,
    Profile,
    _result_from_rt,
)
from healthtwin.errors import InvalidInputError, InvalidParameterError

__all__ = [
    "CurrentTemp",
    "GlucoseStatus",
    "MealData",
    "Oref0Result",
    "Profile",
    "determine_basal",
    "get_max_safe_basal",
    "round_basal",
]


def _date_text(ms: float) -> str:
    """``Date.prototype.toString`` on a UTC clock."""
    if not math.isfinite(ms):
        return "Invalid Date"
    when = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return when.strftime("%a %b %d %Y %H:%M:%S") + " GMT+0000 (Coordinated Universal Time)"


def determine_basal(
    glucose_status: GlucoseStatus | None,
    current_temp: CurrentTemp | None,
    iob_data: IobData | Sequence[IobData] | None,
    profile: Profile | None,
    autosens_ratio: float | None = 1.0,
    meal_data: MealData | None = None,
    micro_bolus_allowed: bool = False,
    current_time: float | None = None,
) -> Oref0Result:
    """The temp basal oref0 would request now (port of ``determine_basal``).

    Parameters
    ----------
    glucose_status
        Latest CGM state; required unless ``profile`` is unusable.
    current_temp
        The running temp; required once oref0 needs it.
    iob_data
        One IOB tick, or oref0's array of 5-minute ticks (needed for prediction curves;
        a one-element array is oref0's "missing some property" error). None: error.
    profile
        The settings; None or no ``current_basal`` gives oref0's error result.
    autosens_ratio
        oref0 ``autosens_data.ratio``, > 0 (None: no autosens data, which skips the ISF
        rounding and target adjustment autosens brings).
    meal_data
        Carbs and deviations; None means an empty ``meal.json`` (``{}``).
    micro_bolus_allowed
        Must be False: the SMB branches are not ported.
    current_time
        "Now", ms since the Unix epoch (default: the system clock).

    Returns
    -------
    Oref0Result
        oref0's ``rT``: ``rate``/``duration`` to set, or None for no change, and why.

    Raises
    ------
    InvalidInputError
        ``micro_bolus_allowed`` is True, a required input is None where oref0 would
        crash reading it, or the profile lacks a max-safe-basal limit when a temp is set.
    InvalidParameterError
        ``autosens_ratio`` is not a positive finite number.

    Examples
    --------
    >>> profile = Profile(max_iob=2.5, current_basal=0.9, max_daily_basal=1.3, max_basal=3.5,
    ...                   min_bg=110, max_bg=120, sens=40, carb_ratio=10)
    >>> low = GlucoseStatus(glucose=75, delta=-5, short_avgdelta=-5, long_avgdelta=-5)
    >>> out = determine_basal(low, CurrentTemp(duration=0, rate=0), IobData(iob=0, activity=0),
    ...                       profile, meal_data=MealData(carbs=0, meal_cob=0))
    >>> out.rate, out.duration
    (0.0, 60.0)
    """
    if micro_bolus_allowed:
        raise InvalidInputError(
            "micro_bolus_allowed=True needs oref0's SMB branches, which are not ported; "
            "pass micro_bolus_allowed=False"
        )
    if autosens_ratio is not None and not (math.isfinite(autosens_ratio) and autosens_ratio > 0):
        raise InvalidParameterError(
            f"autosens_ratio must be a positive number (1.0 = no change), got {autosens_ratio}"
        )
    if profile is None or profile.current_basal is None:
        return Oref0Result(error="Error: could not get current basal rate")
    if glucose_status is None:
        raise InvalidInputError("determine_basal needs glucose_status (the latest CGM reading)")
    now_ms = time.time() * 1000 if current_time is None else float(current_time)
    run = _Run(glucose_status, current_temp, profile, autosens_ratio, meal_data, now_ms)
    return _result_from_rt(run.decide(iob_data))


class _Run(_PredictionSteps):
    """One call of ``determine_basal``; attributes mirror the JavaScript locals.

    The prediction steps (``predict``, ``summarize``) and the state they share live in
    :class:`~healthtwin.control.oref0_predictions._PredictionSteps`.
    """

    min_bg: float
    max_bg: float
    expected_delta: float

    def __init__(
        self,
        gs: GlucoseStatus,
        temp: CurrentTemp | None,
        profile: Profile,
        autosens_ratio: float | None,
        meal: MealData | None,
        now_ms: float,
    ) -> None:
        self.gs, self.temp_or_none, self.profile = gs, temp, profile
        self.autosens, self.now_ms = autosens_ratio, now_ms
        self.meal = meal if meal is not None else MealData()
        self.bg = float(gs.glucose)
        self.delta, self.short = _num(gs.delta), _num(gs.short_avgdelta)
        self.long = _num(gs.long_avgdelta)
        self.tick_value = _js_round(self.delta, 0)
        self.tick = ("+" if self.delta > -0.5 else "") + _js_str(self.tick_value)
        self.min_delta = _js_min(self.delta, self.short)
        self.min_avg_delta = _js_min(self.short, self.long)
        self.max_delta = _js_max(self.delta, self.short, self.long)
        self.basal = round_basal(profile.current_basal or 0.0, profile.model)

    @property
    def temp(self) -> CurrentTemp:
        if self.temp_or_none is None:
            raise InvalidInputError(
                "determine_basal needs current_temp here (oref0 would crash reading it); "
                "pass CurrentTemp(duration=0, rate=0) when no temp is running"
            )
        return self.temp_or_none

    def decide(self, iob_data: IobData | Sequence[IobData] | None) -> dict[str, Any]:
        cgm_problem = self.cgm_problem()
        if cgm_problem is not None:
            return cgm_problem
        error = self.set_targets()
        if error is not None:
            return error
        if iob_data is None:
            return {"error": "Error: iob_data undefined. "}
        if isinstance(iob_data, IobData):
            self.iob, self.iob_array = iob_data, None
        elif len(iob_data) > 1:
            self.iob, self.iob_array = iob_data[0], list(iob_data)
        else:
            return {"error": "Error: iob_data missing some property. "}
        temp = self.temp  # oref0 reads currenttemp from here on
        rt: dict[str, Any] = {"temp": "absolute", "deliverAt": self.now_ms}
        last = self.iob.last_temp
        last_age = 0.0 if last is None else _js_round((self.now_ms - last.date) / 60000)
        if last is not None and temp.duration > 0:
            ended = last_age - last.duration
            if ended > 5 and last_age > 10:
                rt["reason"] = (
                    "Warning: currenttemp running but lastTemp from pumphistory ended "
                    f"{_js_str(ended)}m ago; canceling temp"
                )
                return _set_temp_basal(0, 0, self.profile, rt, temp)
        self.eventual_bg_from_iob()
        if math.isnan(self.eventual_bg):
            rt["error"] = "Error: could not calculate eventualBG. "
            return rt
        self.expected_delta = _js_round(
            self.bgi + (self.target_bg - self.eventual_bg) / ((2 * 60) / 5), 1
        )
        self.rt = {
            "temp": "absolute",
            "bg": self.bg,
            "tick": self.tick,
            "eventualBG": self.eventual_bg,
            "insulinReq": 0.0,
            "deliverAt": self.now_ms,
            "sensitivityRatio": self.sensitivity_ratio,
        }
        self.predict()
        self.summarize()
        return self.dose()

    def cgm_problem(self) -> dict[str, Any] | None:
        """Bad, stale or flat CGM: cancel high temps, shorten long zero temps, stop."""
        bg, gs = self.bg, self.gs
        noise = _num(gs.noise)
        min_ago = _js_round((self.now_ms - _num(gs.date)) / 60 / 1000, 1)
        reason = None
        bad = bg <= 10 or bg == 38 or noise >= 3
        if bad:
            reason = "CGM is calibrating, in ??? state, or noise is high"
        too_flat = (
            bg > 60 and self.delta == 0 and -1 < self.short < 1 and -1 < self.long < 1
        ) and gs.device != "fakecgm"
        stale = min_ago > 12 or min_ago < -5
        if stale:
            reason = (
                f"If current system time {_date_text(self.now_ms)} is correct, then BG data "
                f"is too old. The last BG data was read {_js_str(min_ago)}m ago at "
                f"{_date_text(_num(gs.date))}"
            )
        elif too_flat:
            if _truthy(gs.last_cal) and _num(gs.last_cal) < 3:
                reason = "CGM was just calibrated"
            else:
                reason = (
                    f"CGM data is unchanged ({_js_str(bg)}+{_js_str(gs.delta)}) for 5m w/ "
                    f"{_js_str(gs.short_avgdelta)} mg/dL ~15m change & "
                    f"{_js_str(gs.long_avgdelta)} mg/dL ~45m change"
                )
        if not (bad or stale or too_flat):
            return None
        temp, basal = self.temp, self.basal
        rt: dict[str, Any] = {"reason": reason}
        if temp.rate > basal:
            rt["reason"] += (
                f". Replacing high temp basal of {_js_str(temp.rate)} with neutral temp of "
                f"{_js_str(basal)}"
            )
            rt.update(deliverAt=self.now_ms, temp="absolute", duration=30.0, rate=basal)
        elif temp.rate == 0 and temp.duration > 30:
            rt["reason"] += f". Shortening {_js_str(temp.duration)}m long zero temp to 30m. "
            rt.update(deliverAt=self.now_ms, temp="absolute", duration=30.0, rate=0.0)
        else:
            rt["reason"] += (
                f". Temp {_js_str(temp.rate)} <= current basal {_js_str(basal)}U/hr; "
                "doing nothing. "
            )
        return rt

    def set_targets(self) -> dict[str, Any] | None:
        """Target range, sensitivity ratio (temp targets or autosens), adjusted basal/ISF."""
        p = self.profile
        if p.min_bg is None or p.max_bg is None:
            return {"error": "Error: could not determine target_bg. "}
        min_bg, max_bg = p.min_bg, p.max_bg
        target = (min_bg + max_bg) / 2
        ratio: float | None = None
        high_raises = _truthy(p.exercise_mode) or _truthy(p.high_temptarget_raises_sensitivity)
        tt = _truthy(p.temptarget_set)
        half_basal = p.half_basal_exercise_target if _truthy(p.half_basal_exercise_target) else 160
        if (high_raises and tt and target > 100) or (
            _truthy(p.low_temptarget_lowers_sensitivity) and tt and target < 100
        ):
            c = _num(half_basal) - 100
            if c * (c + target - 100) <= 0.0:
                ratio = _num(p.autosens_max)
            else:
                ratio = c / (c + target - 100)
            ratio = _js_round(_js_min(ratio, _num(p.autosens_max)), 2)
        elif self.autosens is not None:
            ratio = self.autosens
        if _truthy(ratio):
            self.basal = round_basal(_num(p.current_basal) * _num(ratio), p.model)
        if not tt and self.autosens is not None:
            a = self.autosens
            if (_truthy(p.sensitivity_raises_target) and a < 1) or (
                _truthy(p.resistance_lowers_target) and a > 1
            ):
                min_bg = _js_round((min_bg - 60) / a) + 60
                max_bg = _js_round((max_bg - 60) / a) + 60
                target = _js_max(80, _js_round((target - 60) / a) + 60)
        if _num(self.gs.noise) >= 2:
            multiplier = _js_max(1.1, _num(p.noisy_cgm_target_multiplier))
            min_bg = _js_round(_js_min(200, min_bg * multiplier))
            target = _js_round(_js_min(200, target * multiplier))
            max_bg = _js_round(_js_min(200, max_bg * multiplier))
        self.min_bg, self.max_bg, self.target_bg = min_bg, max_bg, target
        self.threshold = min_bg - 0.5 * (min_bg - 40)
        self.sensitivity_ratio = ratio
        self.sens = _num(p.sens)
        if self.autosens is not None:
            self.sens = _js_round(_js_div(_num(p.sens), _num(ratio)), 1)
        return None

    def eventual_bg_from_iob(self) -> None:
        """Naive eventual BG (bolus-calculator maths) plus 30 min of deviation."""
        iob, sens = self.iob, self.sens
        self.bgi = _js_round(-iob.activity * sens * 5, 2)
        deviation = _js_round(30 / 5 * (self.min_delta - self.bgi))
        if deviation < 0:
            deviation = _js_round((30 / 5) * (self.min_avg_delta - self.bgi))
            if deviation < 0:
                deviation = _js_round((30 / 5) * (self.long - self.bgi))
        # Negative IOB: use the lower of adjusted and profile ISF, to be conservative.
        isf = sens if iob.iob > 0 else _js_min(sens, _num(self.profile.sens))
        self.naive_eventual_bg = _js_round(self.bg - iob.iob * isf)
        self.deviation = deviation
        self.eventual_bg = self.naive_eventual_bg + deviation

    def keep_or_set_basal(self) -> dict[str, Any]:
        """Keep a running temp equal to the scheduled basal, else set it for 30 min."""
        rt, temp, basal, model = self.rt, self.temp, self.basal, self.profile.model
        if temp.duration > 15 and round_basal(basal, model) == round_basal(temp.rate, model):
            rt["reason"] += f", temp {_js_str(temp.rate)} ~ req {_js_str(basal)}U/hr. "
            return rt
        rt["reason"] += f"; setting current basal of {_js_str(basal)} as temp. "
        return _set_temp_basal(basal, 30, self.profile, rt, temp)

    def dose(self) -> dict[str, Any]:
        """oref0's core dosing logic: the first matching case sets the temp."""
        rt, p, temp, bt = self.rt, self.profile, self.temp, self.bg_text
        rt["_minPredBG"], rt["_minGuardBG"] = self.min_pred, self.min_guard
        bg, threshold, min_delta, expected = (
            self.bg,
            self.threshold,
            self.min_delta,
            (self.expected_delta),
        )
        current_basal = _num(p.current_basal)
        if (
            bg < threshold
            and self.iob.iob < -current_basal * 20 / 60
            and min_delta > 0
            and min_delta > expected
        ):
            # IOB already very negative and BG rising faster than predicted: no suspend.
            rt["reason"] += (
                f"IOB {_js_str(self.iob.iob)} < {_js_str(_js_round(-current_basal * 20 / 60, 2))}"
                f" and minDelta {bt(min_delta)} > expectedDelta {bt(expected)}; "
            )
        elif bg < threshold or self.min_guard < threshold:
            rt["reason"] += f"minGuardBG {bt(self.min_guard)}<{bt(threshold)}"
            worst_case = _js_div(self.target_bg - self.min_guard, self.sens)
            duration = _js_round(_js_div(60 * worst_case, current_basal))
            duration = _js_min(120, _js_max(30, _js_round(duration / 30) * 30))
            return _set_temp_basal(0, duration, p, rt, temp)
        minute = int(self.now_ms // 60000 % 60)
        if _truthy(p.skip_neutral_temps) and minute >= 55:
            # Cancelling before the top of the hour avoids the pump's hourly beeps.
            rt["reason"] += f"; Canceling temp at {minute}m past the hour. "
            return _set_temp_basal(0, 0, p, rt, temp)
        if self.eventual_bg < self.min_bg:
            return self.low_temp()
        if min_delta < expected:
            if self.delta < min_delta:
                falling = f"Delta {bt(self.tick_value)}"
            else:
                falling = f"Min. Delta {_js_to_fixed(min_delta, 2)}"
            rt["reason"] += (
                f"Eventual BG {bt(self.eventual_bg)} > {bt(self.min_bg)} but {falling} < Exp. "
                f"Delta {bt(expected)}"
            )
            return self.keep_or_set_basal()
        if _js_min(self.eventual_bg, self.min_pred) < self.max_bg:
            rt["reason"] += f"{bt(self.eventual_bg)}-{bt(self.min_pred)} in range: no temp required"
            return self.keep_or_set_basal()
        if self.eventual_bg >= self.max_bg:
            rt["reason"] += f"Eventual BG {bt(self.eventual_bg)} >= {bt(self.max_bg)}, "
        max_iob = _num(p.max_iob)
        if self.iob.iob > max_iob:
            rt["reason"] += (
                f"IOB {_js_str(_js_round(self.iob.iob, 2))} > max_iob {_js_str(max_iob)}"
            )
            return self.keep_or_set_basal()
        return self.high_temp(max_iob)

    def low_temp(self) -> dict[str, Any]:
        """Eventual BG below min_bg: low temp, unless BG is rising faster than expected."""
        rt, p, temp, bt = self.rt, self.profile, self.temp, self.bg_text
        min_delta, expected, basal = self.min_delta, self.expected_delta, self.basal
        rt["reason"] += f"Eventual BG {bt(self.eventual_bg)} < {bt(self.min_bg)}"
        if min_delta > expected and min_delta > 0 and not _truthy(self.carbs_req):
            if self.naive_eventual_bg < 40:
                rt["reason"] += ", naive_eventualBG < 40. "
                return _set_temp_basal(0, 30, p, rt, temp)
            if self.delta > min_delta:
                rt["reason"] += f", but Delta {bt(self.tick_value)} > expectedDelta {bt(expected)}"
            else:
                rt["reason"] += (
                    f", but Min. Delta {_js_to_fixed(min_delta, 2)} > Exp. Delta {bt(expected)}"
                )
            return self.keep_or_set_basal()
        # Twice the insulin shortfall over 30 min, for faster hypo protection.
        insulin_req = _js_round(
            2 * _js_min(0, _js_div(self.eventual_bg - self.target_bg, self.sens)), 2
        )
        naive_req = _js_round(
            _js_min(0, _js_div(self.naive_eventual_bg - self.target_bg, self.sens)), 2
        )
        if min_delta < 0 and min_delta > expected:
            # Barely falling: scale the low temp down.
            insulin_req = _js_round(insulin_req * (min_delta / expected), 2)
        rate = round_basal(basal + 2 * insulin_req, p.model)
        scheduled = temp.duration * (temp.rate - basal) / 60
        if scheduled < _js_min(insulin_req, naive_req) - basal * 0.3:
            rt["reason"] += (
                f", {_js_str(temp.duration)}m@{_js_to_fixed(temp.rate, 2)} is a lot less than "
                "needed. "
            )
            return _set_temp_basal(rate, 30, p, rt, temp)
        if temp.duration > 5 and rate >= temp.rate * 0.8:
            rt["reason"] += f", temp {_js_str(temp.rate)} ~< req {_js_str(rate)}U/hr. "
            return rt
        if rate <= 0:
            # A zero temp long enough to bring naive eventual BG back to target.
            worst_case = _js_div(self.target_bg - self.naive_eventual_bg, self.sens)
            duration = _js_round(_js_div(60 * worst_case, _num(p.current_basal)))
            if duration < 0:
                duration = 0.0
            else:
                duration = _js_min(120, _js_max(0, _js_round(duration / 30) * 30))
            if duration > 0:
                rt["reason"] += f", setting {_js_str(duration)}m zero temp. "
                return _set_temp_basal(rate, duration, p, rt, temp)
        else:
            rt["reason"] += f", setting {_js_str(rate)}U/hr. "
        return _set_temp_basal(rate, 30, p, rt, temp)

    def high_temp(self, max_iob: float) -> dict[str, Any]:
        """Eventual BG above range: high temp towards target within max_iob and max basal."""
        rt, p, temp, basal = self.rt, self.profile, self.temp, self.basal
        insulin_req = _js_round(
            _js_div(_js_min(self.min_pred, self.eventual_bg) - self.target_bg, self.sens), 2
        )
        if insulin_req > max_iob - self.iob.iob:
            rt["reason"] += f"max_iob {_js_str(max_iob)}, "
            insulin_req = max_iob - self.iob.iob
        rate = round_basal(basal + 2 * insulin_req, p.model)
        insulin_req = _js_round(insulin_req, 3)
        rt["insulinReq"] = insulin_req
        max_safe = get_max_safe_basal(p)
        if rate > max_safe:
            rt["reason"] += (
                f"adj. req. rate: {_js_str(rate)} to maxSafeBasal: {_js_str(max_safe)}, "
            )
            rate = round_basal(max_safe, p.model)
        scheduled = temp.duration * (temp.rate - basal) / 60
        if scheduled >= insulin_req * 2:
            rt["reason"] += (
                f"{_js_str(temp.duration)}m@{_js_to_fixed(temp.rate, 2)} > 2 * insulinReq. "
                f"Setting temp basal of {_js_str(rate)}U/hr. "
            )
            return _set_temp_basal(rate, 30, p, rt, temp)
        if temp.duration == 0:
            rt["reason"] += f"no temp, setting {_js_str(rate)}U/hr. "
            return _set_temp_basal(rate, 30, p, rt, temp)
        if temp.duration > 5 and round_basal(rate, p.model) <= round_basal(temp.rate, p.model):
            rt["reason"] += f"temp {_js_str(temp.rate)} >~ req {_js_str(rate)}U/hr. "
            return rt
        rt["reason"] += f"temp {_js_str(temp.rate)}<{_js_str(rate)}U/hr. "
        return _set_temp_basal(rate, 30, p, rt, temp)
