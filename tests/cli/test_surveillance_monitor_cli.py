"""``healthtwin surveillance evaluate`` and ``monitor`` end to end."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from healthtwin.cli import main


def _network(path: Path) -> None:
    rng = np.random.default_rng(4)
    start = dt.date(2020, 1, 6)
    lines = ["country,disease,syndrome,date,observed"]
    for country in ("FR", "BE", "DE", "PT"):
        counts = rng.poisson(20, size=160).astype(float)
        if country in ("FR", "BE"):
            counts[-2:] += 60  # an outbreak in two neighbours in the last two weeks
        for week, c in enumerate(counts):
            day = start + dt.timedelta(weeks=week)
            lines.append(f"{country},measles,rash,{day.isoformat()},{c:.0f}")
    path.write_text("\n".join(lines) + "\n")


def test_monitor_ranks_the_cross_border_outbreak_first(tmp_path: Path) -> None:
    data, borders, out = tmp_path / "network.csv", tmp_path / "nb.json", tmp_path / "alarms.json"
    _network(data)
    borders.write_text(json.dumps({"FR": ["BE", "DE"], "DE": ["BE"]}))
    args = ["surveillance", "monitor", "--input", str(data), "--out", str(out),
            "--method", "ears-c2", "--neighbours", str(borders)]  # fmt: skip
    assert main(args) == 0
    report = json.loads(out.read_text())
    alarms = report["alarms"]
    assert {a["country"] for a in alarms[:2]} == {"FR", "BE"}
    assert all(a["country"] not in ("PT",) for a in alarms)


def test_evaluate_writes_a_table_of_detectors(tmp_path: Path) -> None:
    out = tmp_path / "evaluation.csv"
    args = ["surveillance", "evaluate", "--out", str(out), "--reps", "2",
            "--methods", "ears-c1,ears-c3"]  # fmt: skip
    assert main(args) == 0
    text = out.read_text().splitlines()
    assert len(text) == 1 + 2 * 42
    assert "false_positive_rate" in text[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["surveillance", "evaluate", "--out", "x.md", "--methods", "magic"], "unknown"),
        (
            ["surveillance", "monitor", "--input", "missing.csv", "--out", "a.json"],
            "does not exist",
        ),
    ],
)
def test_bad_requests_exit_cleanly(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) != 0
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
