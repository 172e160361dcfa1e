"""The people of a chronic-disease microsimulation: ages, sexes and stages.

An :class:`AgePyramid` gives people by age band and sex (from any table, or from a
:class:`~healthtwin.population.geography.Geography` row); :func:`synthetic_population`
draws individuals from it with baseline stage shares from the rates, and
:class:`Population` holds them as arrays.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from healthtwin.core.types import FloatArray, IntArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError
from healthtwin.population.chronic_rates import STAGES, ChronicRates, sex_codes
from healthtwin.population.geography import Geography

__all__ = ["AgePyramid", "Population", "synthetic_population"]

NONE, PREDIABETES, DIABETES, COMPLICATED = range(len(STAGES))

_BAND = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:-\s*(\d+(?:\.\d+)?)|\+)\s*$")


@dataclass(frozen=True)
class AgePyramid:
    """People (or weights) by age band and sex; ages are uniform within a band.

    Parameters
    ----------
    age_lower, age_upper
        Band edges in years, length ``A`` (upper edge exclusive).
    female, male
        Non-negative counts or weights per band, shape (A,), not all zero.

    Examples
    --------
    >>> p = AgePyramid(age_lower=(40, 60), age_upper=(60, 80), female=(1, 1), male=(1, 1))
    >>> p.n_bands
    2
    """

    age_lower: tuple[float, ...]
    age_upper: tuple[float, ...]
    female: FloatArray
    male: FloatArray

    def __post_init__(self) -> None:
        lower = tuple(float(v) for v in self.age_lower)
        upper = tuple(float(v) for v in self.age_upper)
        if not lower or len(lower) != len(upper):
            raise InvalidParameterError(
                f"age pyramid needs matching, non-empty band edges; got {len(lower)} lower "
                f"and {len(upper)} upper"
            )
        if any(not (0 <= lo < hi) for lo, hi in zip(lower, upper, strict=True)):
            raise InvalidParameterError(f"age bands need 0 <= lower < upper: {lower}, {upper}")
        object.__setattr__(self, "age_lower", lower)
        object.__setattr__(self, "age_upper", upper)
        for name in ("female", "male"):
            arr = np.array(getattr(self, name), dtype=float)
            if arr.shape != (len(lower),):
                raise ShapeError(f"{name} has shape {arr.shape}; expected ({len(lower)},)")
            if not np.isfinite(arr).all() or (arr < 0).any():
                raise InvalidInputError(f"{name} counts must be finite and >= 0, got {arr}")
            object.__setattr__(self, name, arr)
        if self.female.sum() + self.male.sum() <= 0:
            raise InvalidInputError("the age pyramid is empty (all counts are zero)")

    @property
    def n_bands(self) -> int:
        """Number of age bands ``A``."""
        return len(self.age_lower)

    @classmethod
    def from_geography(
        cls,
        geography: Geography,
        region: str,
        *,
        male_fraction: float = 0.5,
        oldest_age: float = 100.0,
        min_age: float = 0.0,
    ) -> AgePyramid:
        """The pyramid of one region, from labels such as ``20-24`` and ``75+``.

        Bands ending at or below ``min_age`` are dropped; a band straddling it is cut.

        Examples
        --------
        >>> g = Geography(regions=("north",), age_groups=("0-17", "18-64", "65+"),
        ...               population=np.array([[200.0, 600.0, 200.0]]))
        >>> p = AgePyramid.from_geography(g, "north", min_age=18)
        >>> p.age_lower, p.age_upper, p.female.tolist()
        ((18.0, 65.0), (65.0, 100.0), [300.0, 100.0])
        """
        if not 0 <= male_fraction <= 1:
            raise InvalidParameterError(f"male_fraction must be in [0, 1], got {male_fraction}")
        counts = geography.population[geography.index(region)]
        lower, upper, kept = [], [], []
        for label, count in zip(geography.age_groups, counts, strict=True):
            match = _BAND.match(label)
            if match is None:
                raise InvalidInputError(
                    f"age group label {label!r} is not 'a-b' or 'a+'; rename the groups "
                    "(for example '20-24', '75+')"
                )
            lo = float(match.group(1))
            hi = float(match.group(2)) + 1 if match.group(2) else oldest_age
            if hi <= min_age:
                continue
            share = (hi - max(lo, min_age)) / (hi - lo)
            lower.append(max(lo, min_age))
            upper.append(hi)
            kept.append(float(count) * share)
        total = np.asarray(kept)
        return cls(tuple(lower), tuple(upper), total * (1 - male_fraction), total * male_fraction)


@dataclass(frozen=True)
class Population:
    """The people at the start of a projection.

    Attributes
    ----------
    age_years : ndarray of float64, shape (n,)
    sex : ndarray of int64, shape (n,)
        Codes 0 (female) and 1 (male), as in ``SEXES``.
    stage : ndarray of int64, shape (n,)
        Codes in :data:`STAGES` order.
    """

    age_years: FloatArray
    sex: IntArray
    stage: IntArray

    @classmethod
    def from_arrays(
        cls, age_years: ArrayLike, sex: ArrayLike, stage: ArrayLike | None = None
    ) -> Population:
        """Validate ages (finite, >= 0), sex labels and stage names or codes.

        Examples
        --------
        >>> p = Population.from_arrays([40, 52.5], ["F", "M"], ["none", "prediabetes"])
        >>> p.n, p.sex.tolist(), p.stage.tolist()
        (2, [0, 1], [0, 1])
        """
        age = np.array(age_years, dtype=float)
        if age.ndim != 1 or age.size < 1:
            raise InvalidInputError(f"age_years must be a 1-D array of n >= 1 people, got {age}")
        if not np.isfinite(age).all() or (age < 0).any():
            raise InvalidInputError("ages must be finite and >= 0 years")
        codes = sex_codes(sex)
        if codes.shape != age.shape:
            raise ShapeError(f"sex has shape {codes.shape}; expected {age.shape}")
        stages = np.zeros(age.shape, dtype=np.int64) if stage is None else _stage_codes(stage)
        if stages.shape != age.shape:
            raise ShapeError(f"stage has shape {stages.shape}; expected {age.shape}")
        return cls(age, codes, stages)

    @property
    def n(self) -> int:
        """Number of people."""
        return int(self.age_years.size)


def _stage_codes(stage: ArrayLike) -> IntArray:
    values = np.atleast_1d(np.asarray(stage))
    if values.dtype.kind in "iu":
        if ((values < 0) | (values >= len(STAGES))).any():
            raise InvalidInputError(f"stage codes must be 0..{len(STAGES) - 1} ({STAGES})")
        return values.astype(np.int64)
    lookup = {name: code for code, name in enumerate(STAGES)}
    try:
        return np.array([lookup[str(v)] for v in values], dtype=np.int64)
    except KeyError as err:
        raise InvalidInputError(f"unknown stage {err.args[0]!r}; use one of {STAGES}") from err


def synthetic_population(
    n: int, *, age_pyramid: AgePyramid, rates: ChronicRates | None = None, seed: int = 0
) -> Population:
    """Draw ``n`` people from an age pyramid, with stages from ``rates``' baseline shares.

    Parameters
    ----------
    n
        Number of people, >= 1.
    age_pyramid
        Counts by age band and sex; age is uniform within a band.
    rates
        Baseline prevalences by age band and sex; ``None`` starts everyone disease-free.
    seed
        Seed of the draw.

    Raises
    ------
    InvalidParameterError
        ``n < 1``.

    Examples
    --------
    >>> from healthtwin.population.chronic_rates import load_t2d_rates
    >>> pyramid = AgePyramid(age_lower=(18, 65), age_upper=(65, 90), female=(60, 20),
    ...                      male=(55, 15))
    >>> pop = synthetic_population(1000, age_pyramid=pyramid, rates=load_t2d_rates())
    >>> pop.n, bool(pop.age_years.min() >= 18), bool((pop.stage == 2).mean() > 0.03)
    (1000, True, True)
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InvalidParameterError(f"n must be an integer >= 1 person, got {n!r}")
    rng = np.random.default_rng(seed)
    weights = np.concatenate([age_pyramid.female, age_pyramid.male])
    cell = rng.choice(weights.size, size=int(n), p=weights / weights.sum())
    band = cell % age_pyramid.n_bands
    sex = (cell // age_pyramid.n_bands).astype(np.int64)
    lower = np.asarray(age_pyramid.age_lower)[band]
    upper = np.asarray(age_pyramid.age_upper)[band]
    age = lower + rng.random(int(n)) * (upper - lower)
    stage = np.zeros(int(n), dtype=np.int64)
    if rates is not None:
        rate_band = rates.band_of(age)
        index = (np.maximum(rate_band, 0), sex)
        adult = rate_band >= 0
        pre = np.where(adult, np.asarray(rates.baseline_prediabetes)[index], 0.0)
        diab = np.where(adult, np.asarray(rates.baseline_diabetes)[index], 0.0)
        comp = np.where(adult, np.asarray(rates.baseline_complicated)[index], 0.0)
        u = rng.random(int(n))
        stage = np.where(u < diab * comp, COMPLICATED, stage)
        stage = np.where((u >= diab * comp) & (u < diab), DIABETES, stage)
        stage = np.where((u >= diab) & (u < diab + pre), PREDIABETES, stage)
    return Population(age, sex, stage.astype(np.int64))
