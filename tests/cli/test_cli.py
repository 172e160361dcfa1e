"""The command line, run as a user runs it: a real subprocess for the entry point, and
the in-process ``main`` for the many bad-input cases."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import require

from healthtwin import __version__
from healthtwin.cli import main
from healthtwin.cli.patient import parse_meals
from healthtwin.errors import InvalidInputError
from healthtwin.physiology import STATE_NAMES

CONTRACT = ["t_min", "glucose_mg_dl", "cho_g_per_min", "insulin_u_per_min"]


def _read(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def test_version_in_a_real_process() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "healthtwin", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout.strip() == f"healthtwin {__version__}"


def test_issue_command_line_writes_the_contract_columns(tmp_path: Path) -> None:
    require("simglucose", "simglucose")
    out = tmp_path / "trace.csv"
    code = main(
        [
            "patient",
            "simulate",
            "--model",
            "uva-padova",
            "--patient",
            "adolescent#001",
            "--meals",
            "07:00=45,12:00=70,18:00=80",
            "--basal",
            "0.0139",
            "--hours",
            "24",
            "--step-min",
            "1",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    header, rows = _read(out)
    assert header[:4] == CONTRACT
    assert header[4:17] == list(STATE_NAMES)
    assert len(rows) == 1441
    t = np.array([float(r[0]) for r in rows])
    np.testing.assert_array_equal(t, np.arange(1441.0))
    cho = np.array([float(r[2]) for r in rows])
    assert cho.sum() == pytest.approx(195.0)
    assert float(rows[0][1]) == pytest.approx(149.02, abs=1e-6)
    assert {float(r[3]) for r in rows} == {0.0139}


def test_cohort_with_steady_basal_boluses_and_plot(tmp_path: Path) -> None:
    require("simglucose", "simglucose")
    require("matplotlib", "plot")
    out, png = tmp_path / "sub" / "cohort.csv", tmp_path / "cohort.png"
    code = main(
        [
            "patient",
            "simulate",
            "--patient",
            "all",
            "--basal",
            "steady",
            "--bolus-cr",
            "--hours",
            "2",
            "--meals",
            "00:30=40",
            "--out",
            str(out),
            "--plot",
            str(png),
        ]
    )
    assert code == 0
    header, rows = _read(out)
    assert header[-1] == "patient"
    assert len({r[-1] for r in rows}) == 30
    assert len(rows) == 30 * 121
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    first = [r for r in rows if r[-1] == "adolescent#001"]
    # Bolus of 40 g / CR 12 U/g at minute 30 on top of the steady basal.
    assert float(first[30][3]) == pytest.approx(1.21697571391 * 68.706 / 6000 + 40 / 12)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--patient", "adolescent#099"], "valid names"),
        (["--meals", "7h=45"], "HH:MM=grams"),
        (["--meals", "07:00=-5"], "negative"),
        (["--meals", "25:00=5"], "clock time"),
        (["--hours", "0"], "--hours must be > 0"),
        (["--hours", "-2"], "--hours must be > 0"),
        (["--basal", "lots"], "'steady'"),
        (["--basal", "-0.1"], ">= 0"),
        (["--step-min", "0"], "--step-min"),
        (["--model", "pk"], "valid models: uva-padova, hovorka, bergman-minimal"),
        (["--method", "euler"], "rk4, dopri5 or expm"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "patient",
            "simulate",
            "--patient",
            "nominal-adult",
            "--hours",
            "1",
            "--out",
            str(tmp_path / "x.csv"),
            *args,
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert message in err
    assert err.startswith("error: ")
    assert len(err.splitlines()) == 1
    assert "Traceback" not in err


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError):
        main(
            [
                "patient",
                "simulate",
                "--patient",
                "nominal-adult",
                "--hours",
                "0",
                "--debug",
                "--out",
                str(tmp_path / "x.csv"),
            ]
        )


def test_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["patient", "simulate", "--colour", "red"]) == 2
    assert "--colour" in capsys.readouterr().err


def test_meal_parsing() -> None:
    meals = parse_meals("07:00=45, 12:30=70.5,90=10")
    assert [(m.t_min, m.carbs_g) for m in meals] == [(420.0, 45.0), (750.0, 70.5), (90.0, 10.0)]
    assert parse_meals("") == []


def test_cgm_and_pump_options(tmp_path: Path) -> None:
    out = tmp_path / "cgm.csv"
    args = [
        "patient",
        "simulate",
        "--patient",
        "nominal-adult",
        "--hours",
        "1",
        "--basal",
        "0.0139",
        "--cgm",
        "guardian-rt",
        "--pump",
        "insulet",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    header, rows = _read(out)
    assert header[-2:] == ["cgm_mg_dl", "patient"]
    readings = [r[-2] for r in rows]
    assert all(readings[k] != "" for k in range(0, 61, 5))  # every 5 min
    assert all(readings[k] == "" for k in range(61) if k % 5)
    # 0.0139 U/min = 0.834 U/h, delivered as 0.80 U/h in 0.05 U/h increments.
    assert float(rows[0][3]) == pytest.approx(0.80 / 60)
    again = tmp_path / "again.csv"
    assert main([*args[:-1], str(again)]) == 0
    assert again.read_text() == out.read_text()  # reproducible under the seed


@pytest.mark.parametrize(("option", "value"), [("--cgm", "libre"), ("--pump", "omnipod")])
def test_unknown_devices_list_the_valid_names(
    option: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "patient",
            "simulate",
            "--patient",
            "nominal-adult",
            "--hours",
            "1",
            option,
            value,
            "--out",
            str(tmp_path / "x.csv"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert value in err
    assert ("dexcom" in err) if option == "--cgm" else ("insulet" in err)


@pytest.mark.parametrize("model", ["hovorka", "bergman-minimal"])
def test_other_models_run_their_nominal_subject(model: str, tmp_path: Path) -> None:
    out = tmp_path / f"{model}.csv"
    assert (
        main(
            [
                "patient",
                "simulate",
                "--model",
                model,
                "--hours",
                "3",
                "--meals",
                "00:30=50",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    header, rows = _read(out)
    assert header[:4] == CONTRACT
    assert header[-1] == "patient"
    assert len(rows) == 181
    glucose = np.array([float(r[1]) for r in rows])
    assert glucose.max() > glucose[0] + 20  # the meal shows
    assert float(rows[30][2]) == 50.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--patient", "adult#001"], "only 'nominal'"),
        (["--bolus-cr"], "--model uva-padova"),
        (["--pump", "insulet"], "--model uva-padova"),
    ],
)
def test_uva_only_options_are_refused_for_other_models(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "patient",
            "simulate",
            "--model",
            "hovorka",
            "--hours",
            "1",
            *args,
            "--out",
            str(tmp_path / "x.csv"),
        ]
    )
    assert code == 2
    assert message in capsys.readouterr().err


VITALS = (
    "patient,respiratory_rate_per_min,spo2_percent,on_oxygen,systolic_bp_mm_hg,"
    "heart_rate_per_min,consciousness,temperature_c\n"
    "A,16,97,air,125,72,A,36.8\n"
    "B,24,93,oxygen,98,112,C,38.4\n"
)


def test_news2_scores_a_vitals_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vitals = tmp_path / "vitals.csv"
    vitals.write_text(VITALS)
    out = tmp_path / "scored.csv"
    assert main(["patient", "news2", str(vitals), "--out", str(out)]) == 0
    header, rows = _read(out)
    total = header.index("news2_total")
    assert [r[total] for r in rows] == ["0", "14"]
    assert [r[header.index("news2_band")] for r in rows] == ["low", "high"]
    assert [r[header.index("qsofa")] for r in rows] == ["0", "3"]
    assert "high" in capsys.readouterr().err
    assert main(["patient", "news2", str(vitals)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("patient,")
    assert len(printed) == 3


def test_news2_refuses_impossible_vitals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vitals = tmp_path / "vitals.csv"
    vitals.write_text(VITALS.replace("A,16,97", "A,16,107"))
    assert main(["patient", "news2", str(vitals)]) == 2
    err = capsys.readouterr().err
    assert "spo2_percent" in err
    assert "107" in err
    assert main(["patient", "news2", str(tmp_path / "missing.csv")]) == 2


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_pk_schnider_with_covariates_and_dosing(tmp_path: Path) -> None:
    dosing = tmp_path / "dosing.csv"
    dosing.write_text("TIME,AMT,RATE,CMT,EVID,II,ADDL\n0,140,0,1,1,0,0\n1,1800,10,1,1,0,0\n")
    out = tmp_path / "pk.csv"
    assert (
        main(
            [
                "patient",
                "simulate",
                "--model",
                "pk-schnider",
                "--covariates",
                "age=53,weight_kg=77,height_cm=177,sex=male",
                "--dosing",
                str(dosing),
                "--hours",
                "4",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    rows = _rows(out)
    assert len(rows) == 241
    assert list(rows[0])[:4] == ["t_min", "plasma_mg_l", "effect_site_mg_l", "bis"]
    plasma = np.array([float(r["plasma_mg_l"]) for r in rows])
    bis = np.array([float(r["bis"]) for r in rows])
    assert plasma[0] == 0.0
    assert plasma.max() > 5.0  # the bolus
    assert bis.min() < 60.0  # anaesthetic depth reached
    # Total dose 1940 mg = drug in the body + eliminated; the body cannot hold more.
    body = sum(float(rows[-1][c]) for c in ("central_mg", "peripheral1_mg", "peripheral2_mg"))
    assert 0 < body < 1940


def test_pk_dosing_errors_name_the_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dosing = tmp_path / "dosing.csv"
    dosing.write_text("TIME,AMT,RATE,CMT,EVID,II,ADDL\n0,140,0,1,1,0,0\n5,10,0,7,1,0,0\n")
    assert (
        main(
            [
                "patient",
                "simulate",
                "--model",
                "pk-marsh",
                "--dosing",
                str(dosing),
                "--out",
                str(tmp_path / "x.csv"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "row 2" in err
    assert "CMT" in err


@pytest.mark.parametrize(
    ("scenario", "damage_high"),
    [("health", False), ("aseptic-death", True), ("septic-death", True)],
)
def test_inflammation_scenarios(scenario: str, damage_high: bool, tmp_path: Path) -> None:
    out = tmp_path / "inf.csv"
    assert (
        main(
            [
                "patient",
                "simulate",
                "--model",
                "inflammation",
                "--scenario",
                scenario,
                "--hours",
                "336",
                "--dt-out",
                "24",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    rows = _rows(out)
    assert rows[0]["t_h"] == "0"
    assert (float(rows[-1]["tissue_damage"]) > 5.0) is damage_high


def test_circulation_nominal_and_septic(tmp_path: Path) -> None:
    maps = {}
    for scenario in ("nominal", "septic-shock"):
        out = tmp_path / f"{scenario}.csv"
        assert (
            main(
                [
                    "patient",
                    "simulate",
                    "--model",
                    "cvs-smith",
                    "--scenario",
                    scenario,
                    "--hours",
                    "0.5",
                    "--dt-out",
                    "10",
                    "--out",
                    str(out),
                ]
            )
            == 0
        )
        maps[scenario] = float(_rows(out)[-1]["map_mmhg"])
    assert 90 < maps["nominal"] < 105
    assert maps["septic-shock"] < 0.85 * maps["nominal"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "inflammation", "--meals", "07:00=10"], "--meals does not apply"),
        (["--model", "inflammation", "--scenario", "flu"], "valid scenarios: health"),
        (["--model", "hovorka", "--dosing", "x.csv"], "--dosing does not apply"),
        (["--model", "pk-minto", "--scenario", "x"], "--scenario does not apply"),
        (["--model", "pk-schnider", "--covariates", "age=53,weight=77"], "unknown covariate"),
        (["--model", "pk-schnider", "--dosing", "missing.csv"], "no dosing file"),
    ],
)
def test_model_specific_options_are_checked(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["patient", "simulate", *args, "--out", str(tmp_path / "x.csv")]) == 2
    assert message in capsys.readouterr().err


def test_generic_models_plot_their_outputs(tmp_path: Path) -> None:
    require("matplotlib", "plot")
    png = tmp_path / "inf.png"
    assert (
        main(
            [
                "patient",
                "simulate",
                "--model",
                "inflammation",
                "--hours",
                "48",
                "--out",
                str(tmp_path / "inf.csv"),
                "--plot",
                str(png),
            ]
        )
        == 0
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_scenarios_do_not_apply_to_glucose_models(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["patient", "simulate", "--scenario", "health", "--out", str(tmp_path / "x.csv")]) == 2
    )
    assert "--scenario does not apply" in capsys.readouterr().err
