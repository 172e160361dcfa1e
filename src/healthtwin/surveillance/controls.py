"""Typed control settings of each detector, named like R ``surveillance``'s control lists.

Keys are R's names in snake_case (``noPeriods`` -> ``no_periods``). Defaults are R's
defaults for the corresponding function, except that ``farrington`` carries the original
settings of Farrington et al. (1996). Unknown keys are an error (R ignores a misspelled
option silently; a misspelling here would otherwise change results without notice).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from healthtwin.errors import InvalidParameterError

__all__ = [
    "THRESHOLD_METHODS",
    "CusumControl",
    "EarsControl",
    "FarringtonControl",
    "parse_control",
]

THRESHOLD_METHODS = ("delta", "nbPlugin", "muan")
POWER_TRANSFORMS = ("2/3", "1/2", "none")
CUSUM_TRANSFORMS = ("standard", "rossi", "anscombe", "none")


@dataclass(frozen=True, kw_only=True)
class EarsControl:
    """EARS C1/C2/C3 settings (R ``earsC``).

    ``alpha`` None means R's default: 0.001 for C1 and C2, 0.025 for C3. ``r_compat``
    (default True) makes C3 follow R (see :mod:`healthtwin.surveillance.ears`).
    """

    baseline: int = 7
    alpha: float | None = None
    min_sigma: float = 0.0
    r_compat: bool = True

    def __post_init__(self) -> None:
        _check(self.baseline >= 2, "baseline", self.baseline, "an integer >= 2")
        _check_alpha(self.alpha)
        _check(self.min_sigma >= 0, "min_sigma", self.min_sigma, ">= 0")


@dataclass(frozen=True, kw_only=True)
class FarringtonControl:
    """Farrington settings (R ``farringtonFlexible``; the defaults are R's).

    ``past_weeks_not_included`` None means ``w``. ``r_compat`` True reproduces R's
    computation of the dispersion and the score (see :mod:`healthtwin.surveillance.farrington`).
    """

    b: int = 5
    w: int = 3
    reweight: bool = True
    weights_threshold: float = 2.58
    alpha: float = 0.05
    trend: bool = True
    p_threshold_trend: float = 0.05
    limit54: tuple[int, int] = (5, 4)
    powertrans: str = "2/3"
    no_periods: int = 1
    past_weeks_not_included: int | None = None
    threshold_method: str = "delta"
    glm_warnings: bool = True
    verbose: bool = False
    r_compat: bool = True

    def __post_init__(self) -> None:
        _check(self.b >= 1, "b", self.b, "an integer >= 1 (years back)")
        _check(self.w >= 0, "w", self.w, "an integer >= 0 (half window, weeks)")
        _check(self.weights_threshold > 0, "weights_threshold", self.weights_threshold, "> 0")
        _check_alpha(self.alpha)
        _check(
            0 <= self.p_threshold_trend <= 1,
            "p_threshold_trend",
            self.p_threshold_trend,
            "in [0, 1]",
        )
        limit = tuple(self.limit54)
        _check(
            len(limit) == 2 and min(limit) >= 0,
            "limit54",
            self.limit54,
            "two non-negative integers (cases, weeks) such as (5, 4)",
        )
        _check(
            self.powertrans in POWER_TRANSFORMS,
            "powertrans",
            self.powertrans,
            f"one of {POWER_TRANSFORMS}",
        )
        _check(self.no_periods >= 1, "no_periods", self.no_periods, "an integer >= 1")
        pw = self.past_weeks_not_included
        _check(pw is None or pw >= 0, "past_weeks_not_included", pw, "None or an integer >= 0")
        _check(
            self.threshold_method in THRESHOLD_METHODS,
            "threshold_method",
            self.threshold_method,
            f"one of {THRESHOLD_METHODS}",
        )

    @property
    def weeks_left_out(self) -> int:
        """The recent weeks left out of the baseline (``past_weeks_not_included`` or ``w``)."""
        return self.w if self.past_weeks_not_included is None else self.past_weeks_not_included


@dataclass(frozen=True, kw_only=True)
class CusumControl:
    """CUSUM settings (R ``cusum``): reference value ``k``, decision interval ``h``.

    ``m`` None estimates the in-control mean: with ``r_compat`` (default, as R) the mean of
    all weeks before the first monitored week; otherwise the mean of the ``baseline`` weeks
    before it (or of the monitored weeks when ``baseline`` is None). ``trans`` standardises
    the counts; see :mod:`healthtwin.surveillance.cusum` for what ``r_compat`` changes.
    """

    k: float = 1.04
    h: float = 2.26
    m: float | None = None
    trans: str = "standard"
    baseline: int | None = None
    r_compat: bool = True

    def __post_init__(self) -> None:
        _check(self.k >= 0, "k", self.k, ">= 0")
        _check(self.h > 0, "h", self.h, "> 0")
        _check(self.m is None or self.m > 0, "m", self.m, "None or > 0")
        _check(self.trans in CUSUM_TRANSFORMS, "trans", self.trans, f"one of {CUSUM_TRANSFORMS}")
        _check(
            self.baseline is None or self.baseline >= 2, "baseline", self.baseline, "None or >= 2"
        )


Control = TypeVar("Control", EarsControl, FarringtonControl, CusumControl)


def parse_control(
    kind: type[Control],
    control: Mapping[str, object] | None,
    defaults: Mapping[str, Any] | None = None,
) -> Control:
    """Build a control object, rejecting keys the method does not know.

    Examples
    --------
    >>> parse_control(EarsControl, {"baseline": 10}).baseline
    10
    >>> parse_control(EarsControl, {"basline": 10})
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidParameterError: unknown control option(s) ['basline'] ...
    """
    names = [f.name for f in dataclasses.fields(kind)]
    given = dict(control or {})
    unknown = sorted(k for k in given if k not in names)
    if unknown:
        raise InvalidParameterError(
            f"unknown control option(s) {unknown} for this method; valid options are {names}"
        )
    values = {**(defaults or {}), **given}
    if "limit54" in values and values["limit54"] is not None:
        values["limit54"] = tuple(int(v) for v in values["limit54"])
    try:
        return kind(**values)
    except TypeError as err:
        raise InvalidParameterError(f"bad control options {given}: {err}") from err


def _check(ok: bool, name: str, value: object, expected: str) -> None:
    if not ok:
        raise InvalidParameterError(
            f"control option {name}={value!r} is invalid; expected {expected}"
        )


def _check_alpha(alpha: float | None) -> None:
    _check(alpha is None or 0 < alpha < 1, "alpha", alpha, "a probability in (0, 1)")
