"""Sigmoid Emax, the BIS surface and the Dayneka-Garg-Jusko indirect-response models."""

from __future__ import annotations

import numpy as np
import pytest

from healthtwin.errors import InvalidParameterError
from healthtwin.physiology.pkpd import (
    BOUILLON_2004_BIS,
    CompartmentLayout,
    IndirectResponse,
    IndirectResponseParameters,
    bis_response_surface,
    idr_baseline,
    idr_rate,
    integrate_pk_idr,
    sigmoid_emax,
    system_matrix,
)


def test_sigmoid_emax_limits_and_midpoint() -> None:
    c = np.array([0.0, 2.0, 1e9])
    np.testing.assert_allclose(sigmoid_emax(c, 10.0, 5.0, 2.0, 3.0), [10.0, 12.5, 15.0])


def test_bis_surface_is_additive_and_monotone() -> None:
    s = BOUILLON_2004_BIS
    half = bis_response_surface(s.c50_propofol_mg_l / 2, s.c50_remifentanil_ug_l / 2)
    assert float(half) == pytest.approx(float(bis_response_surface(s.c50_propofol_mg_l)))
    ce = np.linspace(0.0, 10.0, 50)
    assert np.all(np.diff(bis_response_surface(ce)) < 0)


def _params() -> IndirectResponseParameters:
    return IndirectResponseParameters(kin=10.0, kout=0.1, emax=0.8, ec50=2.0, gamma=1.5)


@pytest.mark.parametrize("kind", list(IndirectResponse))
def test_baseline_is_a_steady_state_without_drug(kind: IndirectResponse) -> None:
    p = _params()
    r0 = idr_baseline(p)
    assert float(r0[0]) == 100.0
    assert float(idr_rate(kind, r0, np.zeros(1), p)[0]) == 0.0


@pytest.mark.parametrize(
    ("kind", "sign"),
    [
        (IndirectResponse.INHIBIT_KIN, -1),
        (IndirectResponse.INHIBIT_KOUT, 1),
        (IndirectResponse.STIMULATE_KIN, 1),
        (IndirectResponse.STIMULATE_KOUT, -1),
    ],
)
def test_direction_of_response_after_a_bolus(kind: IndirectResponse, sign: int) -> None:
    p = _params()
    layout = CompartmentLayout(1, effect_site=False)
    a = system_matrix(layout, np.array([[10.0, 0.05, 0, 0, 0, 0, 0, 0]]))
    x = np.array([[50.0]])  # 5 mg/L after the bolus
    r0 = idr_baseline(p)
    trace = []
    r = r0.copy()
    for _ in range(40):
        x, r = integrate_pk_idr(kind, p, a, x, r, 0, np.array([10.0]), 15.0)
        trace.append(float(r[0]))
    change = np.array(trace) - r0[0]
    peak = change[np.argmax(np.abs(change))]
    assert np.sign(peak) == sign
    assert abs(change[-1]) < 0.1 * abs(peak)  # returns towards baseline as the drug washes out
    assert float(x[0, 0]) == pytest.approx(50.0 * np.exp(-0.05 * 600.0), rel=1e-8)


def test_inhibition_needs_imax_at_most_one() -> None:
    p = IndirectResponseParameters(kin=1.0, kout=1.0, emax=2.0, ec50=1.0)
    with pytest.raises(InvalidParameterError, match="Imax in"):
        idr_rate(IndirectResponse.INHIBIT_KIN, np.ones(1), np.ones(1), p)
    assert float(idr_rate(IndirectResponse.STIMULATE_KIN, np.ones(1), np.ones(1), p)[0]) == 1.0
