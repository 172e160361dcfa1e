"""Mobility matrices: validation, construction from trips and files, restrictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError
from healthtwin.population.geography import Geography
from healthtwin.population.mobility import (
    MobilityMatrix,
    gravity_mobility,
    haversine_km,
    radiation_mobility,
)


@pytest.fixture
def geography() -> Geography:
    return Geography(
        regions=("north", "centre", "south"),
        age_groups=("young", "old"),
        population=np.array([[600.0, 400.0], [1500.0, 500.0], [100.0, 100.0]]),
        latitude=np.array([1.0, 0.0, -1.0]),
        longitude=np.array([0.0, 0.0, 0.5]),
    )


def test_fraction_is_validated_with_messages_naming_the_region() -> None:
    with pytest.raises(ShapeError, match=r"expected \(regions, regions\) = \(2, 2\)"):
        MobilityMatrix(regions=("a", "b"), fraction=np.eye(3))
    with pytest.raises(InvalidInputError, match=r"from 'a' to 'b' is -0.1"):
        MobilityMatrix(regions=("a", "b"), fraction=[[1.1, -0.1], [0.0, 1.0]])
    with pytest.raises(InvalidInputError, match=r"residents of 'b' sum to 0.9"):
        MobilityMatrix(regions=("a", "b"), fraction=[[1.0, 0.0], [0.2, 0.7]])
    with pytest.raises(InvalidInputError, match="unique"):
        MobilityMatrix(regions=("a", "a"), fraction=np.eye(2))
    with pytest.raises(InvalidInputError, match="finite"):
        MobilityMatrix(regions=("a", "b"), fraction=[[np.nan, 1.0], [0.0, 1.0]])


def test_fraction_is_read_only_and_rows_within_tolerance_are_accepted() -> None:
    m = MobilityMatrix(regions=("a", "b"), fraction=[[0.5, 0.5 + 5e-10], [0.0, 1.0]])
    with pytest.raises(ValueError, match="read-only"):
        m.fraction[0, 0] = 1.0


def test_identity_keeps_everyone_home() -> None:
    m = MobilityMatrix.identity(("a", "b", "c"))
    assert m.regions == ("a", "b", "c")
    np.testing.assert_array_equal(m.fraction, np.eye(3))
    np.testing.assert_array_equal(m.outflow(), np.zeros(3))


def test_from_flows_divides_by_residents_and_ignores_the_diagonal(geography: Geography) -> None:
    flows = np.array([[999.0, 100.0, 50.0], [200.0, 0.0, 0.0], [0.0, 20.0, 7.0]])
    m = MobilityMatrix.from_flows(geography, flows)
    expected = np.array([[0.85, 0.1, 0.05], [0.1, 0.9, 0.0], [0.0, 0.1, 0.9]])
    np.testing.assert_allclose(m.fraction, expected, rtol=0, atol=1e-15)
    # Trips back: flows equal fraction times residents off the diagonal.
    off = ~np.eye(3, dtype=bool)
    np.testing.assert_allclose(
        (m.fraction * geography.region_population()[:, None])[off], flows[off]
    )


def test_from_flows_rejects_impossible_trips(geography: Geography) -> None:
    with pytest.raises(InvalidInputError, match=r"1001 daily trips leave 'north'.*only 1000"):
        MobilityMatrix.from_flows(geography, [[0, 1001, 0], [0, 0, 0], [0, 0, 0]])
    with pytest.raises(InvalidInputError, match=r"from 'centre' to 'south' is -1"):
        MobilityMatrix.from_flows(geography, [[0, 0, 0], [0, 0, -1], [0, 0, 0]])
    with pytest.raises(ShapeError, match=r"\(2, 2\)"):
        MobilityMatrix.from_flows(geography, np.zeros((2, 2)))


def test_from_flows_empty_region_with_no_trips_stays_home() -> None:
    g = Geography(regions=("a", "b"), age_groups=("all",), population=[[0.0], [10.0]])
    m = MobilityMatrix.from_flows(g, [[0.0, 0.0], [5.0, 0.0]])
    np.testing.assert_array_equal(m.fraction, [[1.0, 0.0], [0.5, 0.5]])
    with pytest.raises(InvalidInputError, match="only 0 residents"):
        MobilityMatrix.from_flows(g, [[0.0, 1.0], [0.0, 0.0]])


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "flows.csv"
    path.write_text(text)
    return path


def test_read_csv_round_trip(tmp_path: Path, geography: Geography) -> None:
    path = _write(
        tmp_path,
        "origin,destination,flow\nnorth,centre,100\ncentre,north,200\nsouth,south,5\n"
        "south,centre,20\n",
    )
    m = MobilityMatrix.read_csv(path, geography)
    assert m.fraction[0].tolist() == pytest.approx([0.9, 0.1, 0.0])
    assert m.fraction[1].tolist() == pytest.approx([0.1, 0.9, 0.0])
    assert m.fraction[2].tolist() == pytest.approx([0.0, 0.1, 0.9])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("from,to,flow\nnorth,centre,1\n", r"missing column\(s\) \['destination', 'origin'\]"),
        (
            "origin,destination,flow\nnorth,east,1\nwest,centre,2\n",
            r"unknown region\(s\) \['east', 'west'\]; known regions: \['north', 'centre'",
        ),
        ("origin,destination,flow\nnorth,centre,-3\n", r"line 2: flow '-3'"),
        ("origin,destination,flow\nnorth,centre,many\n", r"line 2: flow 'many' is not a number"),
        (
            "origin,destination,flow\nnorth,centre,1\nsouth,north,1\nnorth,centre,2\n",
            r"line 4: the pair 'north' -> 'centre' is listed twice",
        ),
    ],
)
def test_read_csv_bad_input(tmp_path: Path, geography: Geography, text: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        MobilityMatrix.read_csv(_write(tmp_path, text), geography)


def test_restricted_scales_travel_per_origin_and_keeps_rows_stochastic() -> None:
    m = MobilityMatrix(
        regions=("a", "b", "c"),
        fraction=[[0.7, 0.2, 0.1], [0.3, 0.6, 0.1], [0.0, 0.0, 1.0]],
    )
    half = m.restricted(0.5)
    np.testing.assert_allclose(half.outflow(), 0.5 * m.outflow())
    per_origin = m.restricted([0.0, 1.0, 3.0])
    np.testing.assert_allclose(per_origin.fraction[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(per_origin.fraction[1], m.fraction[1])
    np.testing.assert_allclose(per_origin.fraction[2], [0.0, 0.0, 1.0])
    np.testing.assert_allclose(per_origin.fraction.sum(axis=1), 1.0, atol=1e-12)


def test_restricted_rejects_bad_factors() -> None:
    m = MobilityMatrix(regions=("a", "b"), fraction=[[0.6, 0.4], [0.0, 1.0]])
    with pytest.raises(InvalidParameterError, match="one per origin region"):
        m.restricted([1.0, 1.0, 1.0])
    with pytest.raises(InvalidParameterError, match=">= 0"):
        m.restricted(-0.5)
    with pytest.raises(InvalidParameterError, match=r"would send 1.2 of the residents of 'a'"):
        m.restricted(3.0)


def test_haversine_known_distances() -> None:
    # Paris (48.8566 N, 2.3522 E) to London (51.5074 N, 0.1278 W): about 343.6 km.
    d = haversine_km([48.8566, 51.5074, 0.0, 0.0], [2.3522, -0.1278, 0.0, 180.0])
    assert d[0, 1] == pytest.approx(343.56, abs=0.1)
    assert d[2, 3] == pytest.approx(np.pi * 6371.0088, rel=1e-12)  # half the equator
    np.testing.assert_array_equal(d, d.T)
    np.testing.assert_array_equal(np.diagonal(d), 0.0)
    with pytest.raises(ShapeError, match="equal length"):
        haversine_km([0.0, 1.0], [0.0])


def test_models_need_distances_and_valid_parameters(geography: Geography) -> None:
    flat = Geography(regions=("a", "b"), age_groups=("all",), population=[[1.0], [2.0]])
    with pytest.raises(InvalidInputError, match="latitude and longitude, or pass distances_km"):
        gravity_mobility(flat)
    with pytest.raises(InvalidInputError, match="latitude and longitude"):
        radiation_mobility(flat)
    with pytest.raises(InvalidParameterError, match=r"commuting_fraction.*got 1.5"):
        gravity_mobility(geography, commuting_fraction=1.5)
    with pytest.raises(InvalidParameterError, match="one per region"):
        radiation_mobility(geography, commuting_fraction=[0.1, 0.2])
    with pytest.raises(InvalidParameterError, match="distance_exponent"):
        gravity_mobility(geography, distance_exponent=-1.0)
    with pytest.raises(ShapeError, match=r"distances_km has shape \(2, 2\)"):
        gravity_mobility(geography, distances_km=np.ones((2, 2)))
    with pytest.raises(InvalidInputError, match=r"0\.0 km apart"):
        gravity_mobility(flat, distances_km=np.zeros((2, 2)))


def test_models_leave_the_requested_share_per_region(geography: Geography) -> None:
    c = np.array([0.05, 0.1, 0.3])
    for model in (gravity_mobility, radiation_mobility):
        m = model(geography, commuting_fraction=c)
        assert m.regions == geography.regions
        np.testing.assert_allclose(m.outflow(), c, rtol=1e-12)


def test_everybody_commuting_leaves_no_negative_stay_home_share() -> None:
    """c = 1: the diagonal is 1 - (a sum that rounds to 1 + 2e-16), which must clip to 0."""
    for seed in range(40):
        rng = np.random.default_rng(seed)
        geo = Geography(
            regions=tuple(f"r{i}" for i in range(6)),
            age_groups=("all",),
            population=rng.uniform(1e3, 1e6, (6, 1)),
            latitude=rng.uniform(40, 48, 6),
            longitude=rng.uniform(0, 10, 6),
        )
        for model in (gravity_mobility, radiation_mobility):
            m = model(geo, commuting_fraction=1.0)
            assert (np.diag(m.fraction) >= 0).all()
