"""Settings of the patient twins of :mod:`~healthtwin.coupling.hospital_course`.

:class:`TwinCourseSettings` holds the twins' heterogeneity (lognormal initial pathogen load
and growth rate), the damage levels of their clinical events, the levels at which a twin
counts as resolved, and the numerics of their integration and recording. The module
docstring of :mod:`~healthtwin.coupling.hospital_course` explains each choice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from healthtwin.errors import InvalidParameterError

__all__ = ["TwinCourseSettings"]


@dataclass(frozen=True, kw_only=True)
class TwinCourseSettings:
    """Heterogeneity, event thresholds and numerics of the patient twins.

    See :class:`~healthtwin.coupling.hospital_course.TwinCourse` and its module docstring.

    Examples
    --------
    >>> TwinCourseSettings(growth_median=0.25).deterioration_damage
    3.0
    """

    pathogen_median: float = 0.4
    pathogen_sigma: float = 0.5
    growth_median: float = 0.3
    growth_sigma: float = 0.25
    deterioration_damage: float = 3.0
    death_damage: float = 15.0
    shock_damage: float = 10.0
    resolved_pathogen: float = 0.05
    resolved_damage: float = 1.0
    resolved_phagocytes: float = 0.05
    horizon_hours: float = 720.0
    step_hours: float = 0.25
    block_size: int = 64
    record_every_hours: float = 1.0
    twin_kinds: frozenset[str] = field(default=frozenset({"ward", "icu", "step_down"}))

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name == "twin_kinds":
                continue
            if name.endswith("sigma") and value == 0:
                continue
            if not (math.isfinite(value) and value > 0):
                raise InvalidParameterError(
                    f"TwinCourseSettings.{name} must be a finite number > 0, got {value!r}"
                )
        if not self.deterioration_damage < self.death_damage:
            raise InvalidParameterError(
                f"deterioration_damage ({self.deterioration_damage}) must be below "
                f"death_damage ({self.death_damage})"
            )
