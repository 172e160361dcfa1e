"""Tests of ensemble states: flat views, member selection, read-only arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from healthtwin.core.state import ArrayState
from healthtwin.core.types import FloatArray, IntArray
from healthtwin.errors import ShapeError


@dataclass(frozen=True)
class ToyState(ArrayState):
    x: FloatArray  # (n, 3)
    cov: FloatArray  # (n, 2, 2)
    count: IntArray  # (n,)


def _state(n: int = 4) -> ToyState:
    rng = np.random.default_rng(n)
    return ToyState(
        x=rng.normal(size=(n, 3)),
        cov=rng.normal(size=(n, 2, 2)),
        count=np.arange(n, dtype=np.int64) * 10,
    )


def test_to_array_flattens_fields_per_member_in_field_order() -> None:
    s = _state(3)
    flat = s.to_array()
    assert flat.shape == (3, 3 + 4 + 1)
    assert flat.dtype == np.float64
    np.testing.assert_array_equal(flat[:, :3], s.x)
    np.testing.assert_array_equal(flat[:, 3:7], s.cov.reshape(3, 4))
    np.testing.assert_array_equal(flat[:, 7], s.count)


def test_from_array_round_trips_with_field_shapes_and_dtypes() -> None:
    s = _state(5)
    back = s.from_array(s.to_array())
    assert type(back) is ToyState
    for name, arr in s.arrays().items():
        got = back.arrays()[name]
        assert got.shape == arr.shape
        assert got.dtype == arr.dtype
        np.testing.assert_array_equal(got, arr)


def test_from_array_may_change_the_member_count() -> None:
    s = _state(2)
    flat = np.arange(3 * 8, dtype=np.float64).reshape(3, 8)
    other = s.from_array(flat)
    assert other.n_members == 3
    np.testing.assert_array_equal(other.cov[1], [[11.0, 12.0], [13.0, 14.0]])
    np.testing.assert_array_equal(other.count, [7, 15, 23])


@pytest.mark.parametrize("shape", [(2, 7), (2, 9), (16,), (2, 8, 1)])
def test_from_array_rejects_the_wrong_width(shape: tuple[int, ...]) -> None:
    with pytest.raises(ShapeError, match=r"\(m, 8\)"):
        _state(2).from_array(np.zeros(shape))


def test_take_selects_members_in_order() -> None:
    s = _state(5)
    t = s.take([4, 1, 1])
    assert t.n_members == 3
    np.testing.assert_array_equal(t.x, s.x[[4, 1, 1]])
    np.testing.assert_array_equal(t.cov, s.cov[[4, 1, 1]])
    np.testing.assert_array_equal(t.count, [40, 10, 10])
    np.testing.assert_array_equal(s.take(slice(1, 3)).count, [10, 20])
    np.testing.assert_array_equal(s.take(np.array([0])).x, s.x[:1])


def test_repeat_copies_one_member() -> None:
    one = _state(3).take([2])
    many = one.repeat(4)
    assert many.n_members == 4
    np.testing.assert_array_equal(many.x, np.repeat(one.x, 4, axis=0))
    np.testing.assert_array_equal(many.count, [20, 20, 20, 20])


def test_repeat_needs_one_member() -> None:
    with pytest.raises(ShapeError, match="one-member state, got 3"):
        _state(3).repeat(2)


def test_concat_stacks_members_in_order() -> None:
    a, b = _state(2), _state(3)
    c = ToyState.concat([a, b])
    assert c.n_members == 5
    np.testing.assert_array_equal(c.x, np.concatenate([a.x, b.x]))
    np.testing.assert_array_equal(c.count, [0, 10, 0, 10, 20])
    np.testing.assert_array_equal(ToyState.concat([a]).x, a.x)


def test_concat_needs_a_state() -> None:
    with pytest.raises(ShapeError, match="at least one"):
        ToyState.concat([])


def test_arrays_are_read_only() -> None:
    s = _state(2)
    for arr in s.arrays().values():
        assert not arr.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        s.x[0, 0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        s.count[:] = 0
    for derived in (
        s.take([0]),
        s.take([0]).repeat(2),
        ToyState.concat([s, s]),
        s.from_array(s.to_array()),
    ):
        assert not derived.x.flags.writeable


def test_state_copies_the_caller_arrays() -> None:
    x = np.zeros((2, 3))
    s = ToyState(x=x, cov=np.zeros((2, 2, 2)), count=np.zeros(2, dtype=np.int64))
    x[0, 0] = 5.0
    assert s.x[0, 0] == 0.0
    assert x.flags.writeable


def test_to_array_is_a_fresh_array() -> None:
    s = _state(2)
    flat = s.to_array()
    flat[:] = 0.0
    assert np.any(s.x != 0.0)


def test_mismatched_leading_axis_is_rejected() -> None:
    with pytest.raises(ShapeError, match="'cov' has 3 members, expected 2"):
        ToyState(x=np.zeros((2, 3)), cov=np.zeros((3, 2, 2)), count=np.zeros(2))


def test_scalar_field_is_rejected() -> None:
    with pytest.raises(ShapeError, match="'count' needs a leading member axis"):
        ToyState(x=np.zeros((2, 3)), cov=np.zeros((2, 2, 2)), count=np.float64(1.0))  # type: ignore[arg-type]


def test_states_are_frozen() -> None:
    s = _state(2)
    with pytest.raises(AttributeError):
        s.x = np.ones((2, 3))  # type: ignore[misc]
