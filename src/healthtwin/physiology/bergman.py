"""Bergman minimal model in Fisher's type-1 form with exogenous insulin (4 states).

The minimal model of Bergman, Ider, Bowden & Cobelli (Am J Physiol 236:E667-E677, 1979)
with the insulin kinetics of Fisher, "A semiclosed-loop algorithm for the control of
blood glucose levels in diabetics", IEEE TBME 38(1):57-61 (1991), written in absolute
rather than deviation variables:

- ``dG/dt = -p1 (G - Gb) - X G + Ra(t)``  (plasma glucose, mg/dL);
- ``dX/dt = -p2 X + p3 (I - Ib)``  (remote insulin action, 1/min);
- ``dI/dt = -n I + U(t) / V1``  (plasma insulin, mU/L; ``U`` intravenous, mU/min).

Fisher's deviation form ``dI'/dt = -n (I' + Ib) + U / V1`` is the same equation for
``I = I' + Ib``; the basal insulin rate that holds ``I = Ib``, ``X = 0`` and ``G = Gb`` is
``U = n Ib V1``.

Glucose appearance ``Ra`` is the sum of a direct rate (input channel
``glucose_appearance_mg_dl_per_min``, held per segment) and a first-order gut: a meal of
``D`` g adds ``1000 f D`` mg to the gut, which empties at ``kabs`` into a distribution
volume ``Vg BW`` (dL), ``Ra_gut = kabs Q_gut / (Vg BW)``. An impulse meal therefore gives
``Ra = B exp(-kabs t)``, Fisher's meal disturbance ``P(t) = B exp(-0.05 t)``: with
``kabs = 0.05/min`` and ``B = 1000 f D kabs / (Vg BW)``. The meal of Seborg et al.'s
example (``B = 9`` mg/dL/min) is :func:`meal_g_for_fisher_amplitude` grams.

Insulin boluses (``bolus_u``) are intravenous impulses: ``I`` rises by ``1000 D / V1``.
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

__all__ = [
    "FISHER_1991",
    "STATE_NAMES",
    "BergmanMinimal",
    "BergmanParameters",
    "BergmanState",
    "bergman_nominal_parameters",
    "bergman_rhs",
    "jacobian_spectral_radius",
    "meal_g_for_fisher_amplitude",
    "steady_state",
]

#: 1 U of insulin = 1000 mU; 1 g = 1000 mg.
MU_PER_U = 1000.0
MG_PER_G = 1000.0
#: The RK4 step limit is recomputed from the current state at least this often (min).
LIMIT_REFRESH_MIN = 30.0
#: Fraction of the RK4 stability extent used; the margin covers insulin action X rising
#: within one refresh interval.
LIMIT_SAFETY = 0.5

STATE_NAMES: tuple[str, ...] = (
    "plasma_glucose_mg_dl",
    "insulin_action_per_min",
    "plasma_insulin_mu_per_l",
    "gut_glucose_mg",
)
_STATE_UNITS = ("mg/dL", "1/min", "mU/L", "mg")

#: Fisher 1991's type-1 subject (values as reproduced by Seborg, Edgar, Mellichamp &
#: Doyle, *Process Dynamics and Control*, sec. 23.3, and by Lynch & Bequette, Proc ACC
#: 2002, who give Gb = 4.5 mmol/L = 81 mg/dL), plus the meal route of this module.
FISHER_1991: Mapping[str, float] = MappingProxyType(
    {
        "p1": 0.028735,  # 1/min, glucose effectiveness (Fisher 1991)
        "p2": 0.028344,  # 1/min, decay of remote insulin action (Fisher 1991)
        "p3": 5.035e-5,  # 1/min^2 per mU/L, insulin action gain (Fisher 1991)
        "n": 5.0 / 54.0,  # 1/min, plasma insulin disappearance (Fisher 1991)
        "V1": 12.0,  # L, insulin distribution volume (Fisher 1991)
        "Gb": 81.0,  # mg/dL, basal glucose (Fisher 1991 / Seborg et al.)
        "Ib": 15.0,  # mU/L, basal insulin (Fisher 1991 / Seborg et al.)
        "Vg": 1.88,  # dL/kg, glucose distribution volume (Dalla Man et al. 2007)
        "f": 0.90,  # -, fraction of meal glucose appearing in plasma (Dalla Man et al. 2007)
        "kabs": 0.05,  # 1/min, gut emptying = decay of Fisher's meal disturbance P(t)
    }
)


@dataclass(frozen=True, kw_only=True)
class BergmanParameters(Parameters):
    """Parameters of the minimal model with Fisher's insulin kinetics and a gut."""

    p1: float | FloatArray  # glucose effectiveness, 1/min
    p2: float | FloatArray  # decay of remote insulin action, 1/min
    p3: float | FloatArray  # insulin action gain, 1/min^2 per mU/L
    n: float | FloatArray  # plasma insulin disappearance, 1/min
    V1: float | FloatArray  # insulin distribution volume, L
    Gb: float | FloatArray  # basal glucose, mg/dL
    Ib: float | FloatArray  # basal insulin, mU/L
    BW: float | FloatArray  # body weight, kg
    Vg: float | FloatArray  # glucose distribution volume, dL/kg
    f: float | FloatArray  # meal glucose bioavailability, -
    kabs: float | FloatArray  # gut emptying rate, 1/min

    positive: ClassVar[frozenset[str]] = frozenset({"p2", "n", "V1", "Gb", "BW", "Vg", "kabs"})
    nonnegative: ClassVar[frozenset[str]] = frozenset({"p1", "p3", "Ib"})
    fractions: ClassVar[frozenset[str]] = frozenset({"f"})

    def basal_insulin_u_per_min(self) -> FloatArray:
        """Insulin rate ``n Ib V1`` (U/min) that holds the basal state, shape ``(m,)``."""
        return np.asarray(np.asarray(self.n) * np.asarray(self.Ib) * np.asarray(self.V1) / MU_PER_U)


_P = {name: i for i, name in enumerate(BergmanParameters.names())}


def bergman_nominal_parameters(*, body_weight_kg: float = 70.0) -> BergmanParameters:
    """Fisher's 1991 subject with this module's meal route, at a body weight.

    Examples
    --------
    >>> p = bergman_nominal_parameters()
    >>> round(float(p.basal_insulin_u_per_min()[0]) * 60, 3)  # U/h
    1.0
    """
    return BergmanParameters(BW=body_weight_kg, **dict(FISHER_1991))


def meal_g_for_fisher_amplitude(
    params: BergmanParameters, amplitude_mg_dl_per_min: float
) -> FloatArray:
    """Grams of carbohydrate whose impulse gives ``Ra = B exp(-kabs t)`` with ``B`` given.

    Examples
    --------
    >>> round(float(meal_g_for_fisher_amplitude(bergman_nominal_parameters(), 9.0)[0]), 2)
    26.32
    """
    c = params.to_matrix().T
    dl = c[_P["Vg"]] * c[_P["BW"]]
    return np.asarray(amplitude_mg_dl_per_min * dl / (c[_P["kabs"]] * c[_P["f"]] * MG_PER_G))


def bergman_rhs(x: FloatArray, u: FloatArray, p: FloatArray) -> FloatArray:
    """Time derivative of the 4 states with inputs held.

    Parameters
    ----------
    x
        States, shape ``(n, 4)`` in ``STATE_NAMES`` order.
    u
        Held inputs, shape ``(n, 2)``: intravenous insulin (mU/min) and direct glucose
        appearance (mg/dL/min).
    p
        Parameter matrix, shape ``(n, n_parameters)``.

    Returns
    -------
    numpy.ndarray
        ``dx/dt``, shape ``(n, 4)``.

    Examples
    --------
    >>> p = bergman_nominal_parameters()
    >>> u = np.array([[1000.0 * p.basal_insulin_u_per_min()[0], 0.0]])
    >>> bool(np.allclose(bergman_rhs(steady_state(p), u, p.to_matrix()), 0.0))
    True
    """
    c = p.T
    g, act, ins, gut = x.T
    kabs = c[_P["kabs"]]
    ra = kabs * gut / (c[_P["Vg"]] * c[_P["BW"]]) + u[:, 1]
    dx = np.empty_like(x)
    dx[:, 0] = -c[_P["p1"]] * (g - c[_P["Gb"]]) - act * g + ra
    dx[:, 1] = -c[_P["p2"]] * act + c[_P["p3"]] * (ins - c[_P["Ib"]])
    dx[:, 2] = -c[_P["n"]] * ins + u[:, 0] / c[_P["V1"]]
    dx[:, 3] = -kabs * gut
    return dx


def steady_state(params: BergmanParameters) -> FloatArray:
    """The basal state ``G = Gb``, ``X = 0``, ``I = Ib``, empty gut, shape ``(m, 4)``."""
    c = params.to_matrix().T
    zeros = np.zeros_like(c[0])
    return np.stack([c[_P["Gb"]], zeros, c[_P["Ib"]], zeros], axis=1)


def jacobian_spectral_radius(x: FloatArray, theta: FloatArray) -> FloatArray:
    """Spectral radius of ``d(bergman_rhs)/dx`` per member, shape ``(n,)``.

    The Jacobian is triangular (gut and insulin drive X, X drives G), so its
    eigenvalues are ``-(p1 + X)``, ``-p2``, ``-n`` and ``-kabs``.

    Examples
    --------
    >>> p = bergman_nominal_parameters()
    >>> round(float(jacobian_spectral_radius(steady_state(p), p.to_matrix())[0]), 4)
    0.0926
    """
    c = np.asarray(theta).T
    rates = np.stack(
        [np.abs(c[_P["p1"]] + np.asarray(x)[:, 1]), c[_P["p2"]], c[_P["n"]], c[_P["kabs"]]]
    )
    return np.asarray(np.max(rates, axis=0))


@dataclass(frozen=True)
class BergmanState(ArrayState):
    """Ensemble state of the minimal model.

    Attributes
    ----------
    x
        Continuous states, shape ``(n, 4)`` in ``STATE_NAMES`` order.
    theta
        Parameters per member, shape ``(n, n_parameters)``.
    """

    x: FloatArray
    theta: FloatArray


class BergmanMinimal(HeldOdeModel):
    """The Bergman minimal model (Fisher's type-1 form) over an ensemble of members.

    Parameters
    ----------
    params
        Parameters for one member (shared) or one per member; Fisher's subject
        (:func:`bergman_nominal_parameters`) when omitted.
    step_min
        RK4 step in minutes; sub-stepped below the stability limit of the stiffest member.
    method
        ``"rk4"`` (fixed step) or ``"dopri5"`` (adaptive).
    rtol, atol
        Tolerances for ``"dopri5"``.

    Examples
    --------
    >>> from healthtwin.core.inputs import Events
    >>> model = BergmanMinimal()
    >>> rng = np.random.default_rng(0)
    >>> state = model.initial_state(3, rng)
    >>> plan = model.basal_inputs(state).merged(Inputs(events={"meal_g": Events([0.0], [40.0])}))
    >>> later = model.advance(state, 0.0, 60.0, plan, rng)
    >>> bool(np.all(model.observe(later)[:, 0] > 81.0))
    True
    """

    name = "bergman-minimal"
    time_unit = "min"
    rate_inputs = channels(
        [
            ("insulin_u_per_min", "U/min", "intravenous insulin infusion"),
            ("glucose_appearance_mg_dl_per_min", "mg/dL/min", "direct glucose disturbance"),
        ]
    )
    event_inputs = channels(
        [
            ("meal_g", "g", "carbohydrate eaten at once (impulse into the gut)"),
            ("bolus_u", "U", "intravenous insulin bolus (impulse into plasma)"),
        ]
    )
    outputs = channels(
        [
            ("glucose_mg_dl", "mg/dL", "plasma glucose"),
            ("plasma_insulin_mu_l", "mU/L", "plasma insulin"),
        ]
    )
    states = channels([(n, u, "") for n, u in zip(STATE_NAMES, _STATE_UNITS, strict=True)])

    limit_refresh = LIMIT_REFRESH_MIN
    rhs = staticmethod(bergman_rhs)

    def __init__(
        self,
        params: BergmanParameters | None = None,
        *,
        step_min: float = 1.0,
        method: str = "rk4",
        rtol: float = 1e-8,
        atol: float = 1e-10,
    ) -> None:
        self._configure(
            bergman_nominal_parameters() if params is None else params, step_min, method, rtol, atol
        )

    @property
    def step_min(self) -> float:
        """The RK4 step (min)."""
        return self.options.step

    # -- protocol ---------------------------------------------------------------------
    def initial_state(self, n: int, rng: np.random.Generator) -> BergmanState:
        """Members at their basal state (``Gb``, ``Ib``, no insulin action, empty gut)."""
        n = check_member_count(n)
        theta = self.params.to_matrix(n)
        return BergmanState(steady_state(BergmanParameters.from_matrix(theta)), theta)

    def advance(
        self,
        state: BergmanState,
        t0: float,
        t1: float,
        inputs: Inputs,
        rng: np.random.Generator,
    ) -> BergmanState:
        """Integrate from ``t0`` to ``t1`` (minutes) with inputs held per segment.

        Meals and boluses at a segment's start are applied as impulses before it is
        integrated; rates are held (zero-order hold) over the segment.
        """
        n = state.n_members
        held = hold_inputs(
            inputs, t0, t1, n, rate_channels=self.rate_inputs, event_channels=self.event_inputs
        )
        starts, durations = held.starts, held.durations
        theta = np.asarray(state.theta)
        x = np.array(state.x)
        u = np.empty((n, 2))
        for j in range(starts.size):
            x[:, 3] += theta[:, _P["f"]] * held.events["meal_g"][:, j] * MG_PER_G
            x[:, 2] += held.events["bolus_u"][:, j] * MU_PER_U / theta[:, _P["V1"]]
            u[:, 0] = held.rates["insulin_u_per_min"][:, j] * MU_PER_U
            u[:, 1] = held.rates["glucose_appearance_mg_dl_per_min"][:, j]
            x = self._integrate(x, u, theta, float(durations[j]))
        return BergmanState(x, theta)

    def observe(self, state: BergmanState) -> FloatArray:
        """Plasma glucose (mg/dL) and plasma insulin (mU/L), shape ``(n, 2)``."""
        return np.stack([state.x[:, 0], state.x[:, 2]], axis=1)

    def state_matrix(self, state: BergmanState) -> FloatArray:
        return np.asarray(state.x)

    # -- helpers ----------------------------------------------------------------------
    @staticmethod
    def parameter_index(name: str) -> int:
        """Column of parameter ``name`` in ``state.theta``."""
        return _P[name]

    def basal_inputs(self, state: BergmanState) -> Inputs:
        """Each member's basal insulin ``n Ib V1`` as a constant rate from t = 0."""
        th = np.asarray(state.theta)
        basal = th[:, _P["n"]] * th[:, _P["Ib"]] * th[:, _P["V1"]] / MU_PER_U
        return Inputs(rates={"insulin_u_per_min": Rate.constant(basal, start=0.0)})

    def stability_limit(self, theta: FloatArray, x: FloatArray | None = None) -> float:
        """Largest stable RK4 step (min) over the members, from the Jacobian spectrum.

        The spectral radius (:func:`jacobian_spectral_radius`) is taken at ``x`` (the
        basal state when omitted) and scaled by ``LIMIT_SAFETY``.
        """
        theta = np.asarray(theta)
        if x is None:
            x = steady_state(BergmanParameters.from_matrix(theta))
        radius = float(np.max(jacobian_spectral_radius(x, theta)))
        return LIMIT_SAFETY * RK4_STABILITY_RADIUS / radius if radius > 0 else math.inf
