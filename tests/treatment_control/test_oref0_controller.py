"""The oref0 closed loop: its rig inputs, its temps, and its safety on virtual patients."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from healthtwin.control.glucose import GlucoseController, InsulinDecision, Reading, TherapySettings
from healthtwin.control.oref0_controller import Oref0Loop
from healthtwin.control.oref0_inputs import glucose_status, iob_array
from healthtwin.control.oref0_iob import iob_from_doses
from healthtwin.control.oref0_types import Oref0Result
from healthtwin.coupling.closed_loop import make_controller, run_closed_loop
from healthtwin.coupling.glucose_scenarios import scenario
from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.physiology.patients import load_patients

BASAL_U_PER_H = 1.0
SETTINGS = TherapySettings(
    np.array([BASAL_U_PER_H / 60]), np.array([10.0]), np.array([40.0]), np.array([40.0])
)
MAX_SAFE_U_PER_H = 3.0  # min(max_basal 4 x basal, 3 x max daily basal, 4 x basal)


def drive(
    loop: Oref0Loop, cgm: Sequence[float], carbs: dict[int, float] | None = None
) -> list[InsulinDecision]:
    """Feed CGM every 5 min to a loop on SETTINGS, delivering exactly what it asks."""
    loop.start(SETTINGS, 0.0)
    decisions = []
    for k, value in enumerate(cgm):
        meal = (carbs or {}).get(k, 0.0)
        decision = loop.decide(Reading(5.0 * k, np.array([value]), np.array([meal])))
        loop.record(5.0 * k, decision)
        decisions.append(decision)
    return decisions


def rate_u_per_h(decision: InsulinDecision) -> float:
    return float(decision.basal_u_per_min[0] * 60)


def latest(loop: Oref0Loop) -> Oref0Result:
    """The loop's last determine_basal result for its one patient."""
    result = loop.last_results[0]
    assert result is not None
    return result


def test_it_is_a_glucose_controller_registered_as_oref0() -> None:
    assert isinstance(Oref0Loop(), GlucoseController)
    assert Oref0Loop.name == "oref0"
    assert isinstance(make_controller("oref0", []), Oref0Loop)


def test_flat_cgm_at_target_delivers_the_scheduled_basal() -> None:
    rates = [rate_u_per_h(d) for d in drive(Oref0Loop(), [110.0] * 24)]
    assert rates == pytest.approx([BASAL_U_PER_H] * 24)


def test_cgm_wobbling_in_range_delivers_the_scheduled_basal() -> None:
    loop = Oref0Loop()
    decisions = drive(loop, [110.0 + (k % 2) for k in range(24)])
    assert [rate_u_per_h(d) for d in decisions[-12:]] == pytest.approx([BASAL_U_PER_H] * 12)
    result = latest(loop)
    assert result.reason is not None
    assert "in range" in result.reason


def test_falling_low_cgm_gives_a_zero_temp() -> None:
    loop = Oref0Loop()
    decisions = drive(loop, [130.0 - 5 * k for k in range(12)])  # down to 75 mg/dL
    rates = [rate_u_per_h(d) for d in decisions]
    assert rates[-4:] == [0.0] * 4
    result = latest(loop)
    assert result.min_guard_bg is not None
    assert result.min_guard_bg < 70  # below oref0's threshold for min_bg 100


def test_high_rising_cgm_gives_a_high_temp_capped_at_the_max_safe_basal() -> None:
    decisions = drive(Oref0Loop(), [180.0 + 5 * k for k in range(12)])
    rates = [rate_u_per_h(d) for d in decisions]
    assert rates[-1] == pytest.approx(MAX_SAFE_U_PER_H)
    assert max(rates) <= MAX_SAFE_U_PER_H + 1e-12


def test_max_iob_stops_high_temps_once_reached() -> None:
    loop = Oref0Loop()
    decisions = drive(loop, [250.0 + 2 * k for k in range(40)])
    result = latest(loop)
    assert result.iob is not None
    assert result.iob <= 3 * BASAL_U_PER_H + 0.3  # max_iob, plus what one interval adds
    assert rate_u_per_h(decisions[-1]) < MAX_SAFE_U_PER_H


def test_a_temp_runs_until_replaced_and_keep_means_keep() -> None:
    loop = Oref0Loop()
    decisions = drive(loop, [180.0 + 5 * k for k in range(8)])
    assert rate_u_per_h(decisions[-1]) == pytest.approx(MAX_SAFE_U_PER_H)
    kept = loop.decide(Reading(40.0, np.array([220.0]), np.array([0.0])))
    result = latest(loop)
    assert (result.rate, result.duration) == (None, None)
    assert result.reason is not None
    assert "temp 3 >~ req 3U/hr" in result.reason
    assert rate_u_per_h(kept) == pytest.approx(MAX_SAFE_U_PER_H)


def test_a_high_temp_is_replaced_by_the_basal_when_cgm_freezes() -> None:
    loop = Oref0Loop()
    drive(loop, [180.0 + 5 * k for k in range(8)])
    for k in range(8, 18):  # a stuck sensor: oref0 stops trusting it
        frozen = loop.decide(Reading(5.0 * k, np.array([215.0]), np.array([0.0])))
        loop.record(5.0 * k, frozen)
    assert rate_u_per_h(frozen) == pytest.approx(BASAL_U_PER_H)


def test_missing_cgm_is_stale_data_and_cancels_the_high_temp() -> None:
    loop = Oref0Loop()
    drive(loop, [180.0 + 5 * k for k in range(8)])
    for k in range(8, 12):  # 20 minutes without a reading
        decision = loop.decide(Reading(5.0 * k, np.array([np.nan]), np.array([0.0])))
        loop.record(5.0 * k, decision)
    reason = latest(loop).reason
    assert reason is not None
    assert "too old" in reason
    assert rate_u_per_h(decision) == pytest.approx(BASAL_U_PER_H)
    for k in range(12, 22):
        decision = loop.decide(Reading(5.0 * k, np.array([np.nan]), np.array([0.0])))
    assert latest(loop).error is not None
    assert rate_u_per_h(decision) == pytest.approx(BASAL_U_PER_H)


def test_announced_carbs_get_a_wizard_bolus_and_count_as_cob_and_iob() -> None:
    loop = Oref0Loop()
    decisions = drive(loop, [110.0 + (k % 2) for k in range(6)], carbs={3: 50.0})
    assert float(decisions[3].bolus_u[0]) == pytest.approx(5.0)
    result = latest(loop)
    assert result.cob is not None
    assert result.iob is not None
    assert 30 < result.cob <= 50
    assert 4.0 < result.iob <= 5.0


def test_glucose_status_follows_glucose_get_last() -> None:
    times = np.arange(0.0, 46.0, 5.0)
    gs = glucose_status(times, 100 + 2 * times)
    assert (gs.glucose, gs.delta, gs.short_avgdelta, gs.long_avgdelta) == (190, 10, 10, 10)
    # A reading within 2.5 min of the newest is averaged into "now".
    gs = glucose_status([0.0, 5.0, 9.0, 10.0], [100.0, 110.0, 118.0, 120.0])
    assert gs.glucose == 119.0
    assert gs.date == pytest.approx(9.5 * 60000)
    assert glucose_status([0.0], [120.0]).delta == 0.0


def test_one_minute_sensors_still_give_five_minute_deltas() -> None:
    loop = Oref0Loop()
    loop.start(SETTINGS, 0.0)
    for t in range(41):
        loop.decide(Reading(float(t), np.array([150.0 + t]), np.array([0.0])))
    result = latest(loop)
    assert result.tick == "+5"
    assert result.bg == 190.0


def test_iob_array_ticks_match_oref0_iob_totals() -> None:
    rng = np.random.default_rng(1)
    times = np.sort(rng.uniform(-400, 0, 80))
    doses = rng.uniform(-0.1, 0.3, 80)
    ticks = iob_array(times, doses, 0.0, basal_u_per_h=1.2)
    zero_times = np.concatenate([times, 1 + 5 * np.arange(48)])
    zero_doses = np.concatenate([doses, np.full(48, -0.1)])
    for i in (0, 5, 20, 47):
        expected = iob_from_doses(times, doses, 5.0 * i)
        assert (ticks[i].iob, ticks[i].activity) == (expected.iob, expected.activity)
        with_zero = iob_from_doses(zero_times, zero_doses, 5.0 * i)
        zt = ticks[i].iob_with_zero_temp
        assert zt is not None
        assert (zt.iob, zt.activity) == (with_zero.iob, with_zero.activity)


@pytest.mark.parametrize(
    ("build", "error"),
    [
        (lambda: Oref0Loop(min_bg_mg_dl=130, max_bg_mg_dl=120), InvalidParameterError),
        (lambda: Oref0Loop(max_iob_basal_hours=-1), InvalidParameterError),
        (lambda: Oref0Loop(max_basal_multiple=0.5), InvalidParameterError),
        (
            lambda: Oref0Loop().decide(Reading(0.0, np.array([100.0]), np.array([0.0]))),
            InvalidInputError,
        ),
        (lambda: glucose_status([], []), InvalidInputError),
        (lambda: iob_array([0.0], [1.0, 2.0], 0.0, basal_u_per_h=1.0), InvalidParameterError),
    ],
)
def test_bad_inputs_raise(build: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        build()  # type: ignore[operator]


def test_closed_loop_day_is_safe_and_in_range() -> None:
    patients = load_patients(["adolescent#001", "adult#001", "child#001"])
    day = scenario("snacks")
    oref0 = run_closed_loop(Oref0Loop(), patients, day).metrics()
    manual = run_closed_loop("basal-bolus", patients, day).metrics()
    # Measured: oref0 TIR 100/100/73 %, TBR<70 0/0/0 %; basal-bolus 100/86/69 %, 0/0/10 %.
    assert np.all(oref0.tbr_70 < 4.0)
    assert np.all(oref0.tbr_54 < 1.0)
    assert oref0.tir_70_180.mean() > 85.0
    assert oref0.tir_70_180.mean() >= manual.tir_70_180.mean() - 2.0
    assert oref0.tbr_70.mean() <= manual.tbr_70.mean() + 1.0
