"""Sites of a federation: one data set split into hospitals, alike (IID) or by case mix.

A real federation never pools its records; for validation we take one pooled data set and
cut it into sites, so the federated model can be compared with the one trained centrally
on the same patients. :func:`split_iid` deals patients out at random; :func:`split_by_case_mix`
makes sites differ in case mix, as hospitals do (a tertiary centre sees the sickest
patients): patients are ranked by a case-mix score (by default the first feature) and a
share ``skew`` of them goes to the site owning their rank's block, the rest at random.
``skew = 0`` is IID, ``skew = 1`` gives disjoint case-mix strata.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from healthtwin.core.types import BoolArray, FloatArray, IntArray
from healthtwin.errors import InvalidParameterError, ShapeError

__all__ = [
    "SiteData",
    "load_site_data",
    "pool",
    "split_by_case_mix",
    "split_by_group",
    "split_iid",
]


@dataclass(frozen=True)
class SiteData:
    """The records one site keeps: an encoded design matrix and an outcome.

    Attributes
    ----------
    features : ndarray of float64, shape (n, d)
        Encoded, standardized features.
    time : ndarray of float64, shape (n,)
        Follow-up time (survival outcome).
    event : ndarray of bool, shape (n,)
        Event indicator; for a binary outcome (logistic regression) it is the label.
    name : str
        The site's name.
    target : ndarray of float64, shape (n,) or (n, H), optional
        A continuous outcome for regression models (the glucose change at ``H`` horizons
        of :mod:`~healthtwin.federation.forecasting`); ``None`` for survival and binary
        outcomes.
    """

    features: FloatArray
    time: FloatArray
    event: BoolArray
    name: str = "site"
    target: FloatArray | None = None

    def __post_init__(self) -> None:
        n = self.features.shape[0]
        if self.features.ndim != 2 or self.time.shape != (n,) or self.event.shape != (n,):
            raise ShapeError(
                f"site {self.name!r}: features {self.features.shape}, time {self.time.shape} "
                f"and event {self.event.shape} must be (n, d), (n,) and (n,)"
            )
        if self.target is not None and (
            self.target.ndim not in (1, 2) or self.target.shape[0] != n
        ):
            raise ShapeError(
                f"site {self.name!r}: target {self.target.shape} must be (n,) or (n, H) "
                f"with n = {n} rows, one per patient"
            )

    @property
    def n_patients(self) -> int:
        """Number of patients (rows)."""
        return int(self.features.shape[0])

    def subset(self, rows: IntArray, name: str) -> SiteData:
        """The patients at ``rows`` as a new site."""
        target = None if self.target is None else self.target[rows]
        return SiteData(self.features[rows], self.time[rows], self.event[rows], name, target)


def _check_sites(n_patients: int, n_sites: int) -> None:
    if not 1 <= n_sites <= n_patients // 10:
        raise InvalidParameterError(
            f"n_sites = {n_sites} for {n_patients} patients; give between 1 and "
            f"{max(n_patients // 10, 1)} sites so that each holds at least 10 patients"
        )


def split_iid(data: SiteData, n_sites: int, rng: np.random.Generator) -> list[SiteData]:
    """Deal the patients out to ``n_sites`` sites of near-equal size at random.

    Examples
    --------
    >>> data = SiteData(np.zeros((40, 2)), np.arange(40.0), np.ones(40, bool))
    >>> [s.n_patients for s in split_iid(data, 3, np.random.default_rng(0))]
    [14, 13, 13]
    """
    _check_sites(data.n_patients, n_sites)
    order = rng.permutation(data.n_patients)
    return [
        data.subset(np.sort(rows), f"site-{k}")
        for k, rows in enumerate(np.array_split(order, n_sites))
    ]


def split_by_case_mix(
    data: SiteData,
    n_sites: int,
    rng: np.random.Generator,
    *,
    skew: float = 0.8,
    score: FloatArray | None = None,
) -> list[SiteData]:
    """Split so that sites differ in case mix (module docstring).

    Parameters
    ----------
    data : SiteData
        The pooled patients.
    n_sites : int
        Number of sites.
    rng : numpy.random.Generator
        Source of the random assignment.
    skew : float
        Share of patients placed by case-mix rank, in ``[0, 1]``.
    score : ndarray, shape (n,), optional
        Case-mix score; default the first feature column.

    Returns
    -------
    list of SiteData

    Examples
    --------
    >>> x = np.arange(60.0)[:, None]
    >>> data = SiteData(x, np.ones(60), np.ones(60, bool))
    >>> sites = split_by_case_mix(data, 3, np.random.default_rng(1), skew=1.0)
    >>> [float(s.features.mean()) for s in sites]
    [9.5, 29.5, 49.5]
    """
    _check_sites(data.n_patients, n_sites)
    if not 0.0 <= skew <= 1.0:
        raise InvalidParameterError(f"skew = {skew!r}; give a share between 0 and 1")
    case_mix = data.features[:, 0] if score is None else np.asarray(score, dtype=np.float64)
    if case_mix.shape != (data.n_patients,):
        raise ShapeError(f"score has shape {case_mix.shape}; give one value per patient")
    rank = np.empty(data.n_patients, dtype=np.int64)
    rank[np.argsort(case_mix, kind="stable")] = np.arange(data.n_patients)
    by_rank = rank * n_sites // data.n_patients
    at_random = rng.integers(0, n_sites, size=data.n_patients)
    site = np.where(rng.random(data.n_patients) < skew, by_rank, at_random)
    return [data.subset(np.flatnonzero(site == k), f"site-{k}") for k in range(n_sites)]


def load_site_data(
    name: str, *, outcome: str = "survival", horizon: float | None = None
) -> SiteData:
    """Load a survival data set of :mod:`healthtwin.prognosis.datasets` as one pooled site.

    Features are encoded (categories as indicators, missing values imputed) and
    standardized on the pooled table: in a real federation the means and standard
    deviations would come from federated analytics; treating them as public is the only
    central step here.

    Parameters
    ----------
    name : str
        A survival data set (``"whas500"``, ``"gbsg2"``, ``"flchain"``...).
    outcome : {"survival", "binary"}
        ``"binary"`` turns the outcome into "event before ``horizon``" (default the median
        follow-up) for logistic regression, dropping patients censored before it.
    horizon : float, optional
        The horizon of the binary outcome, in the data set's time unit.

    Raises
    ------
    InvalidParameterError
        If ``outcome`` is not one of the two names.

    Examples
    --------
    >>> data = load_site_data("veterans")
    >>> data.features.shape, int(data.event.sum())
    ((137, 8), 128)
    """
    if outcome not in {"survival", "binary"}:
        raise InvalidParameterError(
            f"outcome = {outcome!r}; choose 'survival' (Cox) or 'binary' (logistic)"
        )
    from healthtwin.prognosis.datasets import load_dataset
    from healthtwin.prognosis.design_matrix import DesignMatrix

    dataset = load_dataset(name)
    time, event = dataset.survival_target()
    design = DesignMatrix.fit(dataset.features, standardize=True, impute=True)
    features = design.transform(dataset.features)
    if outcome == "survival":
        return SiteData(features, time.astype(np.float64), event.astype(np.bool_), name)
    cut = float(np.median(time)) if horizon is None else float(horizon)
    known = (time >= cut) | event
    label = (time < cut) & event
    return SiteData(features[known], time[known], label[known], name)


def pool(sites: Sequence[SiteData], name: str = "pooled") -> SiteData:
    """Stack sites back into one (what central training sees).

    Examples
    --------
    >>> a = SiteData(np.zeros((2, 1)), np.ones(2), np.ones(2, bool))
    >>> pool([a, a]).n_patients
    4
    """
    targets = [s.target for s in sites if s.target is not None]
    return SiteData(
        np.vstack([s.features for s in sites]),
        np.concatenate([s.time for s in sites]),
        np.concatenate([s.event for s in sites]),
        name,
        np.concatenate(targets) if len(targets) == len(sites) else None,
    )


def split_by_group(
    data: SiteData, groups: npt.ArrayLike, n_sites: int, rng: np.random.Generator
) -> list[SiteData]:
    """Deal whole groups (patients with several rows) out to ``n_sites`` sites at random.

    Parameters
    ----------
    data : SiteData
        The pooled rows.
    groups : array_like, shape (n,)
        The group (patient) of each row; a group's rows all go to one site.
    n_sites : int
        Number of sites, at most the number of groups.
    rng : numpy.random.Generator
        Source of the assignment.

    Examples
    --------
    >>> data = SiteData(np.zeros((6, 1)), np.ones(6), np.ones(6, bool))
    >>> sites = split_by_group(data, ["a", "a", "b", "b", "c", "c"], 3, np.random.default_rng(0))
    >>> [s.n_patients for s in sites]
    [2, 2, 2]
    """
    labels = np.asarray(groups)
    if labels.shape != (data.n_patients,):
        raise ShapeError(f"groups has shape {labels.shape}; give one label per row")
    unique = np.unique(labels)
    if not 1 <= n_sites <= unique.size:
        raise InvalidParameterError(
            f"n_sites = {n_sites} for {unique.size} groups; give between 1 and {unique.size}"
        )
    shuffled = unique[rng.permutation(unique.size)]
    return [
        data.subset(np.flatnonzero(np.isin(labels, members)), f"site-{k}")
        for k, members in enumerate(np.array_split(shuffled, n_sites))
    ]
