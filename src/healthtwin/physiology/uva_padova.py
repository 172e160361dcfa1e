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

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from healthtwin.core.inputs import Inputs, Rate
from healthtwin.core.protocols import channels
from healthtwin.core.segments import hold_inputs, ticks_at
from healthtwin.core.solvers import RK4_STABILITY_RADIUS, dopri5, raise_on_failure
from healthtwin.core.state import ArrayState, check_member_count
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidParameterError, ShapeError
from healthtwin.physiology.uva_padova_equations import (
    EAT_RATE_G_PER_MIN,
    PMOL_PER_U,
    STATE_NAMES,
    STATE_UNITS,
    UvaPadovaParameters,
    parameter_index,
    steady_state,
    uva_padova_rhs,
)
from healthtwin.physiology.uva_padova_kernels import Kernel, numba_kernel, numpy_kernel

__all__ = [
    "EAT_RATE_G_PER_MIN",
    "PMOL_PER_U",
    "STATE_NAMES",
    "UvaPadova",
    "UvaPadovaParameters",
    "UvaPadovaPatient",
    "UvaPadovaState",
    "steady_state",
    "uva_padova_rhs",
]

_P = {name: parameter_index(name) for name in UvaPadovaParameters.names()}
#: Smallest RK4 step accepted (smaller ones take hours and gain nothing over dopri5).
MIN_STEP_MIN = 1e-3


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
    total_daily_insulin_u
        Usual total daily insulin dose, U (what a clinician knows; NaN when unknown).
    """

    name: str
    params: UvaPadovaParameters
    x0: FloatArray
    carb_ratio_g_per_u: float
    correction_factor_mg_dl_per_u: float
    source: str = ""
    total_daily_insulin_u: float = float("nan")

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
    rate_inputs = channels([("insulin_u_per_min", "U/min", "subcutaneous insulin infusion")])
    event_inputs = channels(
        [
            ("meal_g", "g", "announced carbohydrate, eaten at 5 g/min"),
            ("bolus_u", "U", "subcutaneous insulin bolus as an impulse into the depot"),
        ]
    )
    outputs = channels(
        [
            ("glucose_mg_dl", "mg/dL", "subcutaneous glucose (what a CGM senses)"),
            ("plasma_glucose_mg_dl", "mg/dL", "plasma glucose"),
            ("plasma_insulin_pmol_l", "pmol/L", "plasma insulin"),
        ]
    )
    states = channels([(n, u, "") for n, u in zip(STATE_NAMES, STATE_UNITS, strict=True)])

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
        if not MIN_STEP_MIN <= step_min < math.inf:
            raise InvalidParameterError(
                f"step_min must be a finite step of at least {MIN_STEP_MIN} min, got "
                f"{step_min}; for tight accuracy use method='dopri5' instead"
            )
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
        n = check_member_count(n)
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
            what was recorded at those times, shape ``(n, T, 14)`` (empty unless
            ``record``): the 13 states, then the carbohydrate intake rate (g/min) that held
            over the minute before.
        """
        n = state.n_members
        held = hold_inputs(
            inputs,
            t0,
            t1,
            n,
            rate_channels=self.rate_inputs,
            event_channels=self.event_inputs,
            tick=self.tick_min,
        )
        starts, ends = held.starts, held.ends
        insulin = held.rates["insulin_u_per_min"]
        meals, boluses = held.events["meal_g"], held.events["bolus_u"]
        theta = np.asarray(state.theta)
        h = min(self.step_min, self.stability_limit_min(theta))
        rec_at = ticks_at(ends, self.tick_min) if record else np.zeros(ends.size, dtype=bool)
        slot = np.where(rec_at, np.cumsum(rec_at) - 1, -1).astype(np.int64)
        out = np.empty((int(rec_at.sum()), 14, n))
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
            np.array(theta.T, order="C"),
            disc,
            ends - starts,
            ticks_at(starts, self.tick_min),
            np.array(meals.T, order="C"),
            np.array(insulin.T, order="C"),
            np.array(boluses.T, order="C"),
            h,
            slot,
            out,
        )
        if not np.all(np.isfinite(x)):
            raise_on_failure(np.where(np.all(np.isfinite(x), axis=0), 0, 1), self.name)
        new = UvaPadovaState(np.ascontiguousarray(x.T), theta, disc[0], disc[1], disc[2], disc[3])
        return new, ends[rec_at], np.transpose(out, (2, 0, 1))

    def _kernel(self) -> Kernel:
        if self.method == "dopri5":
            return numpy_kernel(self._dopri5_step)
        if self.backend == "numba":
            return numba_kernel()
        return numpy_kernel()

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

        The spectral radius of the Jacobian at each member's basal state bounds the step,
        with a margin of 2: over a 80 g meal with a 15 U bolus the radius grew by up to
        1.64x across simglucose's 30 patients (insulin action speeds tissue uptake). The
        stiffest of them still allows 1.1 min, so 1-min steps are never sub-stepped.

        Parameters are rounded to 2 significant digits before the unique rows are taken
        (a few % on the radius, well inside the margin), so an ensemble whose estimated
        parameters move a little at every update reuses a handful of eigenvalue problems
        instead of one per member; results are cached per rounded matrix.
        """
        rounded = _round_significant(np.asarray(theta), 2)
        key = hashlib.blake2b(np.ascontiguousarray(rounded).data, digest_size=16).digest()
        cached = self._limit_cache.get(key)
        if cached is not None:
            return cached
        uniq = np.unique(rounded, axis=0)
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
        limit = 0.5 * RK4_STABILITY_RADIUS / radius if radius > 0 else math.inf
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


def _round_significant(values: FloatArray, digits: int) -> FloatArray:
    """``values`` rounded to ``digits`` significant digits (zeros stay zero)."""
    magnitude = np.where(values == 0, 1.0, np.abs(values))
    scale = 10.0 ** (digits - 1 - np.floor(np.log10(magnitude)))
    return np.asarray(np.round(values * scale) / scale)
