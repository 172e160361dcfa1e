"""``synth fill-gaps`` then ``patient sync --data filled.csv``: estimates weigh by their variance.

A two-hour CGM series of one virtual patient (UVA/Padova, a meal with its bolus at 20 min)
with a 30-minute gap after the meal is filled by its twin; ``patient sync`` assimilates
the filled file, marks the imputed readings and gives each the sensor's error widened by
its variance, so an estimate moves the twin less than the same value read as a
measurement.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from healthtwin.cli import main
from healthtwin.cli.output import ProgressTask
from healthtwin.physiology import Meal, UvaPadova, load_patient, meal_plan_inputs

GAP = range(10, 16)  # grid rows 50-75 min
SENSOR_SD = 8.0
MEAL_AT, MEAL_G = 20, 50


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One patient's (``p1``) filled CSV from ``synth fill-gaps``, and its meal and insulin."""
    folder = tmp_path_factory.mktemp("sync_filled")
    patient = load_patient("nominal-adult")
    model = UvaPadova([patient])
    rng = np.random.default_rng(21)
    state = model.initial_state(1, rng)
    bolus = MEAL_G / patient.carb_ratio_g_per_u
    plan = meal_plan_inputs(
        [Meal(MEAL_AT, MEAL_G)],
        np.array([patient.basal_u_per_min]),
        np.array([patient.carb_ratio_g_per_u]),
    )
    lines = ["patient_id,t_min,glucose_mg_dl"]
    for j, t in enumerate(range(0, 125, 5)):
        if t:
            state = model.advance(state, t - 5, t, plan, rng)
        value = model.observe(state)[0, 0] + rng.normal(0, SENSOR_SD)
        lines.append(f"p1,{t},{'' if j in GAP else f'{value:.1f}'}")
    files = {name: folder / f"{name}.csv" for name in ("cgm", "events", "meals", "insulin")}
    files["cgm"].write_text("\n".join(lines) + "\n")
    files["events"].write_text(
        f"patient_id,t_min,carbs_g,bolus_u\np1,{MEAL_AT},{MEAL_G},{bolus!r}\n"
    )
    files["meals"].write_text(f"t_min,carbs_g\n{MEAL_AT},{MEAL_G}\n")
    basal = patient.basal_u_per_min
    files["insulin"].write_text(
        f"t_min,insulin_u_per_min,bolus_u\n0,{basal!r},0\n{MEAL_AT},{basal!r},{bolus!r}\n"
    )
    files["filled"] = folder / "filled.csv"
    args = ["synth", "fill-gaps", "--data", str(files["cgm"]), "--events", str(files["events"]),
            "--members", "6", "--out", str(files["filled"]), "--quiet"]  # fmt: skip
    assert main(args) == 0
    return files


def _sync(case: dict[str, Path], data: Path, out: Path, *extra: str) -> int:
    return main(["patient", "sync", "--data", str(data), "--patient", "nominal-adult",
                 "--meals", str(case["meals"]), "--insulin", str(case["insulin"]),
                 "--members", "16", "--horizons", "5", "--sensor-sd", str(SENSOR_SD),
                 "--out", str(out), *extra])  # fmt: skip


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _as_measured(filled: Path, to: Path) -> Path:
    """The same values with every row flagged measured (variance 0)."""
    rows = _rows(filled)
    with to.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "imputed": "0", "variance_mg_dl2": "0"})
    return to


def test_sync_assimilates_the_filled_series_and_marks_the_imputed_readings(
    case: dict[str, Path],
    tmp_path: Path,
    bars: list[ProgressTask],
    capsys: pytest.CaptureFixture[str],
) -> None:
    filled, out = case["filled"], tmp_path / "posterior.csv"
    assert _sync(case, filled, out, "--json") == 0
    document = json.loads(capsys.readouterr().out)
    source = _rows(filled)
    imputed = [r["imputed"] == "1" for r in source]
    assert [i for i, flag in enumerate(imputed) if flag] == list(GAP)
    assert document["readings"] == 25
    assert document["imputed"] == len(GAP)
    assert document["patient_id"] == "p1"
    assert document["imputed_t_min"] == [5.0 * i for i in GAP]
    [bar] = bars
    assert bar.total == bar.completed == 25
    rows = _rows(out)
    assert [r["imputed"] == "1" for r in rows] == imputed
    assert all(r["assimilated"] == "1" for r in rows)
    variance = np.array([float(r["variance_mg_dl2"]) for r in source])
    noise = np.array([float(r["noise_sd_glucose_mg_dl"]) for r in rows])
    np.testing.assert_allclose(noise, np.sqrt(SENSOR_SD**2 + variance), rtol=1e-7)
    assert np.all(noise[list(GAP)] > SENSOR_SD)
    assert np.all(np.delete(noise, list(GAP)) == 8.0)
    # The existing columns are all there, in their places; the new ones come last.
    plain_header = list(rows[0])[:-2]
    assert plain_header[:3] == ["t_min", "observed_glucose_mg_dl", "assimilated"]
    assert list(rows[0])[-2:] == ["noise_sd_glucose_mg_dl", "imputed"]


def test_an_estimate_moves_the_twin_less_than_the_same_value_measured(
    case: dict[str, Path], tmp_path: Path
) -> None:
    filled = case["filled"]
    as_filled, as_measured = tmp_path / "filled_post.csv", tmp_path / "measured_post.csv"
    # Parameters the CGM informs, spread wide: the ensemble spreads after the meal.
    wide = ("--estimate", "si,egp", "--prior-cv", "0.5", "--quiet")
    assert _sync(case, filled, as_filled, *wide) == 0
    measured = _as_measured(filled, tmp_path / "measured.csv")
    assert _sync(case, measured, as_measured, *wide) == 0
    a, b = _rows(as_filled), _rows(as_measured)
    first = GAP[0]
    # Same twin up to the first estimate (every value as read, same seed).
    assert a[first - 1] == {k: v for k, v in b[first - 1].items() if k in a[first - 1]}

    def pull(rows: list[dict[str, str]]) -> float:
        # The filtered mean after the reading minus the 5-min forecast made just before it.
        return float(rows[first]["glucose_mg_dl_mean"]) - float(
            rows[first - 1]["forecast_5_glucose_mg_dl_mean"]
        )

    innovation = float(a[first]["observed_glucose_mg_dl"]) - float(
        a[first - 1]["forecast_5_glucose_mg_dl_mean"]
    )
    assert abs(innovation) > 1.0
    # The ETKF moves the mean by gain x innovation, the gain var / (var + R): R is 64
    # measured, 64 + variance imputed. (Seeded case: 1.3 vs 3.3 mg/dL of a 12.7 innovation.)
    assert np.sign(pull(a)) == np.sign(pull(b)) == np.sign(innovation)
    assert abs(pull(a)) < 0.5 * abs(pull(b))


def _edit(filled: Path, to: Path, change: dict[int, dict[str, str]]) -> Path:
    rows = _rows(filled)
    for i, fields in change.items():
        rows[i].update(fields)
    with to.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return to


def test_bad_filled_files_are_refused(
    case: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    filled, out = case["filled"], tmp_path / "p.csv"
    cases = [
        ({GAP[1]: {"variance_mg_dl2": "0"}}, (), "imputed=1 with variance_mg_dl2=0"),
        ({0: {"variance_mg_dl2": "4"}}, (), "imputed=0 with variance_mg_dl2=4"),
        ({1: {"imputed": "2"}}, (), "imputed must be 0 or 1"),
        ({}, ("--patient-id", "p9"), "no patient 'p9'"),
    ]
    for n, (change, extra, message) in enumerate(cases):
        bad = _edit(filled, tmp_path / f"bad{n}.csv", change)
        assert _sync(case, bad, out, *extra) == 2, message
        assert message in capsys.readouterr().err
    circulation = main(["patient", "sync", "--data", str(filled), "--model", "cvs-smith",
                 "--out", str(out)])  # fmt: skip
    assert circulation == 2
    assert "goes into --model uva-padova" in capsys.readouterr().err
    # Two patients need --patient-id; with it, that patient's rows are synced.
    text = filled.read_text()
    two = tmp_path / "two.csv"
    two.write_text(text + "".join(
        line.replace("p1,", "p2,", 1) + "\n" for line in text.splitlines()[1:]))  # fmt: skip
    assert _sync(case, two, out) == 2
    assert "holds 2 patients (p1, p2); pick one with --patient-id" in capsys.readouterr().err
    assert _sync(case, two, out, "--patient-id", "p2", "--quiet") == 0
    assert len(_rows(out)) == 25
    # --patient-id belongs to filled files; a half-filled header is named.
    plain = tmp_path / "plain.csv"
    plain.write_text("t_min,glucose_mg_dl\n5,120\n10,121\n")
    assert _sync(case, plain, out, "--patient-id", "p1") == 2
    assert "--patient-id picks a patient of a filled series" in capsys.readouterr().err
    half = tmp_path / "half.csv"
    half.write_text("t_min,glucose_mg_dl,imputed\n5,120,0\n")
    assert _sync(case, half, out) == 2
    assert "missing ['patient_id', 'variance_mg_dl2'" in capsys.readouterr().err
