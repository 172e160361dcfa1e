"""Federated gradient-boosted trees: sites send gradient histograms, the server grows the trees.

Trees do not average like parameter vectors, so FedAvg does not apply. This is horizontal
federated *histogram-based* gradient boosting (the sites hold different patients with the
same features), as in XGBoost's ``hist`` method (Chen & Guestrin, KDD 2016) made federated
by SecureBoost's horizontal variant and FedTree (Li, Wen, He et al., MLSys 2023):

1. **Bins** are public and data-independent: ``B`` bins per feature between bounds from
   the schema (:meth:`FeatureBins.uniform`) or at quantiles of a federated sketch, each
   site counting its rows on a fine public grid (:func:`fine_counts`), optionally with
   Gaussian noise (:meth:`FeatureBins.from_counts`).
2. For each tree and each depth level, every site computes the logistic-loss gradient
   ``g_i = p_i - y_i`` and hessian ``h_i = p_i (1 - p_i)`` of its rows at the current raw
   score ``F_i`` (``p_i = sigmoid(F_i)``) and sends, for each open node, feature and bin,
   the sums ``(G, H)`` over its rows (:func:`node_histograms`).
3. The server adds the sites' histograms and splits each open node where the gain
   ``1/2 [G_L^2 / (H_L + lambda) + G_R^2 / (H_R + lambda) - G^2 / (H + lambda)]`` is
   largest and positive, with ``H_L, H_R >= min_child_weight``; the children's totals are
   read off the same histogram, so the last level needs no query. A leaf's value is
   ``-learning_rate G / (H + lambda)``. The tree goes back to the sites, which update ``F``.

**Exactness.** Gradients travel as fixed-point integers (``round(g 2^30)``; 30 bits after
the binary point), so histogram sums are integer sums: the same whatever the order, the
split of the patients into sites or secure aggregation's modular masking. Without DP the
federated model therefore equals :func:`fit_central` on the pooled patients *bit for bit*
(same bins, splits and leaf values), on IID sites and on sites that differ in case mix
alike: there is no non-IID gap to report, unlike FedAvg's.

**Differential privacy** (optional, ``dp_epsilon``): the neighbouring relation is one
patient (one row) added or removed. In one level a patient falls in one node and, per
feature, in one bin; with ``g`` clipped to ``[-1, 1]`` and ``h`` to ``[0, 1/4]`` (no-ops
for the logistic loss) the vector ``(G, 4H)`` of one level's histograms moves by at most
``sqrt(2 d)`` in L2. The server adds ``N(0, (sigma sqrt(2 d))^2)`` to each ``G`` and a
quarter of that standard deviation to each ``H`` (a Gaussian mechanism per level);
``n_trees x max_depth`` levels compose exactly as Gaussian DP (Dong, Roth & Su 2022) and
the epsilon is :func:`~healthtwin.federation.privacy.gaussian_epsilon`'s. Bins from a
noisy sketch add one more mechanism (counts move by ``sqrt(d)``). The released trees are
private; without secure aggregation the server itself sees each site's exact histograms.

The starting score is ``0`` (probability 1/2) for every patient: a data-dependent base
score would cost one more query.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from healthtwin.core.types import FloatArray, IntArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError
from healthtwin.federation.models import auc
from healthtwin.federation.privacy import DifferentialPrivacy, gaussian_epsilon
from healthtwin.federation.sites import SiteData

__all__ = [
    "SCALE_BITS",
    "BoostingConfig",
    "BoostingResult",
    "FeatureBins",
    "GradientBoostedTrees",
    "HistogramReply",
    "HistogramRequest",
    "HistogramSite",
    "LevelRecord",
    "Transport",
    "Tree",
    "boost",
    "encode_gradients",
    "fine_counts",
    "fit_central",
    "node_histograms",
    "secure_sum",
    "sketch_bins",
    "train_federated",
]

SCALE_BITS = 30
_SCALE = float(2**SCALE_BITS)
# Histogram sums are exact while they stay below 2^53 in float64 accumulation.
_MAX_ROWS = 2 ** (53 - SCALE_BITS - 1)


@dataclass(frozen=True)
class FeatureBins:
    """Public bin thresholds per feature; ``x <= thresholds[j][b]`` puts ``x`` in bin ``<= b``.

    Attributes
    ----------
    thresholds : tuple of ndarray
        One increasing float array per feature; feature ``j`` has
        ``len(thresholds[j]) + 1`` bins.

    Examples
    --------
    >>> bins = FeatureBins.uniform([0.0], [1.0], 4)
    >>> bins.thresholds[0].tolist(), bins.bin(np.array([[0.1], [0.5], [0.9]])).ravel().tolist()
    ([0.25, 0.5, 0.75], [0, 1, 3])
    """

    thresholds: tuple[FloatArray, ...]

    def __post_init__(self) -> None:
        if not self.thresholds:
            raise InvalidParameterError("no features: give thresholds for at least one")
        for j, t in enumerate(self.thresholds):
            if t.ndim != 1 or not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0.0):
                raise InvalidParameterError(
                    f"thresholds of feature {j} = {t.tolist()}; give finite, strictly "
                    "increasing values"
                )

    @classmethod
    def uniform(
        cls, lower: Sequence[float] | FloatArray, upper: Sequence[float] | FloatArray, n_bins: int
    ) -> FeatureBins:
        """``n_bins`` equal bins per feature between public ``lower`` and ``upper`` bounds."""
        low, high = np.asarray(lower, np.float64), np.asarray(upper, np.float64)
        if low.shape != high.shape or low.ndim != 1 or not np.all(high > low) or n_bins < 2:
            raise InvalidParameterError(
                f"lower = {low.tolist()}, upper = {high.tolist()}, n_bins = {n_bins}; give "
                "one bound pair per feature with upper > lower and at least 2 bins"
            )
        inner = np.arange(1, n_bins) / n_bins
        return cls(tuple(lo + (hi - lo) * inner for lo, hi in zip(low, high, strict=True)))

    @classmethod
    def from_counts(cls, counts: FloatArray, fine: FeatureBins, n_bins: int) -> FeatureBins:
        """Thresholds at the ``k / n_bins`` quantiles of summed (possibly noisy) fine counts.

        Parameters
        ----------
        counts : ndarray, shape (d, m)
            Rows per fine bin of every feature, summed over sites (:func:`fine_counts`).
        fine : FeatureBins
            The fine grid the counts were made on (``m`` bins per feature).
        n_bins : int
            Bins wanted per feature (fewer where the fine grid has no distinct quantiles).

        Examples
        --------
        >>> fine = FeatureBins.uniform([0.0], [4.0], 4)
        >>> FeatureBins.from_counts(np.array([[5.0, 0.0, 0.0, 5.0]]), fine, 2).thresholds
        (array([1.]),)
        """
        counts = np.clip(np.asarray(counts, np.float64), 0.0, None)
        if counts.shape != (fine.n_features, fine.n_bins):
            raise ShapeError(
                f"counts have shape {counts.shape}; give ({fine.n_features}, {fine.n_bins})"
            )
        result = []
        for j, row in enumerate(counts):
            cumulative = np.cumsum(row)
            targets = cumulative[-1] * np.arange(1, n_bins) / n_bins
            index = np.unique(np.searchsorted(cumulative, targets, side="left"))
            index = index[index < fine.thresholds[j].size]
            result.append(fine.thresholds[j][index])
        return cls(tuple(result))

    @property
    def n_features(self) -> int:
        """Number of features ``d``."""
        return len(self.thresholds)

    @property
    def n_bins(self) -> int:
        """The most bins of any feature, ``B`` (histograms are padded to it)."""
        return max(t.size for t in self.thresholds) + 1

    def bins_per_feature(self) -> IntArray:
        """``(d,)`` number of bins of each feature."""
        return np.array([t.size + 1 for t in self.thresholds], dtype=np.int64)

    def bin(self, features: FloatArray) -> IntArray:
        """``(n, d)`` bin index of every value.

        Raises
        ------
        ShapeError
            If ``features`` is not ``(n, d)``.
        InvalidInputError
            If a value is missing (NaN): sites impute before training.
        """
        x = np.asarray(features, np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ShapeError(f"features have shape {x.shape}; give (n, {self.n_features})")
        if np.isnan(x).any():
            raise InvalidInputError(
                f"{int(np.isnan(x).sum())} missing feature values; impute them before binning"
            )
        columns = [np.searchsorted(t, x[:, j], side="left") for j, t in enumerate(self.thresholds)]
        return np.stack(columns, axis=1).astype(np.int64)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (floats round-trip exactly)."""
        return {"thresholds": [t.tolist() for t in self.thresholds]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureBins:
        """Inverse of :meth:`to_dict`."""
        return cls(tuple(np.asarray(t, np.float64) for t in data["thresholds"]))


def sketch_bins(
    counts: Sequence[IntArray],
    fine: FeatureBins,
    n_bins: int,
    *,
    noise_multiplier: float = 0.0,
    rng: np.random.Generator | None = None,
) -> FeatureBins:
    """Bins at the quantiles of the sites' summed fine counts, with Gaussian noise if asked.

    One patient moves its ``d`` counts by one each, ``sqrt(d)`` in L2, so the noise has
    standard deviation ``noise_multiplier sqrt(d)``: one more Gaussian mechanism for
    the accountant (``BoostingConfig.noise_multiplier(extra_mechanisms=1)``).

    Raises
    ------
    InvalidParameterError
        If noise is asked for without ``rng``.

    Examples
    --------
    >>> fine = FeatureBins.uniform([0.0], [4.0], 4)
    >>> parts = [np.array([[3, 0, 0, 1]]), np.array([[2, 0, 0, 4]])]
    >>> sketch_bins(parts, fine, 2).thresholds
    (array([1.]),)
    """
    total = np.sum([np.asarray(c, np.int64) for c in counts], axis=0).astype(np.float64)
    if noise_multiplier > 0.0:
        if rng is None:
            raise InvalidParameterError("a noisy sketch needs an rng; pass one")
        total += rng.normal(0.0, noise_multiplier * math.sqrt(fine.n_features), total.shape)
    return FeatureBins.from_counts(total, fine, n_bins)


def fine_counts(features: FloatArray, fine: FeatureBins) -> IntArray:
    """``(d, m)`` rows per fine bin of every feature: a site's part of the quantile sketch.

    Examples
    --------
    >>> fine_counts(np.array([[0.1], [0.2], [0.9]]), FeatureBins.uniform([0.0], [1.0], 2))
    array([[2, 1]])
    """
    binned = fine.bin(features)
    return np.stack(
        [np.bincount(binned[:, j], minlength=fine.n_bins) for j in range(fine.n_features)]
    ).astype(np.int64)


@dataclass(frozen=True)
class Tree:
    """A binary tree over bin indices; node 0 is the root, nodes in breadth-first order.

    Attributes
    ----------
    feature : ndarray of int, shape (m,)
        Split feature of each node; ``-1`` for a leaf (or a node still open).
    split_bin : ndarray of int, shape (m,)
        Rows with ``bin <= split_bin`` go left.
    left, right : ndarray of int, shape (m,)
        Children (``-1`` for leaves).
    value : ndarray of float, shape (m,)
        Leaf values, learning rate included (``0`` elsewhere).

    Examples
    --------
    >>> tree = Tree.from_dict({"feature": [0, -1, -1], "split_bin": [1, 0, 0],
    ...                        "left": [1, -1, -1], "right": [2, -1, -1],
    ...                        "value": [0.0, -0.5, 0.5]})
    >>> tree.predict_binned(np.array([[0], [3]])).tolist()
    [-0.5, 0.5]
    """

    feature: IntArray
    split_bin: IntArray
    left: IntArray
    right: IntArray
    value: FloatArray

    @classmethod
    def root(cls) -> Tree:
        """A tree of one open node, the start of every tree."""
        zero = np.zeros(1, np.int64)
        return cls(zero - 1, zero, zero - 1, zero - 1, np.zeros(1))

    @property
    def n_nodes(self) -> int:
        """Number of nodes ``m``."""
        return int(self.feature.size)

    def route(self, binned: IntArray) -> IntArray:
        """``(n,)`` the node without a split (leaf or open) that each row reaches."""
        node = np.zeros(binned.shape[0], dtype=np.int64)
        rows = np.arange(binned.shape[0])
        while True:
            split = self.feature[node] >= 0
            if not split.any():
                return node
            active = rows[split]
            here = node[active]
            goes_left = binned[active, self.feature[here]] <= self.split_bin[here]
            node[active] = np.where(goes_left, self.left[here], self.right[here])

    def predict_binned(self, binned: IntArray) -> FloatArray:
        """``(n,)`` leaf value of each row."""
        return np.asarray(self.value[self.route(binned)], dtype=np.float64)

    def to_dict(self) -> dict[str, list[int] | list[float]]:
        """JSON-ready form (floats round-trip exactly)."""
        return {
            "feature": self.feature.tolist(),
            "split_bin": self.split_bin.tolist(),
            "left": self.left.tolist(),
            "right": self.right.tolist(),
            "value": self.value.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tree:
        """Inverse of :meth:`to_dict`."""
        ints = {k: np.asarray(data[k], np.int64) for k in ("feature", "split_bin", "left", "right")}
        return cls(**ints, value=np.asarray(data["value"], np.float64))


def _sigmoid(z: FloatArray) -> FloatArray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)), dtype=np.float64)


@dataclass(frozen=True)
class GradientBoostedTrees:
    """A trained boosted-tree classifier: public bins and trees; serialisable as JSON.

    Examples
    --------
    >>> bins = FeatureBins.uniform([0.0], [1.0], 2)
    >>> tree = Tree(np.array([0, -1, -1]), np.array([0, 0, 0]), np.array([1, -1, -1]),
    ...             np.array([2, -1, -1]), np.array([0.0, -1.0, 1.0]))
    >>> model = GradientBoostedTrees(bins, (tree,))
    >>> GradientBoostedTrees.from_json(model.to_json()) == model
    True
    >>> model.decision_function(np.array([[0.2], [0.8]])).tolist()
    [-1.0, 1.0]
    """

    bins: FeatureBins
    trees: tuple[Tree, ...]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GradientBoostedTrees) and self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(self.to_json())

    def decision_function(self, features: FloatArray) -> FloatArray:
        """``(n,)`` raw scores (log-odds), the sum of the trees' leaf values."""
        binned = self.bins.bin(features)
        raw = np.zeros(binned.shape[0])
        for tree in self.trees:
            raw = raw + tree.predict_binned(binned)
        return raw

    def predict_proba(self, features: FloatArray) -> FloatArray:
        """``(n,)`` probability of the event."""
        return _sigmoid(self.decision_function(features))

    def evaluate(self, data: SiteData) -> dict[str, float]:
        """AUROC and mean log-loss on ``data`` (its ``event`` is the label)."""
        raw = self.decision_function(data.features)
        label = data.event.astype(np.float64)
        log_loss = float(np.mean(np.logaddexp(0.0, raw) - label * raw))
        return {"auc": auc(raw, data.event), "log_loss": log_loss}

    def to_json(self) -> str:
        """The model as JSON text."""
        payload = {"bins": self.bins.to_dict(), "trees": [t.to_dict() for t in self.trees]}
        return json.dumps(payload, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> GradientBoostedTrees:
        """Inverse of :meth:`to_json`.

        Raises
        ------
        InvalidInputError
            If ``text`` is not a model's JSON.
        """
        try:
            payload = json.loads(text)
            return cls(
                FeatureBins.from_dict(payload["bins"]),
                tuple(Tree.from_dict(t) for t in payload["trees"]),
            )
        except (ValueError, KeyError, TypeError) as err:
            raise InvalidInputError(f"not a boosted-trees model JSON: {err}") from err


@dataclass(frozen=True)
class BoostingConfig:
    """Settings of federated boosting (module docstring for the symbols).

    Attributes
    ----------
    n_trees, max_depth : int
        Trees and their depth (levels queried per tree).
    learning_rate : float
        Shrinkage of every leaf value.
    l2 : float
        ``lambda``, the L2 penalty on leaf values.
    min_child_weight : float
        Least hessian sum in a child.
    min_split_gain : float
        ``gamma``: a split needs a gain above it.
    dp_epsilon : float or None
        Target epsilon of all histogram levels (``None``: no DP).
    dp_delta : float
        The delta of the DP guarantee.
    """

    n_trees: int = 50
    max_depth: int = 3
    learning_rate: float = 0.1
    l2: float = 1.0
    min_child_weight: float = 1.0
    min_split_gain: float = 0.0
    dp_epsilon: float | None = None
    dp_delta: float = 1e-5

    def __post_init__(self) -> None:
        if self.n_trees < 1 or not 1 <= self.max_depth <= 12:
            raise InvalidParameterError(
                f"n_trees = {self.n_trees}, max_depth = {self.max_depth}; give at least one "
                "tree and a depth between 1 and 12"
            )
        if not (self.learning_rate > 0.0 and self.l2 >= 0.0 and self.min_child_weight >= 0.0):
            raise InvalidParameterError(
                f"learning_rate = {self.learning_rate}, l2 = {self.l2}, min_child_weight = "
                f"{self.min_child_weight}; give a positive rate and non-negative penalties"
            )
        if self.dp_epsilon is not None and not self.dp_epsilon > 0.0:
            raise InvalidParameterError(f"dp_epsilon = {self.dp_epsilon}; give a positive value")

    @property
    def n_levels(self) -> int:
        """Histogram queries the training may make: ``n_trees x max_depth``."""
        return self.n_trees * self.max_depth

    def noise_multiplier(self, extra_mechanisms: int = 0) -> float:
        """``sigma`` keeping :attr:`n_levels` levels (and a sketch) in ``(epsilon, delta)``.

        Parameters
        ----------
        extra_mechanisms : int
            Further Gaussian mechanisms with the same ``sigma`` (``1`` for a noisy sketch).
        """
        if self.dp_epsilon is None:
            return 0.0
        rounds = self.n_levels + extra_mechanisms
        return DifferentialPrivacy.for_epsilon(
            self.dp_epsilon, rounds=rounds, delta=self.dp_delta
        ).noise_multiplier


def encode_gradients(raw_score: FloatArray, label: FloatArray) -> IntArray:
    """``(n, 2)`` fixed-point ``(g, h)`` of the logistic loss, clipped (module docstring).

    Examples
    --------
    >>> encode_gradients(np.zeros(2), np.array([0.0, 1.0])) / 2**30
    array([[ 0.5 ,  0.25],
           [-0.5 ,  0.25]])
    """
    p = _sigmoid(np.asarray(raw_score, np.float64))
    g = np.clip(p - label, -1.0, 1.0)
    h = np.clip(p * (1.0 - p), 0.0, 0.25)
    return np.rint(np.stack([g, h], axis=1) * _SCALE).astype(np.int64)


def node_histograms(
    binned: IntArray, gradients: IntArray, node: IntArray, frontier: Sequence[int], n_bins: int
) -> IntArray:
    """``(k, d, B, 2)`` integer sums of ``(g, h)`` per open node, feature and bin.

    Parameters
    ----------
    binned : ndarray of int, shape (n, d)
        The site's rows, binned.
    gradients : ndarray of int, shape (n, 2)
        :func:`encode_gradients` of the rows.
    node : ndarray of int, shape (n,)
        The node each row reaches (:meth:`Tree.route`).
    frontier : sequence of int
        The ``k`` open nodes, in the order of the histogram's first axis.
    n_bins : int
        ``B``, the padded number of bins.

    Examples
    --------
    >>> hist = node_histograms(np.array([[0], [1]]), np.array([[2, 1], [3, 1]]),
    ...                        np.zeros(2, np.int64), [0], 2)
    >>> hist[0, 0].tolist()
    [[2, 1], [3, 1]]
    """
    n, d = binned.shape
    if n > _MAX_ROWS:
        raise InvalidInputError(
            f"a site with {n} rows; histograms stay exact up to {_MAX_ROWS} rows per site, "
            "so split the site's records into several sites"
        )
    size = max(int(node.max(initial=0)), max(frontier, default=0)) + 1
    position = np.full(size, -1, dtype=np.int64)
    position[np.asarray(frontier, np.int64)] = np.arange(len(frontier))
    slot = position[node]
    rows = slot >= 0
    flat = ((slot[rows, None] * d + np.arange(d)) * n_bins + binned[rows]).ravel()
    size = len(frontier) * d * n_bins
    out = np.empty((size, 2), dtype=np.int64)
    for c in range(2):
        weights = np.repeat(gradients[rows, c].astype(np.float64), d)
        # Integers below 2^53: the float64 sums are exact.
        out[:, c] = np.bincount(flat, weights=weights, minlength=size).astype(np.int64)
    return out.reshape(len(frontier), d, n_bins, 2)


class HistogramSite:
    """One site's side of the protocol: its binned rows and current raw scores.

    The raw scores are the site's running state; :meth:`catch_up` applies a finished tree
    the site has not seen yet.

    Examples
    --------
    >>> data = SiteData(np.array([[0.2], [0.8]]), np.ones(2), np.array([False, True]))
    >>> site = HistogramSite(data, FeatureBins.uniform([0.0], [1.0], 2))
    >>> site.histograms(HistogramRequest(0, None, Tree.root(), (0,)))[0, 0, :, 0] / 2**30
    array([ 0.5, -0.5])
    """

    def __init__(self, data: SiteData, bins: FeatureBins) -> None:
        self.name = data.name
        self.binned = bins.bin(data.features)
        self.label = data.event.astype(np.float64)
        self.raw_score = np.zeros(data.n_patients)
        self.n_trees = 0
        self.n_bins = bins.n_bins

    def catch_up(self, tree_index: int, previous: Tree | None) -> None:
        """Apply the last finished tree if this site is one tree behind.

        Raises
        ------
        InvalidInputError
            If the site is further behind (it missed a whole tree) or ahead.
        """
        if self.n_trees == tree_index - 1 and previous is not None:
            self.raw_score = self.raw_score + previous.predict_binned(self.binned)
            self.n_trees += 1
        if self.n_trees != tree_index:
            raise InvalidInputError(
                f"site {self.name!r} has applied {self.n_trees} trees but tree {tree_index} "
                "is being grown; it missed a whole tree and sits out the rest of the training"
            )

    def histograms(self, request: HistogramRequest) -> IntArray:
        """``(k, d, B, 2)`` this site's histograms for the request's open nodes."""
        self.catch_up(request.tree_index, request.previous_tree)
        gradients = encode_gradients(self.raw_score, self.label)
        node = request.tree.route(self.binned)
        return node_histograms(self.binned, gradients, node, request.frontier, self.n_bins)


@dataclass(frozen=True)
class HistogramRequest:
    """What the server sends a site for one level: the tree so far and its open nodes.

    Attributes
    ----------
    tree_index : int
        Index of the tree being grown (0-based).
    previous_tree : Tree or None
        The last finished tree, for a site that has not applied it yet.
    tree : Tree
        The tree grown so far.
    frontier : tuple of int
        Its open nodes.
    """

    tree_index: int
    previous_tree: Tree | None
    tree: Tree
    frontier: tuple[int, ...]

    def to_json(self) -> str:
        """The request as JSON text (what travels)."""
        previous = None if self.previous_tree is None else self.previous_tree.to_dict()
        payload = {
            "tree_index": self.tree_index,
            "previous_tree": previous,
            "tree": self.tree.to_dict(),
            "frontier": list(self.frontier),
        }
        return json.dumps(payload, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> HistogramRequest:
        """Inverse of :meth:`to_json`."""
        payload = json.loads(text)
        previous = payload["previous_tree"]
        return cls(
            int(payload["tree_index"]),
            None if previous is None else Tree.from_dict(previous),
            Tree.from_dict(payload["tree"]),
            tuple(int(k) for k in payload["frontier"]),
        )


@dataclass(frozen=True)
class HistogramReply:
    """A site's answer to one level: its histograms, or why it has none.

    Attributes
    ----------
    site : str
        The site's name.
    histograms : ndarray of int, shape (k, d, B, 2), or None
        ``None`` when the site failed or did not answer.
    reason : str
        Why there are no histograms (empty otherwise).
    bytes_sent, bytes_received : int
        Payload of the request and of the reply.
    """

    site: str
    histograms: IntArray | None
    reason: str = ""
    bytes_sent: int = 0
    bytes_received: int = 0


Transport = Callable[[HistogramRequest], Sequence[HistogramReply]]


def secure_sum(histograms: Sequence[IntArray], rng: np.random.Generator) -> IntArray:
    """Sum integer histograms after pairwise additive masking modulo ``2^64``.

    Each pair of sites ``i < j`` shares a random mask that ``i`` adds and ``j`` subtracts,
    so every masked histogram looks uniformly random and only the sum is revealed, exactly:
    integer sums are unchanged by modular masking. This is the arithmetic of SecAgg
    (Bonawitz et al. 2017) without its key agreement and dropout recovery (masks here come
    from ``rng``, not from Diffie-Hellman between sites).

    Examples
    --------
    >>> parts = [np.array([1, -2]), np.array([5, 7]), np.array([-3, 0])]
    >>> secure_sum(parts, np.random.default_rng(0)).tolist()
    [3, 5]
    """
    masked = [np.asarray(h, np.int64).view(np.uint64).copy() for h in histograms]
    for i in range(len(masked)):
        for j in range(i + 1, len(masked)):
            mask = rng.integers(0, 2**64 - 1, size=masked[i].shape, dtype=np.uint64, endpoint=True)
            masked[i] += mask
            masked[j] -= mask
    total = np.zeros_like(masked[0])
    for part in masked:
        total += part
    return total.view(np.int64)


@dataclass(frozen=True)
class LevelRecord:
    """One histogram level of one tree, as the server saw it.

    Attributes
    ----------
    tree, depth : int
        Which tree and level.
    n_nodes : int
        Open nodes queried.
    answered : tuple of str
        Sites whose histograms were summed.
    failed : tuple of (str, str)
        Sites without histograms and why.
    bytes_sent, bytes_received : int
        Payload of this level.
    seconds : float
        Wall time of the level.
    """

    tree: int
    depth: int
    n_nodes: int
    answered: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]
    bytes_sent: int
    bytes_received: int
    seconds: float


@dataclass(frozen=True)
class BoostingResult:
    """A trained model and how the training went.

    Attributes
    ----------
    model : GradientBoostedTrees
        The trees.
    levels : tuple of LevelRecord
        One record per histogram query.
    epsilon : float
        Epsilon spent on the levels queried (``0`` without DP).
    noise_multiplier : float
        ``sigma`` of the Gaussian mechanism (``0`` without DP).
    """

    model: GradientBoostedTrees
    levels: tuple[LevelRecord, ...]
    epsilon: float = 0.0
    noise_multiplier: float = 0.0

    def bytes_per_tree(self) -> FloatArray:
        """``(n_trees,)`` payload bytes (sent plus received) of each tree."""
        total = np.zeros(len(self.model.trees))
        for level in self.levels:
            total[level.tree] += level.bytes_sent + level.bytes_received
        return total


@dataclass
class _Grower:
    """The server's tree under construction (mutable, local to one tree)."""

    config: BoostingConfig
    usable_bins: IntArray
    feature: list[int] = field(default_factory=lambda: [-1])
    split_bin: list[int] = field(default_factory=lambda: [0])
    left: list[int] = field(default_factory=lambda: [-1])
    right: list[int] = field(default_factory=lambda: [-1])
    value: list[float] = field(default_factory=lambda: [0.0])
    frontier: tuple[int, ...] = (0,)

    def tree(self) -> Tree:
        return Tree(
            np.array(self.feature, np.int64),
            np.array(self.split_bin, np.int64),
            np.array(self.left, np.int64),
            np.array(self.right, np.int64),
            np.array(self.value, np.float64),
        )

    def leaf_value(self, g: float, h: float) -> float:
        return -self.config.learning_rate * g / (max(h, 0.0) + self.config.l2)

    def _add_child(self, g: float, h: float, is_leaf: bool) -> int:
        self.feature.append(-1)
        self.split_bin.append(0)
        self.left.append(-1)
        self.right.append(-1)
        self.value.append(self.leaf_value(g, h) if is_leaf else 0.0)
        return len(self.feature) - 1

    def expand(self, hist: FloatArray, depth: int) -> None:
        """Split the open nodes by their summed ``(k, d, B, 2)`` histograms."""
        last = depth == self.config.max_depth - 1
        frontier: list[int] = []
        cumulative = np.cumsum(hist, axis=2)
        for slot, node in enumerate(self.frontier):
            split = _best_split(cumulative[slot], self.usable_bins, self.config)
            if split is None:
                g, h = cumulative[slot, 0, -1]
                self.value[node] = self.leaf_value(float(g), float(h))
                continue
            j, b = split
            gl, hl = cumulative[slot, j, b]
            g, h = cumulative[slot, j, -1]
            self.feature[node], self.split_bin[node] = j, b
            self.left[node] = self._add_child(float(gl), float(hl), last)
            self.right[node] = self._add_child(float(g - gl), float(h - hl), last)
            if not last:
                frontier += [self.left[node], self.right[node]]
        self.frontier = tuple(frontier)


def _best_split(
    cumulative: FloatArray, usable_bins: IntArray, config: BoostingConfig
) -> tuple[int, int] | None:
    """The ``(feature, bin)`` of the largest gain above ``gamma``, or ``None``."""
    gl, hl = cumulative[..., 0], cumulative[..., 1]
    g, h = gl[:, -1:], hl[:, -1:]
    gr, hr = g - gl, h - hl
    lam = config.l2
    # Under DP noisy hessians can be tiny or negative; such splits are ruled out below.
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = 0.5 * (gl**2 / (hl + lam) + gr**2 / (hr + lam) - g**2 / (h + lam))
    n_bins = cumulative.shape[1]
    valid = (
        (hl >= config.min_child_weight)
        & (hr >= config.min_child_weight)
        & (hl + lam > 0.0)
        & (hr + lam > 0.0)
        & (np.arange(n_bins)[None, :] < usable_bins[:, None] - 1)
    )
    gain = np.where(valid & np.isfinite(gain), gain, -np.inf)
    best = int(np.argmax(gain))
    if not gain.flat[best] > config.min_split_gain:
        return None
    j, b = divmod(best, n_bins)
    return j, b


def boost(
    transport: Transport,
    bins: FeatureBins,
    config: BoostingConfig,
    rng: np.random.Generator | None = None,
    *,
    secure: bool = False,
    extra_mechanisms: int = 0,
    on_tree: Callable[[int, int], None] | None = None,
) -> BoostingResult:
    """The server's loop: grow ``n_trees`` trees level by level from the sites' histograms.

    Parameters
    ----------
    transport : callable
        Sends a :class:`HistogramRequest` to every site and returns their replies
        (in process: :func:`train_federated`; over Flower:
        :mod:`~healthtwin.federation.gbdt_flower`).
    bins : FeatureBins
        The public bins every site uses.
    config : BoostingConfig
        Tree settings and the DP target.
    rng : numpy.random.Generator, optional
        Source of the DP noise and of the secure-aggregation masks; needed for either.
    secure : bool
        Sum the histograms through :func:`secure_sum` (same result, masked parts).
    extra_mechanisms : int
        Gaussian mechanisms spent before training with the same ``sigma`` (``1`` after
        a noisy :func:`sketch_bins`); they count in the noise and the epsilon.
    on_tree : callable, optional
        Called with ``(trees grown, n_trees)`` after each tree; it only observes.

    Returns
    -------
    BoostingResult

    Raises
    ------
    InvalidParameterError
        If DP or secure aggregation is asked for without ``rng``.
    """
    sigma = config.noise_multiplier(extra_mechanisms)
    if (sigma > 0.0 or secure) and rng is None:
        raise InvalidParameterError("DP noise and secure aggregation need an rng; pass one")
    sensitivity = math.sqrt(2.0 * bins.n_features)
    trees: list[Tree] = []
    levels: list[LevelRecord] = []
    for t in range(config.n_trees):
        grower = _Grower(config, bins.bins_per_feature())
        depth = 0
        while grower.frontier:
            start = time.perf_counter()
            request = HistogramRequest(
                t, trees[-1] if trees else None, grower.tree(), grower.frontier
            )
            replies = transport(request)
            parts = [r.histograms for r in replies if r.histograms is not None]
            if not parts:
                raise InvalidInputError(
                    f"no site answered level {depth} of tree {t}: "
                    + "; ".join(f"{r.site} ({r.reason})" for r in replies)
                )
            total = secure_sum(parts, rng) if secure and rng is not None else np.sum(parts, axis=0)
            hist = total.astype(np.float64) / _SCALE
            if sigma > 0.0 and rng is not None:
                hist[..., 0] += rng.normal(0.0, sigma * sensitivity, size=hist.shape[:-1])
                hist[..., 1] += rng.normal(0.0, sigma * sensitivity / 4.0, size=hist.shape[:-1])
            grower.expand(hist, depth)
            levels.append(
                LevelRecord(
                    t,
                    depth,
                    len(request.frontier),
                    tuple(r.site for r in replies if r.histograms is not None),
                    tuple((r.site, r.reason) for r in replies if r.histograms is None),
                    sum(r.bytes_sent for r in replies),
                    sum(r.bytes_received for r in replies),
                    time.perf_counter() - start,
                )
            )
            depth += 1
        trees.append(grower.tree())
        if on_tree is not None:
            on_tree(len(trees), config.n_trees)
    spent = len(levels) + extra_mechanisms
    epsilon = gaussian_epsilon(sigma, spent, config.dp_delta) if sigma > 0.0 else 0.0
    return BoostingResult(GradientBoostedTrees(bins, tuple(trees)), tuple(levels), epsilon, sigma)


def train_federated(
    sites: Sequence[SiteData],
    bins: FeatureBins,
    config: BoostingConfig,
    rng: np.random.Generator | None = None,
    *,
    secure: bool = False,
    extra_mechanisms: int = 0,
) -> BoostingResult:
    """Train across in-process sites; bytes count the JSON request and the histograms.

    The arguments are :func:`boost`'s, with the sites' records in place of a transport.

    Examples
    --------
    >>> from healthtwin.federation.sites import load_site_data, split_iid
    >>> data = load_site_data("veterans", outcome="binary")
    >>> sites = split_iid(data, 2, np.random.default_rng(0))
    >>> bins = FeatureBins.uniform([-3.0] * 8, [3.0] * 8, 16)
    >>> config = BoostingConfig(n_trees=5, max_depth=2)
    >>> train_federated(sites, bins, config).model == fit_central(data, bins, config)
    True
    """
    workers = [HistogramSite(site, bins) for site in sites]

    def transport(request: HistogramRequest) -> list[HistogramReply]:
        sent = len(request.to_json().encode())
        replies = []
        for worker in workers:
            try:
                hist = worker.histograms(request)
            except InvalidInputError as err:
                replies.append(HistogramReply(worker.name, None, str(err), sent))
                continue
            replies.append(HistogramReply(worker.name, hist, "", sent, hist.nbytes))
        return replies

    return boost(transport, bins, config, rng, secure=secure, extra_mechanisms=extra_mechanisms)


def fit_central(
    data: SiteData,
    bins: FeatureBins,
    config: BoostingConfig,
    rng: np.random.Generator | None = None,
) -> GradientBoostedTrees:
    """The same algorithm on pooled patients: the reference the federation must equal.

    Examples
    --------
    >>> data = SiteData(np.array([[0.1], [0.2], [0.8], [0.9]]), np.ones(4),
    ...                 np.array([False, False, True, True]))
    >>> config = BoostingConfig(n_trees=2, max_depth=1, min_child_weight=0.1)
    >>> model = fit_central(data, FeatureBins.uniform([0.0], [1.0], 4), config)
    >>> [t.feature.tolist() for t in model.trees]
    [[0, -1, -1], [0, -1, -1]]
    """
    site = HistogramSite(data, bins)

    def transport(request: HistogramRequest) -> list[HistogramReply]:
        return [HistogramReply(data.name, site.histograms(request))]

    return boost(transport, bins, config, rng).model
