"""A batched glucose twin that follows each patient's CGM and forecasts insulin plans.

The twin of ``n`` patients is one ensemble of ``n x m`` members (patient-major) of any
glucose model. Between readings it is advanced with what was really delivered (the pump's
record) and the meals the patients announced; at each reading an ensemble Kalman filter
corrects it with the CGM value. Controllers ask it for forecasts of candidate plans: every
patient x candidate x member runs in one batched simulation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from healthtwin.assimilation import EnsembleKalmanFilter, OutputObservation
from healthtwin.control.glucose import InsulinDecision, Reading
from healthtwin.core.inputs import Events, Inputs, Rate
from healthtwin.core.protocols import output_column
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError

__all__ = ["GlucoseChannels", "GlucoseTwin"]


@dataclass(frozen=True)
class GlucoseChannels:
    """Names of the model's insulin, meal and sensed-glucose channels."""

    insulin_rate: str = "insulin_u_per_min"
    bolus: str = "bolus_u"
    meal: str = "meal_g"
    glucose: str = "glucose_mg_dl"


class GlucoseTwin:
    """``n`` patient twins of ``m`` members each, kept in sync with CGM.

    Parameters
    ----------
    model
        A glucose model; ``state`` holds ``n x m`` members, patient-major.
    state
        The starting ensemble at ``t0_min``.
    members
        Members per patient (``m``).
    filter
        The assimilator (an EnKF with ``members_per_twin=m``).
    sensor_sd_mg_dl
        CGM noise assumed by the filter.
    disturbance
        Process noise: ``(state, dt_min, rng) -> state`` applied to the members before
        each correction (e.g. random unannounced carbohydrate in the gut), so that the
        filter can attribute what the model does not know to the states it perturbs.
    rng
        Random stream of the twin's own simulations.
    """

    def __init__(
        self,
        model: Any,
        state: Any,
        t0_min: float,
        *,
        members: int,
        filter: EnsembleKalmanFilter,
        sensor_sd_mg_dl: float = 10.0,
        channels: GlucoseChannels | None = None,
        disturbance: Callable[[Any, float, np.random.Generator], Any] | None = None,
        rng: np.random.Generator,
    ) -> None:
        if members < 2 or state.n_members % members:
            raise ShapeError(f"{state.n_members} members do not split into twins of {members}")
        self.model, self.state, self.t = model, state, float(t0_min)
        self.members, self.n_patients = members, state.n_members // members
        self.filter, self.rng, self.disturbance = filter, rng, disturbance
        self.channels = channels or GlucoseChannels()
        self._glucose_column = output_column(model, self.channels.glucose)
        self.obs = OutputObservation(model, [self.channels.glucose], [sensor_sd_mg_dl])
        self._rate = np.zeros(self.n_patients)
        self._bolus = np.zeros(self.n_patients)
        self._meal = np.zeros(self.n_patients)
        self._analysed = False

    def _per_member(self, values: FloatArray, copies: int = 1) -> FloatArray:
        """Per-patient values repeated for each member (and candidate copies)."""
        return np.repeat(np.asarray(values, dtype=np.float64), copies * self.members)

    def _plan(self, t: float, rates: FloatArray, bolus: FloatArray, meal: FloatArray) -> Inputs:
        c = self.channels
        return Inputs(
            rates={c.insulin_rate: Rate(np.array([t]), rates[:, None])},
            events={
                c.bolus: Events(np.array([t]), bolus[:, None]),
                c.meal: Events(np.array([t]), meal[:, None]),
            },
        )

    def assimilate(self, reading: Reading) -> None:
        """Advance to the reading with what was delivered, then correct with its CGM.

        Idempotent for a reading already assimilated (several controllers may share a twin).
        """
        if reading.t_min < self.t:
            raise InvalidInputError(f"reading at t={reading.t_min} precedes the twin (t={self.t})")
        if reading.cgm_mg_dl.shape != (self.n_patients,):
            raise ShapeError(f"need one CGM value per patient ({self.n_patients})")
        if reading.t_min > self.t:
            plan = self._plan(
                self.t,
                self._per_member(self._rate),
                self._per_member(self._bolus),
                self._per_member(self._meal),
            )
            self.state = self.model.advance(self.state, self.t, reading.t_min, plan, self.rng)
            if self.disturbance is not None:
                self.state = self.disturbance(self.state, reading.t_min - self.t, self.rng)
            self.t = reading.t_min
            self._bolus[:] = 0.0
            self._meal[:] = 0.0
            self._analysed = False
        if not self._analysed:
            self.state = self.filter.update(
                self.state, reading.cgm_mg_dl[:, None], self.obs, self.rng
            )
            self._analysed = True
        self._meal = np.array(reading.announced_carbs_g)

    def record(self, t_min: float, delivered: InsulinDecision) -> None:
        """The pump's delivery at ``t_min``: the rate held until the next reading, a bolus."""
        if t_min != self.t:
            raise InvalidInputError(f"delivery at t={t_min} is not at the twin's time {self.t}")
        self._rate = np.array(delivered.basal_u_per_min)
        self._bolus = self._bolus + delivered.bolus_u

    def forecast(
        self,
        first_rates: FloatArray,
        block_min: float,
        after_rates: FloatArray,
        horizon_min: float,
        dt_out_min: float,
        bolus_now: FloatArray | None = None,
    ) -> FloatArray:
        """Sensed glucose of each candidate plan, ``(n, c, m, s)`` at ``t + k dt_out``.

        A plan holds ``first_rates`` (``(n, c)``, U/min) for ``block_min``, then
        ``after_rates`` (``(n,)``) to the horizon; ``bolus_now`` (``(n,)``) and the
        announced meal are given now.
        """
        first = np.asarray(first_rates, dtype=np.float64)
        n, c = first.shape
        if n != self.n_patients or not 0 < dt_out_min <= horizon_min:
            raise InvalidParameterError(
                f"need first_rates ({self.n_patients}, c) and 0 < dt_out <= horizon"
            )
        m = self.members
        index = (
            np.arange(n)[:, None, None] * m
            + np.zeros((1, c, 1), dtype=np.int64)
            + np.arange(m)[None, None, :]
        ).ravel()
        state = self.state.take(index)
        rates = np.stack(
            [np.repeat(first.ravel(), m), self._per_member(np.asarray(after_rates), c)], axis=1
        )
        bolus = self._bolus + (0.0 if bolus_now is None else np.asarray(bolus_now))
        ch = self.channels
        plan = Inputs(
            rates={ch.insulin_rate: Rate(np.array([self.t, self.t + block_min]), rates)},
            events={
                ch.bolus: Events(np.array([self.t]), self._per_member(bolus, c)[:, None]),
                ch.meal: Events(np.array([self.t]), self._per_member(self._meal, c)[:, None]),
            },
        )
        steps = round(horizon_min / dt_out_min)
        out = np.empty((n * c * m, steps))
        t = self.t
        for k in range(steps):
            state = self.model.advance(state, t, t + dt_out_min, plan, self.rng)
            t += dt_out_min
            out[:, k] = np.asarray(self.model.observe(state))[:, self._glucose_column]
        return out.reshape(n, c, m, steps)
