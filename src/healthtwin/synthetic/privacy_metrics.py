"""Empirical privacy checks: distance to closest record and a membership-inference attack.

Distances are Gower-like: per column, ``|a - b| / range`` of the real training column
(numeric and date) or ``0/1`` mismatch (categorical), averaged over columns.

- DCR (distance to closest record): for each synthetic row, the distance to the closest
  real *training* row, compared with the same distance from real *holdout* rows (drawn
  from the same population, never seen by the generator). ``ratio`` = median synthetic
  DCR / median holdout DCR: about 1 or more is expected, far below 1 means the generator
  copies records. ``share_closer_to_train`` is the share of synthetic rows nearer to the
  training than to an equally large holdout set (0.5 expected; Platzer & Reutterer,
  "Holdout-based empirical assessment of mixed-type synthetic data", Front Big Data 4,
  2021).
- Membership inference: an attacker holding a candidate row guesses "member" when the
  row is close to some synthetic row (the distance-based attack of Chen et al., "GAN-Leaks",
  CCS 2020). Members are training rows, non-members holdout rows; the advantage is
  ``max(TPR - FPR)`` over thresholds (Yeom et al., CSF 2018), 0 for a useless attack.

These scores describe one attack on one release; only a formal mechanism (differential
privacy) gives a guarantee.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from healthtwin.errors import InvalidInputError
from healthtwin.synthetic.fidelity import roc_auc
from healthtwin.synthetic.tabular import ColumnKind, FloatArray, TableSchema

__all__ = [
    "DistanceToClosestRecord",
    "MembershipInference",
    "closest_distances",
    "distance_to_closest_record",
    "membership_inference",
]

_CHUNK_CELLS = 4_000_000
NDArrayBool = NDArray[np.bool_]


def _scaled(schema: TableSchema, reference: FloatArray, *tables: FloatArray) -> list[FloatArray]:
    span = np.ptp(reference, axis=0)
    categorical = np.array([c.kind is ColumnKind.CATEGORICAL for c in schema.columns])
    scale = np.where(categorical | (span == 0), 1.0, span)
    return [t / scale for t in (reference, *tables)]


def closest_distances(
    queries: FloatArray, references: FloatArray, categorical: NDArrayBool
) -> FloatArray:
    """Distance from each query row to its closest reference row, shape (n_queries,).

    Examples
    --------
    >>> q = np.array([[0.0, 1.0], [0.5, 0.0]])
    >>> r = np.array([[0.0, 0.0], [1.0, 1.0]])
    >>> closest_distances(q, r, np.array([False, True])).tolist()
    [0.5, 0.25]
    """
    out = np.empty(queries.shape[0])
    rows = max(1, _CHUNK_CELLS // max(references.shape[0] * queries.shape[1], 1))
    for start in range(0, queries.shape[0], rows):
        block = queries[start : start + rows, None, :] - references[None, :, :]
        gaps = np.where(categorical, block != 0, np.abs(block))
        out[start : start + rows] = gaps.mean(axis=2).min(axis=1)
    return out


@dataclass(frozen=True)
class DistanceToClosestRecord:
    """Median DCRs, their ratio, and the share of synthetic rows closer to training."""

    median_synthetic: float
    median_holdout: float
    ratio: float
    share_closer_to_train: float
    exact_copies: float


def _matrices(
    schema: TableSchema | None, train: pd.DataFrame, *others: pd.DataFrame
) -> tuple[list[FloatArray], NDArrayBool]:
    schema = schema or TableSchema.infer(train)
    encoded = [schema.encode(t) for t in (train, *others)]
    categorical = np.array([c.kind is ColumnKind.CATEGORICAL for c in schema.columns])
    return _scaled(schema, encoded[0], *encoded[1:]), categorical


def distance_to_closest_record(
    synthetic: pd.DataFrame,
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    schema: TableSchema | None = None,
) -> DistanceToClosestRecord:
    """DCR of synthetic rows against the holdout's, and the closer-to-train share.

    Examples
    --------
    >>> train = pd.DataFrame({"x": np.arange(0.0, 100.0, 2.0)})
    >>> holdout = pd.DataFrame({"x": np.arange(1.0, 100.0, 2.0)})
    >>> copies = distance_to_closest_record(train, train, holdout)
    >>> copies.ratio, copies.share_closer_to_train, copies.exact_copies
    (0.0, 1.0, 1.0)
    """
    if holdout.shape[0] < 2:
        raise InvalidInputError(f"the holdout needs >= 2 rows, got {holdout.shape[0]}")
    (x_train, x_synth, x_hold), categorical = _matrices(schema, train, synthetic, holdout)
    to_train = closest_distances(x_synth, x_train, categorical)
    holdout_to_train = closest_distances(x_hold, x_train, categorical)
    # Equal-sized reference sets, or the larger one wins by having more points.
    n = min(x_train.shape[0], x_hold.shape[0])
    to_train_n = closest_distances(x_synth, x_train[:n], categorical)
    to_hold_n = closest_distances(x_synth, x_hold[:n], categorical)
    share = float(np.mean((to_train_n < to_hold_n) + 0.5 * (to_train_n == to_hold_n)))
    median_holdout = float(np.median(holdout_to_train))
    median_synthetic = float(np.median(to_train))
    ratio = median_synthetic / median_holdout if median_holdout > 0 else float("inf")
    return DistanceToClosestRecord(
        median_synthetic, median_holdout, ratio, share, float(np.mean(to_train == 0))
    )


@dataclass(frozen=True)
class MembershipInference:
    """The distance-based attack's AUROC and advantage (max TPR - FPR).

    ``null_advantage_95`` is what chance alone reaches: the 95th percentile of the
    advantage when members and non-members are alike (the one-sided two-sample
    Kolmogorov-Smirnov bound ``sqrt(ln(20) / 2 * (n + m) / (n m))``). An advantage below
    it is no evidence of leakage.
    """

    auc: float
    advantage: float
    n_members: int
    n_non_members: int
    null_advantage_95: float = float("nan")


def membership_inference(
    synthetic: pd.DataFrame,
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    schema: TableSchema | None = None,
    *,
    rng: np.random.Generator,
) -> MembershipInference:
    """Attack: a candidate is a member when it lies close to a synthetic row.

    As many training rows (members) as holdout rows (non-members) are drawn.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> train = pd.DataFrame({"x": rng.normal(size=200)})
    >>> holdout = pd.DataFrame({"x": rng.normal(size=200)})
    >>> membership_inference(train, train, holdout, rng=rng).advantage
    1.0
    """
    (x_train, x_synth, x_hold), categorical = _matrices(schema, train, synthetic, holdout)
    n = min(x_train.shape[0], x_hold.shape[0])
    members = x_train[rng.permutation(x_train.shape[0])[:n]]
    non_members = x_hold[rng.permutation(x_hold.shape[0])[:n]]
    scores = -np.concatenate(
        [closest_distances(members, x_synth, categorical),
         closest_distances(non_members, x_synth, categorical)]
    )  # fmt: skip
    labels = np.concatenate([np.ones(n), np.zeros(n)])
    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]
    tpr = np.cumsum(labels[order]) / n
    fpr = np.cumsum(1 - labels[order]) / n
    # Only thresholds between distinct scores are realisable.
    last_of_tie = np.append(sorted_scores[1:] != sorted_scores[:-1], True)
    advantage = float(max(0.0, np.max((tpr - fpr)[last_of_tie])))
    null = float(np.sqrt(np.log(20.0) / 2.0 * 2.0 / n)) if n else float("nan")
    return MembershipInference(roc_auc(labels, scores), advantage, n, n, null)
