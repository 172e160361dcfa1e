"""Patient covariates for the drug presets, and lean body mass by the James formula.

James WPT, *Research on obesity*, HMSO, London 1976 (as used by Schnider 1998 and Minto
1997): LBM = 1.1 W - 128 (W/H)^2 for men, 1.07 W - 148 (W/H)^2 for women (W in kg, H
in cm). The formula peaks and then falls with weight; presets that use it reject
weights above the peak.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from healthtwin.core.types import BoolArray, FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError

__all__ = ["RANGES", "Covariates", "james_lbm_kg", "james_peak_weight_kg", "parse_covariates"]

#: Accepted (physically possible) range of each numeric covariate, inclusive.
RANGES: dict[str, tuple[float, float]] = {
    "age_yr": (0.0, 120.0),
    "weight_kg": (1.0, 350.0),
    "height_cm": (30.0, 250.0),
}
_SEXES = ("male", "female")


@dataclass(frozen=True)
class Covariates:
    """Age (years), weight (kg), height (cm) and sex of one patient or of ``n`` patients.

    Each field is a scalar or a sequence of one common length; ``sex`` is ``"male"`` or
    ``"female"`` (or a sequence of them). Values outside :data:`RANGES` raise
    :class:`InvalidParameterError`.

    Examples
    --------
    >>> c = Covariates(age_yr=53, weight_kg=77, height_cm=177, sex="male")
    >>> c.n_members, round(float(james_lbm_kg(c)[0]), 2)
    (1, 60.48)
    >>> Covariates(age_yr=53, weight_kg=-7, height_cm=177, sex="male")
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidParameterError: weight_kg must be in [1.0, 350.0], got [-7.0]
    """

    age_yr: float | Sequence[float] | FloatArray
    weight_kg: float | Sequence[float] | FloatArray
    height_cm: float | Sequence[float] | FloatArray
    sex: str | Sequence[str]

    def __post_init__(self) -> None:
        lengths = set()
        for name, (lo, hi) in RANGES.items():
            try:
                arr = np.atleast_1d(np.asarray(getattr(self, name), dtype=np.float64))
            except (TypeError, ValueError) as err:
                raise InvalidParameterError(
                    f"{name} must be a number, got {getattr(self, name)!r}"
                ) from err
            if arr.ndim != 1 or not np.all(np.isfinite(arr)) or np.any((arr < lo) | (arr > hi)):
                raise InvalidParameterError(f"{name} must be in [{lo}, {hi}], got {arr.tolist()}")
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
            lengths.add(arr.size)
        sexes = (self.sex,) if isinstance(self.sex, str) else tuple(self.sex)
        bad = [s for s in sexes if s not in _SEXES]
        if bad or not sexes:
            raise InvalidParameterError(f"sex must be 'male' or 'female', got {bad or sexes}")
        object.__setattr__(self, "sex", sexes)
        lengths.add(len(sexes))
        if len(lengths - {1}) > 1:
            raise ShapeError(f"covariates have different lengths {sorted(lengths)}")

    @property
    def n_members(self) -> int:
        return max(
            np.size(self.age_yr), np.size(self.weight_kg), np.size(self.height_cm), len(self.sex)
        )

    def arrays(self) -> tuple[FloatArray, FloatArray, FloatArray, BoolArray]:
        """Age, weight, height and is-male broadcast to ``(n,)`` each."""
        n = self.n_members
        age, weight, height = (
            np.broadcast_to(np.asarray(v, dtype=np.float64), (n,))
            for v in (self.age_yr, self.weight_kg, self.height_cm)
        )
        male = np.broadcast_to(np.array([s == "male" for s in self.sex]), (n,))
        return age, weight, height, male


def james_lbm_kg(cov: Covariates) -> FloatArray:
    """Lean body mass (kg) by the James formula, shape ``(n,)``."""
    _, w, h, male = cov.arrays()
    ratio2 = (w / h) ** 2
    return np.asarray(np.where(male, 1.1 * w - 128.0 * ratio2, 1.07 * w - 148.0 * ratio2))


def james_peak_weight_kg(cov: Covariates) -> FloatArray:
    """Weight (kg) at which the James LBM stops rising at each height, shape ``(n,)``.

    From d(LBM)/dW = 0: ``1.1 H^2 / 256`` for men, ``1.07 H^2 / 296`` for women.
    """
    _, _, h, male = cov.arrays()
    return np.asarray(np.where(male, 1.1 * h**2 / 256.0, 1.07 * h**2 / 296.0))


def parse_covariates(text: str) -> Covariates:
    """Covariates from ``"age=53,weight_kg=77,height_cm=177,sex=male"`` (CLI form).

    Examples
    --------
    >>> parse_covariates("age=53, weight_kg=77, height_cm=177, sex=female").sex
    ('female',)
    >>> parse_covariates("age=53,weight=77")
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidInputError: unknown covariate 'weight'; give age, weight_kg, ...
    """
    keys = {
        "age": "age_yr",
        "age_yr": "age_yr",
        "weight_kg": "weight_kg",
        "height_cm": "height_cm",
        "sex": "sex",
    }
    values: dict[str, object] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in keys:
            raise InvalidInputError(
                f"unknown covariate {key!r}; give age, weight_kg, height_cm and sex as "
                "key=value pairs separated by commas"
            )
        field = keys[key]
        if field == "sex":
            values[field] = value.strip().lower()
            continue
        try:
            values[field] = float(value)
        except ValueError as err:
            raise InvalidInputError(f"covariate {key}: {value!r} is not a number") from err
    missing = {"age_yr", "weight_kg", "height_cm", "sex"} - set(values)
    if missing:
        raise InvalidInputError(f"missing covariates {sorted(missing)} in {text!r}")
    return Covariates(**values)  # type: ignore[arg-type]
