"""Tests of validated, per-member parameter sets."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass
from typing import ClassVar

import numpy as np
import pytest

from healthtwin.core.params import Parameters
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidParameterError, ShapeError


@dataclass(frozen=True, kw_only=True)
class Toy(Parameters):
    rate: float | FloatArray
    offset: float | FloatArray
    share: float | FloatArray
    free: float | FloatArray = -1.0

    positive: ClassVar[frozenset[str]] = frozenset({"rate"})
    nonnegative: ClassVar[frozenset[str]] = frozenset({"offset"})
    fractions: ClassVar[frozenset[str]] = frozenset({"share"})


def test_fields_become_read_only_one_dimensional_arrays() -> None:
    p = Toy(rate=2.0, offset=0.0, share=1.0)
    for name in Toy.names():
        arr = getattr(p, name)
        assert isinstance(arr, np.ndarray)
        assert arr.shape == (1,)
        assert arr.dtype == np.float64
        assert not arr.flags.writeable
    assert p.n_members == 1
    np.testing.assert_array_equal(p.free, [-1.0])


def test_names_follow_field_order() -> None:
    assert Toy.names() == ("rate", "offset", "share", "free")


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("rate", 0.0, r"Toy\.rate must be > 0"),
        ("rate", [1.0, -2.0], r"Toy\.rate must be > 0"),
        ("offset", -1e-12, r"Toy\.offset must be >= 0"),
        ("share", 1.5, r"Toy\.share must be in \[0, 1\]"),
        ("share", -0.1, r"Toy\.share must be in \[0, 1\]"),
        ("free", np.nan, r"Toy\.free must be finite"),
        ("rate", np.inf, r"Toy\.rate must be finite"),
    ],
)
def test_domain_checks_name_the_field_and_value(field: str, value: object, expected: str) -> None:
    kwargs: dict[str, object] = {"rate": 1.0, "offset": 0.0, "share": 0.5}
    kwargs[field] = value
    with pytest.raises(InvalidParameterError, match=expected):
        Toy(**kwargs)  # type: ignore[arg-type]


def test_domain_boundaries_are_accepted() -> None:
    p = Toy(rate=1e-300, offset=0.0, share=[0.0, 1.0], free=-5.0)
    np.testing.assert_array_equal(p.share, [0.0, 1.0])


def test_non_numeric_value_is_an_invalid_parameter() -> None:
    with pytest.raises(InvalidParameterError, match=r"Toy\.rate must be a number"):
        Toy(rate="fast", offset=0.0, share=0.5)  # type: ignore[arg-type]


def test_two_dimensional_value_is_a_shape_error() -> None:
    with pytest.raises(ShapeError, match=r"Toy\.offset must be scalar or 1-D"):
        Toy(rate=1.0, offset=np.zeros((2, 2)), share=0.5)


def test_per_member_arrays_and_shared_scalars_mix() -> None:
    p = Toy(rate=[1.0, 2.0, 3.0], offset=0.5, share=np.array([0.1, 0.2, 0.3]))
    assert p.n_members == 3
    m = p.to_matrix()
    assert m.shape == (3, 4)
    np.testing.assert_array_equal(m[:, 0], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(m[:, 1], [0.5, 0.5, 0.5])
    np.testing.assert_array_equal(m[:, 3], [-1.0, -1.0, -1.0])


def test_mismatched_member_counts_are_a_shape_error() -> None:
    with pytest.raises(ShapeError, match=r"different member counts \[2, 3\]"):
        Toy(rate=[1.0, 2.0], offset=[0.0, 0.0, 0.0], share=0.5)


def test_to_matrix_repeats_shared_parameters_to_n() -> None:
    p = Toy(rate=2.0, offset=1.0, share=0.5)
    np.testing.assert_array_equal(p.to_matrix(3), np.tile([2.0, 1.0, 0.5, -1.0], (3, 1)))
    with pytest.raises(ShapeError, match="parameters are for 2 members, asked for 3"):
        Toy(rate=[1.0, 2.0], offset=0.0, share=0.5).to_matrix(3)


def test_matrix_round_trip() -> None:
    p = Toy(rate=[1.0, 2.0, 3.0], offset=[0.0, 4.0, 5.0], share=0.25, free=[-1.0, 0.0, 1.0])
    back = Toy.from_matrix(p.to_matrix())
    for name in Toy.names():
        np.testing.assert_array_equal(getattr(back, name), np.broadcast_to(getattr(p, name), 3))
    np.testing.assert_array_equal(back.to_matrix(), p.to_matrix())
    # a shared parameter comes back repeated per member
    np.testing.assert_array_equal(back.share, [0.25, 0.25, 0.25])


def test_from_matrix_validates_shape_and_domain() -> None:
    with pytest.raises(ShapeError, match=r"need shape \(n, 4\)"):
        Toy.from_matrix(np.ones((2, 3)))
    with pytest.raises(ShapeError):
        Toy.from_matrix(np.ones(4))
    bad = np.array([[1.0, 0.0, 0.5, 0.0], [-1.0, 0.0, 0.5, 0.0]])
    with pytest.raises(InvalidParameterError, match=r"Toy\.rate must be > 0"):
        Toy.from_matrix(bad)


def test_member_selects_one_member() -> None:
    p = Toy(rate=[1.0, 2.0, 3.0], offset=0.5, share=[0.1, 0.2, 0.3])
    m1 = p.member(1)
    assert isinstance(m1, Toy)
    assert m1.n_members == 1
    np.testing.assert_array_equal(m1.to_matrix(), [[2.0, 0.5, 0.2, -1.0]])
    np.testing.assert_array_equal(Toy(rate=7.0, offset=0.0, share=0.0).member(0).rate, [7.0])


def test_member_handles_negative_and_out_of_range_indices() -> None:
    p = Toy(rate=[1.0, 2.0, 3.0], offset=0.5, share=0.5)
    np.testing.assert_array_equal(p.member(-1).rate, [3.0])
    with pytest.raises(IndexError):
        p.member(3)


def test_replace_validates_again() -> None:
    p = Toy(rate=1.0, offset=0.0, share=0.5)
    q = p.replace(rate=[2.0, 3.0])
    np.testing.assert_array_equal(q.rate, [2.0, 3.0])
    np.testing.assert_array_equal(p.rate, [1.0])
    with pytest.raises(InvalidParameterError, match=r"Toy\.share"):
        p.replace(share=2.0)


def test_parameters_are_frozen_and_arrays_read_only() -> None:
    p = Toy(rate=[1.0, 2.0], offset=0.0, share=0.5)
    with pytest.raises(FrozenInstanceError):
        p.rate = 5.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        p.rate[0] = 5.0  # type: ignore[index]


def test_parameters_copy_the_caller_arrays() -> None:
    rate = np.array([1.0, 2.0])
    p = Toy(rate=rate, offset=0.0, share=0.5)
    rate[0] = 100.0
    np.testing.assert_array_equal(p.rate, [1.0, 2.0])
    assert rate.flags.writeable
