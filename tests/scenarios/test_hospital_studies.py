"""Hospital studies from a file: equal to the engine, the M/M/c check, twins, the tables."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from healthtwin.errors import InvalidInputError
from healthtwin.hospital import load_hospital_config, mmc_config, simulate
from healthtwin.scenarios.hospital_reports import write_simulation_report, write_simulation_tables
from healthtwin.scenarios.hospital_studies import (
    check_mmc,
    early_warning_line,
    plan_hospital_capacity,
    simulate_hospital_file,
)

SMALL = (
    "units:\n"
    "  ed: {kind: ed, beds: 10, los_hours: {dist: exponential, mean: 2.0}}\n"
    "  ward: {kind: ward, beds: 40, los_hours: {dist: lognormal, mean: 72.0, cv: 0.8}}\n"
    "arrivals:\n  - {unit: ed, rate_per_hour: [0.4]}\n"
    "pathways:\n  ed: {ward: 0.6, discharge: 0.4}\n  ward: {discharge: 1.0}\n"
)


@pytest.fixture
def small_hospital(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL)
    return path


def test_the_study_equals_the_engine_run_on_the_same_seed(small_hospital: Path) -> None:
    study = simulate_hospital_file(small_hospital, days=10, replications=3, seed=4)
    direct = simulate(load_hospital_config(small_hospital), days=10, replications=3, seed=4)
    assert study.early_warning is None
    assert study.result.metrics == direct.metrics
    for metric in direct.metrics:
        np.testing.assert_array_equal(study.result.values(metric), direct.values(metric))


def test_twins_add_an_evaluation_of_the_news2_alert_rule(small_hospital: Path) -> None:
    study = simulate_hospital_file(small_hospital, days=20, replications=2, seed=1, twins=True)
    warning = study.early_warning
    assert warning is not None
    assert warning["deteriorations"] > 0
    assert 0.0 <= warning["sensitivity_95_low"] <= warning["sensitivity"] <= 1.0
    assert warning["sensitivity"] <= warning["sensitivity_95_high"] <= 1.0
    assert f"over {warning['deteriorations']} deteriorations" in early_warning_line(warning)


def test_a_bad_file_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(SMALL.replace("pathways:", "pathwayz:"))
    with pytest.raises(InvalidInputError):
        simulate_hospital_file(path, days=1, replications=2)


def test_the_mmc_check_covers_erlang_c() -> None:
    found = check_mmc(9.0, 1.0, 10, hours=20_000, replications=5, seed=3)
    wait, p_wait = found["mean_wait_hours"], found["p_wait"]
    assert wait["erlang_c"] == pytest.approx(0.66873, abs=1e-5)
    # 95 % t-intervals over 5 replications; a generous margin keeps the test far from flaky.
    margin = 2 * (wait["high"] - wait["low"])
    assert wait["low"] - margin <= wait["erlang_c"] <= wait["high"] + margin
    margin = 2 * (p_wait["high"] - p_wait["low"])
    assert p_wait["low"] - margin <= p_wait["erlang_c"] <= p_wait["high"] + margin
    assert json.loads(json.dumps(found)) == found  # written as mmc.json


def test_the_plan_reads_the_file_and_meets_an_easy_target(tmp_path: Path) -> None:
    path = tmp_path / "queue.yaml"
    path.write_text(yaml.safe_dump(mmc_config(9.0, 1.0, 10).model_dump(mode="json")))
    plan = plan_hospital_capacity(
        path, "waited_fraction.queue<0.9", days=5, replications=2, max_replications=4
    )
    assert plan.found
    assert plan.metrics["waited_fraction.queue"].high < 0.9


def test_the_tables_hold_every_replication_and_the_summary(tmp_path: Path) -> None:
    result = simulate(mmc_config(9.0, 1.0, 10), days=5, replications=3, seed=2)
    written = write_simulation_tables(result, tmp_path)
    assert [p.name for p in written] == ["replications.csv", "summary.csv"]
    reps = list(csv.DictReader((tmp_path / "replications.csv").read_text().splitlines()))
    assert [int(r["replication"]) for r in reps] == [0, 1, 2]
    wait = [float(r["wait_hours.queue"]) for r in reps]
    np.testing.assert_allclose(wait, result.values("wait_hours.queue"), rtol=1e-5)
    rows = {r["metric"]: r for r in csv.DictReader(written[1].read_text().splitlines())}
    assert set(rows) == set(result.summary())
    summary = result.summary()["wait_hours.queue"]
    assert float(rows["wait_hours.queue"]["mean"]) == pytest.approx(summary.mean, rel=1e-5)
    page = tmp_path / "report.html"
    write_simulation_report(result, page, "queue <M/M/10>")
    text = page.read_text()
    assert "queue &lt;M/M/10&gt;" in text
    assert text.count("<tr><td>") == len(summary_names := list(result.summary()))
    assert all(name in text for name in summary_names)
