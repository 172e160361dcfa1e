"""Model-agnostic local explanations by baseline ablation.

For one patient and one feature, the contribution is how much the prediction changes when
that feature alone is set to its typical training value (median, or the most frequent
category): ``f(x) - f(x with x_j := baseline_j)``. It needs ``d`` extra predictions per
patient, works for any model and any column type, and is exact for additive models (then
it equals the SHAP value with a one-point background). Correlated features share credit
less fairly than SHAP; use :mod:`~healthtwin.prognosis.explain` where shap is installed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError

__all__ = ["ablation_contributions", "typical_values"]


def typical_values(frame: Any) -> dict[str, object]:
    """Median of each numeric column, most frequent value of the others."""
    values: dict[str, object] = {}
    for name in frame.columns:
        column = frame[name]
        if column.dtype.kind in "biuf":
            values[name] = float(column.median())
        else:
            values[name] = column.mode(dropna=True).iloc[0]
    return values


def ablation_contributions(
    predict: Callable[[Any], FloatArray], frame: Any, baseline: dict[str, object]
) -> FloatArray:
    """Contributions ``(n, d)``: prediction minus the prediction with one feature typical.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"a": [1.0, 3.0], "b": [10.0, 10.0]})
    >>> additive = lambda f: 2 * f["a"].to_numpy() + f["b"].to_numpy()
    >>> ablation_contributions(additive, frame, {"a": 2.0, "b": 10.0}).tolist()
    [[-2.0, 0.0], [2.0, 0.0]]
    """
    missing = [c for c in frame.columns if c not in baseline]
    if missing:
        raise InvalidInputError(f"no typical value for column(s) {missing}")
    base = np.asarray(predict(frame), dtype=np.float64)
    out = np.empty((len(frame), len(frame.columns)))
    for j, name in enumerate(frame.columns):
        changed = frame.copy()
        value = baseline[name]
        if str(changed[name].dtype) == "category":
            changed[name] = changed[name].cat.set_categories(
                list(dict.fromkeys([*changed[name].cat.categories, value]))
            )
        changed[name] = value
        if str(frame[name].dtype) == "category":
            changed[name] = changed[name].astype(frame[name].dtype)
        out[:, j] = base - np.asarray(predict(changed), dtype=np.float64)
    return out
