"""Equations of the UVA/Padova S2008 model: parameters, derivatives, meal clock, basal state.

Dalla Man, Rizza & Cobelli (IEEE TBME 54:1740-1749, 2007) in the type-1 form of the S2008
simulator (Kovatchev et al., JDST 3:44-55, 2009). The derivative and meal-clock functions
use arithmetic only, so one source runs vectorized over members (numpy) and per member
(compiled by numba); see :mod:`healthtwin.physiology.uva_padova_kernels`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from healthtwin.core.params import Parameters
from healthtwin.core.types import FloatArray

__all__ = [
    "EAT_RATE_G_PER_MIN",
    "PMOL_PER_U",
    "STATE_NAMES",
    "STATE_UNITS",
    "UvaPadovaParameters",
    "derivatives",
    "meal_tick",
    "parameter_index",
    "rhs_columns",
    "steady_state",
    "uva_padova_rhs",
]

#: Carbohydrate intake rate while eating (simglucose's EAT_RATE).
EAT_RATE_G_PER_MIN = 5.0
#: Insulin unit conversion: 1 U = 6000 pmol.
PMOL_PER_U = 6000.0

STATE_NAMES: tuple[str, ...] = (
    "stomach_solid_mg",
    "stomach_liquid_mg",
    "gut_mg",
    "plasma_glucose_mg_per_kg",
    "tissue_glucose_mg_per_kg",
    "plasma_insulin_pmol_per_kg",
    "insulin_action_pmol_per_l",
    "delayed_insulin_1_pmol_per_l",
    "delayed_insulin_pmol_per_l",
    "liver_insulin_pmol_per_kg",
    "sc_insulin_1_pmol_per_kg",
    "sc_insulin_2_pmol_per_kg",
    "sc_glucose_mg_per_kg",
)
STATE_UNITS = (
    "mg",
    "mg",
    "mg",
    "mg/kg",
    "mg/kg",
    "pmol/kg",
    "pmol/L",
    "pmol/L",
    "pmol/L",
    "pmol/kg",
    "pmol/kg",
    "pmol/kg",
    "mg/kg",
)


@dataclass(frozen=True, kw_only=True)
class UvaPadovaParameters(Parameters):
    """Parameters of the S2008 model (names and units as in Dalla Man 2007 / simglucose).

    Derived basal quantities (``kp1``, ``Vm0``, ``m2``, ``m4``, ``m30``, ``u2ss``) must be
    consistent with the basal state; :func:`steady_state` derives them for a new subject.
    """

    BW: float | FloatArray  # body weight, kg
    Gb: float | FloatArray  # basal plasma glucose, mg/dL
    Ib: float | FloatArray  # basal plasma insulin, pmol/L
    Vg: float | FloatArray  # glucose distribution volume, dL/kg
    Vi: float | FloatArray  # insulin distribution volume, L/kg
    kabs: float | FloatArray  # intestinal absorption rate, 1/min
    kmax: float | FloatArray  # max gastric emptying rate, 1/min
    kmin: float | FloatArray  # min gastric emptying rate, 1/min
    b: float | FloatArray  # fraction of dose where kempt falls to (kmax+kmin)/2, -
    d: float | FloatArray  # fraction of dose where kempt recovers to (kmax+kmin)/2, -
    f: float | FloatArray  # fraction of intestinal absorption appearing in plasma, -
    k1: float | FloatArray  # plasma -> tissue glucose rate, 1/min
    k2: float | FloatArray  # tissue -> plasma glucose rate, 1/min
    kp1: float | FloatArray  # EGP extrapolated at zero glucose and insulin, mg/kg/min
    kp2: float | FloatArray  # liver glucose effectiveness, 1/min
    kp3: float | FloatArray  # insulin action on the liver, mg/kg/min per pmol/L
    ki: float | FloatArray  # delay of insulin action on the liver, 1/min
    Fsnc: float | FloatArray  # insulin-independent utilisation, mg/kg/min
    Vm0: float | FloatArray  # basal max utilisation, mg/kg/min
    Vmx: float | FloatArray  # insulin sensitivity of utilisation, mg/kg/min per pmol/L
    Km0: float | FloatArray  # Michaelis-Menten constant of utilisation, mg/kg
    p2u: float | FloatArray  # rate of insulin action on utilisation, 1/min
    m1: float | FloatArray  # liver -> plasma insulin rate, 1/min
    m2: float | FloatArray  # plasma -> liver insulin rate, 1/min
    m4: float | FloatArray  # peripheral insulin degradation, 1/min
    m30: float | FloatArray  # hepatic insulin extraction at basal, 1/min
    ke1: float | FloatArray  # renal glomerular filtration rate, 1/min
    ke2: float | FloatArray  # renal threshold, mg/kg
    kd: float | FloatArray  # subcutaneous insulin transfer, 1/min
    ka1: float | FloatArray  # absorption from depot 1, 1/min
    ka2: float | FloatArray  # absorption from depot 2, 1/min
    ksc: float | FloatArray  # subcutaneous glucose exchange, 1/min
    u2ss: float | FloatArray  # steady-state insulin infusion, pmol/kg/min

    positive: ClassVar[frozenset[str]] = frozenset(
        {
            "BW",
            "Gb",
            "Vg",
            "Vi",
            "kabs",
            "kmax",
            "kmin",
            "k1",
            "k2",
            "ki",
            "Km0",
            "p2u",
            "ka1",
            "ka2",
            "ksc",
            "f",
        }
    )
    nonnegative: ClassVar[frozenset[str]] = frozenset(
        {
            "Ib",
            "kp1",
            "kp2",
            "kp3",
            "Fsnc",
            "Vm0",
            "Vmx",
            "m1",
            "m2",
            "m4",
            "m30",
            "ke1",
            "ke2",
            "kd",
            "u2ss",
        }
    )
    fractions: ClassVar[frozenset[str]] = frozenset({"b", "d", "f"})

    def basal_insulin_u_per_min(self) -> FloatArray:
        """Steady-state basal insulin rate ``u2ss * BW / 6000`` in U/min, shape ``(m,)``."""
        return np.asarray(np.asarray(self.u2ss) * np.asarray(self.BW) / PMOL_PER_U)


# Column indices into the parameter matrix, fixed by the field order above.
_P = {name: i for i, name in enumerate(UvaPadovaParameters.names())}
I_BW = _P["BW"]
I_IB = _P["Ib"]
I_VI = _P["Vi"]
I_KABS = _P["kabs"]
I_KMAX = _P["kmax"]
I_KMIN = _P["kmin"]
I_B = _P["b"]
I_D = _P["d"]
I_F = _P["f"]
I_K1 = _P["k1"]
I_K2 = _P["k2"]
I_KP1 = _P["kp1"]
I_KP2 = _P["kp2"]
I_KP3 = _P["kp3"]
I_KI = _P["ki"]
I_FSNC = _P["Fsnc"]
I_VM0 = _P["Vm0"]
I_VMX = _P["Vmx"]
I_KM0 = _P["Km0"]
I_P2U = _P["p2u"]
I_M1 = _P["m1"]
I_M2 = _P["m2"]
I_M4 = _P["m4"]
I_M30 = _P["m30"]
I_KE1 = _P["ke1"]
I_KE2 = _P["ke2"]
I_KD = _P["kd"]
I_KA1 = _P["ka1"]
I_KA2 = _P["ka2"]
I_KSC = _P["ksc"]


def uva_padova_rhs(x: FloatArray, u: FloatArray, p: FloatArray) -> FloatArray:
    """Time derivative of the 13 states with inputs held.

    Parameters
    ----------
    x
        States, shape ``(n, 13)`` in ``STATE_NAMES`` order.
    u
        Held inputs, shape ``(n, 3)``: carbohydrate intake (mg/min), subcutaneous insulin
        rate (pmol/kg/min), gastric-emptying reference ``Dbar`` (mg).
    p
        Parameter matrix, shape ``(n, n_parameters)`` (:meth:`Parameters.to_matrix`).

    Returns
    -------
    numpy.ndarray
        ``dx/dt``, shape ``(n, 13)``.
    """
    xs = np.ascontiguousarray(x.T)
    out = np.empty_like(xs)
    rhs_columns(xs, np.ascontiguousarray(u.T), np.ascontiguousarray(p.T), out)
    return np.ascontiguousarray(out.T)


def derivatives(x: Any, u: Any, c: Any) -> tuple[Any, ...]:
    """The 13 derivatives from indexable states, inputs and parameters.

    Written with arithmetic only (no ``np.where``), so the one source serves rows of
    members under numpy (``x[i]`` of shape ``(n,)``) and one member's scalars under numba.
    """
    kmax = c[I_KMAX]
    b = c[I_B]
    d = c[I_D]
    qsto = x[0] + x[1]
    has_ref = u[2] > 0
    ref = u[2] + (u[2] <= 0)  # Dbar, or 1 where no meal has begun (kgut = kmax there)
    alpha = 5.0 / (2.0 * ref * (1.0 - b))
    beta = 5.0 / (2.0 * ref * d)
    shape = np.tanh(alpha * (qsto - b * ref)) - np.tanh(beta * (qsto - d * ref)) + 2.0
    kgut = kmax + has_ref * (c[I_KMIN] - kmax + 0.5 * (kmax - c[I_KMIN]) * shape)
    gp = x[3]
    gt = x[4]
    ra = c[I_F] * c[I_KABS] * x[2] / c[I_BW]
    egp = np.maximum(c[I_KP1] - c[I_KP2] * gp - c[I_KP3] * x[8], 0.0)
    renal = c[I_KE1] * np.maximum(gp - c[I_KE2], 0.0)
    uid = (c[I_VM0] + c[I_VMX] * x[6]) * gt / (c[I_KM0] + gt)
    plasma_insulin = x[5] / c[I_VI]
    return (
        u[0] - kmax * x[0],
        kmax * x[0] - kgut * x[1],
        kgut * x[1] - c[I_KABS] * x[2],
        (egp + ra - c[I_FSNC] - renal - c[I_K1] * gp + c[I_K2] * gt) * (gp >= 0),
        (c[I_K1] * gp - c[I_K2] * gt - uid) * (gt >= 0),
        (c[I_M1] * x[9] + c[I_KA1] * x[10] + c[I_KA2] * x[11] - (c[I_M2] + c[I_M4]) * x[5])
        * (x[5] >= 0),
        c[I_P2U] * (plasma_insulin - c[I_IB] - x[6]),
        c[I_KI] * (plasma_insulin - x[7]),
        c[I_KI] * (x[7] - x[8]),
        (c[I_M2] * x[5] - (c[I_M1] + c[I_M30]) * x[9]) * (x[9] >= 0),
        (u[1] - (c[I_KA1] + c[I_KD]) * x[10]) * (x[10] >= 0),
        (c[I_KD] * x[10] - c[I_KA2] * x[11]) * (x[11] >= 0),
        c[I_KSC] * (gp - x[12]) * (x[12] >= 0),
    )


def rhs_columns(x: FloatArray, u: FloatArray, c: FloatArray, dx: FloatArray) -> None:
    """:func:`uva_padova_rhs` on member-contiguous rows: ``x`` (13, n), ``u`` (3, n),
    ``c`` (n_parameters, n); writes ``dx`` (13, n). Also takes one member's vectors
    (``x`` (13,), ``u`` (3,), ``c`` (n_parameters,)).
    """
    (
        dx[0],
        dx[1],
        dx[2],
        dx[3],
        dx[4],
        dx[5],
        dx[6],
        dx[7],
        dx[8],
        dx[9],
        dx[10],
        dx[11],
        dx[12],
    ) = derivatives(x, u, c)


def meal_tick(
    planned_g: Any, cho_g_per_min: Any, start_stomach_mg: Any, eaten_g: Any, stomach_mg: Any
) -> tuple[Any, Any, Any, Any]:
    """One clock tick of the meal: eat up to 5 g/min of what is announced.

    A meal begins when intake starts after a tick without intake; then the gastric
    reference restarts from the stomach content (simglucose's ``_last_Qsto``). Arithmetic
    only, so it serves member rows (numpy) and scalars (numba) alike.

    Returns
    -------
    tuple
        Planned (g), intake rate over the tick (g/min), stomach content at meal start
        (mg), carbohydrate eaten since the meal began (g).
    """
    to_eat = np.minimum(EAT_RATE_G_PER_MIN, planned_g)
    starting = (to_eat > 0) & (cho_g_per_min <= 0)
    start = starting * stomach_mg + (1 - starting) * start_stomach_mg
    eaten = (1 - starting) * eaten_g + to_eat
    return planned_g - to_eat, to_eat, start, eaten


def steady_state(params: UvaPadovaParameters) -> FloatArray:
    """The basal state (no meal, basal insulin ``u2ss``), shape ``(m, 13)``.

    Uses Gp = Gb Vg, tissue glucose from the plasma balance, Ip = Ib Vi, liver insulin
    from its balance and the subcutaneous depots at infusion ``u2ss``. Parameters whose
    derived values (kp1, Vm0, u2ss) do not balance these equations give a state that
    drifts; :meth:`UvaPadovaPatient.from_physiology` builds a consistent subject.
    """
    m = params.n_members
    c = params.to_matrix(m).T
    gp = c[_P["Gb"]] * c[_P["Vg"]]
    egp = np.maximum(c[I_KP1] - c[I_KP2] * gp - c[I_KP3] * c[I_IB], 0.0)
    renal = (gp > c[I_KE2]) * (c[I_KE1] * (gp - c[I_KE2]))
    gt = (c[_P["Fsnc"]] + renal - egp + c[_P["k1"]] * gp) / c[_P["k2"]]
    ip = c[_P["Ib"]] * c[_P["Vi"]]
    il = c[_P["m2"]] * ip / (c[_P["m1"]] + c[_P["m30"]])
    isc1 = c[_P["u2ss"]] / (c[_P["kd"]] + c[_P["ka1"]])
    isc2 = c[_P["kd"]] * isc1 / c[_P["ka2"]]
    zeros = np.zeros(m)
    ib = c[_P["Ib"]]
    return np.stack([zeros, zeros, zeros, gp, gt, ip, zeros, ib, ib, il, isc1, isc2, gp], 1)


def parameter_index(name: str) -> int:
    """Column of parameter ``name`` in a parameter matrix (``state.theta``)."""
    return _P[name]
