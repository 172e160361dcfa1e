"""The unit layer: canonical quantities in the units a learner's locale reads, and back.

Every quantity in a session record is canonical (see :mod:`healthtwin.education.record`);
this module decides how each is shown. Only two kinds of measurement change their unit
between the locales shipped:

- **glucose**: mmol/L (SI), mg/dL or g/L (conventional). One mmol/L of glucose
  (C6H12O6, molar mass 180.16 g/mol) is 18.016 mg/dL, i.e. 0.18016 g/L (IFCC/IUPAC
  conversion; Diabetes Care "Standards of Care" and the JBDS-IP guidelines both print it).
- **temperature**: degC everywhere except the United States (degF = degC * 9/5 + 32).

Everything else (mmHg, /min, %, mmol/L of potassium, ketones and lactate, doses in g, mg,
micrograms, units, mL) keeps its unit; only its label and number format follow the locale.

Default glucose units, and why:

======  ==========  =============================================================
locale  glucose     source
======  ==========  =============================================================
en      mmol/L      UK practice: NICE NG17/NG28 and JBDS-IP DKA guideline (mmol/L)
en_US   mg/dL, °F   ADA Standards of Care in Diabetes (mg/dL)
de      mg/dL       DDG Praxisempfehlungen print mg/dl first (mmol/l in brackets);
                    mg/dl dominates in German laboratories and glucose meters
es      mg/dL       SED (Sociedad Española de Diabetes) guidance and Spanish labs
fr      g/L         HAS / SFD recommendations (glycémie à jeun 1,26 g/L)
zh      mmol/L      Chinese Diabetes Society guideline (中国2型糖尿病防治指南, mmol/L)
======  ==========  =============================================================

A learner can override the locale's choice with a :class:`UnitSystem` (``--units si`` or
``--units conventional``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from healthtwin.errors import InvalidInputError

__all__ = [
    "CONVENTIONAL",
    "FRENCH",
    "GLUCOSE_MG_DL_PER_MMOL_L",
    "SI",
    "US",
    "Unit",
    "UnitSystem",
    "from_local",
    "kind_of",
    "local_unit",
    "to_local",
    "unit_label",
    "unit_system",
]

GLUCOSE_MG_DL_PER_MMOL_L = 18.016
GlucoseUnit = Literal["mmol/L", "mg/dL", "g/L"]
TemperatureUnit = Literal["degC", "degF"]


@dataclass(frozen=True)
class Unit:
    """A displayed unit: ``symbol`` (language-neutral key) and decimals shown.

    ``scale`` and ``offset`` map canonical to local: ``local = canonical * scale + offset``.
    """

    symbol: str
    digits: int
    scale: float = 1.0
    offset: float = 0.0


@dataclass(frozen=True)
class UnitSystem:
    """Which unit each convertible kind of measurement is shown in.

    Examples
    --------
    >>> UnitSystem("si", glucose="mmol/L", temperature="degC").glucose
    'mmol/L'
    """

    name: str
    glucose: GlucoseUnit
    temperature: TemperatureUnit


SI = UnitSystem("si", glucose="mmol/L", temperature="degC")
CONVENTIONAL = UnitSystem("conventional", glucose="mg/dL", temperature="degC")
US = UnitSystem("conventional", glucose="mg/dL", temperature="degF")
FRENCH = UnitSystem("conventional", glucose="g/L", temperature="degC")

# Canonical measure (record.py's table, minus the unit suffix) -> kind of measurement.
_MEASURE_KINDS = {
    "glucose_mmol_per_l": "glucose",
    "ketones_mmol_per_l": "ketones",
    "potassium_mmol_per_l": "potassium",
    "lactate_mmol_per_l": "lactate",
    "bicarbonate_mmol_per_l": "bicarbonate",
    "cvp_mmhg": "pressure",
    "ph": "ph",
    "map_mmhg": "pressure",
    "sbp_mmhg": "pressure",
    "dbp_mmhg": "pressure",
    "hr_per_min": "rate",
    "resp_rate_per_min": "rate",
    "spo2_percent": "percent",
    "temp_c": "temperature",
    "bis": "index",
    "gcs": "index",
    "urine_ml_per_h": "urine",
    "haemoglobin_g_per_dl": "haemoglobin",
}
# A measure not in the table still has a unit suffix (record.py's naming rule).
_SUFFIX_KINDS = (
    ("_mmol_per_l", "mmol"),
    ("_mmhg", "pressure"),
    ("_per_min", "rate"),
    ("_percent", "percent"),
    ("_ml_per_h", "urine"),
    ("_g_per_dl", "haemoglobin"),
    ("_given_ml", "volume"),
)
# Kind -> (canonical unit, decimals shown) for kinds whose unit never changes.
_FIXED: dict[str, Unit] = {
    "ketones": Unit("mmol/L", 1),
    "potassium": Unit("mmol/L", 1),
    "lactate": Unit("mmol/L", 1),
    "bicarbonate": Unit("mmol/L", 0),
    "mmol": Unit("mmol/L", 1),
    "ph": Unit("", 2),
    "pressure": Unit("mmHg", 0),
    "rate": Unit("/min", 0),
    "percent": Unit("%", 0),
    "index": Unit("", 0),
    "urine": Unit("mL/h", 0),
    "haemoglobin": Unit("g/dL", 1),
    "volume": Unit("mL", 0),
}
_GLUCOSE: dict[str, Unit] = {
    "mmol/L": Unit("mmol/L", 1),
    "mg/dL": Unit("mg/dL", 0, GLUCOSE_MG_DL_PER_MMOL_L),
    "g/L": Unit("g/L", 2, GLUCOSE_MG_DL_PER_MMOL_L / 100.0),
}
_TEMPERATURE: dict[str, Unit] = {
    "degC": Unit("degC", 1),
    "degF": Unit("degF", 1, 9.0 / 5.0, 32.0),
}
# Canonical dose and rate units a case may declare: shown as they are.
DOSE_UNITS: dict[str, Unit] = {
    "g": Unit("g", 1),
    "mg": Unit("mg", 1),
    "mcg": Unit("mcg", 0),
    "units": Unit("units", 1),
    "U": Unit("units", 1),
    "U/h": Unit("units/h", 1),
    "U/kg/h": Unit("units/kg/h", 2),
    "g/h": Unit("g/h", 1),
    "mL": Unit("mL", 0),
    "L": Unit("L", 1),
    "mmol": Unit("mmol", 0),
    "mg/kg": Unit("mg/kg", 2),
    "mcg/kg": Unit("mcg/kg", 1),
    "mL/kg": Unit("mL/kg", 0),
    "units/h": Unit("units/h", 1),
    "units/kg/h": Unit("units/kg/h", 2),
    "mL/h": Unit("mL/h", 0),
    "mg/h": Unit("mg/h", 1),
    "mcg/kg/min": Unit("mcg/kg/min", 2),
    "mcg/min": Unit("mcg/min", 1),
    "L/min": Unit("L/min", 0),
    "mmol/h": Unit("mmol/h", 0),
    "%": Unit("%", 0),
}
# A canonical unit seen without a measure name: its kind (mmol/L stays ambiguous).
_UNIT_KINDS = {"degC": "temperature", "mmHg": "pressure", "/min": "rate", "mL/h": "urine"}


def kind_of(name: str) -> str | None:
    """The kind of measurement a measure name, a parameter key or a kind names.

    ``"glucose_mmol_per_l"``, ``"glucose"`` and ``"glucose_lab"`` all give ``"glucose"``;
    a name that says nothing known gives ``None``.

    Examples
    --------
    >>> kind_of("glucose_mmol_per_l"), kind_of("temp_c"), kind_of("glucose"), kind_of("x")
    ('glucose', 'temperature', 'glucose', None)
    """
    if name in _MEASURE_KINDS:
        return _MEASURE_KINDS[name]
    kinds = {"glucose", "temperature", *_FIXED}
    if name in kinds:
        return name
    for measure, kind in _MEASURE_KINDS.items():
        stem = measure.split("_")[0]
        if name == stem or name.startswith(stem + "_"):
            return kind
    for suffix, kind in _SUFFIX_KINDS:
        if name.endswith(suffix):
            return kind
    return None


def local_unit(kind_or_unit: str, system: UnitSystem) -> Unit:
    """The unit a kind of measurement (or a canonical dose unit) is shown in under ``system``.

    Raises
    ------
    InvalidInputError
        If ``kind_or_unit`` is neither a known kind, a measure name nor a dose unit.

    Examples
    --------
    >>> local_unit("glucose", CONVENTIONAL).symbol, local_unit("mg", SI).symbol
    ('mg/dL', 'mg')
    """
    if kind_or_unit in DOSE_UNITS:
        return DOSE_UNITS[kind_or_unit]
    if kind_or_unit in _UNIT_KINDS:
        kind_or_unit = _UNIT_KINDS[kind_or_unit]
    kind = kind_of(kind_or_unit)
    if kind == "glucose":
        return _GLUCOSE[system.glucose]
    if kind == "temperature":
        return _TEMPERATURE[system.temperature]
    if kind is not None:
        return _FIXED[kind]
    known = sorted({*_MEASURE_KINDS, "glucose", "temperature", *_FIXED, *DOSE_UNITS})
    raise InvalidInputError(
        f"unknown unit kind {kind_or_unit!r}; use a measure name, a kind or a dose unit: "
        + ", ".join(known)
    )


def to_local(value: float, kind_or_unit: str, system: UnitSystem) -> float:
    """A canonical value in the local unit (unrounded).

    Examples
    --------
    >>> round(to_local(5.0, "glucose", CONVENTIONAL), 2)
    90.08
    >>> round(to_local(37.0, "temperature", US), 6)
    98.6
    """
    unit = local_unit(kind_or_unit, system)
    return value * unit.scale + unit.offset


def from_local(value: float, kind_or_unit: str, system: UnitSystem) -> float:
    """A local value back in the canonical unit (inverse of :func:`to_local`).

    Examples
    --------
    >>> round(from_local(90.08, "glucose", CONVENTIONAL), 6)
    5.0
    """
    unit = local_unit(kind_or_unit, system)
    return (value - unit.offset) / unit.scale


def unit_system(name: str) -> UnitSystem:
    """The override a learner names: ``"si"`` or ``"conventional"`` (mg/dL, degC).

    Raises
    ------
    InvalidInputError
        For any other name.

    Examples
    --------
    >>> unit_system("si").glucose
    'mmol/L'
    """
    systems = {"si": SI, "conventional": CONVENTIONAL}
    try:
        return systems[name]
    except KeyError as err:
        raise InvalidInputError(
            f"unknown unit system {name!r}; choose one of: {', '.join(systems)}"
        ) from err


# How each language writes a unit: whole symbols first, then each "/"-separated token.
# Micrograms and insulin units are written out in English (NPSA/ISMP error-prone
# abbreviations); German writes litre as a lower-case l (DIN 1301).
_WHOLE_LABELS: dict[str, dict[str, str]] = {
    "zh": {"/min": "次/分", "units": "单位", "units/h": "单位/小时", "units/kg/h": "单位/kg/小时"},
}
_TOKEN_LABELS: dict[str, dict[str, str]] = {
    "en": {"mcg": "micrograms", "degC": "°C", "degF": "°F"},
    "de": {"mcg": "µg", "units": "IE", "mL": "ml", "L": "l", "dL": "dl", "degC": "°C", "h": "h"},
    "es": {"mcg": "µg", "units": "UI", "degC": "°C"},
    "fr": {"mcg": "µg", "units": "UI", "degC": "°C"},
    "zh": {"mcg": "µg", "degC": "°C", "min": "分", "h": "小时"},
}


def unit_label(symbol: str, language: str) -> str:
    """How ``language`` writes a unit symbol (``"mcg/kg/min"`` -> ``"µg/kg/min"`` in German).

    Examples
    --------
    >>> unit_label("mmol/L", "de"), unit_label("mcg", "en"), unit_label("/min", "zh")
    ('mmol/l', 'micrograms', '次/分')
    """
    whole = _WHOLE_LABELS.get(language, {})
    if symbol in whole:
        return whole[symbol]
    tokens = _TOKEN_LABELS.get(language, _TOKEN_LABELS["en"])
    return "/".join(tokens.get(part, part) for part in symbol.split("/"))
