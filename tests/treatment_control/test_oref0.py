"""Golden tests of the oref0 port against openaps/oref0's own test suite.

``DETERMINE_BASAL_CASES`` reproduces every active ``it(...)`` of oref0's
``tests/determine-basal.test.js`` (commit 5c56514, MIT licence) in file order: the same
oref0-shaped inputs, fed through ``from_oref0_json`` exactly as the JS test hands them to
``determine_basal`` (no profile defaults filled in), and the same assertions. The JS
suite mutates its shared ``profile`` in its last tests; the cases below spell out the
profile each one actually sees. ``test_iob_*`` reproduce the bolus cases of oref0's
``tests/iob.test.js``; the rest checks the curves against their formulas.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from healthtwin.control.oref0 import (
    CurrentTemp,
    GlucoseStatus,
    MealData,
    Oref0Result,
    Profile,
    determine_basal,
    get_max_safe_basal,
    round_basal,
)
from healthtwin.control.oref0_iob import IobData, insulin_activity, iob_from_doses
from healthtwin.errors import InvalidInputError, InvalidParameterError

# Standard initial conditions of determine-basal.test.js, unless a case overrides them.
GLUCOSE_STATUS = {"delta": 0, "glucose": 115, "long_avgdelta": 1.1, "short_avgdelta": 0}
CURRENT_TEMP = {"duration": 0, "rate": 0, "temp": "absolute"}
IOB_DATA = {"iob": 0, "activity": 0, "bolussnooze": 0}
AUTOSENS = {"ratio": 1.0}
PROFILE = {
    "max_iob": 2.5,
    "dia": 3,
    "type": "current",
    "current_basal": 0.9,
    "max_daily_basal": 1.3,
    "max_basal": 3.5,
    "max_bg": 120,
    "min_bg": 110,
    "sens": 40,
    "carb_ratio": 10,
}
MEAL_DATA = {
    "carbs": 50,
    "nsCarbs": 50,
    "bwCarbs": 0,
    "journalCarbs": 0,
    "mealCOB": 0,
    "currentDeviation": 0,
    "maxDeviation": 0,
    "minDeviation": 0,
    "slopeFromMaxDeviation": 0,
    "slopeFromMinDeviation": 0,
    "allDeviations": [0, 0, 0, 0, 0],
    "bwFound": False,
}
UNDEFINED = None  # a JS argument passed as `undefined`
# The JS tests mutate `profile` from the maxSafeBasal tests on; these are its states.
PROFILE_CBSM_1 = {**PROFILE, "current_basal_safety_multiplier": 1}
PROFILE_MDSM_1 = {**PROFILE, "current_basal_safety_multiplier": None}
PROFILE_MDSM_1["max_daily_safety_multiplier"] = 1
PROFILE_X10 = {
    **PROFILE,
    "max_basal": 5,
    "current_basal_safety_multiplier": 10,
    "max_daily_safety_multiplier": 10,
}


def gs(delta: float, glucose: float, long_avgdelta: float, short_avgdelta: float) -> dict[str, Any]:
    return {
        "delta": delta,
        "glucose": glucose,
        "long_avgdelta": long_avgdelta,
        "short_avgdelta": short_avgdelta,
    }


def temp(duration: float, rate: float) -> dict[str, Any]:
    return {"duration": duration, "rate": rate, "temp": "absolute"}


def iob(value: float, activity: float, bolussnooze: float, **extra: float) -> dict[str, Any]:
    return {"iob": value, "activity": activity, "bolussnooze": bolussnooze, **extra}


@dataclass(frozen=True)
class Case:
    """One ``it(...)``: inputs as oref0 dicts (None = undefined) and the JS assertions."""

    title: str
    glucose_status: dict[str, Any] | None = field(default_factory=lambda: GLUCOSE_STATUS)
    current_temp: dict[str, Any] | None = field(default_factory=lambda: CURRENT_TEMP)
    iob_data: dict[str, Any] | None = field(default_factory=lambda: IOB_DATA)
    profile: dict[str, Any] | None = field(default_factory=lambda: PROFILE)
    autosens: dict[str, Any] | None = field(default_factory=lambda: AUTOSENS)
    meal_data: dict[str, Any] = field(default_factory=lambda: MEAL_DATA)
    rate: float | None = None
    rate_above: float | None = None
    rate_below: float | None = None
    duration: float | None = None
    duration_above: float | None = None
    unchanged: bool = False  # (typeof output.rate).should.equal('undefined'), and duration
    rate_undefined: bool = False
    reason: str | None = None
    error: str | None = None


DETERMINE_BASAL_CASES = [
    # it('should cancel high temp when in range w/o IOB')
    Case("cancel high temp in range", current_temp=temp(30, 1.5), rate=0.9, duration=30),
    # it('should temp to 0 when low w/o IOB')
    Case("temp to 0 when low", glucose_status=gs(-5, 75, -5, -5), rate=0, duration_above=29),
    # it('should not extend temp to 0 when <10m elapsed')
    Case(
        "no extend zero temp <10m",
        current_temp=temp(57, 0),
        glucose_status=gs(-5, 75, -5, -5),
        unchanged=True,
    ),
    # it('should do nothing when low and rising w/o IOB')
    Case("low and rising", glucose_status=gs(6, 75, 6, 6), rate=0.9, duration=30),
    # it('should temp to zero when rising slower than BGI')
    Case(
        "rising slower than BGI",
        glucose_status=gs(1, 75, 1, 1),
        iob_data=iob(-0.5, -0.01, 0),
        rate=0,
        duration=30,
    ),
    # it('should temp to 0 when low and falling, regardless of BGI')
    Case(
        "low and falling",
        glucose_status=gs(-1, 75, -1, -1),
        iob_data=iob(1, 0.01, 0.5),
        rate=0,
        duration_above=29,
    ),
    # it('should high-temp when > 80-ish and rising w/ lots of negative IOB')
    Case(
        "high-temp >80 rising negative IOB",
        glucose_status=gs(5, 85, 5, 5),
        iob_data=iob(-1, -0.01, 0),
        rate_above=1,
        duration=30,
        reason=r"no temp, setting",
    ),
    # it('should high-temp when > 180-ish and rising but not more then maxSafeBasal')
    Case(
        "high-temp capped at maxSafeBasal",
        glucose_status=gs(5, 185, 5, 5),
        iob_data=iob(0, -0.01, 0),
        reason=r".*, adj. req. rate:.* to maxSafeBasal:.*, no temp, setting",
    ),
    # it('should reduce high-temp when schedule would be above max')
    Case(
        "reduce high-temp above max",
        glucose_status=gs(5, 145, 5, 5),
        current_temp=temp(160, 1.9),
        iob_data=iob(0, -0.01, 0),
        duration=30,
        reason=r".* > 2.*insulinReq. Setting temp.*",
    ),
    # it('should continue high-temp when required ~= temp running')
    Case(
        "continue high-temp",
        glucose_status=gs(5, 145, 5, 5),
        current_temp=temp(30, 3.5),
        iob_data=iob(0, -0.01, 0),
        unchanged=True,
        reason=r"Eventual BG .*>.*, temp .* >~ req ",
    ),
    # it('should set high-temp when required running temp is low')
    Case(
        "raise low running temp",
        glucose_status=gs(5, 145, 5, 5),
        current_temp=temp(30, 1.1),
        iob_data=iob(0, -0.01, 0),
        duration=30,
        reason=r"Eventual BG .*>.*, temp",
    ),
    # it('should stop high-temp when iob is near max_iob.')
    Case(
        "stop high-temp near max_iob",
        glucose_status=gs(5, 485, 5, 5),
        iob_data=iob(3.5, 0.05, 0),
        rate=0.9,
        duration=30,
        reason=r"IOB .* > max_iob .*",
    ),
    # it('should temp to 0 when LOW w/ positive IOB')
    Case(
        "LOW positive IOB",
        glucose_status=gs(0, 39, -1.1, 0),
        iob_data=iob(1, 0.01, 0.5),
        rate=0,
        duration_above=29,
    ),
    # it('should low temp when LOW w/ negative IOB')
    Case(
        "LOW negative IOB",
        glucose_status=gs(0, 39, -1.1, 0),
        iob_data=iob(-2.5, -0.03, 0),
        rate_below=0.8,
        duration_above=29,
    ),
    # it('should temp to 0 when LOW w/ no IOB')
    Case(
        "LOW no IOB",
        glucose_status=gs(0, 39, -1.1, 0),
        iob_data=iob(0, 0, 0),
        rate=0,
        duration_above=29,
    ),
    # it('should low-temp when eventualBG < min_bg')
    Case(
        "low-temp eventualBG < min_bg",
        glucose_status=gs(-3, 110, -1, -1),
        rate_below=0.8,
        duration_above=29,
        reason=r"Eventual BG .*< 110.*",
    ),
    # it('should low-temp when eventualBG < min_bg with delta > exp. delta') (first)
    Case(
        "low-temp delta > exp. delta 1",
        glucose_status=gs(-5, 115, -6, -6),
        iob_data=iob(2, 0.05, 0),
        rate_below=0.2,
        duration_above=29,
    ),
    # it('should low-temp when eventualBG < min_bg with delta > exp. delta') (second)
    Case(
        "low-temp delta > exp. delta 2",
        glucose_status=gs(-2, 156, -1.33, -1.33),
        iob_data=iob(3.51, 0.06, 0.08),
        rate_below=0.8,
        duration=30,
        reason=r"Eventual BG .*< 110.*setting .*",
    ),
    # it('should low-temp much less when eventualBG < min_bg with delta barely negative')
    Case(
        "low-temp barely negative",
        glucose_status=gs(-1, 115, -1, -1),
        iob_data=iob(2, 0.05, 0),
        rate_above=0.3,
        rate_below=0.8,
        duration=30,
        reason=r"Eventual BG .*< 110.*setting .*",
    ),
    # it('should cancel low-temp when lowish and avg.delta rising faster than BGI')
    Case(
        "cancel low-temp avg.delta rising",
        current_temp=temp(20, 0.5),
        glucose_status=gs(3, 85, 3, 3),
        iob_data=iob(-0.7, -0.01, 0),
        rate_above=0.8,
        duration=30,
    ),
    # it('should cancel low-temp when lowish and delta rising faster than BGI')
    Case(
        "cancel low-temp delta rising",
        current_temp=temp(20, 0.5),
        glucose_status=gs(3, 85, 3, 3),
        iob_data=iob(-0.7, -0.01, 0),
        rate_above=0.8,
        duration=30,
    ),
    # it('should set current basal as temp when lowish and delta rising faster than BGI')
    Case(
        "current basal lowish rising",
        current_temp=temp(0, 0.5),
        glucose_status=gs(3, 85, 3, 3),
        iob_data=iob(-0.7, -0.01, 0),
        rate=0.9,
        duration=30,
        reason=r"in range.*setting current basal",
    ),
    # it('should low-temp when low and rising slower than BGI')
    Case(
        "low-temp low rising slower than BGI",
        glucose_status=gs(1, 85, 1, 1),
        iob_data=iob(-0.5, -0.01, 0),
        rate_below=0.8,
        duration=30,
    ),
    # it('should high-temp when eventualBG > max_bg')
    Case(
        "high-temp eventualBG > max_bg",
        glucose_status=gs(3, 120, 0, 1),
        rate_above=1,
        duration=30,
        reason=r"Eventual BG .*>= 120",
    ),
    # it('should cancel high-temp when high and avg. delta falling faster than BGI')
    Case(
        "cancel high-temp avg. delta falling",
        current_temp=temp(20, 2),
        glucose_status=gs(-5, 175, -5, -5),
        iob_data=iob(1, 0.01, 0),
        rate=0.9,
        duration=30,
        reason=r"Eventual BG.*>.*but Min. Delta.*< Exp.*",
    ),
    # it('should cancel high-temp when high and delta falling faster than BGI')
    Case(
        "cancel high-temp delta falling",
        current_temp=temp(20, 2),
        glucose_status=gs(-5, 175, -4, -4),
        iob_data=iob(1, 0.01, 0),
        rate=0.9,
        duration=30,
        reason=r"Eventual BG.*>.*but.*Delta.*< Exp.*",
    ),
    # it('should do nothing when no temp and high and delta falling faster than BGI')
    Case(
        "no temp high delta falling",
        current_temp=temp(0, 0),
        glucose_status=gs(-5, 175, -4, -4),
        iob_data=iob(1, 0.01, 0),
        rate=0.9,
        duration=30,
        reason=r"Eventual BG.*>.*but.*Delta.*< Exp.*",
    ),
    # it('should high-temp when high and falling slower than BGI')
    Case(
        "high-temp high falling slower",
        glucose_status=gs(-1, 175, -1, -1),
        iob_data=iob(1, 0.01, 0),
        rate_above=1,
        duration=30,
        reason=r"no temp, setting",
    ),
    # it('should high-temp when high and falling slowly with low insulin activity')
    Case(
        "high-temp low insulin activity",
        glucose_status=gs(-1, 300, -1, -1),
        iob_data=iob(0.5, 0.005, 0),
        rate_above=2.5,
        duration=30,
        reason=r"no temp, setting",
    ),
    # it('should profile.current_basal be undefined return error')
    Case(
        "no profile",
        glucose_status=UNDEFINED,
        current_temp=UNDEFINED,
        iob_data=UNDEFINED,
        profile=UNDEFINED,
        autosens=UNDEFINED,
        error="Error: could not get current basal rate",
    ),
    # it('should let low-temp run when bg < 30 (Dexcom is in ???)')
    Case(
        "CGM ??? keeps low temp",
        current_temp=temp(30, 0),
        glucose_status={"glucose": 10},
        rate_undefined=True,
        reason=r"CGM is calibrating",
    ),
    # it('should cancel high-temp when bg < 30 (Dexcom is in ???)')
    Case(
        "CGM ??? cancels high temp",
        current_temp=temp(30, 2),
        glucose_status={"glucose": 10},
        rate_below=1,
        reason=r"Replacing high temp",
    ),
    # it('profile should contain min_bg,max_bg')
    Case(
        "no target",
        glucose_status={"glucose": 100},
        current_temp=UNDEFINED,
        iob_data=UNDEFINED,
        profile={"current_basal": 0.0},
        error="Error: could not determine target_bg. ",
    ),
    # it('iob_data should not be undefined')
    Case(
        "no iob_data",
        glucose_status={"glucose": 100},
        current_temp=UNDEFINED,
        iob_data=UNDEFINED,
        profile={"current_basal": 0.0, "max_bg": 100, "min_bg": 1100},
        error="Error: iob_data undefined. ",
    ),
    # it('should do nothing when requested temp already running with >15m left')
    # Its profile spells "max_bg " with a space, so oref0 returns the target_bg error;
    # the JS assertions (no rate, no duration) hold for that reason, not the titled one,
    # so the error is asserted here too.
    Case(
        "temp running >15m left",
        glucose_status=gs(-2, 121, -1.333, -1.333),
        iob_data=iob(3.983, 0.0255, 2.58, basaliob=0.384, netbasalinsulin=0.3, hightempinsulin=0.7),
        meal_data={"carbs": 65, "boluses": 4, "mealCOB": 65},
        current_temp=temp(29, 1.3),
        profile={
            "max_iob": 3,
            "type": "current",
            "dia": 3,
            "current_basal": 1.3,
            "max_daily_basal": 1.3,
            "max_basal": 3.5,
            "min_bg": 105,
            "max_bg ": 105,
            "sens": 40,
            "carb_ratio": 10,
        },
        unchanged=True,
        error="Error: could not determine target_bg. ",
    ),
    # it('should temp to zero with double sensitivity adjustment')
    Case(
        "double sensitivity",
        iob_data=iob(0.5, 0.001, 0.0, basaliob=0.5),
        autosens={"ratio": 0.5},
        rate=0,
        duration=30,
    ),
    # it('maxSafeBasal current_basal_safety_multiplier of 1 should cause the current rate
    #    to be set, even if higher is needed')
    Case(
        "current_basal_safety_multiplier 1",
        glucose_status=gs(5, 185, 5, 5),
        iob_data=iob(0, -0.01, 0),
        profile=PROFILE_CBSM_1,
        rate=0.9,
        reason=r".*, adj. req. rate:.* to maxSafeBasal:.*, no temp, setting",
    ),
    # it('maxSafeBasal max_daily_safety_multiplier of 1 should cause the max daily rate to
    #    be set, even if higher is needed')
    Case(
        "max_daily_safety_multiplier 1",
        glucose_status=gs(5, 185, 5, 5),
        iob_data=iob(0, -0.01, 0),
        profile=PROFILE_MDSM_1,
        rate=1.3,
        reason=r".*, adj. req. rate:.* to maxSafeBasal:.*, no temp, setting",
    ),
    # it('overriding maxSafeBasal multipliers to 10 should increase temp')
    Case(
        "multipliers 10",
        glucose_status=gs(5, 285, 5, 5),
        iob_data=iob(0, -0.01, 0),
        profile=PROFILE_X10,
        rate=5,
        reason=r".*, adj. req. rate:.* to maxSafeBasal:.*, no temp, setting",
    ),
    # it('should round appropriately for small basals when setting basal to maxSafeBasal ')
    Case(
        "small basal rounding",
        glucose_status=gs(5, 185, 5, 5),
        profile={
            "max_iob": 2.5,
            "dia": 3,
            "type": "current",
            "current_basal": 0.025,
            "max_daily_basal": 1.3,
            "max_basal": 0.05,
            "max_bg": 120,
            "min_bg": 110,
            "sens": 200,
            "model": "523",
        },
        current_temp=temp(0, 0),
        rate=0.05,
        duration=30,
        reason=r".*, adj. req. rate:.* to maxSafeBasal: 0.05, no temp, setting 0.05",
    ),
    # it('should match the basal rate precision available on a 523')
    Case(
        "523 precision",
        current_temp=temp(0, 0),
        profile={**PROFILE_X10, "current_basal": 0.825, "model": "523"},
        rate=0.825,
        duration=30,
        reason=r"in range.*",
    ),
    # it('should match the basal rate precision available on a 522')
    Case(
        "522 precision",
        current_temp=temp(0, 0),
        profile={**PROFILE_X10, "current_basal": 0.875, "model": "522"},
        rate=0.9,
        duration=30,
        reason=r"in range.*",
    ),
]


def run_case(case: Case) -> Oref0Result:
    """Call the port as the JS test calls determine_basal (undefined stays undefined)."""

    def build(cls: Any, data: dict[str, Any] | None) -> Any:
        return None if data is None else cls.from_oref0_json(data)

    profile = (
        None if case.profile is None else Profile.from_oref0_json(case.profile, fill_defaults=False)
    )
    return determine_basal(
        build(GlucoseStatus, case.glucose_status),
        build(CurrentTemp, case.current_temp),
        build(IobData, case.iob_data),
        profile,
        autosens_ratio=None if case.autosens is None else case.autosens["ratio"],
        meal_data=MealData.from_oref0_json(case.meal_data),
    )


@pytest.mark.parametrize("case", DETERMINE_BASAL_CASES, ids=lambda c: c.title)
def test_determine_basal_matches_oref0_test_suite(case: Case) -> None:
    out = run_case(case)
    assert out.error == case.error
    if case.unchanged:
        assert out.rate is None
        assert out.duration is None
    if case.rate_undefined:
        assert out.rate is None
    if case.rate is not None:
        assert out.rate == case.rate
    if case.rate_above is not None:
        assert out.rate is not None
        assert out.rate > case.rate_above
    if case.rate_below is not None:
        assert out.rate is not None
        assert out.rate < case.rate_below
    if case.duration is not None:
        assert out.duration == case.duration
    if case.duration_above is not None:
        assert out.duration is not None
        assert out.duration > case.duration_above
    if case.reason is not None:
        assert out.reason is not None
        assert re.search(case.reason, out.reason), out.reason


def test_the_typo_case_would_keep_the_running_temp_with_max_bg_spelt_right() -> None:
    # What 'should do nothing when requested temp already running' means to test.
    case = DETERMINE_BASAL_CASES[34]
    assert case.profile is not None
    fixed = {k.strip(): v for k, v in case.profile.items()}
    out = run_case(Case(**{**case.__dict__, "profile": fixed}))
    assert out.error is None
    assert out.rate is None
    assert out.duration is None
    assert out.reason is not None
    assert out.reason.endswith("~ req 1.3U/hr. ")


def test_strict_json_reports_the_typo_in_that_oref0_test() -> None:
    with pytest.raises(InvalidInputError, match="max_bg "):
        Profile.from_oref0_json({"min_bg": 105, "max_bg ": 105}, strict=True)


# describe('round_basal'): the pump-precision cases of determine-basal.test.js.
@pytest.mark.parametrize(
    ("basal", "model", "rounded"),
    [
        (0.025, None, 0.05),  # it('should round correctly without profile being passed in')
        (0.025, "522", 0.05),  # it('should round correctly with an old pump model')
        (0.025, "554", 0.025),  # it('should round correctly with a new pump model')
        (0.025, "HelloThisIsntAPumpModel", 0.05),  # it('... with an invalid pump model')
        (0.83, None, 0.85),  # it('should round basal rates properly (0.83 -> 0.85)')
        (0.86, None, 0.85),  # it('should round basal rates properly (0.86 -> 0.85)')
        (1.83, None, 1.85),  # it('should round basal rates properly (1.83 -> 1.85)')
        (1.86, None, 1.85),  # it('should round basal rates properly (1.86 -> 1.85)')
        (10.83, None, 10.8),  # it('should round basal rates properly (10.83 -> 10.8)')
        (10.86, None, 10.9),  # it('should round basal rates properly (10.86 -> 10.9)')
    ],
)
def test_round_basal_matches_oref0(basal: float, model: str | None, rounded: float) -> None:
    assert round_basal(basal, model) == rounded


def test_max_safe_basal_is_the_smallest_of_the_three_limits() -> None:
    profile = Profile(current_basal=0.5, max_daily_basal=1.0, max_basal=3.5)
    assert get_max_safe_basal(profile) == 2.0  # 4 x current basal
    assert get_max_safe_basal(Profile(current_basal=1, max_daily_basal=0.5, max_basal=3)) == 1.5


# --- behaviour beyond the JS suite ------------------------------------------------------


def _profile(**overrides: Any) -> Profile:
    return Profile.from_oref0_json({**PROFILE, **overrides})


def _ticks(n: int, iob: float, activity: float) -> list[IobData]:
    """An oref0-style IOB array: constant ticks, each with its zero-temp twin."""
    zero = IobData(iob=iob, activity=activity)
    return [IobData(iob=iob, activity=activity, iob_with_zero_temp=zero) for _ in range(n)]


def test_an_iob_array_produces_the_four_hour_prediction_curves() -> None:
    out = determine_basal(
        GlucoseStatus(glucose=150, delta=2, short_avgdelta=2, long_avgdelta=2),
        CurrentTemp(duration=0, rate=0),
        _ticks(48, iob=1.0, activity=0.01),
        _profile(enableUAM=True),
        meal_data=MealData(
            carbs=30,
            meal_cob=20,
            last_carb_time=0.0,
            slope_from_max_deviation=-1.0,
            slope_from_min_deviation=1.0,
        ),
        current_time=30 * 60000.0,
    )
    assert out.pred_bgs is not None
    assert set(out.pred_bgs) == {"IOB", "ZT", "COB", "UAM"}
    assert all(39 <= v <= 401 for curve in out.pred_bgs.values() for v in curve)
    assert out.pred_bgs["IOB"][0] == 150
    assert out.min_pred_bg is not None
    assert out.min_guard_bg is not None


def _decaying_ticks(n: int, iob: float, act: float, decay: float, zt_act: float) -> list[Any]:
    ticks = []
    for i in range(n):
        zero = {"iob": round(iob - 0.05 * i, 3), "activity": round(zt_act * 0.97**i, 4)}
        ticks.append({"iob": round(iob, 3), "activity": round(act, 4), "iobWithZeroTemp": zero})
        iob -= act * 5
        act *= decay
    return ticks


NOW_MS = 1_500_000_000_000
UAM_PROFILE = {**PROFILE, "enableUAM": True}


# Stored baselines for the prediction curves, which oref0's own tests never reach (they
# pass one IOB tick). Expected values come from running oref0's determine-basal.js
# (commit 69d76737) under Node 20 on these inputs with currentTime = NOW_MS.
@pytest.mark.parametrize(
    ("inputs", "expected", "curve_ends"),
    [
        (
            {
                "gs": gs(4, 160, 2, 3.5),
                "temp": temp(10, 1.5),
                "iob": _decaying_ticks(48, 1.2, 0.012, 0.98, 0.01),
                "ratio": 1.0,
                "meal": {
                    "carbs": 40,
                    "mealCOB": 30,
                    "lastCarbTime": NOW_MS - 45 * 60000,
                    "slopeFromMaxDeviation": -0.5,
                    "slopeFromMinDeviation": 1.5,
                },
            },
            (
                3.5,
                30,
                204,
                1.3,
                "COB: 30, Dev: 35, BGI: -2, ISF: 40, CR: 10, minPredBG 181, "
                "minGuardBG 152, IOBpredBG 119, COBpredBG 204, UAMpredBG 118; Eventual BG 204 "
                ">= 120, max_iob 2.5, temp 1.5<3.5U/hr. ",
            ),
            {"IOB": 119, "ZT": 109, "COB": 204, "UAM": 118},
        ),
        (
            {
                "gs": gs(-4, 95, -2, -3.5),
                "temp": temp(0, 0),
                "iob": _decaying_ticks(48, 2.0, 0.02, 0.99, 0.015),
                "ratio": 1.1,
                "meal": {
                    "carbs": 0,
                    "mealCOB": 0,
                    "slopeFromMaxDeviation": 0,
                    "slopeFromMinDeviation": 0,
                },
            },
            (
                0,
                120,
                23,
                0,
                "COB: 0, Dev: 1, BGI: -4, ISF: 36, CR: 10, minPredBG 25, "
                "minGuardBG -46, IOBpredBG 39; minGuardBG -46<75",
            ),
            {"IOB": 39, "ZT": 39},
        ),
        (
            {
                "gs": gs(6, 210, 4, 5),
                "temp": temp(25, 2.0),
                "iob": _decaying_ticks(48, 0.5, 0.004, 1.0, 0.003),
                "ratio": 0.9,
                "meal": {
                    "carbs": 0,
                    "mealCOB": 0,
                    "slopeFromMaxDeviation": 1,
                    "slopeFromMinDeviation": 0,
                },
            },
            (
                3.5,
                30,
                271,
                2,
                "COB: 0, Dev: 35, BGI: -1, ISF: 44, CR: 10, minPredBG 235, "
                "minGuardBG 215, IOBpredBG 201, UAMpredBG 271; Eventual BG 271 >= 120, max_iob "
                "2.5, adj. req. rate: 4.8 to maxSafeBasal: 3.5, temp 2<3.5U/hr. ",
            ),
            {"IOB": 201, "ZT": 193, "UAM": 271},
        ),
    ],
    ids=["cob-and-uam-high-temp", "zero-temp-guard-low-temp", "uam-high-temp-max-basal"],
)
def test_prediction_curves_match_stored_oref0_baselines(
    inputs: dict[str, Any], expected: tuple[Any, ...], curve_ends: dict[str, float]
) -> None:
    out = determine_basal(
        GlucoseStatus.from_oref0_json({**inputs["gs"], "date": NOW_MS - 60000}),
        CurrentTemp.from_oref0_json(inputs["temp"]),
        IobData.list_from_oref0_json(inputs["iob"]),
        Profile.from_oref0_json(UAM_PROFILE, fill_defaults=False),
        autosens_ratio=inputs["ratio"],
        meal_data=MealData.from_oref0_json(inputs["meal"]),
        current_time=NOW_MS,
    )
    assert (out.rate, out.duration, out.eventual_bg, out.insulin_req, out.reason) == expected
    assert out.pred_bgs is not None
    assert {name: curve[-1] for name, curve in out.pred_bgs.items()} == curve_ends


def test_one_tick_array_is_oref0s_missing_property_error() -> None:
    out = determine_basal(
        GlucoseStatus.from_oref0_json(GLUCOSE_STATUS),
        CurrentTemp(duration=0, rate=0),
        _ticks(1, 0.0, 0.0),
        _profile(),
    )
    assert out.error == "Error: iob_data missing some property. "


def test_stale_cgm_data_only_cancels_high_temps() -> None:
    out = determine_basal(
        GlucoseStatus(glucose=180, delta=3, short_avgdelta=3, long_avgdelta=3, date=0.0),
        CurrentTemp(duration=20, rate=3.0),
        IobData(iob=0, activity=0),
        _profile(),
        current_time=20 * 60000.0,
    )
    assert (out.rate, out.duration) == (0.9, 30)
    assert out.reason is not None
    assert "BG data is too old" in out.reason


def test_mmol_profiles_print_mmol() -> None:
    out = run_case(Case("mmol", profile={**PROFILE, "out_units": "mmol/L"}))
    assert out.target_bg == "6.4"
    assert out.isf == "2.2"


def test_result_round_trips_to_oref0_json() -> None:
    out = run_case(DETERMINE_BASAL_CASES[0])
    data = out.to_oref0_json()
    assert data["rate"] == 0.9
    assert data["duration"] == 30
    assert data["temp"] == "absolute"
    assert "min_pred_bg" not in data
    assert "reason" in data


def test_inputs_round_trip_through_oref0_json() -> None:
    profile = Profile.from_oref0_json(PROFILE)
    assert Profile.from_oref0_json(profile.to_oref0_json()) == profile
    tick = IobData.from_oref0_json(
        {"iob": 1, "activity": 0.01, "iobWithZeroTemp": {"iob": 1, "activity": 0.02}}
    )
    assert IobData.from_oref0_json(tick.to_oref0_json()) == tick


def test_unported_smb_raises_instead_of_being_ignored() -> None:
    case = DETERMINE_BASAL_CASES[0]
    with pytest.raises(InvalidInputError, match="SMB"):
        determine_basal(
            GlucoseStatus.from_oref0_json(GLUCOSE_STATUS),
            CurrentTemp.from_oref0_json(CURRENT_TEMP),
            IobData.from_oref0_json(IOB_DATA),
            Profile.from_oref0_json(case.profile or {}),
            micro_bolus_allowed=True,
        )


@pytest.mark.parametrize(
    ("build", "error"),
    [
        (lambda: CurrentTemp(duration=30, rate=1, temp="percent"), InvalidInputError),
        (lambda: GlucoseStatus.from_oref0_json({"delta": 1}), InvalidInputError),
        (lambda: GlucoseStatus.from_oref0_json({"glucose": "high"}), InvalidInputError),
        (lambda: Profile(sens=0), InvalidParameterError),
        (lambda: IobData(iob=math.nan, activity=0), InvalidInputError),
        (lambda: insulin_activity(10, 1, curve="NPH"), InvalidParameterError),
        (lambda: insulin_activity(-5, 1), InvalidParameterError),
        (lambda: insulin_activity(5, 1, curve="bilinear", peak_min=60), InvalidParameterError),
    ],
)
def test_bad_inputs_raise_with_a_message(build: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        build()


def test_bad_autosens_ratio_raises() -> None:
    with pytest.raises(InvalidParameterError, match="autosens_ratio"):
        run_case(Case("bad autosens", autosens={"ratio": 0}))


def test_a_profile_without_max_basal_raises_instead_of_leaving_temps_uncapped() -> None:
    no_cap = {k: v for k, v in PROFILE.items() if k != "max_basal"}
    with pytest.raises(InvalidInputError, match="max_basal"):
        run_case(Case("uncapped", glucose_status=gs(5, 285, 5, 5), profile=no_cap))


def test_missing_current_temp_raises_where_oref0_would_crash() -> None:
    with pytest.raises(InvalidInputError, match="current_temp"):
        run_case(Case("no temp", current_temp=UNDEFINED))


# --- insulin on board: tests/iob.test.js (bolus cases) ------------------------------------


def _iob_at(minutes: float, dose: float, **kwargs: Any) -> IobData:
    return iob_from_doses([0.0], [dose], minutes, **kwargs)


def test_iob_bilinear() -> None:
    # it('should calculate IOB'): no curve in the profile means bilinear, DIA 3 h.
    assert _iob_at(0, 2, curve="bilinear", dia_h=3).iob == 2
    hour = _iob_at(60, 2, curve="bilinear", dia_h=3)
    assert 0 < hour.iob < 1.45
    assert 0.01 < hour.activity < 0.02
    assert _iob_at(180, 2, curve="bilinear", dia_h=3).iob == 0


@pytest.mark.parametrize(
    ("title", "dose", "dia", "peak", "iob_range", "activity_range"),
    [
        # it('should calculate IOB with Ultra-fast curve')
        ("ultra-rapid", 2, 5, None, (1.3, 1.6), (0.006, 0.015)),
        # it('should calculate IOB with Ultra-fast peak setting of 55') (not custom: 55)
        ("ultra-rapid 55", 1, 5, None, (0, 0.75), (0.0065, 0.008)),
        # it('should calculate IOB with Ultra-fast curve peak setting of 65')
        ("ultra-rapid 65", 1, 5, 65, (0.72, 0.77), (0.0055, 0.007)),
        # it('should calculate IOB with Ultra-rapid curve peak setting of 75')
        ("ultra-rapid 75", 1, 5, 75, (0.76, 0.81), (0.0047, 0.007)),
        # it('should calculate IOB with Ultra-rapid curve peak setting of 44 and DIA = 6')
        ("ultra-rapid 44 dia 6", 1, 6, 44, (0.57, 0.59), (0.007, 0.0085)),
    ],
)
def test_iob_ultra_rapid(
    title: str,
    dose: float,
    dia: float,
    peak: float | None,
    iob_range: tuple[float, float],
    activity_range: tuple[float, float],
) -> None:
    kwargs = {"curve": "ultra-rapid", "dia_h": dia, "peak_min": peak}
    assert _iob_at(0, dose, **kwargs).iob == dose
    hour = _iob_at(60, dose, **kwargs)
    assert iob_range[0] < hour.iob < iob_range[1]
    assert activity_range[0] < hour.activity < activity_range[1]
    assert _iob_at(dia * 60, dose, **kwargs).iob == 0


def test_iob_rapid_acting() -> None:
    # it('should calculate IOB with Rapid-acting')
    assert _iob_at(0, 1, curve="rapid-acting", dia_h=5).iob == 1
    assert 0 < _iob_at(60, 1, curve="rapid-acting", dia_h=5).iob < 0.8
    assert _iob_at(300, 1, curve="rapid-acting", dia_h=5).iob == 0


def test_iob_rapid_acting_forces_five_hour_dia() -> None:
    # it('should force minimum 5 hour DIA with Rapid-acting')
    assert _iob_at(240, 1, dia_h=5).iob == _iob_at(240, 1, dia_h=3).iob


# --- insulin curves against their formulas ------------------------------------------------


def test_bilinear_curve_by_hand() -> None:
    # DIA 4 h stretches time by 3/4: 100 min is 75 scaled minutes, the activity peak.
    iob, act = insulin_activity([0, 40, 100, 200, 240], 2.0, curve="bilinear", dia_h=4)
    peak = 2 / (4 * 60)
    x1 = 40 * 0.75 / 5 + 1
    x2 = (200 * 0.75 - 75) / 5
    np.testing.assert_allclose(
        act, [0, 2 * peak / 75 * 30, 2 * peak, 2 * (peak - peak / 105 * 75), 0]
    )
    np.testing.assert_allclose(
        iob,
        [
            2.0,
            2 * (-0.001852 * x1**2 + 0.001852 * x1 + 1),
            2 * 0.55556,
            2 * (0.001323 * x2**2 - 0.054233 * x2 + 0.55556),
            0,
        ],
    )


@pytest.mark.parametrize(("curve", "peak"), [("rapid-acting", 75.0), ("ultra-rapid", 55.0)])
def test_exponential_curve_shape(curve: str, peak: float) -> None:
    t = np.arange(0.0, 300.0, 0.25)
    iob, act = insulin_activity(t, 1.0, curve=curve, dia_h=5)
    # Activity peaks at the peak time and integrates to the dose; IOB falls by activity.
    assert abs(t[np.argmax(act)] - peak) <= 0.25
    assert abs(np.trapezoid(act, t) - 1.0) < 1e-3
    np.testing.assert_allclose(-np.gradient(iob, t)[4:-4], act[4:-4], atol=1e-6)
    assert iob[0] == 1.0
    assert np.all(np.diff(iob) <= 1e-12)


def test_custom_peaks_are_clamped_as_oref0_does() -> None:
    high = insulin_activity(90, 1, curve="rapid-acting", peak_min=200, dia_h=6)
    capped = insulin_activity(90, 1, curve="rapid-acting", peak_min=120, dia_h=6)
    np.testing.assert_array_equal(high, capped)
    low = insulin_activity(90, 1, curve="ultra-rapid", peak_min=10)
    floored = insulin_activity(90, 1, curve="ultra-rapid", peak_min=35)
    np.testing.assert_array_equal(low, floored)


def test_iob_from_doses_splits_basal_and_bolus_and_ignores_future_and_old_doses() -> None:
    out = iob_from_doses([0, 10, 20, 400, -400], [2.0, 0.05, -0.05, 1.0, 1.0], 30.0)
    bolus, _ = insulin_activity(30, 2.0)
    basal, _ = insulin_activity([20, 10], [0.05, -0.05])
    assert out.bolusiob == round(float(bolus), 3)
    assert out.basaliob == pytest.approx(float(basal.sum()), abs=1e-3)
    assert out.bolusiob is not None
    assert out.basaliob is not None
    assert out.iob == pytest.approx(out.bolusiob + out.basaliob, abs=2e-3)
    assert out.bolusinsulin == 2.0
    assert out.netbasalinsulin == 0.0


def test_vectorized_curve_matches_one_dose_at_a_time() -> None:
    minutes = np.array([0.0, 17.0, 75.0, 133.0, 299.0])
    doses = np.array([1.0, 0.5, -0.1, 2.0, 3.0])
    iob, act = insulin_activity(minutes, doses, curve="ultra-rapid", dia_h=5)
    for i, (m, d) in enumerate(zip(minutes, doses, strict=True)):
        one_iob, one_act = insulin_activity(m, d, curve="ultra-rapid", dia_h=5)
        assert iob[i] == one_iob
        assert act[i] == one_act
