"""The columns a learned model was fitted on, and the check that new data still fits them.

A model fitted on a table silently mispredicts when a column goes missing, a number
arrives as text or a category it never saw turns up. :class:`FeatureSchema` records each
column's kind (numeric or categorical, with the categories seen) at fit time and turns
each of those into an :class:`~healthtwin.errors.InvalidInputError` that names the
column, the offending value and row, and the fix. Tables are pandas DataFrames (the
``ml`` extra); categories are compared as text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.prognosis._extras import require_ml

__all__ = ["FeatureSchema", "FeatureSpec"]

_SHOWN = 5


@dataclass(frozen=True)
class FeatureSpec:
    """One column: its name, its kind and, for a categorical one, the categories seen."""

    name: str
    kind: Literal["numeric", "categorical"]
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class FeatureSchema:
    """The ordered columns of a model's input table.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"age": [50.0, 61.0], "sex": ["F", "M"]})
    >>> schema = FeatureSchema.infer(frame)
    >>> [(f.name, f.kind, f.categories) for f in schema.features]
    [('age', 'numeric', ()), ('sex', 'categorical', ('F', 'M'))]
    >>> schema.validate(pd.DataFrame({"age": ["fifty"], "sex": ["F"]}))
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidInputError: column 'age' must be numeric but holds text, e.g. 'fifty...
    """

    features: tuple[FeatureSpec, ...]

    @classmethod
    def infer(cls, frame: Any, categorical: Sequence[str] = ()) -> FeatureSchema:
        """Read the schema off a training table.

        Numeric (and boolean) columns are numeric unless named in ``categorical``;
        every other column is categorical, with the categories it holds.
        """
        pd = require_ml("pandas", "tables of features")
        frame = _as_frame(frame)
        absent = sorted(set(categorical) - set(map(str, frame.columns)))
        if absent:
            raise InvalidParameterError(
                f"categorical columns {absent} are not in the table; it has "
                f"{[str(c) for c in frame.columns]}"
            )
        specs = []
        for column in frame.columns:
            name = str(column)
            series = frame[column]
            if name in categorical or not pd.api.types.is_numeric_dtype(series):
                seen = sorted({str(v) for v in series.dropna().tolist()})
                specs.append(FeatureSpec(name, "categorical", tuple(seen)))
            else:
                specs.append(FeatureSpec(name, "numeric"))
        return cls(tuple(specs))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @property
    def numeric(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features if f.kind == "numeric")

    @property
    def categorical(self) -> tuple[FeatureSpec, ...]:
        return tuple(f for f in self.features if f.kind == "categorical")

    def validate(self, frame: Any) -> Any:
        """Return the schema's columns, in order, numeric as float64 and categories as text.

        Columns beyond the schema are ignored.

        Raises
        ------
        InvalidInputError
            If a column is missing, a numeric column holds text or missing values, or a
            categorical column holds a missing value or a category not seen in fitting.
        """
        frame = _as_frame(frame)
        present = {str(c): c for c in frame.columns}
        missing = [n for n in self.names if n not in present]
        if missing:
            raise InvalidInputError(
                f"the table lacks columns {missing}; the model needs {list(self.names)}"
            )
        pd = require_ml("pandas", "tables of features")
        columns = {}
        for spec in self.features:
            series = frame[present[spec.name]]
            if spec.kind == "numeric":
                columns[spec.name] = _numeric(pd, series, spec.name)
            else:
                columns[spec.name] = _categorical(series, spec)
        return pd.DataFrame(columns, index=frame.index)


def _as_frame(frame: Any) -> Any:
    pd = require_ml("pandas", "tables of features")
    if isinstance(frame, pd.DataFrame):
        return frame
    if isinstance(frame, dict):
        return pd.DataFrame(frame)
    raise InvalidInputError(
        f"features must be a pandas DataFrame (or a dict of columns), got "
        f"{type(frame).__name__}; named columns are how the model checks its inputs"
    )


def _rows(series: Any, mask: Any) -> str:
    rows = series.index[mask].tolist()
    shown = ", ".join(map(str, rows[:_SHOWN]))
    return shown + (f" and {len(rows) - _SHOWN} more" if len(rows) > _SHOWN else "")


def _numeric(pd: Any, series: Any, name: str) -> Any:
    if not pd.api.types.is_numeric_dtype(series):
        parsed = pd.to_numeric(series, errors="coerce")
        bad = parsed.isna() & series.notna()
        example_mask = bad if bad.any() else series.notna()
        example = series[example_mask].iloc[0] if example_mask.any() else None
        row = series.index[example_mask][0] if example_mask.any() else "-"
        raise InvalidInputError(
            f"column {name!r} must be numeric but holds text, e.g. {example!r} (row {row}); "
            "convert it with pandas.to_numeric or fix the value"
        )
    values = series.astype("float64")
    missing = values.isna().to_numpy()
    if missing.any():
        raise InvalidInputError(
            f"column {name!r} has {int(missing.sum())} missing values (rows "
            f"{_rows(series, missing)}); impute or drop them before predicting"
        )
    return values


def _categorical(series: Any, spec: FeatureSpec) -> Any:
    missing = series.isna().to_numpy()
    if missing.any():
        raise InvalidInputError(
            f"column {spec.name!r} has {int(missing.sum())} missing values (rows "
            f"{_rows(series, missing)}); fill them with one of {list(spec.categories)}"
        )
    text = series.astype(str)
    unseen = ~text.isin(spec.categories).to_numpy()
    if unseen.any():
        values = sorted(set(text[unseen].tolist()))
        raise InvalidInputError(
            f"column {spec.name!r} has categories {values} (rows {_rows(series, unseen)}) "
            f"not seen in fitting; known categories are {list(spec.categories)}"
        )
    return text
