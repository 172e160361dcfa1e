"""Regions of a country and the people in them, by age group.

A :class:`Geography` is the spatial frame every population model shares: region names,
population by region and age group, and where each region lies (for mobility models).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, ShapeError

__all__ = ["AGE_GROUPS_16", "Geography", "age_group_spans"]

#: The 16 five-year age groups of the Prem et al. (2017, 2021) contact matrices.
AGE_GROUPS_16: tuple[str, ...] = (
    *(f"{a}-{a + 4}" for a in range(0, 75, 5)),
    "75+",
)
#: Width in years given to an open age group such as ``"75+"``.
OPEN_AGE_GROUP_WIDTH_YEARS = 10.0


@dataclass(frozen=True)
class Geography:
    """Regions with their population by age group and their coordinates.

    Parameters
    ----------
    regions
        Unique region names, length ``R``.
    age_groups
        Age-group labels, length ``A`` (for example :data:`AGE_GROUPS_16`).
    population
        People per region and age group, shape ``(R, A)``, non-negative and finite.
    latitude, longitude
        Region centroids in degrees, shape ``(R,)``; optional (needed only by mobility
        models built from distances).

    Examples
    --------
    >>> g = Geography(regions=("north", "south"), age_groups=("0-19", "20+"),
    ...               population=np.array([[100.0, 300.0], [50.0, 150.0]]))
    >>> g.n_regions, g.n_ages, float(g.total())
    (2, 2, 600.0)
    >>> g.index("south")
    1
    """

    regions: tuple[str, ...]
    age_groups: tuple[str, ...]
    population: FloatArray
    latitude: FloatArray | None = None
    longitude: FloatArray | None = None
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        regions = tuple(str(r) for r in self.regions)
        ages = tuple(str(a) for a in self.age_groups)
        if not regions:
            raise InvalidInputError("a geography needs at least one region; got none")
        if len(set(regions)) != len(regions):
            dupes = sorted({r for r in regions if regions.count(r) > 1})
            raise InvalidInputError(f"region names must be unique; repeated: {dupes}")
        if not ages:
            raise InvalidInputError("a geography needs at least one age group; got none")
        pop = np.array(self.population, dtype=float)
        if pop.shape != (len(regions), len(ages)):
            raise ShapeError(
                f"population has shape {pop.shape}; expected (regions, age groups) = "
                f"({len(regions)}, {len(ages)})"
            )
        if not np.all(np.isfinite(pop)) or np.any(pop < 0):
            bad = np.argwhere(~np.isfinite(pop) | (pop < 0))[0]
            raise InvalidInputError(
                f"population of region {regions[bad[0]]!r}, age group {ages[bad[1]]!r} is "
                f"{pop[bad[0], bad[1]]}; populations must be finite and >= 0"
            )
        pop.setflags(write=False)
        object.__setattr__(self, "regions", regions)
        object.__setattr__(self, "age_groups", ages)
        object.__setattr__(self, "population", pop)
        for name in ("latitude", "longitude"):
            value = getattr(self, name)
            if value is None:
                continue
            arr = np.array(value, dtype=float)
            if arr.shape != (len(regions),) or not np.all(np.isfinite(arr)):
                raise ShapeError(
                    f"{name} must be {len(regions)} finite numbers (one per region); got "
                    f"shape {arr.shape}"
                )
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "_index", {r: i for i, r in enumerate(regions)})

    @property
    def n_regions(self) -> int:
        """Number of regions ``R``."""
        return len(self.regions)

    @property
    def n_ages(self) -> int:
        """Number of age groups ``A``."""
        return len(self.age_groups)

    def total(self) -> float:
        """Total population."""
        return float(self.population.sum())

    def index(self, region: str) -> int:
        """Position of ``region``; unknown names are an error that lists the known ones."""
        try:
            return self._index[region]
        except KeyError as err:
            known = list(self.regions[:20]) + (["..."] if self.n_regions > 20 else [])
            raise InvalidInputError(f"unknown region {region!r}; known regions: {known}") from err

    def region_population(self) -> FloatArray:
        """Residents per region, shape ``(R,)``."""
        return np.asarray(self.population.sum(axis=1), dtype=float)

    def age_population(self) -> FloatArray:
        """People per age group over all regions, shape ``(A,)``."""
        return np.asarray(self.population.sum(axis=0), dtype=float)

    @classmethod
    def from_totals(
        cls,
        regions: Sequence[str],
        totals: ArrayLike,
        age_shares: ArrayLike,
        *,
        age_groups: Sequence[str] = AGE_GROUPS_16,
        latitude: ArrayLike | None = None,
        longitude: ArrayLike | None = None,
        whole_persons: bool = True,
    ) -> Geography:
        """Split each region's residents over age groups by a pyramid.

        Parameters
        ----------
        regions
            Region names, length ``R``.
        totals
            Residents per region, shape ``(R,)``, finite and >= 0.
        age_shares
            Age distribution, shape ``(A,)`` (one pyramid for every region) or ``(R, A)``;
            non-negative, each row with a positive sum (rows are normalised).
        age_groups
            Labels, length ``A``.
        latitude, longitude
            Optional centroids in degrees, shape ``(R,)``.
        whole_persons
            Round to whole persons: totals to the nearest integer, then each region split
            by largest remainders so that its age groups add up to its total exactly.

        Examples
        --------
        >>> g = Geography.from_totals(("a", "b"), [10, 5], [0.5, 0.3, 0.2],
        ...                           age_groups=("young", "adult", "old"))
        >>> g.population.tolist()
        [[5.0, 3.0, 2.0], [3.0, 1.0, 1.0]]
        """
        names = tuple(regions)
        total = np.asarray(totals, dtype=float)
        if total.shape != (len(names),) or not np.all(np.isfinite(total)) or np.any(total < 0):
            raise InvalidInputError(
                f"totals must be {len(names)} finite numbers >= 0 (one per region); got "
                f"shape {total.shape}"
            )
        try:
            shares = np.broadcast_to(
                np.asarray(age_shares, dtype=float), (len(names), len(age_groups))
            )
        except ValueError as err:
            raise ShapeError(
                f"age_shares has shape {np.shape(age_shares)}; expected ({len(age_groups)},) "
                f"or ({len(names)}, {len(age_groups)})"
            ) from err
        row_sums = shares.sum(axis=1)
        if not np.all(np.isfinite(shares)) or np.any(shares < 0) or np.any(row_sums <= 0):
            raise InvalidInputError(
                "age_shares must be finite, >= 0 and with a positive sum for every region"
            )
        exact = total[:, None] * shares / row_sums[:, None]
        if whole_persons:
            whole = np.round(total)
            exact = _largest_remainder(whole, whole[:, None] * shares / row_sums[:, None])
        return cls(
            regions=names,
            age_groups=tuple(age_groups),
            population=exact,
            latitude=None if latitude is None else np.asarray(latitude, dtype=float),
            longitude=None if longitude is None else np.asarray(longitude, dtype=float),
        )


def _largest_remainder(totals: FloatArray, exact: FloatArray) -> FloatArray:
    """Integers per row, as close as possible to ``exact``, summing to ``totals``."""
    floor = np.floor(exact)
    short = np.rint(totals - floor.sum(axis=1)).astype(np.int64)
    rank = np.argsort(np.argsort(-(exact - floor), axis=1, kind="stable"), axis=1)
    return np.asarray(floor + (rank < short[:, None]), dtype=float)


def age_group_spans(age_groups: Sequence[str]) -> tuple[FloatArray, FloatArray]:
    """Mid-ages and widths in years of labels such as ``"0-4"`` and ``"75+"``.

    An open group ``"a+"`` is taken to span :data:`OPEN_AGE_GROUP_WIDTH_YEARS` years.

    Returns
    -------
    tuple of ndarray, each of shape (A,)
        Mid-ages and widths, years.

    Raises
    ------
    InvalidInputError
        A label not of the form ``"a-b"`` (``b >= a``) or ``"a+"``.

    Examples
    --------
    >>> mid, width = age_group_spans(["0-4", "5-14", "75+"])
    >>> mid.tolist(), width.tolist()
    ([2.5, 10.0, 80.0], [5.0, 10.0, 10.0])
    """
    mids, widths = [], []
    for label in age_groups:
        closed = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", str(label))
        open_ = re.fullmatch(r"\s*(\d+)\s*\+\s*", str(label))
        if closed and int(closed[2]) >= int(closed[1]):
            low, high = int(closed[1]), int(closed[2]) + 1
            mids.append((low + high) / 2.0)
            widths.append(float(high - low))
        elif open_:
            mids.append(int(open_[1]) + OPEN_AGE_GROUP_WIDTH_YEARS / 2.0)
            widths.append(OPEN_AGE_GROUP_WIDTH_YEARS)
        else:
            raise InvalidInputError(
                f"age group {label!r} is not of the form 'a-b' or 'a+' (years); write it so, "
                "for example '0-4' or '75+'"
            )
    if not mids:
        raise InvalidInputError("at least one age group is needed; got none")
    return np.array(mids), np.array(widths)
