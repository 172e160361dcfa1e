"""PID control with insulin feedback (PID-IFB), after Steil et al.

The physiologic insulin delivery controller of Steil et al. (Diabetes 2006) emulates the
beta cell with proportional, integral and derivative terms on the glucose error; insulin
feedback (Steil et al., JCEM 2011; Ruiz et al., JDST 2012) subtracts a model prediction of
plasma insulin from the delivered insulin, which makes the loop behave as if the
subcutaneous insulin delay were shorter and stops insulin stacking:

    PID(n)  = basal + KP (e + S(n) / TI + TD de/dt),   e = G - target,  S(n) = sum e dt
    u(n)    = (1 + gamma) PID(n) - gamma Ip(n)

with ``Ip`` a two-compartment first-order filter of all delivered insulin (boluses
included) in rate units, starting at the basal rate, so that ``u = basal`` at target and
steady state. Gains follow Steil's scaling to the total daily dose, ``KP = TDD / 135`` U/day
per mg/dL (``TDD / 3240`` U/h per mg/dL); ``TI = 450`` min and ``TD = 66`` min are the
daytime values reported for the Medtronic external PID. Announced meals get a carb-ratio
bolus (a hybrid loop, as in commercial PID-IFB pumps); the feedback then sees that bolus
as insulin on board. The integral is held when the output saturates (anti-windup) and its
term is bounded by one basal rate; the derivative uses the least-squares slope of the last
four readings, not a two-point difference of noisy CGM values.
"""

from __future__ import annotations

import numpy as np

from healthtwin.control.glucose import InsulinDecision, Reading, TherapySettings
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError

__all__ = ["PidInsulinFeedback"]

_MIN_PER_DAY = 1440.0


class PidInsulinFeedback:
    """PID-IFB for ``n`` patients at once.

    Parameters
    ----------
    target_mg_dl
        Glucose set point.
    ti_min, td_min
        Integral and derivative time constants.
    gamma
        Insulin-feedback fraction (0: plain PID).
    ifb_time_constant_min
        Time constant of each of the two insulin-feedback compartments.
    gain_scale
        Multiplies Steil's ``TDD / 135`` gain.
    meal_boluses
        Whether announced meals get a ``carbs / CR`` bolus.
    max_basal_multiple
        Upper limit of the rate as a multiple of the basal rate.
    slope_points
        Readings in the least-squares glucose slope of the derivative term.

    Examples
    --------
    >>> settings = TherapySettings(np.array([0.02]), np.array([10.0]), np.array([40.0]),
    ...                            np.array([57.6]))
    >>> pid = PidInsulinFeedback()
    >>> pid.start(settings, 0.0)
    >>> at_target = Reading(0.0, np.array([120.0]), np.array([0.0]))
    >>> round(float(pid.decide(at_target).basal_u_per_min[0]), 4)
    0.02
    """

    name = "pid"

    def __init__(
        self,
        *,
        target_mg_dl: float = 120.0,
        ti_min: float = 450.0,
        td_min: float = 66.0,
        gamma: float = 0.5,
        ifb_time_constant_min: float = 50.0,
        gain_scale: float = 1.0,
        meal_boluses: bool = True,
        max_basal_multiple: float = 10.0,
        slope_points: int = 4,
    ) -> None:
        for label, value in (
            ("ti_min", ti_min),
            ("ifb_time_constant_min", ifb_time_constant_min),
            ("gain_scale", gain_scale),
            ("max_basal_multiple", max_basal_multiple),
        ):
            if not value > 0:
                raise InvalidParameterError(f"{label} must be > 0, got {value}")
        if td_min < 0 or not 0 <= gamma < 10:
            raise InvalidParameterError(
                f"need td_min >= 0 and 0 <= gamma < 10, got {td_min}, {gamma}"
            )
        self.target_mg_dl, self.ti_min, self.td_min = target_mg_dl, ti_min, td_min
        self.gamma, self.tau = gamma, ifb_time_constant_min
        self.gain_scale, self.meal_boluses = gain_scale, meal_boluses
        self.max_basal_multiple = max_basal_multiple
        if slope_points < 2:
            raise InvalidParameterError(f"slope_points must be >= 2, got {slope_points}")
        self.slope_points = slope_points
        self._settings: TherapySettings | None = None

    def start(self, settings: TherapySettings, t0_min: float) -> None:
        n = settings.n_patients
        self._settings = settings
        self._kp = self.gain_scale * settings.total_daily_insulin_u / 135.0 / _MIN_PER_DAY
        self._integral = np.zeros(n)
        self._last_error: FloatArray | None = None
        self._last_t = t0_min
        self._history: list[tuple[float, FloatArray]] = []  # (t, error) for the slope
        basal = settings.basal_u_per_min
        self._compartments = np.stack([basal, basal])  # insulin-feedback filter, U/min
        self._filter_t = t0_min

    def _require(self) -> TherapySettings:
        if self._settings is None:
            raise InvalidInputError(f"{self.name}: call start(settings, t0) before decide()")
        return self._settings

    def decide(self, reading: Reading) -> InsulinDecision:
        s = self._require()
        self._advance_filter(reading.t_min)
        error = reading.cgm_mg_dl - self.target_mg_dl
        dt = reading.t_min - self._last_t
        self._history = [*self._history, (reading.t_min, error)][-self.slope_points :]
        slope = self._slope()
        integral = self._integral + (error * dt if self._last_error is not None else 0.0)
        # The integral may add or remove at most one basal rate: a long high would
        # otherwise wind it up and keep insulin flowing into the low that follows.
        bound = s.basal_u_per_min * self.ti_min / self._kp
        integral = np.clip(integral, -bound, bound)
        pid = s.basal_u_per_min + self._kp * (error + integral / self.ti_min + self.td_min * slope)
        rate = (1.0 + self.gamma) * pid - self.gamma * self._compartments[1]
        high = self.max_basal_multiple * s.basal_u_per_min
        saturated = (rate <= 0.0) | (rate >= high)
        # anti-windup: integrate only while the output is not saturated
        self._integral = np.where(saturated, self._integral, integral)
        self._last_error, self._last_t = error, reading.t_min
        bolus = (
            reading.announced_carbs_g / s.carb_ratio_g_per_u
            if self.meal_boluses
            else np.zeros_like(error)
        )
        return InsulinDecision(np.clip(rate, 0.0, high), bolus)

    def _slope(self) -> FloatArray:
        """Least-squares glucose slope over the last readings (mg/dL per min).

        A two-point difference of CGM readings amplifies sensor noise through ``TD``; the
        fitted slope over ``slope_points`` readings (15 min at 5-min sampling) does not.
        """
        if len(self._history) < 2:
            return np.zeros_like(self._history[-1][1])
        t = np.array([h[0] for h in self._history])
        e = np.stack([h[1] for h in self._history])
        tc = t - t.mean()
        return np.asarray((tc @ (e - e.mean(axis=0))) / (tc @ tc))

    def record(self, t_min: float, delivered: InsulinDecision) -> None:
        """Advance the insulin-feedback filter to ``t_min``, then add what was delivered.

        Between records the basal rate last delivered is held; a bolus enters as an
        impulse. The two-compartment filter is solved exactly over the interval.
        """
        self._advance_filter(t_min)
        self._compartments[0] += delivered.bolus_u / self.tau
        self._held = delivered.basal_u_per_min

    def _advance_filter(self, t_min: float) -> None:
        held = getattr(self, "_held", self._require().basal_u_per_min)
        dt = t_min - self._filter_t
        if dt <= 0:
            return
        a = dt / self.tau
        e = np.exp(-a)
        c1, c2 = self._compartments - held  # deviations decay towards the held input
        self._compartments = np.stack([held + c1 * e, held + (c2 + c1 * a) * e])
        self._filter_t = t_min
