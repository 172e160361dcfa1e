"""Split conformal prediction sets for classifiers and binary risks.

The least-ambiguous set-valued classifier (LAC; Sadinle, Lei & Wasserman 2019, JASA
114:223) scores calibration case ``i`` by ``s_i = 1 - p(y_i | x_i)`` and returns, for a new
``x``, every class ``c`` with ``1 - p(c | x) <= q``, where ``q`` is the
``ceil((n + 1)(1 - alpha))``-th smallest score (:func:`~.conformal.conformal_quantile`).
The set holds the true class with probability at least ``1 - alpha``. For a binary risk
(event by a horizon or not) the set is ``{no event}``, ``{event}`` or both, the last
meaning the model cannot tell at that level; an empty set flags an unusual case.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from healthtwin.core.types import BoolArray, FloatArray
from healthtwin.errors import InvalidInputError, ShapeError
from healthtwin.prognosis.conformal import conformal_quantile

__all__ = ["Classifier", "SplitConformalClassifier", "lac_scores"]


class Classifier(Protocol):
    """Anything with scikit-learn's ``classes_`` and ``predict_proba(X) -> (n, c)``."""

    @property
    def classes_(self) -> Any: ...

    def predict_proba(self, X: Any) -> Any: ...


def lac_scores(proba: Any, y_index: Any) -> FloatArray:
    """``1 - proba[i, y_index[i]]``, shape ``(n,)``.

    Examples
    --------
    >>> lac_scores([[0.9, 0.1], [0.3, 0.7]], [0, 0]).tolist()
    [0.09999999999999998, 0.7]
    """
    p = _as_proba(proba)
    idx = np.asarray(y_index, dtype=np.int64)
    if idx.shape != (p.shape[0],):
        raise ShapeError(f"y_index must have shape ({p.shape[0]},), got {idx.shape}")
    return np.asarray(1.0 - p[np.arange(p.shape[0]), idx])


@dataclass(frozen=True)
class SplitConformalClassifier:
    """A fitted classifier with its LAC scores on held-out calibration cases.

    Examples
    --------
    >>> import numpy as np
    >>> class Fixed:
    ...     classes_ = np.array([0, 1])
    ...     def predict_proba(self, X): return np.tile([0.8, 0.2], (len(X), 1))
    >>> y_cal = np.array([0] * 16 + [1] * 3)
    >>> scp = SplitConformalClassifier.calibrate(Fixed(), np.zeros((19, 1)), y_cal)
    >>> scp.predict_set(np.zeros((1, 1)), alpha=0.2).tolist()
    [[True, False]]
    >>> scp.predict_set(np.zeros((1, 1)), alpha=0.1).tolist()
    [[True, True]]
    """

    estimator: Classifier
    scores: FloatArray
    classes: tuple[Any, ...]

    @classmethod
    def calibrate(cls, estimator: Classifier, X: Any, y: Any) -> SplitConformalClassifier:
        """Score a fitted classifier on calibration cases not used to fit it.

        Raises
        ------
        InvalidInputError
            If ``y`` holds a label the classifier does not know.
        """
        classes = tuple(np.asarray(estimator.classes_).tolist())
        position = {c: i for i, c in enumerate(classes)}
        labels = np.asarray(y).tolist()
        unknown = sorted({str(v) for v in labels if v not in position})
        if unknown:
            raise InvalidInputError(
                f"calibration labels {unknown} are not among the classifier's classes "
                f"{list(classes)}; calibrate on the outcome the classifier was fitted to"
            )
        y_index = np.array([position[v] for v in labels], dtype=np.int64)
        return cls(estimator, lac_scores(estimator.predict_proba(X), y_index), classes)

    def predict_set(self, X: Any, alpha: float) -> BoolArray:
        """Membership of each class in each case's set, shape ``(n, n_classes)``."""
        q = conformal_quantile(self.scores, alpha)
        return np.asarray(1.0 - _as_proba(self.estimator.predict_proba(X)) <= q)

    def covers(self, sets: BoolArray, y: Any) -> BoolArray:
        """Whether each true label is in its set, shape ``(n,)``."""
        position = {c: i for i, c in enumerate(self.classes)}
        idx = np.array([position.get(v, -1) for v in np.asarray(y).tolist()], dtype=np.int64)
        if idx.shape != (sets.shape[0],):
            raise ShapeError(f"y must have {sets.shape[0]} labels, got {idx.size}")
        known = idx >= 0
        return np.asarray(known & sets[np.arange(idx.size), np.where(known, idx, 0)])


def _as_proba(proba: Any) -> FloatArray:
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] == 0:
        raise ShapeError(f"probabilities must be (n, n_classes), got shape {p.shape}")
    if not np.all((p >= 0.0) & (p <= 1.0)):
        raise InvalidInputError("probabilities must lie in [0, 1] (and not be NaN)")
    return p
