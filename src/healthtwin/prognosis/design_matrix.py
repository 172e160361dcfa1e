"""From a table of patient features to the float matrix a survival model is fitted on.

:class:`DesignMatrix` is fitted on the training table only and then applied unchanged to
new patients, so nothing about the test data leaks into the encoding:

- numbers written as text (``"61"``) are read as numbers;
- optional imputation: a numeric column's missing values become its training median, a
  categorical column's its most frequent training category;
- categorical columns become 0/1 indicator columns, one per category except the first
  (sorted as text), which is the reference level; the name is ``"column=category"``;
- optional standardization: each encoded column minus its training mean, divided by its
  training standard deviation (1 where that is 0).

New tables are checked by :class:`~healthtwin.prognosis.feature_schema.FeatureSchema`: a
missing column, text in a numeric column and a category never seen in training are
:class:`~healthtwin.errors.InvalidInputError` naming the column and the value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError
from healthtwin.prognosis._extras import require_ml
from healthtwin.prognosis.feature_schema import FeatureSchema

__all__ = ["DesignMatrix"]


@dataclass(frozen=True)
class DesignMatrix:
    """A fitted encoding of a feature table.

    Attributes
    ----------
    schema : FeatureSchema
        The training table's columns, their kinds and categories.
    fill_values : Mapping[str, float | str]
        Training median (numeric) or most frequent category per column; empty when the
        encoding does not impute.
    columns : tuple of str
        Names of the ``d`` encoded columns.
    center, scale : ndarray
        ``(d,)`` training mean and standard deviation (zeros and ones when not
        standardizing).

    Examples
    --------
    >>> import pandas as pd
    >>> train = pd.DataFrame({"age": [50.0, 70.0, None], "sex": ["F", "M", "M"]})
    >>> design = DesignMatrix.fit(train, impute=True)
    >>> design.columns
    ('age', 'sex=M')
    >>> design.transform(pd.DataFrame({"age": [None], "sex": ["F"]})).tolist()
    [[60.0, 0.0]]
    >>> design.transform(pd.DataFrame({"age": [61.0], "sex": ["X"]}))
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidInputError: column 'sex' has categories ['X'] ...
    """

    schema: FeatureSchema
    fill_values: Mapping[str, float | str]
    columns: tuple[str, ...]
    center: FloatArray
    scale: FloatArray

    @classmethod
    def fit(
        cls,
        features: Any,
        *,
        categorical: Sequence[str] = (),
        standardize: bool = False,
        impute: bool = False,
    ) -> DesignMatrix:
        """Learn the encoding from a training table.

        Parameters
        ----------
        features : pandas.DataFrame
            ``(n, k)`` training table.
        categorical : sequence of str
            Numeric columns to treat as categorical (text and ``category`` columns always
            are).
        standardize : bool
            Centre and scale the encoded columns.
        impute : bool
            Replace missing values by the training median or most frequent category;
            without it a missing value is an error.

        Raises
        ------
        InvalidInputError
            If the table is not a DataFrame, is empty, holds text in a numeric column or
            (without ``impute``) missing values, or a column has no observed value.
        """
        features = _as_table(features)
        schema = FeatureSchema.infer(features, categorical)
        if features.shape[0] == 0 or not schema.features:
            raise InvalidInputError(
                f"the training table has shape {tuple(features.shape)}; it needs at least "
                "one row and one column"
            )
        if not impute:
            _reject_missing(features)
        fill = _fill_values(features, schema) if impute else {}
        columns: list[str] = []
        for spec in schema.features:
            if spec.kind == "numeric":
                columns.append(spec.name)
            else:
                columns.extend(f"{spec.name}={level}" for level in spec.categories[1:])
        identity = cls(schema, fill, tuple(columns), np.zeros(len(columns)), np.ones(len(columns)))
        matrix = identity.transform(features)
        if not standardize:
            return identity
        spread = matrix.std(axis=0)
        scale = np.where(spread > 0.0, spread, 1.0)
        return cls(schema, fill, tuple(columns), matrix.mean(axis=0), scale)

    def transform(self, features: Any) -> FloatArray:
        """Encode a table with the fitted encoding.

        Parameters
        ----------
        features : pandas.DataFrame
            ``(n, k)`` table with (at least) the training columns; others are ignored.

        Returns
        -------
        ndarray
            ``(n, d)`` encoded, float64.

        Raises
        ------
        InvalidInputError
            If a training column is missing, a numeric column holds text or a missing
            value (without imputation), or a categorical column holds a category not seen
            in training.
        """
        features = _as_table(features)
        table = self.schema.validate(_prepared(features, self.schema, self.fill_values))
        blocks: list[FloatArray] = []
        for spec in self.schema.features:
            values = table[spec.name].to_numpy()
            if spec.kind == "numeric":
                blocks.append(values.astype(np.float64)[:, None])
            else:
                levels = np.asarray(spec.categories[1:], dtype=object)
                blocks.append((values[:, None] == levels[None, :]).astype(np.float64))
        matrix = np.hstack(blocks) if blocks else np.empty((table.shape[0], 0))
        return (matrix - self.center) / self.scale


def _as_table(features: Any) -> Any:
    """A dict of columns as a DataFrame; anything else is left for the schema to judge."""
    if isinstance(features, dict):
        return require_ml("pandas", "encoding features").DataFrame(features)
    return features


def _reject_missing(features: Any) -> None:
    counts = features.isna().sum()
    missing = {str(name): int(n) for name, n in counts.items() if n}
    if missing:
        raise InvalidInputError(
            f"missing values in the training table (column: count) {missing}; pass "
            "impute=True to fill them with the training median or most frequent "
            "category, or drop those rows"
        )


def _fill_values(features: Any, schema: FeatureSchema) -> dict[str, float | str]:
    pd = require_ml("pandas", "imputing missing features")
    fill: dict[str, float | str] = {}
    for spec in schema.features:
        column = features[spec.name]
        value: float | str
        if spec.kind == "numeric":
            value = float(pd.to_numeric(column, errors="coerce").median())
        else:
            counts = column.dropna().astype(str).value_counts()
            value = str(counts.index[0]) if len(counts) else float("nan")
        if isinstance(value, float) and np.isnan(value):
            raise InvalidInputError(
                f"column {spec.name!r} has no observed value to impute from; drop the "
                "column or supply data for it"
            )
        fill[spec.name] = value
    return fill


def _prepared(features: Any, schema: FeatureSchema, fill_values: Mapping[str, float | str]) -> Any:
    """Numeric text parsed as numbers and, when imputing, missing values filled.

    A numeric column holding non-numeric text is left as it is, for the schema to report.
    """
    if not hasattr(features, "columns"):
        return features
    pd = require_ml("pandas", "encoding features")
    frame = features.copy()
    for spec in schema.features:
        if spec.name not in frame.columns:
            continue
        column = frame[spec.name]
        fill = fill_values.get(spec.name)
        if spec.kind == "numeric":
            parsed = pd.to_numeric(column, errors="coerce")
            if not (parsed.isna() & column.notna()).any():
                frame[spec.name] = parsed if fill is None else parsed.fillna(fill)
        elif fill is not None and column.isna().any():
            values = column.to_numpy(dtype=object, copy=True)
            values[column.isna().to_numpy()] = fill
            frame[spec.name] = pd.Series(values, index=frame.index, dtype=object)
    return frame
