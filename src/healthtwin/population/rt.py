"""Real-time reproduction number Rt by Cori et al. (2013), compatible with R EpiEstim.

Notation (days are 1-based as in EpiEstim): ``I_t`` local and ``J_t`` imported incidence,
``w_s`` the discrete serial interval with ``w_0 = 0``, the infectivity
``Lambda_t = sum_{s=0}^{t-1} w_s (I_{t-s} + J_{t-s})``. With a prior ``R ~ Gamma(a, b)``
(shape, scale) and a window ``[t_start, t_end]`` the posterior is
``Gamma(a + sum I_t, 1 / (1/b + sum Lambda_t))``: imported cases infect others but were
not infected locally, so they enter ``Lambda`` and never the numerator.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from healthtwin.errors import InvalidInputError, InvalidParameterError

__all__ = [
    "QUANTILE_LEVELS",
    "RT_COLUMNS",
    "Incidence",
    "RtEstimate",
    "discretize_serial_interval",
    "estimate_rt",
    "overall_infectivity",
    "read_incidence",
]

QUANTILE_LEVELS = (0.025, 0.05, 0.25, 0.5, 0.75, 0.95, 0.975)
RT_COLUMNS = (
    "t_start",
    "t_end",
    "mean_R",
    "std_R",
    "q0025_R",
    "q005_R",
    "q025_R",
    "median_R",
    "q075_R",
    "q095_R",
    "q0975_R",
)
# EpiEstim's tolerance on the sum of a given serial-interval distribution.
SI_SUM_TOLERANCE = 0.01


@dataclass(frozen=True)
class Incidence:
    """Daily incidence, local and imported, on consecutive days.

    Attributes
    ----------
    local : ndarray of int64, shape (n_days,)
        Cases infected locally.
    imported : ndarray of int64, shape (n_days,)
        Cases infected elsewhere (zeros when the input has a single ``I`` column).
    dates : tuple of datetime.date or None
        The day of each row, when the input had a ``dates`` column.
    """

    local: NDArray[np.int64]
    imported: NDArray[np.int64]
    dates: tuple[dt.date, ...] | None = None

    @classmethod
    def from_counts(
        cls,
        local: ArrayLike,
        imported: ArrayLike | None = None,
        dates: Sequence[dt.date] | None = None,
    ) -> Incidence:
        """Validate counts (non-negative integers, no gaps) and build an incidence.

        Examples
        --------
        >>> Incidence.from_counts([1, 2, 3], imported=[1, 0, 0]).imported.tolist()
        [1, 0, 0]
        """
        local_arr = _counts("local", local)
        imported_arr = (
            np.zeros_like(local_arr) if imported is None else _counts("imported", imported)
        )
        if imported_arr.shape != local_arr.shape:
            raise InvalidInputError(
                f"local and imported incidence differ in length ({local_arr.size} vs "
                f"{imported_arr.size}); give one count of each per day"
            )
        if dates is not None:
            dates = tuple(dates)
            _check_consecutive(dates)
            if len(dates) != local_arr.size:
                raise InvalidInputError(
                    f"{len(dates)} dates for {local_arr.size} days of incidence; give one "
                    "date per row"
                )
        return cls(local_arr, imported_arr, None if dates is None else tuple(dates))

    @property
    def n_days(self) -> int:
        """Number of days."""
        return int(self.local.size)


def _counts(name: str, values: ArrayLike) -> NDArray[np.int64]:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise InvalidInputError(
            f"incidence column {name!r} must be a non-empty 1-D sequence, got shape {arr.shape}"
        )
    bad = ~np.isfinite(arr) | (arr < 0) | (arr != np.round(arr))
    if bad.any():
        day = int(np.flatnonzero(bad)[0])
        raise InvalidInputError(
            f"incidence column {name!r}, day {day + 1}: got {arr[day]!r}; counts must be "
            "non-negative integers on every day (write 0 for days without cases)"
        )
    return arr.astype(np.int64)


def _check_consecutive(dates: tuple[dt.date, ...], label: str = "day", first: int = 1) -> None:
    for index, (before, after) in enumerate(itertools.pairwise(dates), start=first + 1):
        if (after - before).days != 1:
            raise InvalidInputError(
                f"dates are not consecutive days at {label} {index}: {before} then {after}; "
                "give one row per day, with 0 for days without cases"
            )


def read_incidence(path: Path | str) -> Incidence:
    """Read a CSV with a column ``I`` (or ``local`` and ``imported``) and optional ``dates``.

    Parameters
    ----------
    path : Path or str
        The CSV file; one row per consecutive day, dates in ISO format (``2009-04-27``).

    Returns
    -------
    Incidence

    Raises
    ------
    InvalidInputError
        A column is missing, a cell is empty, not a non-negative integer, or the dates
        skip or repeat a day; the message names the row and column.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "inc.csv"
    >>> _ = f.write_text("dates,I\\n2020-03-01,1\\n2020-03-02,4\\n")
    >>> read_incidence(f).local.tolist()
    [1, 4]
    """
    with Path(path).open(newline="") as handle:
        reader = csv.DictReader(handle)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        rows = [{k.strip(): (v or "").strip() for k, v in r.items() if k} for r in reader]
    if "I" in columns:
        names = ["I"]
    elif {"local", "imported"} <= set(columns):
        names = ["local", "imported"]
    else:
        raise InvalidInputError(
            f"{path}: no incidence column; found columns {columns}. Give a column 'I', or "
            "'local' and 'imported' (and optionally 'dates')"
        )
    counts = {name: [_cell(path, row, name, r) for row, r in enumerate(rows, 2)] for name in names}
    dates = None
    if "dates" in columns:
        dates = [_date(path, row, r["dates"]) for row, r in enumerate(rows, 2)]
        try:
            _check_consecutive(tuple(dates), label="row", first=2)
        except InvalidInputError as err:
            raise InvalidInputError(f"{path}: {err}") from err
    try:
        return Incidence.from_counts(counts[names[0]], counts.get("imported"), dates)
    except InvalidInputError as err:
        raise InvalidInputError(f"{path}: {err}") from err


def _cell(path: Path | str, row: int, name: str, record: dict[str, str]) -> float:
    text = record.get(name, "")
    try:
        value = float(text)
    except ValueError as err:
        raise InvalidInputError(
            f"{path}, row {row}, column {name!r}: got {text!r}; expected a non-negative "
            "integer count (write 0 for days without cases)"
        ) from err
    if not math.isfinite(value) or value < 0 or value != round(value):
        raise InvalidInputError(
            f"{path}, row {row}, column {name!r}: got {text!r}; counts must be non-negative "
            "integers"
        )
    return value


def _date(path: Path | str, row: int, text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as err:
        raise InvalidInputError(
            f"{path}, row {row}, column 'dates': got {text!r}; expected an ISO date such as "
            "2020-03-01"
        ) from err


def discretize_serial_interval(max_days: int, si_mean: float, si_sd: float) -> NDArray[np.float64]:
    """Discretize a gamma serial interval as EpiEstim's ``discr_si`` does.

    The serial interval minus one day is gamma with mean ``si_mean - 1`` and sd ``si_sd``;
    ``w_k`` integrates its density against a triangular kernel on ``[k - 1, k + 1]``.

    Parameters
    ----------
    max_days : int
        Largest ``k``; the result has ``max_days + 1`` entries, ``k = 0 .. max_days``.
    si_mean : float
        Mean serial interval in days, > 1.
    si_sd : float
        Standard deviation in days, > 0.

    Returns
    -------
    ndarray of float64, shape (max_days + 1,)
        ``w_0 = 0``; the weights sum to 1 as ``max_days`` grows.

    Raises
    ------
    InvalidParameterError
        ``si_mean <= 1``, ``si_sd <= 0`` or ``max_days < 0``.

    Examples
    --------
    >>> w = discretize_serial_interval(30, 2.6, 1.5)
    >>> float(w[0]), round(float(w.sum()), 6)
    (0.0, 1.0)
    """
    if not (math.isfinite(si_mean) and si_mean > 1):
        raise InvalidParameterError(
            f"si_mean must be a number > 1 day (EpiEstim's offset gamma), got {si_mean!r}"
        )
    if not (math.isfinite(si_sd) and si_sd > 0):
        raise InvalidParameterError(f"si_sd must be a number > 0 days, got {si_sd!r}")
    if max_days < 0:
        raise InvalidParameterError(f"max_days must be >= 0, got {max_days}")
    k = np.arange(max_days + 1, dtype=float)
    shape = ((si_mean - 1) / si_sd) ** 2
    scale = si_sd**2 / (si_mean - 1)

    def cdf(x: NDArray[np.float64], a: float) -> NDArray[np.float64]:
        return np.asarray(stats.gamma.cdf(x, a, scale=scale), dtype=float)

    weights = k * cdf(k, shape) + (k - 2) * cdf(k - 2, shape) - 2 * (k - 1) * cdf(k - 1, shape)
    weights += (
        shape * scale * (2 * cdf(k - 1, shape + 1) - cdf(k - 2, shape + 1) - cdf(k, shape + 1))
    )
    return np.maximum(weights, 0.0)


def overall_infectivity(incidence: Incidence, si_distr: ArrayLike) -> NDArray[np.float64]:
    """Infectivity ``Lambda_t`` of local plus imported cases, shape (n_days,).

    ``si_distr[s]`` weighs cases ``s`` days earlier; entries past ``n_days - 1`` are unused,
    missing ones count as 0. ``Lambda_1 = 0``.

    Examples
    --------
    >>> inc = Incidence.from_counts([0, 2, 1], imported=[1, 0, 0])
    >>> overall_infectivity(inc, [0.0, 0.5, 0.5]).tolist()
    [0.0, 0.5, 1.5]
    """
    weights = np.zeros(incidence.n_days)
    given = np.asarray(si_distr, dtype=float)[: incidence.n_days]
    weights[: given.size] = given
    total = (incidence.local + incidence.imported).astype(float)
    return np.asarray(np.convolve(total, weights)[: incidence.n_days], dtype=float)


@dataclass(frozen=True)
class RtEstimate:
    """Posterior of R over sliding windows.

    Attributes
    ----------
    t_start, t_end : ndarray of int64, shape (n_windows,)
        First and last day (1-based, inclusive) of each window.
    shape, scale : ndarray of float64, shape (n_windows,)
        Parameters of the gamma posterior; NaN (written ``NA``) for windows ending on or
        before the mean serial interval, where EpiEstim gives no estimate.
    """

    t_start: NDArray[np.int64]
    t_end: NDArray[np.int64]
    shape: NDArray[np.float64]
    scale: NDArray[np.float64]

    @property
    def mean_r(self) -> NDArray[np.float64]:
        """Posterior mean, shape (n_windows,)."""
        return self.shape * self.scale

    @property
    def std_r(self) -> NDArray[np.float64]:
        """Posterior standard deviation, shape (n_windows,)."""
        return np.sqrt(self.shape) * self.scale

    def quantiles(self, levels: Sequence[float] = QUANTILE_LEVELS) -> NDArray[np.float64]:
        """Posterior quantiles, shape (n_windows, len(levels))."""
        probs = np.asarray(levels, dtype=float)[None, :]
        values = stats.gamma.ppf(probs, self.shape[:, None], scale=self.scale[:, None])
        return np.asarray(values, dtype=float)

    def columns(self) -> dict[str, NDArray[np.float64] | NDArray[np.int64]]:
        """The EpiEstim table as named columns (:data:`RT_COLUMNS`)."""
        table: dict[str, NDArray[np.float64] | NDArray[np.int64]] = {
            "t_start": self.t_start,
            "t_end": self.t_end,
            "mean_R": self.mean_r,
            "std_R": self.std_r,
        }
        for name, column in zip(RT_COLUMNS[4:], self.quantiles().T, strict=True):
            table[name] = column
        return table

    def write_csv(self, path: Path | str) -> None:
        """Write the table with columns :data:`RT_COLUMNS`, floats at full precision."""
        table = self.columns()
        with Path(path).open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(RT_COLUMNS)
            for row in zip(*(table[c].tolist() for c in RT_COLUMNS), strict=True):
                writer.writerow(["NA" if v != v else repr(v) for v in row])


def estimate_rt(
    incidence: Incidence,
    *,
    si_mean: float | None = None,
    si_sd: float | None = None,
    si_distr: ArrayLike | None = None,
    window: int = 7,
    prior_mean: float = 5.0,
    prior_sd: float = 5.0,
) -> RtEstimate:
    """Estimate Rt over sliding windows (Cori et al. 2013), as EpiEstim's ``estimate_R``.

    Give either a parametric serial interval (``si_mean``, ``si_sd``; EpiEstim's
    ``parametric_si``) or a distribution ``si_distr`` (``non_parametric_si``).

    Parameters
    ----------
    incidence : Incidence
        Daily local (and imported) cases.
    si_mean, si_sd : float, optional
        Mean (> 1) and standard deviation (> 0) of the serial interval in days.
    si_distr : array_like of float, optional
        ``w_0, w_1, ...`` with ``w_0 = 0``, non-negative, summing to 1 (within 0.01).
    window : int
        Days per window; windows start on days ``2 .. n_days - window + 1``. Windows
        ending on or before the mean serial interval get NaN, as in EpiEstim.
    prior_mean, prior_sd : float
        Gamma prior on R (EpiEstim's defaults 5 and 5).

    Returns
    -------
    RtEstimate

    Raises
    ------
    InvalidParameterError
        Inconsistent serial-interval arguments, a bad prior, or a window that does not fit
        in the series.

    Examples
    --------
    >>> inc = Incidence.from_counts([5, 6, 8, 10, 13, 16, 20, 25, 31, 38])
    >>> rt = estimate_rt(inc, si_mean=2.6, si_sd=1.5, window=7)
    >>> rt.t_start.tolist(), rt.t_end.tolist()
    ([2, 3, 4], [8, 9, 10])
    >>> bool(rt.mean_r[-1] > 1)
    True
    """
    weights = _serial_interval(incidence.n_days, si_mean, si_sd, si_distr)
    if not (prior_mean > 0 and prior_sd > 0):
        raise InvalidParameterError(
            f"prior_mean and prior_sd must be > 0, got {prior_mean!r}, {prior_sd!r}"
        )
    if window < 1 or window + 1 > incidence.n_days:
        raise InvalidParameterError(
            f"window of {window} days does not fit {incidence.n_days} days of incidence: "
            f"windows start on day 2, so use 1 <= window <= {incidence.n_days - 1} or give "
            "a longer series"
        )
    # As EpiEstim: no estimate for windows ending before the mean serial interval.
    mean_si = float(np.dot(np.arange(weights.size), weights))
    infectivity = overall_infectivity(incidence, weights)
    view = np.lib.stride_tricks.sliding_window_view
    cases = view(incidence.local[1:].astype(float), window).sum(axis=1)
    exposure = view(infectivity[1:], window).sum(axis=1)
    t_start = np.arange(2, incidence.n_days - window + 2, dtype=np.int64)
    t_end = t_start + window - 1
    prior_shape = (prior_mean / prior_sd) ** 2
    prior_scale = prior_sd**2 / prior_mean
    too_early = t_end <= mean_si
    return RtEstimate(
        t_start=t_start,
        t_end=t_end,
        shape=np.where(too_early, np.nan, prior_shape + cases),
        scale=np.where(too_early, np.nan, 1.0 / (1.0 / prior_scale + exposure)),
    )


def _serial_interval(
    n_days: int, si_mean: float | None, si_sd: float | None, si_distr: ArrayLike | None
) -> NDArray[np.float64]:
    if si_distr is None:
        if si_mean is None or si_sd is None:
            raise InvalidParameterError(
                "no serial interval: give si_mean and si_sd, or si_distr (w_0 = 0, w_1, ...)"
            )
        # EpiEstim discretizes k = 0 .. n_days - 1 (w_{n_days} is never used).
        return discretize_serial_interval(n_days - 1, si_mean, si_sd)
    if si_mean is not None or si_sd is not None:
        raise InvalidParameterError("give either si_mean and si_sd, or si_distr, not both")
    weights = np.asarray(si_distr, dtype=float)
    if weights.ndim != 1 or weights.size < 2 or not np.isfinite(weights).all():
        raise InvalidParameterError(
            f"si_distr must be a finite 1-D sequence of at least 2 weights, got {weights!r}"
        )
    if weights[0] != 0:
        raise InvalidParameterError(
            f"si_distr[0] (the weight of day 0) must be 0, got {weights[0]!r}; prepend 0"
        )
    if (weights < 0).any():
        raise InvalidParameterError(f"si_distr has negative weights: {weights.tolist()}")
    if abs(weights.sum() - 1) > SI_SUM_TOLERANCE:
        raise InvalidParameterError(f"si_distr sums to {weights.sum()!r}, not 1; normalise it")
    return weights
