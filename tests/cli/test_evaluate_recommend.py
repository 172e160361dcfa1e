"""``healthtwin patient evaluate`` and ``healthtwin patient recommend``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from healthtwin.cli import main


def test_evaluate_writes_an_html_report_and_metrics(tmp_path: Path) -> None:
    report, table = tmp_path / "report.html", tmp_path / "metrics.csv"
    args = ["patient", "evaluate", "--controllers", "basal-bolus,pid", "--patients",
            "adult#001,child#002", "--days", "1", "--seeds", "1", "--out", str(report),
            "--csv", str(table)]  # fmt: skip
    assert main(args) == 0
    text = report.read_text()
    assert "<table>" in text
    assert "Paired differences against basal-bolus" in text
    assert "pid &minus; basal-bolus" in text
    assert "data:image/png;base64," in text  # the plot is embedded, no external files
    with table.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 * 2
    assert {r["controller"] for r in rows} == {"basal-bolus", "pid"}
    assert all(0.0 <= float(r["tir_70_180"]) <= 100.0 for r in rows)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--controllers", "basal-bolus,bang-bang"], "unknown controller"),
        (["--patients", "adult#099"], "unknown patient"),
        (["--scenarios", "holiday"], "unknown scenario"),
        (["--days", "0"], "--days"),
    ],
)
def test_evaluate_refuses_bad_requests(
    extra: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["patient", "evaluate", "--out", str(tmp_path / "r.html"), *extra]) == 2
    assert message in capsys.readouterr().err


def test_recommend_explains_a_meal_bolus(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cgm = tmp_path / "cgm.csv"
    cgm.write_text("t_min,glucose_mg_dl\n5,140\n10,142\n15,145\n")
    out = tmp_path / "rec.json"
    args = ["patient", "recommend", "--patient", "adult#001", "--meal", "60", "--observations",
            str(cgm), "--members", "16", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    advice = json.loads(out.read_text())
    assert advice["status"] == "awaiting approval"
    assert advice["chosen"].startswith("bolus ")
    assert advice["evidence"]["observations"] == 3
    assert advice["chosen"] != "bolus 0 U"
    shown = capsys.readouterr().out
    assert "Recommended plan" in shown
    assert "Relied on: 3 assimilated reading(s)" in shown


def test_recommend_refuses_bad_doses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["patient", "recommend", "--boluses", "2,x"]) == 2
    assert "--boluses" in capsys.readouterr().err
