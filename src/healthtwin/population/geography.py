"""Regions of a country and the people in them, by age group.

A :class:`Geography` is the spatial frame every population model shares: region names,
population by region and age group, and where each region lies (for mobility models).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, ShapeError

__all__ = ["AGE_GROUPS_16", "Geography"]

#: The 16 five-year age groups of the Prem et al. (2017, 2021) contact matrices.
AGE_GROUPS_16: tuple[str, ...] = (
    *(f"{a}-{a + 4}" for a in range(0, 75, 5)),
    "75+",
)


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
