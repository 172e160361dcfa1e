"""Matching a virtual cohort to target statistics by entropy balancing.

Entropy balancing (Hainmueller, Political Analysis 20:25, 2012) finds weights
``w_i ∝ exp(lambda . g(x_i))`` closest to uniform (in Kullback-Leibler divergence) whose
weighted means of the balance functions ``g`` equal the targets, by minimising the convex
dual ``log sum_i exp(lambda . g_i)`` over standardised ``g``. The balance functions of a
:class:`~healthtwin.synthetic.cohort_spec.CohortSpec` are indicators for proportions and
``x`` and ``x^2`` for mean/SD targets (:func:`balance_features`); ``n`` members are then
drawn by systematic resampling (:func:`systematic_resample`).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import optimize

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidParameterError
from healthtwin.synthetic.cohort_spec import CohortSpec

__all__ = ["balance_features", "entropy_balance", "systematic_resample"]


def balance_features(
    spec: CohortSpec, cols: dict[str, FloatArray]
) -> tuple[FloatArray, FloatArray]:
    """Balance functions ``(N, k)`` and their target means ``(k,)``.

    Examples
    --------
    >>> from healthtwin.synthetic.cohort_spec import CohortSpec
    >>> spec = CohortSpec.model_validate(
    ...     {"name": "demo", "targets": {"age_years": {"mean": 50, "sd": 10}}})
    >>> g, goals = balance_features(spec, {"age_years": np.array([40.0, 60.0])})
    >>> g.tolist(), goals.tolist()
    ([[40.0, 1600.0], [60.0, 3600.0]], [50.0, 2600.0])
    """
    t = spec.targets
    feats, goals = [], []
    if t.female_fraction is not None:
        feats.append(cols["female"])
        goals.append(t.female_fraction)
    for name, target in (
        ("age_years", t.age_years),
        ("bmi_kg_m2", t.bmi_kg_m2),
        ("hba1c_percent", t.hba1c_percent),
    ):
        if target is not None:
            feats += [cols[name], cols[name] ** 2]
            goals += [target.mean, target.sd**2 + target.mean**2]
    for name, p in t.prevalence.items():
        feats.append(cols[name])
        goals.append(p)
    if not feats:
        n = cols["age_years"].size
        return np.zeros((n, 0)), np.zeros(0)
    return np.column_stack(feats), np.asarray(goals, dtype=np.float64)


#: Largest multiplier of a standardised balance function (weights up to e^50 apart).
_MAX_MULTIPLIER = 50.0


def entropy_balance(features: FloatArray, targets: FloatArray) -> FloatArray:
    """Weights (summing to 1) closest to uniform whose weighted feature means hit ``targets``.

    Raises
    ------
    InvalidParameterError
        When the targets lie outside what the candidates can reach.

    Examples
    --------
    >>> x = np.array([[0.0], [0.0], [1.0], [1.0]])
    >>> entropy_balance(x, np.array([0.25])).round(3).tolist()
    [0.375, 0.375, 0.125, 0.125]
    """
    if features.shape[1] == 0:
        return np.full(features.shape[0], 1.0 / features.shape[0])
    scale = features.std(axis=0) + 1e-12
    g = (features - targets) / scale

    def dual(lam: FloatArray) -> tuple[float, FloatArray]:
        a = g @ lam
        top = a.max()
        w = np.exp(a - top)
        total = w.sum()
        return float(np.log(total) + top), np.asarray(g.T @ w / total)

    # Bounded multipliers: unreachable targets end at a bound (and fail the check below)
    # instead of overflowing.
    bounds = [(-_MAX_MULTIPLIER, _MAX_MULTIPLIER)] * g.shape[1]
    res = optimize.minimize(
        dual,
        np.zeros(g.shape[1]),
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 1000, "ftol": 1e-15, "gtol": 1e-10},
    )
    a = g @ res.x
    w = np.exp(a - a.max())
    w /= w.sum()
    miss = np.abs(w @ g).max()
    if miss > 1e-3:
        raise InvalidParameterError(
            f"the targets cannot be matched by reweighting the candidates (largest miss "
            f"{miss:.3g} SD): check them, widen the inclusion criteria or raise oversample"
        )
    return np.asarray(w)


def systematic_resample(
    weights: FloatArray, n: int, rng: np.random.Generator
) -> npt.NDArray[np.intp]:
    """Indices ``(n,)`` drawn by systematic resampling of ``weights`` (summing to 1).

    Examples
    --------
    >>> weights = np.array([0.5, 0.25, 0.25])
    >>> systematic_resample(weights, 4, np.random.default_rng(0)).tolist()
    [0, 0, 1, 2]
    """
    positions = (rng.random() + np.arange(n)) / n
    return np.minimum(np.searchsorted(np.cumsum(weights), positions), weights.size - 1)
