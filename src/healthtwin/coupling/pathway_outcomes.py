"""What a hospital's pathways imply for one admitted patient: ICU share, ICU days, fatality.

A hospital's pathways (:class:`~healthtwin.hospital.config.HospitalConfig`) are an
absorbing Markov chain over its units: from unit ``i`` a patient goes to unit ``j`` with
probability ``Q_ij`` or leaves by ``discharge`` or ``death``. With the fundamental matrix
``N = (I - Q)^-1`` (``N_ij``: expected visits to ``j`` of a patient now entering ``i``;
Kemeny & Snell 1960, *Finite Markov Chains*, ch. III), a patient admitted to the entry
unit ``e``

- visits the ICU ``c`` on average ``N_ec`` times,
- reaches it at least once with probability ``N_ec / N_cc``,
- dies with probability ``sum_i N_ei * death_i``.

The population model has one ward -> ICU branch per patient (``icu_fraction``, then
``icu_stay_days`` in the ICU), so the share that ever reaches the ICU is its
``icu_fraction`` and the expected ICU days of those who do, ``N_ec / P(reach) *
mean ICU stay``, its ``icu_stay_days``: the two models then give the same expected
ICU bed-days per admission. With patient twins the ICU transfers are the twins' (their
deterioration), not the pathway's; the pathway is the hospital's stated expectation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from healthtwin.errors import InvalidParameterError
from healthtwin.hospital.config import HospitalConfig

__all__ = ["PathwayOutcomes", "pathway_outcomes"]


@dataclass(frozen=True)
class PathwayOutcomes:
    """Expected outcomes of one patient admitted to a hospital's entry unit.

    Attributes
    ----------
    icu_share : float
        Probability of reaching the ICU at least once (0 without an ICU unit).
    icu_visits : float
        Expected number of ICU admissions.
    icu_stay_days : float or None
        Expected ICU days of a patient who reaches the ICU (None when nobody does).
    fatality : float
        Probability of leaving by ``death``.
    """

    icu_share: float
    icu_visits: float
    icu_stay_days: float | None
    fatality: float


def pathway_outcomes(
    config: HospitalConfig, entry_unit: str, icu_unit: str | None
) -> PathwayOutcomes:
    """Outcomes the pathways imply for a patient entering ``entry_unit`` (module docstring).

    Parameters
    ----------
    config
        The hospital (units with their stays, pathways).
    entry_unit
        The unit admitted patients enter.
    icu_unit
        The ICU unit (None: the hospital has none).

    Raises
    ------
    InvalidParameterError
        A unit that is not in the hospital's units.

    Examples
    --------
    >>> config = HospitalConfig.model_validate({"units": {
    ...     "ward": {"kind": "ward", "beds": 20, "los_hours": {"dist": "fixed", "mean": 120}},
    ...     "icu": {"kind": "icu", "beds": 4, "los_hours": {"dist": "fixed", "mean": 192}}},
    ...     "pathways": {"ward": {"icu": 0.12, "discharge": 0.83, "death": 0.05},
    ...                  "icu": {"ward": 0.6, "discharge": 0.1, "death": 0.3}}})
    >>> out = pathway_outcomes(config, "ward", "icu")
    >>> round(out.icu_share, 4), round(out.fatality, 4), round(out.icu_stay_days, 2)
    (0.12, 0.0927, 8.62)
    """
    units = list(config.units)
    for name in (entry_unit, icu_unit):
        if name is not None and name not in config.units:
            raise InvalidParameterError(
                f"unit {name!r} is not one of the hospital's units {sorted(units)}"
            )
    index = {u: i for i, u in enumerate(units)}
    q = np.zeros((len(units), len(units)))
    death = np.zeros(len(units))
    for unit, routes in config.pathways.items():
        total = sum(routes.values())
        for target, p in routes.items():
            if target == "death":
                death[index[unit]] = p / total
            elif target in index:
                q[index[unit], index[target]] = p / total
    fundamental = np.linalg.inv(np.eye(len(units)) - q)
    e = index[entry_unit]
    fatality = float(fundamental[e] @ death)
    if icu_unit is None:
        return PathwayOutcomes(0.0, 0.0, None, fatality)
    c = index[icu_unit]
    visits = float(fundamental[e, c])
    share = visits / float(fundamental[c, c]) if entry_unit != icu_unit else 1.0
    stay_days = config.units[icu_unit].los_hours.mean_hours() / 24.0
    icu_days = None if share <= 0 else visits / share * stay_days
    return PathwayOutcomes(share, visits, icu_days, fatality)


def pooled_icu(outcomes: list[PathwayOutcomes], weights: list[float]) -> tuple[float, float | None]:
    """``(icu_fraction, icu_stay_days)`` of hospitals pooled by their share of admissions.

    ``weights`` are each hospital's expected share of the admissions (any positive
    scale). The ICU share is the weighted mean share; the ICU stay is the weighted ICU
    days per admission divided by it, so the pool has the hospitals' ICU bed-days per
    admission (None when nobody reaches an ICU).

    Examples
    --------
    >>> a = PathwayOutcomes(0.1, 0.1, 10.0, 0.1)
    >>> b = PathwayOutcomes(0.3, 0.3, 5.0, 0.1)
    >>> share, stay = pooled_icu([a, b], [3.0, 1.0])
    >>> round(share, 4), round(stay, 4)
    (0.15, 7.5)
    """
    w = np.asarray(weights, dtype=float)
    if w.size != len(outcomes) or w.size == 0 or (w < 0).any() or w.sum() <= 0:
        raise InvalidParameterError(
            f"need one non-negative weight per hospital with a positive sum; got {w.tolist()}"
        )
    w = w / w.sum()
    pairs = list(zip(w, outcomes, strict=True))
    share = float(sum(wi * o.icu_share for wi, o in pairs))
    days = sum(wi * o.icu_share * (o.icu_stay_days or 0.0) for wi, o in pairs)
    return share, (float(days) / share if share > 0 else None)
