"""Masking evaluation of imputation: hide known cells, impute them, score the guesses.

A complete real table is masked at a chosen rate by one of two mechanisms (Rubin 1976;
van Buuren, *Flexible Imputation of Missing Data*, 2nd ed., 2018, section 2.2.4):

- **MCAR** (:func:`mask_mcar`): every cell of the chosen columns is hidden with the same
  probability ``rate``;
- **MAR** (:func:`mask_mar`): the cells of ``targets`` in row ``i`` are hidden with
  probability ``p_i = min(1, c * sigmoid(strength * sum_k z_ik))``, where ``z_ik`` is the
  standardised value of the always-observed driver column ``k`` and ``c`` is solved so that
  the mean of ``p_i`` over rows equals ``rate``. Missingness rises with the drivers; since
  the drivers stay observed, the mechanism is missing at random, not MNAR.

:func:`masking_evaluation` then imputes each masked table by every method and scores the
masked cells against their true values:

- ``"chained"``: Bayesian-ridge chained equations with posterior draws, ``m`` copies
  (:func:`~healthtwin.synthetic.imputation.multiple_imputation`, ``method="bayes"``);
- ``"gbm"``: gradient-boosted chained equations with bootstrap and predictive mean
  matching, with its own (cheaper) settings :class:`GbmSettings`;
- ``"mean"``: the observed column mean, with the honest interval a mean imputation can
  give, ``mean_obs +- z_(1+level)/2 * sd_obs`` (observed column mean and SD);
- ``"mean-point"`` (reported with ``"mean"``): the same point with its zero-width
  interval, the degenerate case a completed table silently claims.

For the multiple imputations the per-cell interval is Student-t over the ``m`` copies,
``mean +- t_(m-1),(1+level)/2 * sqrt((1 + 1/m) * s^2)`` with ``s^2`` the between-copy
variance: the prediction interval of one more draw from the imputation distribution
(not the empirical quantiles of the copies, which need far more than ``m = 10`` copies
to reach a 90 % level).

Scores over the masked cells of one mask (``cells`` of them, in ``rows`` rows):
``nrmse``, the root mean squared error of the point imputation divided cell by cell by
the full-data SD of the cell's column; ``coverage``, the share of true values inside
their interval; ``width_sd``, the mean interval width in the same column SDs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import optimize, stats

from healthtwin.core.types import BoolArray, FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.synthetic.imputation import multiple_imputation

__all__ = [
    "MASKING_METHODS",
    "GbmSettings",
    "MaskingRow",
    "Mechanism",
    "MethodName",
    "mar_probabilities",
    "mask_mar",
    "mask_mcar",
    "masking_evaluation",
]

Mechanism = Literal["mcar", "mar"]
MethodName = Literal["chained", "gbm", "mean"]
#: Methods :func:`masking_evaluation` knows; ``"mean"`` also yields a ``"mean-point"`` row.
MASKING_METHODS: tuple[MethodName, ...] = ("chained", "gbm", "mean")
_MECHANISMS: tuple[Mechanism, ...] = ("mcar", "mar")


@dataclass(frozen=True)
class GbmSettings:
    """Settings of the gradient-boosted chained equations (they cost ~20x Bayesian ridge).

    Attributes
    ----------
    m
        Number of imputed copies (>= 2).
    max_iter
        Chained-equation rounds.
    donors
        Donor pool of predictive mean matching.
    """

    m: int = 5
    max_iter: int = 2
    donors: int = 5


@dataclass(frozen=True)
class MaskingRow:
    """One method's scores on one mask.

    Attributes
    ----------
    mechanism
        ``"mcar"`` or ``"mar"``.
    method
        ``"chained"``, ``"gbm"``, ``"mean"`` or ``"mean-point"``.
    mask_index
        Which mask of the mechanism (0-based); every method of one index saw the same mask.
    nrmse
        Root mean squared error over the masked cells, in full-data column SDs.
    coverage
        Share of masked cells whose true value lies in the cell's interval.
    width_sd
        Mean interval width over the masked cells, in full-data column SDs.
    cells
        Number of masked cells.
    rows
        Number of rows with at least one masked cell (the clusters of ``cells``).
    """

    mechanism: str
    method: str
    mask_index: int
    nrmse: float
    coverage: float
    width_sd: float
    cells: int
    rows: int


def _table(x: npt.ArrayLike) -> FloatArray:
    table = np.asarray(x, dtype=np.float64)
    if table.ndim != 2 or table.shape[0] < 3 or not np.isfinite(table).all():
        raise InvalidInputError(
            f"masking needs a complete, finite (n, p) table with n >= 3, got shape "
            f"{table.shape}; drop incomplete rows first (the truth must be known)"
        )
    return table


def _rate(rate: float) -> float:
    if not 0.0 < rate < 1.0:
        raise InvalidParameterError(f"rate must lie in (0, 1), got {rate}")
    return float(rate)


def _columns(columns: Sequence[int] | None, p: int, what: str) -> npt.NDArray[np.intp]:
    chosen = np.arange(p) if columns is None else np.asarray(list(columns), dtype=np.intp)
    if chosen.ndim != 1 or chosen.size == 0 or chosen.min() < -p or chosen.max() >= p:
        raise InvalidParameterError(
            f"{what} must be a non-empty list of column indices in [0, {p}), got {columns!r}"
        )
    return np.unique(chosen % p)


def mask_mcar(
    x: npt.ArrayLike,
    rate: float,
    rng: np.random.Generator,
    columns: Sequence[int] | None = None,
) -> BoolArray:
    """Hide each cell of ``columns`` independently with probability ``rate`` (MCAR).

    Parameters
    ----------
    x
        The complete table, shape ``(n, p)``.
    rate
        Probability that a cell of a chosen column is hidden, in (0, 1).
    rng
        Source of the mask.
    columns
        Column indices that may be hidden; None: all.

    Returns
    -------
    ndarray of bool
        The mask, shape ``(n, p)``; True marks a hidden cell.

    Examples
    --------
    >>> x = np.arange(2000.0).reshape(1000, 2)
    >>> mask = mask_mcar(x, 0.2, np.random.default_rng(0), columns=[1])
    >>> bool(mask[:, 0].any()), round(float(mask[:, 1].mean()), 1)
    (False, 0.2)
    """
    table = _table(x)
    mask = np.zeros(table.shape, dtype=bool)
    cols = _columns(columns, table.shape[1], "columns")
    mask[:, cols] = rng.random((table.shape[0], cols.size)) < _rate(rate)
    return mask


def mar_probabilities(
    x: npt.ArrayLike, rate: float, drivers: Sequence[int], strength: float
) -> FloatArray:
    """Per-row probabilities ``(n,)`` of :func:`mask_mar` (see the module docstring).

    Examples
    --------
    >>> x = np.column_stack([np.linspace(-1.0, 1.0, 5), np.zeros(5)])
    >>> p = mar_probabilities(x, 0.2, drivers=[0], strength=2.0)
    >>> round(float(p.mean()), 6), bool(np.all(np.diff(p) > 0))
    (0.2, True)
    """
    table = _table(x)
    cols = _columns(drivers, table.shape[1], "drivers")
    rate = _rate(rate)
    sd = table[:, cols].std(axis=0)
    if np.any(sd == 0.0):
        raise InvalidInputError(
            f"driver column(s) {cols[sd == 0.0].tolist()} are constant; choose drivers "
            "that vary, or use mask_mcar"
        )
    z = ((table[:, cols] - table[:, cols].mean(axis=0)) / sd).sum(axis=1)
    score = 1.0 / (1.0 + np.exp(-float(strength) * z))
    # mean(min(1, c * score)) rises from 0 to 1 as c goes from 0 to 1 / min(score).
    c = optimize.brentq(
        lambda c: float(np.minimum(1.0, c * score).mean()) - rate, 0.0, 1.0 / score.min()
    )
    return np.asarray(np.minimum(1.0, c * score))


def mask_mar(
    x: npt.ArrayLike,
    rate: float,
    rng: np.random.Generator,
    drivers: Sequence[int],
    targets: Sequence[int],
    strength: float = 1.5,
) -> BoolArray:
    """Hide the cells of ``targets`` with a probability that rises with ``drivers`` (MAR).

    Row ``i``'s target cells are hidden independently with probability
    ``p_i = min(1, c * sigmoid(strength * sum_k z_ik))``; ``z_ik`` is driver column ``k``
    standardised over the rows, and ``c`` makes the mean of ``p_i`` equal ``rate``. The
    drivers are never hidden, so the data are missing at random given them.

    Parameters
    ----------
    x
        The complete table, shape ``(n, p)``.
    rate
        Mean probability that a target cell is hidden, in (0, 1).
    rng
        Source of the mask.
    drivers
        Always-observed columns that drive missingness.
    targets
        Columns that may be hidden (disjoint from ``drivers``).
    strength
        Slope of the logistic in the summed z-scores; 0 gives MCAR on the targets.

    Returns
    -------
    ndarray of bool
        The mask, shape ``(n, p)``; True marks a hidden cell.

    Raises
    ------
    InvalidParameterError
        For a rate outside (0, 1), bad column indices, or drivers among the targets.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> x = rng.normal(size=(4000, 2))
    >>> mask = mask_mar(x, 0.2, rng, drivers=[0], targets=[1], strength=1.5)
    >>> bool(mask[:, 0].any()), round(float(mask[:, 1].mean()), 1)
    (False, 0.2)
    >>> bool(x[mask[:, 1], 0].mean() > 0.3)  # hidden where the driver is high
    True
    """
    table = _table(x)
    targ = _columns(targets, table.shape[1], "targets")
    drv = _columns(drivers, table.shape[1], "drivers")
    if np.intersect1d(targ, drv).size:
        raise InvalidParameterError(
            f"drivers {drv.tolist()} and targets {targ.tolist()} overlap; a driver must "
            "stay observed for the mechanism to be MAR"
        )
    p = mar_probabilities(table, rate, drivers, strength)
    mask = np.zeros(table.shape, dtype=bool)
    mask[:, targ] = rng.random((table.shape[0], targ.size)) < p[:, None]
    return mask


def _scores(
    truth: FloatArray,
    mask: BoolArray,
    point: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    scale: FloatArray,
) -> tuple[float, float, float]:
    """NRMSE, coverage and mean width (column SDs) over the masked cells."""
    sd = np.broadcast_to(scale, truth.shape)[mask]
    true = truth[mask]
    nrmse = float(np.sqrt(np.mean(((point[mask] - true) / sd) ** 2)))
    coverage = float(np.mean((lower[mask] <= true) & (true <= upper[mask])))
    return nrmse, coverage, float(np.mean((upper[mask] - lower[mask]) / sd))


def _multiple(
    holed: FloatArray,
    method: MethodName,
    rng: np.random.Generator,
    level: float,
    m: int,
    max_iter: int,
    gbm: GbmSettings,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    if method == "chained":
        result = multiple_imputation(holed, m=m, method="bayes", rng=rng, max_iter=max_iter)
        copies = m
    else:
        result = multiple_imputation(
            holed, m=gbm.m, method="gbm", rng=rng, max_iter=gbm.max_iter, donors=gbm.donors
        )
        copies = gbm.m
    t = stats.t.ppf(0.5 + level / 2.0, copies - 1)
    half = t * np.sqrt(result.variance * (1.0 + 1.0 / copies))
    point = result.mean
    return point, point - half, point + half


def _mean_rows(
    truth: FloatArray,
    mask: BoolArray,
    holed: FloatArray,
    level: float,
    scale: FloatArray,
) -> list[tuple[str, tuple[float, float, float]]]:
    mean = np.nanmean(holed, axis=0)
    sd = np.nanstd(holed, axis=0, ddof=1)
    half = stats.norm.ppf(0.5 + level / 2.0) * sd
    point = np.broadcast_to(mean, truth.shape)
    honest = _scores(truth, mask, point, point - half, point + half, scale)
    degenerate = _scores(truth, mask, point, point, point, scale)
    return [("mean", honest), ("mean-point", degenerate)]


def masking_evaluation(
    data: npt.ArrayLike,
    *,
    mechanisms: Sequence[Mechanism] = _MECHANISMS,
    methods: Sequence[MethodName] = MASKING_METHODS,
    rate: float = 0.2,
    level: float = 0.9,
    masks: int = 3,
    m: int = 10,
    max_iter: int = 5,
    gbm: GbmSettings = GbmSettings(),
    columns: Sequence[int] | None = None,
    drivers: Sequence[int] = (),
    targets: Sequence[int] | None = None,
    strength: float = 1.5,
    rng: np.random.Generator,
) -> list[MaskingRow]:
    """Mask a complete table ``masks`` times per mechanism, impute, and score each method.

    Parameters
    ----------
    data
        Complete numeric table, shape ``(n, p)``.
    mechanisms
        Any of ``"mcar"`` and ``"mar"``.
    methods
        Any of ``"chained"``, ``"gbm"`` and ``"mean"`` (which adds ``"mean-point"``).
    rate
        Share of cells hidden (per chosen column; a mean over rows under MAR).
    level
        Nominal coverage of the per-cell intervals.
    masks
        Masks per mechanism; every method sees the same masks.
    m, max_iter
        Copies and rounds of the Bayesian-ridge chained equations.
    gbm
        Settings of the gradient-boosted chained equations.
    columns
        Columns MCAR may hide; None: all.
    drivers, targets
        MAR's always-observed drivers and the columns it may hide (None: every column
        that is not a driver). Drivers are required for ``"mar"``.
    strength
        MAR's logistic slope (see :func:`mask_mar`).
    rng
        Source of every mask and imputation. Each (mechanism, mask, method) gets its own
        stream, so a row does not depend on which other mechanisms or methods are asked
        for, nor on ``masks`` (mask ``i`` is the same with 2 masks or 5).

    Returns
    -------
    list of MaskingRow
        Ordered by mechanism, mask, then method.

    Raises
    ------
    InvalidParameterError
        For unknown mechanisms or methods, ``masks < 1``, a level outside (0, 1), or
        ``"mar"`` without drivers.

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> x = rng.normal(size=(120, 1)) @ np.ones((1, 3)) + rng.normal(0, 0.3, (120, 3))
    >>> rows = masking_evaluation(
    ...     x, mechanisms=["mcar"], methods=["chained", "mean"], masks=1, m=5, rng=rng
    ... )
    >>> [row.method for row in rows]
    ['chained', 'mean', 'mean-point']
    >>> rows[0].nrmse < rows[1].nrmse, rows[2].width_sd
    (True, 0.0)
    """
    table = _table(data)
    unknown = sorted(set(mechanisms) - set(_MECHANISMS)) + sorted(
        set(methods) - set(MASKING_METHODS)
    )
    if unknown or not mechanisms or not methods:
        raise InvalidParameterError(
            f"unknown or missing mechanisms/methods {unknown}; choose mechanisms from "
            f"{list(_MECHANISMS)} and methods from {list(MASKING_METHODS)}"
        )
    if masks < 1 or not 0.0 < level < 1.0:
        raise InvalidParameterError(f"need masks >= 1 and level in (0, 1), got {masks}, {level}")
    if "mar" in mechanisms and not drivers:
        raise InvalidParameterError("the 'mar' mechanism needs drivers (always-observed columns)")
    mar_targets = (
        [c for c in range(table.shape[1]) if c not in {d % table.shape[1] for d in drivers}]
        if targets is None
        else targets
    )
    scale = table.std(axis=0)
    rows: list[MaskingRow] = []
    # Streams keyed by mechanism and method name, so rows do not depend on what else is asked.
    by_mechanism = dict(zip(_MECHANISMS, rng.spawn(len(_MECHANISMS)), strict=True))
    streams = {name: by_mechanism[name].spawn(masks) for name in mechanisms}
    for mechanism, index in ((a, i) for a in mechanisms for i in range(masks)):
        mask_rng, *method_rngs = streams[mechanism][index].spawn(1 + len(MASKING_METHODS))
        if mechanism == "mcar":
            mask = mask_mcar(table, rate, mask_rng, columns)
        else:
            mask = mask_mar(table, rate, mask_rng, drivers, mar_targets, strength)
        holed = np.where(mask, np.nan, table)
        cells, hit_rows = int(mask.sum()), int(mask.any(axis=1).sum())
        for method in MASKING_METHODS:
            if method not in methods:
                continue
            if method == "mean":
                scored = _mean_rows(table, mask, holed, level, scale)
            else:
                method_rng = method_rngs[MASKING_METHODS.index(method)]
                bands = _multiple(holed, method, method_rng, level, m, max_iter, gbm)
                scored = [(method, _scores(table, mask, *bands, scale))]
            rows.extend(
                MaskingRow(mechanism, name, index, nrmse, cover, width, cells, hit_rows)
                for name, (nrmse, cover, width) in scored
            )
    return rows
