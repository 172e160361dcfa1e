"""The minimal closed-loop cardiovascular model of Smith et al. (2004) as a patient model.

Six chambers (left and right ventricle, aorta, vena cava, pulmonary artery and vein) with
time-varying elastance, septal and pericardial ventricular interaction and inertial
valves (:mod:`.smith2004_equations`), integrated in seconds with RK4 steps of about one
millisecond (each beat is cut into equal steps no longer than ``step_ms``).

At the interface time is in minutes, so the model composes with the other patient
models. Outputs are beat-averaged: MAP, SBP, DBP, HR, cardiac output and stroke volume of
the last complete beat. ``resolution="multirate"`` (the default) integrates beats only
until they repeat, then holds them over the rest of the outer step
(:mod:`.smith2004_kernel` documents the scheme and its error); ``resolution="full"``
integrates every beat.

Fluid enters the vena cava: ``fluid_infusion_ml_per_min`` (held rate) and
``fluid_bolus_ml`` (impulse). Total blood volume changes by exactly the fluid given.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from healthtwin.core.inputs import Inputs
from healthtwin.core.protocols import channels
from healthtwin.core.segments import hold_inputs
from healthtwin.core.state import ArrayState, check_member_count
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidParameterError
from healthtwin.physiology.circulation.smith2004_equations import (
    I_E_AO,
    I_HR,
    I_VD_AO,
    I_VOL,
    X,
    driver,
    pressures,
    septum_volume,
)
from healthtwin.physiology.circulation.smith2004_kernel import (
    NEWTON_COLD,
    Kernel,
    beat_kernel,
    python_kernel,
)
from healthtwin.physiology.circulation.smith2004_parameters import (
    SMITH_2004_INITIAL_VOLUMES_ML,
    SmithParameters,
    smith_nominal_parameters,
)

__all__ = ["OUTPUT_NAMES", "STATE_NAMES", "SmithCVS", "SmithState"]

STATE_NAMES: tuple[str, ...] = tuple(X)
_STATE_UNITS = ("mL",) * 6 + ("mL/s",) * 4 + ("mL",)
OUTPUT_NAMES: tuple[str, ...] = (
    "map_mmhg",
    "sbp_mmhg",
    "dbp_mmhg",
    "heart_rate_bpm",
    "cardiac_output_l_per_min",
    "stroke_volume_ml",
)
#: Valve flows of the authors' initial condition (mL/s): mitral, aortic, tricuspid, pulmonary.
_INITIAL_FLOWS = (245.581, 0.0, 190.066, 0.0)
_SECONDS_PER_MIN = 60.0


@dataclass(frozen=True)
class SmithState(ArrayState):
    """Ensemble state of the Smith model.

    Attributes
    ----------
    x
        States, shape ``(n, 11)`` in ``STATE_NAMES`` order (volumes mL, flows mL/s).
    acc
        The running beat, shape ``(n, 5)``: time into the beat (s), integral of aortic
        pressure (mmHg s), its maximum and minimum so far (mmHg), ejected volume (mL).
    beat
        Outputs of the last complete beat, shape ``(n, 6)`` in ``OUTPUT_NAMES`` order.
    theta
        Parameters per member, shape ``(n, n_parameters)``.
    """

    x: FloatArray
    acc: FloatArray
    beat: FloatArray
    theta: FloatArray


class SmithCVS:
    """The Smith et al. (2004) cardiovascular system over an ensemble of members.

    Parameters
    ----------
    params
        One parameter set (shared) or one per member; the nominal subject when omitted.
    resolution
        ``"multirate"`` (beats until periodic, then held) or ``"full"`` (every beat).
    step_ms
        Longest RK4 step in milliseconds.
    tol
        Relative beat-to-beat change in MAP, SBP, DBP and SV taken as periodic.
    min_beats, max_beats
        Fewest and most beats integrated per macro step before holding.
    hold_max_min
        Longest hold (min) while an infusion runs; outputs lag the infusion by at most this.
    backend
        ``"auto"`` (numba when installed), ``"numba"`` or ``"python"``.

    Examples
    --------
    >>> model = SmithCVS()
    >>> rng = np.random.default_rng(0)
    >>> state = model.initial_state(1, rng)
    >>> later = model.advance(state, 0.0, 60.0, Inputs(), rng)
    >>> mean_pressure, systolic, diastolic = model.observe(later)[0, :3]
    >>> bool(75 < diastolic < mean_pressure < systolic < 130)
    True
    """

    name = "cvs-smith"
    time_unit = "min"
    rate_inputs = channels(
        [("fluid_infusion_ml_per_min", "mL/min", "intravenous fluid into the vena cava")]
    )
    event_inputs = channels([("fluid_bolus_ml", "mL", "fluid bolus into the vena cava")])
    outputs = channels(
        [
            ("map_mmhg", "mmHg", "mean aortic pressure over the last beat"),
            ("sbp_mmhg", "mmHg", "systolic (maximum) aortic pressure"),
            ("dbp_mmhg", "mmHg", "diastolic (minimum) aortic pressure"),
            ("heart_rate_bpm", "1/min", "heart rate"),
            ("cardiac_output_l_per_min", "L/min", "left ventricular output"),
            ("stroke_volume_ml", "mL", "forward aortic-valve volume per beat"),
        ]
    )
    states = channels([(n, u, "") for n, u in zip(STATE_NAMES, _STATE_UNITS, strict=True)])

    def __init__(
        self,
        params: SmithParameters | None = None,
        *,
        resolution: str = "multirate",
        step_ms: float = 1.0,
        tol: float = 1e-5,
        min_beats: int = 2,
        max_beats: int = 400,
        hold_max_min: float = 5.0,
        backend: str = "auto",
    ) -> None:
        if resolution not in ("multirate", "full"):
            raise InvalidParameterError(
                f"resolution must be 'multirate' or 'full', got {resolution!r}"
            )
        if backend not in ("auto", "numba", "python"):
            raise InvalidParameterError(
                f"backend must be 'auto', 'numba' or 'python', got {backend!r}"
            )
        if not (0.01 <= step_ms <= 5.0 and tol > 0 and hold_max_min > 0):
            raise InvalidParameterError(
                f"need 0.01 <= step_ms <= 5, tol > 0 and hold_max_min > 0; got step_ms="
                f"{step_ms}, tol={tol}, hold_max_min={hold_max_min}"
            )
        if not 2 <= min_beats <= max_beats:
            raise InvalidParameterError(
                f"need 2 <= min_beats <= max_beats, got {min_beats}, {max_beats}"
            )
        self.params = smith_nominal_parameters() if params is None else params
        self.resolution, self.step_ms, self.tol = resolution, step_ms, tol
        self.min_beats, self.max_beats, self.hold_max_min = min_beats, max_beats, hold_max_min
        self.backend = backend

    def __repr__(self) -> str:
        return (
            f"SmithCVS({self.params.n_members} parameter set(s), "
            f"resolution={self.resolution!r}, step_ms={self.step_ms})"
        )

    # -- protocol ---------------------------------------------------------------------
    def initial_state(self, n: int, rng: np.random.Generator) -> SmithState:
        """Members on their periodic orbit, reached from the authors' initial condition."""
        n = check_member_count(n)
        theta = self.params.to_matrix(n)
        c = theta.T
        x = np.zeros((n, len(STATE_NAMES)))
        scale = c[I_VOL] / sum(SMITH_2004_INITIAL_VOLUMES_ML)
        x[:, :6] = np.outer(scale, SMITH_2004_INITIAL_VOLUMES_ML)
        x[:, 6:10] = _INITIAL_FLOWS
        x[:, 10] = septum_volume(x[:, 0], x[:, 3], driver(0.0, c), c, 0.0, NEWTON_COLD)
        p_ao = c[I_E_AO] * (x[:, 1] - c[I_VD_AO])
        acc = np.stack([np.zeros(n), np.zeros(n), p_ao, p_ao, np.zeros(n)], axis=1)
        beat = np.zeros((n, len(OUTPUT_NAMES)))
        settle_s = (self.max_beats + 1) * float(np.max(_SECONDS_PER_MIN / c[I_HR]))
        zeros = np.zeros((1, n))
        self._kernel()(
            x, acc, beat, theta, np.array([settle_s]), zeros, zeros, False,
            self.tol, self.min_beats, self.max_beats, 1.0, self.step_ms / 1000.0,
        )  # fmt: skip
        return SmithState(x, acc, beat, theta)

    def advance(
        self,
        state: SmithState,
        t0: float,
        t1: float,
        inputs: Inputs,
        rng: np.random.Generator,
    ) -> SmithState:
        """Integrate from ``t0`` to ``t1`` (minutes) with inputs held per segment."""
        n = state.n_members
        held = hold_inputs(
            inputs, t0, t1, n, rate_channels=self.rate_inputs, event_channels=self.event_inputs
        )
        x, acc, beat = np.array(state.x), np.array(state.acc), np.array(state.beat)
        theta = np.array(state.theta)
        if held.starts.size:
            inflow = np.ascontiguousarray(held.rates["fluid_infusion_ml_per_min"].T) / 60.0
            bolus = np.ascontiguousarray(held.events["fluid_bolus_ml"].T)
            self._kernel()(
                x, acc, beat, theta, held.durations * _SECONDS_PER_MIN, inflow, bolus,
                self.resolution == "full", self.tol, self.min_beats, self.max_beats,
                self.hold_max_min * _SECONDS_PER_MIN, self.step_ms / 1000.0,
            )  # fmt: skip
        return SmithState(x, acc, beat, theta)

    @staticmethod
    def parameter_index(name: str) -> int:
        """Column of parameter ``name`` in ``state.theta``."""
        return SmithParameters.names().index(name)

    def observe(self, state: SmithState) -> FloatArray:
        """Beat-averaged outputs per member, shape ``(n, 6)`` in ``OUTPUT_NAMES`` order."""
        return np.array(state.beat)

    def state_matrix(self, state: SmithState) -> FloatArray:
        return np.array(state.x)

    # -- helpers ----------------------------------------------------------------------
    @staticmethod
    def total_volume_ml(state: SmithState) -> FloatArray:
        """Blood volume in the six chambers per member, shape ``(n,)``."""
        return np.asarray(np.sum(state.x[:, :6], axis=1))

    @staticmethod
    def pressures_mmhg(state: SmithState) -> FloatArray:
        """Instantaneous LV, AO, VC, RV, PA, PU pressures per member, shape ``(n, 6)``."""
        c, x = np.asarray(state.theta).T, np.asarray(state.x).T
        e = driver(np.asarray(state.acc)[:, 0], c)
        return np.stack(pressures(x, e, x[10], c), axis=1)

    def _kernel(self) -> Kernel:
        if self.backend == "python":
            return python_kernel()
        return beat_kernel(required=self.backend == "numba")

    def with_options(self, **options: object) -> SmithCVS:
        """A copy with other options (``resolution``, ``step_ms``, ``tol``, ...)."""
        current: dict[str, object] = {
            "resolution": self.resolution,
            "step_ms": self.step_ms,
            "tol": self.tol,
            "min_beats": self.min_beats,
            "max_beats": self.max_beats,
            "hold_max_min": self.hold_max_min,
            "backend": self.backend,
        }
        unknown = set(options) - set(current)
        if unknown:
            raise InvalidParameterError(
                f"unknown option(s) {sorted(unknown)}; valid: {sorted(current)}"
            )
        return SmithCVS(self.params, **{**current, **options})  # type: ignore[arg-type]
