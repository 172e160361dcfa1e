"""HTML reports of ``patient sync``, ``population rt``, ``surveillance detect/monitor`` and
``prognosis train``, and the ``--data`` spelling of their main input.

Each report must be written, parse as HTML with an accessible structure (title, figures with
alternative text and captions, scoped table headings), embed its plots as PNG, and show the
key numbers of the command's JSON. Writing a report must not change the numeric outputs, and
the old spelling of the main input keeps working.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import click
import numpy as np
import pytest
import typer
from tests.conftest import require

from healthtwin.cli import main
from healthtwin.cli.app import app

EPIESTIM = Path(__file__).resolve().parents[1] / "data" / "epiestim"


class _Page(HTMLParser):
    """The parts of a report the tests look at; fails on unbalanced structural tags."""

    STRUCTURAL = ("html", "body", "main", "section", "figure", "figcaption", "table", "tr")

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.counts: dict[str, int] = {}
        self.images: list[dict[str, str | None]] = []
        self.scopes: list[str | None] = []
        self.text: list[str] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.counts[tag] = self.counts.get(tag, 0) + 1
        if tag in self.STRUCTURAL:
            self.open.append(tag)
        if tag == "img":
            self.images.append(dict(attrs))
        if tag == "th":
            self.scopes.append(dict(attrs).get("scope"))
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        if tag in self.STRUCTURAL:
            assert self.open[-1:] == [tag], f"</{tag}> closes {self.open[-1:]}"
            self.open.pop()
        self._in_title = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_title:
            self.title += data


def _page(path: Path) -> _Page:
    """Parse a written report and check what every report must have."""
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    assert page.open == []
    assert page.title.strip()
    assert page.counts.get("h1") == 1
    assert page.images, "no plot in the report"
    for image in page.images:
        assert (image.get("src") or "").startswith("data:image/png;base64,")
        assert len(image.get("alt") or "") > 20  # says what the plot shows
    assert page.counts.get("figure") == page.counts.get("figcaption") == len(page.images)
    assert page.scopes
    assert all(s in ("col", "row") for s in page.scopes)
    return page


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert main([*args, "--json"]) == 0
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    return document


def _words(page: _Page) -> str:
    return " ".join(page.text)


def _parses(line: str) -> dict[str, Any]:
    """The parameters a command line parses to (nothing runs)."""
    words = line.split()
    command: click.Command = typer.main.get_command(app)
    while isinstance(command, click.Group):
        command, words = command.commands[words[0]], words[1:]
    with command.make_context(command.name or "", words) as ctx:
        return dict(ctx.params)


# --- population rt -------------------------------------------------------------------


def test_rt_report_shows_the_latest_estimate_and_keeps_the_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(EPIESTIM / "flu2009_incidence.csv")
    base = ["population", "rt", "--si-mean", "2.6", "--si-sd", "1.5"]
    plain = _run([*base, "--incidence", data, "--out", str(tmp_path / "a.csv")], capsys)
    report = tmp_path / "reports" / "rt.html"
    document = _run(
        [*base, "--data", data, "--out", str(tmp_path / "b.csv"), "--report", str(report)], capsys
    )
    assert plain["report"] is None
    assert "latest" not in plain
    assert document["report"] == str(report)
    assert document["windows"] == plain["windows"] == 25
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    last = (tmp_path / "b.csv").read_text().splitlines()[-1].split(",")
    latest = document["latest"]
    assert latest["t_end"] == int(last[1])
    assert latest["mean_R"] == pytest.approx(float(last[2]), rel=1e-12)
    assert latest["q0975_R"] == pytest.approx(float(last[10]), rel=1e-12)
    assert latest["date_end"] == "2009-05-28"
    page = _page(report)
    text = _words(page)
    assert f"{latest['median_R']:.2f}" in text
    assert f"{latest['q0025_R']:.2f} to {latest['q0975_R']:.2f}" in text
    assert f"{latest['mean_R']:.3f}" in text
    assert "2009-05-28" in text


# --- surveillance detect and monitor ---------------------------------------------------


def _series(path: Path) -> Path:
    rng = np.random.default_rng(8)
    counts = rng.poisson(6, size=120)
    counts[-3:] = [25, 30, 6]
    dates = np.datetime64("2015-01-05") + 7 * np.arange(counts.size)
    lines = ["t,date,observed"] + [f"{i + 1},{dates[i]},{c}" for i, c in enumerate(counts)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_detect_report_shows_the_alarms_and_keeps_the_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(_series(tmp_path / "series.csv"))
    base = ["surveillance", "detect", "--method", "ears-c2", "--range", "60:120"]
    plain = _run([*base, "--input", data, "--out", str(tmp_path / "a.csv")], capsys)
    report = tmp_path / "detect.html"
    document = _run(
        [*base, "--data", data, "--out", str(tmp_path / "b.csv"), "--report", str(report)], capsys
    )
    assert plain["report"] is None
    assert document["report"] == str(report)
    assert (document["weeks"], document["alarms"]) == (plain["weeks"], plain["alarms"])
    assert document["weeks"] == 61
    assert document["alarms"] >= 2  # the two outbreak weeks at least
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    page = _page(report)
    text = _words(page)
    assert "weeks monitored 61" in " ".join(text.split())
    assert f"alarms {document['alarms']}" in " ".join(text.split())
    for line in (tmp_path / "b.csv").read_text().splitlines()[1:]:
        cells = line.split(",")
        if cells[5] == "TRUE":  # an alarm week is listed with its threshold
            assert cells[1] in text
            assert f"{float(cells[4]):.3g}" in text


def _network(path: Path) -> Path:
    rng = np.random.default_rng(4)
    start = dt.date(2020, 1, 6)
    lines = ["country,disease,syndrome,date,observed"]
    for country in ("FR", "BE", "DE", "PT"):
        counts = rng.poisson(20, size=120).astype(float)
        if country in ("FR", "BE"):
            counts[-2:] += 60
        for week, c in enumerate(counts):
            day = start + dt.timedelta(weeks=week)
            lines.append(f"{country},measles,rash,{day.isoformat()},{c:.0f}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_monitor_report_ranks_the_alarms_of_the_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(_network(tmp_path / "network.csv"))
    borders = tmp_path / "nb.json"
    borders.write_text(json.dumps({"FR": ["BE", "DE"], "DE": ["BE"]}))
    base = ["surveillance", "monitor", "--method", "ears-c2", "--neighbours", str(borders)]
    plain = _run([*base, "--input", data, "--out", str(tmp_path / "a.json")], capsys)
    report = tmp_path / "monitor.html"
    document = _run(
        [*base, "--data", data, "--out", str(tmp_path / "b.json"), "--report", str(report)],
        capsys,
    )
    assert plain["html_report"] is None
    assert document["html_report"] == str(report)
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    alarms = document["report"]["alarms"]
    assert {a["country"] for a in alarms[:2]} == {"FR", "BE"}
    page = _page(report)
    assert len(page.images) == 2  # the alarm grid and the series panels
    text = " ".join(_words(page).split())
    for a in alarms:
        row = (
            f"{a['rank']} {a['country']} measles rash {a['observed']:g} {a['expected']:.3g} "
            f"{a['upperbound']:.3g} {a['exceedance_ratio']:.3g} {a['consecutive_weeks']}"
        )
        assert row in text
    assert document["report"]["week"] in text


# --- patient sync ------------------------------------------------------------------------


def _stream(folder: Path) -> dict[str, Path]:
    source = Path(__file__).with_name("test_sync.py")
    spec = importlib.util.spec_from_file_location("sync_stream", source)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    files: dict[str, Path] = module._write_stream(folder, hours=1)
    return files


def test_sync_report_shows_state_forecasts_and_estimates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require("matplotlib", "plot")
    files = _stream(tmp_path)
    base = ["patient", "sync", "--patient", "nominal-adult", "--meals", str(files["meals"]),
            "--insulin", str(files["insulin"]), "--members", "8",
            "--horizons", "30,60"]  # fmt: skip
    cgm = str(files["cgm"])
    plain = _run([*base, "--observations", cgm, "--out", str(tmp_path / "a.csv")], capsys)
    report = tmp_path / "sync.html"
    document = _run(
        [*base, "--data", cgm, "--out", str(tmp_path / "b.csv"), "--report", str(report)], capsys
    )
    assert plain["report"] is None
    assert document["report"] == str(report)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert document["parameters"] == plain["parameters"]
    page = _page(report)
    assert len(page.images) == 2  # glucose (state and forecasts) and the parameter
    text = _words(page)
    si = document["parameters"]["si"]
    assert f"{si['p50']:.4g}" in text
    assert f"{si['p5']:.4g} to {si['p95']:.4g}" in text
    assert f"{si['p50'] / si['prior']:.3f}" in text
    last = (tmp_path / "b.csv").read_text().splitlines()
    header, row = last[0].split(","), last[-1].split(",")
    forecast = float(row[header.index("forecast_60_glucose_mg_dl_p50")])
    assert f"{forecast:.4g}" in text


# --- prognosis train ------------------------------------------------------------------


def test_prognosis_report_shows_roc_calibration_and_the_card(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require("sksurv", "ml")
    report = tmp_path / "model.html"
    args = ["prognosis", "train", "--data", "gbsg2", "--model", "cox", "--replicates", "2",
            "--folds", "3", "--out", str(tmp_path / "model"), "--report", str(report)]  # fmt: skip
    document = _run(args, capsys)
    assert document["report"] == str(report)
    card = json.loads((tmp_path / "model" / "model.card.json").read_text())
    assert card["metrics"] == document["metrics"]
    page = _page(report)
    assert len(page.images) == 2  # ROC + calibration, AUC over time
    text = _words(page)
    metrics = document["metrics"]
    for name, value in metrics.items():
        assert f"{value:.4g}" in text, name
    mae = next(v for k, v in metrics.items() if k.startswith("calibration_mae_at_"))
    assert f"Mean absolute gap {mae:.4f}" in text  # the curve's decile table is the card's
    assert f"it is {metrics['cv_mean_auc']:.3f} (the card" in text  # AUC over time too


def test_progression_report_shows_the_held_out_coverage_of_the_card(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require("sklearn", "ml")
    report = tmp_path / "diabetes.html"
    args = ["prognosis", "train", "--data", "diabetes", "--model", "ridge", "--seed", "3",
            "--out", str(tmp_path / "model"), "--report", str(report)]  # fmt: skip
    document = _run(args, capsys)
    assert document["report"] == str(report)
    page = _page(report)
    text = _words(page)
    metrics = document["metrics"]
    assert f"coverage of the 90 % intervals: {metrics['holdout_coverage_90']:.3f}." in text
    for name, value in metrics.items():
        assert f"{value:.4g}" in text, name


def test_the_main_inputs_answer_to_data_and_to_their_old_names() -> None:
    pairs = [
        ("patient sync --out p.csv", "observations"),
        ("population rt --out rt.csv", "incidence"),
        ("surveillance detect --method cusum --range 1:2 --out a.csv", "input"),
        ("surveillance monitor --out a.json", "input"),
        ("prognosis train --out model/", "dataset"),
        ("prognosis predict --model model/ --out p.csv", "input"),
    ]
    for line, old in pairs:
        new_value = _parses(f"{line} --data x.csv")[old]
        old_value = _parses(f"{line} --{old} x.csv")[old]
        assert str(new_value) == str(old_value) == "x.csv", line
