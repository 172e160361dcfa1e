"""UCUM parsing and conversion: the grammar, the atoms, the errors, vectorised conversion."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.interop import ucum
from healthtwin.interop.codes import VITALS

GLUCOSE = 180.156


@pytest.mark.parametrize(
    ("code", "factor", "dimension"),
    [
        ("m", 1.0, "m"),
        ("g", 1.0, "g"),
        ("kg", 1e3, "g"),
        ("mg/dL", 10.0, "g.m-3"),
        ("mmol/L", 1.0, "mol.m-3"),
        ("/min", 1 / 60, "s-1"),
        ("{beats}/min", 1 / 60, "s-1"),
        ("10*3/uL", 1e12, "m-3"),
        ("10*9/L", 1e12, "m-3"),
        ("10.L/min", 1e-2 / 60, "m3.s-1"),
        ("mL/(kg.h)", 1e-6 / 1e3 / 3600, "m3.s-1.g-1"),
        ("J/kg.K", 1.0, "m2.K.s-2"),  # '.' and '/' bind left to right: (J/kg).K
        ("m2", 1.0, "m2"),
        ("cm2", 1e-4, "m2"),
        ("s-1", 1.0, "s-1"),
        ("kPa", 1e6, "g.m-1.s-2"),
        ("mm[Hg]", 133322.0, "g.m-1.s-2"),
        ("cm[H2O]", 98066.5, "g.m-1.s-2"),
        ("%", 0.01, "1"),
        ("[ppm]", 1e-6, "1"),
        ("%{HemoglobinSaturation}", 0.01, "1"),
        ("Hz", 1.0, "s-1"),
        ("wk", 604800.0, "s"),
        ("d", 86400.0, "s"),
        ("h", 3600.0, "s"),
        ("a", 365.25 * 86400, "s"),
        ("mo", 365.25 * 86400 / 12, "s"),
        ("U", 1e-6 / 60, "mol.s-1"),
        ("U/L", 1e-6 / 60 / 1e-3, "mol.m-3.s-1"),
        ("[iU]", 1.0, "[iU]"),
        ("[IU]/L", 1e3, "[iU].m-3"),
        ("m[IU]/L", 1.0, "[iU].m-3"),
        ("meq/L", 1.0, "mol.m-3"),
        ("mosm/kg", 1e-6, "mol.g-1"),
        ("[lb_av]", 453.59237, "g"),
        ("[oz_av]", 28.349523125, "g"),
        ("[in_i]", 0.0254, "m"),
        ("[ft_i]", 0.3048, "m"),
        ("dam", 10.0, "m"),  # 'da' (deka) before 'd' (deci)
        ("1", 1.0, "1"),
        ("kg/m2", 1e3, "g.m-2"),
    ],
)
def test_parse_gives_factor_and_dimension(code: str, factor: float, dimension: str) -> None:
    unit = ucum.parse(code)
    assert unit.factor == pytest.approx(factor, rel=1e-12)
    assert unit.dimension_text == dimension
    assert not unit.special


def test_units_are_case_sensitive() -> None:
    # 'Pa' pascal vs 'PA' petaampere; 'mm' millimetre vs 'Mm' megametre.
    assert ucum.parse("Pa").kind == "pressure, g.m-1.s-2"
    assert ucum.parse("PA").dimension_text == "C.s-1"
    assert ucum.parse("Mm").factor == 1e6
    assert ucum.parse("mm").factor == 1e-3
    with pytest.raises(InvalidInputError, match="did you mean 'kg'"):
        ucum.parse("KG")


def test_every_vital_unit_parses() -> None:
    for vital in VITALS.values():
        ucum.parse(vital.unit)


def test_special_units_are_affine() -> None:
    celsius, fahrenheit = ucum.parse("Cel"), ucum.parse("[degF]")
    assert celsius.special
    assert fahrenheit.special
    assert celsius.offset == 273.15
    assert fahrenheit.factor == pytest.approx(5 / 9)
    assert celsius.kind == "temperature, K"
    assert ucum.parse("Cel{oral}").special


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("degF", r"unknown UCUM unit 'degF' at position 0 of 'degF'; did you mean '\[degF\]'"),
        ("mmHg", r"did you mean 'mm\[Hg\]'"),
        ("mg/dl/xyz", r"unknown UCUM unit 'xyz' at position 6 of 'mg/dl/xyz'"),
        ("lbs", r"did you mean '\[lb_av\]'"),
        ("MG", "did you mean 'mg'"),
        ("mg /dL", "has a space at position 2"),
        ("(mg/dL", r"unclosed '\('"),
        ("mg/dL)", r"unexpected '\)' at position 5"),
        ("mg{glucose", "unclosed annotation at position 2"),
        ("kg/", "ends where a unit was expected"),
        ("", "empty unit code"),
        ("Cel/h", "special unit 'Cel' cannot be multiplied or divided"),
        ("/[degF]", r"special unit '\[degF\]' cannot be multiplied"),
        ("Cel2", "cannot take a prefix or an exponent"),
        ("mCel", "cannot take a prefix or an exponent"),
        ("[degF", r"unknown UCUM unit '\[degF' at position 0 of '\[degF'; did you mean '\[degF\]'"),
        ("/0", "factor 0 at position 1"),
        ("a42", "magnitude outside the floating-point range"),
        ("10*400", "magnitude outside the floating-point range"),
        ("10*-400", "magnitude outside the floating-point range"),
        ("k[lb_av]", r"unknown UCUM unit 'k\[lb_av\]'"),  # customary units take no prefix
    ],
)
def test_parse_errors_say_what_and_where(code: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        ucum.parse(code)


def test_parse_refuses_non_strings() -> None:
    with pytest.raises(InvalidInputError, match="must be a string"):
        ucum.parse(5)  # type: ignore[arg-type]


def test_atoms_lists_the_table() -> None:
    names = ucum.atoms()
    for symbol in ("m", "g", "s", "mol", "K", "L", "l", "min", "h", "d", "wk", "mo", "a", "%"):
        assert symbol in names
    for symbol in ("[ppm]", "Cel", "[degF]", "m[Hg]", "[in_i]", "[ft_i]", "[lb_av]", "[oz_av]"):
        assert symbol in names
    for symbol in ("m[H2O]", "Pa", "U", "[iU]", "[IU]", "eq", "osm", "Hz"):
        assert symbol in names


def test_convert_scalars_stay_floats() -> None:
    value = ucum.convert(1, "kg", "[lb_av]")
    assert isinstance(value, float)
    assert value == pytest.approx(1 / 0.45359237, rel=1e-15)
    assert ucum.convert(1.0, "/min", "Hz") == pytest.approx(1 / 60)
    assert ucum.convert(90.0, "%", "1") == pytest.approx(0.9)
    assert ucum.convert(1.0, "{beats}/min", "/min") == 1.0


def test_convert_arrays_keep_shape_and_are_vectorised() -> None:
    values = np.arange(12.0).reshape(3, 4)
    out = ucum.convert(values, "mmol/L", "mg/dL", molar_mass_g_per_mol=GLUCOSE)
    assert isinstance(out, np.ndarray)
    assert out.shape == (3, 4)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, values * 18.0156, rtol=1e-14)
    temperatures = ucum.convert(np.array([32.0, 212.0, -40.0]), "[degF]", "Cel")
    np.testing.assert_allclose(temperatures, [0.0, 100.0, -40.0], atol=1e-12)


def test_molar_mass_bridges_mass_and_substance_both_ways() -> None:
    assert ucum.convert(1.0, "mmol/L", "mg/dL", molar_mass_g_per_mol=GLUCOSE) == pytest.approx(
        18.0156, rel=1e-15
    )
    assert ucum.convert(180.156, "mg/dL", "mmol/L", molar_mass_g_per_mol=GLUCOSE) == pytest.approx(
        10.0, rel=1e-15
    )
    # Molar mass is only used when the dimensions differ by mass/amount.
    assert ucum.convert(1.0, "g/L", "mg/dL", molar_mass_g_per_mol=GLUCOSE) == pytest.approx(100)
    assert ucum.commensurable("mg/dL", "mmol/L", molar_mass_g_per_mol=GLUCOSE)
    assert not ucum.commensurable("mg/dL", "mmol/L")


def test_incommensurable_units_name_both_dimensions() -> None:
    with pytest.raises(InvalidInputError) as caught:
        ucum.convert(5.0, "mg/dL", "mmol/L")
    message = str(caught.value)
    assert "'mg/dL' (mass concentration, g.m-3)" in message
    assert "'mmol/L' (substance concentration, mol.m-3)" in message
    assert "molar_mass_g_per_mol" in message
    with pytest.raises(InvalidInputError, match=r"'Cel' \(temperature, K\) to 'kg' \(mass, g\)"):
        ucum.convert(1.0, "Cel", "kg")
    # Enzyme units are not international units, and counts are not moles.
    with pytest.raises(InvalidInputError, match="dimensions differ"):
        ucum.convert(1.0, "U", "[iU]")
    with pytest.raises(InvalidInputError, match="dimensions differ"):
        ucum.convert(1.0, "mmol/L", "/L")


@pytest.mark.parametrize("molar_mass", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_molar_mass_is_refused(molar_mass: float) -> None:
    with pytest.raises(InvalidParameterError, match="positive finite"):
        ucum.convert(1.0, "mmol/L", "mg/dL", molar_mass_g_per_mol=molar_mass)


def test_conversion_is_prepared_once() -> None:
    to_kg = ucum.conversion("[lb_av]", "kg")
    assert to_kg.ratio == pytest.approx(0.45359237, rel=1e-15)
    assert to_kg.shift == 0.0
    np.testing.assert_allclose(to_kg(np.array([100.0, 200.0])), [45.359237, 90.718474])
    to_celsius = ucum.conversion("[degF]", "Cel")
    assert to_celsius.shift == -32.0
    assert to_celsius(32.0) == 0.0


def test_kelvin_and_celsius() -> None:
    assert ucum.convert(0.0, "Cel", "K") == pytest.approx(273.15, rel=1e-15)
    assert ucum.convert(310.15, "K", "Cel") == pytest.approx(37.0, abs=1e-12)
    assert ucum.convert(1.0, "Cel", "mK") == pytest.approx(274150.0, rel=1e-15)


@settings(max_examples=400, deadline=None)
@given(
    st.text(alphabet="mgLsdkuc[]{}()./*^0123456789-+%_ HgClbavFe", max_size=12)
    | st.text(max_size=8)
)
def test_any_text_parses_or_raises_invalid_input(code: str) -> None:
    try:
        unit = ucum.parse(code)
    except InvalidInputError as err:
        message = str(err)
    else:
        message = ""
        assert len(unit.dimension) == len(ucum.BASE_UNITS)
        assert unit.factor == unit.factor  # never NaN
    assert message or not code.strip() or unit.code == code
