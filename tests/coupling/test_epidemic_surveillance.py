"""Detectors scored on outbreaks injected into the population twin's endemic series."""

from __future__ import annotations

import numpy as np
import pytest

from healthtwin.coupling.epidemic_surveillance import (
    EndemicSetting,
    closed_loop_scores,
    endemic_background,
)
from healthtwin.errors import InvalidParameterError


def test_the_background_is_endemic_and_reproducible() -> None:
    setting = EndemicSetting(years=3, burn_in_years=2)
    weekly = endemic_background(setting, replicates=4, seed=1)
    assert weekly.shape == (4, 156)
    # Endemic: every week has cases, and the late level is stable (no die-out, no explosion).
    assert (weekly > 0).all()
    first, last = weekly[:, :52].mean(), weekly[:, -52:].mean()
    assert 0.5 < last / first < 2.0
    np.testing.assert_array_equal(weekly, endemic_background(setting, replicates=4, seed=1))


def test_bigger_outbreaks_are_found_more_often() -> None:
    methods = ["ears-c2", "farrington-flexible"]
    small = closed_loop_scores(methods, replicates=12, k=1.0, seed=3)
    large = closed_loop_scores(methods, replicates=12, k=10.0, seed=3)
    for method in methods:
        assert large[method].undefined_fraction == 0.0
        assert large[method].probability_of_detection.value >= 0.5
        assert (
            large[method].probability_of_detection.value
            > small[method].probability_of_detection.value
        )
        # Same background and outbreak timing in both runs: the false alarms are the same.
        assert large[method].false_positive_rate.value < 0.35


def test_bad_settings_are_clear_errors() -> None:
    with pytest.raises(InvalidParameterError, match="ascertainment"):
        EndemicSetting(ascertainment=0.0)
    with pytest.raises(InvalidParameterError, match="monitored_weeks"):
        closed_loop_scores(["ears-c1"], EndemicSetting(years=1, burn_in_years=1), replicates=2,
                           monitored_weeks=60)  # fmt: skip
