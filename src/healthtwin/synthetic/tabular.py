"""The contract of tabular generators: column metadata, fit, sample, save and load.

A generator is fitted on a table (a :class:`pandas.DataFrame`, one row per patient) and
returns a fitted generator that samples new tables with the same columns. Every column has
a :class:`ColumnSpec`: its kind (categorical, continuous, integer, date), its categories or
its bounds, and for a numeric column optionally its :class:`BinSpec` (how many bins,
linear or log scale, or explicit edges) for the generators that discretise (MST, AIM;
skewed lab values want log-scale bins, as equal-width bins put nearly every row in the
first one). Generators work on the numeric encoding of :meth:`TableSchema.encode` (category
codes, dates as days since 1970-01-01) and decode samples back with
:meth:`TableSchema.decode`, which rounds integers and clips every value into its bounds.

Fitted generators are saved without pickle: ``generator.json`` (method, schema, settings,
privacy statement) and ``arrays.npz`` (read with ``allow_pickle=False``); :func:`load_generator`
reads either kind back through an explicit registry of methods.

:func:`schema_template` fills a schema from the data as an editable starting point (its
bounds are then a disclosure: a differentially private fit needs them replaced by public
knowledge).
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from healthtwin.errors import (
    InvalidInputError,
    InvalidParameterError,
    MissingDependencyError,
    UnknownModelError,
)

__all__ = [
    "SYNTH_EXTRA",
    "BinScale",
    "BinSpec",
    "ColumnKind",
    "ColumnSpec",
    "FittedGenerator",
    "TableSchema",
    "TabularGenerator",
    "check_sample_size",
    "load_generator",
    "read_saved",
    "require",
    "schema_template",
    "write_saved",
]

SYNTH_EXTRA = "pip install 'healthtwin[synth]'"
MODEL_FILE = "generator.json"
ARRAYS_FILE = "arrays.npz"
_EPOCH = np.datetime64("1970-01-01", "D")
FloatArray = NDArray[np.float64]


def require(module: str, purpose: str, extra: str = SYNTH_EXTRA) -> ModuleType:
    """Import an optional module or raise :class:`MissingDependencyError` naming the extra.

    Examples
    --------
    >>> require("json", "a doctest").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingDependencyError(
            f"{module.split('.')[0]!r} is needed for {purpose} but is not installed: {extra}"
        ) from err


class ColumnKind(StrEnum):
    """What a column holds."""

    CATEGORICAL = "categorical"
    CONTINUOUS = "continuous"
    INTEGER = "integer"
    DATE = "date"


class BinScale(StrEnum):
    """How ``n`` bins split a numeric column's bounds: equal widths or equal ratios."""

    LINEAR = "linear"
    LOG = "log"


@dataclass(frozen=True)
class BinSpec:
    """Public bins of one numeric column: ``n`` bins on a ``scale``, or explicit ``edges``.

    ``n=None`` takes the generator's ``n_bins``. Explicit edges must be strictly increasing;
    values outside them fall into the first or last bin.

    Examples
    --------
    >>> BinSpec.from_dict({"n": 12, "scale": "log"})
    BinSpec(n=12, scale=<BinScale.LOG: 'log'>, edges=())
    >>> BinSpec.from_dict({"edges": [0, 1, 2, 5]}).to_dict()
    {'edges': [0.0, 1.0, 2.0, 5.0]}
    >>> BinSpec(edges=(1.0, 1.0))
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidParameterError: bin edges must be at least two finite, ...
    """

    n: int | None = None
    scale: BinScale = BinScale.LINEAR
    edges: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale", BinScale(self.scale))
        object.__setattr__(self, "edges", tuple(float(e) for e in self.edges))
        if self.edges:
            cut = np.asarray(self.edges)
            if cut.size < 2 or not np.all(np.isfinite(cut)) or np.any(np.diff(cut) <= 0):
                raise InvalidParameterError(
                    "bin edges must be at least two finite, strictly increasing numbers, got "
                    f"{list(self.edges)}"
                )
            if self.n is not None and self.n != cut.size - 1:
                raise InvalidParameterError(
                    f"n={self.n} disagrees with the {cut.size - 1} bins of the edges; give one"
                )
        elif self.n is not None and (isinstance(self.n, bool) or not int(self.n) == self.n >= 2):
            raise InvalidParameterError(
                f"the number of bins must be an integer >= 2, got {self.n!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """A JSON/YAML-ready dict: ``{"edges": [...]}`` or ``{"n": ..., "scale": ...}``."""
        if self.edges:
            return {"edges": list(self.edges)}
        record: dict[str, Any] = {} if self.n is None else {"n": int(self.n)}
        record["scale"] = str(self.scale)
        return record

    @classmethod
    def from_dict(cls, record: Mapping[str, Any] | int) -> BinSpec:
        """Read :meth:`to_dict` output (a bare integer is ``n`` linear bins)."""
        if isinstance(record, int) and not isinstance(record, bool):
            return cls(n=record)
        if not isinstance(record, Mapping):
            raise InvalidParameterError(
                f"bins must be a mapping (n and scale, or edges) or an integer, got {record!r}"
            )
        unknown = set(record) - {"n", "scale", "edges"}
        if unknown:
            raise InvalidParameterError(
                f"unknown keys {sorted(unknown)} in bins {dict(record)}; use n and scale "
                "(linear or log), or edges"
            )
        try:
            scale = BinScale(record.get("scale", "linear"))
        except ValueError as err:
            raise InvalidParameterError(
                f"bin scale must be linear or log, got {record.get('scale')!r}"
            ) from err
        n = record.get("n")
        edges = tuple(record.get("edges") or ())
        return cls(n=None if n is None else int(n), scale=scale, edges=edges)


@dataclass(frozen=True)
class ColumnSpec:
    """One column: name, kind, categories (categorical) or bounds and bins (the others).

    Bounds of a date column are days since 1970-01-01 (:meth:`from_dict` also reads ISO
    dates). ``bins=None`` leaves the binning to the generator (equal widths).

    Examples
    --------
    >>> ColumnSpec("age", ColumnKind.INTEGER, lower=0, upper=110).kind
    <ColumnKind.INTEGER: 'integer'>
    >>> ColumnSpec("sex", ColumnKind.CATEGORICAL)
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidParameterError: categorical column 'sex' needs at least one ...
    """

    name: str
    kind: ColumnKind
    categories: tuple[str, ...] = ()
    lower: float | None = None
    upper: float | None = None
    bins: BinSpec | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ColumnKind(self.kind))
        if self.kind is ColumnKind.CATEGORICAL:
            if not self.categories or len(set(self.categories)) != len(self.categories):
                raise InvalidParameterError(
                    f"categorical column {self.name!r} needs at least one category and no "
                    f"duplicates, got {self.categories!r}"
                )
            if self.bins is not None:
                raise InvalidParameterError(
                    f"categorical column {self.name!r} has one bin per category; drop its bins"
                )
            return
        if self.lower is None or self.upper is None:
            raise InvalidParameterError(
                f"{self.kind} column {self.name!r} needs lower and upper bounds, got "
                f"({self.lower}, {self.upper}); give them or infer the schema from data"
            )
        if not (math.isfinite(self.lower) and math.isfinite(self.upper)) or (
            self.lower > self.upper
        ):
            raise InvalidParameterError(
                f"column {self.name!r}: bounds must be finite with lower <= upper, got "
                f"({self.lower}, {self.upper})"
            )
        log = self.bins is not None and not self.bins.edges and self.bins.scale is BinScale.LOG
        if log and not self.lower > 0:
            raise InvalidParameterError(
                f"column {self.name!r}: log-scale bins need a lower bound > 0, got "
                f"{self.lower}; raise the bound or give explicit edges"
            )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``bins`` only when set)."""
        record: dict[str, Any] = {
            "name": self.name,
            "kind": str(self.kind),
            "categories": list(self.categories),
            "lower": self.lower,
            "upper": self.upper,
        }
        if self.bins is not None:
            record["bins"] = self.bins.to_dict()
        return record

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> ColumnSpec:
        """Read :meth:`to_dict` output (date bounds may also be ISO dates)."""
        kind = ColumnKind(record["kind"])
        bins = record.get("bins")
        return cls(
            name=str(record["name"]),
            kind=kind,
            categories=tuple(str(c) for c in record.get("categories") or ()),
            lower=_bound(record.get("lower"), kind),
            upper=_bound(record.get("upper"), kind),
            bins=None if bins is None else BinSpec.from_dict(bins),
        )


def _bound(value: Any, kind: ColumnKind) -> float | None:
    """A bound as a float; a date column's ISO date as days since 1970-01-01."""
    if value is None:
        return None
    if kind is ColumnKind.DATE and isinstance(value, str | dt.date):
        day = np.datetime64(str(value)[:10], "D")
        return float((day - _EPOCH) / np.timedelta64(1, "D"))
    return float(value)


def _infer_column(name: str, values: pd.Series, max_categories: int) -> ColumnSpec:
    if pd.api.types.is_datetime64_any_dtype(values):
        days = _days(values)
        return ColumnSpec(name, ColumnKind.DATE, lower=float(days.min()), upper=float(days.max()))
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        levels = values.astype("category").cat.categories
        if len(levels) > max_categories:
            raise InvalidInputError(
                f"column {name!r} has {len(levels)} distinct text values (more than "
                f"{max_categories}); free text and identifiers cannot be synthesised: drop the "
                "column or raise max_categories"
            )
        return ColumnSpec(name, ColumnKind.CATEGORICAL, tuple(str(v) for v in levels))
    numbers = values.to_numpy(dtype=np.float64)
    integral = bool(np.all(numbers == np.round(numbers)))
    kind = ColumnKind.INTEGER if integral else ColumnKind.CONTINUOUS
    return ColumnSpec(name, kind, lower=float(numbers.min()), upper=float(numbers.max()))


def _days(values: pd.Series) -> FloatArray:
    stamps = values.to_numpy(dtype="datetime64[ns]")
    days = (stamps - _EPOCH.astype("datetime64[ns]")) / np.timedelta64(1, "D")
    return np.asarray(days, dtype=np.float64)


@dataclass(frozen=True)
class TableSchema:
    """The columns of a table, in order.

    Examples
    --------
    >>> table = pd.DataFrame({"age": [61, 70, 55], "sex": ["F", "M", "F"]})
    >>> schema = TableSchema.infer(table)
    >>> [(c.name, str(c.kind)) for c in schema.columns]
    [('age', 'integer'), ('sex', 'categorical')]
    >>> schema.encode(table).tolist()
    [[61.0, 0.0], [70.0, 1.0], [55.0, 0.0]]
    >>> schema.decode(np.array([[60.4, 1.0]])).iloc[0].astype(str).tolist()
    ['60', 'M']
    """

    columns: tuple[ColumnSpec, ...]

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if not names or len(set(names)) != len(names):
            raise InvalidParameterError(
                f"a schema needs at least one column and unique names, got {names}"
            )

    @property
    def names(self) -> tuple[str, ...]:
        """Column names in order."""
        return tuple(c.name for c in self.columns)

    @classmethod
    def infer(cls, table: pd.DataFrame, *, max_categories: int = 50) -> TableSchema:
        """Kinds, categories and bounds from the data (text, bool or category: categorical).

        Bounds inferred from data are themselves a disclosure: a differentially private
        fit should be given a public schema instead.
        """
        _check_complete(table)
        return cls(
            tuple(_infer_column(str(name), table[name], max_categories) for name in table.columns)
        )

    def encode(self, table: pd.DataFrame) -> FloatArray:
        """The table as floats, shape (n_rows, n_columns); raises on unknown categories."""
        _check_complete(table)
        missing = [n for n in self.names if n not in table.columns]
        if missing:
            raise InvalidInputError(
                f"the table lacks columns {missing} of the schema; it has {list(table.columns)}"
            )
        out = np.empty((table.shape[0], len(self.columns)), dtype=np.float64)
        for j, spec in enumerate(self.columns):
            values = table[spec.name]
            if spec.kind is ColumnKind.CATEGORICAL:
                text = values.astype(str)
                codes = pd.Categorical(text, categories=list(spec.categories)).codes
                if (codes < 0).any():
                    unknown = sorted(set(text[codes < 0]))[:5]
                    raise InvalidInputError(
                        f"column {spec.name!r} has values {unknown} that are not among the "
                        f"schema's categories {list(spec.categories)[:20]}"
                    )
                out[:, j] = codes
            elif spec.kind is ColumnKind.DATE:
                out[:, j] = _days(pd.to_datetime(values))
            else:
                try:
                    out[:, j] = values.to_numpy(dtype=np.float64)
                except (TypeError, ValueError) as err:
                    raise InvalidInputError(
                        f"column {spec.name!r} is {spec.kind} in the schema but holds "
                        f"non-numbers ({err})"
                    ) from err
        return out

    def decode(self, matrix: FloatArray) -> pd.DataFrame:
        """Floats back to a table: codes to categories, integers rounded, all clipped."""
        if matrix.ndim != 2 or matrix.shape[1] != len(self.columns):
            raise InvalidInputError(
                f"expected a matrix of shape (n, {len(self.columns)}), got {matrix.shape}"
            )
        data: dict[str, Any] = {}
        for j, spec in enumerate(self.columns):
            column = matrix[:, j]
            if spec.kind is ColumnKind.CATEGORICAL:
                codes = np.clip(np.rint(column), 0, len(spec.categories) - 1).astype(int)
                data[spec.name] = pd.Categorical.from_codes(codes, list(spec.categories))
                continue
            clipped = np.clip(column, spec.lower, spec.upper)
            if spec.kind is ColumnKind.INTEGER:
                data[spec.name] = np.rint(clipped).astype(np.int64)
            elif spec.kind is ColumnKind.DATE:
                days = np.rint(clipped).astype(np.int64)
                data[spec.name] = pd.to_datetime(_EPOCH + days.astype("timedelta64[D]"))
            else:
                data[spec.name] = clipped
        return pd.DataFrame(data)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"columns": [c.to_dict() for c in self.columns]}

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> TableSchema:
        """Read :meth:`to_dict` output."""
        return cls(tuple(ColumnSpec.from_dict(c) for c in record["columns"]))


def schema_template(table: pd.DataFrame, *, n_bins: int = 10) -> TableSchema:
    """An editable schema filled in from ``table``, with bins for every numeric column.

    Kinds, categories and bounds are those of :meth:`TableSchema.infer`; a numeric column
    gets ``n_bins`` log-scale bins when its values are all positive and equal-width bins
    would put more than half of them into one bin (skewed lab values), else linear bins.
    Everything here comes from the data: it is a template to replace with public knowledge
    before a differentially private fit, not a public schema.

    Examples
    --------
    >>> table = pd.DataFrame({"kappa": [0.5, 0.8, 1.0, 1.1, 1.3, 25.0],
    ...                       "age": [50, 60, 70, 55, 65, 80]})
    >>> [str(c.bins.scale) for c in schema_template(table).columns]
    ['log', 'linear']
    """
    inferred = TableSchema.infer(table)
    columns = []
    for spec in inferred.columns:
        if spec.kind is ColumnKind.CATEGORICAL:
            columns.append(spec)
            continue
        scale = BinScale.LINEAR
        if spec.kind is not ColumnKind.DATE and (spec.lower or 0.0) > 0:
            values = table[spec.name].to_numpy(dtype=np.float64)
            cut = np.linspace(float(spec.lower or 0.0), float(spec.upper or 0.0), n_bins + 1)
            bins = np.clip(np.searchsorted(cut, values, side="right") - 1, 0, n_bins - 1)
            if np.bincount(bins, minlength=n_bins).max() > 0.5 * values.size:
                scale = BinScale.LOG
        columns.append(
            ColumnSpec(
                spec.name,
                spec.kind,
                lower=spec.lower,
                upper=spec.upper,
                bins=BinSpec(n=n_bins, scale=scale),
            )
        )
    return TableSchema(tuple(columns))


def _check_complete(table: pd.DataFrame) -> None:
    if not isinstance(table, pd.DataFrame) or table.shape[0] == 0:
        raise InvalidInputError(f"expected a non-empty pandas DataFrame, got {type(table)!r}")
    holes = table.isna().any()
    if holes.any():
        raise InvalidInputError(
            f"columns {list(holes[holes].index)} have missing values; impute them (or drop "
            "those rows) before fitting a generator"
        )


class FittedGenerator(Protocol):
    """A fitted generator: samples tables and saves itself."""

    @property
    def method(self) -> str:
        """The registry name of the method (``copula``, ``mst``)."""

    @property
    def schema(self) -> TableSchema:
        """The columns it samples."""

    def sample(self, n: int, rng: np.random.Generator) -> pd.DataFrame:
        """``n`` synthetic rows with the schema's columns."""

    def save(self, directory: Path) -> None:
        """Write ``generator.json`` and ``arrays.npz`` into ``directory``."""

    def privacy(self) -> dict[str, Any]:
        """The privacy statement: mechanism, epsilon, delta, or none."""


class TabularGenerator(Protocol):
    """A generator before fitting: its settings."""

    def fit(self, table: pd.DataFrame, *, rng: np.random.Generator) -> FittedGenerator:
        """Learn from ``table`` (one row per patient)."""


def check_sample_size(n: int) -> None:
    """Raise unless ``n`` is a positive integer."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise InvalidParameterError(f"the number of rows must be an integer >= 1, got {n!r}")


def write_saved(
    directory: Path,
    method: str,
    schema: TableSchema,
    settings: Mapping[str, Any],
    arrays: Mapping[str, NDArray[Any]],
) -> None:
    """Write a fitted generator: JSON for metadata, npz for arrays (no pickle)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    record = {
        "format": "healthtwin.synthetic/1",
        "method": method,
        "saved": dt.datetime.now(dt.UTC).isoformat(),
        "schema": schema.to_dict(),
        "settings": dict(settings),
    }
    (directory / MODEL_FILE).write_text(json.dumps(record, indent=2), encoding="utf-8")
    stored: dict[str, Any] = {k: np.asarray(v) for k, v in arrays.items()}
    np.savez(directory / ARRAYS_FILE, **stored)


def read_saved(
    directory: Path,
) -> tuple[str, TableSchema, dict[str, Any], dict[str, NDArray[Any]]]:
    """Read what :func:`write_saved` wrote: method, schema, settings, arrays."""
    directory = Path(directory)
    try:
        record = json.loads((directory / MODEL_FILE).read_text(encoding="utf-8"))
        with np.load(directory / ARRAYS_FILE, allow_pickle=False) as stored:
            arrays = {k: stored[k] for k in stored.files}
        return record["method"], TableSchema.from_dict(record["schema"]), record["settings"], arrays
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise InvalidInputError(
            f"{directory} does not hold a saved generator ({err}); write one with "
            "`healthtwin synth fit` or FittedGenerator.save"
        ) from err


def _loaders() -> dict[str, Callable[[Path], Any]]:
    # Imported here: the generator modules import this one.
    from healthtwin.synthetic.copula import FittedCopula
    from healthtwin.synthetic.private_pgm import FittedMarginalModel

    return {
        "copula": FittedCopula.load,
        "mst": FittedMarginalModel.load,
        "aim": FittedMarginalModel.load,
    }


def load_generator(directory: Path | str) -> FittedGenerator:
    """Load a fitted generator saved by ``save``, whatever its method.

    Raises
    ------
    InvalidInputError
        If the folder does not hold a saved generator.
    UnknownModelError
        If the saved method is not known to this version.
    """
    method = read_saved(Path(directory))[0]
    loaders = _loaders()
    if method not in loaders:
        raise UnknownModelError(
            f"saved generator method {method!r} is unknown; known: {sorted(loaders)}"
        )
    fitted: FittedGenerator = loaders[method](Path(directory))
    return fitted
