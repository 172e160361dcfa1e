"""The inputs and result of oref0 ``determine-basal``, and their oref0 JSON forms.

Each class is a frozen dataclass whose fields map to the keys of one of oref0's JSON
files (``glucose_status``, ``temp_basal.json``, ``meal.json``, ``profile.json`` and the
returned ``rT``); ``from_oref0_json`` and ``to_oref0_json`` convert, and a field left
None is a key oref0 would see as ``undefined``. :mod:`healthtwin.control.oref0` re-exports
them all.

Attribution: field names and defaults follow openaps/oref0 (``lib/profile/index.js``,
``lib/determine-basal/determine-basal.js``), MIT licence; see
:mod:`healthtwin.control.oref0_iob` for its notice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from healthtwin.control.oref0_iob import _from_json, _key, _meta, _to_json, _validate
from healthtwin.errors import InvalidInputError, InvalidParameterError

__all__ = ["CurrentTemp", "GlucoseStatus", "MealData", "Oref0Result", "Profile"]

_MISSING = dataclasses.MISSING


@dataclass(frozen=True)
class GlucoseStatus:
    """Latest CGM glucose and its trends (oref0 ``glucose_status``), mg/dL and mg/dL/5 min.

    Attributes
    ----------
    glucose
        ``glucose``: latest BG.
    delta, short_avgdelta, long_avgdelta
        Same keys: change over 5 min, and average 5-min change over ~15 and ~45 min.
    date
        ``date``: time of the reading, ms since the Unix epoch (None: not checked).
    noise
        ``noise``: CGM noise level (>= 2 raises targets, >= 3 stops looping).
    last_cal
        ``last_cal``: readings since last calibration. device: ``device``.
    """

    glucose: float = _key("glucose", default=_MISSING)
    delta: float | None = _key("delta")
    short_avgdelta: float | None = _key("short_avgdelta")
    long_avgdelta: float | None = _key("long_avgdelta")
    date: float | None = _key("date")
    noise: float | None = _key("noise")
    last_cal: float | None = _key("last_cal")
    device: str | None = _key("device", "str")

    def __post_init__(self) -> None:
        _validate(self)

    @classmethod
    def from_oref0_json(cls, data: Mapping[str, Any], *, strict: bool = False) -> GlucoseStatus:
        """Build from oref0's ``glucose_status`` object; ``strict`` rejects unknown keys."""
        return _from_json(cls, data, strict=strict)  # type: ignore[no-any-return]

    def to_oref0_json(self) -> dict[str, Any]:
        """The oref0-shaped object (absent values left out)."""
        return _to_json(self)


@dataclass(frozen=True)
class CurrentTemp:
    """The temp basal running now (oref0 ``currenttemp``).

    Attributes
    ----------
    duration
        ``duration``: minutes left (0: none running).
    rate
        ``rate``: U/h.
    temp
        ``temp``: only ``"absolute"`` temps exist in oref0.
    """

    duration: float = _key("duration", default=_MISSING)
    rate: float = _key("rate", default=_MISSING)
    temp: str = _key("temp", "str", "absolute")

    def __post_init__(self) -> None:
        _validate(self)
        if self.temp != "absolute":
            raise InvalidInputError(
                f"CurrentTemp.temp must be 'absolute' (oref0 sets absolute temps only), "
                f"got {self.temp!r}; convert percent temps to U/h first"
            )

    @classmethod
    def from_oref0_json(cls, data: Mapping[str, Any], *, strict: bool = False) -> CurrentTemp:
        """Build from oref0's ``temp_basal.json``."""
        return _from_json(cls, data, strict=strict)  # type: ignore[no-any-return]

    def to_oref0_json(self) -> dict[str, Any]:
        """The oref0-shaped object."""
        return _to_json(self)


@dataclass(frozen=True)
class MealData:
    """Carbs and deviations from oref0's ``meal.json`` (None: key absent, as in oref0).

    Attributes
    ----------
    carbs
        ``carbs``: carbs entered in the carb window, g.
    meal_cob
        ``mealCOB``: carbs on board, g.
    last_carb_time
        ``lastCarbTime``: ms since the Unix epoch.
    slope_from_max_deviation, slope_from_min_deviation
        ``slopeFromMaxDeviation``, ``slopeFromMinDeviation``: mg/dL/5 min per 5 min
        (drive the UAM curve).
    reason
        ``reason``: ``"Could not parse clock data"`` suppresses carbsReq.
    ns_carbs, bw_carbs, journal_carbs, current_deviation, max_deviation, min_deviation,
    bw_found, boluses
        ``nsCarbs``, ``bwCarbs``, ``journalCarbs``, ``currentDeviation``,
        ``maxDeviation``, ``minDeviation``, ``bwFound``, ``boluses``: carried, not read.
    """

    carbs: float | None = _key("carbs")
    meal_cob: float | None = _key("mealCOB")
    last_carb_time: float | None = _key("lastCarbTime")
    slope_from_max_deviation: float | None = _key("slopeFromMaxDeviation")
    slope_from_min_deviation: float | None = _key("slopeFromMinDeviation")
    reason: str | None = _key("reason", "str")
    ns_carbs: float | None = _key("nsCarbs")
    bw_carbs: float | None = _key("bwCarbs")
    journal_carbs: float | None = _key("journalCarbs")
    current_deviation: float | None = _key("currentDeviation")
    max_deviation: float | None = _key("maxDeviation")
    min_deviation: float | None = _key("minDeviation")
    bw_found: bool | None = _key("bwFound", "bool")
    boluses: float | None = _key("boluses")

    def __post_init__(self) -> None:
        _validate(self)

    @classmethod
    def from_oref0_json(cls, data: Mapping[str, Any], *, strict: bool = False) -> MealData:
        """Build from oref0's ``meal.json`` (``allDeviations`` is ignored unless strict)."""
        return _from_json(  # type: ignore[no-any-return]
            cls, {k: v for k, v in data.items() if strict or k != "allDeviations"}, strict=strict
        )

    def to_oref0_json(self) -> dict[str, Any]:
        """The oref0-shaped object (absent values left out)."""
        return _to_json(self)


@dataclass(frozen=True)
class Profile:
    """The settings ``determine-basal`` reads from oref0's ``profile.json``.

    Defaults are those of oref0's ``lib/profile/index.js``; None means the key is absent,
    which oref0 treats as ``undefined``. Units: mg/dL, U, U/h, g, hours, minutes.

    Attributes
    ----------
    current_basal, max_basal, max_daily_basal
        Same keys: scheduled basal now, the user's max temp, the highest scheduled basal.
    max_iob
        ``max_iob``: most IOB a high temp may build (default 0: no high temps).
    min_bg, max_bg
        Same keys: target range; the target is their mean. target_bg: ``target_bg``,
        carried but not read (this oref0 version ignores it).
    sens, carb_ratio
        ``sens`` (ISF, mg/dL/U) and ``carb_ratio`` (g/U).
    dia, type, model, out_units
        ``dia`` (carried), ``type``, pump ``model`` (``...23``/``...54`` pumps deliver
        0.025 U/h steps) and ``out_units`` (``"mmol/L"`` converts reasons).
    max_daily_safety_multiplier, current_basal_safety_multiplier
        Same keys: the 3x and 4x of the max safe basal.
    skip_neutral_temps
        ``skip_neutral_temps``: cancel instead of setting temps equal to the schedule.
    temptarget_set, exercise_mode, high_temptarget_raises_sensitivity,
    low_temptarget_lowers_sensitivity, half_basal_exercise_target, autosens_max
        ``temptargetSet`` and same-named keys: temp targets scale sensitivity.
    sensitivity_raises_target, resistance_lowers_target
        Same keys: autosens moves the target.
    noisy_cgm_target_multiplier
        ``noisyCGMTargetMultiplier``: target raise for noisy CGM.
    remaining_carbs_cap, remaining_carbs_fraction, enable_uam
        ``remainingCarbsCap``, ``remainingCarbsFraction``, ``enableUAM``: COB and UAM
        predictions.
    carbs_req_threshold, max_delta_bg_threshold
        ``carbsReqThreshold`` (g) and ``maxDelta_bg_threshold`` (fraction of BG).
    curve, use_custom_peak_time, insulin_peak_time
        ``curve``, ``useCustomPeakTime``, ``insulinPeakTime``: for IOB, carried here.
    """

    current_basal: float | None = _key("current_basal")
    max_basal: float | None = _key("max_basal")
    max_daily_basal: float | None = _key("max_daily_basal")
    max_iob: float | None = _key("max_iob", default=0.0)
    min_bg: float | None = _key("min_bg")
    max_bg: float | None = _key("max_bg")
    target_bg: float | None = _key("target_bg")
    sens: float | None = _key("sens")
    carb_ratio: float | None = _key("carb_ratio")
    dia: float | None = _key("dia")
    type: str | None = _key("type", "str")
    model: str | None = _key("model", "str")
    out_units: str | None = _key("out_units", "str")
    max_daily_safety_multiplier: float | None = _key("max_daily_safety_multiplier", default=3.0)
    current_basal_safety_multiplier: float | None = _key(
        "current_basal_safety_multiplier", default=4.0
    )
    skip_neutral_temps: bool | None = _key("skip_neutral_temps", "bool", False)
    temptarget_set: bool | None = _key("temptargetSet", "bool")
    exercise_mode: bool | None = _key("exercise_mode", "bool", False)
    high_temptarget_raises_sensitivity: bool | None = _key(
        "high_temptarget_raises_sensitivity", "bool", False
    )
    low_temptarget_lowers_sensitivity: bool | None = _key(
        "low_temptarget_lowers_sensitivity", "bool", False
    )
    half_basal_exercise_target: float | None = _key("half_basal_exercise_target", default=160.0)
    autosens_max: float | None = _key("autosens_max", default=1.2)
    sensitivity_raises_target: bool | None = _key("sensitivity_raises_target", "bool", True)
    resistance_lowers_target: bool | None = _key("resistance_lowers_target", "bool", False)
    noisy_cgm_target_multiplier: float | None = _key("noisyCGMTargetMultiplier", default=1.3)
    remaining_carbs_cap: float | None = _key("remainingCarbsCap", default=90.0)
    remaining_carbs_fraction: float | None = _key("remainingCarbsFraction", default=1.0)
    enable_uam: bool | None = _key("enableUAM", "bool", True)
    carbs_req_threshold: float | None = _key("carbsReqThreshold", default=1.0)
    max_delta_bg_threshold: float | None = _key("maxDelta_bg_threshold")
    curve: str | None = _key("curve", "str", "rapid-acting")
    use_custom_peak_time: bool | None = _key("useCustomPeakTime", "bool", False)
    insulin_peak_time: float | None = _key("insulinPeakTime", default=75.0)

    def __post_init__(self) -> None:
        _validate(self)
        for name in ("sens", "carb_ratio"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise InvalidParameterError(
                    f"Profile.{name} must be positive, got {value}; fix the profile"
                )

    @classmethod
    def from_oref0_json(
        cls, data: Mapping[str, Any], *, fill_defaults: bool = True, strict: bool = False
    ) -> Profile:
        """Build from an oref0 profile.

        Parameters
        ----------
        data
            The oref0 ``profile.json`` object.
        fill_defaults
            Fill absent keys with oref0's defaults (as ``oref0-get-profile`` does); False
            leaves them absent, as when oref0's tests call ``determine_basal`` directly.
        strict
            Reject keys that are not fields (catches typos such as ``"max_bg "``).

        Examples
        --------
        >>> Profile.from_oref0_json({"current_basal": 1}).max_daily_safety_multiplier
        3.0
        >>> Profile.from_oref0_json({"current_basal": 1}, fill_defaults=False).max_iob is None
        True
        """
        return _from_json(  # type: ignore[no-any-return]
            cls, data, strict=strict, fill_defaults=fill_defaults
        )

    def to_oref0_json(self) -> dict[str, Any]:
        """The oref0-shaped profile (absent values left out)."""
        return _to_json(self)


@dataclass(frozen=True)
class Oref0Result:
    """What ``determine-basal`` returns (oref0's ``rT``, "requested temp").

    ``rate`` and ``duration`` are None when no change is requested (keep the running
    temp); ``duration`` 0 cancels the temp. Fields are None where oref0 leaves the key
    out, e.g. everything but ``error`` when the inputs were unusable.

    Attributes
    ----------
    rate, duration, reason, error
        Same keys: U/h, minutes, oref0's explanation, an error message.
    temp, bg, tick, eventual_bg, insulin_req, sensitivity_ratio, carbs_req
        ``temp``, ``bg``, ``tick`` (delta as oref0 prints it), ``eventualBG``,
        ``insulinReq``, ``sensitivityRatio``, ``carbsReq``.
    deliver_at
        ``deliverAt``: ms since the Unix epoch (oref0 writes a date).
    pred_bgs
        ``predBGs``: predicted BG every 5 min, keyed ``"IOB"``, ``"ZT"``, ``"COB"``,
        ``"UAM"``.
    cob, iob, bgi, deviation, isf, cr, target_bg
        ``COB``, ``IOB``, ``BGI``, ``deviation``, ``ISF``, ``CR``, ``target_bg``; BG
        values are strings when the profile's ``out_units`` is mmol/L.
    min_pred_bg, min_guard_bg
        The minima behind the decision (printed in the reason; not keys of ``rT``).
    """

    rate: float | None = _key("rate")
    duration: float | None = _key("duration")
    reason: str | None = _key("reason", "str")
    error: str | None = _key("error", "str")
    temp: str | None = _key("temp", "str")
    bg: float | None = _key("bg")
    tick: str | None = _key("tick", "str")
    eventual_bg: float | None = _key("eventualBG")
    insulin_req: float | None = _key("insulinReq")
    sensitivity_ratio: float | None = _key("sensitivityRatio")
    carbs_req: float | None = _key("carbsReq")
    deliver_at: float | None = _key("deliverAt")
    pred_bgs: dict[str, list[float]] | None = field(default=None, metadata=_meta("predBGs", "pred"))
    cob: float | None = _key("COB")
    iob: float | None = _key("IOB")
    bgi: float | str | None = _key("BGI", "bg")
    deviation: float | str | None = _key("deviation", "bg")
    isf: float | str | None = _key("ISF", "bg")
    cr: float | None = _key("CR")
    target_bg: float | str | None = _key("target_bg", "bg")
    min_pred_bg: float | None = _key(None)
    min_guard_bg: float | None = _key(None)

    def to_oref0_json(self) -> dict[str, Any]:
        """The oref0-shaped ``rT`` (absent values left out)."""
        return _to_json(self)


# oref0 key of rT -> Oref0Result field; the two minima are printed, not returned, by oref0.
_RESULT_KEYS: Mapping[str, str] = {
    **{f.metadata["oref0"]: f.name for f in dataclasses.fields(Oref0Result) if f.metadata["oref0"]},
    "_minPredBG": "min_pred_bg",
    "_minGuardBG": "min_guard_bg",
}


def _result_from_rt(rt: Mapping[str, Any]) -> Oref0Result:
    kwargs = {_RESULT_KEYS[k]: v for k, v in rt.items() if k in _RESULT_KEYS and v is not None}
    return Oref0Result(**kwargs)
