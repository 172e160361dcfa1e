"""UVA/Padova S2008 type-1 diabetes model (13 states, insulin-only).

Equations of Dalla Man, Rizza & Cobelli (IEEE TBME 54:1740-1749, 2007) in the type-1
form of the S2008 simulator (Kovatchev, Breton, Dalla Man & Cobelli, JDST 3:44-55, 2009),
with a subcutaneous insulin depot and subcutaneous glucose compartment. Behaviour matches
simglucose 0.2.11 (Xie, 2018), so its 30 virtual patients reproduce:

- announced carbohydrate is eaten at 5 g/min on a 1-min clock;
- the gastric-emptying reference ``Dbar`` is the stomach content frozen at meal start plus
  the carbohydrate eaten since (simglucose issue #41 unit fix);
- insulin is a rate held over each input segment; boluses may also be given as impulses;
- the reported glucose is subcutaneous glucose ``x[12] / Vg`` in mg/dL.

State columns (``STATE_NAMES``): stomach solid and liquid, gut (mg); plasma and tissue
glucose (mg/kg); plasma insulin (pmol/kg); insulin action on utilisation X (pmol/L);
delayed insulin I1 and Id (pmol/L); liver insulin (pmol/kg); two subcutaneous insulin
depots (pmol/kg); subcutaneous glucose (mg/kg).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import Any, ClassVar, cast

import numpy as np

from healthtwin.core.inputs import Inputs, Rate
from healthtwin.core.params import Parameters
from healthtwin.core.protocols import Channel
from healthtwin.core.segments import segment_bounds, ticks_at
from healthtwin.core.solvers import RK4_STABILITY_RADIUS, dopri5, raise_on_failure, rk4_columns
from healthtwin.core.state import ArrayState
from healthtwin.core.types import BoolArray, FloatArray, IntArray
from healthtwin.errors import (
    InvalidInputError,
    InvalidParameterError,
    MissingDependencyError,
    ShapeError,
)

__all__ = [
    "EAT_RATE_G_PER_MIN",
    "STATE_NAMES",
    "UvaPadova",
    "UvaPadovaParameters",
    "UvaPadovaPatient",
    "UvaPadovaState",
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
_STATE_UNITS = (
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


def rhs_columns(x: FloatArray, u: FloatArray, c: FloatArray, dx: FloatArray) -> None:
    """:func:`uva_padova_rhs` on member-contiguous rows: ``x`` (13, n), ``u`` (3, n),
    ``c`` (n_parameters, n); writes ``dx`` (13, n).

    Rows are contiguous so that each operation streams over members; the same source
    runs under numpy and, compiled, under numba.
    """
    kmax = c[I_KMAX]
    kmin = c[I_KMIN]
    b = c[I_B]
    d = c[I_D]
    qsto = x[0] + x[1]
    has_ref = u[2] > 0
    ref = np.where(has_ref, u[2], 1.0)
    alpha = 5.0 / (2.0 * ref * (1.0 - b))
    beta = 5.0 / (2.0 * ref * d)
    kgut = np.where(
        has_ref,
        kmin
        + 0.5
        * (kmax - kmin)
        * (np.tanh(alpha * (qsto - b * ref)) - np.tanh(beta * (qsto - d * ref)) + 2.0),
        kmax,
    )
    gp = x[3]
    gt = x[4]
    ra = c[I_F] * c[I_KABS] * x[2] / c[I_BW]
    egp = np.maximum(c[I_KP1] - c[I_KP2] * gp - c[I_KP3] * x[8], 0.0)
    renal = np.where(gp > c[I_KE2], c[I_KE1] * (gp - c[I_KE2]), 0.0)
    uid = (c[I_VM0] + c[I_VMX] * x[6]) * gt / (c[I_KM0] + gt)
    plasma_insulin = x[5] / c[I_VI]
    dx[0] = u[0] - kmax * x[0]
    dx[1] = kmax * x[0] - kgut * x[1]
    dx[2] = kgut * x[1] - c[I_KABS] * x[2]
    dx[3] = (egp + ra - c[I_FSNC] - renal - c[I_K1] * gp + c[I_K2] * gt) * (gp >= 0)
    dx[4] = (c[I_K1] * gp - c[I_K2] * gt - uid) * (gt >= 0)
    dx[5] = (c[I_M1] * x[9] + c[I_KA1] * x[10] + c[I_KA2] * x[11] - (c[I_M2] + c[I_M4]) * x[5]) * (
        x[5] >= 0
    )
    dx[6] = c[I_P2U] * (plasma_insulin - c[I_IB] - x[6])
    dx[7] = c[I_KI] * (plasma_insulin - x[7])
    dx[8] = c[I_KI] * (x[7] - x[8])
    dx[9] = (c[I_M2] * x[5] - (c[I_M1] + c[I_M30]) * x[9]) * (x[9] >= 0)
    dx[10] = (u[1] - (c[I_KA1] + c[I_KD]) * x[10]) * (x[10] >= 0)
    dx[11] = (c[I_KD] * x[10] - c[I_KA2] * x[11]) * (x[11] >= 0)
    dx[12] = c[I_KSC] * (gp - x[12]) * (x[12] >= 0)


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
    egp = np.maximum(c[_P["kp1"]] - c[_P["kp2"]] * gp - c[_P["kp3"]] * c[_P["Ib"]], 0.0)
    renal = np.where(gp > c[_P["ke2"]], c[_P["ke1"]] * (gp - c[_P["ke2"]]), 0.0)
    gt = (c[_P["Fsnc"]] + renal - egp + c[_P["k1"]] * gp) / c[_P["k2"]]
    ip = c[_P["Ib"]] * c[_P["Vi"]]
    il = c[_P["m2"]] * ip / (c[_P["m1"]] + c[_P["m30"]])
    isc1 = c[_P["u2ss"]] / (c[_P["kd"]] + c[_P["ka1"]])
    isc2 = c[_P["kd"]] * isc1 / c[_P["ka2"]]
    zeros = np.zeros(m)
    ib = c[_P["Ib"]]
    return np.stack([zeros, zeros, zeros, gp, gt, ip, zeros, ib, ib, il, isc1, isc2, gp], 1)


@dataclass(frozen=True)
class UvaPadovaPatient:
    """A named virtual subject: parameters, initial state and therapy settings.

    Attributes
    ----------
    name
        ``"adolescent#001"``, ``"nominal-adult"``...
    params
        One-member :class:`UvaPadovaParameters`.
    x0
        Initial state, shape ``(13,)``.
    carb_ratio_g_per_u
        Grams of carbohydrate covered by one unit of insulin.
    correction_factor_mg_dl_per_u
        Glucose drop per unit of correction insulin.
    """

    name: str
    params: UvaPadovaParameters
    x0: FloatArray
    carb_ratio_g_per_u: float
    correction_factor_mg_dl_per_u: float
    source: str = ""

    def __post_init__(self) -> None:
        x0 = np.asarray(self.x0, dtype=np.float64)
        if x0.shape != (13,) or not np.all(np.isfinite(x0)) or np.any(x0 < 0):
            raise InvalidParameterError(
                f"patient {self.name!r}: x0 must be 13 finite non-negative values, got {x0}"
            )
        if self.params.n_members != 1:
            raise ShapeError(f"patient {self.name!r}: params must be for one member")
        if self.carb_ratio_g_per_u <= 0 or self.correction_factor_mg_dl_per_u <= 0:
            raise InvalidParameterError(
                f"patient {self.name!r}: carb ratio and correction factor must be > 0"
            )
        x0.setflags(write=False)
        object.__setattr__(self, "x0", x0)

    @property
    def basal_u_per_min(self) -> float:
        """Steady-state basal insulin rate ``u2ss * BW / 6000``, U/min."""
        return float(self.params.basal_insulin_u_per_min()[0])

    @property
    def basal_glucose_mg_dl(self) -> float:
        """Subcutaneous glucose of the initial state, mg/dL."""
        return float(self.x0[12] / np.asarray(self.params.Vg)[0])


@dataclass(frozen=True)
class UvaPadovaState(ArrayState):
    """Ensemble state of the UVA/Padova model.

    Attributes
    ----------
    x
        Continuous states, shape ``(n, 13)``.
    theta
        Parameters per member, shape ``(n, n_parameters)`` (travel with the member so
        that assimilation can estimate them).
    planned_meal_g
        Announced carbohydrate not yet eaten, shape ``(n,)``.
    cho_g_per_min
        Intake rate over the current clock tick, shape ``(n,)``.
    meal_start_stomach_mg
        Stomach content when the current meal began, shape ``(n,)``.
    meal_eaten_g
        Carbohydrate eaten since the current meal began, shape ``(n,)``.
    """

    x: FloatArray
    theta: FloatArray
    planned_meal_g: FloatArray
    cho_g_per_min: FloatArray
    meal_start_stomach_mg: FloatArray
    meal_eaten_g: FloatArray

    def gastric_reference_mg(self) -> FloatArray:
        """``Dbar``: stomach content at meal start plus carbohydrate eaten since, mg."""
        return np.asarray(self.meal_start_stomach_mg + 1000.0 * self.meal_eaten_g)


def _channels(items: Sequence[tuple[str, str, str]]) -> Mapping[str, Channel]:
    return MappingProxyType({n: Channel(n, u, d) for n, u, d in items})


class UvaPadova:
    """The UVA/Padova S2008 model over an ensemble of members.

    Parameters
    ----------
    patients
        One patient (every member a copy) or one per member.
    step_min
        RK4 step in minutes; sub-stepped below the stability limit of the stiffest member.
    method
        ``"rk4"`` (fixed step, simglucose-compatible) or ``"dopri5"`` (adaptive).
    rtol, atol
        Tolerances for ``"dopri5"``.
    backend
        ``"numpy"`` or ``"numba"`` (the same RK4 source compiled; ``healthtwin[fast]``).

    Examples
    --------
    >>> import numpy as np
    >>> from healthtwin.physiology.patients import load_patient
    >>> model = UvaPadova([load_patient("nominal-adult")])
    >>> state = model.initial_state(2, np.random.default_rng(0))
    >>> later = model.advance(state, 0.0, 60.0, model.basal_inputs(state), np.random.default_rng(0))
    >>> bool(np.allclose(model.observe(later), model.observe(state)))
    True
    """

    name = "uva-padova"
    time_unit = "min"
    tick_min = 1.0
    rate_inputs = _channels([("insulin_u_per_min", "U/min", "subcutaneous insulin infusion")])
    event_inputs = _channels(
        [
            ("meal_g", "g", "announced carbohydrate, eaten at 5 g/min"),
            ("bolus_u", "U", "subcutaneous insulin bolus as an impulse into the depot"),
        ]
    )
    outputs = _channels(
        [
            ("glucose_mg_dl", "mg/dL", "subcutaneous glucose (what a CGM senses)"),
            ("plasma_glucose_mg_dl", "mg/dL", "plasma glucose"),
            ("plasma_insulin_pmol_l", "pmol/L", "plasma insulin"),
        ]
    )
    states = _channels([(n, u, "") for n, u in zip(STATE_NAMES, _STATE_UNITS, strict=True)])

    def __init__(
        self,
        patients: Sequence[UvaPadovaPatient],
        *,
        step_min: float = 1.0,
        method: str = "rk4",
        rtol: float = 1e-8,
        atol: float = 1e-8,
        backend: str = "numpy",
    ) -> None:
        if not patients:
            raise InvalidParameterError("UvaPadova needs at least one patient")
        if not step_min > 0:
            raise InvalidParameterError(f"step_min must be > 0, got {step_min}")
        if method not in ("rk4", "dopri5"):
            raise InvalidParameterError(f"method must be 'rk4' or 'dopri5', got {method!r}")
        self.patients = tuple(patients)
        self.step_min = float(step_min)
        if backend not in ("numpy", "numba"):
            raise InvalidParameterError(f"backend must be 'numpy' or 'numba', got {backend!r}")
        self.method = method
        self.backend = backend
        self.rtol, self.atol = rtol, atol
        self._limit_cache: dict[bytes, float] = {}

    def __repr__(self) -> str:
        names = [p.name for p in self.patients]
        shown = names if len(names) <= 3 else [*names[:3], f"... {len(names)} patients"]
        return (
            f"UvaPadova({shown}, step_min={self.step_min}, method={self.method!r}, "
            f"backend={self.backend!r})"
        )

    # -- protocol ---------------------------------------------------------------------
    def initial_state(self, n: int, rng: np.random.Generator) -> UvaPadovaState:
        """Members at their patients' initial states (one patient repeated, or one each)."""
        k = len(self.patients)
        if k == 1:
            idx = np.zeros(n, dtype=np.int64)
        elif n == k:
            idx = np.arange(n)
        else:
            raise ShapeError(f"model holds {k} patients; ask for n=1 per patient (n={k})")
        theta = np.concatenate([p.params.to_matrix(1) for p in self.patients])[idx]
        x = np.stack([p.x0 for p in self.patients])[idx]
        zeros = np.zeros(n)
        return UvaPadovaState(x, theta, zeros, zeros, x[:, 0] + x[:, 1], zeros)

    def advance(
        self,
        state: UvaPadovaState,
        t0: float,
        t1: float,
        inputs: Inputs,
        rng: np.random.Generator,
    ) -> UvaPadovaState:
        """Integrate from ``t0`` to ``t1`` (minutes); see the module docstring for rules."""
        return self.run(state, t0, t1, inputs)[0]

    def run(
        self, state: UvaPadovaState, t0: float, t1: float, inputs: Inputs, *, record: bool = False
    ) -> tuple[UvaPadovaState, FloatArray, FloatArray]:
        """Advance, optionally recording the states at every clock tick.

        Returns
        -------
        tuple
            The state at ``t1``; the recorded tick times ``(T,)`` (those in ``(t0, t1]``);
            the states at those times, shape ``(n, T, 13)`` (empty unless ``record``).
        """
        n = state.n_members
        inputs.check(self.rate_inputs, self.event_inputs, n)
        bounds = segment_bounds(t0, t1, inputs, self.tick_min)
        starts, ends = bounds[:-1], bounds[1:]
        insulin = inputs.rate("insulin_u_per_min", starts, n)
        meals = inputs.event_totals("meal_g", starts, ends, n)
        boluses = inputs.event_totals("bolus_u", starts, ends, n)
        if np.any(meals < 0) or np.any(boluses < 0) or np.any(insulin < 0):
            raise InvalidInputError(
                "meals (g), boluses (U) and insulin rates (U/min) must be >= 0; "
                "check the input schedule"
            )
        theta = np.asarray(state.theta)
        h = min(self.step_min, self.stability_limit_min(theta))
        rec_at = ticks_at(ends, self.tick_min) if record else np.zeros(ends.size, dtype=bool)
        slot = np.where(rec_at, np.cumsum(rec_at) - 1, -1).astype(np.int64)
        out = np.empty((int(rec_at.sum()), 13, n))
        x = np.array(state.x.T, order="C")
        disc = np.stack(
            [
                state.planned_meal_g,
                state.cho_g_per_min,
                state.meal_start_stomach_mg,
                state.meal_eaten_g,
            ]
        )
        kernel = self._kernel()
        x = kernel(
            x,
            np.ascontiguousarray(theta.T),
            disc,
            ends - starts,
            ticks_at(starts, self.tick_min),
            np.ascontiguousarray(meals.T),
            np.ascontiguousarray(insulin.T),
            np.ascontiguousarray(boluses.T),
            h,
            slot,
            out,
        )
        if not np.all(np.isfinite(x)):
            raise_on_failure(np.where(np.all(np.isfinite(x), axis=0), 0, 1), self.name)
        new = UvaPadovaState(np.ascontiguousarray(x.T), theta, disc[0], disc[1], disc[2], disc[3])
        return new, ends[rec_at], np.transpose(out, (2, 0, 1))

    def _kernel(self) -> _Kernel:
        if self.method == "dopri5":
            return _make_kernel(self._dopri5_step)
        if self.backend == "numba":
            return _numba_kernel()
        return _make_kernel(_rk4_step)

    def _dopri5_step(
        self, x: FloatArray, u: FloatArray, c: FloatArray, dur: float, h: float
    ) -> FloatArray:
        xr, ur, pr = np.ascontiguousarray(x.T), np.ascontiguousarray(u.T), np.ascontiguousarray(c.T)
        res = dopri5(lambda z: uva_padova_rhs(z, ur, pr), xr, dur, rtol=self.rtol, atol=self.atol)
        raise_on_failure(res.status, self.name)
        return np.ascontiguousarray(res.x.T)

    def observe(self, state: UvaPadovaState) -> FloatArray:
        """Subcutaneous glucose, plasma glucose (mg/dL) and plasma insulin (pmol/L)."""
        x, th = state.x, state.theta
        vg = th[:, _P["Vg"]]
        return np.stack([x[:, 12] / vg, x[:, 3] / vg, x[:, 5] / th[:, _P["Vi"]]], axis=1)

    def state_matrix(self, state: UvaPadovaState) -> FloatArray:
        return np.asarray(state.x)

    # -- helpers ----------------------------------------------------------------------
    @staticmethod
    def parameter_index(name: str) -> int:
        """Column of parameter ``name`` in ``state.theta``."""
        return _P[name]

    def basal_inputs(self, state: UvaPadovaState) -> Inputs:
        """Each member's steady-state basal insulin as a constant rate from t = 0."""
        basal = state.theta[:, _P["u2ss"]] * state.theta[:, _P["BW"]] / PMOL_PER_U
        return Inputs(rates={"insulin_u_per_min": Rate.constant(basal, start=0.0)})

    def stability_limit_min(self, theta: FloatArray) -> float:
        """Largest stable RK4 step (min) over the members, from the Jacobian at basal.

        The spectral radius of the Jacobian at each member's basal state, with a 10 %
        margin, bounds the step; results are cached per parameter matrix.
        """
        key = theta.tobytes()
        cached = self._limit_cache.get(key)
        if cached is not None:
            return cached
        uniq = np.unique(theta, axis=0)
        params = UvaPadovaParameters.from_matrix(uniq)
        x = steady_state(params)
        u = np.stack([np.zeros(len(uniq)), uniq[:, _P["u2ss"]], np.zeros(len(uniq))], 1)
        eps = 1e-6 * np.maximum(np.abs(x), 1.0)
        f0 = uva_padova_rhs(x, u, uniq)
        jac = np.empty((len(uniq), 13, 13))
        for i in range(13):
            xp = x.copy()
            xp[:, i] += eps[:, i]
            jac[:, :, i] = (uva_padova_rhs(xp, u, uniq) - f0) / eps[:, i : i + 1]
        radius = float(np.max(np.abs(np.linalg.eigvals(jac))))
        limit = 0.9 * RK4_STABILITY_RADIUS / radius if radius > 0 else math.inf
        if len(self._limit_cache) > 32:
            self._limit_cache.clear()
        self._limit_cache[key] = limit
        return limit

    def with_options(
        self,
        *,
        step_min: float | None = None,
        method: str | None = None,
        rtol: float | None = None,
        atol: float | None = None,
        backend: str | None = None,
    ) -> UvaPadova:
        """A copy with other solver options."""
        return UvaPadova(
            self.patients,
            step_min=self.step_min if step_min is None else step_min,
            method=self.method if method is None else method,
            rtol=self.rtol if rtol is None else rtol,
            atol=self.atol if atol is None else atol,
            backend=self.backend if backend is None else backend,
        )


_Kernel = Callable[..., FloatArray]
_Step = Callable[[FloatArray, FloatArray, FloatArray, float, float], FloatArray]


def _rk4_step(x: FloatArray, u: FloatArray, c: FloatArray, dur: float, h: float) -> FloatArray:
    return rk4_columns(rhs_columns, x, u, c, dur, h)


def _make_kernel(step: _Step) -> _Kernel:
    """The segment loop: meal clock, boluses, held inputs, then ``step`` per segment.

    ``disc`` rows are planned meal (g), intake rate (g/min), stomach content at meal
    start (mg) and carbohydrate eaten since (g); it is updated in place.
    """

    def kernel(
        x: FloatArray,
        c: FloatArray,
        disc: FloatArray,
        seg_len: FloatArray,
        on_tick: BoolArray,
        meals: FloatArray,
        insulin: FloatArray,
        boluses: FloatArray,
        h: float,
        slot: IntArray,
        out: FloatArray,
    ) -> FloatArray:
        pmol_per_kg_per_u = PMOL_PER_U / c[I_BW]
        u = np.empty((3, x.shape[1]))
        for j in range(seg_len.size):
            disc[0] += meals[j]
            if on_tick[j]:
                to_eat = np.minimum(EAT_RATE_G_PER_MIN, disc[0])
                disc[0] -= to_eat
                starting = (to_eat > 0) & (disc[1] <= 0)
                disc[2] = np.where(starting, x[0] + x[1], disc[2])
                disc[3] = np.where(starting, 0.0, disc[3]) + to_eat
                disc[1] = to_eat
            x[10] += boluses[j] * pmol_per_kg_per_u
            u[0] = disc[1] * 1000.0
            u[1] = insulin[j] * pmol_per_kg_per_u
            u[2] = disc[2] + 1000.0 * disc[3]
            x = step(x, u, c, seg_len[j], h)
            if slot[j] >= 0:
                out[slot[j]] = x
        return x

    return kernel


@cache
def _numba_kernel() -> _Kernel:
    """The RK4 kernel compiled by numba, run on blocks of members in parallel.

    Blocks keep each array temporary in cache; ``prange`` spreads them over cores.
    """
    try:
        numba: Any = importlib.import_module("numba")
    except ImportError as err:
        raise MissingDependencyError(
            "backend='numba' needs numba: pip install 'healthtwin[fast]'"
        ) from err
    rhs = numba.njit(cache=True)(rhs_columns)
    rk4 = numba.njit(cache=True)(rk4_columns)

    def step(x: FloatArray, u: FloatArray, c: FloatArray, dur: float, h: float) -> FloatArray:
        return cast(FloatArray, rk4(rhs, x, u, c, dur, h))

    inner = numba.njit(_make_kernel(numba.njit(step)))

    def blocked(
        x: FloatArray,
        c: FloatArray,
        disc: FloatArray,
        seg_len: FloatArray,
        on_tick: BoolArray,
        meals: FloatArray,
        insulin: FloatArray,
        boluses: FloatArray,
        h: float,
        slot: IntArray,
        out: FloatArray,
    ) -> FloatArray:
        n = x.shape[1]
        n_blocks = (n + _BLOCK - 1) // _BLOCK
        for b in numba.prange(n_blocks):
            lo = b * _BLOCK
            hi = min(n, lo + _BLOCK)
            d = disc[:, lo:hi].copy()
            o = np.empty((out.shape[0], x.shape[0], hi - lo))
            xb = inner(
                x[:, lo:hi].copy(),
                c[:, lo:hi].copy(),
                d,
                seg_len,
                on_tick,
                meals[:, lo:hi].copy(),
                insulin[:, lo:hi].copy(),
                boluses[:, lo:hi].copy(),
                h,
                slot,
                o,
            )
            x[:, lo:hi] = xb
            disc[:, lo:hi] = d
            out[:, :, lo:hi] = o
        return x

    return cast(_Kernel, numba.njit(parallel=True)(blocked))


#: Members per block in the compiled kernel (temporaries stay in L1/L2 cache).
_BLOCK = 64
