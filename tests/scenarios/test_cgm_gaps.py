"""CGM series read onto their grid, filled per patient, and carried on with their variance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from healthtwin.assimilation.readings import reading_noise_sd
from healthtwin.core.inputs import Events, Inputs, Rate
from healthtwin.errors import InvalidInputError
from healthtwin.interop.fhir_bundle import bundle_to_patients, patients_to_bundle
from healthtwin.physiology.cgm import CGMSensor, cgm_params
from healthtwin.physiology.uva_padova import UvaPadova
from healthtwin.scenarios.cgm_gaps import (
    CgmSeries,
    FilledSeries,
    fill_series,
    filled_patients,
    read_cgm,
    read_cgm_csv,
    read_events_csv,
    read_filled_csv,
    reading_noise_sds,
    sync_filled,
    write_filled_csv,
)
from healthtwin.synthetic.virtual_population import VirtualPopulation

HEADER = "patient_id,t_min,glucose_mg_dl\n"


def _csv(tmp_path: Path, body: str, name: str = "cgm.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + body)
    return path


def test_the_grid_starts_at_the_first_row_and_absent_rows_are_gaps(tmp_path: Path) -> None:
    path = _csv(tmp_path, "b,100,150\nb,115,\nb,120,160\na,3,90\na,8,95\n")
    b, a = read_cgm_csv(path)
    assert (b.patient_id, a.patient_id) == ("b", "a")
    assert b.t_min.tolist() == [100.0, 105.0, 110.0, 115.0, 120.0]
    assert np.isnan(b.glucose_mg_dl[[1, 2, 3]]).all()
    assert b.glucose_mg_dl[[0, 4]].tolist() == [150.0, 160.0]
    assert a.t_min.tolist() == [3.0, 8.0]
    # A 3-minute sensor puts the same rows on another grid: 100 -> 115 is 5 steps.
    [b3] = read_cgm_csv(_csv(tmp_path, "b,100,150\nb,115,160\n", "three.csv"), step_min=3.0)
    assert b3.t_min.size == 6


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("a,0,120\na,7,125\n", r"line 3: patient a's row at t_min=7 is off the 5-min grid"),
        ("a,0,120\na,5,121\na,5,122\n", r"line 4: patient a has two rows at t_min=5; keep one"),
        ("a,0,120\na,5,-3\n", r"line 3 \(patient a\): glucose_mg_dl -3 is negative"),
        ("a,0,120\na,5,high\n", r"line 3, column glucose_mg_dl: 'high' is not a number"),
        ("a,0,120\na,5,121\nb,0,\nb,5,\n", r"patient b has no reading"),
        ("a,0,120\n", r"patient a has one grid time only"),
        ("", r"no rows"),
    ],
)
def test_bad_series_are_refused_naming_the_file_and_where(
    tmp_path: Path, body: str, message: str
) -> None:
    path = _csv(tmp_path, body)
    with pytest.raises(InvalidInputError, match=message) as err:
        read_cgm_csv(path)
    assert str(path) in str(err.value)


def test_a_missing_column_is_named(tmp_path: Path) -> None:
    path = tmp_path / "cgm.csv"
    path.write_text("patient,t_min,glucose\nx,0,1\n")
    with pytest.raises(InvalidInputError, match=r"missing column\(s\) \['patient_id'"):
        read_cgm_csv(path)


def _steady(n: int = 36, gap: slice = slice(12, 24)) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(n) * 5.0
    y = 120.0 + 6.0 * np.sin(t / 60.0)
    holed = y.copy()
    holed[gap] = np.nan
    return t, holed


def test_each_patient_is_filled_from_its_own_named_streams() -> None:
    t, y = _steady()
    a = CgmSeries("a", t, y)
    b = CgmSeries("b", t + 30.0, y[::-1].copy())
    alone = fill_series([a], members=6, seed=4)[0]
    both = fill_series([b, a], members=6, seed=4)
    assert np.array_equal(both[1].glucose_mg_dl, alone.glucose_mg_dl)  # common random numbers
    assert np.array_equal(both[1].variance_mg_dl2, alone.variance_mg_dl2)
    other_seed = fill_series([a], members=6, seed=5)[0]
    assert not np.array_equal(other_seed.glucose_mg_dl, alone.glucose_mg_dl)
    gap = np.isnan(y)
    assert np.array_equal(alone.imputed, gap)
    assert np.array_equal(alone.glucose_mg_dl[~gap], y[~gap])  # measured values untouched
    assert np.all(alone.variance_mg_dl2[~gap] == 0.0)
    assert np.all(alone.variance_mg_dl2[gap] > 0.0)
    assert np.all(alone.lower_mg_dl[gap] <= alone.glucose_mg_dl[gap])
    assert np.all(alone.glucose_mg_dl[gap] <= alone.upper_mg_dl[gap])


def _after_a_meal(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """A virtual patient's 5 hours with a 60 g meal and its bolus at 60 min: grid times,
    true sensor glucose and CGM readings, each ``(60,)``, and the bolus."""
    rng = np.random.default_rng(seed)
    [person] = VirtualPopulation().sample(np.array([75.0]), rng)
    bolus = 60.0 / person.carb_ratio_g_per_u
    at_60 = np.array([60.0])
    inputs = Inputs(
        rates={"insulin_u_per_min": Rate.constant(person.basal_u_per_min, 0.0)},
        events={"meal_g": Events(at_60, np.array([60.0])), "bolus_u": Events(at_60, [bolus])},
    )
    model = UvaPadova([person])
    state = model.initial_state(1, rng)
    _, _, record = model.run(state, 0.0, 300.0, inputs, record=True)
    vg = state.theta[0, UvaPadova.parameter_index("Vg")]
    glucose = np.concatenate([[state.x[0, 12]], record[0, :, 12]]) / vg
    grid = np.arange(0, 300, 5)
    readings = CGMSensor(cgm_params("guardian-rt")).measure(glucose[grid][None], rng)[0]
    return grid.astype(float), glucose[grid], readings, float(bolus)


def test_the_meals_and_insulin_given_shape_the_fill(tmp_path: Path) -> None:
    t, truth, readings, bolus = _after_a_meal(1)
    holed = readings.copy()
    holed[12:24] = np.nan  # the hour after the meal
    events_csv = tmp_path / "events.csv"
    events_csv.write_text(f"patient_id,t_min,carbs_g,bolus_u\na,60,60,{bolus!r}\n")
    events = read_events_csv(events_csv)
    assert events["a"].columns["bolus_u"].tolist() == [bolus]
    blind = fill_series([CgmSeries("a", t, holed)], members=12, seed=0)[0]
    told = fill_series([CgmSeries("a", t, holed)], events, members=12, seed=0)[0]

    def rmse(filled: FilledSeries) -> float:
        return float(np.sqrt(np.mean((filled.glucose_mg_dl[12:24] - truth[12:24]) ** 2)))

    # Measured (seed 1): 62.7 mg/dL without the meal, 1.6 with it.
    assert rmse(told) < 10.0 < 0.5 * rmse(blind)


def test_events_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("patient_id,t_min,carbs_g\na,5,-10\n")
    with pytest.raises(InvalidInputError, match="line 2: t_min must be given and amounts"):
        read_events_csv(path)
    path.write_text("patient_id,t_min,steps\na,5,10\n")
    with pytest.raises(InvalidInputError, match="no event column"):
        read_events_csv(path)


def _filled() -> FilledSeries:
    t, y = _steady(n=12, gap=slice(4, 8))
    return fill_series([CgmSeries("a", t, y)], members=4, seed=0)[0]


def test_the_csv_and_the_fhir_written_read_back_the_same(tmp_path: Path) -> None:
    filled = _filled()
    path = tmp_path / "filled.csv"
    assert write_filled_csv([filled], path) == filled.t_min.size
    [back] = read_filled_csv(path)
    for name in ("t_min", "glucose_mg_dl", "imputed", "variance_mg_dl2", "lower_mg_dl"):
        assert np.array_equal(getattr(back, name), getattr(filled, name))
    [data] = bundle_to_patients(patients_to_bundle(filled_patients([filled])))
    assert len(data.observations) == int((~filled.imputed).sum())
    imputed = data.imputed_observations
    assert [o.value for o in imputed] == filled.glucose_mg_dl[filled.imputed].tolist()
    variances = [o.imputation.variance for o in imputed if o.imputation is not None]
    assert variances == filled.variance_mg_dl2[filled.imputed].tolist()
    # Read as input again, the estimates are gaps once more.
    bundle = tmp_path / "filled.json"
    bundle.write_text(
        patients_to_bundle(filled_patients([filled])).model_dump_json(exclude_none=True)
    )
    [series] = read_cgm(bundle)
    assert np.array_equal(np.isnan(series.glucose_mg_dl), filled.imputed)
    assert series.t_min.tolist() == (filled.t_min - filled.t_min[0]).tolist()


def test_an_estimate_carries_its_variance_into_the_observation_error() -> None:
    filled = _filled()
    sds = reading_noise_sds(filled, 8.0)
    assert np.all(sds[~filled.imputed] == 8.0)
    expected = np.sqrt(64.0 + filled.variance_mg_dl2[filled.imputed])
    assert np.allclose(sds[filled.imputed], expected)
    assert np.all(sds[filled.imputed] > 8.0)
    with pytest.raises(InvalidInputError, match="variances >= 0"):
        reading_noise_sd(8.0, [-1.0])


def test_an_estimate_moves_the_twin_less_than_a_measurement_of_the_same_value() -> None:
    t = np.array([0.0, 5.0, 10.0])
    values = np.array([150.0, 150.0, 190.0])  # the last one above the twin
    common = {"t_min": t, "glucose_mg_dl": values, "lower_mg_dl": values, "level": 0.9}
    measured = FilledSeries(
        "a", imputed=np.zeros(3, dtype=bool), variance_mg_dl2=np.zeros(3),
        upper_mg_dl=values, **common,
    )  # fmt: skip
    estimate = FilledSeries(
        "a", imputed=np.array([False, False, True]), variance_mg_dl2=np.array([0.0, 0.0, 900.0]),
        upper_mg_dl=values + 50.0, **common,
    )  # fmt: skip
    as_measured = sync_filled(measured, members=16, seed=2)
    as_estimate = sync_filled(estimate, members=16, seed=2)
    before = as_measured.filtered[1, 0, 3]  # ensemble mean after the second reading
    assert as_estimate.filtered[1, 0, 3] == before  # same twin up to the estimate
    pull_measured = as_measured.filtered[2, 0, 3] - before
    pull_estimate = as_estimate.filtered[2, 0, 3] - before
    assert 0.0 < pull_estimate < 0.8 * pull_measured
