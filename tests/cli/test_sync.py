"""``healthtwin patient sync``: a CGM stream replayed into a twin, and its bad inputs."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from healthtwin.cli import main
from healthtwin.physiology import Meal, UvaPadova, load_patient, meal_plan_inputs

TRUE_SI = 1.3


def _write_stream(folder: Path, hours: int = 8, mmol: bool = False) -> dict[str, Path]:
    patient = load_patient("nominal-adult")
    model = UvaPadova([patient])
    rng = np.random.default_rng(7)
    state = model.initial_state(1, rng)
    theta = np.array(state.theta)
    theta[:, UvaPadova.parameter_index("Vmx")] *= TRUE_SI
    state = type(state)(
        state.x,
        theta,
        state.planned_meal_g,
        state.cho_g_per_min,
        state.meal_start_stomach_mg,
        state.meal_eaten_g,
    )
    meals = [Meal(60, 60), Meal(300, 70)]
    bolus = [60 / patient.carb_ratio_g_per_u, 70 / patient.carb_ratio_g_per_u]
    plan = meal_plan_inputs(
        meals, np.array([patient.basal_u_per_min]), np.array([patient.carb_ratio_g_per_u])
    )
    column = "glucose_mmol_l" if mmol else "glucose_mg_dl"
    lines = [f"t_min,{column}"]
    t_prev = 0
    for t in range(5, hours * 60 + 1, 5):
        state = model.advance(state, t_prev, t, plan, rng)
        t_prev = t
        g = model.observe(state)[0, 0] + rng.normal(0, 8)
        lines.append(f"{t},{g / 18.016 if mmol else g:.3f}")
    files = {
        "cgm": folder / "cgm.csv",
        "meals": folder / "meals.csv",
        "insulin": folder / "insulin.csv",
    }
    files["cgm"].write_text("\n".join(lines) + "\n")
    files["meals"].write_text("t_min,carbs_g\n60,60\n300,70\n")
    basal = patient.basal_u_per_min
    files["insulin"].write_text(
        f"t_min,insulin_u_per_min,bolus_u\n0,{basal},0\n60,{basal},{bolus[0]}\n"
        f"300,{basal},{bolus[1]}\n"
    )
    return files


def _args(files: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return [
        "patient",
        "sync",
        "--patient",
        "nominal-adult",
        "--observations",
        str(files["cgm"]),
        "--meals",
        str(files["meals"]),
        "--insulin",
        str(files["insulin"]),
        "--out",
        str(out),
        *extra,
    ]


def test_sync_tracks_glucose_and_recovers_insulin_sensitivity(tmp_path: Path) -> None:
    files = _write_stream(tmp_path)
    out = tmp_path / "posterior.csv"
    assert main(_args(files, out, "--estimate", "si", "--members", "48")) == 0
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 96
    last = rows[-1]
    for prefix in (
        "glucose_mg_dl",
        "Vmx",
        "forecast_30_glucose_mg_dl",
        "forecast_120_glucose_mg_dl",
    ):
        lo, mid, hi = (float(last[f"{prefix}_{q}"]) for q in ("p5", "p50", "p95"))
        assert lo <= mid <= hi
    assert all(r["assimilated"] == "1" for r in rows)
    nominal = float(np.asarray(load_patient("nominal-adult").params.Vmx)[0])
    lo, hi = float(last["Vmx_p5"]) / nominal, float(last["Vmx_p95"]) / nominal
    width = hi - lo
    assert lo - width <= TRUE_SI <= hi + width  # within about 2 posterior SD
    assert width < 0.3 * 3.29  # narrower than the prior's 90 % interval


def test_declared_mmol_readings_are_converted(tmp_path: Path) -> None:
    files = _write_stream(tmp_path, hours=1, mmol=True)
    out = tmp_path / "p.csv"
    assert main(_args(files, out)) == 0
    with out.open(newline="") as fh:
        first = next(csv.DictReader(fh))
    assert 60 < float(first["observed_glucose_mg_dl"]) < 200


@pytest.mark.parametrize(
    ("edit", "extra", "message"),
    [
        (
            lambda t: t.replace("t_min,glucose_mg_dl\n5,", "t_min,glucose_mg_dl\n50,"),
            (),
            "strictly increasing",
        ),
        (lambda t: t.replace("glucose_mg_dl", "glucose"), (), "glucose_mg_dl"),
        (lambda t: t.replace("\n10,", "\n10,abc\n11,"), (), "line 3"),
        (lambda t: "t_min,glucose_mg_dl\n5,6.2\n10,6.4\n", (), "not mg/dL"),
        (lambda t: t, ("--estimate", "si,isf"), "estimable parameters: si, egp"),
        (lambda t: t, ("--members", "3"), "--members"),
    ],
)
def test_bad_streams_are_refused(
    edit: object,
    extra: tuple[str, ...],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = _write_stream(tmp_path, hours=1)
    files["cgm"].write_text(edit(files["cgm"].read_text()))  # type: ignore[operator]
    assert main(_args(files, tmp_path / "p.csv", *extra)) == 2
    assert message in capsys.readouterr().err
