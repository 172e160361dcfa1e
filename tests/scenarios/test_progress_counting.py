"""Counting the work of a long run does not change it (issue 14's progress bars).

Each callback threaded for a command line bar (population ensembles in process and on
Dask, readings assimilated by a patient twin, series monitored, model fits) is called with
``(done, total)`` ending at ``(total, total)``, and the run with it equals the run without.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.conftest import require

from healthtwin.scenarios.epidemic_runs import prepare_population_scenario, run_variants

SCENARIO = Path(__file__).resolve().parents[1] / "data" / "population" / "two_wave.yaml"


class Counts:
    """A ``(done, total)`` callback that remembers every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def __call__(self, done: int, total: int) -> None:
        self.calls.append((done, total))

    def check(self, total: int) -> None:
        assert self.calls[-1] == (total, total)
        done = [d for d, _ in self.calls]
        assert done == sorted(done), "progress never goes back"
        assert {t for _, t in self.calls} == {total}


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("scenario") / "short.yaml"
    path.write_text(SCENARIO.read_text().replace("days: 60", "days: 14", 1))
    return prepare_population_scenario(path, replicates=3).spec


def _same_results(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert list(a) == list(b)
    for name in a:
        assert a[name].replicate_ids == b[name].replicate_ids
        for quantity in a[name].series:
            np.testing.assert_array_equal(a[name].series[quantity], b[name].series[quantity])


def test_a_counted_ensemble_in_process_is_the_uncounted_one(spec: Any) -> None:
    names = ["no-action", "lockdown"]
    counts = Counts()
    counted = run_variants(spec, names, on_progress=counts)
    _same_results(run_variants(spec, names), counted)
    counts.check(len(names) * spec.replicates)
    assert len(counts.calls) == 2  # few replicates: one task per variant
    # Sixty replicates run in batches of 25, 25 and 10 (at least MIN_COUNTED_BATCH each).
    larger = spec.model_copy(update={"replicates": 60})
    batched = Counts()
    _same_results(run_variants(larger, names), run_variants(larger, names, on_progress=batched))
    assert batched.calls == [(25, 120), (50, 120), (60, 120), (85, 120), (110, 120), (120, 120)]


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    distributed: Any = require("distributed", "dask")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, protocol="tcp",
        dashboard_address=":0", scheduler_kwargs={"dashboard": False},
    ) as cluster:  # fmt: skip
        yield str(cluster.scheduler_address)


def test_a_counted_ensemble_on_dask_counts_finished_futures(spec: Any, scheduler: str) -> None:
    names = ["no-action", "lockdown"]
    counts = Counts()
    on_dask = run_variants(spec, names, scheduler="dask", address=scheduler, on_progress=counts)
    _same_results(run_variants(spec, names), on_dask)
    # Tasks of max(1, 3 // 4) = 1 replicate: six futures, counted from zero.
    assert counts.calls[0] == (0, 6)
    counts.check(6)


def _cgm_stream(folder: Path, readings: int = 12) -> Path:
    rng = np.random.default_rng(3)
    values = 120 + np.cumsum(rng.normal(0, 3, readings))
    lines = ["t_min,glucose_mg_dl", *(f"{5 * (i + 1)},{v:.2f}" for i, v in enumerate(values))]
    path = folder / "cgm.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_counted_assimilation_gives_the_same_report(tmp_path: Path) -> None:
    from healthtwin.scenarios.patient_sync import prepare_sync

    prepared = prepare_sync(_cgm_stream(tmp_path), model="uva-padova", patient="nominal-adult")
    options: dict[str, Any] = {"members": 16, "horizons": [30.0], "seed": 5}
    plain = prepared.run(["si"], **options).report
    counts = Counts()
    counted = prepared.run(["si"], on_progress=counts, **options).report
    counts.check(12)
    assert len(counts.calls) == 12
    for field in ("times", "observed", "filtered", "parameters", "forecasts", "used"):
        np.testing.assert_array_equal(getattr(plain, field), getattr(counted, field), field)
    assert (plain.outputs, plain.parameter_names, plain.horizons) == (
        counted.outputs, counted.parameter_names, counted.horizons,
    )  # fmt: skip


def _weekly_series() -> dict[tuple[str, str, str], list[tuple[str, float]]]:
    rng = np.random.default_rng(4)
    start = dt.date(2020, 1, 6)
    series: dict[tuple[str, str, str], list[tuple[str, float]]] = {}
    for country in ("FR", "BE", "DE"):
        for disease, weeks in (("measles", 300), ("mumps", 290)):
            counts = rng.poisson(20, size=weeks).astype(float)
            if country in ("FR", "BE"):
                counts[-2:] += 60
            series[(country, disease, "rash")] = [
                ((start + dt.timedelta(weeks=w + 300 - weeks)).isoformat(), float(c))
                for w, c in enumerate(counts)
            ]
    return series


@pytest.mark.parametrize("method", ["ears-c2", "farrington-flexible"])
def test_counted_monitoring_gives_the_same_ranking(method: str) -> None:
    from healthtwin.scenarios.surveillance_runs import monitor_weekly_series

    series = _weekly_series()
    borders = {"FR": ["BE", "DE"]}
    plain = monitor_weekly_series(series, method=method, neighbours=borders)
    counts = Counts()
    counted = monitor_weekly_series(series, method=method, neighbours=borders, on_progress=counts)
    counts.check(len(series))
    assert len(counts.calls) == len(series)  # one call per series
    assert counted.to_json() == plain.to_json()
    assert {a["country"] for a in plain.to_dict()["alarms"]} >= {"FR", "BE"}


def test_model_fits_are_counted_and_change_nothing(tmp_path: Path) -> None:
    require("sksurv", "ml")
    from healthtwin.scenarios.prognosis_runs import (
        load_prognosis_dataset,
        survival_fits,
        train_survival,
    )

    data = load_prognosis_dataset("veterans")
    options: dict[str, Any] = {"replicates": 2, "folds": 2, "seed": 1}
    plain = train_survival(data, "cox", tmp_path / "plain", **options)
    counts = Counts()
    counted = train_survival(data, "cox", tmp_path / "counted", on_progress=counts, **options)
    assert survival_fits(2, 2) == 7
    assert counts.calls == [(2, 7), (5, 7), (7, 7)]
    assert counted.metrics == plain.metrics


def test_progression_stages_are_counted_and_change_nothing(tmp_path: Path) -> None:
    require("sklearn", "ml")
    from healthtwin.scenarios.prognosis_runs import load_prognosis_dataset, train_progression

    data = load_prognosis_dataset("diabetes")
    plain = train_progression(data, "ridge", tmp_path / "plain", seed=2)
    counts = Counts()
    counted = train_progression(data, "ridge", tmp_path / "counted", seed=2, on_progress=counts)
    assert counts.calls == [(1, 3), (2, 3), (3, 3)]
    assert counted.metrics == plain.metrics
