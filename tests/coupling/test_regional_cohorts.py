"""Population -> synthetic: cohorts shaped by each region's age pyramid."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from scipy import stats
from tests.conftest import require

from healthtwin.coupling.regional_cohorts import regional_cohorts, regional_pyramid, regional_spec
from healthtwin.errors import InvalidInputError
from healthtwin.population.geography import Geography
from healthtwin.synthetic.cohort_spec import CohortSpec

SPEC = CohortSpec.model_validate(
    {
        "name": "adults",
        "inclusion": {"age_years": [20, 80], "diabetes": False},
        "targets": {"female_fraction": 0.5, "age_years": {"mean": 30, "sd": 5}},
    }
)
YOUNG_OLD = Geography(
    regions=("young", "old"),
    age_groups=("0-19", "20-39", "40-59", "60-79"),
    population=np.array([[5000.0, 3000.0, 1500.0, 500.0], [1000.0, 1500.0, 3000.0, 4500.0]]),
)


def test_the_pyramid_keeps_the_people_inside_the_inclusion_range() -> None:
    p = regional_pyramid(YOUNG_OLD, "old", (30.0, 70.0))
    assert p.edges == (30.0, 40.0, 60.0, 70.0)
    # Half of 20-39 and half of 60-79 fall inside 30-70.
    assert p.weights == (750.0, 3000.0, 2250.0)
    whole = regional_pyramid(YOUNG_OLD, None, (0.0, 80.0))
    assert sum(whole.weights) == pytest.approx(YOUNG_OLD.total())


def test_the_region_replaces_the_age_target_and_keeps_the_rest() -> None:
    spec = regional_spec(SPEC, YOUNG_OLD, "old")
    assert spec.name == "adults-old"
    assert spec.targets.female_fraction == 0.5
    assert spec.inclusion == SPEC.inclusion
    # Uniform within bins: mean of 1500 over 20-40, 3000 over 40-60, 4500 over 60-80.
    expected = (1500 * 30 + 3000 * 50 + 4500 * 70) / 9000
    assert spec.targets.age_years is not None
    assert spec.targets.age_years.mean == pytest.approx(expected)


def test_cohorts_follow_their_regions_demography() -> None:
    cohorts = regional_cohorts(SPEC, YOUNG_OLD, 300, seed=3)
    assert set(cohorts) == {"young", "old"}
    ages = {r: c.columns["age_years"] for r, c in cohorts.items()}
    assert ages["old"].mean() - ages["young"].mean() > 10
    for region, cohort in cohorts.items():
        assert cohort.n == 300
        assert all(check.passed for check in cohort.report), cohort.report_text()
        # The ages follow the region's pyramid (piecewise-uniform CDF), not the spec's 30 +- 5.
        pyramid = regional_pyramid(YOUNG_OLD, region, (20.0, 80.0))
        edges = np.asarray(pyramid.edges)
        cdf_at_edges = np.concatenate([[0.0], np.cumsum(pyramid.weights) / sum(pyramid.weights)])
        result = stats.kstest(ages[region], partial(np.interp, xp=edges, fp=cdf_at_edges))
        assert result.pvalue > 0.001


def test_a_region_draws_the_same_cohort_whatever_else_is_asked() -> None:
    alone = regional_cohorts(SPEC, YOUNG_OLD, 50, regions=["old"], seed=9)["old"]
    both = regional_cohorts(SPEC, YOUNG_OLD, 50, seed=9)["old"]
    np.testing.assert_array_equal(alone.columns["age_years"], both.columns["age_years"])


def test_unknown_or_empty_regions_are_clear_errors() -> None:
    with pytest.raises(InvalidInputError, match="unknown region 'nowhere'"):
        regional_cohorts(SPEC, YOUNG_OLD, 10, regions=["nowhere"])
    with pytest.raises(InvalidInputError, match="nobody aged 85"):
        regional_pyramid(YOUNG_OLD, "old", (85.0, 90.0))


def test_countries_from_un_wpp_differ_as_their_pyramids_do() -> None:
    require("starsim_data", "popdata")
    from healthtwin.population.demography import country_geography

    niger = regional_spec(SPEC, country_geography("Niger", level="national"))
    japan = regional_spec(SPEC, country_geography("Japan", level="national"))
    assert niger.targets.age_years is not None
    assert japan.targets.age_years is not None
    assert japan.targets.age_years.mean - niger.targets.age_years.mean > 10
