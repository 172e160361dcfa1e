"""Reduced 4-state model of the acute inflammatory response (Reynolds et al. 2006).

Reynolds, Rubin, Clermont, Day, Vodovotz & Ermentrout, "A reduced mathematical model of the
acute inflammatory response: I. Derivation of model and analysis of anti-inflammation",
J Theor Biol 242:220-236 (2006): the four equations with its Table 1, time in hours:

- ``dP/dt = k_pg P (1 - P/P_inf) - k_pm s_m P / (mu_m + k_mp P) - k_pn f(N*) P``
  (pathogen, 1e6 cells/cc);
- ``dN*/dt = s_nr R / (mu_nr + R) - mu_n N*``, ``R = f(k_nn N* + k_np P + k_nd D)``
  (activated phagocytes, N*-units);
- ``dD/dt = k_dn f_s(f(N*)) - mu_d D`` (tissue damage, D-units);
- ``dCA/dt = s_c + k_cn f(N* + k_cnd D) / (1 + f(N* + k_cnd D)) - mu_c CA + u_CA(t)``
  (slow anti-inflammatory mediator, CA-units);

with the anti-inflammatory damping ``f(V) = V / (1 + (CA / c_inf)^2)`` and the damage
sigmoid ``f_s(V) = V^6 / (x_dn^6 + V^6)``. The second term of ``dP/dt`` is the non-specific
local response (macrophages) held at its quasi-steady state; ``R / (mu_nr + R)`` is the
fraction of resting phagocytes activated, again at quasi-steady state.

The healthy rest point is ``P = N* = D = 0``, ``CA = s_c / mu_c`` (0.125 with Table 1), the
paper's initial condition before a pathogen load ``P(0)``. Here the load is the impulse
event ``pathogen_inoculum`` (added to ``P``), so a run from :meth:`initial_state` with an
inoculum of ``P0`` at ``t = 0`` is the paper's run from ``(P0, 0, 0, 0.125)``.

``u_CA`` (rate channel ``anti_inflammatory_ca_units_per_h``) and the impulse event
``anti_inflammatory_bolus_ca_units`` are this module's therapy inputs: an exogenous source
of CA added to ``s_c`` (zero-order hold) and a jump in ``CA``. They are not part of the
2006 equations; with both at zero the equations are exactly the paper's.

The paper's three illustrated outcomes (reproduced by the curated BioModels entry
BIOMD0000000714 as its runs "HealthyOutcome", "AsepticDeath" and "SepticDeath") come from
Table 1 with ``N*(0) = D(0) = 0``, ``CA(0) = 0.125``: health (``k_pg = 0.3``,
``P(0) = 1``), aseptic death (``k_pg = 0.3``, ``P(0) = 1.5``: pathogen cleared, ``N*``
and ``D`` stay high) and septic death (``k_pg = 0.6``, ``P(0) = 1``: pathogen persists
near 4.9, ``D`` near 17.5); see :data:`PAPER_SCENARIOS` and :func:`classify_outcome`.
The health run lies close to two thresholds (found here by bisection with LSODA, rtol
1e-10): with ``k_pg = 0.3`` loads above ``P(0) = 1.036`` end in aseptic death; with
``P(0) = 1`` growth above ``k_pg = 0.311`` ends in aseptic death and above
``k_pg = 0.514`` in septic death.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType
from typing import ClassVar

import numpy as np

from healthtwin.core.held_ode import HeldOdeModel
from healthtwin.core.inputs import Inputs
from healthtwin.core.params import Parameters
from healthtwin.core.protocols import channels
from healthtwin.core.segments import hold_inputs
from healthtwin.core.solvers import RK4_STABILITY_RADIUS
from healthtwin.core.state import ArrayState, check_member_count
from healthtwin.core.types import FloatArray, IntArray
from healthtwin.errors import InvalidParameterError

__all__ = [
    "PAPER_SCENARIOS",
    "REYNOLDS_2006",
    "STATE_NAMES",
    "Inflammation",
    "InflammationParameters",
    "InflammationState",
    "Outcome",
    "PaperScenario",
    "classify_outcome",
    "inflammation_rhs",
    "jacobian_spectral_radius",
    "rest_state",
    "reynolds_nominal_parameters",
]

#: The RK4 step limit is recomputed from the current state at least this often (h).
LIMIT_REFRESH_H = 6.0
#: Fraction of the RK4 stability extent used; the margin covers the state moving within
#: one refresh interval (phagocytes rising speeds up pathogen clearance).
LIMIT_SAFETY = 0.5

STATE_NAMES: tuple[str, ...] = (
    "pathogen",
    "activated_phagocytes",
    "tissue_damage",
    "anti_inflammatory_mediator",
)
_STATE_UNITS = ("1e6 cells/cc", "N*-units", "D-units", "CA-units")
_P, _N, _D, _C = range(4)

#: Reynolds et al. 2006, Table 1 (units as there; per h). Every value is also in the
#: curated BioModels entry BIOMD0000000714 and the Pulse engine's ImmuneModel.
REYNOLDS_2006: Mapping[str, float] = MappingProxyType(
    {
        "k_pg": 0.3,  # 1/h, pathogen growth rate (0.3 health/aseptic, 0.6 septic runs)
        "p_inf": 20.0,  # 1e6 cells/cc, pathogen carrying capacity
        "k_pm": 0.6,  # /(M-units h), pathogen killed by the non-specific local response
        "s_m": 0.005,  # M-units/h, source of the non-specific local response
        "mu_m": 0.002,  # 1/h, decay of the non-specific local response
        "k_mp": 0.01,  # /(1e6 cells/cc h), local response exhausted by pathogen
        "k_pn": 1.8,  # /(N*-units h), pathogen killed by activated phagocytes
        "k_np": 0.1,  # /(1e6 cells/cc h), phagocytes activated by pathogen
        "k_nn": 0.01,  # /(N*-units h), phagocytes activated by activated phagocytes
        "s_nr": 0.08,  # N_R-units/h, source of resting phagocytes
        "mu_nr": 0.12,  # 1/h, decay of resting phagocytes
        "mu_n": 0.05,  # 1/h, decay of activated phagocytes
        "k_nd": 0.02,  # /(D-units h), phagocytes activated by tissue damage
        "k_dn": 0.35,  # D-units/h, largest rate of damage by activated phagocytes
        "x_dn": 0.06,  # N*-units, f(N*) giving half the largest damage rate
        "mu_d": 0.02,  # 1/h, decay (repair) of damage
        "c_inf": 0.28,  # CA-units, CA that halves the damping function f
        "s_c": 0.0125,  # CA-units/h, source of CA
        "k_cn": 0.04,  # CA-units/h, largest CA production driven by N* and D
        "k_cnd": 48.0,  # N*-units/D-units, weight of damage against N* in CA production
        "mu_c": 0.1,  # 1/h, decay of CA
    }
)


@dataclass(frozen=True, kw_only=True)
class InflammationParameters(Parameters):
    """Parameters of the Reynolds et al. (2006) model; units as in :data:`REYNOLDS_2006`."""

    k_pg: float | FloatArray  # pathogen growth, 1/h
    p_inf: float | FloatArray  # pathogen carrying capacity, 1e6 cells/cc
    k_pm: float | FloatArray  # killing by the local response, /(M-units h)
    s_m: float | FloatArray  # local response source, M-units/h
    mu_m: float | FloatArray  # local response decay, 1/h
    k_mp: float | FloatArray  # local response exhaustion, /(1e6 cells/cc h)
    k_pn: float | FloatArray  # killing by activated phagocytes, /(N*-units h)
    k_np: float | FloatArray  # activation by pathogen, /(1e6 cells/cc h)
    k_nn: float | FloatArray  # activation by activated phagocytes, /(N*-units h)
    s_nr: float | FloatArray  # resting phagocyte source, N_R-units/h
    mu_nr: float | FloatArray  # resting phagocyte decay, 1/h
    mu_n: float | FloatArray  # activated phagocyte decay, 1/h
    k_nd: float | FloatArray  # activation by damage, /(D-units h)
    k_dn: float | FloatArray  # largest damage rate, D-units/h
    x_dn: float | FloatArray  # half-saturation of damage, N*-units
    mu_d: float | FloatArray  # damage decay, 1/h
    c_inf: float | FloatArray  # anti-inflammatory damping scale, CA-units
    s_c: float | FloatArray  # CA source, CA-units/h
    k_cn: float | FloatArray  # largest driven CA production, CA-units/h
    k_cnd: float | FloatArray  # damage weight in CA production, N*-units/D-units
    mu_c: float | FloatArray  # CA decay, 1/h

    positive: ClassVar[frozenset[str]] = frozenset(
        {"p_inf", "mu_m", "mu_nr", "mu_n", "x_dn", "mu_d", "c_inf", "mu_c"}
    )
    nonnegative: ClassVar[frozenset[str]] = frozenset(
        {"k_pg", "k_pm", "s_m", "k_mp", "k_pn", "k_np", "k_nn", "s_nr", "k_nd", "k_dn"}
        | {"s_c", "k_cn", "k_cnd"}
    )


_K = {name: i for i, name in enumerate(InflammationParameters.names())}


def reynolds_nominal_parameters(*, k_pg: float = REYNOLDS_2006["k_pg"]) -> InflammationParameters:
    """Table 1 of Reynolds et al. (2006), with the pathogen growth rate ``k_pg`` (1/h).

    Examples
    --------
    >>> p = reynolds_nominal_parameters()
    >>> float(p.s_c[0] / p.mu_c[0])  # resting anti-inflammatory level, CA(0) of the paper
    0.125
    """
    return InflammationParameters(**{**REYNOLDS_2006, "k_pg": k_pg})


class Outcome(IntEnum):
    """Qualitative end state of a run, as Reynolds et al. (2006) name them."""

    HEALTH = 0
    ASEPTIC_DEATH = 1
    SEPTIC_DEATH = 2
    UNRESOLVED = 3


@dataclass(frozen=True)
class PaperScenario:
    """One of the paper's outcome runs: growth rate, initial load and expected outcome."""

    k_pg: float
    pathogen_0: float
    outcome: Outcome


#: The outcome runs of Reynolds et al. (2006), as curated in BioModels BIOMD0000000714.
PAPER_SCENARIOS: Mapping[str, PaperScenario] = MappingProxyType(
    {
        "health": PaperScenario(0.3, 1.0, Outcome.HEALTH),
        "aseptic-death": PaperScenario(0.3, 1.5, Outcome.ASEPTIC_DEATH),
        "septic-death": PaperScenario(0.6, 1.0, Outcome.SEPTIC_DEATH),
    }
)


def _damped(v: FloatArray, ca: FloatArray, c_inf: FloatArray) -> FloatArray:
    """The anti-inflammatory damping ``f(V) = V / (1 + (CA / c_inf)^2)``."""
    ratio = ca / c_inf
    return np.asarray(v / (1.0 + ratio * ratio))


def inflammation_rhs(x: FloatArray, u: FloatArray, p: FloatArray) -> FloatArray:
    """Time derivative of the 4 states with the therapy input held.

    Parameters
    ----------
    x
        States, shape ``(n, 4)`` in ``STATE_NAMES`` order.
    u
        Held exogenous CA source (CA-units/h), shape ``(n, 1)``.
    p
        Parameter matrix, shape ``(n, n_parameters)``.

    Returns
    -------
    numpy.ndarray
        ``dx/dt`` per hour, shape ``(n, 4)``.

    Examples
    --------
    >>> p = reynolds_nominal_parameters()
    >>> bool(np.allclose(inflammation_rhs(rest_state(p), np.zeros((1, 1)), p.to_matrix()), 0))
    True
    """
    c = p.T
    pat, act, dmg, ca = x.T
    c_inf = c[_K["c_inf"]]
    f_act = _damped(act, ca, c_inf)
    drive = _damped(c[_K["k_nn"]] * act + c[_K["k_np"]] * pat + c[_K["k_nd"]] * dmg, ca, c_inf)
    ca_drive = _damped(act + c[_K["k_cnd"]] * dmg, ca, c_inf)
    # Products rather than ``**``: bitwise the same result for any member count.
    act_3 = f_act * f_act * f_act
    x_dn_3 = c[_K["x_dn"]] * c[_K["x_dn"]] * c[_K["x_dn"]]
    act_6, x_dn_6 = act_3 * act_3, x_dn_3 * x_dn_3
    dx = np.empty_like(x)
    dx[:, _P] = (
        c[_K["k_pg"]] * pat * (1.0 - pat / c[_K["p_inf"]])
        - c[_K["k_pm"]] * c[_K["s_m"]] * pat / (c[_K["mu_m"]] + c[_K["k_mp"]] * pat)
        - c[_K["k_pn"]] * f_act * pat
    )
    dx[:, _N] = c[_K["s_nr"]] * drive / (c[_K["mu_nr"]] + drive) - c[_K["mu_n"]] * act
    dx[:, _D] = c[_K["k_dn"]] * act_6 / (x_dn_6 + act_6) - c[_K["mu_d"]] * dmg
    dx[:, _C] = (
        c[_K["s_c"]] + c[_K["k_cn"]] * ca_drive / (1.0 + ca_drive) - c[_K["mu_c"]] * ca + u[:, 0]
    )
    return dx


def rest_state(params: InflammationParameters) -> FloatArray:
    """The healthy rest point ``P = N* = D = 0``, ``CA = s_c / mu_c``, shape ``(m, 4)``."""
    c = params.to_matrix().T
    zeros = np.zeros_like(c[0])
    return np.stack([zeros, zeros, zeros, c[_K["s_c"]] / c[_K["mu_c"]]], axis=1)


def jacobian_spectral_radius(x: FloatArray, theta: FloatArray) -> FloatArray:
    """Spectral radius of ``d(inflammation_rhs)/dx`` per member, shape ``(n,)``.

    The Jacobian is taken by central differences (relative step 1e-6) and its
    eigenvalues by :func:`numpy.linalg.eigvals`; only its size matters (a step limit).

    Examples
    --------
    >>> p = reynolds_nominal_parameters()
    >>> round(float(jacobian_spectral_radius(rest_state(p), p.to_matrix())[0]), 3)
    1.2
    """
    x = np.asarray(x, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    n, d = x.shape
    u = np.zeros((n, 1))
    jac = np.empty((n, d, d))
    for j in range(d):
        h = 1e-6 * (1.0 + np.abs(x[:, j]))
        step = np.zeros_like(x)
        step[:, j] = h
        diff = inflammation_rhs(x + step, u, theta) - inflammation_rhs(x - step, u, theta)
        jac[:, :, j] = diff / (2.0 * h[:, None])
    return np.asarray(np.max(np.abs(np.linalg.eigvals(jac)), axis=1))


def classify_outcome(
    state: InflammationState,
    *,
    pathogen_threshold: float = 0.5,
    damage_threshold: float = 5.0,
) -> IntArray:
    """The :class:`Outcome` of each member from its (late) state, shape ``(n,)``.

    The paper's attractors with Table 1 are health (``P = D = 0``), aseptic death
    (``P = 0``, ``D`` near 17.4) and septic death (``P`` near 4.9, ``D`` near 17.5). A
    member is in septic death when ``P >= pathogen_threshold`` and
    ``D >= damage_threshold``, in aseptic death when only ``D`` is at or above its
    threshold, healthy when both are below, and unresolved when the pathogen is high
    but has not yet damaged the tissue (early infection). Classify after the transient
    (two weeks, 336 h, settles the paper's runs); transient damage in a run that heals
    peaks below 4 D-units.

    Parameters
    ----------
    state
        States to classify.
    pathogen_threshold
        Pathogen load (1e6 cells/cc, > 0) counted as a persisting infection.
    damage_threshold
        Tissue damage (D-units, > 0) counted as lasting damage.

    Returns
    -------
    numpy.ndarray
        :class:`Outcome` codes (int64), shape ``(n,)``.

    Raises
    ------
    InvalidParameterError
        If a threshold is not a finite positive number.

    Examples
    --------
    >>> p = reynolds_nominal_parameters()
    >>> x = np.array([[0.0, 0.0, 0.0, 0.125], [0.0, 0.63, 17.4, 0.52], [4.9, 0.98, 17.5, 0.52]])
    >>> state = InflammationState(x, p.to_matrix(3))
    >>> [Outcome(int(k)).name for k in classify_outcome(state)]
    ['HEALTH', 'ASEPTIC_DEATH', 'SEPTIC_DEATH']
    """
    for name, value in (
        ("pathogen_threshold", pathogen_threshold),
        ("damage_threshold", damage_threshold),
    ):
        if not (math.isfinite(value) and value > 0):
            raise InvalidParameterError(f"{name} must be a finite number > 0, got {value!r}")
    x = np.asarray(state.x)
    infected = x[:, _P] >= pathogen_threshold
    damaged = x[:, _D] >= damage_threshold
    out = np.full(x.shape[0], Outcome.HEALTH, dtype=np.int64)
    out[damaged & ~infected] = Outcome.ASEPTIC_DEATH
    out[damaged & infected] = Outcome.SEPTIC_DEATH
    out[infected & ~damaged] = Outcome.UNRESOLVED
    return out


@dataclass(frozen=True)
class InflammationState(ArrayState):
    """Ensemble state of the inflammation model.

    Attributes
    ----------
    x
        Continuous states, shape ``(n, 4)`` in ``STATE_NAMES`` order.
    theta
        Parameters per member, shape ``(n, n_parameters)``.
    """

    x: FloatArray
    theta: FloatArray


class Inflammation(HeldOdeModel):
    """The Reynolds et al. (2006) acute inflammatory response over an ensemble of members.

    Parameters
    ----------
    params
        Parameters for one member (shared) or one per member; Table 1
        (:func:`reynolds_nominal_parameters`) when omitted.
    step_h
        RK4 step in hours; sub-stepped below the stability limit of the stiffest member.
    method
        ``"rk4"`` (fixed step) or ``"dopri5"`` (adaptive).
    rtol, atol
        Tolerances for ``"dopri5"``.

    Examples
    --------
    >>> from healthtwin.core.inputs import Events
    >>> model = Inflammation(reynolds_nominal_parameters(k_pg=0.3))
    >>> rng = np.random.default_rng(0)
    >>> state = model.initial_state(2, rng)
    >>> load = Inputs(events={"pathogen_inoculum": Events([0.0], [[1.0], [1.5]])})
    >>> later = model.advance(state, 0.0, 336.0, load, rng)
    >>> [Outcome(int(k)).name for k in classify_outcome(later)]
    ['HEALTH', 'ASEPTIC_DEATH']
    """

    name = "inflammation"
    time_unit = "h"
    rate_inputs = channels(
        [
            (
                "anti_inflammatory_ca_units_per_h",
                "CA-units/h",
                "exogenous anti-inflammatory source added to s_c (therapy)",
            ),
        ]
    )
    event_inputs = channels(
        [
            ("pathogen_inoculum", "1e6 cells/cc", "pathogen load added at once (infection)"),
            (
                "anti_inflammatory_bolus_ca_units",
                "CA-units",
                "anti-inflammatory mediator added at once (therapy)",
            ),
        ]
    )
    outputs = channels(
        [
            ("pathogen", "1e6 cells/cc", "pathogen load P"),
            ("activated_phagocytes", "N*-units", "activated phagocytes N*"),
            ("tissue_damage", "D-units", "tissue damage D"),
            ("anti_inflammatory_mediator", "CA-units", "slow anti-inflammatory mediator CA"),
        ]
    )
    states = channels([(n, u, "") for n, u in zip(STATE_NAMES, _STATE_UNITS, strict=True)])

    limit_refresh = LIMIT_REFRESH_H
    rhs = staticmethod(inflammation_rhs)

    def __init__(
        self,
        params: InflammationParameters | None = None,
        *,
        step_h: float = 0.1,
        method: str = "rk4",
        rtol: float = 1e-8,
        atol: float = 1e-10,
    ) -> None:
        self._configure(
            reynolds_nominal_parameters() if params is None else params, step_h, method, rtol, atol
        )

    @property
    def step_h(self) -> float:
        """The RK4 step (h)."""
        return self.options.step

    # -- protocol ---------------------------------------------------------------------
    def initial_state(self, n: int, rng: np.random.Generator) -> InflammationState:
        """Members at the healthy rest point (no pathogen, ``CA = s_c / mu_c``)."""
        n = check_member_count(n)
        theta = self.params.to_matrix(n)
        return InflammationState(rest_state(InflammationParameters.from_matrix(theta)), theta)

    def advance(
        self,
        state: InflammationState,
        t0: float,
        t1: float,
        inputs: Inputs,
        rng: np.random.Generator,
    ) -> InflammationState:
        """Integrate from ``t0`` to ``t1`` (hours) with inputs held per segment.

        Inoculations and boluses at a segment's start are added to ``P`` and ``CA``
        before it is integrated; the CA source is held (zero-order hold) over it.
        """
        n = state.n_members
        held = hold_inputs(
            inputs, t0, t1, n, rate_channels=self.rate_inputs, event_channels=self.event_inputs
        )
        theta = np.asarray(state.theta)
        x = np.array(state.x)
        u = np.empty((n, 1))
        for j in range(held.starts.size):
            x[:, _P] += held.events["pathogen_inoculum"][:, j]
            x[:, _C] += held.events["anti_inflammatory_bolus_ca_units"][:, j]
            u[:, 0] = held.rates["anti_inflammatory_ca_units_per_h"][:, j]
            x = self._integrate(x, u, theta, float(held.durations[j]))
        return InflammationState(x, theta)

    def observe(self, state: InflammationState) -> FloatArray:
        """``P``, ``N*``, ``D`` and ``CA`` per member, shape ``(n, 4)``."""
        return np.array(state.x)

    def state_matrix(self, state: InflammationState) -> FloatArray:
        return np.asarray(state.x)

    # -- helpers ----------------------------------------------------------------------
    @staticmethod
    def parameter_index(name: str) -> int:
        """Column of parameter ``name`` in ``state.theta``."""
        return _K[name]

    def stability_limit(self, theta: FloatArray, x: FloatArray | None = None) -> float:
        """Largest stable RK4 step (h) over the members, from the Jacobian spectrum.

        The spectral radius (:func:`jacobian_spectral_radius`) is taken at ``x`` (the
        rest point when omitted) and scaled by ``LIMIT_SAFETY``.
        """
        theta = np.asarray(theta)
        if x is None:
            x = rest_state(InflammationParameters.from_matrix(theta))
        radius = float(np.max(jacobian_spectral_radius(x, theta)))
        return LIMIT_SAFETY * RK4_STABILITY_RADIUS / radius if radius > 0 else math.inf
