"""Why a model predicted what it did: per-prediction contributions and global importance.

A prediction is split into a baseline (the mean prediction over a background sample,
usually the training data) plus one contribution per feature, which add up to it. The
contributions are interventional SHAP values (Lundberg & Lee 2017, NeurIPS; Janzing,
Minorics & Blöbaum 2020, AISTATS): the Shapley values of the game in which absent
features are drawn from the background. With the ``explain`` extra (shap) installed they
come from ``TreeExplainer`` for tree ensembles (Lundberg et al. 2020, Nat Mach Intell
2:56) and from the model-agnostic ``KernelExplainer`` otherwise (exact when all ``2^d``
coalitions fit in its sample budget, about ``d <= 11``). For a linear model
``f(x) = b + w·x`` they have the closed form ``w_j (x_j - mean_j)``, which needs no shap.
Global permutation importance (Breiman 2001) is scikit-learn's: the drop in score when one
column is shuffled. Explanations describe the model, not causes in the patient.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidParameterError, MissingDependencyError, ShapeError
from healthtwin.prognosis._extras import require_ml, require_shap

__all__ = [
    "Explanation",
    "FeatureImportance",
    "explain",
    "linear_contributions",
    "permutation_importance",
    "top_features",
]

Method = Literal["auto", "tree", "linear", "kernel"]

_TREE_MODULES = (
    "sklearn.tree",
    "sklearn.ensemble._forest",
    "sklearn.ensemble._gb",
    "sklearn.ensemble._hist_gradient_boosting",
    "xgboost",
    "lightgbm",
)


@dataclass(frozen=True)
class Explanation:
    """Contributions of each feature to each prediction.

    Attributes
    ----------
    values
        Contributions, shape ``(n, d)``.
    baseline
        Mean prediction over the background; ``baseline + values.sum(1)`` is the prediction.
    data
        The explained rows, shape ``(n, d)``.
    feature_names
        The ``d`` feature names.
    method
        ``"tree"``, ``"linear"`` or ``"kernel"``.
    """

    values: FloatArray
    baseline: float
    data: FloatArray
    feature_names: tuple[str, ...]
    method: str

    @property
    def predictions(self) -> FloatArray:
        """``baseline + values.sum(axis=1)``, shape ``(n,)``."""
        return np.asarray(self.baseline + self.values.sum(axis=1))


@dataclass(frozen=True)
class FeatureImportance:
    """Mean and standard deviation over repeats of the score drop per shuffled feature."""

    feature_names: tuple[str, ...]
    mean: FloatArray
    std: FloatArray


def linear_contributions(model: Any, X: Any, background: Any) -> Explanation:
    """``coef_j (x_j - mean_j)`` for a fitted linear regressor, ``mean`` over ``background``.

    Equal to interventional SHAP values for a linear model, without shap.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0], [3.0, 1.0]])
    >>> model = LinearRegression().fit(X, X @ [2.0, -1.0] + 5.0)
    >>> e = linear_contributions(model, X[1:2], background=X)
    >>> np.round(e.values, 9).tolist(), round(e.baseline, 9)
    ([[-1.0, 1.0]], 7.0)
    """
    coef = np.asarray(getattr(model, "coef_", None), dtype=np.float64)
    data, names = _matrix(X)
    if coef.ndim == 0 or coef.size != data.shape[1]:
        raise InvalidParameterError(
            f"{type(model).__name__} is not a single-output linear model with one "
            f"coefficient per feature ({data.shape[1]}); use explain(method='kernel')"
        )
    mean = _matrix(background)[0].mean(axis=0)
    baseline = float(np.ravel(model.intercept_)[0] + coef.ravel() @ mean)
    return Explanation(coef.ravel() * (data - mean), baseline, data, names, "linear")


def explain(
    model: Any,
    X: Any,
    background: Any,
    *,
    method: Method = "auto",
    max_background: int | None = 100,
) -> Explanation:
    """Per-prediction contributions of a fitted regressor.

    Parameters
    ----------
    model
        A fitted regressor; its ``predict`` output is explained.
    X
        Rows to explain, ``(n, d)`` (a DataFrame keeps its column names).
    background
        Rows standing in for absent features, usually the training data.
    method
        ``"auto"`` picks ``"tree"`` for tree ensembles, ``"linear"`` for models with
        ``coef_`` and ``"kernel"`` otherwise.
    max_background
        Largest background used by shap; a larger one is thinned to evenly spaced rows.

    Raises
    ------
    MissingDependencyError
        If the method needs shap (``"tree"``, ``"kernel"``) and it is not installed.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.ensemble import GradientBoostingRegressor
    >>> X, y = load_diabetes(return_X_y=True, as_frame=True)
    >>> model = GradientBoostingRegressor(n_estimators=20, random_state=0).fit(X, y)
    >>> e = explain(model, X.head(2), background=X)
    >>> e.method, bool(np.allclose(e.predictions, model.predict(X.head(2))))
    ('tree', True)
    """
    chosen = _choose(model) if method == "auto" else method
    if chosen == "linear":
        return linear_contributions(model, X, background)
    if chosen not in ("tree", "kernel"):
        raise InvalidParameterError(
            f"method must be 'auto', 'tree', 'linear' or 'kernel', got {method!r}"
        )
    try:
        shap = require_shap(f"{chosen} explanations")
    except MissingDependencyError as err:
        raise MissingDependencyError(
            f"{err} (linear models are explained without it: method='linear'; "
            "permutation_importance gives global importance)"
        ) from err
    data, names = _matrix(X)
    sample = _thin(background, max_background)
    if chosen == "tree":
        explainer = shap.TreeExplainer(model, data=sample, feature_perturbation="interventional")
        values = np.asarray(explainer.shap_values(X), dtype=np.float64)
        baseline = float(np.ravel(explainer.expected_value)[0])
    else:
        explainer = shap.KernelExplainer(_predict_function(model), sample)
        # l1_reg=False keeps every feature; shap's default keeps only ten.
        values = np.asarray(explainer.shap_values(X, l1_reg=False, silent=True))
        baseline = float(np.ravel(explainer.expected_value)[0])
    return Explanation(values.reshape(data.shape), baseline, data, names, chosen)


def permutation_importance(
    model: Any,
    X: Any,
    y: Any,
    *,
    rng: np.random.Generator,
    n_repeats: int = 10,
    scoring: str | None = None,
) -> FeatureImportance:
    """Drop in score (the model's default, or ``scoring``) when each column is shuffled.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.linear_model import Ridge
    >>> X, y = load_diabetes(return_X_y=True, as_frame=True)
    >>> model = Ridge(alpha=0.1).fit(X, y)
    >>> importance = permutation_importance(model, X, y, rng=np.random.default_rng(0))
    >>> [name for name, _ in top_features(importance, 2)]
    ['bmi', 's5']
    """
    inspection = require_ml("sklearn.inspection", "permutation importance")
    result = inspection.permutation_importance(
        model,
        X,
        y,
        n_repeats=n_repeats,
        scoring=scoring,
        random_state=int(rng.integers(2**31 - 1)),
    )
    names = _matrix(X)[1]
    return FeatureImportance(
        names,
        np.asarray(result.importances_mean, dtype=np.float64),
        np.asarray(result.importances_std, dtype=np.float64),
    )


def top_features(
    explanation: Explanation | FeatureImportance, k: int, row: int | None = None
) -> tuple[tuple[str, float], ...]:
    """The ``k`` most important features with their values, most important first.

    For an :class:`Explanation`, ``row`` picks one prediction (signed contributions,
    ranked by size); without it features are ranked by mean absolute contribution. For
    :class:`FeatureImportance`, by mean importance.

    Examples
    --------
    >>> import numpy as np
    >>> e = Explanation(np.array([[1.0, -3.0, 0.5], [-1.0, 1.0, 0.1]]), 0.0,
    ...                 np.zeros((2, 3)), ("age", "bmi", "bp"), "linear")
    >>> top_features(e, 2, row=0)
    (('bmi', -3.0), ('age', 1.0))
    >>> top_features(e, 1)
    (('bmi', 2.0),)
    """
    if k < 1:
        raise InvalidParameterError(f"k must be at least 1, got {k}")
    names = explanation.feature_names
    if isinstance(explanation, FeatureImportance):
        score = value = explanation.mean
    elif row is None:
        score = value = np.abs(explanation.values).mean(axis=0)
    else:
        if not -len(explanation.values) <= row < len(explanation.values):
            raise InvalidParameterError(
                f"row {row} is outside the {len(explanation.values)} explained rows"
            )
        value = explanation.values[row]
        score = np.abs(value)
    order = np.argsort(-score, kind="stable")[:k]
    return tuple((names[i], float(value[i])) for i in order)


def _choose(model: Any) -> str:
    if type(model).__module__.startswith(_TREE_MODULES):
        return "tree"
    return "linear" if hasattr(model, "coef_") else "kernel"


def _predict_function(model: Any) -> Any:
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        return model.predict
    pd = require_ml("pandas", "explanations of models fitted on tables")

    def predict(rows: Any) -> Any:
        # shap may hand over bare arrays; a model fitted on a table wants its columns back.
        return model.predict(pd.DataFrame(np.asarray(rows), columns=names))

    return predict


def _matrix(X: Any) -> tuple[FloatArray, tuple[str, ...]]:
    columns = getattr(X, "columns", None)
    data = np.asarray(X, dtype=np.float64)
    if data.ndim != 2:
        raise ShapeError(f"rows must be a 2-D table (n, d), got shape {data.shape}")
    if columns is not None:
        return data, tuple(str(c) for c in columns)
    return data, tuple(f"x{j}" for j in range(data.shape[1]))


def _thin(background: Any, max_rows: int | None) -> Any:
    n = len(background)
    if max_rows is None or n <= max_rows:
        return background
    rows = np.linspace(0, n - 1, max_rows).round().astype(np.int64)
    return background.iloc[rows] if hasattr(background, "iloc") else np.asarray(background)[rows]
