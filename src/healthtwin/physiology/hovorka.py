"""Hovorka 2004 type-1 diabetes model (Cambridge model, 10 states, insulin-only).

Equations of Hovorka et al., "Nonlinear model predictive control of glucose concentration
in subjects with type 1 diabetes", Physiol Meas 25:905-920 (2004), eqs. 1-12, with the
nominal parameters of its Table 1. Quantities are totals for a subject of body weight
``BW`` (per-kg parameters are multiplied by ``BW``):

- glucose: ``dQ1/dt = -F01c - x1 Q1 + k12 Q2 - FR + UG + EGP0 BW (1 - x3)`` and
  ``dQ2/dt = x1 Q1 - (k12 + x2) Q2``, with ``G = Q1 / (VG BW)`` in mmol/L,
  ``F01c = F01 BW min(G / 4.5, 1)`` and ``FR = 0.003 (G - 9) VG BW`` when ``G >= 9``;
- insulin action: ``dxi/dt = -kai xi + kbi I`` with ``kbi = S_i kai`` for
  ``(ka1, S_IT)``, ``(ka2, S_ID)``, ``(ka3, S_IE)``;
- subcutaneous insulin: ``dS1/dt = u - S1 / tmax_I``, ``dS2/dt = (S1 - S2) / tmax_I``,
  ``dI/dt = S2 / (tmax_I VI BW) - ke I``;
- gut: the paper's closed form ``UG(t) = DG AG t exp(-t / tmax_G) / tmax_G**2`` is
  written as the equivalent linear chain ``dD1/dt = -D1 / tmax_G``,
  ``dD2/dt = (D1 - D2) / tmax_G``, ``UG = D2 / tmax_G``; a meal of ``DG`` mmol adds
  ``AG DG`` to ``D1``, which gives exactly the closed form for every meal (the chain is
  linear, so meals superpose as in the paper).

Endogenous production ``EGP0 (1 - x3)`` is not clipped at zero, as in the paper (net
hepatic uptake under high insulin). The paper has no interstitial (CGM) compartment and
none is added here; :mod:`healthtwin.physiology.cgm` models the sensor.

Units: glucose masses mmol, insulin amounts mU, insulin concentration mU/L, time min.
A gram of carbohydrate counts as ``1000 / 180.16`` mmol of glucose; mmol/L times
``18.016`` (= 180.16 / 10) gives mg/dL.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar

import numpy as np

from healthtwin.core.held_ode import HeldOdeModel
from healthtwin.core.inputs import Inputs, Rate
from healthtwin.core.params import Parameters
from healthtwin.core.protocols import channels
from healthtwin.core.segments import hold_inputs
from healthtwin.core.solvers import RK4_STABILITY_RADIUS
from healthtwin.core.state import ArrayState, check_member_count
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidParameterError

__all__ = [
    "GLUCOSE_MG_PER_MMOL",
    "HOVORKA_2004_TABLE1",
    "MG_DL_PER_MMOL_L",
    "STATE_NAMES",
    "Hovorka",
    "HovorkaParameters",
    "HovorkaState",
    "basal_glucose_for_insulin",
    "basal_insulin_for_glucose",
    "hovorka_nominal_parameters",
    "hovorka_rhs",
    "jacobian_spectral_radius",
    "steady_state",
]

#: Molar mass of glucose, g/mol (= mg/mmol).
GLUCOSE_MG_PER_MMOL = 180.16
#: mmol/L -> mg/dL for glucose (180.16 mg/mmol over 10 dL/L).
MG_DL_PER_MMOL_L = GLUCOSE_MG_PER_MMOL / 10.0
#: 1 U of insulin = 1000 mU.
MU_PER_U = 1000.0
#: Glucose below which the non-insulin-dependent flux falls linearly (Hovorka 2004, eq. 6).
F01_THRESHOLD_MMOL_L = 4.5
#: Renal threshold and clearance rate (Hovorka 2004, eq. 7).
RENAL_THRESHOLD_MMOL_L = 9.0
RENAL_CLEARANCE_PER_MIN = 0.003
#: The RK4 step limit is recomputed from the current state at least this often (min).
LIMIT_REFRESH_MIN = 30.0
#: Fraction of the RK4 stability extent used; the margin covers insulin action rising
#: within one refresh interval (x1 moves at ka1 = 0.006/min).
LIMIT_SAFETY = 0.5

STATE_NAMES: tuple[str, ...] = (
    "plasma_glucose_mmol",
    "tissue_glucose_mmol",
    "sc_insulin_1_mu",
    "sc_insulin_2_mu",
    "plasma_insulin_mu_per_l",
    "insulin_action_transport_per_min",
    "insulin_action_disposal_per_min",
    "insulin_action_egp",
    "gut_glucose_1_mmol",
    "gut_glucose_2_mmol",
)
_STATE_UNITS = ("mmol", "mmol", "mU", "mU", "mU/L", "1/min", "1/min", "1", "mmol", "mmol")

#: Table 1 of Hovorka et al. 2004 (Physiol Meas 25:905-920); values checked against the
#: public implementations hpeuscher/loopinsight1 src/core/models/Hovorka.js and
#: jonasnm/svelte-flask-hovorka-simulator hovorka_simulator.py, which agree on every one.
HOVORKA_2004_TABLE1: Mapping[str, float] = MappingProxyType(
    {
        "EGP0": 0.0161,  # mmol/kg/min, EGP extrapolated to zero insulin
        "F01": 0.0097,  # mmol/kg/min, non-insulin-dependent glucose flux
        "k12": 0.066,  # 1/min, transfer Q2 -> Q1
        "ka1": 0.006,  # 1/min, deactivation of x1
        "ka2": 0.06,  # 1/min, deactivation of x2
        "ka3": 0.03,  # 1/min, deactivation of x3
        "SIT": 51.2e-4,  # 1/min per mU/L, insulin sensitivity of transport/distribution
        "SID": 8.2e-4,  # 1/min per mU/L, insulin sensitivity of disposal
        "SIE": 520e-4,  # 1 per mU/L, insulin sensitivity of EGP
        "VG": 0.16,  # L/kg, glucose distribution volume
        "VI": 0.12,  # L/kg, insulin distribution volume
        "ke": 0.138,  # 1/min, insulin elimination from plasma
        "tmax_i": 55.0,  # min, time-to-maximum of s.c. insulin absorption
        "AG": 0.8,  # -, carbohydrate bioavailability
        "tmax_g": 40.0,  # min, time-to-maximum of carbohydrate absorption
    }
)


@dataclass(frozen=True, kw_only=True)
class HovorkaParameters(Parameters):
    """Parameters of the Hovorka 2004 model (symbols of the paper; per-kg where noted).

    ``Gb`` is not a model parameter of the paper: it is the basal glucose a member starts
    at, and sets the basal insulin rate that holds it (:func:`basal_insulin_for_glucose`).
    """

    BW: float | FloatArray  # body weight, kg
    Gb: float | FloatArray  # basal plasma glucose, mmol/L
    EGP0: float | FloatArray  # EGP at zero insulin, mmol/kg/min
    F01: float | FloatArray  # non-insulin-dependent glucose flux, mmol/kg/min
    k12: float | FloatArray  # transfer from the non-accessible compartment, 1/min
    ka1: float | FloatArray  # deactivation rate of x1, 1/min
    ka2: float | FloatArray  # deactivation rate of x2, 1/min
    ka3: float | FloatArray  # deactivation rate of x3, 1/min
    SIT: float | FloatArray  # insulin sensitivity of transport, 1/min per mU/L
    SID: float | FloatArray  # insulin sensitivity of disposal, 1/min per mU/L
    SIE: float | FloatArray  # insulin sensitivity of EGP, 1 per mU/L
    VG: float | FloatArray  # glucose distribution volume, L/kg
    VI: float | FloatArray  # insulin distribution volume, L/kg
    ke: float | FloatArray  # insulin elimination rate, 1/min
    tmax_i: float | FloatArray  # time-to-maximum of s.c. insulin absorption, min
    AG: float | FloatArray  # carbohydrate bioavailability, -
    tmax_g: float | FloatArray  # time-to-maximum of carbohydrate absorption, min

    positive: ClassVar[frozenset[str]] = frozenset(
        {"BW", "Gb", "EGP0", "k12", "ka1", "ka2", "ka3", "VG", "VI", "ke", "tmax_i", "tmax_g", "AG"}
    )
    nonnegative: ClassVar[frozenset[str]] = frozenset({"F01", "SIT", "SID", "SIE"})
    fractions: ClassVar[frozenset[str]] = frozenset({"AG"})

    def __post_init__(self) -> None:
        super().__post_init__()
        m = self.n_members
        gb = np.broadcast_to(np.asarray(self.Gb), (m,))
        egp0 = np.broadcast_to(np.asarray(self.EGP0), (m,))
        need = _non_insulin_uptake_per_kg(self.to_matrix(m), gb)
        bad = need >= egp0
        if np.any(bad):
            raise InvalidParameterError(
                f"HovorkaParameters.Gb={gb[bad].tolist()} mmol/L cannot be held by any basal "
                f"insulin: insulin-independent uptake and renal loss ({need[bad].tolist()} "
                f"mmol/kg/min) reach EGP0 ({egp0[bad].tolist()}); choose a lower Gb or a "
                "larger EGP0"
            )


# Column indices into the parameter matrix, fixed by the field order above.
_P = {name: i for i, name in enumerate(HovorkaParameters.names())}


def hovorka_nominal_parameters(
    *, body_weight_kg: float = 70.0, basal_glucose_mmol_l: float = 6.0
) -> HovorkaParameters:
    """The Table 1 subject of Hovorka 2004 at a body weight and basal glucose.

    The paper gives per-kg values; 70 kg and 6 mmol/L (its control target) are this
    package's defaults for the nominal patient, not values from Table 1.

    Examples
    --------
    >>> p = hovorka_nominal_parameters()
    >>> round(float(basal_insulin_for_glucose(p, 6.0)[0]) * 60, 3)  # U/h
    0.386
    """
    return HovorkaParameters(
        BW=body_weight_kg, Gb=basal_glucose_mmol_l, **dict(HOVORKA_2004_TABLE1)
    )


def _non_insulin_uptake_per_kg(c: FloatArray, g: FloatArray) -> FloatArray:
    """``(F01c + FR) / BW`` at glucose ``g`` (mmol/L), mmol/kg/min, shape ``(m,)``."""
    t = c.T
    f01c = t[_P["F01"]] * np.minimum(g / F01_THRESHOLD_MMOL_L, 1.0)
    renal = RENAL_CLEARANCE_PER_MIN * np.maximum(g - RENAL_THRESHOLD_MMOL_L, 0.0) * t[_P["VG"]]
    return np.asarray(f01c + renal)


def hovorka_rhs(x: FloatArray, u: FloatArray, p: FloatArray) -> FloatArray:
    """Time derivative of the 10 states with the insulin rate held.

    Parameters
    ----------
    x
        States, shape ``(n, 10)`` in ``STATE_NAMES`` order.
    u
        Held input, shape ``(n, 1)``: subcutaneous insulin infusion, mU/min.
    p
        Parameter matrix, shape ``(n, n_parameters)`` (:meth:`Parameters.to_matrix`).

    Returns
    -------
    numpy.ndarray
        ``dx/dt``, shape ``(n, 10)``.

    Examples
    --------
    >>> p = hovorka_nominal_parameters()
    >>> x = steady_state(p)
    >>> u = basal_insulin_for_glucose(p, 6.0)[:, None] * 1000.0
    >>> bool(np.allclose(hovorka_rhs(x, u, p.to_matrix()), 0.0, atol=1e-12))
    True
    """
    c = p.T
    q1, q2, s1, s2, ins, x1, x2, x3, d1, d2 = x.T
    bw = c[_P["BW"]]
    vg = c[_P["VG"]] * bw
    g = q1 / vg
    f01c = c[_P["F01"]] * bw * np.minimum(g / F01_THRESHOLD_MMOL_L, 1.0)
    renal = RENAL_CLEARANCE_PER_MIN * np.maximum(g - RENAL_THRESHOLD_MMOL_L, 0.0) * vg
    tmax_i, tmax_g = c[_P["tmax_i"]], c[_P["tmax_g"]]
    k12 = c[_P["k12"]]
    ka1, ka2, ka3 = c[_P["ka1"]], c[_P["ka2"]], c[_P["ka3"]]
    dx = np.empty_like(x)
    dx[:, 0] = -f01c - x1 * q1 + k12 * q2 - renal + d2 / tmax_g + c[_P["EGP0"]] * bw * (1.0 - x3)
    dx[:, 1] = x1 * q1 - (k12 + x2) * q2
    dx[:, 2] = u[:, 0] - s1 / tmax_i
    dx[:, 3] = (s1 - s2) / tmax_i
    dx[:, 4] = s2 / (tmax_i * c[_P["VI"]] * bw) - c[_P["ke"]] * ins
    dx[:, 5] = ka1 * (c[_P["SIT"]] * ins - x1)
    dx[:, 6] = ka2 * (c[_P["SID"]] * ins - x2)
    dx[:, 7] = ka3 * (c[_P["SIE"]] * ins - x3)
    dx[:, 8] = -d1 / tmax_g
    dx[:, 9] = (d1 - d2) / tmax_g
    return dx


def basal_insulin_for_glucose(
    params: HovorkaParameters, g_mmol_l: float | FloatArray
) -> FloatArray:
    """The constant insulin rate (U/min) whose steady state has plasma glucose ``g``.

    At steady state ``x_i = S_i I`` and ``Q2 = x1 Q1 / (k12 + x2)``; the glucose balance
    per kg, ``a + S_IT S_ID G VG I**2 / (k12 + S_ID I) = EGP0 (1 - S_IE I)`` with
    ``a = (F01c + FR) / BW``, is a quadratic in ``I`` with exactly one positive root when
    ``a < EGP0``. The rate is then ``I ke VI BW``.

    Parameters
    ----------
    params
        Parameters of ``m`` members.
    g_mmol_l
        Target glucose, scalar or shape ``(m,)``, mmol/L.

    Returns
    -------
    numpy.ndarray
        Basal insulin, U/min, shape ``(m,)``.

    Raises
    ------
    InvalidParameterError
        If a target is not positive or cannot be held by any insulin rate.

    Examples
    --------
    >>> p = hovorka_nominal_parameters()
    >>> rate = basal_insulin_for_glucose(p, [5.0, 6.0, 8.0])
    >>> bool(np.all(np.diff(rate) < 0))
    True
    """
    insulin = _basal_plasma_insulin(params, g_mmol_l)
    c = params.to_matrix(insulin.size).T
    return np.asarray(insulin * c[_P["ke"]] * c[_P["VI"]] * c[_P["BW"]] / MU_PER_U)


def _basal_plasma_insulin(params: HovorkaParameters, g_mmol_l: float | FloatArray) -> FloatArray:
    g = np.atleast_1d(np.asarray(g_mmol_l, dtype=np.float64))
    m = max(params.n_members, g.size)
    g = np.broadcast_to(g, (m,))
    if not np.all(np.isfinite(g)) or np.any(g <= 0):
        raise InvalidParameterError(
            f"target glucose must be finite and > 0 mmol/L, got {g.tolist()}"
        )
    cm = params.to_matrix(m)
    c = cm.T
    a = _non_insulin_uptake_per_kg(cm, g)
    egp0, k12, sit, sid, sie = (c[_P[k]] for k in ("EGP0", "k12", "SIT", "SID", "SIE"))
    if np.any(a >= egp0):
        raise InvalidParameterError(
            f"glucose {g[a >= egp0].tolist()} mmol/L cannot be held by any insulin rate: "
            "insulin-independent uptake and renal loss reach EGP0; choose a lower target"
        )
    qa = sit * sid * g * c[_P["VG"]] + egp0 * sie * sid
    qb = a * sid - egp0 * sid + egp0 * sie * k12
    qc = (a - egp0) * k12
    root = np.sqrt(qb * qb - 4.0 * qa * qc)
    # Two algebraically equal forms of the positive root; each avoids cancellation on its side.
    return np.asarray(np.where(qb >= 0, -2.0 * qc / (qb + root), (root - qb) / (2.0 * qa)))


def basal_glucose_for_insulin(
    params: HovorkaParameters, insulin_u_per_min: float | FloatArray
) -> FloatArray:
    """Steady-state plasma glucose (mmol/L) under a constant insulin rate, no meals.

    The glucose balance is piecewise linear in ``G`` (breaks at 4.5 and 9 mmol/L) and
    increasing, so each piece is solved in closed form and the consistent one kept.

    Parameters
    ----------
    params
        Parameters of ``m`` members.
    insulin_u_per_min
        Constant insulin rate, scalar or shape ``(m,)``, U/min (>= 0).

    Returns
    -------
    numpy.ndarray
        Glucose, mmol/L, shape ``(m,)``; 0 where insulin suppresses EGP completely.

    Examples
    --------
    >>> p = hovorka_nominal_parameters()
    >>> rate = basal_insulin_for_glucose(p, 7.0)
    >>> bool(np.allclose(basal_glucose_for_insulin(p, rate), 7.0))
    True
    """
    rate = np.atleast_1d(np.asarray(insulin_u_per_min, dtype=np.float64))
    m = max(params.n_members, rate.size)
    rate = np.broadcast_to(rate, (m,))
    if not np.all(np.isfinite(rate)) or np.any(rate < 0):
        raise InvalidParameterError(
            f"insulin rate must be finite and >= 0 U/min, got {rate.tolist()}"
        )
    c = params.to_matrix(m).T
    ins = rate * MU_PER_U / (c[_P["ke"]] * c[_P["VI"]] * c[_P["BW"]])
    x2 = c[_P["SID"]] * ins
    slope = c[_P["VG"]] * c[_P["SIT"]] * ins * x2 / (c[_P["k12"]] + x2)
    supply = c[_P["EGP0"]] * (1.0 - c[_P["SIE"]] * ins)
    f01, clear = c[_P["F01"]], RENAL_CLEARANCE_PER_MIN * c[_P["VG"]]
    low = supply / (f01 / F01_THRESHOLD_MMOL_L + slope)
    mid = (supply - f01) / np.maximum(slope, 1e-300)
    high = (supply - f01 + clear * RENAL_THRESHOLD_MMOL_L) / (slope + clear)
    g = np.where(low < F01_THRESHOLD_MMOL_L, low, np.where(mid < RENAL_THRESHOLD_MMOL_L, mid, high))
    return np.asarray(np.maximum(g, 0.0))


def steady_state(
    params: HovorkaParameters, g_mmol_l: float | FloatArray | None = None
) -> FloatArray:
    """The fasting steady state at glucose ``g`` (default ``Gb``), shape ``(m, 10)``.

    Examples
    --------
    >>> x = steady_state(hovorka_nominal_parameters())
    >>> round(float(x[0, 0] / (0.16 * 70)), 6)  # Q1 / VG in mmol/L
    6.0
    """
    g = np.asarray(params.Gb) if g_mmol_l is None else g_mmol_l
    ins = _basal_plasma_insulin(params, g)
    m = ins.size
    c = params.to_matrix(m).T
    g_arr = np.broadcast_to(np.asarray(g, dtype=np.float64), (m,))
    q1 = g_arr * c[_P["VG"]] * c[_P["BW"]]
    x1, x2, x3 = c[_P["SIT"]] * ins, c[_P["SID"]] * ins, c[_P["SIE"]] * ins
    q2 = x1 * q1 / (c[_P["k12"]] + x2)
    s = ins * c[_P["ke"]] * c[_P["VI"]] * c[_P["BW"]] * c[_P["tmax_i"]]
    zeros = np.zeros(m)
    return np.stack([q1, q2, s, s, ins, x1, x2, x3, zeros, zeros], axis=1)


@dataclass(frozen=True)
class HovorkaState(ArrayState):
    """Ensemble state of the Hovorka model.

    Attributes
    ----------
    x
        Continuous states, shape ``(n, 10)`` in ``STATE_NAMES`` order.
    theta
        Parameters per member, shape ``(n, n_parameters)`` (travel with the member so
        that assimilation can estimate them).
    """

    x: FloatArray
    theta: FloatArray


class Hovorka(HeldOdeModel):
    """The Hovorka 2004 model over an ensemble of members.

    Parameters
    ----------
    params
        Parameters for one member (shared by all) or one per member; the nominal
        subject (:func:`hovorka_nominal_parameters`) when omitted.
    step_min
        RK4 step in minutes; sub-stepped below the stability limit of the stiffest member.
    method
        ``"rk4"`` (fixed step) or ``"dopri5"`` (adaptive).
    rtol, atol
        Tolerances for ``"dopri5"``.

    Examples
    --------
    >>> from healthtwin.core.inputs import Events
    >>> model = Hovorka()
    >>> rng = np.random.default_rng(0)
    >>> state = model.initial_state(2, rng)
    >>> plan = model.basal_inputs(state).merged(
    ...     Inputs(events={"meal_g": Events([30.0], [50.0]), "bolus_u": Events([30.0], [2.0])}))
    >>> later = model.advance(state, 0.0, 120.0, plan, rng)
    >>> model.observe(later).shape
    (2, 3)
    >>> bool(model.observe(later)[0, 0] > model.observe(state)[0, 0])
    True
    """

    name = "hovorka"
    time_unit = "min"
    rate_inputs = channels([("insulin_u_per_min", "U/min", "subcutaneous insulin infusion")])
    event_inputs = channels(
        [
            ("meal_g", "g", "carbohydrate eaten at once (impulse into the gut)"),
            ("bolus_u", "U", "subcutaneous insulin bolus (impulse into the depot S1)"),
        ]
    )
    outputs = channels(
        [
            ("glucose_mg_dl", "mg/dL", "plasma glucose (18.016 mg/dL per mmol/L)"),
            ("glucose_mmol_l", "mmol/L", "plasma glucose"),
            ("plasma_insulin_mu_l", "mU/L", "plasma insulin"),
        ]
    )
    states = channels([(n, u, "") for n, u in zip(STATE_NAMES, _STATE_UNITS, strict=True)])

    limit_refresh = LIMIT_REFRESH_MIN
    rhs = staticmethod(hovorka_rhs)

    def __init__(
        self,
        params: HovorkaParameters | None = None,
        *,
        step_min: float = 1.0,
        method: str = "rk4",
        rtol: float = 1e-8,
        atol: float = 1e-10,
    ) -> None:
        self._configure(
            hovorka_nominal_parameters() if params is None else params, step_min, method, rtol, atol
        )

    @property
    def step_min(self) -> float:
        """The RK4 step (min)."""
        return self.options.step

    # -- protocol ---------------------------------------------------------------------
    def initial_state(self, n: int, rng: np.random.Generator) -> HovorkaState:
        """Members at the fasting steady state of their basal glucose ``Gb``."""
        n = check_member_count(n)
        theta = self.params.to_matrix(n)
        return HovorkaState(steady_state(HovorkaParameters.from_matrix(theta)), theta)

    def advance(
        self,
        state: HovorkaState,
        t0: float,
        t1: float,
        inputs: Inputs,
        rng: np.random.Generator,
    ) -> HovorkaState:
        """Integrate from ``t0`` to ``t1`` (minutes) with inputs held per segment.

        Meals and boluses at a segment's start are applied as impulses before it is
        integrated; the insulin rate is held (zero-order hold) over the segment.
        """
        n = state.n_members
        held = hold_inputs(
            inputs, t0, t1, n, rate_channels=self.rate_inputs, event_channels=self.event_inputs
        )
        starts, durations = held.starts, held.durations
        theta = np.asarray(state.theta)
        x = np.array(state.x)
        meal_mmol_per_g = MU_PER_U / GLUCOSE_MG_PER_MMOL
        u = np.empty((n, 1))
        for j in range(starts.size):
            x[:, 8] += theta[:, _P["AG"]] * held.events["meal_g"][:, j] * meal_mmol_per_g
            x[:, 2] += held.events["bolus_u"][:, j] * MU_PER_U
            u[:, 0] = held.rates["insulin_u_per_min"][:, j] * MU_PER_U
            x = self._integrate(x, u, theta, float(durations[j]))
        return HovorkaState(x, theta)

    def observe(self, state: HovorkaState) -> FloatArray:
        """Plasma glucose (mg/dL, mmol/L) and plasma insulin (mU/L), shape ``(n, 3)``."""
        x, th = state.x, state.theta
        g = x[:, 0] / (th[:, _P["VG"]] * th[:, _P["BW"]])
        return np.stack([g * MG_DL_PER_MMOL_L, g, x[:, 4]], axis=1)

    def state_matrix(self, state: HovorkaState) -> FloatArray:
        return np.asarray(state.x)

    # -- helpers ----------------------------------------------------------------------
    @staticmethod
    def parameter_index(name: str) -> int:
        """Column of parameter ``name`` in ``state.theta``."""
        return _P[name]

    def basal_inputs(self, state: HovorkaState) -> Inputs:
        """Each member's basal insulin for its ``Gb`` as a constant rate from t = 0."""
        params = HovorkaParameters.from_matrix(np.asarray(state.theta))
        basal = basal_insulin_for_glucose(params, np.asarray(params.Gb))
        return Inputs(rates={"insulin_u_per_min": Rate.constant(basal, start=0.0)})

    def stability_limit(self, theta: FloatArray, x: FloatArray | None = None) -> float:
        """Largest stable RK4 step (min) over the members, from the Jacobian spectrum.

        The Jacobian is block-triangular (gut and insulin do not depend on glucose), so
        its eigenvalues are ``-1/tmax_G`` (twice), ``-1/tmax_I`` (twice), ``-ke``,
        ``-ka1..3`` and those of the 2x2 glucose block
        ``[[-(x1 + dF/dQ1), k12], [x1, -(k12 + x2)]]``. The spectral radius is taken at
        ``x`` (the basal state when omitted) and scaled by ``LIMIT_SAFETY``.
        """
        theta = np.asarray(theta)
        if x is None:
            x = steady_state(HovorkaParameters.from_matrix(theta))
        radius = float(np.max(jacobian_spectral_radius(x, theta)))
        return LIMIT_SAFETY * RK4_STABILITY_RADIUS / radius if radius > 0 else math.inf


def jacobian_spectral_radius(x: FloatArray, theta: FloatArray) -> FloatArray:
    """Spectral radius of ``d(hovorka_rhs)/dx`` at each member's state, shape ``(n,)``.

    Examples
    --------
    >>> p = hovorka_nominal_parameters()
    >>> float(jacobian_spectral_radius(steady_state(p), p.to_matrix())[0])  # ke dominates
    0.138
    """
    c = np.asarray(theta).T
    x = np.asarray(x)
    vg = c[_P["VG"]]
    g = x[:, 0] / (vg * c[_P["BW"]])
    d_uptake = np.where(g < F01_THRESHOLD_MMOL_L, c[_P["F01"]] / (F01_THRESHOLD_MMOL_L * vg), 0.0)
    d_uptake = d_uptake + np.where(g >= RENAL_THRESHOLD_MMOL_L, RENAL_CLEARANCE_PER_MIN, 0.0)
    a11 = -(x[:, 5] + d_uptake)
    a22 = -(c[_P["k12"]] + x[:, 6])
    tr = a11 + a22
    det = a11 * a22 - c[_P["k12"]] * x[:, 5]
    disc = tr * tr - 4.0 * det
    block = np.where(disc >= 0, 0.5 * (np.abs(tr) + np.sqrt(np.abs(disc))), np.sqrt(np.abs(det)))
    fixed = np.max(
        np.stack(
            [
                1.0 / c[_P["tmax_g"]],
                1.0 / c[_P["tmax_i"]],
                c[_P["ke"]],
                c[_P["ka1"]],
                c[_P["ka2"]],
                c[_P["ka3"]],
            ]
        ),
        axis=0,
    )
    return np.asarray(np.maximum(fixed, block))
