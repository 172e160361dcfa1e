"""The report builders below the CLI: the numbers they show are the runs' numbers.

Each builder recomputes or reads what it draws; these tests check that the recomputation
agrees with what the command wrote (Rt's CSV, the detection table, the monitor's ranking),
that the ROC area is the Mann-Whitney probability, and that the pages hold their parts.
"""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from healthtwin.assimilation.sync import SyncReport
from healthtwin.coupling.patient_sync import SyncedTwin
from healthtwin.scenarios.detection_report import detection_report_file
from healthtwin.scenarios.epidemic_runs import estimate_rt_file
from healthtwin.scenarios.html import html_report, html_table
from healthtwin.scenarios.monitor_report import monitor_histories, write_monitor_report
from healthtwin.scenarios.prognosis_report import roc_curve
from healthtwin.scenarios.rt_report import rt_report_file
from healthtwin.scenarios.surveillance_runs import detect_file, monitor_weekly_series
from healthtwin.scenarios.sync_report import write_sync_report

EPIESTIM = Path(__file__).resolve().parents[1] / "data" / "epiestim"


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.data: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.data.append(data)


def _tags(path: Path) -> _Tags:
    parser = _Tags()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_roc_area_is_the_mann_whitney_probability() -> None:
    rng = np.random.default_rng(3)
    outcome = rng.random(200) < 0.3
    risk = np.round(rng.random(200) + 0.4 * outcome, 1)  # many ties
    fpr, tpr, auc = roc_curve(outcome, risk)
    cases, controls = risk[outcome], risk[~outcome]
    pairs = (cases[:, None] > controls[None, :]) + 0.5 * (cases[:, None] == controls[None, :])
    assert auc == pytest.approx(pairs.mean(), abs=1e-12)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0)
    assert np.all(np.diff(tpr) >= 0)
    assert fpr.size == np.unique(risk).size + 1  # one point per distinct threshold
    _, _, perfect = roc_curve(outcome, outcome.astype(float))
    assert perfect == 1.0


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("flu2009_incidence.csv", {"si_mean": 2.6, "si_sd": 1.5}),
        ("mers_2014_15_incidence.csv", {"si_mean": 6.8, "si_sd": 4.1, "window": 14}),
        ("flu1918_incidence.csv", {"si_mean": 2.6, "si_sd": 1.5, "prior_mean": 2.0}),
    ],
)
def test_rt_report_shows_the_csvs_latest_window(
    name: str, options: dict[str, float], tmp_path: Path
) -> None:
    source = EPIESTIM / name
    windows = estimate_rt_file(source, tmp_path / "rt.csv", **options)  # type: ignore[arg-type]
    latest = rt_report_file(source, tmp_path / "rt.html", **options)  # type: ignore[arg-type]
    header, *rows = (line.split(",") for line in (tmp_path / "rt.csv").read_text().splitlines())
    assert len(rows) == windows
    last = dict(zip(header, rows[-1], strict=True))
    assert latest["t_end"] == int(last["t_end"])
    for column in ("mean_R", "std_R", "median_R", "q0025_R", "q0975_R"):
        assert latest[column] == float(last[column]), column
    page = _tags(tmp_path / "rt.html")
    assert page.tags.count("figure") == 1
    assert page.tags.count("table") == 2
    text = " ".join(page.data)
    assert ("window end (date)" in text) is (latest["date_end"] is not None)


def _weekly(path: Path, counts: list[int]) -> Path:
    days = np.datetime64("2018-01-01") + 7 * np.arange(len(counts))
    rows = [f"{i + 1},{days[i]},{c}" for i, c in enumerate(counts)]
    path.write_text("t,date,observed\n" + "\n".join(rows) + "\n")
    return path


def test_detection_report_counts_what_detect_file_wrote(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    counts = [int(c) for c in rng.poisson(8, size=80)]
    counts[70] = 40
    series = _weekly(tmp_path / "s.csv", counts)
    for method in ("ears-c1", "cusum"):
        written = detect_file(series, tmp_path / f"{method}.csv", method=method, range_t=(40, 80))
        shown = detection_report_file(
            series, tmp_path / f"{method}.html", method=method, range_t=(40, 80)
        )
        assert shown == written
        alarms = (tmp_path / f"{method}.csv").read_text().count("TRUE")
        assert alarms == written[1] >= 1
        page = _tags(tmp_path / f"{method}.html")
        assert page.tags.count("tr") == 5 + 1 + alarms  # summary rows, alarm header, alarms
    quiet = _weekly(tmp_path / "q.csv", [5] * 30)
    detection_report_file(quiet, tmp_path / "q.html", method="ears-c1", range_t=(20, 30))
    assert "No alarm in the monitored weeks." in (tmp_path / "q.html").read_text()


def _network() -> dict[tuple[str, str, str], list[tuple[str, float]]]:
    rng = np.random.default_rng(5)
    start = dt.date(2021, 1, 4)
    series: dict[tuple[str, str, str], list[tuple[str, float]]] = {}
    for country in ("FR", "BE", "DE", "NL", "LU"):
        counts = rng.poisson(15, size=320).astype(float)
        if country in ("FR", "BE", "NL"):
            counts[-3:] += [30, 45, 60]
        weeks = [(start + dt.timedelta(weeks=w)).isoformat() for w in range(320)]
        series[(country, "flu", "ili")] = list(zip(weeks, counts.tolist(), strict=True))
    # A series that stopped reporting two weeks ago: undefined in the latest week.
    short = series[("LU", "flu", "ili")][:-2]
    series[("LU", "flu", "ili")] = short
    return series


@pytest.mark.parametrize("method", ["ears-c3", "farrington-flexible", "cusum"])
def test_monitor_histories_end_in_the_ranked_week(method: str, tmp_path: Path) -> None:
    series = _network()
    ranked = monitor_weekly_series(series, method=method, lookback_weeks=6)
    histories = monitor_histories(series, method=method, lookback_weeks=6)
    assert ranked.alarms  # the outbreak in three countries
    assert [h.key[0] for h in histories] == ["BE", "DE", "FR", "NL"]  # LU stops early
    by_country = {h.key[0]: h for h in histories}
    for alarm in ranked.alarms:
        h = by_country[alarm.key.country]
        assert h.alarm[-1]
        assert h.upperbound[-1] == alarm.upperbound
        assert h.expected[-1] == alarm.expected
        assert str(h.evaluated_dates[-1]) == str(ranked.week)
    alarming = {a.key.country for a in ranked.alarms}
    assert all(not h.alarm[-1] for c, h in by_country.items() if c not in alarming)
    assert all(h.alarm.size == 6 for h in histories)
    path = tmp_path / "monitor.html"
    write_monitor_report(ranked, histories, path, title="network.csv")
    page = _tags(path)
    assert page.tags.count("figure") == 2
    text = " ".join(page.data)
    assert "LU / flu / ili" in text  # listed without a threshold
    assert f"{len(ranked.alarms)} alarm(s)" in text


def test_sync_report_marks_refused_readings_and_draws_each_output(tmp_path: Path) -> None:
    times = np.arange(5.0, 65.0, 5.0)
    n = times.size
    centre = np.stack([100 + times, 5 + 0 * times], axis=1)
    filtered = np.stack([centre - 3, centre, centre + 3, centre], axis=-1)  # (n, k, 4)
    parameters = np.tile(np.array([0.8, 1.0, 1.3, 1.0]), (n, 1, 1))  # (n, 1, 4)
    forecasts = np.stack([filtered, filtered + 1], axis=1)  # (n, 2, k, 4)
    used = np.ones(n)
    used[4] = 0
    report = SyncReport(times, centre + 1, ("glucose_mg_dl", "insulin_mu_l"), filtered,
                        parameters, ("Vmx",), forecasts, (30.0, 60.0), used)  # fmt: skip
    synced = SyncedTwin(twin=None, report=report, estimated=("si",), parameters=("Vmx",),
                        nominal=(0.5,))  # type: ignore[arg-type]  # fmt: skip
    path = tmp_path / "sync.html"
    write_sync_report(synced, path, title="cgm.csv", time_unit="min")
    page = _tags(path)
    assert page.tags.count("figure") == 3  # two outputs and the parameter
    text = " ".join(page.data)
    assert "11 assimilated, 1 refused" in text
    assert "2.000" in text  # median / prior = 1.0 / 0.5
    assert "+60 min (120)" in text  # the last reading's forecast, at 60 + 60 min
    assert text.count("insulin_mu_l") >= 3


def test_tables_and_pages_are_escaped_and_scoped(tmp_path: Path) -> None:
    table = html_table(["a&b", "c"], [["<x>", 1.5], ["y", "<z>"]], caption="<cap>",
                       row_headers=True)  # fmt: skip
    assert "<caption>&lt;cap&gt;</caption>" in table
    assert table.count("scope='row'") == 2
    assert "<th scope='col'>a&amp;b</th>" in table
    assert "<td>&lt;z&gt;</td>" in table
    path = tmp_path / "deep" / "page.html"
    html_report(path, "T <1>", "intro & more", [("S <2>", table)])
    page = _tags(path)
    assert page.tags[:1] == ["html"]
    assert page.tags.count("section") == 1
    assert "T <1>" in page.data  # escaped on the page, read back as text
