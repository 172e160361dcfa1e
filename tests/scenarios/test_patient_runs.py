"""Open-loop patient runs (``healthtwin patient simulate``'s logic), without the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from healthtwin.errors import InvalidInputError
from healthtwin.scenarios.patient_runs import (
    GLUCOSE_MODELS,
    MODEL_NAMES,
    cgm_sensor,
    glycaemic_summary,
    meals_for_run,
    parse_basal,
    parse_meals,
    prepare_model_run,
    simulate_glucose,
)


def test_meals_parse_clock_times_and_minutes() -> None:
    meals = parse_meals("07:00=45, 12:30=70.5,90=10")
    assert [(m.t_min, m.carbs_g) for m in meals] == [(420.0, 45.0), (750.0, 70.5), (90.0, 10.0)]
    assert parse_meals("  ") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [("7h=45", "malformed meal"), ("24:00=10", "not a clock time"), ("60=-5", "negative")],
)
def test_bad_meals_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_meals(text)


def test_the_default_day_keeps_the_meals_inside_the_run() -> None:
    assert [m.t_min for m in meals_for_run(None, 24.0)] == [420.0, 720.0, 1080.0]
    assert meals_for_run(None, 7.0) == []
    assert [m.carbs_g for m in meals_for_run("30=5", 0.1)] == [5.0]


def test_basal_is_steady_or_a_non_negative_rate() -> None:
    assert parse_basal(" Steady ") is None
    assert parse_basal("0.02") == 0.02
    for text in ("fast", "-0.1", "nan"):
        with pytest.raises(InvalidInputError, match="--basal"):
            parse_basal(text)


def test_a_meal_raises_glucose_and_cgm_noise_follows_the_seed() -> None:
    fasting = simulate_glucose("uva-padova", None, [], hours=3.0, basal_u_per_min=None)
    fed = simulate_glucose(
        "uva-padova", None, parse_meals("30=60"), hours=3.0, basal_u_per_min=None
    )
    assert fasting.glucose_mg_dl.shape == (1, 181)
    # At steady basal without food glucose stays put; 60 g raises it by tens of mg/dL.
    assert np.ptp(fasting.glucose_mg_dl) < 1.0
    assert fed.glucose_mg_dl.max() > fasting.glucose_mg_dl.max() + 30.0
    runs = [
        simulate_glucose(
            "uva-padova",
            None,
            [],
            hours=1.0,
            basal_u_per_min=None,
            cgm=cgm_sensor("dexcom"),
            seed=seed,
        )
        for seed in (1, 1, 2)
    ]
    readings = [np.asarray(r.cgm_mg_dl) for r in runs]
    np.testing.assert_array_equal(readings[0], readings[1])
    assert not np.array_equal(readings[0], readings[2])


def test_a_cohort_runs_one_row_per_patient() -> None:
    run = simulate_glucose("uva-padova", "all", [], hours=0.5, basal_u_per_min=None)
    assert len(run.names) == 30
    assert run.glucose_mg_dl.shape == (30, 31)


@pytest.mark.parametrize("model", [m for m in GLUCOSE_MODELS if m != "uva-padova"])
def test_other_glucose_models_have_only_the_nominal_subject(model: str) -> None:
    run = simulate_glucose(model, "nominal", parse_meals("10=30"), hours=1.0, basal_u_per_min=None)
    assert run.glucose_mg_dl.shape[0] == 1
    with pytest.raises(InvalidInputError, match="only 'nominal'"):
        simulate_glucose(model, "adult#001", [], hours=1.0, basal_u_per_min=None)
    with pytest.raises(InvalidInputError, match="carb ratio"):
        simulate_glucose(model, None, [], hours=1.0, basal_u_per_min=None, bolus_cr=True)


def test_the_matrix_exponential_is_for_drug_models_only() -> None:
    with pytest.raises(InvalidInputError, match="expm"):
        simulate_glucose("uva-padova", None, [], hours=1.0, basal_u_per_min=None, method="expm")


def test_glycaemic_summary_reads_time_in_ranges() -> None:
    glucose = np.vstack([np.full(24, 120.0), np.full(24, 60.0)])
    metrics = glycaemic_summary(glucose)
    np.testing.assert_allclose(metrics["tir_70_180"], [100.0, 0.0])
    np.testing.assert_allclose(metrics["tbr_70"], [0.0, 100.0])
    np.testing.assert_allclose(metrics["mean"], [120.0, 60.0])


def test_a_dosing_reset_restarts_the_drug_subject(tmp_path: Path) -> None:
    dosing = tmp_path / "dosing.csv"
    dosing.write_text("TIME,AMT,RATE,CMT,EVID,II,ADDL\n0,140,0,1,1,0,0\n30,0,0,1,3,0,0\n")
    run = prepare_model_run("pk-schnider", covariates="age=53,weight_kg=77,height_cm=177,sex=male",
                            dosing=dosing)  # fmt: skip
    assert [start for start, _ in run.parts][1:] == [30.0]
    trajectory = run.simulate(hours=1.0)
    plasma, t = trajectory.output("plasma_mg_l")[0], trajectory.t
    assert plasma[t == 29.0][0] > 0.1  # the bolus is still in the blood...
    assert plasma[t == 30.0][0] == pytest.approx(0.0, abs=1e-9)  # ...until the reset


def test_model_runs_check_their_options(tmp_path: Path) -> None:
    assert "inflammation" in MODEL_NAMES
    with pytest.raises(InvalidInputError, match="need a drug model"):
        prepare_model_run("inflammation", dosing=tmp_path / "d.csv")
    with pytest.raises(InvalidInputError, match="--scenario does not apply"):
        prepare_model_run("pk-schnider", scenario="health")
    with pytest.raises(InvalidInputError, match="no dosing file"):
        prepare_model_run("pk-schnider", dosing=tmp_path / "missing.csv")
    run = prepare_model_run("inflammation")
    with pytest.raises(InvalidInputError, match="only the patient 'nominal'"):
        run.simulate(hours=1.0, patient="adult#001")
    assert run.simulate(hours=2.0, dt_out=0.5).t.tolist() == [0.0, 0.5, 1.0, 1.5, 2.0]
