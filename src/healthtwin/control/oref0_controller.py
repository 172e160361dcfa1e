"""OpenAPS oref0 as a closed-loop glucose controller: a rig's 5-minute loop for n patients.

At every CGM reading :class:`Oref0Loop` does for each patient what an OpenAPS rig does
every 5 minutes, then runs the ported ``determine_basal``
(:mod:`healthtwin.control.oref0`):

1. glucose status from the CGM readings it has seen (``glucose-get-last.js``,
   :func:`~healthtwin.control.oref0_inputs.glucose_status`);
2. the 4-hour IOB array, with zero-temp twins, from what the pump delivered (told through
   :meth:`Oref0Loop.record`): the net basal of each interval (delivered minus scheduled)
   and boluses, on oref0's exponential rapid-acting curve (peak 75 min, DIA 5 h);
3. meal data: an announced meal gets a ``carbs / CR`` bolus at once (the pump's bolus
   wizard, counted in this reading's IOB) and enters carbs on board. COB decays as
   oref0's ``lib/determine-basal/cob.js`` estimates absorption, simplified to one
   deviation per reading: ``max(delta - BGI, min_5m_carbimpact) x CR / ISF`` grams per
   5 min, with ``BGI = -activity x ISF x 5`` and ``min_5m_carbimpact`` 8 mg/dL/5 min
   (oref0's default); ``carbs`` is what was entered in the last 6 hours. The deviation
   slopes that drive UAM are 0 (UAM, an oref1 feature, is off by default as in oref0);
4. the running temp: a temp ``determine_basal`` sets runs for its duration (30 min
   usually) unless replaced, "no change" keeps it, duration 0 cancels it; with no temp
   the scheduled basal runs.

Profile (see :meth:`Oref0Loop.profile`): ``current_basal`` the scheduled basal (U/h),
``sens`` the correction factor, ``carb_ratio`` the carb ratio, ``min_bg``/``max_bg``
100/120 mg/dL (target 110), ``max_basal`` 4 x basal, ``max_daily_basal`` the basal (one
rate all day), so the max safe basal is 3 x basal; ``max_iob`` 3 x the hourly basal,
the OpenAPS documentation's rule of thumb for a first closed loop (oref0's default 0
would forbid any high temp); DIA 5 h, curve ``"rapid-acting"``, autosens off (ratio 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from healthtwin.control.glucose import InsulinDecision, Reading, TherapySettings
from healthtwin.control.oref0 import determine_basal
from healthtwin.control.oref0_inputs import glucose_status, iob_array
from healthtwin.control.oref0_iob import IobData, LastTemp, _math_round
from healthtwin.control.oref0_types import CurrentTemp, MealData, Oref0Result, Profile
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError

__all__ = ["Oref0Loop"]

_MS_PER_MIN = 60000.0
_CGM_WINDOW_MIN = 45.0  # glucose-get-last.js reads back 42.5 minutes
_CARB_WINDOW_MIN = 360.0  # meal/total.js counts carbs of the last 6 hours


@dataclass
class _Patient:
    """One patient's loop state: delivery record, carbs and the running temp."""

    profile: Profile
    dose_min: list[float] = field(default_factory=list)
    dose_u: list[float] = field(default_factory=list)
    dose_is_bolus: list[bool] = field(default_factory=list)
    carb_min: list[float] = field(default_factory=list)
    carb_g: list[float] = field(default_factory=list)
    cob_g: float = 0.0
    temp_rate_u_per_h: float = 0.0
    temp_start_min: float = -np.inf
    temp_end_min: float = -np.inf
    open_min: float | None = None
    open_net_u_per_min: float = 0.0
    result: Oref0Result | None = None

    def add_dose(self, t_min: float, units: float, is_bolus: bool) -> None:
        if units != 0:
            self.dose_min.append(t_min)
            self.dose_u.append(units)
            self.dose_is_bolus.append(is_bolus)

    def close_interval(self, t_min: float) -> None:
        """The basal delivered since the last record becomes one net dose at its start."""
        if self.open_min is not None and t_min > self.open_min:
            net_u = self.open_net_u_per_min * (t_min - self.open_min)
            self.add_dose(self.open_min, net_u, False)
            self.open_min = None

    def forget_before(self, t_min: float) -> None:
        keep = next((i for i, t in enumerate(self.dose_min) if t >= t_min), len(self.dose_min))
        del self.dose_min[:keep], self.dose_u[:keep], self.dose_is_bolus[:keep]

    def current_temp(self, t_min: float) -> CurrentTemp:
        if self.temp_end_min > t_min:
            return CurrentTemp(duration=self.temp_end_min - t_min, rate=self.temp_rate_u_per_h)
        return CurrentTemp(duration=0.0, rate=0.0)

    def apply(self, result: Oref0Result, t_min: float) -> None:
        """Set, cancel or keep the temp as oref0's ``rT`` asks."""
        self.result = result
        if result.rate is None or result.duration is None:
            return
        if result.duration <= 0:
            self.temp_end_min = -np.inf
            return
        self.temp_rate_u_per_h = result.rate
        self.temp_start_min, self.temp_end_min = t_min, t_min + result.duration

    def rate_u_per_h(self, t_min: float) -> float:
        if self.temp_end_min > t_min:
            return self.temp_rate_u_per_h
        return float(self.profile.current_basal or 0.0)


class Oref0Loop:
    """OpenAPS oref0 (``determine-basal``, no SMB) closing the loop for ``n`` patients.

    Parameters
    ----------
    min_bg_mg_dl, max_bg_mg_dl
        oref0's target range; its mean is the target.
    max_iob_basal_hours
        ``max_iob`` as hours of scheduled basal (3: three times the hourly basal).
    max_basal_multiple
        ``max_basal`` as a multiple of the scheduled basal.
    enable_uam
        oref1's unannounced-meal predictions (off in oref0's default profile).
    min_5m_carbimpact
        Slowest carb absorption assumed, mg/dL per 5 min (oref0's default 8).
    meal_boluses
        Whether announced meals get a ``carbs / CR`` bolus.

    Examples
    --------
    >>> settings = TherapySettings(np.array([1 / 60]), np.array([10.0]), np.array([40.0]),
    ...                            np.array([40.0]))
    >>> loop = Oref0Loop()
    >>> loop.start(settings, 0.0)
    >>> d = loop.decide(Reading(0.0, np.array([110.0]), np.array([30.0])))
    >>> float(d.basal_u_per_min[0] * 60), float(d.bolus_u[0])
    (1.0, 3.0)
    """

    name = "oref0"

    def __init__(
        self,
        *,
        min_bg_mg_dl: float = 100.0,
        max_bg_mg_dl: float = 120.0,
        max_iob_basal_hours: float = 3.0,
        max_basal_multiple: float = 4.0,
        enable_uam: bool = False,
        min_5m_carbimpact: float = 8.0,
        meal_boluses: bool = True,
    ) -> None:
        if not 40 < min_bg_mg_dl <= max_bg_mg_dl <= 400:
            raise InvalidParameterError(
                f"need 40 < min_bg <= max_bg <= 400 mg/dL, got {min_bg_mg_dl} and "
                f"{max_bg_mg_dl}; pass a target range such as 100 and 120"
            )
        for label, value in (
            ("max_iob_basal_hours", max_iob_basal_hours),
            ("min_5m_carbimpact", min_5m_carbimpact),
        ):
            if not (np.isfinite(value) and value >= 0):
                raise InvalidParameterError(f"{label} must be finite and >= 0, got {value}")
        if not (np.isfinite(max_basal_multiple) and max_basal_multiple >= 1):
            raise InvalidParameterError(
                f"max_basal_multiple must be >= 1 (a temp may reach the basal), got "
                f"{max_basal_multiple}"
            )
        self.min_bg_mg_dl, self.max_bg_mg_dl = min_bg_mg_dl, max_bg_mg_dl
        self.max_iob_basal_hours = max_iob_basal_hours
        self.max_basal_multiple = max_basal_multiple
        self.enable_uam, self.min_5m_carbimpact = enable_uam, min_5m_carbimpact
        self.meal_boluses = meal_boluses
        self._settings: TherapySettings | None = None
        self._patients: list[_Patient] = []
        self._cgm_min: list[float] = []
        self._cgm_mg_dl: list[FloatArray] = []
        self._last_decision_min: float | None = None

    def profile(self, basal_u_per_h: float, carb_ratio: float, sens: float) -> Profile:
        """The oref0 profile of one patient (choices in the module docstring).

        Examples
        --------
        >>> p = Oref0Loop().profile(1.0, 10.0, 40.0)
        >>> p.max_iob, p.max_basal, p.max_daily_basal, p.target_bg
        (3.0, 4.0, 1.0, 110.0)
        """
        return Profile(
            current_basal=basal_u_per_h,
            max_basal=self.max_basal_multiple * basal_u_per_h,
            max_daily_basal=basal_u_per_h,
            max_iob=self.max_iob_basal_hours * basal_u_per_h,
            min_bg=self.min_bg_mg_dl,
            max_bg=self.max_bg_mg_dl,
            target_bg=(self.min_bg_mg_dl + self.max_bg_mg_dl) / 2,
            sens=sens,
            carb_ratio=carb_ratio,
            dia=5.0,
            type="current",
            curve="rapid-acting",
            enable_uam=self.enable_uam,
        )

    def start(self, settings: TherapySettings, t0_min: float) -> None:
        self._settings = settings
        self._patients = [
            _Patient(self.profile(float(b) * 60.0, float(cr), float(cf)))
            for b, cr, cf in zip(
                settings.basal_u_per_min,
                settings.carb_ratio_g_per_u,
                settings.correction_factor_mg_dl_per_u,
                strict=True,
            )
        ]
        self._cgm_min, self._cgm_mg_dl = [], []
        self._last_decision_min = None

    @property
    def last_results(self) -> tuple[Oref0Result | None, ...]:
        """Each patient's latest ``determine_basal`` result (None before the first)."""
        return tuple(p.result for p in self._patients)

    def _require(self) -> TherapySettings:
        if self._settings is None:
            raise InvalidInputError(f"{self.name}: call start(settings, t0) before decide()")
        return self._settings

    def decide(self, reading: Reading) -> InsulinDecision:
        s = self._require()
        if reading.cgm_mg_dl.shape != (s.n_patients,):
            raise InvalidInputError(
                f"{self.name}: the reading has {reading.cgm_mg_dl.size} patients, the loop "
                f"was started with {s.n_patients}; call start() with matching settings"
            )
        t = reading.t_min
        self._remember_cgm(t, reading.cgm_mg_dl)
        bolus = np.zeros(s.n_patients)
        if self.meal_boluses:
            bolus = reading.announced_carbs_g / s.carb_ratio_g_per_u
        elapsed = 0.0 if self._last_decision_min is None else t - self._last_decision_min
        rates = np.empty(s.n_patients)
        for j, patient in enumerate(self._patients):
            patient.apply(
                self._run(patient, j, t, elapsed, float(reading.announced_carbs_g[j]), bolus[j]),
                t,
            )
            rates[j] = patient.rate_u_per_h(t)
        self._last_decision_min = t
        return InsulinDecision(rates / 60.0, bolus)

    def _remember_cgm(self, t_min: float, cgm_mg_dl: FloatArray) -> None:
        self._cgm_min.append(t_min)
        self._cgm_mg_dl.append(np.array(cgm_mg_dl))
        keep = next(i for i, tk in enumerate(self._cgm_min) if tk >= t_min - _CGM_WINDOW_MIN)
        del self._cgm_min[:keep], self._cgm_mg_dl[:keep]

    def _spaced_cgm(self, j: int) -> tuple[list[float], list[float]]:
        """Patient ``j``'s valid readings, newest kept, older ones at least 2.5 min apart.

        glucose-get-last.js averages readings within 2.5 minutes into "now" and moves
        "now" back each time, so with a 1-minute sensor it would fold every reading into
        "now"; thinning leaves 3- and 5-minute sensors untouched. Missing (NaN) readings
        are skipped, so a gap shows as stale data, which oref0 answers safely.
        """
        times: list[float] = []
        values: list[float] = []
        for t, g in zip(self._cgm_min[::-1], self._cgm_mg_dl[::-1], strict=True):
            if np.isfinite(g[j]) and (not times or times[-1] - t >= 2.5):
                times.append(t)
                values.append(float(g[j]))
        return times[::-1], values[::-1]

    def _run(
        self, patient: _Patient, j: int, t: float, elapsed: float, carbs_g: float, bolus_u: float
    ) -> Oref0Result:
        """One rig cycle for patient ``j``: inputs, then ``determine_basal``."""
        p = patient.profile
        basal = float(p.current_basal or 0.0)
        now_ms = t * _MS_PER_MIN
        patient.close_interval(t)
        patient.forget_before(t - 60.0 * float(p.dia or 5.0))
        times, values = self._spaced_cgm(j)
        if not times:
            return Oref0Result(error=f"no CGM reading in the last {_CGM_WINDOW_MIN:g} min")
        gs = glucose_status(times, values)
        last_temp = None
        if patient.temp_end_min > t:
            last_temp = LastTemp(
                date=patient.temp_start_min * _MS_PER_MIN,
                duration=patient.temp_end_min - patient.temp_start_min,
                rate=patient.temp_rate_u_per_h,
            )
        # The wizard's bolus goes in before the loop runs, as on a rig.
        ticks = iob_array(
            [*patient.dose_min, t],
            [*patient.dose_u, bolus_u],
            t,
            basal_u_per_h=basal,
            bolus=[*patient.dose_is_bolus, True],
            last_temp=last_temp,
        )
        meal = self._meal(patient, t, elapsed, carbs_g, gs.delta or 0.0, ticks[0])
        return determine_basal(
            gs, patient.current_temp(t), ticks, p, 1.0, meal, current_time=now_ms
        )

    def _meal(
        self,
        patient: _Patient,
        t: float,
        elapsed: float,
        carbs_g: float,
        delta: float,
        tick: IobData,
    ) -> MealData:
        """Absorb carbs over the last interval (see the module docstring), then add new ones."""
        p = patient.profile
        sens, ratio = float(p.sens or 1.0), float(p.carb_ratio or 1.0)
        bgi = -tick.activity * sens * 5
        impact = max(delta - bgi, self.min_5m_carbimpact)
        absorbed_g = impact * (elapsed / 5.0) * ratio / sens
        patient.cob_g = max(0.0, patient.cob_g - absorbed_g)
        if carbs_g > 0:
            patient.carb_min.append(t)
            patient.carb_g.append(carbs_g)
            patient.cob_g += carbs_g
        keep = [i for i, tc in enumerate(patient.carb_min) if tc > t - _CARB_WINDOW_MIN]
        patient.carb_min = [patient.carb_min[i] for i in keep]
        patient.carb_g = [patient.carb_g[i] for i in keep]
        recent = sum(patient.carb_g)
        patient.cob_g = min(patient.cob_g, recent)
        return MealData(
            carbs=recent,
            meal_cob=_math_round(patient.cob_g),
            last_carb_time=patient.carb_min[-1] * _MS_PER_MIN if patient.carb_min else None,
            slope_from_max_deviation=0.0,
            slope_from_min_deviation=0.0,
        )

    def record(self, t_min: float, delivered: InsulinDecision) -> None:
        """Log what the pump delivered from ``t_min``: net basal per interval, and boluses.

        The basal delivered from one record to the next is one dose at the start of the
        interval, relative to the scheduled rate (what ``history.js`` makes of temps).
        """
        s = self._require()
        net = delivered.basal_u_per_min - s.basal_u_per_min
        for j, patient in enumerate(self._patients):
            patient.close_interval(t_min)
            patient.add_dose(t_min, float(delivered.bolus_u[j]), True)
            patient.open_min, patient.open_net_u_per_min = t_min, float(net[j])
