"""Who synthetic patients are: age, sex, body size and conditions, one array per column.

Either drawn by the simple, documented generator :func:`sample_demographics` (an age
pyramid given as plain numbers, log-normal BMI, sex-specific heights, Bernoulli diabetes,
hypertension logistic in age) or read from a table such as the tabular generator's output
(:func:`demographics_from_table`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from healthtwin.core.types import BoolArray, FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError

__all__ = ["Demographics", "demographics_from_table", "sample_demographics"]


def _col(values: npt.ArrayLike, n: int, name: str) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.shape != (n,):
        raise ShapeError(f"{name} must have shape ({n},), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError(f"{name} must be finite; drop or impute missing values first")
    return arr


@dataclass(frozen=True)
class Demographics:
    """Who the synthetic patients are: one entry per patient, every array of shape ``(n,)``.

    Attributes
    ----------
    age_years, female, bmi_kg_m2, height_m
        Age at the start of follow-up, sex, body-mass index and height.
    diabetes, hypertension
        Insulin-treated (type 1) diabetes and hypertension.
    """

    age_years: FloatArray
    female: BoolArray
    bmi_kg_m2: FloatArray
    height_m: FloatArray
    diabetes: BoolArray
    hypertension: BoolArray

    def __post_init__(self) -> None:
        n = np.asarray(self.age_years).size
        for name in ("age_years", "bmi_kg_m2", "height_m"):
            object.__setattr__(self, name, _col(getattr(self, name), n, name))
        for name in ("female", "diabetes", "hypertension"):
            arr = np.asarray(getattr(self, name), dtype=bool).reshape(-1)
            if arr.shape != (n,):
                raise ShapeError(f"{name} must have shape ({n},), got {arr.shape}")
            object.__setattr__(self, name, arr)
        if np.any(self.age_years < 0) or np.any(self.age_years > 120):
            raise InvalidInputError("age_years must lie in [0, 120]")
        if np.any(self.bmi_kg_m2 <= 0) or np.any(self.height_m <= 0):
            raise InvalidInputError("bmi_kg_m2 and height_m must be positive")

    @property
    def n(self) -> int:
        return int(self.age_years.size)

    @property
    def body_weight_kg(self) -> FloatArray:
        """``BMI * height**2``, shape ``(n,)``."""
        return np.asarray(self.bmi_kg_m2 * self.height_m**2)

    def subset(self, keep: npt.ArrayLike) -> Demographics:
        """The patients selected by a boolean mask or index array."""
        idx = np.asarray(keep)
        return Demographics(
            **{f.name: getattr(self, f.name)[idx] for f in dataclasses.fields(self)}
        )


def sample_demographics(
    n: int,
    rng: np.random.Generator,
    *,
    female_fraction: float = 0.5,
    diabetes_prevalence: float = 0.3,
    age_bins_years: Sequence[float] = (18.0, 40.0, 65.0, 90.0),
    age_weights: Sequence[float] = (0.4, 0.4, 0.2),
    bmi_median_kg_m2: float = 26.0,
    bmi_cv: float = 0.18,
) -> Demographics:
    """Draw ``n`` patients from a simple, documented generator.

    Ages are uniform within bins drawn with ``age_weights`` (an age pyramid as plain
    numbers), BMI log-normal, height normal by sex (1.75 m +/- 0.07 men, 1.62 m +/- 0.065
    women), diabetes Bernoulli and hypertension logistic in age
    (``logit p = -5 + 0.08 age``, about 10 % at 35 and 60 % at 67).

    Examples
    --------
    >>> d = sample_demographics(1000, np.random.default_rng(0), diabetes_prevalence=0.2)
    >>> d.n, bool(0.15 < d.diabetes.mean() < 0.25), bool(d.age_years.min() >= 18)
    (1000, True, True)
    """
    if n < 1:
        raise InvalidParameterError(f"n must be a positive number of patients, got {n}")
    for name, p in (("female_fraction", female_fraction), ("diabetes", diabetes_prevalence)):
        if not 0.0 <= p <= 1.0:
            raise InvalidParameterError(f"{name} must be a probability in [0, 1], got {p}")
    bins = np.asarray(age_bins_years, dtype=np.float64)
    weights = np.asarray(age_weights, dtype=np.float64)
    if bins.size != weights.size + 1 or np.any(np.diff(bins) <= 0) or np.any(weights < 0):
        raise InvalidParameterError(
            f"give increasing age bin edges and one non-negative weight per bin, got edges "
            f"{bins.tolist()} and weights {weights.tolist()}"
        )
    which = rng.choice(weights.size, size=n, p=weights / weights.sum())
    age = rng.uniform(bins[which], bins[which + 1])
    female = rng.random(n) < female_fraction
    height = np.where(female, rng.normal(1.62, 0.065, n), rng.normal(1.75, 0.07, n))
    bmi = bmi_median_kg_m2 * np.exp(rng.normal(0.0, bmi_cv, n))
    diabetes = rng.random(n) < diabetes_prevalence
    hypertension = rng.random(n) < 1.0 / (1.0 + np.exp(5.0 - 0.08 * age))
    return Demographics(age, female, bmi, height, diabetes, hypertension)


def demographics_from_table(table: Mapping[str, npt.ArrayLike]) -> Demographics:
    """Demographics from a table (a DataFrame or dict of columns), e.g. a generator's output.

    Columns: ``age_years``, ``sex`` (``"female"``/``"F"`` or ``"male"``/``"M"``) or a
    boolean ``female``, ``bmi_kg_m2``, ``diabetes``; optional ``hypertension`` (False) and
    ``height_m`` (1.62 m women, 1.75 m men).

    Examples
    --------
    >>> d = demographics_from_table({"age_years": [50, 60], "sex": ["F", "male"],
    ...                              "bmi_kg_m2": [24.0, 31.0], "diabetes": [1, 0]})
    >>> d.female.tolist(), d.diabetes.tolist()
    ([True, False], [True, False])
    """
    missing = [c for c in ("age_years", "bmi_kg_m2", "diabetes") if c not in table]
    if missing or ("sex" not in table and "female" not in table):
        raise InvalidInputError(
            f"the demographics table lacks column(s) {missing or ['sex']}; it needs "
            "age_years, sex (or female), bmi_kg_m2 and diabetes"
        )
    age = np.asarray(table["age_years"], dtype=np.float64)
    if "female" in table:
        female = np.asarray(table["female"], dtype=bool)
    else:
        sex = [str(s).strip().lower() for s in np.asarray(table["sex"], dtype=object)]
        bad = sorted({s for s in sex if s not in ("f", "female", "m", "male")})
        if bad:
            raise InvalidInputError(f"unknown sex value(s) {bad}; use female/F or male/M")
        female = np.array([s in ("f", "female") for s in sex])
    n = age.size
    height = np.asarray(table["height_m"]) if "height_m" in table else np.where(female, 1.62, 1.75)
    hypertension = np.asarray(table["hypertension"]) if "hypertension" in table else np.zeros(n)
    return Demographics(
        age,
        female,
        np.asarray(table["bmi_kg_m2"], dtype=np.float64),
        np.asarray(height, dtype=np.float64),
        np.asarray(table["diabetes"], dtype=np.float64) > 0,
        np.asarray(hypertension, dtype=np.float64) > 0,
    )
