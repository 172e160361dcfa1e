"""Tests of named, seeded random streams."""

from __future__ import annotations

import numpy as np
import pytest

from healthtwin.core.random import RandomStreams
from healthtwin.errors import InvalidParameterError


def test_same_seed_and_name_give_the_same_numbers() -> None:
    a = RandomStreams(42).generator("sensor").normal(size=100)
    b = RandomStreams(42).generator("sensor").normal(size=100)
    np.testing.assert_array_equal(a, b)


def test_each_generator_call_starts_the_stream_afresh() -> None:
    streams = RandomStreams(3)
    first = streams.generator("meals").random(10)
    streams.generator("other").random(1000)
    again = streams.generator("meals").random(10)
    np.testing.assert_array_equal(first, again)


def test_different_names_give_different_numbers() -> None:
    streams = RandomStreams(42)
    draws = {
        name: streams.generator(name).random(50) for name in ("sensor", "meals", "sensor ", "")
    }
    names = list(draws)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not np.array_equal(draws[a], draws[b]), (a, b)


def test_different_seeds_give_different_numbers() -> None:
    a = RandomStreams(0).generator("sensor").random(50)
    b = RandomStreams(1).generator("sensor").random(50)
    assert not np.array_equal(a, b)


def test_streams_look_independent() -> None:
    streams = RandomStreams(7)
    a = streams.generator("a").normal(size=20_000)
    b = streams.generator("b").normal(size=20_000)
    # correlation of independent standard normals is ~N(0, 1/20000): |r| < 5 sd
    assert abs(np.corrcoef(a, b)[0, 1]) < 5 / np.sqrt(20_000)
    assert abs(a.mean()) < 5 / np.sqrt(20_000)


def test_sequence_is_derived_from_seed_and_name() -> None:
    s1 = RandomStreams(5).sequence("x")
    s2 = RandomStreams(5).sequence("x")
    assert s1.entropy == s2.entropy
    assert RandomStreams(5).sequence("y").entropy != s1.entropy


def test_numpy_integer_seed_is_accepted() -> None:
    streams = RandomStreams(np.int64(9))  # type: ignore[arg-type]
    assert streams.seed == 9
    assert isinstance(streams.seed, int)
    assert repr(streams) == "RandomStreams(seed=9)"


@pytest.mark.parametrize("seed", [-1, -(2**40), 1.5, "3", None])
def test_invalid_seeds_are_rejected(seed: object) -> None:
    with pytest.raises(InvalidParameterError, match="non-negative integer"):
        RandomStreams(seed)  # type: ignore[arg-type]
