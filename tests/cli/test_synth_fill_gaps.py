"""``healthtwin synth fill-gaps``: a one-hour CGM gap filled by the twin, flagged, with bands."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from healthtwin.cli import main
from healthtwin.cli.output import ProgressTask
from healthtwin.core.inputs import Events, Inputs, Rate
from healthtwin.interop.fhir_bundle import bundle_to_patients
from healthtwin.interop.fhir_json import parse_resource
from healthtwin.physiology.cgm import CGMSensor, cgm_params
from healthtwin.physiology.uva_padova import UvaPadova
from healthtwin.scenarios.cgm_gaps import OUTPUT_COLUMNS
from healthtwin.synthetic.virtual_population import VirtualPopulation

HEADER = "patient_id,t_min,glucose_mg_dl\n"
GAP = slice(12, 24)  # 60-115 min: the hour after the meal


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Two virtual patients' 5 hours (60 g meal and bolus at 60 min) as CGM and events CSVs.

    Patient ``p1`` has empty glucose cells over the gap; ``p2`` has those rows absent.
    """
    folder = tmp_path_factory.mktemp("fill_gaps")
    rng = np.random.default_rng(11)
    people = VirtualPopulation().sample(np.array([70.0, 80.0]), rng)
    bolus = 60.0 / np.array([p.carb_ratio_g_per_u for p in people])
    at_60 = np.array([60.0])
    inputs = Inputs(
        rates={"insulin_u_per_min": Rate.constant([p.basal_u_per_min for p in people], 0.0)},
        events={"meal_g": Events(at_60, [[60.0], [60.0]]),
                "bolus_u": Events(at_60, bolus[:, None])},
    )  # fmt: skip
    model = UvaPadova(people)
    state = model.initial_state(2, rng)
    _, _, record = model.run(state, 0.0, 300.0, inputs, record=True)
    vg = state.theta[:, UvaPadova.parameter_index("Vg")][:, None]
    glucose = np.concatenate([state.x[:, None, 12], record[:, :, 12]], axis=1) / vg
    grid = np.arange(0, 300, 5)
    readings = np.round(CGMSensor(cgm_params("guardian-rt")).measure(glucose[:, grid], rng), 1)
    lines = ["patient_id,t_min,glucose_mg_dl"]
    for j, t in enumerate(grid):
        in_gap = GAP.start <= j < GAP.stop
        lines.append(f"p1,{t},{'' if in_gap else readings[0, j]}")
        if not in_gap:
            lines.append(f"p2,{t},{readings[1, j]}")
    data = folder / "cgm.csv"
    data.write_text("\n".join(lines) + "\n")
    events = folder / "events.csv"
    events.write_text(
        "patient_id,t_min,carbs_g,bolus_u\n"
        + "".join(f"{pid},60,60,{float(b)!r}\n" for pid, b in zip(("p1", "p2"), bolus, strict=True))
    )
    return {"data": data, "events": events, "readings": readings, "grid": grid}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames or ()) == OUTPUT_COLUMNS
        return list(reader)


def test_the_gap_is_filled_flagged_and_banded_and_readings_untouched(
    case: dict[str, object],
    tmp_path: Path,
    bars: list[ProgressTask],
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "filled.csv"
    code = main(["synth", "fill-gaps", "--data", str(case["data"]), "--events",
                 str(case["events"]), "--members", "12", "--out", str(out), "--json"])  # fmt: skip
    assert code == 0
    document = json.loads(capsys.readouterr().out)
    assert document["patients"] == 2
    assert document["imputed"] == 2 * 12
    [bar] = bars
    assert bar.total == bar.completed == 2  # one step per patient
    rows = _rows(out)
    readings = np.asarray(case["readings"])
    inside = []
    for p, pid in enumerate(("p1", "p2")):
        mine = [r for r in rows if r["patient_id"] == pid]
        assert [float(r["t_min"]) for r in mine] == np.asarray(case["grid"]).tolist()
        imputed = np.array([r["imputed"] == "1" for r in mine])
        assert np.flatnonzero(imputed).tolist() == list(range(GAP.start, GAP.stop))
        value = np.array([float(r["glucose_mg_dl"]) for r in mine])
        variance = np.array([float(r["variance_mg_dl2"]) for r in mine])
        lower = np.array([float(r["lower_mg_dl"]) for r in mine])
        upper = np.array([float(r["upper_mg_dl"]) for r in mine])
        assert np.array_equal(value[~imputed], readings[p][~imputed])  # measured: untouched
        assert np.all(variance[~imputed] == 0.0)
        assert np.array_equal(lower[~imputed], value[~imputed])
        assert np.all(np.isfinite(value))
        assert np.all(variance[imputed] > 0)
        assert np.all((lower[imputed] <= value[imputed]) & (value[imputed] <= upper[imputed]))
        masked = readings[p][GAP]
        inside += list((lower[GAP] <= masked) & (masked <= upper[GAP]))
    # The 90 % band covered 22 of the 24 masked readings in this seeded case (nominal 0.9;
    # tests/validation/test_cgm_gap_fill.py checks the rate on 960 readings). One patient's
    # band can be narrow after a meal (4 of 12 covered for one of 4 seeds tried), so the
    # floor here is below the nominal level.
    assert np.mean(inside) >= 0.75


def test_fhir_output_reads_back_with_flags_and_variances(
    case: dict[str, object], tmp_path: Path
) -> None:
    csv_out, fhir_out = tmp_path / "filled.csv", tmp_path / "fhir"
    common = ["--data", str(case["data"]), "--events", str(case["events"]), "--members", "6",
              "--seed", "3", "--quiet"]  # fmt: skip
    assert main(["synth", "fill-gaps", *common, "--out", str(csv_out)]) == 0
    assert main(["synth", "fill-gaps", *common, "--format", "fhir", "--out", str(fhir_out),
                 "--start", "2025-06-01T07:00:00+02:00"]) == 0  # fmt: skip
    bundle = parse_resource((fhir_out / "bundle.json").read_bytes())
    patients = {d.patient.id: d for d in bundle_to_patients(bundle)}
    rows = _rows(csv_out)
    for pid, data in patients.items():
        mine = [r for r in rows if r["patient_id"] == pid]
        estimates = [r for r in mine if r["imputed"] == "1"]
        assert len(data.observations) == len(mine) - len(estimates)
        assert [o.value for o in data.imputed_observations] == [
            float(r["glucose_mg_dl"]) for r in estimates
        ]
        got = [o.imputation.variance for o in data.imputed_observations if o.imputation]
        assert np.allclose(got, [float(r["variance_mg_dl2"]) for r in estimates], rtol=0, atol=1e-9)
        first = min(o.effective for o in data.observations)
        assert first.isoformat() == "2025-06-01T05:00:00+00:00"
    # The Bundle is a valid input: its estimates are gaps again, filled the same way.
    again = tmp_path / "again.csv"
    assert main(["synth", "fill-gaps", "--data", str(fhir_out / "bundle.json"), "--events",
                 str(case["events"]), "--members", "6", "--seed", "3", "--quiet",
                 "--out", str(again)]) == 0  # fmt: skip
    assert [r["imputed"] for r in _rows(again)] == [r["imputed"] for r in rows]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("patient,t_min,glucose_mg_dl\na,0,100\n", "missing column(s) ['patient_id']"),
        (f"{HEADER}a,0,100\na,5,-4\n", "line 3 (patient a): glucose_mg_dl -4"),
        (f"{HEADER}a,0,100\na,5,101\nb,0,\nb,5,\n", "patient b has no reading"),
        (f"{HEADER}a,0,\na,5,\n", "patient a has no reading"),
        (f"{HEADER}a,0,100\na,6,101\n", "patient a's row at t_min=6 is off"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_naming_the_file_the_place_and_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, expected: str
) -> None:
    data = tmp_path / "bad.csv"
    data.write_text(body)
    code = main(["synth", "fill-gaps", "--data", str(data), "--out", str(tmp_path / "o.csv")])
    assert code == 2
    message = capsys.readouterr().err
    assert expected in message
    assert "bad.csv" in message
    assert not (tmp_path / "o.csv").exists()


def test_a_bad_option_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "cgm.csv"
    data.write_text("patient_id,t_min,glucose_mg_dl\na,0,100\na,5,\na,10,104\n")
    out = str(tmp_path / "o.csv")
    assert main(["synth", "fill-gaps", "--data", str(data), "--out", out, "--level", "1.5"]) == 2
    assert "--level must be in (0, 1)" in capsys.readouterr().err
    assert main(["synth", "fill-gaps", "--data", str(data), "--out", out, "--format", "omop"]) == 2
    assert "--format must be one of csv, fhir" in capsys.readouterr().err
    assert main(["synth", "fill-gaps", "--data", str(data), "--out", out, "--sensor", "x"]) == 2
    assert "guardian-rt" in capsys.readouterr().err
