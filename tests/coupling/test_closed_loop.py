"""The closed-loop harness: what controllers see, common random numbers, the MPC's twin."""

from __future__ import annotations

import numpy as np
import pytest

from healthtwin.control.basal_bolus import BasalBolus
from healthtwin.control.glucose import InsulinDecision, Reading, TherapySettings
from healthtwin.control.zone_mpc import ZoneMPC
from healthtwin.coupling.closed_loop import (
    make_controller,
    run_closed_loop,
    therapy_settings,
    uva_padova_twin_factory,
)
from healthtwin.coupling.glucose_scenarios import scenario
from healthtwin.errors import InvalidParameterError, UnknownModelError
from healthtwin.physiology import UvaPadova
from healthtwin.physiology.patients import load_patient, load_patients

PATIENTS = ("adolescent#003", "adult#004", "child#005")


class Spy(BasalBolus):
    """Basal-bolus that keeps every reading it was shown."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Reading] = []

    def decide(self, reading: Reading) -> InsulinDecision:
        self.seen.append(reading)
        return super().decide(reading)


def test_controllers_see_only_cgm_and_announced_meals() -> None:
    rows = load_patients(list(PATIENTS))
    spy = Spy()
    run = run_closed_loop(spy, rows, scenario("snacks"), days=1)
    assert len(spy.seen) == run.t_min.size == 288  # every 5 min (Guardian RT)
    cgm = np.stack([r.cgm_mg_dl for r in spy.seen], axis=1)
    np.testing.assert_array_equal(cgm, run.cgm_mg_dl)
    assert np.abs(cgm - run.bg_mg_dl).mean() > 1.0  # sensor noise and lag, not the truth
    announced = np.stack([r.announced_carbs_g for r in spy.seen], axis=1)
    assert announced.sum() < run.eaten_g.sum()  # snacks were eaten unannounced
    assert set(vars(spy.seen[0])) == {"t_min", "cgm_mg_dl", "announced_carbs_g"}


def test_every_controller_faces_the_same_days() -> None:
    rows = load_patients(list(PATIENTS[:2]))
    a = run_closed_loop("basal-bolus", rows, scenario("carb-errors"), days=1, seeds=(3, 4))
    b = run_closed_loop("pid", rows, scenario("carb-errors"), days=1, seeds=(3, 4))
    np.testing.assert_array_equal(a.eaten_g, b.eaten_g)
    assert a.patients == b.patients == tuple(p for p in PATIENTS[:2] for _ in range(2))
    assert a.seeds == (3, 4, 3, 4)
    again = run_closed_loop("basal-bolus", rows, scenario("carb-errors"), days=1, seeds=(3, 4))
    np.testing.assert_array_equal(a.bg_mg_dl, again.bg_mg_dl)  # reproducible


def test_exercise_raises_insulin_sensitivity_in_the_afternoon() -> None:
    rows = load_patients(["adult#004"])
    calm = run_closed_loop("basal-bolus", rows, scenario("announced"), days=1)
    active = run_closed_loop("basal-bolus", rows, scenario("exercise"), days=1)
    before = calm.t_min < 16 * 60
    np.testing.assert_allclose(active.bg_mg_dl[:, before], calm.bg_mg_dl[:, before])
    window = (calm.t_min >= 17 * 60) & (calm.t_min < 22 * 60)
    assert active.bg_mg_dl[:, window].mean() < calm.bg_mg_dl[:, window].mean() - 5.0


def test_the_twin_forecasts_what_the_model_would_do() -> None:
    rows = load_patients(["adult#004"])
    settings = therapy_settings(rows)
    twin = uva_padova_twin_factory(rows, members=4)(settings, 0.0)
    basal = settings.basal_u_per_min
    rates = basal[:, None] * np.array([[0.0, 1.0, 3.0]])
    glucose = twin.forecast(rates, 30.0, basal, 120.0, 10.0)
    assert glucose.shape == (1, 3, 4, 12)
    # more insulin, lower glucose, member by member
    assert np.all(glucose[0, 0, :, -1] > glucose[0, 1, :, -1])
    assert np.all(glucose[0, 1, :, -1] > glucose[0, 2, :, -1])
    # at basal a twin without parameter uncertainty stays at its steady state
    exact = uva_padova_twin_factory(rows, members=4, prior_cv=1e-9)
    flat = exact(settings, 0.0).forecast(rates, 30.0, basal, 120.0, 10.0)
    model = UvaPadova(rows)
    steady = float(model.observe(model.initial_state(1, np.random.default_rng(0)))[0, 0])
    np.testing.assert_allclose(flat[0, 1], steady, rtol=1e-6)


def test_the_mpc_controls_a_small_cohort_safely() -> None:
    rows = load_patients(list(PATIENTS))
    mpc = run_closed_loop("mpc", rows, scenario("snacks"), days=1).metrics()
    bb = run_closed_loop("basal-bolus", rows, scenario("snacks"), days=1).metrics()
    assert mpc.tir_70_180.mean() > bb.tir_70_180.mean()
    assert np.all(mpc.tbr_54 == 0.0)


def test_unknown_names_are_refused() -> None:
    with pytest.raises(UnknownModelError, match="valid controllers"):
        make_controller("bang-bang", load_patients(["adult#001"]))
    with pytest.raises(UnknownModelError, match="valid scenarios"):
        scenario("holiday")
    with pytest.raises(TypeError):
        TherapySettings(np.array([0.02]))  # type: ignore[call-arg]


def test_the_periodic_zone_moves_between_day_and_night_bounds() -> None:
    mpc = ZoneMPC(
        uva_padova_twin_factory([load_patient("adult#001")]),
        zone_mg_dl=(80.0, 140.0),
        night_zone_mg_dl=(110.0, 220.0),
    )
    hours = np.array([0.0, 3.0, 5.0, 6.0, 7.0, 12.0, 22.0, 23.0, 24.0, 27.0])
    lo, hi = mpc.zone_at(hours * 60.0)
    np.testing.assert_allclose(lo, [110, 110, 110, 95, 80, 80, 80, 95, 110, 110])
    np.testing.assert_allclose(hi, [220, 220, 220, 180, 140, 140, 140, 180, 220, 220])
    fixed = ZoneMPC(uva_padova_twin_factory([load_patient("adult#001")]), night_zone_mg_dl=None)
    assert fixed.zone_at(hours * 60.0)[0].tolist() == [90.0] * hours.size
    with pytest.raises(InvalidParameterError, match="night zone"):
        ZoneMPC(uva_padova_twin_factory([]), night_zone_mg_dl=(150.0, 100.0))
