"""Splitting one data set into sites: IID and by case mix."""

from __future__ import annotations

import numpy as np
import pytest

from healthtwin.errors import InvalidParameterError, ShapeError
from healthtwin.federation.sites import SiteData, load_site_data, pool, split_by_case_mix, split_iid


def _data(n: int = 300) -> SiteData:
    rng = np.random.default_rng(0)
    return SiteData(rng.normal(size=(n, 2)), rng.exponential(size=n), rng.random(n) < 0.5)


def test_iid_split_partitions_the_patients() -> None:
    data = _data()
    sites = split_iid(data, 4, np.random.default_rng(1))
    assert sorted(s.n_patients for s in sites) == [75, 75, 75, 75]
    assert np.allclose(np.sort(pool(sites).time), np.sort(data.time))


@pytest.mark.parametrize("skew", [0.0, 0.5, 1.0])
def test_case_mix_split_partitions_and_orders_by_score(skew: float) -> None:
    data = _data(600)
    sites = split_by_case_mix(data, 3, np.random.default_rng(2), skew=skew)
    assert sum(s.n_patients for s in sites) == 600
    means = [float(s.features[:, 0].mean()) for s in sites]
    if skew > 0:
        assert means == sorted(means)
        assert means[-1] - means[0] > 1.5 * skew
    else:
        assert max(means) - min(means) < 0.4


def test_binary_outcome_drops_patients_censored_before_the_horizon() -> None:
    survival = load_site_data("veterans")
    binary = load_site_data("veterans", outcome="binary", horizon=100.0)
    censored_early = (survival.time < 100.0) & ~survival.event
    assert binary.n_patients == survival.n_patients - int(censored_early.sum())
    assert int(binary.event.sum()) == int(((survival.time < 100) & survival.event).sum())


def test_bad_splits_are_errors() -> None:
    data = _data(30)
    with pytest.raises(InvalidParameterError, match="at least 10 patients"):
        split_iid(data, 4, np.random.default_rng(0))
    with pytest.raises(InvalidParameterError, match="skew"):
        split_by_case_mix(data, 2, np.random.default_rng(0), skew=1.5)
    with pytest.raises(ShapeError):
        SiteData(np.zeros((3, 2)), np.zeros(2), np.zeros(3, bool))
