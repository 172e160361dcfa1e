"""A world run for a client: bounded, reported per country, stoppable between countries."""

from __future__ import annotations

import pytest
from tests.api.test_world_runs import WORLD

from healthtwin.errors import InvalidInputError, ResourceValidationError
from healthtwin.scenarios.world_jobs import MAX_WORLD_WORK, plan_world_run


class _StopError(Exception):
    pass


class _Recorder:
    def __init__(self, stop_after: int | None = None) -> None:
        self.reports: list[tuple[float, str]] = []
        self.stop_after = stop_after

    def check(self) -> None:
        if self.stop_after is not None and len(self.reports) >= self.stop_after:
            raise _StopError

    def progress(self, fraction: float, message: str = "") -> None:
        self.reports.append((fraction, message))


def test_progress_is_reported_per_country_and_the_bands_are_ordered() -> None:
    reporter = _Recorder()
    output = plan_world_run(WORLD, days=14).run(reporter)
    assert reporter.reports == [(0.5, "East done"), (1.0, "West done")]
    series = output.summary["series"]
    assert set(series) == {"East", "West"}
    for name, bands in series["West"].items():
        if name != "band":
            assert all(a <= b <= c for a, b, c in zip(*bands.values(), strict=True))
    summary = output.summary["summary"]
    deaths = summary["countries"]["East"]["deaths"]
    assert deaths[0] <= deaths[1] <= deaths[2]


def test_a_stop_between_countries_ends_the_run() -> None:
    reporter = _Recorder(stop_after=1)
    with pytest.raises(_StopError):
        plan_world_run(WORLD, days=14).run(reporter)
    assert reporter.reports == [(0.5, "East done")]


def test_overrides_are_validated_and_the_size_is_bounded() -> None:
    assert plan_world_run(WORLD, seed=9, replicates=3).world.replicates == 3
    with pytest.raises(ResourceValidationError, match="with days"):
        plan_world_run(WORLD, days=3)  # a world runs at least 7 days
    with pytest.raises(InvalidInputError, match=f"{MAX_WORLD_WORK:,}"):
        plan_world_run(WORLD, replicates=200, days=3650)
    world = {**WORLD, "countries": [WORLD["countries"][0], {**WORLD["countries"][1]}]}
    world["countries"][1]["hospitals"] = [{"config_file": "/etc/hosts"}]
    with pytest.raises(InvalidInputError, match=r"countries\[1\]\.hospitals\[0\]\.config_file"):
        plan_world_run(world)
