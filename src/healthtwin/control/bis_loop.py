"""Closed-loop propofol anaesthesia: a PID on BIS that sets an effect-site TCI target.

Idea
----
As in the closed loops of Absalom, Sutcliffe & Kenny (Anesthesiology 96:67, 2002; a PID
whose output is the target of a propofol TCI pump, updated every few seconds) and Liu et
al. (Anesthesiology 104:686, 2006; the same idea on a Schnider effect-site TCI, through
induction and maintenance), the controller never sets a pump rate itself: it sets the
effect-site target, and the TCI of :mod:`healthtwin.control.tci` turns targets into rates
with the pump's *population* model. The patient is a different state of the model (its
own PK/PD parameters), so the loop meets the model mismatch a real one does::

    e_k   = BIS_f(t_k) - setpoint                  (BIS_f: measured BIS, first-order filter)
    C_T,k = clip(C_0 + Kp e_k + Ki S_k + Kd dBIS_f/dt, C_min, C_max)
    S_k   = S_{k-1} + e_k dt   only once engaged and while C_T,k is not clipped

A BIS above the setpoint (too light) raises the target. Until the filtered BIS first
enters the band (``engage_below``), or at most for ``induction_time``, the target stays
at ``C_0``: induction runs open loop, as it did under manual TCI before Absalom's loop
took over, and the integral cannot wind up while the effect site is still rising.
Freezing the integral while the output is clipped is conditional-integration
anti-windup. The derivative acts on the filtered measurement, not the error, so a
setpoint change gives no kick.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from healthtwin.control.anaesthesia_metrics import BisMetrics, bis_metrics
from healthtwin.control.tci import TciSettings, next_rate, pulse_responses
from healthtwin.core.inputs import Inputs, Rate
from healthtwin.core.protocols import Model, output_column
from healthtwin.core.types import BoolArray, FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError

__all__ = ["BisLoopResult", "BisPid", "PidState", "pid_step", "run_bis_loop"]


@dataclass(frozen=True)
class BisPid:
    """A PID on BIS whose output is an effect-site target (concentration units).

    Parameters
    ----------
    kp
        Target change per BIS unit of error.
    ki
        Target change per BIS unit of error and unit of time.
    kd
        Target change per BIS unit per unit of time of the filtered BIS's slope.
    setpoint
        BIS aimed at.
    initial_target
        Target during induction (``C_0``).
    min_target, max_target
        Limits of the target.
    engage_below
        Filtered BIS below which feedback starts.
    induction_time
        Time after which feedback starts whatever the BIS (a patient who needs more
        than ``C_0`` never reaches the band open loop).
    filter_time
        Time constant of the measurement filter (0: none).

    Examples
    --------
    >>> BisPid(kp=-0.1)
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidParameterError: PID gains must be finite and >= 0, got ...
    """

    kp: float = 0.04
    ki: float = 0.02
    kd: float = 0.0
    setpoint: float = 50.0
    initial_target: float = 3.5
    min_target: float = 1.0
    max_target: float = 8.0
    engage_below: float = 60.0
    induction_time: float = 3.0
    filter_time: float = 0.25

    def __post_init__(self) -> None:
        gains = (self.kp, self.ki, self.kd)
        if not all(math.isfinite(g) and g >= 0 for g in gains):
            raise InvalidParameterError(
                f"PID gains must be finite and >= 0, got kp={self.kp}, ki={self.ki}, "
                f"kd={self.kd}; the sign is built in (BIS above setpoint raises the target)"
            )
        if not 0 <= self.min_target <= self.initial_target <= self.max_target:
            raise InvalidParameterError(
                "need 0 <= min_target <= initial_target <= max_target, got "
                f"{self.min_target}, {self.initial_target}, {self.max_target}"
            )
        if not (math.isfinite(self.filter_time) and self.filter_time >= 0):
            raise InvalidParameterError(f"filter_time must be >= 0, got {self.filter_time}")


@dataclass(frozen=True)
class PidState:
    """Per member: the filtered BIS, the integral term and whether feedback is engaged;
    and the time since the controller started."""

    filtered: FloatArray
    integral: FloatArray
    engaged: BoolArray
    elapsed: float = 0.0

    @classmethod
    def start(cls, first_bis: FloatArray) -> PidState:
        """Filter started at the first reading, no integral, not engaged."""
        bis = np.asarray(first_bis, dtype=np.float64)
        return cls(bis, np.zeros_like(bis), np.zeros(bis.shape, dtype=bool))


def pid_step(
    pid: BisPid, state: PidState, measured: FloatArray, dt: float
) -> tuple[FloatArray, PidState]:
    """The next target per member and the controller's new state.

    Examples
    --------
    >>> pid = BisPid(kp=0.05, ki=0.0, filter_time=0.0)
    >>> target, _ = pid_step(pid, PidState.start(np.array([55.0])), np.array([55.0]), 1 / 6)
    >>> target.tolist()  # engaged at BIS 55 < 60: 3.5 + 0.05 * 5
    [3.75]
    """
    alpha = 1.0 if pid.filter_time == 0 else 1.0 - math.exp(-dt / pid.filter_time)
    filtered = state.filtered + alpha * (measured - state.filtered)
    slope = (filtered - state.filtered) / dt
    engaged = state.engaged | (filtered < pid.engage_below) | (state.elapsed >= pid.induction_time)
    error = filtered - pid.setpoint  # positive: too light, more drug
    integral = np.where(engaged, state.integral + error * dt, state.integral)
    raw = pid.initial_target + pid.kp * error + pid.ki * integral + pid.kd * slope
    raw = np.where(engaged, raw, pid.initial_target)
    target = np.clip(raw, pid.min_target, pid.max_target)
    integral = np.where(raw == target, integral, state.integral)
    return target, PidState(filtered, integral, engaged, state.elapsed + dt)


@dataclass(frozen=True)
class BisLoopResult:
    """A closed-loop run.

    Attributes
    ----------
    t
        Update times, shape ``(K + 1,)``.
    bis, measured
        True and measured (noisy) BIS at ``t``, shape ``(n, K + 1)``.
    effect_site
        True effect-site concentration at ``t``, shape ``(n, K + 1)``.
    target, rate
        Effect-site target and pump rate in each interval, shape ``(n, K)``.
    metrics
        :func:`~healthtwin.control.anaesthesia_metrics.bis_metrics` of the true BIS.
    """

    t: FloatArray
    bis: FloatArray
    measured: FloatArray
    effect_site: FloatArray
    target: FloatArray
    rate: FloatArray
    metrics: BisMetrics


def run_bis_loop(
    model: Model[Any],
    patient: Any,
    pump_state: Any,
    duration: float,
    pid: BisPid,
    settings: TciSettings,
    rng: np.random.Generator,
    *,
    bis_output: str = "bis",
    noise_sd: float = 0.0,
    t0: float = 0.0,
) -> BisLoopResult:
    """Run PID-on-TCI control of ``n`` patients at once from ``t0`` for ``duration``.

    Parameters
    ----------
    model
        A linear PK model with a BIS output (e.g. ``pk-schnider``).
    patient
        The patients' true state (their own parameters), ``n`` members.
    pump_state
        The pump's model of the same patients (population parameters), ``n`` members.
    duration
        Length of the run; the controller and the pump update every
        ``settings.update_interval``.
    pid, settings
        Controller and pump; ``settings.output`` is the effect-site concentration.
    rng
        Source of the BIS measurement noise; passed to the model.
    bis_output
        The model's BIS channel.
    noise_sd
        Standard deviation of the Gaussian BIS measurement noise.
    t0
        Start time.

    Examples
    --------
    >>> from healthtwin.physiology.pkpd import make_pkpd_model
    >>> model = make_pkpd_model("pk-schnider")
    >>> rng = np.random.default_rng(0)
    >>> pump = TciSettings("effect_site_mg_l", "infusion_mg_per_min", max_rate=200.0)
    >>> state = model.initial_state(1, rng)
    >>> run = run_bis_loop(model, state, state, 20.0, BisPid(), pump, rng)
    >>> float(run.metrics.time_in_band_pct[0]) > 80, bool(run.metrics.undershoot[0] == 0)
    (True, True)
    """
    n = patient.n_members
    if pump_state.n_members != n:
        raise InvalidInputError(
            f"the pump models {pump_state.n_members} patients but {n} are given; "
            "give one pump-model member per patient"
        )
    if not (math.isfinite(noise_sd) and noise_sd >= 0):
        raise InvalidParameterError(f"noise_sd must be >= 0, got {noise_sd}")
    if not (math.isfinite(duration) and duration > 0):
        raise InvalidInputError(f"duration must be a positive time, got {duration}")
    bis_col, ce_col = output_column(model, bis_output), output_column(model, settings.output)
    dt, m = settings.update_interval, settings.substeps
    n_updates = math.ceil(duration / dt - 1e-9)
    responses = pulse_responses(model, pump_state, t0, n_updates, settings, rng)
    p, size = responses.window, responses.t.size
    predicted = np.array(responses.free)
    t = responses.t[: n_updates * m + 1 : m]
    bis, measured, ce = (np.empty((n, n_updates + 1)) for _ in range(3))
    target, rate = np.empty((n, n_updates)), np.empty((n, n_updates))
    controller: PidState | None = None
    for k in range(n_updates + 1):
        out = model.observe(patient)
        bis[:, k], ce[:, k] = out[:, bis_col], out[:, ce_col]
        measured[:, k] = bis[:, k] + noise_sd * rng.standard_normal(n)
        if k == n_updates:
            break
        if controller is None:
            controller = PidState.start(measured[:, 0])
        target[:, k], controller = pid_step(pid, controller, measured[:, k], dt)
        i = k * m
        rate[:, k] = next_rate(
            target[:, k], predicted[:, i : i + p], responses.pulse[:, :p], settings.max_rate
        )
        predicted[:, i:] += rate[:, k : k + 1] * responses.pulse[:, : size - i]
        held = Inputs(rates={settings.infusion_channel: Rate.constant(rate[:, k], float(t[k]))})
        patient = model.advance(patient, float(t[k]), float(t[k + 1]), held, rng)
    metrics = bis_metrics(t, bis, setpoint=pid.setpoint)
    return BisLoopResult(t, bis, measured, ce, target, rate, metrics)
