"""Per-member parameters of a linear PK model with an effect site and sigmoid Emax PD."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from healthtwin.core.params import Parameters
from healthtwin.core.types import FloatArray

__all__ = ["PkPdParameters"]


@dataclass(frozen=True, kw_only=True)
class PkPdParameters(Parameters):
    """Micro-constants of a mammillary PK model, its effect site and a sigmoid Emax effect.

    Every field is a float (shared) or an array with one value per member. Concentrations
    are in the model's dose unit per litre (mg/L = µg/mL for mg doses, µg/L = ng/mL for µg
    doses).

    Examples
    --------
    >>> p = PkPdParameters(v1_l=10.0, k10=0.1)
    >>> p.names()[:3], float(p.bioavailability[0])
    (('v1_l', 'k10', 'k12'), 1.0)
    """

    v1_l: float | FloatArray  # central volume, L
    k10: float | FloatArray  # elimination from central, 1/min
    k12: float | FloatArray = 0.0  # central -> peripheral 1, 1/min
    k21: float | FloatArray = 0.0  # peripheral 1 -> central, 1/min
    k13: float | FloatArray = 0.0  # central -> peripheral 2, 1/min
    k31: float | FloatArray = 0.0  # peripheral 2 -> central, 1/min
    ka: float | FloatArray = 0.0  # first-order absorption from the depot, 1/min
    bioavailability: float | FloatArray = 1.0  # fraction of an oral dose reaching the depot
    ke0: float | FloatArray = 0.0  # plasma / effect-site equilibration, 1/min
    e0: float | FloatArray = 0.0  # effect without drug
    emax: float | FloatArray = 0.0  # maximal change of effect (negative: falls)
    ec50: float | FloatArray = 1.0  # effect-site concentration of half the change
    gamma: float | FloatArray = 1.0  # steepness (Hill coefficient)

    positive: ClassVar[frozenset[str]] = frozenset({"v1_l", "ec50", "gamma"})
    nonnegative: ClassVar[frozenset[str]] = frozenset(
        {"k10", "k12", "k21", "k13", "k31", "ka", "ke0"}
    )
    fractions: ClassVar[frozenset[str]] = frozenset({"bioavailability"})
