"""A patient's files read, checked and replayed into a twin (``patient sync``'s logic)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from healthtwin.errors import InvalidInputError
from healthtwin.physiology import UvaPadova, load_patient
from healthtwin.scenarios.patient_sync import (
    DRUG_MODELS,
    fluid_inputs,
    glucose_inputs,
    noise_sds,
    parameter_estimates,
    prepare_sync,
    read_columns,
    read_observations,
    twin_recipe,
)

GLUCOSE_OUTPUTS = tuple(UvaPadova([load_patient("adolescent#001")]).outputs)


def _file(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_columns_are_numbers_and_errors_name_line_and_column(tmp_path: Path) -> None:
    path = _file(tmp_path, "m.csv", "t_min,carbs_g\n0,30\n60,\n")
    cols = read_columns(path, ("t_min",), ("carbs_g", "absent"))
    assert sorted(cols) == ["carbs_g", "t_min"]
    assert np.isnan(cols["carbs_g"][1])
    with pytest.raises(InvalidInputError, match="missing column"):
        read_columns(path, ("t_min", "bolus_u"))
    bad = _file(tmp_path, "bad.csv", "t_min,carbs_g\n0,30\n5,lots\n")
    with pytest.raises(InvalidInputError, match="line 3, column carbs_g: 'lots'"):
        read_columns(bad, ("t_min", "carbs_g"))
    with pytest.raises(InvalidInputError, match="no file"):
        read_columns(tmp_path / "none.csv", ("t_min",))


def test_declared_mmol_per_litre_is_converted(tmp_path: Path) -> None:
    path = _file(tmp_path, "cgm.csv", "t_min,glucose_mmol_l\n0,5.5\n5,6.0\n")
    series, names = read_observations(path, GLUCOSE_OUTPUTS)
    assert names == ["glucose_mg_dl"]
    np.testing.assert_allclose(series.values[:, 0], [5.5 * 18.016, 6.0 * 18.016], rtol=1e-3)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("t_min,glucose_mg_dl,glucose_mmol_l\n0,100,5.5\n", "not both"),
        ("t_min,glucose_mg_dl\n0,5.5\n", "are not mg/dL"),
        ("t_min,ketones\n0,1\n", "not outputs of the model"),
        ("t_min\n0\n", "no reading column"),
        ("t_min,plasma_insulin_pmol_l\n0,-3\n", "negative readings"),
    ],
)
def test_bad_readings_are_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        read_observations(_file(tmp_path, "r.csv", text), GLUCOSE_OUTPUTS)


def test_insulin_files_give_rates_and_boluses(tmp_path: Path) -> None:
    meals = _file(tmp_path, "meals.csv", "t_min,carbs_g\n60,45\n")
    insulin = _file(tmp_path, "ins.csv", "t_min,insulin_u_per_min,bolus_u\n0,0.02,\n60,0.02,4\n")
    plan = glucose_inputs(meals, insulin, 0.01)
    assert sorted(plan.events) == ["bolus_u", "meal_g"]
    np.testing.assert_allclose(np.ravel(plan.events["bolus_u"].amounts), [0.0, 4.0])
    bolus_only = _file(tmp_path, "b.csv", "t_min,bolus_u\n30,2\n")
    assert "insulin_u_per_min" in glucose_inputs(None, bolus_only, 0.01).rates
    negative = _file(tmp_path, "neg.csv", "t_min,carbs_g\n0,-1\n")
    with pytest.raises(InvalidInputError, match="carbs_g must be numbers >= 0"):
        glucose_inputs(negative, None, 0.01)


def test_fluids_need_a_fluid_column(tmp_path: Path) -> None:
    fluids = _file(tmp_path, "f.csv", "t_min,fluid_bolus_ml\n10,250\n")
    assert sorted(fluid_inputs(fluids).events) == ["fluid_bolus_ml"]
    with pytest.raises(InvalidInputError, match="fluid_bolus_ml and/or"):
        fluid_inputs(_file(tmp_path, "g.csv", "t_min\n10\n"))


def test_each_twin_takes_its_own_inputs(tmp_path: Path) -> None:
    csv = _file(tmp_path, "x.csv", "t_min,carbs_g\n0,1\n")
    glucose = twin_recipe("uva-padova", "adult#001", None, None, None, None, None)
    assert set(glucose.estimable) == {"si", "egp"}
    circulation = twin_recipe("cvs-smith", "ignored", None, None, None, None, None)
    assert circulation.states == ()
    for args, message in [
        (("uva-padova", "adult#001", None, None, None, None, csv), "--fluids applies"),
        (("cvs-smith", "x", csv, None, None, None, None), "takes --fluids"),
        (("uva-padova", "adult#001", None, None, "age=50", None, None), "drug models only"),
        ((DRUG_MODELS[0], "x", None, None, None, None, None), "needs --dosing"),
        ((DRUG_MODELS[0], "x", csv, None, None, None, None), "uva-padova only"),
        (("hovorka", "x", None, None, None, None, None), "patient sync supports"),
    ]:
        with pytest.raises(InvalidInputError, match=message):
            twin_recipe(*args)


def test_drug_twins_estimate_their_non_zero_constants(tmp_path: Path) -> None:
    dosing = _file(tmp_path, "d.csv", "TIME,AMT,RATE,CMT,EVID,II,ADDL\n0,140,0,1,1,0,0\n")
    recipe = twin_recipe("pk-schnider", "x", None, None, None, dosing, None)
    assert {"v1_l", "k10", "ke0"} <= set(recipe.estimable)
    for low, high in [v[1:] for v in recipe.estimable.values()]:
        assert 0 < low < high
    reset = _file(
        tmp_path, "r.csv", "TIME,AMT,RATE,CMT,EVID,II,ADDL\n0,140,0,1,1,0,0\n9,0,0,1,3,0,0\n"
    )
    with pytest.raises(InvalidInputError, match="sync one part at a time"):
        twin_recipe("pk-schnider", "x", None, None, None, reset, None)


def test_noise_is_given_defaulted_or_asked_for() -> None:
    outputs = dict(UvaPadova([load_patient("adult#001")]).outputs)
    assert noise_sds(None, ["glucose_mg_dl"], 6.0, outputs) == [6.0]
    assert noise_sds("glucose_mg_dl=4", ["glucose_mg_dl"], 6.0, outputs) == [4.0]
    for text in ("glucose_mg_dl=0", "ketones=1", "glucose_mg_dl=x"):
        with pytest.raises(InvalidInputError, match="--noise takes"):
            noise_sds(text, ["glucose_mg_dl"], 6.0, outputs)


def test_a_short_sync_reports_every_reading_and_the_estimates(tmp_path: Path) -> None:
    times = np.arange(0, 65, 5)
    rows = "\n".join(f"{t},{120 + t / 5:.1f}" for t in times)
    cgm = _file(tmp_path, "cgm.csv", f"t_min,glucose_mg_dl\n{rows}\n")
    prepared = prepare_sync(cgm, patient="adult#001", sensor_sd=5.0)
    assert prepared.noise_sd == (5.0,)
    synced = prepared.run(["si"], members=8, horizons=[30.0], seed=3)
    assert synced.report.parameters.shape[:2] == (times.size, 1)
    estimates = parameter_estimates(synced)
    e = estimates["si"]
    assert e["p5"] <= e["p50"] <= e["p95"]
    assert 0.3 < e["p50"] / e["prior"] < 3.0
    again = prepare_sync(cgm, patient="adult#001", sensor_sd=5.0).run(
        ["si"], members=8, horizons=[30.0], seed=3
    )
    assert parameter_estimates(again) == estimates
