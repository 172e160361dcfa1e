"""Shared cross-scale checks of the example worlds."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from healthtwin.scenarios import WorldResult
from healthtwin.scenarios.world_results import ReplicateBand

DeathsCheck = Callable[[WorldResult], None]


def _deaths_add_up(result: WorldResult) -> None:
    """Deaths are counted once and agree at every level, from independent quantities.

    Each hospital's deaths come from its simulation's totals (``died``), overflow deaths
    from its simulated ICU queue by the stress-test rule (recomputed here), community
    deaths are 0 (the population model's deaths leave its ward and ICU only); the region,
    nation and summary figures must be their sums. The population model's own death count
    is not the total (its hospitalised patients are the hospitals').
    """
    o = result.world.feedback.icu_overflow
    excess_per_day = (o.p_death_without_care - o.p_death_with_care) / o.mean_stay_days
    summary = result.summary()
    for c, country in zip(result.countries, result.world.countries, strict=True):
        reps, days, n_regions = c.epidemic.deaths.shape
        by_region = np.zeros((reps, days, n_regions))
        totals = np.zeros(reps)
        for rep, runs in enumerate(c.hospital_runs):
            for h, (run, site) in enumerate(zip(runs, country.hospitals, strict=True)):
                assert run.arrived == run.discharged + run.died + run.in_hospital
                # The day-by-day runs add up to the whole run's totals, ICU beds moved
                # by the national planner or not.
                assert run.deaths_per_day.sum() == run.died
                assert run.discharges_per_day.sum() == run.discharged
                icu = run.units.index(site.icu_unit) if site.icu_unit else None
                queue = np.zeros(days) if icu is None else run.queue_days[:, icu]
                daily = run.deaths_per_day + excess_per_day * queue
                by_region[rep, :, c.hospital_region[h]] += daily
                totals[rep] += daily.sum()
        np.testing.assert_allclose(c.deaths(), by_region, atol=1e-9)
        np.testing.assert_allclose(c.national("deaths").cumulative(), totals, atol=1e-9)
        mine = summary["countries"][c.name]
        assert mine["deaths"] == pytest.approx(ReplicateBand(reps).of(totals))
        assert mine["community_deaths"] == [0.0, 0.0, 0.0]
        per_hospital = np.array([h["deaths"][1] for h in mine["hospitals"].values()])
        if reps <= 2:
            # The median of one or two replicates is their mean, which adds up.
            assert per_hospital.sum() + mine["overflow_deaths"][1] == pytest.approx(
                mine["deaths"][1]
            )


@pytest.fixture
def deaths_add_up() -> DeathsCheck:
    """The check of :func:`_deaths_add_up`."""
    return _deaths_add_up
