"""Closed-loop BIS control on a varied cohort, the PID's rules, and the metrics."""

from __future__ import annotations

import sys

import numpy as np
import numpy.linalg
import pytest
from tests.conftest import require

from healthtwin.control.anaesthesia_metrics import (
    bis_metrics,
    performance_errors,
    settling_time,
    time_in_band,
    undershoot,
)
from healthtwin.control.bis_loop import BisLoopResult, BisPid, PidState, pid_step, run_bis_loop
from healthtwin.control.tci import TciSettings, plan_tci
from healthtwin.core import Inputs, lognormal_spread, simulate
from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.physiology.pkpd import Covariates, PkPdModel, PkPdState, make_pkpd_model

PUMP = TciSettings("effect_site_mg_l", "infusion_mg_per_min", 1.0 / 6.0, max_rate=200.0)
MEMBERS = 10
# Young woman, the Schnider reference man, an elderly woman, a heavy man.
COHORT = [
    (25, 60, 165, "female"),
    (53, 77, 177, "male"),
    (75, 70, 160, "female"),
    (40, 110, 185, "male"),
]
PK_PD = ("v1_l", "k10", "k12", "k21", "k13", "k31", "ke0", "ec50")
CV = 0.3
DURATION_MIN = 60.0


def _cohort(rng: np.random.Generator) -> tuple[PkPdModel, PkPdState, PkPdState]:
    age, weight, height, sex = (np.repeat(column, MEMBERS) for column in zip(*COHORT, strict=True))
    covariates = Covariates(
        age_yr=age.astype(float),
        weight_kg=weight.astype(float),
        height_cm=height.astype(float),
        sex=list(sex),
    )
    model = make_pkpd_model("pk-schnider", covariates)
    pump_state = model.initial_state(covariates.n_members, rng)
    spread = {PkPdModel.parameter_index(name): CV for name in PK_PD}
    return model, lognormal_spread(pump_state, spread, rng), pump_state


@pytest.fixture(scope="module")
def cohort_run() -> tuple[BisLoopResult, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2024)
    model, patients, pump_state = _cohort(rng)
    run = run_bis_loop(model, patients, pump_state, DURATION_MIN, BisPid(), PUMP, rng, noise_sd=3.0)
    # The same patients under open-loop effect-site TCI at the nominal target for BIS 50.
    open_loop = plan_tci(model, pump_state, 0.0, DURATION_MIN, 4.3, PUMP, rng)
    _, course = simulate(
        model,
        patients,
        0.0,
        DURATION_MIN,
        PUMP.update_interval,
        Inputs(rates={PUMP.infusion_channel: open_loop.schedule}),
        rng,
    )
    return run, course.t, course.output("bis")


def test_closed_loop_holds_bis_in_band_across_a_varied_cohort(
    cohort_run: tuple[BisLoopResult, np.ndarray, np.ndarray],
) -> None:
    run, t_open, bis_open = cohort_run
    metrics = run.metrics
    maintenance = run.t >= 10.0
    in_band = time_in_band(run.t[maintenance], run.bis[:, maintenance])
    open_in_band = time_in_band(t_open[t_open >= 10.0], bis_open[:, t_open >= 10.0])
    # Liu et al. (2006) report 89 +/- 9 % of maintenance in 40-60 for their closed loop and
    # 70 +/- 21 % for manual TCI; here there is no surgical stimulation, so the loop does better.
    assert in_band.mean() >= 95.0
    assert in_band.mean() >= open_in_band.mean() + 15.0
    assert np.all(np.isfinite(metrics.settling_time))
    assert np.percentile(metrics.settling_time, 90) <= 10.0
    # Deep dips come only from induction in the most sensitive patients, and are bounded.
    assert np.median(metrics.undershoot) == 0.0
    assert metrics.undershoot.max() <= 20.0
    assert np.all(run.bis[:, maintenance] >= 35.0)
    assert np.median(metrics.errors.mdape) <= 5.0
    assert np.all((run.rate >= 0) & (run.rate <= PUMP.max_rate))
    assert np.all((run.target >= 1.0) & (run.target <= 8.0))


def test_integral_action_removes_the_offset_of_a_resistant_patient() -> None:
    rng = np.random.default_rng(0)
    model = make_pkpd_model("pk-schnider")
    pump_state = model.initial_state(1, rng)
    theta = np.array(pump_state.theta)
    theta[:, PkPdModel.parameter_index("ec50")] *= 1.4
    theta[:, PkPdModel.parameter_index("k10")] *= 1.3
    patient = PkPdState(pump_state.x, theta)
    run = run_bis_loop(model, patient, pump_state, 60.0, BisPid(), PUMP, rng)
    assert abs(run.bis[0, -1] - 50.0) < 0.5
    # The nominal target for BIS 50 is 4.3 mg/L; this patient needs more, and gets it.
    assert run.target[0, -1] > 5.5


def test_pid_rules() -> None:
    pid = BisPid(kp=0.05, ki=0.1, filter_time=0.0, induction_time=1.0)
    dt = 0.5
    state = PidState.start(np.array([95.0, 55.0, 45.0]))
    target, state = pid_step(pid, state, np.array([95.0, 55.0, 45.0]), dt)
    # Awake: open loop at C_0; in band: light raises the target, deep lowers it.
    assert target[0] == pid.initial_target
    np.testing.assert_allclose(target[1:], [3.5 + 0.05 * 5 + 0.1 * 2.5, 3.5 - 0.05 * 5 - 0.1 * 2.5])
    target, state = pid_step(pid, state, np.array([95.0, 55.0, 45.0]), dt)
    target, state = pid_step(pid, state, np.array([95.0, 55.0, 45.0]), dt)
    assert bool(state.engaged[0])  # engaged after the induction time, whatever the BIS
    # Anti-windup: at the limit the integral stops growing.
    saturated = PidState(np.array([99.0]), np.array([1000.0]), np.array([True]))
    target, after = pid_step(pid, saturated, np.array([99.0]), dt)
    assert target.tolist() == [pid.max_target]
    assert after.integral.tolist() == [1000.0]


def test_metrics_match_hand_computed_values() -> None:
    t = np.arange(7.0)
    bis = np.array([[97.0, 70.0, 55.0, 38.0, 45.0, 50.0, 52.0]])
    assert time_in_band(t, bis).tolist() == pytest.approx([50.0])
    assert undershoot(bis).tolist() == [2.0]
    assert settling_time(t, bis).tolist() == [4.0]
    errors = performance_errors(bis)
    pe = 100.0 * (bis[0] - 50.0) / 50.0
    assert errors.mdpe[0] == pytest.approx(np.median(pe))
    assert errors.mdape[0] == pytest.approx(np.median(np.abs(pe)))
    assert errors.wobble[0] == pytest.approx(np.median(np.abs(pe - np.median(pe))))


def test_metrics_match_python_anesthesia_simulator(
    cohort_run: tuple[BisLoopResult, np.ndarray, np.ndarray],
) -> None:
    # python-anesthesia-simulator 1.0.0 (GPL-3, a test-only oracle) computes Ionescu et al.'s
    # (2008) induction metrics: BIS_NADIR and ST20, the settling time into 40-60, in minutes
    # from seconds. Its package imports python-control, which needs numpy.linalg.linalg.
    sys.modules.setdefault("numpy.linalg.linalg", numpy.linalg)
    pas_metrics = require("python_anesthesia_simulator.metrics", "test")
    run = cohort_run[0]
    mine = bis_metrics(run.t, run.bis)
    for i in range(0, run.bis.shape[0], 7):
        ref = pas_metrics.compute_control_metrics(
            list(run.t * 60.0), list(run.bis[i]), phase="induction"
        )
        assert mine.nadir[i] == pytest.approx(float(ref["BIS_NADIR"].iloc[0]))
        assert mine.settling_time[i] == pytest.approx(float(ref["ST20"].iloc[0]), abs=1e-9)


def test_bad_arguments_are_rejected() -> None:
    rng = np.random.default_rng(0)
    model = make_pkpd_model("pk-schnider")
    one, two = model.initial_state(1, rng), model.initial_state(2, rng)
    with pytest.raises(InvalidInputError, match="one pump-model member per patient"):
        run_bis_loop(model, two, one, 5.0, BisPid(), PUMP, rng)
    with pytest.raises(InvalidParameterError, match="noise_sd must be >= 0"):
        run_bis_loop(model, one, one, 5.0, BisPid(), PUMP, rng, noise_sd=-1.0)
    with pytest.raises(InvalidParameterError, match="min_target <= initial_target"):
        BisPid(initial_target=9.0)
