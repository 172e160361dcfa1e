"""Geography: validation, totals, splitting regions by a pyramid, age labels."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from healthtwin.errors import InvalidInputError, ShapeError
from healthtwin.population.geography import AGE_GROUPS_16, Geography, age_group_spans


def test_age_groups_16_are_the_prem_bins() -> None:
    assert len(AGE_GROUPS_16) == 16
    assert AGE_GROUPS_16[0] == "0-4"
    assert AGE_GROUPS_16[-2:] == ("70-74", "75+")
    mid, width = age_group_spans(AGE_GROUPS_16)
    np.testing.assert_array_equal(width, [5.0] * 15 + [10.0])
    assert mid[3] == 17.5


def test_bad_geographies_are_rejected_with_the_culprit_named() -> None:
    with pytest.raises(InvalidInputError, match=r"repeated: \['a'\]"):
        Geography(regions=("a", "a"), age_groups=("all",), population=[[1.0], [2.0]])
    with pytest.raises(ShapeError, match=r"expected \(regions, age groups\) = \(2, 1\)"):
        Geography(regions=("a", "b"), age_groups=("all",), population=[[1.0, 2.0]])
    with pytest.raises(InvalidInputError, match=r"region 'b', age group 'all' is -3.0"):
        Geography(regions=("a", "b"), age_groups=("all",), population=[[1.0], [-3.0]])
    with pytest.raises(ShapeError, match="latitude must be 2 finite numbers"):
        Geography(
            regions=("a", "b"), age_groups=("all",), population=[[1.0], [2.0]], latitude=[0.0]
        )
    g = Geography(regions=("a", "b"), age_groups=("all",), population=[[1.0], [2.0]])
    with pytest.raises(InvalidInputError, match=r"unknown region 'c'; known regions: \['a', 'b'\]"):
        g.index("c")


def test_totals_by_region_and_age() -> None:
    g = Geography(
        regions=("a", "b"), age_groups=("young", "old"), population=[[10.0, 5.0], [20.0, 1.0]]
    )
    assert g.region_population().tolist() == [15.0, 21.0]
    assert g.age_population().tolist() == [30.0, 6.0]
    assert g.total() == 36.0


def test_from_totals_exact_and_per_region_pyramids() -> None:
    g = Geography.from_totals(
        ("a", "b"),
        [100.0, 50.0],
        [[1.0, 3.0], [1.0, 1.0]],
        age_groups=("young", "old"),
        latitude=[1.0, 2.0],
        longitude=[3.0, 4.0],
        whole_persons=False,
    )
    np.testing.assert_array_equal(g.population, [[25.0, 75.0], [25.0, 25.0]])
    assert g.latitude is not None
    assert g.latitude.tolist() == [1.0, 2.0]


def test_from_totals_rejects_bad_input() -> None:
    with pytest.raises(InvalidInputError, match="totals must be 2 finite numbers"):
        Geography.from_totals(("a", "b"), [1.0, -1.0], [1.0], age_groups=("all",))
    with pytest.raises(ShapeError, match=r"age_shares has shape \(3,\); expected \(2,\)"):
        Geography.from_totals(("a",), [1.0], [1.0, 2.0, 3.0], age_groups=("x", "y"))
    with pytest.raises(InvalidInputError, match="positive sum"):
        Geography.from_totals(("a",), [1.0], [0.0, 0.0], age_groups=("x", "y"))


@settings(max_examples=50, deadline=None)
@given(
    totals=hnp.arrays(np.float64, st.integers(1, 8), elements=st.floats(0.0, 1e8)),
    shares=hnp.arrays(np.float64, 5, elements=st.floats(0.0, 1.0)).filter(lambda s: s.sum() > 0.01),
)
def test_whole_persons_add_up_and_stay_within_one_of_the_exact_split(
    totals: np.ndarray, shares: np.ndarray
) -> None:
    ages = ("0-9", "10-29", "30-49", "50-69", "70+")
    g = Geography.from_totals(
        tuple(f"r{i}" for i in range(totals.size)), totals, shares, age_groups=ages
    )
    np.testing.assert_array_equal(g.population, np.round(g.population))
    np.testing.assert_array_equal(g.region_population(), np.round(totals))
    exact = np.round(totals)[:, None] * shares[None, :] / shares.sum()
    assert np.abs(g.population - exact).max() < 1.0 + 1e-6 * max(1.0, totals.max())
    assert (g.population[:, shares == 0] == 0).all()


def test_age_group_spans_reject_unparseable_labels() -> None:
    with pytest.raises(InvalidInputError, match="'old' is not of the form"):
        age_group_spans(["0-4", "old"])
    with pytest.raises(InvalidInputError, match="'9-3' is not of the form"):
        age_group_spans(["9-3"])
    with pytest.raises(InvalidInputError, match="at least one"):
        age_group_spans([])
