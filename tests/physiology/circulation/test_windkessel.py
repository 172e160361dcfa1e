"""Windkessel models against their closed-form behaviour (Westerhof et al. 2009)."""

from __future__ import annotations

import numpy as np
import pytest

from healthtwin.errors import InvalidParameterError
from healthtwin.physiology.circulation import (
    HalfSineEjection,
    Windkessel,
    WindkesselParameters,
)

PARAMS = WindkesselParameters(R=1.0, C=1.5, Zc=0.05, L=0.005)
INFLOW = HalfSineEjection(stroke_volume_ml=70.0, heart_rate_bpm=75.0, ejection_s=0.3)


def test_two_element_diastole_decays_with_time_constant_rc() -> None:
    wk = Windkessel(2, PARAMS)
    trace = wk.simulate(INFLOW, 1.6, dt_s=1e-3)
    period = 60.0 / 75.0
    # Second beat's diastole: no inflow between 0.8 + 0.3 s and 1.6 s.
    t = trace.t_s
    diastole = (t >= period + 0.3 - 1e-12) & (t <= 2 * period + 1e-12)
    t_d, p_d = t[diastole], trace.pressure_mmhg[0, diastole]
    expected = p_d[0] * np.exp(-(t_d - t_d[0]) / (1.0 * 1.5))
    np.testing.assert_allclose(p_d, expected, rtol=1e-10)


@pytest.mark.parametrize("elements", [2, 3, 4])
def test_mean_pressure_is_mean_flow_times_total_resistance(elements: int) -> None:
    wk = Windkessel(elements, PARAMS)
    trace = wk.simulate(INFLOW, 24.0, dt_s=1e-3)
    one_beat = slice(-800, None)  # the last 0.8 s, a whole beat of 800 samples
    mean_p = trace.pressure_mmhg[0, one_beat].mean()
    expected = INFLOW.mean_flow_ml_per_s()[0] * wk.total_resistance()[0]
    # The start-up transient has decayed by exp(-24 / 1.5) ~ 1e-7.
    assert mean_p == pytest.approx(expected, rel=1e-5)


def test_three_element_impedance_limits() -> None:
    wk = Windkessel(3, PARAMS)
    assert complex(wk.input_impedance(0.0)[0]) == pytest.approx(1.05)
    assert complex(wk.input_impedance(1e7)[0]) == pytest.approx(0.05, rel=1e-5)


def test_four_element_impedance_limits() -> None:
    wk = Windkessel(4, PARAMS)
    assert complex(wk.input_impedance(0.0)[0]) == pytest.approx(1.0)
    assert complex(wk.input_impedance(1e7)[0]) == pytest.approx(0.05, rel=1e-5)


def test_three_element_pressure_follows_impedance_at_the_heart_rate() -> None:
    """The first harmonic of pressure is Z(omega) times that of flow."""
    wk = Windkessel(3, PARAMS)
    trace = wk.simulate(INFLOW, 24.0, dt_s=1e-3)
    omega = 2 * np.pi * 75.0 / 60.0
    t = trace.t_s[-800:]
    basis = np.exp(-1j * omega * t)
    p1 = (trace.pressure_mmhg[0, -800:] * basis).mean()
    q1 = (trace.flow_ml_per_s[0, -800:] * basis).mean()
    assert p1 / q1 == pytest.approx(complex(wk.input_impedance(omega)[0]), rel=1e-3)


def test_members_are_independent() -> None:
    resistances = np.array([0.8, 1.0, 1.3])
    together = Windkessel(3, PARAMS.replace(R=resistances)).simulate(INFLOW, 2.0)
    for i, r in enumerate(resistances):
        alone = Windkessel(3, PARAMS.replace(R=r)).simulate(INFLOW, 2.0)
        np.testing.assert_array_equal(together.pressure_mmhg[i], alone.pressure_mmhg[0])


def test_invalid_configurations_are_rejected() -> None:
    with pytest.raises(InvalidParameterError, match="elements"):
        Windkessel(5, PARAMS)
    with pytest.raises(InvalidParameterError, match="L > 0"):
        Windkessel(4, PARAMS.replace(L=0.0))
    with pytest.raises(InvalidParameterError, match="ejection_s"):
        HalfSineEjection(stroke_volume_ml=70.0, heart_rate_bpm=200.0, ejection_s=0.4)
