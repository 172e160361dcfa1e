"""UCUM units: parse case-sensitive unit codes and convert quantities between them.

A subset of the Unified Code for Units of Measure (Schadow & McDonald, Regenstrief
Institute, https://ucum.org/ucum, version 2.1) large enough for clinical data. The grammar
is UCUM's own::

    main-term   ::= "/" term | term
    term        ::= term "." component | term "/" component | component
    component   ::= annotatable annotation | annotatable | annotation | factor | "(" term ")"
    annotatable ::= simple-unit exponent | simple-unit
    simple-unit ::= atom | prefix metric-atom

``.`` and ``/`` bind equally and from the left (``J/kg.K`` is ``J.K/kg``), exponents are
signed integers written straight after the unit (``m2``, ``s-1``, ``10*3``), factors are
unsigned integers (``10.L/min``), and annotations in curly braces (``{beats}/min``) mean
one. Symbols are case-sensitive: ``Cel`` is degree Celsius, ``[degF]`` degree Fahrenheit,
``mm[Hg]`` millimetre of mercury.

Every unit is a magnitude times a product of base units ``m s g rad K C cd`` (UCUM's
seven) and two we add: ``mol`` and ``[iU]``. UCUM defines the mole as a pure number
(6.0221367e23) and leaves arbitrary units like the international unit without any
dimension; keeping both as dimensions of their own means ``mmol/L`` is never silently
converted to ``/L`` counts, nor ``[iU]`` to enzyme units ``U`` (= umol/min). Mass and
substance amounts convert into each other only through a molar mass given by the caller
(glucose, 180.156 g/mol: 1 mmol/L = 18.0156 mg/dL).

The special units ``Cel`` and ``[degF]`` are affine, ``K = (value + shift) * scale``, and
may only stand alone (UCUM forbids multiplying them), optionally annotated.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType
from typing import overload

import numpy as np

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError

__all__ = [
    "BASE_UNITS",
    "Conversion",
    "Unit",
    "atoms",
    "commensurable",
    "conversion",
    "convert",
    "parse",
]

#: The base units a dimension vector counts, in order.
BASE_UNITS: tuple[str, ...] = ("m", "s", "g", "rad", "K", "C", "cd", "mol", "[iU]")
_N_BASE = len(BASE_UNITS)
_MASS = BASE_UNITS.index("g")
_AMOUNT = BASE_UNITS.index("mol")

Dimension = tuple[int, ...]

#: Metric prefixes as powers of ten.
_PREFIXES: Mapping[str, int] = MappingProxyType(
    {
        "Y": 24, "Z": 21, "E": 18, "P": 15, "T": 12, "G": 9, "M": 6, "k": 3, "h": 2,
        "da": 1, "d": -1, "c": -2, "m": -3, "u": -6, "n": -9, "p": -12, "f": -15,
        "a": -18, "z": -21, "y": -24,
    }
)  # fmt: skip

#: UCUM's defined units: symbol, metric (takes prefixes), value, unit of the value.
#: Each definition may use only the units above it, as in UCUM's ucum-essence.xml.
_DEFINITIONS: tuple[tuple[str, bool, float, str], ...] = (
    ("10*", False, 10.0, "1"),
    ("10^", False, 10.0, "1"),
    ("[pi]", False, math.pi, "1"),
    ("%", False, 1.0, "10*-2"),
    ("[ppth]", False, 1.0, "10*-3"),
    ("[ppm]", False, 1.0, "10*-6"),
    ("[ppb]", False, 1.0, "10*-9"),
    ("sr", True, 1.0, "rad2"),
    ("deg", False, 2.0, "[pi].rad/360"),
    ("Hz", True, 1.0, "s-1"),
    ("N", True, 1.0, "kg.m/s2"),
    ("Pa", True, 1.0, "N/m2"),
    ("J", True, 1.0, "N.m"),
    ("W", True, 1.0, "J/s"),
    ("A", True, 1.0, "C/s"),
    ("V", True, 1.0, "J/C"),
    ("cal", True, 4.184, "J"),
    ("bar", True, 1e5, "Pa"),
    ("l", True, 1.0, "dm3"),
    ("L", True, 1.0, "l"),
    ("t", True, 1e3, "kg"),
    ("min", False, 60.0, "s"),
    ("h", False, 60.0, "min"),
    ("d", False, 24.0, "h"),
    ("wk", False, 7.0, "d"),
    ("a_j", False, 365.25, "d"),
    ("a", False, 1.0, "a_j"),
    ("mo_j", False, 1.0, "a_j/12"),
    ("mo", False, 1.0, "mo_j"),
    ("eq", True, 1.0, "mol"),
    ("osm", True, 1.0, "mol"),
    ("kat", True, 1.0, "mol/s"),
    ("U", True, 1.0, "umol/min"),
    ("[IU]", True, 1.0, "[iU]"),
    ("m[Hg]", True, 133.3220, "kPa"),
    ("m[H2O]", True, 9.80665, "kPa"),
    ("[in_i]", False, 2.54, "cm"),
    ("[ft_i]", False, 12.0, "[in_i]"),
    ("[yd_i]", False, 3.0, "[ft_i]"),
    ("[mi_i]", False, 5280.0, "[ft_i]"),
    ("[gal_us]", False, 231.0, "[in_i]3"),
    ("[gr]", False, 64.79891, "mg"),
    ("[lb_av]", False, 7000.0, "[gr]"),
    ("[dr_av]", False, 27.34375, "[gr]"),
    ("[oz_av]", False, 16.0, "[dr_av]"),
)
#: Special (affine) units: symbol, metric, scale, unit of the scale, shift.
_SPECIALS: tuple[tuple[str, bool, float, str, float], ...] = (
    ("Cel", True, 1.0, "K", 273.15),
    ("[degF]", False, 5.0 / 9.0, "K", 459.67),
)
#: Frequent non-UCUM spellings, for "did you mean" hints only (never accepted silently).
_HINTS: Mapping[str, str] = MappingProxyType(
    {
        "mmHg": "mm[Hg]", "cmH2O": "cm[H2O]", "degC": "Cel", "°C": "Cel", "°F": "[degF]",
        "F": "[degF]", "lb": "[lb_av]", "lbs": "[lb_av]", "in": "[in_i]", "ft": "[ft_i]",
        "oz": "[oz_av]", "IU": "[IU]", "iU": "[iU]", "bpm": "/min", "sec": "s", "hr": "h",
        "hrs": "h", "mcg": "ug", "µg": "ug", "μg": "ug", "cc": "mL", "ppm": "[ppm]",
        "units": "U", "yr": "a", "y": "a", "gal": "[gal_us]",
    }
)  # fmt: skip
_KINDS: Mapping[str, str] = MappingProxyType(
    {
        "1": "dimensionless", "m": "length", "s": "time", "g": "mass", "K": "temperature",
        "mol": "amount of substance", "m3": "volume", "s-1": "frequency or rate",
        "g.m-3": "mass concentration", "mol.m-3": "substance concentration",
        "g.m-1.s-2": "pressure", "mol.s-1": "catalytic activity", "[iU]": "international unit",
        "g.m2.s-2": "energy", "rad": "plane angle",
    }
)  # fmt: skip
_EXPONENT = re.compile(r"^(.*[^0-9+\-])([+-]?[0-9]+)$")
_STOP = "./(){}"


@dataclass(frozen=True)
class Unit:
    """A parsed unit: ``base = (value + offset) * factor`` in the units of ``BASE_UNITS``.

    ``dimension`` holds the exponent of each base unit; ``special`` is true for the affine
    temperature scales (``Cel``, ``[degF]``), whose ``offset`` is non-zero.
    """

    code: str
    coefficient: float
    power_of_ten: int
    dimension: Dimension
    offset: float = 0.0
    special: bool = False

    @property
    def factor(self) -> float:
        """The magnitude of one unit in base units, ``coefficient * 10**power_of_ten``."""
        return _scaled(self.coefficient, self.power_of_ten)

    @property
    def dimension_text(self) -> str:
        """The dimension as a UCUM term of base units, for example ``"g.m-3"``."""
        return _dimension_text(self.dimension)

    @property
    def kind(self) -> str:
        """A readable name of the dimension (``"mass concentration"``) with its term."""
        text = self.dimension_text
        name = _KINDS.get(text)
        return f"{name}, {text}" if name else text


@dataclass(frozen=True)
class _Term:
    # Powers of ten (prefixes, 10*, %) are kept apart from the coefficient so that they
    # cancel exactly: mg/dL is 1 * 10**1 g.m-3, not 1e-3 / 1e-4 in floating point.
    coefficient: float
    power_of_ten: int
    dimension: Dimension
    special: tuple[str, float] | None = None  # (symbol, shift) of a lone special unit


_ONE = _Term(1.0, 0, (0,) * _N_BASE)


def _scaled(value: float, power_of_ten: int) -> float:
    # Division by an exact power of ten rounds once; multiplying by 0.1 would round twice.
    return value * 10.0**power_of_ten if power_of_ten >= 0 else value / 10.0**-power_of_ten


def _dimension_text(dimension: Dimension) -> str:
    ordered = sorted(zip(BASE_UNITS, dimension, strict=True), key=lambda bp: bp[1] < 0)
    parts = [base if power == 1 else f"{base}{power}" for base, power in ordered if power]
    return ".".join(parts) or "1"


def _multiply(left: _Term, right: _Term, sign: int, where: str) -> _Term:
    for term in (left, right):
        if term.special is not None:
            raise InvalidInputError(
                f"special unit {term.special[0]!r} cannot be multiplied or divided in {where!r}; "
                "convert temperatures on their own (for example 'Cel', not 'Cel/h')"
            )
    dimension = tuple(a + sign * b for a, b in zip(left.dimension, right.dimension, strict=True))
    coefficient = (
        left.coefficient * right.coefficient if sign > 0 else left.coefficient / right.coefficient
    )
    return _Term(coefficient, left.power_of_ten + sign * right.power_of_ten, dimension)


class _Parser:
    """Recursive descent over one unit code, against a table of atoms."""

    def __init__(self, text: str, table: Mapping[str, _Term], metric: frozenset[str]) -> None:
        self.text = text
        self.pos = 0
        self.table = table
        self.metric = metric

    def main_term(self) -> _Term:
        if not self.text:
            raise InvalidInputError("empty unit code; use '1' for a dimensionless quantity")
        if self.text.startswith("/"):
            self.pos = 1
            term = _multiply(_ONE, self.term(), -1, self.text)
        else:
            term = self.term()
        if self.pos != len(self.text):
            raise self._unexpected()
        return term

    def term(self) -> _Term:
        term = self.component()
        while self.pos < len(self.text) and self.text[self.pos] in "./":
            sign = 1 if self.text[self.pos] == "." else -1
            self.pos += 1
            term = _multiply(term, self.component(), sign, self.text)
        return term

    def component(self) -> _Term:
        if self.pos >= len(self.text):
            raise InvalidInputError(f"unit code {self.text!r} ends where a unit was expected")
        char = self.text[self.pos]
        if char == "(":
            self.pos += 1
            term = self.term()
            if self.pos >= len(self.text) or self.text[self.pos] != ")":
                raise InvalidInputError(
                    f"unclosed '(' in unit code {self.text!r}; add the missing ')'"
                )
            self.pos += 1
            return term
        if char == "{":
            self.annotation()
            return _ONE
        if char in _STOP:
            raise self._unexpected()
        term = self.simple_unit()
        if self.pos < len(self.text) and self.text[self.pos] == "{":
            self.annotation()
        return term

    def annotation(self) -> None:
        end = self.text.find("}", self.pos)
        if end < 0:
            raise InvalidInputError(
                f"unclosed annotation at position {self.pos} of unit code {self.text!r}; "
                "close it with '}'"
            )
        self.pos = end + 1

    def simple_unit(self) -> _Term:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in _STOP:
            if self.text[self.pos] == "[":
                close = self.text.find("]", self.pos)
                self.pos = len(self.text) - 1 if close < 0 else close
            self.pos += 1
        run = self.text[start : self.pos]
        if run.isascii() and run.isdigit():
            if int(run) == 0:
                raise InvalidInputError(
                    f"factor 0 at position {start} of unit code {self.text!r}; a unit's "
                    "factor must be a positive integer"
                )
            return _Term(float(int(run)), 0, _ONE.dimension)
        symbol, exponent = run, 1
        match = _EXPONENT.match(run)
        if match is not None:
            symbol, exponent = match.group(1), int(match.group(2))
        return self.atom(symbol, start, exponent)

    def atom(self, symbol: str, start: int, exponent: int) -> _Term:
        power, atom = 0, self.table.get(symbol)
        if atom is None:
            for prefix, prefix_power in _PREFIXES.items():
                rest = symbol[len(prefix) :]
                if symbol.startswith(prefix) and rest in self.metric:
                    power, atom = prefix_power, self.table[rest]
                    break
        if atom is None:
            hint = _suggest(symbol, self.table, self.metric)
            raise InvalidInputError(
                f"unknown UCUM unit {symbol!r} at position {start} of {self.text!r}"
                + (f"; did you mean {hint!r}?" if hint else "")
                + " (UCUM codes are case-sensitive)"
            )
        if atom.special is not None:
            if exponent != 1 or power != 0:
                raise InvalidInputError(
                    f"special unit {atom.special[0]!r} in {self.text!r} cannot take a prefix "
                    "or an exponent; write it alone"
                )
            return atom
        dimension = tuple(exponent * d for d in atom.dimension)
        try:
            coefficient = atom.coefficient**exponent
        except OverflowError as err:
            raise _out_of_range(self.text) from err
        return _Term(coefficient, (power + atom.power_of_ten) * exponent, dimension)

    def _unexpected(self) -> InvalidInputError:
        return InvalidInputError(
            f"unexpected {self.text[self.pos]!r} at position {self.pos} of unit code "
            f"{self.text!r}; UCUM joins units with '.' and '/' and has no spaces"
        )


def _out_of_range(code: str) -> InvalidInputError:
    return InvalidInputError(
        f"unit code {code!r} has a magnitude outside the floating-point range; check its exponents"
    )


def _suggest(symbol: str, table: Mapping[str, _Term], metric: frozenset[str]) -> str | None:
    if symbol in _HINTS:
        return _HINTS[symbol]
    if f"[{symbol}]" in table:
        return f"[{symbol}]"
    candidates = [*table, *(p + a for p in ("m", "u", "k", "c", "d", "n") for a in metric)]
    folded = {c.casefold(): c for c in candidates}
    if symbol.casefold() in folded:
        return folded[symbol.casefold()]
    close = difflib.get_close_matches(symbol, candidates, n=1, cutoff=0.75)
    return close[0] if close else None


def _build_table() -> tuple[Mapping[str, _Term], frozenset[str]]:
    table: dict[str, _Term] = {}
    metric: set[str] = set()
    for i, base in enumerate(BASE_UNITS):
        table[base] = _Term(1.0, 0, tuple(int(j == i) for j in range(_N_BASE)))
        metric.add(base)
    for symbol, is_metric, value, unit in _DEFINITIONS:
        defined = _Parser(unit, table, frozenset(metric)).main_term()
        table[symbol] = _Term(value * defined.coefficient, defined.power_of_ten, defined.dimension)
        if is_metric:
            metric.add(symbol)
    for symbol, is_metric, scale, unit, shift in _SPECIALS:
        defined = _Parser(unit, table, frozenset(metric)).main_term()
        table[symbol] = _Term(
            scale * defined.coefficient, defined.power_of_ten, defined.dimension, (symbol, shift)
        )
        if is_metric:
            metric.add(symbol)
    return MappingProxyType(table), frozenset(metric)


_TABLE, _METRIC = _build_table()


def atoms() -> tuple[str, ...]:
    """Every unit symbol this module knows (base, defined and special), in table order.

    Examples
    --------
    >>> "mm[Hg]" in atoms(), "m[Hg]" in atoms(), "[degF]" in atoms()
    (False, True, True)
    """
    return tuple(_TABLE)


def parse(unit: str) -> Unit:
    """Parse a UCUM unit code into its factor and dimension (or affine special unit).

    Parameters
    ----------
    unit
        A case-sensitive UCUM code such as ``"mg/dL"``, ``"/min"``, ``"10*3/uL"``,
        ``"{beats}/min"`` or ``"Cel"``.

    Returns
    -------
    Unit
        The code with its factor to base units and its dimension vector over
        :data:`BASE_UNITS`.

    Raises
    ------
    InvalidInputError
        If an atom is unknown (the message names it, its position and, when one is close, a
        suggestion), parentheses or braces do not close, or a special unit is combined.

    Examples
    --------
    >>> parse("mg/dL").factor, parse("mg/dL").kind
    (10.0, 'mass concentration, g.m-3')
    >>> parse("10*3/uL").dimension_text
    'm-3'
    >>> parse("degF")
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidInputError: unknown UCUM unit 'degF' at position 0 of 'degF'; did you mean '[degF]'? (UCUM codes are case-sensitive)
    """  # noqa: E501
    if not isinstance(unit, str):
        raise InvalidInputError(f"a UCUM unit code must be a string; got {unit!r}")
    space = next((i for i, char in enumerate(unit) if char.isspace()), None)
    if space is not None:
        raise InvalidInputError(
            f"unit code {unit!r} has a space at position {space}; UCUM codes have no spaces "
            "(join units with '.', as in 'mg/(kg.h)')"
        )
    term = _Parser(unit, _TABLE, _METRIC).main_term()
    try:
        factor = _scaled(term.coefficient, term.power_of_ten)
    except OverflowError as err:
        raise _out_of_range(unit) from err
    if not (math.isfinite(factor) and factor > 0):
        raise _out_of_range(unit)
    shift, special = (term.special[1], True) if term.special is not None else (0.0, False)
    return Unit(unit, term.coefficient, term.power_of_ten, term.dimension, shift, special)


def _bridge(source: Unit, target: Unit, molar_mass_g_per_mol: float | None) -> float:
    """The factor taking base values of ``source`` to base values of ``target``."""
    if source.dimension == target.dimension:
        return 1.0
    difference = [a - b for a, b in zip(source.dimension, target.dimension, strict=True)]
    mass_minus_amount = [0] * _N_BASE
    mass_minus_amount[_MASS], mass_minus_amount[_AMOUNT] = 1, -1
    direction = (
        1
        if difference == mass_minus_amount
        else -1
        if difference == [-d for d in mass_minus_amount]
        else 0
    )
    if direction and molar_mass_g_per_mol is not None:
        if not (math.isfinite(molar_mass_g_per_mol) and molar_mass_g_per_mol > 0):
            raise InvalidParameterError(
                f"molar_mass_g_per_mol must be a positive finite number; got "
                f"{molar_mass_g_per_mol!r} (glucose: 180.156)"
            )
        return 1.0 / molar_mass_g_per_mol if direction > 0 else molar_mass_g_per_mol
    hint = (
        "; pass molar_mass_g_per_mol to convert between mass and amount of substance"
        if direction
        else ""
    )
    raise InvalidInputError(
        f"cannot convert from {source.code!r} ({source.kind}) to {target.code!r} "
        f"({target.kind}): the dimensions differ{hint}"
    )


def commensurable(
    from_unit: str, to_unit: str, *, molar_mass_g_per_mol: float | None = None
) -> bool:
    """Whether values in ``from_unit`` can be converted to ``to_unit``.

    Both codes must parse (an unknown atom still raises :class:`InvalidInputError`).

    Examples
    --------
    >>> commensurable("mg/dL", "mmol/L"), commensurable("mg/dL", "mmol/L", molar_mass_g_per_mol=180.156)
    (False, True)
    """  # noqa: E501
    source, target = parse(from_unit), parse(to_unit)
    try:
        _bridge(source, target, molar_mass_g_per_mol)
    except InvalidInputError:
        return False
    return True


@dataclass(frozen=True)
class Conversion:
    """A prepared conversion ``to = (value + shift) * ratio``, for many values at once.

    Build it with :func:`conversion`; calling it converts a number or an array.

    Examples
    --------
    >>> to_celsius = conversion("[degF]", "Cel")
    >>> to_celsius(np.array([32.0, 98.6, 212.0])).round(12)
    array([  0.,  37., 100.])
    """

    from_unit: str
    to_unit: str
    ratio: float
    shift: float = 0.0

    @overload
    def __call__(self, value: float) -> float: ...
    @overload
    def __call__(self, value: FloatArray) -> FloatArray: ...
    def __call__(self, value: float | FloatArray) -> float | FloatArray:
        """Convert ``value`` (a float stays a float, an array keeps its shape)."""
        if isinstance(value, np.ndarray):
            array = np.asarray(value, dtype=np.float64)
            shifted = array + self.shift if self.shift else array
            return np.asarray(shifted * self.ratio, dtype=np.float64)
        return (float(value) + self.shift) * self.ratio


def conversion(
    from_unit: str, to_unit: str, *, molar_mass_g_per_mol: float | None = None
) -> Conversion:
    """Prepare the conversion between two UCUM units (parsed once, applied many times).

    Parameters and errors are those of :func:`convert`.

    Examples
    --------
    >>> conversion("mmol/L", "mg/dL", molar_mass_g_per_mol=180.156).ratio
    18.0156
    """
    source, target = parse(from_unit), parse(to_unit)
    bridge = _bridge(source, target, molar_mass_g_per_mol)
    ratio = _scaled(
        source.coefficient * bridge / target.coefficient,
        source.power_of_ten - target.power_of_ten,
    )
    if not (source.special or target.special):
        return Conversion(from_unit, to_unit, ratio)
    # The shift is computed exactly in decimal, so that 32 [degF] is exactly 0 Cel:
    # (F - 32) * 5/9 rather than a difference of two large Kelvin values. Temperature
    # ratios are small rationals (1, 5/9, 9/5, powers of ten), which limit_denominator
    # recovers from their floating-point value.
    exact_ratio = Fraction(ratio).limit_denominator(10**6)
    shift = Fraction(repr(source.offset)) - Fraction(repr(target.offset)) / exact_ratio
    return Conversion(from_unit, to_unit, ratio, float(shift))


@overload
def convert(
    value: float, from_unit: str, to_unit: str, *, molar_mass_g_per_mol: float | None = None
) -> float: ...
@overload
def convert(
    value: FloatArray, from_unit: str, to_unit: str, *, molar_mass_g_per_mol: float | None = None
) -> FloatArray: ...
def convert(
    value: float | FloatArray,
    from_unit: str,
    to_unit: str,
    *,
    molar_mass_g_per_mol: float | None = None,
) -> float | FloatArray:
    """Convert a value or an array of values from one UCUM unit to another.

    Parameters
    ----------
    value
        A number, or an array of any shape (converted element-wise).
    from_unit, to_unit
        UCUM codes.
    molar_mass_g_per_mol
        Needed only between mass and amount of substance (``mg/dL`` and ``mmol/L``).

    Returns
    -------
    float or FloatArray
        The converted value(s): a float for a number, an array of the same shape otherwise.

    Raises
    ------
    InvalidInputError
        If a code does not parse, or the units are incommensurable (the message names both
        dimensions).
    InvalidParameterError
        If the molar mass is not a positive finite number.

    Examples
    --------
    >>> round(convert(5.0, "mmol/L", "mg/dL", molar_mass_g_per_mol=180.156), 9)
    90.078
    >>> round(convert(98.6, "[degF]", "Cel"), 9)
    37.0
    >>> convert(np.array([120.0, 80.0]), "mm[Hg]", "kPa").round(4)
    array([15.9986, 10.6658])
    >>> convert(1.0, "kg", "/min")
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidInputError: cannot convert from 'kg' (mass, g) to '/min' (frequency or rate, s-1): the dimensions differ
    """  # noqa: E501
    return conversion(from_unit, to_unit, molar_mass_g_per_mol=molar_mass_g_per_mol)(value)
