"""UCUM conversions against the exact values published for the units, and round trips.

Reference values: UCUM 2.1 (https://ucum.org/ucum, table of customary and clinical
units): [in_i] = 2.54 cm, [ft_i] = 12 [in_i], [mi_i] = 5280 [ft_i], [gal_us] = 231 [in_i]3,
[gr] = 64.79891 mg, [lb_av] = 7000 [gr] (= 0.45359237 kg exactly, the 1959 international
pound), [oz_av] = [lb_av]/16, m[Hg] = 133.3220 kPa, m[H2O] = 9.80665 kPa, cal = 4.184 J,
bar = 100 kPa, U = umol/min, a = a_j = 365.25 d, mo = a_j/12; degree Fahrenheit
F = C * 9/5 + 32, Celsius K = C + 273.15. Glucose: molar mass 180.156 g/mol (the
clinical-chemistry convention), so 1 mmol/L = 18.0156 mg/dL.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthtwin.interop import ucum

EXACT = [
    (1.0, "[lb_av]", "kg", 0.45359237),
    (1.0, "[lb_av]", "[oz_av]", 16.0),
    (1.0, "[oz_av]", "g", 28.349523125),
    (1.0, "[in_i]", "cm", 2.54),
    (1.0, "[ft_i]", "m", 0.3048),
    (1.0, "[mi_i]", "m", 1609.344),
    (1.0, "[gal_us]", "L", 3.785411784),
    (1.0, "mm[Hg]", "Pa", 133.322),
    (760.0, "mm[Hg]", "kPa", 101.32472),
    (1.0, "cm[H2O]", "Pa", 98.0665),
    (1.0, "bar", "kPa", 100.0),
    (1.0, "cal", "J", 4.184),
    (1.0, "U", "nkat", 1e3 / 60),
    (1.0, "a", "d", 365.25),
    (1.0, "mo", "d", 30.4375),
    (1.0, "wk", "min", 10080.0),
    (1.0, "10*3/uL", "10*9/L", 1.0),
    (5.0, "%", "[ppm]", 50000.0),
    (1.0, "mmol/L", "mg/dL", 18.0156),
    (1.0, "g/L", "mg/dL", 100.0),
    (1.0, "ug/mL", "mg/L", 1.0),
    (1.0, "meq/L", "mmol/L", 1.0),
]


@pytest.mark.parametrize(("value", "source", "target", "expected"), EXACT)
def test_published_factors(value: float, source: str, target: str, expected: float) -> None:
    converted = ucum.convert(value, source, target, molar_mass_g_per_mol=180.156)
    assert converted == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("fahrenheit", [-40.0, 0.0, 32.0, 96.8, 98.6, 100.4, 104.0, 212.0])
def test_fahrenheit_to_celsius_is_f_minus_32_times_five_ninths(fahrenheit: float) -> None:
    expected = (fahrenheit - 32.0) * 5.0 / 9.0
    assert ucum.convert(fahrenheit, "[degF]", "Cel") == pytest.approx(expected, abs=1e-12)
    assert ucum.convert(expected, "Cel", "[degF]") == pytest.approx(fahrenheit, abs=1e-12)


def test_fahrenheit_landmarks_are_exact() -> None:
    assert ucum.convert(32.0, "[degF]", "Cel") == 0.0
    assert ucum.convert(-40.0, "[degF]", "Cel") == pytest.approx(-40.0, abs=1e-13)
    assert ucum.convert(212.0, "[degF]", "K") == pytest.approx(373.15, rel=1e-15)


def test_glucose_clinical_convention() -> None:
    mmol = np.array([2.2, 3.9, 5.5, 7.8, 11.1, 33.3])
    mg = ucum.convert(mmol, "mmol/L", "mg/dL", molar_mass_g_per_mol=180.156)
    np.testing.assert_allclose(mg, mmol * 18.0156, rtol=1e-15)


#: Pairs of commensurable units the round trips run over.
PAIRS = [
    ("kg", "[lb_av]"),
    ("g", "[oz_av]"),
    ("cm", "[in_i]"),
    ("m", "[ft_i]"),
    ("mm[Hg]", "kPa"),
    ("cm[H2O]", "mm[Hg]"),
    ("mg/dL", "g/L"),
    ("mmol/L", "umol/mL"),
    ("/min", "Hz"),
    ("10*3/uL", "10*9/L"),
    ("mL/(kg.h)", "L/(kg.d)"),
    ("U/L", "ukat/L"),
    ("%", "[ppm]"),
    ("mo", "wk"),
    ("Cel", "[degF]"),
    ("Cel", "K"),
    ("[degF]", "K"),
]
# Measured values: zero or of magnitude 1e-200..1e12 (no subnormal results to lose digits).
finite = st.floats(min_value=-1e12, max_value=1e12, allow_subnormal=False).filter(
    lambda v: v == 0.0 or abs(v) > 1e-200
)


@settings(max_examples=300, deadline=None)
@given(pair=st.sampled_from(PAIRS), value=finite, backwards=st.booleans())
def test_there_and_back_is_the_identity(
    pair: tuple[str, str], value: float, backwards: bool
) -> None:
    source, target = pair[::-1] if backwards else pair
    there = ucum.convert(value, source, target)
    back = ucum.convert(there, target, source)
    if ucum.parse(source).special or ucum.parse(target).special:
        # Affine scales: the error is relative to the magnitude on the absolute scale.
        assert back == pytest.approx(value, rel=1e-12, abs=1e-12 * (abs(value) + 500.0))
    else:
        assert back == pytest.approx(value, rel=1e-12, abs=0.0)


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(finite, min_size=1, max_size=50),
    molar_mass=st.floats(min_value=1.0, max_value=1e5),
)
def test_molar_round_trip_on_arrays(values: list[float], molar_mass: float) -> None:
    array = np.array(values)
    there = ucum.convert(array, "mg/dL", "mmol/L", molar_mass_g_per_mol=molar_mass)
    back = ucum.convert(there, "mmol/L", "mg/dL", molar_mass_g_per_mol=molar_mass)
    np.testing.assert_allclose(back, array, rtol=1e-12, atol=0.0)


@settings(max_examples=100, deadline=None)
@given(pair=st.sampled_from(PAIRS), value=finite)
def test_array_and_scalar_conversions_agree(pair: tuple[str, str], value: float) -> None:
    source, target = pair
    scalar = ucum.convert(value, source, target)
    array = ucum.convert(np.array([value, value]), source, target)
    assert array[0] == array[1] == scalar
