"""Fidelity of a synthetic table to the real one: marginals, pairs, and a discriminator.

- Per column: the two-sample Kolmogorov-Smirnov statistic (numeric and date columns) or
  the total variation distance of the category frequencies (categorical columns); both
  are 0 for identical distributions and at most 1.
- Pairs: the mean absolute difference of the Pearson correlations of the numeric columns,
  and the mean total variation distance of every pair's 2-way contingency table (numeric
  columns cut at the real data's quintiles).
- Discriminator: the cross-validated AUROC of a gradient-boosted classifier told to
  separate real from synthetic rows (0.5: indistinguishable; 1: trivially separable).
  Give it real rows the generator never saw: against the generator's own training rows
  it is biased below 0.5 (each held-out real row's echo in the synthetic rows sits in
  the training folds, labelled synthetic), which is what the benchmark's 0.37-0.38 were.
  On two samples of one distribution it is at chance (checked by replication in
  ``tests/synthetic/test_evaluation.py``); see :mod:`healthtwin.synthetic.evaluation`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from healthtwin.errors import InvalidInputError
from healthtwin.synthetic.tabular import ColumnKind, FloatArray, TableSchema, require

__all__ = [
    "ColumnDistance",
    "column_distances",
    "contingency_difference",
    "correlation_difference",
    "discriminator_auc",
    "roc_auc",
]


@dataclass(frozen=True)
class ColumnDistance:
    """The distance of one column's marginal: ``metric`` is ``"ks"`` or ``"tvd"``."""

    column: str
    metric: str
    value: float


def _encoded(
    real: pd.DataFrame, synthetic: pd.DataFrame, schema: TableSchema | None
) -> tuple[TableSchema, FloatArray, FloatArray]:
    schema = schema or TableSchema.infer(real)
    return schema, schema.encode(real), schema.encode(synthetic)


def _tvd(a: FloatArray, b: FloatArray, size: int) -> float:
    pa = np.bincount(a.astype(int), minlength=size) / a.size
    pb = np.bincount(b.astype(int), minlength=size) / b.size
    return float(0.5 * np.abs(pa - pb).sum())


def column_distances(
    real: pd.DataFrame, synthetic: pd.DataFrame, schema: TableSchema | None = None
) -> tuple[ColumnDistance, ...]:
    """KS statistic or total variation distance per column.

    Examples
    --------
    >>> real = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "s": ["a", "a", "b", "b"]})
    >>> fake = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "s": ["a", "a", "a", "b"]})
    >>> [(d.column, d.metric, d.value) for d in column_distances(real, fake)]
    [('x', 'ks', 0.0), ('s', 'tvd', 0.25)]
    """
    schema, x_real, x_synth = _encoded(real, synthetic, schema)
    out = []
    for j, spec in enumerate(schema.columns):
        if spec.kind is ColumnKind.CATEGORICAL:
            value = _tvd(x_real[:, j], x_synth[:, j], len(spec.categories))
            out.append(ColumnDistance(spec.name, "tvd", value))
        else:
            # Only the statistic is used: the asymptotic method skips the exact p-value,
            # which is slow and warns on small tables with ties.
            ks = stats.ks_2samp(x_real[:, j], x_synth[:, j], method="asymp")
            value = float(ks.statistic)
            out.append(ColumnDistance(spec.name, "ks", value))
    return tuple(out)


def _correlation(matrix: FloatArray) -> FloatArray:
    spread = matrix.std(axis=0) > 0
    out = np.zeros((matrix.shape[1], matrix.shape[1]))
    if spread.sum() >= 2:
        out[np.ix_(spread, spread)] = np.corrcoef(matrix[:, spread], rowvar=False)
    return out


def correlation_difference(
    real: pd.DataFrame, synthetic: pd.DataFrame, schema: TableSchema | None = None
) -> tuple[float, FloatArray, tuple[str, ...]]:
    """Mean absolute difference of the numeric columns' correlations (off the diagonal).

    Returns
    -------
    mean : float
        NaN when fewer than two numeric columns.
    difference : ndarray, shape (k, k)
        Synthetic minus real correlation.
    names : tuple of str
        The ``k`` numeric columns.
    """
    schema, x_real, x_synth = _encoded(real, synthetic, schema)
    numeric = [j for j, c in enumerate(schema.columns) if c.kind is not ColumnKind.CATEGORICAL]
    names = tuple(schema.columns[j].name for j in numeric)
    if len(numeric) < 2:
        return float("nan"), np.zeros((len(numeric), len(numeric))), names
    difference = _correlation(x_synth[:, numeric]) - _correlation(x_real[:, numeric])
    off = ~np.eye(len(numeric), dtype=bool)
    return float(np.abs(difference[off]).mean()), difference, names


def _binned(schema: TableSchema, x_real: FloatArray, x_synth: FloatArray, n_bins: int) -> tuple[
    FloatArray, FloatArray, list[int]
]:  # fmt: skip
    real_codes, synth_codes, sizes = np.empty_like(x_real), np.empty_like(x_synth), []
    for j, spec in enumerate(schema.columns):
        if spec.kind is ColumnKind.CATEGORICAL:
            real_codes[:, j], synth_codes[:, j] = x_real[:, j], x_synth[:, j]
            sizes.append(len(spec.categories))
            continue
        cuts = np.unique(np.quantile(x_real[:, j], np.linspace(0, 1, n_bins + 1)[1:-1]))
        real_codes[:, j] = np.searchsorted(cuts, x_real[:, j], side="right")
        synth_codes[:, j] = np.searchsorted(cuts, x_synth[:, j], side="right")
        sizes.append(cuts.size + 1)
    return real_codes, synth_codes, sizes


def contingency_difference(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    schema: TableSchema | None = None,
    *,
    n_bins: int = 5,
) -> float:
    """Mean total variation distance of all 2-way contingency tables.

    Examples
    --------
    >>> real = pd.DataFrame({"a": ["x", "y"] * 50, "b": ["u", "v"] * 50})
    >>> same = contingency_difference(real, real)
    >>> swapped = contingency_difference(real, real.assign(b=["v", "u"] * 50))
    >>> same, swapped
    (0.0, 1.0)
    """
    schema, x_real, x_synth = _encoded(real, synthetic, schema)
    if len(schema.columns) < 2:
        return float("nan")
    real_codes, synth_codes, sizes = _binned(schema, x_real, x_synth, n_bins)
    distances = []
    for a, b in itertools.combinations(range(len(sizes)), 2):
        size = sizes[a] * sizes[b]
        distances.append(
            _tvd(real_codes[:, a] * sizes[b] + real_codes[:, b],
                 synth_codes[:, a] * sizes[b] + synth_codes[:, b], size)
        )  # fmt: skip
    return float(np.mean(distances))


def roc_auc(labels: FloatArray, scores: FloatArray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half).

    Examples
    --------
    >>> roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    0.75
    """
    positive = np.asarray(labels).astype(bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        raise InvalidInputError("an AUROC needs both classes among the labels")
    ranks = stats.rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def discriminator_auc(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    schema: TableSchema | None = None,
    *,
    rng: np.random.Generator,
    n_splits: int = 5,
    n_estimators: int = 100,
) -> float:
    """Cross-validated AUROC of a gradient-boosted real-vs-synthetic classifier.

    The larger table is subsampled to the size of the smaller, so 0.5 is chance; folds
    are stratified and shuffled, and the out-of-fold probabilities are pooled.

    Parameters
    ----------
    real
        Real rows, preferably ones the generator never saw (see the module notes:
        against its training rows the AUROC is biased below 0.5 by their echoes).
    synthetic
        Generated rows.
    schema
        Column metadata (inferred from ``real`` when None).
    rng
        For the subsample, the folds and the classifier's seed.
    n_splits
        Cross-validation folds.
    n_estimators
        Boosting stages of the classifier.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> real = pd.DataFrame({"x": rng.normal(size=200)})
    >>> shifted = pd.DataFrame({"x": rng.normal(2.0, 1.0, size=200)})
    >>> discriminator_auc(real, shifted, rng=rng, n_estimators=20) > 0.8
    True
    """
    sklearn = require("sklearn.ensemble", "the discriminator AUC")
    selection = require("sklearn.model_selection", "the discriminator AUC")
    schema, x_real, x_synth = _encoded(real, synthetic, schema)
    n = min(x_real.shape[0], x_synth.shape[0])
    x_real = x_real[rng.permutation(x_real.shape[0])[:n]]
    x_synth = x_synth[rng.permutation(x_synth.shape[0])[:n]]
    features = np.vstack([x_real, x_synth])
    labels = np.concatenate([np.ones(n), np.zeros(n)])
    # Single-threaded boosting: OpenMP histogram boosting stalls on a shared, busy machine.
    classifier = sklearn.GradientBoostingClassifier(
        n_estimators=n_estimators, random_state=int(rng.integers(2**31))
    )
    folds = selection.StratifiedKFold(
        n_splits=n_splits, shuffle=True, random_state=int(rng.integers(2**31))
    )
    scores = selection.cross_val_predict(
        classifier, features, labels, cv=folds, method="predict_proba"
    )[:, 1]
    return roc_auc(labels, scores)
