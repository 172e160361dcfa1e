"""A linear PK/PD model over an ensemble of members, exact per held input segment."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from healthtwin.core.inputs import Inputs
from healthtwin.core.protocols import channels
from healthtwin.core.segments import hold_inputs
from healthtwin.core.solvers import SolverOptions
from healthtwin.core.state import ArrayState, check_member_count
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidParameterError
from healthtwin.physiology.pkpd.compartments import (
    RATE_NAMES,
    CompartmentLayout,
    apply_propagators,
    propagate_ode,
    propagators,
    system_matrix,
)
from healthtwin.physiology.pkpd.covariates import Covariates
from healthtwin.physiology.pkpd.dosing import DoseRecord, Route, records_to_inputs
from healthtwin.physiology.pkpd.parameters import PkPdParameters
from healthtwin.physiology.pkpd.pd import sigmoid_emax
from healthtwin.physiology.pkpd.presets import preset

__all__ = ["NOMINAL_ADULT", "PKPD_MODELS", "PkPdModel", "PkPdState", "make_pkpd_model"]

_P = {name: i for i, name in enumerate(PkPdParameters.names())}
_RATE_COLUMNS = [_P[name] for name in RATE_NAMES]
_METHODS = ("expm", "rk4", "dopri5")
_CACHE_SIZE = 16


@dataclass(frozen=True)
class PkPdState(ArrayState):
    """Ensemble state: ``x`` (n, d) amounts and effect-site concentration; ``theta`` (n, p)."""

    x: FloatArray
    theta: FloatArray


class PkPdModel:
    """Linear 1-3 compartment PK with optional depot, an effect site and sigmoid Emax PD.

    Parameters
    ----------
    params
        Parameters for one member (shared) or one per member.
    name
        Registry name.
    n_compartments, absorption
        Disposition compartments (1-3) and whether oral doses enter a depot (``ka``).
    dose_unit
        ``"mg"`` or ``"ug"``; concentrations are dose unit per litre.
    effect_name, effect_unit
        The PD output channel.
    method
        ``"expm"`` (exact, the default), ``"rk4"`` or ``"dopri5"`` (the ODE check paths).
    step_min, rtol, atol
        Solver settings of the ODE paths.

    Examples
    --------
    >>> from healthtwin.core.inputs import Events, Rate
    >>> model = make_pkpd_model("pk-schnider")
    >>> rng = np.random.default_rng(0)
    >>> plan = Inputs(rates={"infusion_mg_per_min": Rate([1.0, 61.0], [10.0, 0.0])},
    ...               events={"bolus_mg": Events([0.0], [140.0])})
    >>> later = model.advance(model.initial_state(2, rng), 0.0, 30.0, plan, rng)
    >>> model.observe(later).shape
    (2, 3)
    """

    time_unit = "min"

    def __init__(
        self,
        params: PkPdParameters,
        *,
        name: str = "pkpd",
        n_compartments: int = 3,
        absorption: bool = False,
        dose_unit: str = "mg",
        effect_name: str = "effect",
        effect_unit: str = "effect unit",
        method: str = "expm",
        step_min: float = 0.1,
        rtol: float = 1e-10,
        atol: float = 1e-12,
    ) -> None:
        if dose_unit not in ("mg", "ug"):
            raise InvalidParameterError(f"dose_unit must be 'mg' or 'ug', got {dose_unit!r}")
        if method not in _METHODS:
            raise InvalidParameterError(f"method must be one of {_METHODS}, got {method!r}")
        self.params, self.name, self.method = params, name, method
        self.dose_unit, self.effect_name, self.effect_unit = dose_unit, effect_name, effect_unit
        self.layout = CompartmentLayout(n_compartments, absorption=absorption)
        self.options = SolverOptions(
            step=step_min,
            method="rk4" if method == "expm" else method,
            rtol=rtol,
            atol=atol,
            step_name="step_min",
        )
        u = dose_unit
        self.bolus_channel, self.infusion_channel = f"bolus_{u}", f"infusion_{u}_per_min"
        self.oral_channel = f"oral_{u}" if absorption else None
        self.rate_inputs = channels(
            [
                (
                    self.infusion_channel,
                    f"{u}/min",
                    "intravenous infusion into the central compartment",
                )
            ]
        )
        events = [(self.bolus_channel, u, "intravenous bolus into the central compartment")]
        if self.oral_channel:
            events.append(
                (self.oral_channel, u, "oral dose into the depot (times bioavailability)")
            )
        self.event_inputs = channels(events)
        self.outputs = channels(
            [
                (f"plasma_{u}_l", f"{u}/L", "plasma (central) concentration"),
                (f"effect_site_{u}_l", f"{u}/L", "effect-site concentration"),
                (effect_name, effect_unit, "sigmoid Emax effect of the effect-site concentration"),
            ]
        )
        self.states = channels(
            [(f"{s}_{u}", u, f"drug amount in the {s}") for s in self.layout.amount_names]
            + [("effect_site_" + f"{u}_l", f"{u}/L", "effect-site concentration")]
        )
        first = 2 if absorption else 1
        routes = [Route(first, "central", self.bolus_channel, self.infusion_channel)]
        if self.oral_channel:
            routes.insert(0, Route(1, "depot", self.oral_channel))
        self.routes: tuple[Route, ...] = tuple(routes)
        self._cache: OrderedDict[tuple[bytes, float], tuple[FloatArray, FloatArray]] = OrderedDict()

    def __repr__(self) -> str:
        return (
            f"PkPdModel({self.name!r}, {self.layout.n_compartments} compartment(s), "
            f"absorption={self.layout.absorption}, method={self.method!r})"
        )

    # -- protocol ---------------------------------------------------------------------
    def initial_state(self, n: int, rng: np.random.Generator) -> PkPdState:
        """Drug-free members carrying their parameters."""
        n = check_member_count(n)
        return PkPdState(np.zeros((n, self.layout.size)), self.params.to_matrix(n))

    def advance(
        self, state: PkPdState, t0: float, t1: float, inputs: Inputs, rng: np.random.Generator
    ) -> PkPdState:
        """The state at ``t1`` (min): boluses at each segment start, infusions held over it."""
        n = state.n_members
        held = hold_inputs(
            inputs, t0, t1, n, rate_channels=self.rate_inputs, event_channels=self.event_inputs
        )
        theta = np.asarray(state.theta)
        a = system_matrix(self.layout, theta[:, _RATE_COLUMNS])
        x = np.array(state.x)
        central = self.layout.index("central")
        # Rates are read at segment midpoints: the kernel merges boundaries closer than
        # 1e-9 min, and a rate read at a merged start would miss a change just after it
        # (an infusion end at 0.1 + 0.2 against a dose at 0.3) for the whole segment.
        infusion = inputs.rate(self.infusion_channel, 0.5 * (held.starts + held.ends), n)
        b = np.zeros_like(x)
        for j, duration in enumerate(held.durations):
            x[:, central] += held.events[self.bolus_channel][:, j]
            if self.oral_channel:
                oral = held.events[self.oral_channel][:, j] * theta[:, _P["bioavailability"]]
                x[:, self.layout.index("depot")] += oral
            b[:, central] = infusion[:, j]
            x = self._propagate(a, theta, x, b, float(duration))
        return PkPdState(x, theta)

    def observe(self, state: PkPdState) -> FloatArray:
        """Plasma and effect-site concentrations and the effect, shape ``(n, 3)``."""
        th = np.asarray(state.theta)
        plasma = state.x[:, self.layout.index("central")] / th[:, _P["v1_l"]]
        ce = state.x[:, self.layout.index("effect_site")]
        effect = sigmoid_emax(ce, *(th[:, _P[k]] for k in ("e0", "emax", "ec50", "gamma")))
        return np.stack([plasma, ce, effect], axis=1)

    def state_matrix(self, state: PkPdState) -> FloatArray:
        return np.asarray(state.x)

    @staticmethod
    def parameter_index(name: str) -> int:
        """Column of parameter ``name`` in ``state.theta``."""
        return _P[name]

    # -- helpers ----------------------------------------------------------------------
    def inputs_from_records(self, records: list[DoseRecord] | tuple[DoseRecord, ...]) -> Inputs:
        """Inputs for this model from NONMEM-style dose records (CMT per :attr:`routes`)."""
        return records_to_inputs(records, self.routes)

    def amount_in_body(self, state: PkPdState) -> FloatArray:
        """Drug in depot, central and peripheral compartments per member, shape ``(n,)``."""
        cols = [self.layout.index(s) for s in self.layout.amount_names]
        return np.asarray(state.x[:, cols].sum(axis=1))

    def _propagate(
        self, a: FloatArray, theta: FloatArray, x: FloatArray, b: FloatArray, duration: float
    ) -> FloatArray:
        if duration <= 0:
            return x
        if self.method != "expm":
            return propagate_ode(a, x, b, duration, self.options)
        # Parameters rarely change between calls: reuse the propagators of a step length.
        key = (hashlib.blake2b(theta.tobytes(), digest_size=16).digest(), duration)
        cached = self._cache.get(key)
        if cached is None:
            cached = propagators(a, duration)
            self._cache[key] = cached
            if len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return apply_propagators(cached[0], cached[1], x, b)

    def with_options(
        self,
        *,
        method: str | None = None,
        step_min: float | None = None,
        rtol: float | None = None,
        atol: float | None = None,
    ) -> PkPdModel:
        """A copy with other solver settings (``method="dopri5"`` for the ODE check)."""
        return PkPdModel(
            self.params,
            name=self.name,
            n_compartments=self.layout.n_compartments,
            absorption=self.layout.absorption,
            dose_unit=self.dose_unit,
            effect_name=self.effect_name,
            effect_unit=self.effect_unit,
            method=self.method if method is None else method,
            step_min=self.options.step if step_min is None else step_min,
            rtol=self.options.rtol if rtol is None else rtol,
            atol=self.options.atol if atol is None else atol,
        )


#: Covariates of the nominal subject (the Schnider reference adult).
NOMINAL_ADULT = Covariates(age_yr=53.0, weight_kg=77.0, height_cm=177.0, sex="male")


def make_pkpd_model(name: str, covariates: Covariates | None = None) -> PkPdModel:
    """The drug model ``pk-<preset>`` for the patients in ``covariates`` (nominal adult if None).

    Examples
    --------
    >>> make_pkpd_model("pk-minto").outputs["plasma_ug_l"].unit
    'ug/L'
    """
    p = preset(name.removeprefix("pk-"))
    cov = NOMINAL_ADULT if covariates is None else covariates
    return PkPdModel(
        p.build(cov),
        name=f"pk-{p.name}",
        dose_unit=p.dose_unit,
        effect_name=p.effect_name,
        effect_unit=p.effect_unit,
    )


def _factory(name: str) -> Callable[[], PkPdModel]:
    def build() -> PkPdModel:
        return make_pkpd_model(name)

    build.__name__ = f"make_{name.replace('-', '_')}"
    return build


#: Registry name -> factory of the model for the nominal adult.
PKPD_MODELS: Mapping[str, Callable[[], PkPdModel]] = MappingProxyType(
    {name: _factory(name) for name in ("pk-schnider", "pk-marsh", "pk-marsh-modified", "pk-minto")}
)
