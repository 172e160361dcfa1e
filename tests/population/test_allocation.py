"""National allocation of scarce capacity: optimal against brute force, better than pro rata."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from healthtwin.errors import InvalidInputError, ShapeError
from healthtwin.population.allocation import Allocation, allocate, pro_rata, unmet_demand


def demand(seed: int, paths: int = 20, days: int = 15, means: tuple[float, ...] = (6, 3, 1.5)):
    rng = np.random.default_rng(seed)
    waves = rng.gamma(4.0, np.array(means) / 4.0, size=(paths, 1, len(means)))
    shape = np.sin(np.linspace(0.2, 3.0, days))[None, :, None]
    return rng.poisson(waves * shape * 2).astype(float) + rng.random((paths, days, len(means)))


def brute_force(d: np.ndarray, total: int, score) -> tuple[tuple[int, ...], float]:
    best: tuple[tuple[int, ...], float] = ((), np.inf)
    for split in itertools.product(range(total + 1), repeat=d.shape[2] - 1):
        if sum(split) > total:
            continue
        cap = (*split, total - sum(split))
        value = score(unmet_demand(d, np.array(cap))[0])
        if value < best[1] - 1e-9:
            best = (cap, value)
    return best


@pytest.mark.parametrize("seed", range(4))
def test_expected_objective_matches_brute_force(seed: int) -> None:
    d = demand(seed)
    got = allocate(d, 12)
    cap, value = brute_force(d, 12, np.mean)
    assert got.expected_unmet == pytest.approx(value, rel=1e-12)
    assert got.capacity.sum() == 12
    assert tuple(got.capacity) == cap or got.expected_unmet == pytest.approx(value)


@pytest.mark.parametrize("seed", range(2))
def test_cvar_objective_matches_brute_force(seed: int) -> None:
    d = demand(seed, paths=10, days=8)
    got = allocate(d, 10, objective="cvar", alpha=0.8)
    _, value = brute_force(d, 10, lambda u: Allocation(np.zeros(3, np.int64), u, u, "").cvar(0.8))
    assert got.cvar(0.8) == pytest.approx(value, rel=1e-6)


def test_optimizer_beats_pro_rata_by_population() -> None:
    # Populations equal, demand not: pro rata wastes beds where the wave is small.
    d = demand(7, paths=40)
    best = allocate(d, 15)
    fair = pro_rata(d, 15, [1.0, 1.0, 1.0])
    assert fair.capacity.tolist() == [5, 5, 5]
    assert best.expected_unmet < fair.expected_unmet
    assert best.capacity[0] > best.capacity[2]


def test_floors_are_kept_and_surplus_units_placed() -> None:
    d = demand(3)
    got = allocate(d, 1000, floor=np.array([0, 0, 7]))
    assert got.capacity.sum() == 1000
    assert got.capacity[2] >= 7
    assert got.expected_unmet == 0.0
    assert allocate(d, 7, floor=np.array([0, 0, 7])).capacity.tolist() == [0, 0, 7]


def test_pro_rata_rounds_by_largest_remainder() -> None:
    d = np.zeros((1, 1, 3))
    assert pro_rata(d, 10, [1, 1, 1]).capacity.tolist() == [4, 3, 3]
    assert pro_rata(d, 7, [5, 3, 2]).capacity.tolist() == [4, 2, 1]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"demand": np.zeros((3, 4))}, ShapeError, "paths, days, regions"),
        ({"demand": -np.ones((1, 2, 2))}, InvalidInputError, "finite and >= 0"),
        ({"floor": np.array([9, 9])}, InvalidInputError, "more than the total"),
        ({"floor": np.array([1])}, InvalidInputError, "floor must be 2"),
        ({"objective": "median"}, InvalidInputError, "objective"),
        ({"objective": "cvar", "alpha": 1.0}, InvalidInputError, "alpha"),
    ],
)
def test_bad_input_is_a_clear_error(kwargs: dict, error: type, message: str) -> None:
    args = {"demand": np.ones((2, 3, 2)), "total": 10, **kwargs}
    with pytest.raises(error, match=message):
        allocate(args.pop("demand"), args.pop("total"), **args)
