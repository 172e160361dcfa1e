"""Vital signs as arrays of observations: validation, ACVPU consciousness, CSV input.

:class:`Vitals` holds ``n`` observation sets (respiratory rate, SpO2 and its NEWS2 scale,
air or oxygen, systolic blood pressure, heart rate, consciousness, temperature) as arrays
of shape ``(n,)``. Physiologically impossible values are rejected, not scored
(:class:`InvalidInputError` naming the field, the row and the value): respiratory rate in
(0, 80] /min, SpO2 in (0, 100] %, systolic BP in (0, 300] mmHg, heart rate in (0, 300] /min,
temperature in [25, 45] C. Zero is refused because exports use it for "not measured" and a
patient with no breathing or pulse needs resuscitation, not a score; 80 breaths/min and 300
beats/min are above what adults reach (1:1 flutter peaks near 300); 300 mmHg is above the
range of ward monitors; temperatures outside [25, 45] C are nearly always in Fahrenheit or
from a probe off the body. ``NaN`` (missing) is an error naming the field and the row: a
missing parameter would score 0 and understate the risk.

The scores themselves are in :mod:`healthtwin.physiology.scores`.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from enum import IntEnum
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from healthtwin.core.types import BoolArray, FloatArray, IntArray
from healthtwin.errors import InvalidInputError, ShapeError

__all__ = [
    "INPUT_COLUMNS",
    "NEWS2_COLUMNS",
    "SCORE_COLUMNS",
    "Consciousness",
    "Vitals",
    "as_flags",
    "as_float_vector",
    "check_measurement",
    "read_vitals_csv",
]

_Scalar = TypeVar("_Scalar", bound=np.generic)

# Charted values are rounded half up; this slack (in units of the resolution) keeps a decimal
# half such as 36.05 C, stored as 36.04999..., from rounding down.


class Consciousness(IntEnum):
    """Level of consciousness on the ACVPU scale (C is *new* confusion)."""

    ALERT = 0
    CONFUSION = 1
    VOICE = 2
    PAIN = 3
    UNRESPONSIVE = 4

    @property
    def letter(self) -> str:
        """The ACVPU letter, e.g. ``"C"``."""
        return self.name[0]

    @classmethod
    def parse(cls, text: str) -> Consciousness:
        """The level named by a letter or a word, case-insensitive.

        Examples
        --------
        >>> Consciousness.parse("v"), Consciousness.parse(" Confusion ")
        (<Consciousness.VOICE: 2>, <Consciousness.CONFUSION: 1>)
        """
        key = text.strip().upper()
        for level in cls:
            if key in (level.letter, level.name):
                return level
        raise InvalidInputError(
            f"unknown consciousness level {text!r}; use one of A, C, V, P, U or alert, "
            "confusion, voice, pain, unresponsive (case-insensitive)"
        )


@dataclass(frozen=True, slots=True)
class _Range:
    low: float
    high: float
    low_inclusive: bool
    unit: str

    def interval(self) -> str:
        return f"{'[' if self.low_inclusive else '('}{self.low:g}, {self.high:g}] {self.unit}"

    def contains(self, values: FloatArray) -> BoolArray:
        above = values >= self.low if self.low_inclusive else values > self.low
        return np.asarray(above & (values <= self.high), dtype=np.bool_)


_RANGES = (
    ("respiratory_rate_per_min", _Range(0.0, 80.0, False, "breaths/min")),
    ("spo2_percent", _Range(0.0, 100.0, False, "%")),
    ("systolic_bp_mm_hg", _Range(0.0, 300.0, False, "mmHg")),
    ("heart_rate_per_min", _Range(0.0, 300.0, False, "beats/min")),
    ("temperature_c", _Range(25.0, 45.0, True, "C")),
)


def _row(index: int) -> str:
    return f"row {index}"


def check_measurement(
    values: FloatArray, name: str, describe_row: Callable[[int], str] = _row
) -> None:
    """Raise if ``values`` of measurement ``name`` are missing or physiologically impossible."""
    limits = dict(_RANGES)[name]
    missing = np.flatnonzero(np.isnan(values))
    if missing.size:
        raise InvalidInputError(
            f"{name} is missing (NaN) at {describe_row(int(missing[0]))} ({missing.size} "
            "missing in all); early-warning scores cannot be computed with a missing "
            "parameter: record it, or drop the observation"
        )
    bad = np.flatnonzero(~limits.contains(values))
    if bad.size:
        first = int(bad[0])
        raise InvalidInputError(
            f"{name} = {float(values[first])!r} at {describe_row(first)} is physiologically "
            f"impossible: it must be in {limits.interval()} ({bad.size} of {values.size} rows out "
            "of range); check the unit and correct or drop the observation"
        )


@dataclass(frozen=True, slots=True, eq=False)
class Vitals:
    """``n`` observation sets; every array has shape ``(n,)`` and is stored read-only.

    Build one with :meth:`from_arrays` (lists, scalars, consciousness letters) or
    :func:`read_vitals_csv`; direct construction needs arrays of the declared dtypes.
    ``consciousness`` holds :class:`Consciousness` codes; ``patient`` and ``time`` are
    passed through untouched. Construction rejects impossible and missing values (see the
    module docstring).
    """

    respiratory_rate_per_min: FloatArray
    spo2_percent: FloatArray
    spo2_scale: IntArray
    on_oxygen: BoolArray
    systolic_bp_mm_hg: FloatArray
    heart_rate_per_min: FloatArray
    consciousness: IntArray
    temperature_c: FloatArray
    patient: tuple[str, ...] | None = None
    time: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        n = len(np.asarray(self.respiratory_rate_per_min).reshape(-1))
        kinds = {"spo2_scale": "i", "on_oxygen": "b", "consciousness": "i"}
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name in ("patient", "time"):
                if value is not None:
                    if len(value) != n:
                        raise ShapeError(f"{field.name} has {len(value)} entries for {n} rows")
                    object.__setattr__(self, field.name, tuple(str(x) for x in value))
                continue
            kind = kinds.get(field.name, "f")
            if not isinstance(value, np.ndarray) or value.dtype.kind != kind or value.ndim != 1:
                raise InvalidInputError(
                    f"{field.name} must be a 1-D numpy array of kind {kind!r}; build Vitals "
                    "with Vitals.from_arrays(...) to convert lists, scalars and letters"
                )
            if value.shape[0] != n:
                raise ShapeError(
                    f"{field.name} has {value.shape[0]} rows, respiratory_rate_per_min has {n}"
                )
            stored = value.copy()
            stored.setflags(write=False)
            object.__setattr__(self, field.name, stored)
        _check_vitals(self)

    def __len__(self) -> int:
        return int(self.respiratory_rate_per_min.shape[0])

    @classmethod
    def from_arrays(
        cls,
        *,
        respiratory_rate_per_min: npt.ArrayLike,
        spo2_percent: npt.ArrayLike,
        systolic_bp_mm_hg: npt.ArrayLike,
        heart_rate_per_min: npt.ArrayLike,
        consciousness: Sequence[Consciousness | str] | Consciousness | str,
        temperature_c: npt.ArrayLike,
        spo2_scale: npt.ArrayLike = 1,
        on_oxygen: npt.ArrayLike = False,
        patient: Sequence[str] | None = None,
        time: Sequence[str] | None = None,
    ) -> Vitals:
        """Vitals from array-likes; ``spo2_scale`` and ``on_oxygen`` broadcast to every row.

        Examples
        --------
        >>> v = Vitals.from_arrays(
        ...     respiratory_rate_per_min=[18, 26], spo2_percent=[97, 90],
        ...     systolic_bp_mm_hg=[120, 95], heart_rate_per_min=[80, 120],
        ...     consciousness=["A", "confusion"], temperature_c=[37.0, 39.2],
        ...     on_oxygen=[False, True],
        ... )
        >>> len(v), v.consciousness.tolist()
        (2, [0, 1])
        """
        rate = as_float_vector(respiratory_rate_per_min, "respiratory_rate_per_min")
        n = rate.shape[0]
        levels = [consciousness] if isinstance(consciousness, str) else consciousness
        if isinstance(levels, Consciousness):
            levels = [levels]
        return cls(
            respiratory_rate_per_min=rate,
            spo2_percent=as_float_vector(spo2_percent, "spo2_percent"),
            spo2_scale=_as_scale(spo2_scale, n),
            on_oxygen=as_flags(on_oxygen, n),
            systolic_bp_mm_hg=as_float_vector(systolic_bp_mm_hg, "systolic_bp_mm_hg"),
            heart_rate_per_min=as_float_vector(heart_rate_per_min, "heart_rate_per_min"),
            consciousness=np.array(
                [Consciousness.parse(c) if isinstance(c, str) else int(c) for c in levels],
                dtype=np.int64,
            ).reshape(-1),
            temperature_c=as_float_vector(temperature_c, "temperature_c"),
            patient=None if patient is None else tuple(patient),
            time=None if time is None else tuple(time),
        )


def _check_vitals(vitals: Vitals, describe_row: Callable[[int], str] = _row) -> None:
    for name, _ in _RANGES:
        check_measurement(getattr(vitals, name), name, describe_row)
    checks = (
        ("spo2_scale", ~np.isin(vitals.spo2_scale, (1, 2)), "1 or 2"),
        ("consciousness", ~np.isin(vitals.consciousness, list(Consciousness)), "a code 0-4"),
    )
    for name, bad, allowed in checks:
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise InvalidInputError(
                f"{name} = {int(getattr(vitals, name)[first])} at {describe_row(first)}; "
                f"it must be {allowed}"
            )


def as_float_vector(values: npt.ArrayLike, name: str) -> FloatArray:
    """``values`` as a 1-D float array, or :class:`InvalidInputError` naming ``name``."""
    try:
        array = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(
            f"{name} must be numeric, got {values!r}: {err}; pass numbers"
        ) from err
    if array.ndim > 1:
        raise ShapeError(f"{name} must be 1-D (one value per observation), got shape {array.shape}")
    return np.atleast_1d(array)


def _as_scale(values: npt.ArrayLike, n: int) -> IntArray:
    array = np.asarray(values)
    if array.dtype.kind not in "iuf" or not np.isin(array, (1, 2)).all():
        raise InvalidInputError(f"spo2_scale must be 1 or 2, got {values!r}")
    return _broadcast(array.astype(np.int64), n, "spo2_scale")


def as_flags(values: npt.ArrayLike, n: int) -> BoolArray:
    """Booleans (or 0/1) broadcast to ``n`` observations."""
    array = np.asarray(values)
    if array.dtype.kind not in "biu" or not np.isin(array, (0, 1)).all():
        raise InvalidInputError(f"on_oxygen must be booleans (or 0/1), got {values!r}")
    return _broadcast(array.astype(np.bool_), n, "on_oxygen")


def _broadcast(array: npt.NDArray[_Scalar], n: int, name: str) -> npt.NDArray[_Scalar]:
    try:
        return np.broadcast_to(array, (n,)).copy()
    except ValueError as err:
        raise ShapeError(f"{name} has shape {array.shape}, expected a scalar or ({n},)") from err


_MEASURED_COLUMNS = (
    "respiratory_rate_per_min",
    "spo2_percent",
    "systolic_bp_mm_hg",
    "heart_rate_per_min",
    "temperature_c",
)
_REQUIRED_COLUMNS = (*_MEASURED_COLUMNS, "on_oxygen", "consciousness")
_OPTIONAL_COLUMNS = ("spo2_scale", "patient", "time")
INPUT_COLUMNS = (
    "respiratory_rate_per_min",
    "spo2_percent",
    "spo2_scale",
    "on_oxygen",
    "systolic_bp_mm_hg",
    "heart_rate_per_min",
    "consciousness",
    "temperature_c",
)
NEWS2_COLUMNS = (
    ("news2_rr", "respiration_rate"),
    ("news2_spo2", "spo2"),
    ("news2_air_oxygen", "air_or_oxygen"),
    ("news2_sbp", "systolic_bp"),
    ("news2_hr", "pulse"),
    ("news2_consciousness", "consciousness"),
    ("news2_temperature", "temperature"),
)
SCORE_COLUMNS = (
    "news2_total",
    "news2_band",
    "news2_any_single_3",
    *(column for column, _ in NEWS2_COLUMNS),
    "qsofa",
    "qsofa_positive",
)
_OXYGEN_WORDS = {"1": True, "true": True, "oxygen": True, "0": False, "false": False, "air": False}


def read_vitals_csv(path: str | os.PathLike[str]) -> Vitals:
    """Read observations from a CSV file with a header row (stdlib ``csv``).

    Columns (names case-insensitive): ``respiratory_rate_per_min``, ``spo2_percent``,
    ``systolic_bp_mm_hg``, ``heart_rate_per_min``, ``temperature_c`` (numbers);
    ``on_oxygen`` (0/1, true/false, air/oxygen); ``consciousness`` (A/C/V/P/U or the
    words); optional ``spo2_scale`` (1 or 2; empty or absent means 1), ``patient`` and
    ``time`` (text, passed through). The score columns written by :func:`write_scores_csv`
    are ignored, so its output reads back. Blank lines are skipped.

    Raises
    ------
    InvalidInputError
        Naming the line and column of a malformed or empty cell, a missing or unknown column
        (an unknown column is refused because a misspelled ``spo2_scale`` would silently
        score the wrong scale), or the row of an impossible value.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "vitals.csv"
    >>> _ = path.write_text(
    ...     "patient,respiratory_rate_per_min,spo2_percent,on_oxygen,systolic_bp_mm_hg,"
    ...     "heart_rate_per_min,consciousness,temperature_c\\n"
    ...     "bed 1,18,97,air,120,80,alert,37.1\\n"
    ... )
    >>> v = read_vitals_csv(path)
    >>> v.patient, v.spo2_scale.tolist(), v.on_oxygen.tolist()
    (('bed 1',), [1], [False])
    """
    source = Path(path)
    with source.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise InvalidInputError(f"{source} is empty; it needs a header row of column names")
        columns = _check_header(header, source)
        rows: list[tuple[int, list[str]]] = []
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(columns):
                raise InvalidInputError(
                    f"{source}, line {reader.line_num}: {len(cells)} cells for {len(columns)} "
                    "columns; every row needs one cell per header column"
                )
            rows.append((reader.line_num, cells))
    return _vitals_from_rows(rows, columns, source)


def _check_header(header: list[str], source: Path) -> list[str]:
    columns = [name.strip().lower() for name in header]
    known = set(_REQUIRED_COLUMNS) | set(_OPTIONAL_COLUMNS) | set(SCORE_COLUMNS)
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    unknown = [c for c in columns if c not in known]
    missing = [c for c in _REQUIRED_COLUMNS if c not in columns]
    for problem, names in (("repeated", duplicated), ("unknown", unknown), ("missing", missing)):
        if names:
            raise InvalidInputError(
                f"{source}: {problem} columns {names}; the columns are "
                f"{list(_REQUIRED_COLUMNS)} and optionally {list(_OPTIONAL_COLUMNS)}"
            )
    return columns


def _vitals_from_rows(
    rows: list[tuple[int, list[str]]], columns: list[str], source: Path
) -> Vitals:
    def cell_error(line: int, column: str, text: str, expected: str) -> InvalidInputError:
        return InvalidInputError(
            f"{source}, line {line}, column {column!r}: {text!r} is not {expected}; "
            "correct the cell (an empty cell is a missing value, which cannot be scored)"
        )

    def values(column: str, parse: Callable[[str], object], expected: str) -> list[object]:
        if column not in columns:
            return []
        index = columns.index(column)
        parsed = []
        for line, cells in rows:
            try:
                parsed.append(parse(cells[index].strip()))
            except (ValueError, KeyError) as err:
                raise cell_error(line, column, cells[index], expected) from err
        return parsed

    numbers = {c: values(c, _parse_number, "a number") for c in _MEASURED_COLUMNS}
    scales = values("spo2_scale", _parse_scale, "1 or 2") or [1] * len(rows)
    oxygen = values("on_oxygen", lambda t: _OXYGEN_WORDS[t.lower()], "0/1/true/false/air/oxygen")
    levels = values("consciousness", _parse_level, "A/C/V/P/U or alert/confusion/...")
    text = {c: values(c, str, "text") for c in ("patient", "time")}
    arrays = {c: np.array(v, dtype=np.float64) for c, v in numbers.items()}
    lines = [line for line, _ in rows]
    for name, array in arrays.items():
        check_measurement(array, name, lambda i: f"{source}, line {lines[i]} (row {i})")
    return Vitals(
        respiratory_rate_per_min=arrays["respiratory_rate_per_min"],
        spo2_percent=arrays["spo2_percent"],
        spo2_scale=np.array(scales, dtype=np.int64),
        on_oxygen=np.array(oxygen, dtype=np.bool_),
        systolic_bp_mm_hg=arrays["systolic_bp_mm_hg"],
        heart_rate_per_min=arrays["heart_rate_per_min"],
        consciousness=np.array(levels, dtype=np.int64),
        temperature_c=arrays["temperature_c"],
        patient=tuple(str(p) for p in text["patient"]) if "patient" in columns else None,
        time=tuple(str(t) for t in text["time"]) if "time" in columns else None,
    )


def _parse_number(text: str) -> float:
    value = float(text)
    if math.isnan(value):
        raise ValueError("NaN is a missing value")
    return value


def _parse_scale(text: str) -> int:
    if text == "":
        return 1
    scale = float(text)
    if scale not in (1.0, 2.0):
        raise ValueError(text)
    return int(scale)


def _parse_level(text: str) -> int:
    try:
        return int(Consciousness.parse(text))
    except InvalidInputError as err:
        raise ValueError(text) from err
