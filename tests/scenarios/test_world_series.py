"""The national bands of a world run are labelled and computed as the summary's bands."""

from __future__ import annotations

import numpy as np
from tests.api.test_world_runs import WORLD

from healthtwin.scenarios.run import run_world
from healthtwin.scenarios.world import parse_world
from healthtwin.scenarios.world_jobs import SERIES, world_series


def test_four_replicates_give_the_range_and_say_so() -> None:
    result = run_world(parse_world({**WORLD, "replicates": 4, "days": 7}, source="test"))
    series = world_series(result)
    assert set(series) == {c.name for c in result.countries}
    for country in result.countries:
        bands = series[country.name]
        assert bands["band"]["kind"] == "range"
        assert bands["band"]["label"] == "range of 4 replicates"
        assert bands["band"]["label"] == result.summary()["interval"]["label"]
        for name in SERIES:
            totals = np.asarray(country.national(name).totals, dtype=float)
            assert totals.shape == (4, 7)
            got = bands[name]
            np.testing.assert_allclose(got["q05"], totals.min(axis=0).round(3))
            np.testing.assert_allclose(got["q50"], np.median(totals, axis=0).round(3))
            np.testing.assert_allclose(got["q95"], totals.max(axis=0).round(3))
        # the replicates differ, so min, median and max are told apart above
        spread = np.asarray(bands["admissions"]["q95"]) - np.asarray(bands["admissions"]["q05"])
        assert spread.max() > 0
