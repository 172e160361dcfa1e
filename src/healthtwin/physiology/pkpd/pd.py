"""Pharmacodynamics: sigmoid Emax, the BIS response surface, indirect-response models.

- Sigmoid Emax (Hill): ``E = E0 + Emax C^g / (EC50^g + C^g)``; a negative ``Emax`` is a
  falling effect (BIS).
- BIS from propofol and remifentanil effect-site concentrations with the Greco-type
  response surface of Bouillon et al. (Anesthesiology 100:1353-1372, 2004):
  ``U = (Up + Ur) / (1 - beta theta + beta theta^2)``, ``Up = Cp/C50p``,
  ``Ur = Cr/C50r``, ``theta = Up / (Up + Ur)``, ``BIS = E0 - Emax U^g / (1 + U^g)``.
- The four indirect-response models of Dayneka, Garg & Jusko (J Pharmacokinet Biopharm
  21:457-478, 1993): the drug inhibits (I) or stimulates (III) the production ``kin``,
  or inhibits (II) or stimulates (IV) the loss ``kout`` of a response ``R`` whose
  baseline is ``kin / kout``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType
from typing import ClassVar

import numpy as np

from healthtwin.core.params import Parameters
from healthtwin.core.solvers import dopri5, raise_on_failure
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidParameterError

__all__ = [
    "BOUILLON_2004_BIS",
    "BisSurface",
    "IndirectResponse",
    "IndirectResponseParameters",
    "bis_response_surface",
    "idr_baseline",
    "idr_rate",
    "integrate_pk_idr",
    "sigmoid_emax",
]


def sigmoid_emax(
    conc: FloatArray | float,
    e0: FloatArray | float,
    emax: FloatArray | float,
    ec50: FloatArray | float,
    gamma: FloatArray | float,
) -> FloatArray:
    """``E0 + Emax C^gamma / (EC50^gamma + C^gamma)``, broadcast over members.

    Negative concentrations (round-off below zero) count as zero.

    Examples
    --------
    >>> sigmoid_emax(np.array([0.0, 2.0]), 100.0, -80.0, 2.0, 3.0).tolist()
    [100.0, 60.0]
    """
    c = np.maximum(np.asarray(conc, dtype=np.float64), 0.0)
    ratio = (c / np.asarray(ec50, dtype=np.float64)) ** np.asarray(gamma, dtype=np.float64)
    return np.asarray(e0 + np.asarray(emax) * ratio / (1.0 + ratio), dtype=np.float64)


@dataclass(frozen=True)
class BisSurface:
    """Parameters of the propofol-remifentanil BIS response surface.

    ``c50_propofol_mg_l`` (µg/mL), ``c50_remifentanil_ug_l`` (ng/mL), ``gamma``,
    ``beta`` (interaction; 0 = additive), ``e0`` (awake BIS), ``emax`` (maximal fall).
    """

    c50_propofol_mg_l: float
    c50_remifentanil_ug_l: float
    gamma: float
    beta: float
    e0: float
    emax: float

    def __post_init__(self) -> None:
        for name in ("c50_propofol_mg_l", "c50_remifentanil_ug_l", "gamma", "e0", "emax"):
            if not getattr(self, name) > 0:
                raise InvalidParameterError(
                    f"BisSurface.{name} must be > 0, got {getattr(self, name)}"
                )


#: Bouillon et al. 2004, BIS model estimates. Values as tabulated by the independent
#: python-anesthesia-simulator 1.0.0 (``pd_models.BIS_model('Bouillon')``); the paper's
#: table could not be opened here to check them directly.
BOUILLON_2004_BIS = BisSurface(
    c50_propofol_mg_l=4.47,  # µg/mL, propofol C50 for BIS
    c50_remifentanil_ug_l=19.3,  # ng/mL, remifentanil C50 for BIS
    gamma=1.43,  # steepness
    beta=0.0,  # no interaction term for BIS
    e0=97.4,  # awake BIS
    emax=97.4,  # maximal fall = E0
)


def bis_response_surface(
    ce_propofol_mg_l: FloatArray | float,
    ce_remifentanil_ug_l: FloatArray | float = 0.0,
    surface: BisSurface = BOUILLON_2004_BIS,
) -> FloatArray:
    """BIS from effect-site concentrations (propofol µg/mL, remifentanil ng/mL).

    Examples
    --------
    >>> float(bis_response_surface(0.0)[()])
    97.4
    >>> round(float(bis_response_surface(4.47)[()]), 2)  # half the fall at C50
    48.7
    """
    up = np.maximum(np.asarray(ce_propofol_mg_l, dtype=np.float64), 0.0) / (
        surface.c50_propofol_mg_l
    )
    ur = np.maximum(np.asarray(ce_remifentanil_ug_l, dtype=np.float64), 0.0) / (
        surface.c50_remifentanil_ug_l
    )
    total = up + ur
    theta = np.divide(up, total, out=np.zeros_like(total), where=total > 0)
    u = total / (1.0 - surface.beta * theta + surface.beta * theta**2)
    ug = u**surface.gamma
    return np.asarray(surface.e0 - surface.emax * ug / (1.0 + ug), dtype=np.float64)


class IndirectResponse(IntEnum):
    """The four indirect-response models of Dayneka, Garg & Jusko (1993)."""

    INHIBIT_KIN = 1
    INHIBIT_KOUT = 2
    STIMULATE_KIN = 3
    STIMULATE_KOUT = 4


@dataclass(frozen=True, kw_only=True)
class IndirectResponseParameters(Parameters):
    """``kin`` (response/min), ``kout`` (1/min), ``emax`` (Imax in [0, 1] for inhibition,
    Smax > 0 for stimulation), ``ec50`` (IC50/SC50, concentration units), ``gamma``."""

    kin: float | FloatArray
    kout: float | FloatArray
    emax: float | FloatArray
    ec50: float | FloatArray
    gamma: float | FloatArray = 1.0

    positive: ClassVar[frozenset[str]] = frozenset({"kin", "kout", "ec50", "gamma"})
    nonnegative: ClassVar[frozenset[str]] = frozenset({"emax"})


def _drug_term(conc: FloatArray, p: IndirectResponseParameters) -> FloatArray:
    c = np.maximum(np.asarray(conc, dtype=np.float64), 0.0)
    ratio = (c / np.asarray(p.ec50)) ** np.asarray(p.gamma)
    return np.asarray(np.asarray(p.emax) * ratio / (1.0 + ratio), dtype=np.float64)


def idr_baseline(p: IndirectResponseParameters) -> FloatArray:
    """The drug-free steady state ``kin / kout``, shape ``(m,)``."""
    return np.asarray(np.asarray(p.kin) / np.asarray(p.kout), dtype=np.float64)


def idr_rate(
    kind: IndirectResponse, response: FloatArray, conc: FloatArray, p: IndirectResponseParameters
) -> FloatArray:
    """``dR/dt`` of indirect-response model ``kind`` at response ``R`` and concentration ``C``.

    Examples
    --------
    >>> p = IndirectResponseParameters(kin=2.0, kout=0.5, emax=1.0, ec50=1.0)
    >>> [float(idr_rate(k, np.array([4.0]), np.array([1.0]), p)[0]) for k in IndirectResponse]
    [-1.0, 1.0, 1.0, -1.0]
    """
    if kind in (IndirectResponse.INHIBIT_KIN, IndirectResponse.INHIBIT_KOUT) and np.any(
        np.asarray(p.emax) > 1
    ):
        raise InvalidParameterError(
            f"inhibition (model {int(kind)}) needs Imax in [0, 1], got "
            f"{np.asarray(p.emax).tolist()}"
        )
    drug = _drug_term(conc, p)
    kin, kout = np.asarray(p.kin), np.asarray(p.kout)
    r = np.asarray(response, dtype=np.float64)
    rates: Mapping[IndirectResponse, FloatArray] = MappingProxyType(
        {
            IndirectResponse.INHIBIT_KIN: kin * (1 - drug) - kout * r,
            IndirectResponse.INHIBIT_KOUT: kin - kout * (1 - drug) * r,
            IndirectResponse.STIMULATE_KIN: kin * (1 + drug) - kout * r,
            IndirectResponse.STIMULATE_KOUT: kin - kout * (1 + drug) * r,
        }
    )
    return np.asarray(rates[kind], dtype=np.float64)


def integrate_pk_idr(
    kind: IndirectResponse,
    p: IndirectResponseParameters,
    a: FloatArray,
    x: FloatArray,
    response: FloatArray,
    central: int,
    v1_l: FloatArray,
    duration: float,
    *,
    rtol: float = 1e-10,
    atol: float = 1e-12,
) -> tuple[FloatArray, FloatArray]:
    """Integrate a linear PK system ``dx/dt = A x`` and an IDR response driven by ``C = x_c/V1``.

    Parameters
    ----------
    kind, p
        Indirect-response model and its parameters (shared or per member).
    a
        PK system matrix per member, ``(n, d, d)`` (:func:`system_matrix`).
    x, response
        PK state ``(n, d)`` and response ``(n,)`` at the start.
    central, v1_l
        Column of the central amount and the central volume per member ``(n,)``.
    duration
        Interval length (min); no inputs during it.

    Returns
    -------
    tuple of numpy.ndarray
        PK state ``(n, d)`` and response ``(n,)`` at the end.
    """
    d = x.shape[1]
    v1 = np.asarray(v1_l, dtype=np.float64)

    def f(z: FloatArray) -> FloatArray:
        out = np.empty_like(z)
        out[:, :d] = np.einsum("nij,nj->ni", a, z[:, :d])
        out[:, d] = idr_rate(kind, z[:, d], z[:, central] / v1, p)
        return out

    z0 = np.concatenate([x, np.asarray(response, dtype=np.float64)[:, None]], axis=1)
    res = dopri5(f, z0, duration, rtol=rtol, atol=atol)
    raise_on_failure(res.status, "indirect response")
    return res.x[:, :d], res.x[:, d]
