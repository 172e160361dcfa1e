"""Target-controlled infusion (TCI) to a plasma or effect-site concentration target.

Idea
----
A linear pharmacokinetic model's concentration is the sum of its free course (what the
drug already in the body will do) and one response per infusion pulse. Every update
interval ``delta`` the pump is set to the largest rate whose predicted peak of the
targeted concentration does not exceed the target, assuming the pump stops afterwards::

    R_k = clip( min_{0 < s <= H} (C_T(t_k) - c(t_k + s)) / u(s),  0,  R_max )

``c`` is the prediction under the rates already chosen, ``u`` the response to a unit rate
held for one interval and ``H`` a horizon past the response's peak. At that rate the
predicted curve touches the target at its peak and stays below it elsewhere, so the
target is reached as fast as the pump allows and never overshot (in the model). For a
plasma target the minimum lies at the end of the pulse and the rule is the
plasma-targeting algorithm of Jacobs (IEEE Trans Biomed Eng 37:107, 1990); for an
effect-site target it is the peak-effect algorithm of Shafer & Gregg (J Pharmacokinet
Biopharm 20:147, 1992), whose iteration on the time of peak the minimum replaces.

``c`` and ``u`` come from simulating the :class:`~healthtwin.core.protocols.Model` itself
(one batched run over the members, with and without a unit pulse), so any linear,
time-invariant PK model works, for any number of patients at once; the convolution then
costs one array update per interval (the unit-disposition approach of STANPUMP).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from healthtwin.core.inputs import Inputs, Rate
from healthtwin.core.protocols import Model, output_column
from healthtwin.core.trajectory import Trajectory, simulate
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError

__all__ = ["PulseResponses", "TciResult", "TciSettings", "next_rate", "plan_tci", "pulse_responses"]

_RESPONSE_FLOOR = 1e-12  # unit responses below this fraction of their peak are ignored


@dataclass(frozen=True)
class TciSettings:
    """How a TCI pump works: what it targets, how often it updates, how fast it can run.

    Times are in the model's time unit; rates in the infusion channel's unit.

    Parameters
    ----------
    output
        The targeted output channel (``"effect_site_mg_l"``, ``"plasma_mg_l"``).
    infusion_channel
        The rate channel the pump drives (``"infusion_mg_per_min"``).
    update_interval
        Time between rate changes (10 s = 1/6 min by default).
    max_rate
        Highest pump rate (200 mg/min is 1200 mL/h of 1 % propofol).
    horizon
        How far ahead the peak is searched; must exceed the time to peak effect.
    substeps
        Grid points per update interval on which peaks are searched.
    """

    output: str
    infusion_channel: str
    update_interval: float = 1.0 / 6.0
    max_rate: float = math.inf
    horizon: float = 10.0
    substeps: int = 10

    def __post_init__(self) -> None:
        if not (math.isfinite(self.update_interval) and self.update_interval > 0):
            raise InvalidParameterError(
                f"update_interval must be a positive time, got {self.update_interval}"
            )
        if not self.max_rate > 0:
            raise InvalidParameterError(f"max_rate must be > 0 (or inf), got {self.max_rate}")
        if not (math.isfinite(self.horizon) and self.horizon >= self.update_interval):
            raise InvalidParameterError(
                f"horizon must be at least one update interval ({self.update_interval}), "
                f"got {self.horizon}; choose one past the time to peak effect"
            )
        if isinstance(self.substeps, bool) or not isinstance(self.substeps, int):
            raise InvalidParameterError(f"substeps must be an integer, got {self.substeps!r}")
        if self.substeps < 1:
            raise InvalidParameterError(f"substeps must be >= 1, got {self.substeps}")

    @property
    def step(self) -> float:
        """Spacing of the fine grid."""
        return self.update_interval / self.substeps

    @property
    def horizon_steps(self) -> int:
        """Fine-grid steps in the horizon."""
        return math.ceil(self.horizon / self.step - 1e-9)


@dataclass(frozen=True)
class PulseResponses:
    """The free course and the unit-pulse response of the targeted output.

    Attributes
    ----------
    t
        Fine grid from ``t0``, shape ``(T,)``; update ``k`` is at ``t[k * substeps]``.
    free
        Targeted output with the pump off, shape ``(n, T)``.
    pulse
        Response to a unit rate over one update interval from grid point 0, shape
        ``(n, T)``.
    window
        Grid points searched for a peak, ``horizon_steps + 1``.
    """

    t: FloatArray
    free: FloatArray
    pulse: FloatArray
    window: int


@dataclass(frozen=True)
class TciResult:
    """A planned TCI course.

    Attributes
    ----------
    schedule
        Pump rates per member, changing every update interval and 0 from the end on.
    t
        Fine grid over the course, shape ``(T,)``.
    predicted
        Targeted output by superposition, shape ``(n, T)``.
    trajectory
        Every output and state of the model run under ``schedule`` on ``t``.
    final_state
        The model state at the end of the course.
    """

    schedule: Rate
    t: FloatArray
    predicted: FloatArray
    trajectory: Trajectory
    final_state: Any

    @property
    def rates(self) -> FloatArray:
        """Rate in each update interval, shape ``(n, K)``."""
        return np.asarray(self.schedule.values[:, :-1])


def _record(
    model: Model[Any],
    state: Any,
    grid: FloatArray,
    inputs: Inputs,
    column: int,
    rng: np.random.Generator,
) -> tuple[Any, FloatArray]:
    out = np.empty((state.n_members, grid.size))
    out[:, 0] = model.observe(state)[:, column]
    for j in range(1, grid.size):
        state = model.advance(state, float(grid[j - 1]), float(grid[j]), inputs, rng)
        out[:, j] = model.observe(state)[:, column]
    return state, out


def pulse_responses(
    model: Model[Any],
    state: Any,
    t0: float,
    n_updates: int,
    settings: TciSettings,
    rng: np.random.Generator,
) -> PulseResponses:
    """Simulate the free course and the unit-pulse response for ``n_updates`` intervals.

    One batched run of ``2 n`` members (pump off, unit pulse) over the whole grid: the
    pulse's slow tail matters long after its peak.

    Raises
    ------
    InvalidParameterError
        If the output or channel is unknown, or the output does not rise with the infusion.
    """
    column = output_column(model, settings.output)
    if settings.infusion_channel not in model.rate_inputs:
        raise InvalidParameterError(
            f"model {model.name!r} has no rate input {settings.infusion_channel!r}; "
            f"it takes {list(model.rate_inputs)}"
        )
    m, p = settings.substeps, settings.horizon_steps + 1
    grid = np.asarray(t0 + np.arange(n_updates * m + p) * settings.step, dtype=np.float64)
    n = state.n_members
    values = np.zeros((2 * n, 2))
    values[n:, 0] = 1.0
    pulse_in = Inputs(rates={settings.infusion_channel: Rate(grid[[0, m]], values)})
    _, pair = _record(model, state.concat([state, state]), grid, pulse_in, column, rng)
    pulse = pair[n:] - pair[:n]
    if not np.all(pulse[:, :p].max(axis=1) > 0):
        raise InvalidParameterError(
            f"output {settings.output!r} does not rise with {settings.infusion_channel!r} "
            "within the horizon; target a concentration the infusion reaches, or lengthen "
            "the horizon"
        )
    return PulseResponses(grid, pair[:n], pulse, p)


def next_rate(
    target: FloatArray, window: FloatArray, pulse: FloatArray, max_rate: float
) -> FloatArray:
    """The largest rate in ``[0, max_rate]`` whose predicted peak stays at or below target.

    Parameters
    ----------
    target
        Target per member, shape ``(n,)``.
    window
        Predicted targeted output from the update time on, shape ``(n, P)``.
    pulse
        Unit-pulse response from the update time on, shape ``(n, P)``.
    max_rate
        Pump limit.

    Examples
    --------
    >>> pulse = np.array([[0.0, 0.5, 0.8, 0.6]])
    >>> rate = next_rate(np.array([2.0]), np.array([[1.0, 0.9, 0.8, 0.7]]), pulse, 10.0)
    >>> round(float(rate[0]), 9)  # the pulse at s = 2 touches the target: (2 - 0.8) / 0.8
    1.5
    """
    usable = pulse[:, 1:] > _RESPONSE_FLOOR * pulse.max(axis=1, keepdims=True)
    gap = target[:, None] - window[:, 1:]
    ratio = np.where(usable, gap / np.where(usable, pulse[:, 1:], 1.0), np.inf)
    return np.asarray(np.clip(ratio.min(axis=1), 0.0, max_rate))


def _target_at(target: float | FloatArray | Rate, t: float, n: int) -> FloatArray:
    if isinstance(target, Rate):
        value = np.broadcast_to(target.at(np.array([t]))[:, 0], (n,))
    else:
        value = np.broadcast_to(np.asarray(target, dtype=np.float64), (n,))
    if not np.all(np.isfinite(value)) or np.any(value < 0):
        raise InvalidInputError(f"targets must be finite and >= 0, got {value.tolist()}")
    return np.asarray(value, dtype=np.float64)


def plan_tci(
    model: Model[Any],
    state: Any,
    t0: float,
    duration: float,
    target: float | FloatArray | Rate,
    settings: TciSettings,
    rng: np.random.Generator,
) -> TciResult:
    """Plan a TCI course from ``state`` at ``t0`` for ``duration`` (rounded up to updates).

    Parameters
    ----------
    model
        A linear, time-invariant PK model (the pump's model of the patients).
    state
        Its state at ``t0`` (drug already given is in it), ``n`` members.
    t0, duration
        Start and length of the course, in the model's time unit.
    target
        Target concentration: a scalar, one per member ``(n,)``, or a :class:`Rate`
        holding targets that change over time.
    settings
        The pump.
    rng
        Passed to the model.

    Returns
    -------
    TciResult
        The schedule, the superposition prediction and the simulated course.

    Examples
    --------
    >>> from healthtwin.physiology.pkpd import make_pkpd_model
    >>> model = make_pkpd_model("pk-schnider")
    >>> rng = np.random.default_rng(0)
    >>> pump = TciSettings("effect_site_mg_l", "infusion_mg_per_min", max_rate=200.0)
    >>> plan = plan_tci(model, model.initial_state(1, rng), 0.0, 10.0, 3.0, pump, rng)
    >>> ce = plan.trajectory.output("effect_site_mg_l")
    >>> bool(ce.max() <= 3.0 * (1 + 1e-9)), round(float(ce[0, -1]), 2)
    (True, 3.0)
    """
    if not (math.isfinite(duration) and duration > 0):
        raise InvalidInputError(f"duration must be a positive time, got {duration}")
    n, m = state.n_members, settings.substeps
    n_updates = math.ceil(duration / settings.update_interval - 1e-9)
    responses = pulse_responses(model, state, t0, n_updates, settings, rng)
    p, size = responses.window, responses.t.size
    pulse = responses.pulse
    predicted = np.array(responses.free)
    rates = np.zeros((n, n_updates + 1))
    for k in range(n_updates):
        i = k * m
        goal = _target_at(target, float(responses.t[i]), n)
        rates[:, k] = next_rate(goal, predicted[:, i : i + p], pulse[:, :p], settings.max_rate)
        predicted[:, i:] += rates[:, k : k + 1] * pulse[:, : size - i]
    end = n_updates * m
    schedule = Rate(responses.t[: end + 1 : m], rates)
    t = responses.t[: end + 1]
    inputs = Inputs(rates={settings.infusion_channel: schedule})
    final, trajectory = simulate(model, state, t0, float(t[-1]), settings.step, inputs, rng)
    return TciResult(schedule, t, predicted[:, : end + 1], trajectory, final)
