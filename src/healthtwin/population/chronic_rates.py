"""Rates of a chronic-disease microsimulation: type-2 diabetes by age band and sex.

Each person is in one of the stages :data:`STAGES` (or dead). With age ``x`` in band ``b``
and sex ``s`` the yearly hazards are

- ``none -> prediabetes``: ``prediabetes_onset_per_year[b, s]``
- ``none -> diabetes``: ``diabetes_onset_per_year[b, s]``
- ``prediabetes -> diabetes``: ``progression_per_year[b, s]``
- ``diabetes -> complicated``: ``complication_per_year[b, s]``
- death from stage ``k``: ``mortality_hr[k] * mu_s(x)``, with the Gompertz-Makeham law
  ``mu_s(x) = makeham_s + gompertz_s * exp(slope_s * x)``.

Ages below the first band carry no disease hazard; ages past the last band use it.
The published default set (:func:`load_t2d_rates`) is described, number by number, in
``population/data/README.md``.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from importlib import resources

import numpy as np
from numpy.typing import ArrayLike

from healthtwin.core.types import FloatArray, IntArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError

__all__ = [
    "SEXES",
    "STAGES",
    "ChronicRates",
    "MortalityLaw",
    "load_t2d_rates",
    "sex_codes",
]

#: Sex labels, in the order of the last axis of every rate table.
SEXES: tuple[str, ...] = ("female", "male")
#: Disease stages, in the order of their integer codes; code ``len(STAGES)`` is death.
STAGES: tuple[str, ...] = ("none", "prediabetes", "diabetes", "complicated")
_SEX_ALIASES = {"female": 0, "f": 0, "woman": 0, "women": 0, "male": 1, "m": 1, "man": 1}
_RATE_FIELDS = (
    "prediabetes_onset_per_year",
    "diabetes_onset_per_year",
    "progression_per_year",
    "complication_per_year",
)
_BASELINE_FIELDS = ("baseline_prediabetes", "baseline_diabetes", "baseline_complicated")


def sex_codes(labels: ArrayLike) -> IntArray:
    """Turn sex labels (``female``/``male``, ``F``/``M``, any case) into codes 0/1.

    Raises
    ------
    InvalidInputError
        A label is not a known spelling; the message lists the accepted ones.

    Examples
    --------
    >>> sex_codes(["F", "male", "Female"]).tolist()
    [0, 1, 0]
    """
    values = np.atleast_1d(np.asarray(labels, dtype=object))
    codes = np.empty(values.shape, dtype=np.int64)
    for index, label in enumerate(values.ravel()):
        code = _SEX_ALIASES.get(str(label).strip().lower())
        if code is None:
            raise InvalidInputError(
                f"unknown sex label {label!r} at position {index}; use one of "
                f"{sorted(_SEX_ALIASES)} (case-insensitive)"
            )
        codes.flat[index] = code
    return codes


def _finite_nonnegative(name: str, value: ArrayLike, shape: tuple[int, ...]) -> FloatArray:
    arr = np.array(value, dtype=float)
    if arr.shape != shape:
        raise ShapeError(f"{name} has shape {arr.shape}; expected {shape}")
    bad = ~np.isfinite(arr) | (arr < 0)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InvalidParameterError(
            f"{name}{list(where)} is {float(arr[where])!r}; rates, hazard ratios and "
            "fractions must be finite and >= 0"
        )
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, kw_only=True)
class MortalityLaw:
    """Gompertz-Makeham background mortality ``mu(x) = a + b exp(c x)`` per sex, per year.

    Parameters
    ----------
    makeham_per_year, gompertz_per_year, gompertz_slope_per_year
        ``a``, ``b`` and ``c`` for each sex in :data:`SEXES` order, shape (2,), all >= 0.

    Examples
    --------
    >>> law = MortalityLaw(makeham_per_year=[0.001, 0.002], gompertz_per_year=[1e-5, 3e-5],
    ...                    gompertz_slope_per_year=[0.1, 0.09])
    >>> bool(law.hazard(np.array([70.0]), np.array([1]))[0] > law.hazard(
    ...     np.array([70.0]), np.array([0]))[0])
    True
    """

    makeham_per_year: FloatArray
    gompertz_per_year: FloatArray
    gompertz_slope_per_year: FloatArray

    def __post_init__(self) -> None:
        for name in ("makeham_per_year", "gompertz_per_year", "gompertz_slope_per_year"):
            object.__setattr__(self, name, _finite_nonnegative(name, getattr(self, name), (2,)))

    def hazard(self, age_years: FloatArray, sex: IntArray) -> FloatArray:
        """Force of mortality at exact ages, per year; same shape as ``age_years``."""
        a, b, c = (self.makeham_per_year, self.gompertz_per_year, self.gompertz_slope_per_year)
        return np.asarray(a[sex] + b[sex] * np.exp(c[sex] * age_years), dtype=float)

    def cumulative_hazard(
        self, age_years: FloatArray, sex: IntArray, duration_years: float
    ) -> FloatArray:
        """Integral of the hazard over ``[age, age + duration]``; same shape as ``age_years``."""
        a, b, c = (
            self.makeham_per_year[sex],
            self.gompertz_per_year[sex],
            self.gompertz_slope_per_year[sex],
        )
        safe_c = np.where(c > 0, c, 1.0)
        growth = np.where(
            c > 0, np.expm1(safe_c * duration_years) / safe_c, duration_years + 0.0 * c
        )
        return np.asarray(a * duration_years + b * np.exp(c * age_years) * growth, dtype=float)


@dataclass(frozen=True, kw_only=True)
class ChronicRates:
    """Hazards of the diabetes stages by age band and sex, with background mortality.

    Parameters
    ----------
    age_lower, age_upper
        Band edges in years, length ``B``; bands must be contiguous
        (``age_upper[i] == age_lower[i + 1]``) and increasing.
    prediabetes_onset_per_year, diabetes_onset_per_year, progression_per_year, \
complication_per_year
        Hazards per person-year, shape (B, 2) (sex in :data:`SEXES` order), >= 0.
    mortality
        Background mortality law.
    mortality_hr
        Hazard ratios of death by stage (:data:`STAGES` order), shape (4,), >= 0.
    baseline_prediabetes, baseline_diabetes, baseline_complicated
        Fractions used to draw the initial stages of a synthetic population, shape (B, 2):
        prediabetes and diagnosed diabetes among all adults of the band, and the share of
        people with diabetes who already have a complication. All zero by default.

    Raises
    ------
    InvalidParameterError
        Negative or non-finite values, non-contiguous bands, fractions above 1.
    ShapeError
        A table does not have shape (B, 2).

    Examples
    --------
    >>> law = MortalityLaw(makeham_per_year=[0.001, 0.001], gompertz_per_year=[0.0, 0.0],
    ...                    gompertz_slope_per_year=[0.0, 0.0])
    >>> rates = ChronicRates.constant(diabetes_onset_per_year=0.01, mortality=law, age_lower=18)
    >>> rates.n_bands, rates.band_of(np.array([10.0, 30.0, 200.0])).tolist()
    (1, [-1, 0, 0])
    """

    age_lower: tuple[float, ...]
    age_upper: tuple[float, ...]
    prediabetes_onset_per_year: FloatArray
    diabetes_onset_per_year: FloatArray
    progression_per_year: FloatArray
    complication_per_year: FloatArray
    mortality: MortalityLaw
    mortality_hr: FloatArray
    baseline_prediabetes: FloatArray | None = None
    baseline_diabetes: FloatArray | None = None
    baseline_complicated: FloatArray | None = None

    def __post_init__(self) -> None:
        lower = tuple(float(v) for v in self.age_lower)
        upper = tuple(float(v) for v in self.age_upper)
        self._check_bands(lower, upper)
        object.__setattr__(self, "age_lower", lower)
        object.__setattr__(self, "age_upper", upper)
        shape = (len(lower), len(SEXES))
        for name in _RATE_FIELDS:
            object.__setattr__(self, name, _finite_nonnegative(name, getattr(self, name), shape))
        hr = _finite_nonnegative("mortality_hr", self.mortality_hr, (len(STAGES),))
        object.__setattr__(self, "mortality_hr", hr)
        for name in _BASELINE_FIELDS:
            value = getattr(self, name)
            arr = _finite_nonnegative(name, np.zeros(shape) if value is None else value, shape)
            if (arr > 1).any():
                raise InvalidParameterError(f"{name} has a fraction above 1: {arr.tolist()}")
            object.__setattr__(self, name, arr)
        total = np.asarray(self.baseline_prediabetes) + np.asarray(self.baseline_diabetes)
        if (total > 1 + 1e-12).any():
            raise InvalidParameterError(
                f"baseline_prediabetes + baseline_diabetes exceeds 1 in some band: "
                f"{total.tolist()}; they are shares of the same adults"
            )

    @staticmethod
    def _check_bands(lower: tuple[float, ...], upper: tuple[float, ...]) -> None:
        if not lower or len(lower) != len(upper):
            raise InvalidParameterError(
                f"age_lower and age_upper must be non-empty and of equal length, got "
                f"{len(lower)} and {len(upper)}"
            )
        for i, (lo, hi) in enumerate(zip(lower, upper, strict=True)):
            if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo < hi):
                raise InvalidParameterError(
                    f"age band {i} is [{lo}, {hi}); bands need finite 0 <= lower < upper"
                )
        for i in range(len(lower) - 1):
            if upper[i] != lower[i + 1]:
                raise InvalidParameterError(
                    f"age bands are not contiguous: band {i} ends at {upper[i]} but band "
                    f"{i + 1} starts at {lower[i + 1]}; each band must start where the "
                    "previous one ends"
                )

    @classmethod
    def constant(
        cls,
        *,
        mortality: MortalityLaw,
        age_lower: float = 0.0,
        age_upper: float = 120.0,
        prediabetes_onset_per_year: float = 0.0,
        diabetes_onset_per_year: float = 0.0,
        progression_per_year: float = 0.0,
        complication_per_year: float = 0.0,
        mortality_hr: ArrayLike = (1.0, 1.0, 1.0, 1.0),
    ) -> ChronicRates:
        """One age band with the same hazards for both sexes (for tests and toy models)."""
        full = np.ones((1, len(SEXES)))
        return cls(
            age_lower=(age_lower,),
            age_upper=(age_upper,),
            prediabetes_onset_per_year=full * prediabetes_onset_per_year,
            diabetes_onset_per_year=full * diabetes_onset_per_year,
            progression_per_year=full * progression_per_year,
            complication_per_year=full * complication_per_year,
            mortality=mortality,
            mortality_hr=np.asarray(mortality_hr, dtype=float),
        )

    @property
    def n_bands(self) -> int:
        """Number of age bands ``B``."""
        return len(self.age_lower)

    @property
    def band_labels(self) -> tuple[str, ...]:
        """Labels such as ``18-44`` (upper edge exclusive, written inclusive)."""
        return tuple(
            f"{lo:g}-{hi - 1:g}" for lo, hi in zip(self.age_lower, self.age_upper, strict=True)
        )

    def band_of(self, age_years: FloatArray) -> IntArray:
        """Band index of each age; -1 below the first band, the last band past its end."""
        upper = np.asarray(self.age_upper)
        index = np.minimum(np.searchsorted(upper, age_years, side="right"), self.n_bands - 1)
        return np.where(age_years < self.age_lower[0], -1, index).astype(np.int64)


def _read_csv(name: str) -> list[dict[str, str]]:
    text = resources.files("healthtwin.population").joinpath("data", name).read_text("utf-8")
    return list(csv.DictReader(text.splitlines()))


def load_t2d_rates() -> ChronicRates:
    """Published type-2 diabetes rates for US adults (sources in ``population/data/README.md``).

    Incidence of diagnosed diabetes by age band and sex (CDC, NHIS 2010), prediabetes
    (NDSR 2020) and diagnosed-diabetes prevalence (NHIS 2003) become hazards under one
    stated assumption: incident diabetes arises from prediabetes, so
    ``progression = incidence / p`` and ``prediabetes_onset = incidence / (1 - p)`` with
    ``p`` the share with prediabetes among adults without diabetes (which keeps ``p``
    roughly steady). Complications are myocardial infarction or stroke (Gregg et al.
    2014); mortality hazard ratios 1.9 for diabetes and 3.7 for diabetes with MI (ERFC,
    JAMA 2015); background mortality is a Gompertz-Makeham law fitted to UN WPP 2024
    US death rates for 2020 at ages 30-99.

    Returns
    -------
    ChronicRates
        Four bands (18-44, 45-64, 65-74, 75+), with baseline prevalences.

    Examples
    --------
    >>> rates = load_t2d_rates()
    >>> rates.band_labels
    ('18-44', '45-64', '65-74', '75-109')
    >>> round(float(rates.mortality_hr[2]), 2)
    1.9
    """
    rows = _read_csv("t2d_rates_us.csv")
    constants = {r["name"]: float(r["value"]) for r in _read_csv("t2d_constants.csv")}
    bands = sorted({(float(r["age_lower"]), float(r["age_upper"])) for r in rows})
    shape = (len(bands), len(SEXES))
    incidence, pre, diab = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    for r in rows:
        b = bands.index((float(r["age_lower"]), float(r["age_upper"])))
        s = int(sex_codes([r["sex"]])[0])
        incidence[b, s] = float(r["diabetes_incidence_per_1000"]) / 1000
        pre[b, s] = float(r["prediabetes_prevalence_pct"]) / 100
        diab[b, s] = float(r["diagnosed_diabetes_prevalence_pct"]) / 100
    pre_among_free = pre / (1 - diab)
    law = MortalityLaw(
        makeham_per_year=np.array([constants[f"makeham_per_year_{s}"] for s in SEXES]),
        gompertz_per_year=np.array([constants[f"gompertz_per_year_{s}"] for s in SEXES]),
        gompertz_slope_per_year=np.array(
            [constants[f"gompertz_slope_per_year_{s}"] for s in SEXES]
        ),
    )
    return ChronicRates(
        age_lower=tuple(lo for lo, _ in bands),
        age_upper=tuple(hi for _, hi in bands),
        prediabetes_onset_per_year=incidence / (1 - pre_among_free),
        diabetes_onset_per_year=np.zeros(shape),
        progression_per_year=incidence / pre_among_free,
        complication_per_year=np.full(shape, constants["complication_per_1000"] / 1000),
        mortality=law,
        mortality_hr=np.array(
            [
                1.0,
                constants["prediabetes_mortality_hr"],
                constants["diabetes_mortality_hr"],
                constants["complicated_mortality_hr"],
            ]
        ),
        baseline_prediabetes=pre,
        baseline_diabetes=diab,
        baseline_complicated=np.full(shape, constants["baseline_complicated_fraction"]),
    )
