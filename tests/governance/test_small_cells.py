"""Small-cell suppression: no small count is published, none can be recovered from totals."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.governance.small_cells import suppress_small_cells


def test_a_single_small_cell_gets_a_complementary_partner() -> None:
    table = suppress_small_cells({"flu": 240, "covid": 4, "rsv": 35, "other": 77})
    assert table.as_dict() == {"flu": 240, "covid": None, "rsv": None, "other": 77}
    assert table.primary == (1,)
    assert table.complementary == (2,)
    assert table.total == 356


def test_many_tiny_cells_need_a_partner_large_enough_to_hide_them() -> None:
    table = suppress_small_cells([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 50, 400], k=10)
    assert table.counts[:11] == (None,) * 11
    assert table.counts[11] == 400
    assert table.total == 460


def test_the_total_is_withheld_when_nothing_can_protect_the_cells() -> None:
    table = suppress_small_cells([3, 4, 0])
    assert table.counts == (None, None, 0)
    assert table.total is None


def test_without_a_total_only_small_cells_are_hidden() -> None:
    table = suppress_small_cells([3, 40, 50], publish_total=False)
    assert table.counts == (None, 40, 50)
    assert table.complementary == ()


def test_zero_cells_are_published_unless_asked() -> None:
    assert suppress_small_cells([0, 20, 30]).counts == (0, 20, 30)
    hidden = suppress_small_cells([0, 20, 30], suppress_zero=True)
    assert hidden.counts[0] is None
    assert hidden.complementary == (1,)


def test_bad_tables_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="non-negative integers"):
        suppress_small_cells([1, -2])
    with pytest.raises(InvalidInputError, match="no cells"):
        suppress_small_cells([])
    with pytest.raises(InvalidParameterError, match="k must be"):
        suppress_small_cells([1], k=1)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=60), min_size=1, max_size=8),
    st.integers(min_value=2, max_value=15),
    st.booleans(),
)
def test_no_hidden_cell_can_be_recovered_or_bounded_below_k(
    counts: list[int], k: int, suppress_zero: bool
) -> None:
    table = suppress_small_cells(counts, k=k, suppress_zero=suppress_zero)
    low = 0 if suppress_zero else 1
    hidden = [i for i, c in enumerate(table.counts) if c is None]
    for i, published in enumerate(table.counts):
        if published is not None:
            assert published == counts[i]
            assert published >= k or (published == 0 and not suppress_zero)
    if table.total is None or not hidden:
        return
    assert table.total == sum(counts)
    # What an intruder learns from the total: the hidden cells sum to S, each >= low.
    hidden_sum = table.total - sum(c for c in table.counts if c is not None)
    for i in hidden:
        feasible = range(low, hidden_sum - (len(hidden) - 1) * low + 1)
        assert counts[i] in feasible
        assert len(feasible) >= 2
        assert feasible[-1] >= k
