"""``healthtwin population rt``: EpiEstim's table from a CSV, and clear errors."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from healthtwin.cli import main
from healthtwin.population import RT_COLUMNS

DATA = Path(__file__).resolve().parents[1] / "data" / "epiestim"


def _table(path: Path) -> np.ndarray:
    rows = list(csv.reader(path.read_text().splitlines()))
    assert tuple(rows[0]) == RT_COLUMNS
    return np.array([[np.nan if v == "NA" else float(v) for v in r] for r in rows[1:]])


def test_rt_with_a_parametric_serial_interval_matches_epiestim(tmp_path: Path) -> None:
    out = tmp_path / "rt.csv"
    args = ["population", "rt", "--incidence", str(DATA / "flu2009_incidence.csv"),
            "--si-mean", "2.6", "--si-sd", "1.5", "--window", "7", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    np.testing.assert_allclose(
        _table(out), _table(DATA / "flu2009_rt_parametric.csv"), rtol=1e-8, equal_nan=True
    )


@pytest.mark.parametrize("as_file", [True, False])
def test_rt_with_a_given_distribution(tmp_path: Path, as_file: bool) -> None:
    si_file = DATA / "sars2003_si_distr.csv"
    si = str(si_file) if as_file else ",".join(si_file.read_text().split()[1:])
    out = tmp_path / "rt.csv"
    args = ["population", "rt", "--incidence", str(DATA / "sars2003_incidence.csv"),
            "--si-distr", si, "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    np.testing.assert_allclose(
        _table(out), _table(DATA / "sars2003_rt_si_distr.csv"), rtol=1e-8, equal_nan=True
    )


@pytest.mark.parametrize(
    ("incidence", "extra", "message"),
    [
        ("I\n1\n-3\n2\n", ["--si-mean", "2.6", "--si-sd", "1.5"], "row 3, column 'I'"),
        ("I\n1\n3\n2\n", ["--si-mean", "2.6", "--si-sd", "0"], "si_sd must be"),
        ("I\n1\n3\n2\n", ["--si-mean", "2.6", "--si-sd", "1.5"], "window of 7 days"),
        ("I\n1\n3\n2\n", ["--si-distr", "0,a,0.5"], "neither a comma list"),
        ("n\n1\n3\n2\n", ["--si-mean", "2.6", "--si-sd", "1.5"], "no incidence column"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    incidence: str,
    extra: list[str],
    message: str,
) -> None:
    src = tmp_path / "inc.csv"
    src.write_text(incidence)
    out = tmp_path / "rt.csv"
    assert main(["population", "rt", "--incidence", str(src), "--out", str(out), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()
