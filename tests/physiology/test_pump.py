"""Tests of the insulin pump: whole increments, limits in the right units."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthtwin.errors import (
    InvalidInputError,
    InvalidParameterError,
    ShapeError,
    UnknownModelError,
)
from healthtwin.physiology.pump import (
    PUMP_PRESETS,
    InsulinPump,
    delivery_error,
    pump_params,
)

INSULET = InsulinPump(pump_params("insulet"))
COZMO = InsulinPump(pump_params("cozmo"))


def test_bolus_rounds_down_to_whole_increments() -> None:
    delivered = INSULET.bolus([2.37, 2.35, 0.15, 0.049, 0.0, 7.0])
    np.testing.assert_allclose(delivered, [2.35, 2.35, 0.15, 0.0, 0.0, 7.0])


def test_bolus_is_clipped_to_the_maximum() -> None:
    np.testing.assert_allclose(INSULET.bolus([30.0, 30.04, 45.0]), [30.0, 30.0, 30.0])
    np.testing.assert_allclose(COZMO.bolus([45.0, 80.0]), [45.0, 75.0])


def test_basal_limits_are_in_units_per_hour() -> None:
    # 0.5 U/min = 30 U/h is the insulet maximum; 0.6 U/min = 36 U/h is clipped to 30 U/h.
    np.testing.assert_allclose(INSULET.basal([0.5, 0.6]), [0.5, 0.5])
    # cozmo allows 35 U/h = 35 / 60 U/min.
    np.testing.assert_allclose(COZMO.basal([0.6]), [35.0 / 60.0])


def test_basal_increment_is_in_units_per_hour() -> None:
    # 0.0101 U/min = 0.606 U/h -> 0.60 U/h = 0.01 U/min
    # 0.0008 U/min = 0.048 U/h -> 0.00 U/h (below one 0.05 U/h increment)
    # 0.0125 U/min = 0.750 U/h -> 0.75 U/h exactly (15 increments)
    delivered = INSULET.basal([0.0101, 0.0008, 0.0125])
    np.testing.assert_allclose(delivered * 60.0, [0.6, 0.0, 0.75], atol=1e-12)


def test_requests_below_a_non_zero_minimum_are_raised_to_it() -> None:
    pump = InsulinPump(replace(pump_params("insulet"), min_basal_u_per_h=0.1, min_bolus_u=0.1))
    np.testing.assert_allclose(pump.basal([0.0, 0.001]) * 60.0, [0.1, 0.1])
    np.testing.assert_allclose(pump.bolus([0.0, 0.12]), [0.1, 0.1])


def test_vectorized_over_members_and_shape_preserving() -> None:
    rng = np.random.default_rng(1)
    doses = rng.uniform(0.0, 40.0, size=(3, 4))
    rates = rng.uniform(0.0, 0.7, size=(3, 4))
    boluses = INSULET.bolus(doses)
    basals = INSULET.basal(rates)
    assert boluses.shape == basals.shape == (3, 4)
    for index in np.ndindex(doses.shape):
        assert boluses[index] == INSULET.bolus(doses[index])
        assert basals[index] == INSULET.basal(rates[index])


def test_delivery_error_is_delivered_minus_requested() -> None:
    requested = np.array([2.37, 45.0, 1.0])
    error = delivery_error(requested, INSULET.bolus(requested))
    np.testing.assert_allclose(error, [-0.02, -15.0, 0.0], atol=1e-12)
    with pytest.raises(ShapeError, match=r"shape \(3,\) but delivered has shape \(2,\)"):
        delivery_error(requested, [1.0, 2.0])


@pytest.mark.parametrize(
    ("request_value", "match"),
    [
        (-0.1, r"must be non-negative, got -0.1 \(1 negative requests\)"),
        (math.nan, "NaN or infinite"),
        (math.inf, "NaN or infinite"),
        ("two", "must be numeric"),
    ],
)
def test_bad_requests_are_rejected(request_value: object, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        INSULET.bolus([1.0, request_value])
    with pytest.raises(InvalidInputError, match=match):
        INSULET.basal([request_value])


def test_presets_use_simglucose_values() -> None:
    assert set(PUMP_PRESETS) == {"cozmo", "insulet"}
    cozmo, insulet = pump_params("cozmo"), pump_params("insulet")
    assert (cozmo.max_bolus_u, cozmo.bolus_increment_u) == (75.0, 0.05)
    assert (cozmo.max_basal_u_per_h, cozmo.basal_increment_u_per_h) == (35.0, 0.05)
    assert (insulet.max_bolus_u, insulet.bolus_increment_u) == (30.0, 0.05)
    assert (insulet.max_basal_u_per_h, insulet.basal_increment_u_per_h) == (30.0, 0.05)


def test_unknown_pump_lists_the_valid_names() -> None:
    with pytest.raises(UnknownModelError, match=r"'omnipod'.*\['cozmo', 'insulet'\]"):
        pump_params("omnipod")


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"bolus_increment_u": 0.0}, "bolus_increment_u must be positive"),
        ({"max_basal_u_per_h": -1.0}, "max_basal_u_per_h must be non-negative"),
        ({"min_bolus_u": 40.0}, "min bolus 40.0 exceeds max bolus 30.0"),
        ({"max_bolus_u": 30.02}, "max bolus 30.02 is not a whole number of increments"),
        ({"sample_time_min": math.nan}, "sample_time_min must be a finite number"),
        ({"max_bolus_u": "30"}, "max_bolus_u must be a finite number"),
    ],
)
def test_bad_parameters_are_rejected(change: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        replace(pump_params("insulet"), **change)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="PumpParams"):
        InsulinPump("insulet")  # type: ignore[arg-type]


def _is_whole_increments(values: np.ndarray, increment: float) -> bool:
    steps = values / increment
    return bool(np.allclose(steps, np.round(steps), rtol=0.0, atol=1e-6))


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.floats(0.0, 100.0), min_size=1, max_size=20),
    st.sampled_from(sorted(PUMP_PRESETS)),
)
def test_bolus_is_whole_increments_within_limits_and_never_more(
    doses: list[float], name: str
) -> None:
    params = pump_params(name)
    delivered = InsulinPump(params).bolus(doses)
    assert np.all(delivered >= params.min_bolus_u)
    assert np.all(delivered <= params.max_bolus_u)
    assert np.all(delivered <= np.asarray(doses) + 1e-9)
    assert _is_whole_increments(delivered, params.bolus_increment_u)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.floats(0.0, 2.0), min_size=1, max_size=20),
    st.sampled_from(sorted(PUMP_PRESETS)),
)
def test_basal_is_whole_increments_within_limits_and_never_more(
    rates_u_per_min: list[float], name: str
) -> None:
    params = pump_params(name)
    delivered_u_per_h = InsulinPump(params).basal(rates_u_per_min) * 60.0
    assert np.all(delivered_u_per_h >= params.min_basal_u_per_h)
    assert np.all(delivered_u_per_h <= params.max_basal_u_per_h + 1e-9)
    assert np.all(delivered_u_per_h <= np.asarray(rates_u_per_min) * 60.0 + 1e-9)
    assert _is_whole_increments(delivered_u_per_h, params.basal_increment_u_per_h)
