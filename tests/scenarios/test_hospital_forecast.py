"""The hospital forecast without HTTP: bands against the engine, Little's law, alerts, runs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.hospital.simulate import simulate
from healthtwin.hospital.textbook import mmc_config
from healthtwin.scenarios.hospital_forecast import (
    LEVELS,
    MAX_REPLICATION_DAYS,
    ForecastSettings,
    check_forecast_cost,
    forecast_hospital,
    run_forecast,
)
from healthtwin.scenarios.hospital_twins import HospitalTwin, make_hospital_twin

SMALL = {
    "units": {
        "ed": {"kind": "ed", "beds": 4, "los_hours": {"dist": "exponential", "mean": 2.0}},
        "ward": {"kind": "ward", "beds": 6, "los_hours": {"dist": "exponential", "mean": 24.0}},
    },
    "arrivals": [{"unit": "ed", "rate_per_hour": 1.0}],
    "pathways": {"ed": {"ward": 0.2, "discharge": 0.8}, "ward": {"discharge": 1.0}},
}


class Recorder:
    """A reporter that records progress and stops the run after ``stop_after`` checks."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.reports: list[tuple[float, str]] = []
        self.checks = 0
        self.stop_after = stop_after

    def check(self) -> None:
        self.checks += 1
        if self.stop_after is not None and self.checks > self.stop_after:
            raise RuntimeError("stopped")

    def progress(self, fraction: float, message: str = "") -> None:
        self.reports.append((fraction, message))


def _twin(census: dict[str, int] | None = None) -> HospitalTwin:
    return make_hospital_twin(hospital_id="small", config=SMALL, census=census)


def test_each_days_bands_are_the_quantiles_of_a_direct_engine_run() -> None:
    twin = _twin({"ward": 5})
    settings = ForecastSettings(days=3, replications=10, seed=3)
    summary, arrays = forecast_hospital(twin, settings)
    for day in (0, 2):
        direct = simulate(
            twin.config, days=1.0, warmup_days=float(day), replications=10, seed=3,
            census=twin.census_model(),
        )  # fmt: skip
        beds = direct.values("occupancy.ward") * 6
        np.testing.assert_allclose(arrays["occupancy.ward"][day], beds)
        bands = summary["units"]["ward"]["occupancy_beds"]
        for level in LEVELS:
            assert bands[f"{level:g}"][day] == pytest.approx(np.quantile(beds, level))
        late = summary["early_warning"]["deteriorations"]["0.5"][day]
        assert late == pytest.approx(np.median(direct.values("deteriorations")))
    assert summary["day"] == [1, 2, 3]
    assert summary["units"]["ward"]["census_now"] == 5


def test_occupancy_and_queue_obey_littles_law_in_an_mmc_hospital() -> None:
    # L = lambda x W over the measured days: beds in use = lambda x (sojourn - wait) and
    # the queue = lambda x wait (the forecast's definition), so together lambda x sojourn.
    lam, servers = 4.0, 5
    config = mmc_config(lam, 1.0, servers).model_dump(mode="json")
    twin = make_hospital_twin(config=config)
    settings = ForecastSettings(days=4, replications=40, seed=1)
    _, arrays = forecast_hospital(twin, settings)
    in_system = (arrays["occupancy.queue"] + arrays["queue.queue"])[2:].mean(axis=0)
    sojourn = np.array(
        [
            simulate(twin.config, days=1.0, warmup_days=float(d), replications=40, seed=1).values(
                "sojourn_hours"
            )
            for d in (2, 3)
        ]
    ).mean(axis=0)
    difference = in_system - lam * sojourn
    half = stats.t.ppf(0.995, difference.size - 1) * difference.std(ddof=1)
    half /= math.sqrt(difference.size)
    assert abs(difference.mean()) < half  # measured: -0.03 beds, half-width 0.16
    load = lam / 1.0
    head = sum(load**k / math.factorial(k) for k in range(servers))
    tail = load**servers / math.factorial(servers) / (1 - load / servers)
    erlang_l = tail / (head + tail) * (load / servers) / (1 - load / servers) + load
    spread = stats.t.ppf(0.995, in_system.size - 1) * in_system.std(ddof=1)
    assert abs(in_system.mean() - erlang_l) < spread / math.sqrt(in_system.size)


def test_a_full_ward_is_a_high_alert_and_a_high_line_none() -> None:
    twin = _twin({"ward": 6})
    summary, _ = forecast_hospital(twin, ForecastSettings(days=2, replications=8, seed=0))
    [ward] = [a for a in summary["alerts"] if a["unit"] == "ward"]
    assert (ward["severity"], ward["first_day"]) == ("high", 1)
    calm, _ = forecast_hospital(twin, ForecastSettings(days=2, replications=8, occupancy_alert=1.0))
    assert [a for a in calm["alerts"] if a["kind"] == "occupancy"] == []


def test_the_cost_limit_is_refused_before_simulating() -> None:
    days = 30
    replications = MAX_REPLICATION_DAYS // (days * (days + 1) // 2) + 1
    with pytest.raises(InvalidInputError, match="at most 20000"):
        check_forecast_cost(ForecastSettings(days=days, replications=replications))
    with pytest.raises(InvalidParameterError, match="occupancy_alert"):
        ForecastSettings(occupancy_alert=0.0)
    with pytest.raises(InvalidParameterError, match="days 0"):
        ForecastSettings(days=0)


def test_a_run_reports_the_share_of_simulated_days_and_stops_when_asked() -> None:
    twin = _twin()
    reporter = Recorder()
    output = run_forecast(twin, ForecastSettings(days=3, replications=2), reporter)
    assert [f for f, _ in reporter.reports] == pytest.approx([2 / 12, 6 / 12, 1.0])
    assert reporter.reports[-1][1] == "day 3 of 3"
    assert output.summary["kind"] == "hospital-forecast"
    assert np.asarray(output.arrays["queue.ward"]).shape == (3, 2)
    stopper = Recorder(stop_after=2)
    with pytest.raises(RuntimeError, match="stopped"):
        run_forecast(twin, ForecastSettings(days=3, replications=2), stopper)
    assert len(stopper.reports) == 1
