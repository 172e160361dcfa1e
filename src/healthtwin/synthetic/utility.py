"""Utility: train on synthetic, test on real (TSTR) against train on real (TRTR).

A gradient-boosted model predicts one column of the table (the prognosis task: an outcome
such as death or recurrence, or a continuous score) from the others. It is trained once on
the real training rows and once on the synthetic rows, and both are scored on real rows
that neither the generator nor the models saw (Esteban, Hyland & Ratsch, "Real-valued
(medical) time series generation with recurrent conditional GANs", arXiv:1706.02633,
2017). The score is the AUROC for a categorical target (one-vs-rest macro AUROC for more
than two levels) and for a numeric column with exactly two distinct values in the real
training rows (a 0/1 or True/False outcome such as ``died``: a classification task, the
larger value is the positive class, synthetic values are cut at the midpoint), and R
squared for any other numeric target.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from healthtwin.errors import InvalidInputError
from healthtwin.synthetic.fidelity import roc_auc
from healthtwin.synthetic.tabular import ColumnKind, FloatArray, TableSchema, require

__all__ = ["UtilityResult", "train_synthetic_test_real"]


@dataclass(frozen=True)
class UtilityResult:
    """Scores of the same model trained on real (TRTR) and on synthetic rows (TSTR).

    ``metric`` is ``"auroc"`` (classification) or ``"r2"`` (regression).
    """

    target: str
    metric: str
    trtr: float
    tstr: float

    @property
    def ratio(self) -> float:
        """TSTR over TRTR (1: synthetic data as useful as real)."""
        return self.tstr / self.trtr if self.trtr else float("nan")


def _score(
    task: str, labels: FloatArray, prediction: FloatArray, n_levels: int
) -> float:  # fmt: skip
    if task == "r2":
        residual = ((labels - prediction) ** 2).sum()
        return float(1 - residual / ((labels - labels.mean()) ** 2).sum())
    present = [k for k in range(n_levels) if 0 < (labels == k).sum() < labels.size]
    if not present:
        raise InvalidInputError("the real test rows hold a single class of the target")
    return float(np.mean([roc_auc(labels == k, prediction[:, k]) for k in present]))


def train_synthetic_test_real(
    real_train: pd.DataFrame,
    synthetic: pd.DataFrame,
    real_test: pd.DataFrame,
    target: str,
    schema: TableSchema | None = None,
    *,
    rng: np.random.Generator,
) -> UtilityResult:
    """Fit the same gradient-boosted model on real and on synthetic rows; score both on real.

    Raises
    ------
    InvalidInputError
        ``target`` is not a column, or the real test rows have a single class.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=400)
    >>> table = pd.DataFrame({"x": x, "died": (x + rng.normal(size=400) > 0).astype(int)})
    >>> result = train_synthetic_test_real(table[:200], table[:200], table[200:], "died",
    ...                                    rng=rng)
    >>> result.metric, result.tstr == result.trtr
    ('auroc', True)
    """
    schema = schema or TableSchema.infer(real_train)
    if target not in schema.names:
        raise InvalidInputError(f"target {target!r} is not a column; columns: {schema.names}")
    ensemble = require("sklearn.ensemble", "the train-synthetic-test-real utility")
    j = schema.names.index(target)
    spec = schema.columns[j]
    keep = [k for k in range(len(schema.columns)) if k != j]
    real_encoded = schema.encode(real_train)
    cut = _binary_cut(spec.kind, real_encoded[:, j])
    classify = spec.kind is ColumnKind.CATEGORICAL or cut is not None
    task = "auroc" if classify else "r2"
    n_levels = 2 if cut is not None else len(spec.categories)
    seed = int(rng.integers(2**31))
    test = _as_labels(schema.encode(real_test), j, cut)
    scores = []
    for train in (_as_labels(real_encoded, j, cut), _as_labels(schema.encode(synthetic), j, cut)):
        # Category codes as ordered numbers: trees split them into any grouping they need.
        if classify:
            model = ensemble.GradientBoostingClassifier(random_state=seed)
        else:
            model = ensemble.GradientBoostingRegressor(random_state=seed)
        if classify and np.unique(train[:, j]).size < 2:
            scores.append(0.5)
            continue
        model.fit(train[:, keep], train[:, j])
        if classify:
            proba = np.zeros((test.shape[0], n_levels))
            proba[:, model.classes_.astype(int)] = model.predict_proba(test[:, keep])
            scores.append(_score(task, test[:, j], proba, n_levels))
        else:
            scores.append(_score(task, test[:, j], model.predict(test[:, keep]), 0))
    return UtilityResult(target, task, scores[0], scores[1])


def _binary_cut(kind: ColumnKind, values: FloatArray) -> float | None:
    """The midpoint of a numeric column with exactly two distinct values, else None."""
    if kind in (ColumnKind.CATEGORICAL, ColumnKind.DATE):
        return None
    levels = np.unique(values[np.isfinite(values)])
    return float(levels.mean()) if levels.size == 2 else None


def _as_labels(encoded: FloatArray, j: int, cut: float | None) -> FloatArray:
    """``encoded`` with column ``j`` as 0/1 class labels when the target is binary."""
    if cut is None:
        return encoded
    out = encoded.copy()
    out[:, j] = encoded[:, j] > cut
    return out
