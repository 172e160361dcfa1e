"""``healthtwin patient sync`` beyond CGM: laboratory values, drug levels and BIS."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from healthtwin.cli import main
from healthtwin.physiology import UvaPadova, load_patient
from healthtwin.physiology.pkpd import make_pkpd_model
from healthtwin.physiology.pkpd.covariates import parse_covariates
from healthtwin.physiology.pkpd.dosing import read_dosing_csv

COVARIATES = "age=53,weight_kg=77,height_cm=177,sex=male"
DOSING = "TIME,AMT,RATE,CMT,EVID,II,ADDL\n0,140,0,1,1,0,0\n1,600,10,1,1,0,0\n"
TRUE_K10_FACTOR = 1.5


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _drug_stream(folder: Path) -> tuple[Path, Path, float]:
    """A Schnider patient clearing propofol 1.5x faster than the covariates predict."""
    dosing = folder / "dosing.csv"
    dosing.write_text(DOSING)
    model = make_pkpd_model("pk-schnider", parse_covariates(COVARIATES))
    plan = model.inputs_from_records(read_dosing_csv(dosing))
    rng = np.random.default_rng(3)
    state = model.initial_state(1, rng)
    theta = np.array(state.theta)
    k10 = model.parameter_index("k10")
    nominal = float(theta[0, k10])
    theta[:, k10] *= TRUE_K10_FACTOR
    state = type(state)(state.x, theta)
    lines, t_prev = ["t_min,plasma_mg_l,bis"], 0.0
    for t in range(2, 121, 2):
        state = model.advance(state, t_prev, float(t), plan, rng)
        t_prev = float(t)
        plasma, _, bis = model.observe(state)[0]
        lab = f"{plasma * (1 + rng.normal(0, 0.05)):.4f}" if t % 10 == 0 else ""
        lines.append(f"{t},{lab},{bis + rng.normal(0, 3):.2f}")
    readings = folder / "levels.csv"
    readings.write_text("\n".join(lines) + "\n")
    return dosing, readings, nominal


def _drug_args(dosing: Path, readings: Path, out: Path, *extra: str) -> list[str]:
    return [
        "patient",
        "sync",
        "--model",
        "pk-schnider",
        "--covariates",
        COVARIATES,
        "--dosing",
        str(dosing),
        "--observations",
        str(readings),
        "--out",
        str(out),
        *extra,
    ]


def test_drug_levels_and_bis_recover_the_clearance(tmp_path: Path) -> None:
    dosing, readings, nominal = _drug_stream(tmp_path)
    out = tmp_path / "posterior.csv"
    args = ("--estimate", "k10,v1_l", "--noise", "plasma_mg_l=0.15,bis=3", "--prior-cv", "0.5")
    assert main(_drug_args(dosing, readings, out, *args)) == 0
    rows = _rows(out)
    assert len(rows) == 60
    last = rows[-1]
    for prefix in ("plasma_mg_l", "bis", "k10", "forecast_30_bis", "forecast_120_plasma_mg_l"):
        lo, mid, hi = (float(last[f"{prefix}_{q}"]) for q in ("p5", "p50", "p95"))
        assert lo <= mid <= hi
    lo, hi = float(last["k10_p5"]) / nominal, float(last["k10_p95"]) / nominal
    width = hi - lo
    assert lo - width <= TRUE_K10_FACTOR <= hi + width
    assert width < 0.5 * 3.29 / 2  # far narrower than the prior's 90 % interval
    # plasma levels are sparse (every 10 min): rows without one keep it empty, not zero
    assert rows[0]["observed_plasma_mg_l"] == "nan"
    assert float(rows[4]["observed_plasma_mg_l"]) > 0


def test_laboratory_glucose_and_insulin_join_the_cgm(tmp_path: Path) -> None:
    patient = load_patient("nominal-adult")
    model = UvaPadova([patient])
    rng = np.random.default_rng(1)
    state = model.initial_state(1, rng)
    lines, t_prev = ["t_min,glucose_mg_dl,plasma_glucose_mg_dl,plasma_insulin_pmol_l"], 0
    for t in range(5, 121, 5):
        state = model.advance(state, t_prev, t, _basal(patient), rng)
        t_prev = t
        cgm, plasma, insulin = model.observe(state)[0]
        labs = f"{plasma + rng.normal(0, 4):.2f},{insulin + rng.normal(0, 15):.2f}"
        lines.append(f"{t},{cgm + rng.normal(0, 8):.2f}," + (labs if t % 30 == 0 else ","))
    readings = tmp_path / "stream.csv"
    readings.write_text("\n".join(lines) + "\n")
    out = tmp_path / "posterior.csv"
    assert (
        main(["patient", "sync", "--patient", "nominal-adult", "--observations", str(readings),
              "--out", str(out), "--estimate", "si,egp"])
        == 0
    )  # fmt: skip
    rows = _rows(out)
    header = list(rows[0])
    for name in ("plasma_glucose_mg_dl_p50", "plasma_insulin_pmol_l_p95", "kp1_p50"):
        assert name in header
    assert "forecast_60_plasma_insulin_pmol_l_mean" in header
    assert all(r["assimilated"] == "1" for r in rows)  # a missing lab is not a refusal
    # a laboratory reading narrows the filtered plasma glucose it measures
    width = [
        float(r["plasma_glucose_mg_dl_p95"]) - float(r["plasma_glucose_mg_dl_p5"]) for r in rows
    ]
    assert width[5] < width[4]  # t = 30 min: CGM + both labs, after CGM alone


def _basal(patient):  # type: ignore[no-untyped-def]
    from healthtwin.core import Inputs, Rate

    return Inputs(rates={"insulin_u_per_min": Rate.constant(patient.basal_u_per_min, 0.0)})


@pytest.mark.parametrize(
    ("text", "extra", "message"),
    [
        ("t_min,plasma_mg_l,heart_rate\n2,1.0,80\n", (), "not outputs of the model"),
        ("t_min,plasma_mg_l\n2,1.0\n", (), "--noise plasma_mg_l=SD"),
        ("t_min,plasma_mg_l\n2,-1.0\n", ("--noise", "plasma_mg_l=0.1"), "negative"),
        ("t_min,plasma_mg_l\n2,1.0\n", ("--noise", "plasma_mg_l=0"), "SD > 0"),
        ("t_min,plasma_mg_l\n2,1.0\n", ("--noise", "plasma_mg_l=0.1", "--estimate", "cl"), "v1_l"),
        ("t_min,plasma_mg_l\n2,1.0\n", ("--noise", "plasma_mg_l=0.1", "--horizons", "x"), "30,60"),
        ("t_min\n2\n", (), "no reading column"),
    ],
)
def test_bad_drug_streams_are_refused(
    text: str,
    extra: tuple[str, ...],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dosing = tmp_path / "dosing.csv"
    dosing.write_text(DOSING)
    readings = tmp_path / "levels.csv"
    readings.write_text(text)
    args = _drug_args(dosing, readings, tmp_path / "p.csv", *extra)
    if "--estimate" not in extra:
        args += ["--estimate", "k10"]
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_a_drug_model_needs_its_dosing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    readings = tmp_path / "levels.csv"
    readings.write_text("t_min,plasma_mg_l\n2,1.0\n")
    args = ["patient", "sync", "--model", "pk-schnider", "--observations", str(readings)]
    assert main(args) == 2
    assert "needs --dosing" in capsys.readouterr().err


def test_bedside_vitals_reveal_a_falling_systemic_resistance(tmp_path: Path) -> None:
    # Septic shock (Revie et al. 2013): systemic resistance 42 % below nominal.
    from healthtwin.core import Inputs
    from healthtwin.physiology.circulation import SmithCVS, septic_shock_parameters

    truth = SmithCVS(septic_shock_parameters())
    rng = np.random.default_rng(5)
    state = truth.initial_state(1, rng)
    lines, t_prev = ["t_min,map_mmhg,heart_rate_bpm"], 0
    for t in range(5, 61, 5):
        state = truth.advance(state, t_prev, t, Inputs(), rng)
        t_prev = t
        vitals = dict(zip(truth.outputs, truth.observe(state)[0], strict=True))
        lines.append(
            f"{t},{vitals['map_mmhg'] + rng.normal(0, 8):.1f},{vitals['heart_rate_bpm']:.0f}"
        )
    readings = tmp_path / "vitals.csv"
    readings.write_text("\n".join(lines) + "\n")
    out = tmp_path / "posterior.csv"
    args = ["patient", "sync", "--model", "cvs-smith", "--observations", str(readings),
            "--estimate", "R_sys", "--members", "32", "--horizons", "30",
            "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    last = _rows(out)[-1]
    nominal = float(SmithCVS().initial_state(1, rng).theta[0, SmithCVS.parameter_index("R_sys")])
    lo, hi = float(last["R_sys_p5"]) / nominal, float(last["R_sys_p95"]) / nominal
    assert hi < 0.8  # the twin has noticed the vasodilation
    assert lo - (hi - lo) <= 0.58 <= hi + (hi - lo)
    assert float(last["forecast_30_map_mmhg_p50"]) < 80.0
