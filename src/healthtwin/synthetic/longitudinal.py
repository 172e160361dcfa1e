"""Longitudinal synthetic patients: records over time simulated by the twins.

A synthetic patient is built in three layers, each with its own random stream (so that
changing one layer leaves the others as they were):

1. **Demographics and conditions** (:mod:`healthtwin.synthetic.demographics`): age, sex,
   body-mass index, insulin-treated (type 1) diabetes and hypertension.
2. **Physiology** (:mod:`healthtwin.synthetic.virtual_population`): each diabetic gets a
   UVA/Padova virtual patient drawn from a virtual population.
3. **Records** (:func:`generate_patients`): clinic visits (outpatient encounters at gamma
   intervals, some missed) carrying vital signs (with the ISO 81060-2 / AAMI EC13 sensor
   errors of :mod:`healthtwin.physiology.vital_signs`) and laboratory results; for
   diabetics a CGM wear period (a home-health encounter) whose readings come from the twin
   (meals, basal insulin and meal boluses) through the Breton & Kovatchev CGM error model,
   with sensor dropouts, and the insulin given. HbA1c follows the twin's mean glucose by
   the ADAG relation (Nathan et al., Diabetes Care 31:1473, 2008):
   ``HbA1c % = (mean glucose mg/dL + 46.7) / 28.7``.

Ages given in completed years (whole numbers, as tables hold them) are spread over the
year: birth falls on a day drawn uniformly within ``[age, age + 1)`` years before the start
(stream ``birthdays``), not on the start's day and month.

Death follows a Gompertz hazard ``exp(a + b * age)`` per year (``a = -10.5``, ``b = 0.09``,
doubled for diabetics): a plain, uncalibrated choice, documented as such. Records stop
at death. :func:`consistency_issues` checks the tables: referential integrity, every
observation inside its encounter, nothing after death or before birth, insulin only for
diabetics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from healthtwin.core.inputs import Events, Inputs, Rate
from healthtwin.core.random import RandomStreams
from healthtwin.core.types import BoolArray, FloatArray
from healthtwin.errors import InvalidParameterError
from healthtwin.interop.codes import LOINC, RXNORM, SNOMED, vital
from healthtwin.interop.records import (
    Coding,
    ConditionRecord,
    EncounterRecord,
    MedicationRecord,
    ObservationRecord,
    PatientData,
    PatientRecord,
)
from healthtwin.physiology.cgm import CGMSensor, cgm_params
from healthtwin.physiology.uva_padova import UvaPadova, UvaPadovaPatient
from healthtwin.physiology.vital_signs import ECG_HEART_RATE, NIBP_SYSTOLIC
from healthtwin.synthetic.demographics import Demographics
from healthtwin.synthetic.virtual_population import VirtualPopulation

__all__ = [
    "CgmRun",
    "LongitudinalConfig",
    "SyntheticPatient",
    "adag_hba1c_percent",
    "consistency_issues",
    "generate_patients",
    "simulate_cgm_days",
]

TYPE1_DIABETES = Coding(system=SNOMED, code="46635009", display="Diabetes mellitus type 1")
HYPERTENSION = Coding(system=SNOMED, code="38341003", display="Hypertensive disorder")
INSULIN_LISPRO = Coding(system=RXNORM, code="86009", display="insulin lispro")
HBA1C = Coding(system=LOINC, code="4548-4", display="Hemoglobin A1c/Hemoglobin.total in Blood")
SUBCUTANEOUS = Coding(system=SNOMED, code="34206005", display="Subcutaneous route")


def adag_hba1c_percent(mean_glucose_mg_dl: npt.ArrayLike) -> FloatArray:
    """HbA1c (%) from mean glucose by the ADAG relation (Nathan et al. 2008).

    Examples
    --------
    >>> float(adag_hba1c_percent(154.0).round(1))
    7.0
    """
    return np.asarray((np.asarray(mean_glucose_mg_dl, dtype=np.float64) + 46.7) / 28.7)


@dataclass(frozen=True, kw_only=True)
class LongitudinalConfig:
    """How records are laid out over time.

    Parameters
    ----------
    start
        Start of follow-up (UTC).
    follow_up_days
        Length of follow-up.
    cgm_days
        Length of the CGM wear period of each diabetic (whole days, starting after the
        first attended visit).
    visit_interval_days_diabetes, visit_interval_days_other
        Mean days between clinic visits (gamma, shape 4).
    missed_visit_probability, lab_missing_probability
        Chance that a visit does not happen and that a lab result is not recorded.
    cgm_device
        CGM preset (:data:`~healthtwin.physiology.cgm.CGM_PRESETS`).
    dropout_start_probability, dropout_mean_readings, reading_loss_probability
        Sensor dropouts: a gap starts at a reading with this probability and lasts a
        geometric number of readings with this mean; isolated readings are also lost.
    """

    start: datetime = datetime(2025, 1, 1, tzinfo=UTC)
    follow_up_days: float = 365.0
    cgm_days: int = 2
    visit_interval_days_diabetes: float = 90.0
    visit_interval_days_other: float = 180.0
    missed_visit_probability: float = 0.15
    lab_missing_probability: float = 0.1
    cgm_device: str = "guardian-rt"
    dropout_start_probability: float = 1.0 / 288.0
    dropout_mean_readings: float = 18.0
    reading_loss_probability: float = 0.01

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise InvalidParameterError("LongitudinalConfig.start needs a time zone (UTC)")
        if not self.follow_up_days > self.cgm_days + 1 or self.cgm_days < 1:
            raise InvalidParameterError(
                f"need cgm_days >= 1 and follow_up_days > cgm_days + 1, got {self.cgm_days} "
                f"and {self.follow_up_days}"
            )
        for name in (
            "missed_visit_probability",
            "lab_missing_probability",
            "dropout_start_probability",
            "reading_loss_probability",
        ):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise InvalidParameterError(f"{name} must be in [0, 1), got {getattr(self, name)}")


@dataclass(frozen=True)
class SyntheticPatient:
    """One synthetic patient: the records, death, and the twin's traces.

    Attributes
    ----------
    data
        The records (patient, encounters, conditions, observations, medications).
    deceased
        Time of death, or None when alive at the end of follow-up.
    twin
        The UVA/Padova virtual patient (diabetics only).
    cgm_t_min, cgm_mg_dl, glucose_mg_dl
        Minutes since the CGM start on the sensor grid ``(T,)``, readings with NaN where
        the sensor dropped out ``(T,)``, and the twin's true glucose there ``(T,)``;
        empty for non-diabetics.
    cgm_start
        Start of the CGM wear period (diabetics only).
    """

    data: PatientData
    deceased: datetime | None
    twin: UvaPadovaPatient | None = None
    cgm_t_min: FloatArray = field(default_factory=lambda: np.zeros(0))
    cgm_mg_dl: FloatArray = field(default_factory=lambda: np.zeros(0))
    glucose_mg_dl: FloatArray = field(default_factory=lambda: np.zeros(0))
    cgm_start: datetime | None = None

    @property
    def diabetic(self) -> bool:
        return any(c.code.code == TYPE1_DIABETES.code for c in self.data.conditions)


#: Clock times (min after midnight) of the three daily meals and their carbohydrate
#: (mean, SD) in grams; each meal is skipped with probability ``_SKIP_MEAL``.
_MEALS_MIN = (7 * 60, 12 * 60 + 30, 19 * 60)
_MEAL_G = ((45.0, 10.0), (70.0, 15.0), (80.0, 15.0))
_SKIP_MEAL = 0.1
#: Log-SD of the patient's misjudgement of a meal's carbohydrate when dosing the bolus.
_CARB_COUNT_LOG_SD = 0.15
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class CgmRun:
    """Days of CGM simulated by the twins (rows: patients in the order given).

    Attributes
    ----------
    t_min
        Sensor grid, minutes since the CGM start, shape ``(T,)``.
    glucose, readings
        True interstitial glucose and CGM readings (NaN in dropouts), shape ``(k, T)``.
    basal_u_per_min, mean_glucose
        Basal rate and mean glucose over every minute, shape ``(k,)``.
    meal_t_min, bolus_u
        Meal times ``(e,)`` and the boluses given for them ``(k, e)``.
    """

    t_min: FloatArray  # (T,) sensor grid, minutes since the CGM start
    glucose: FloatArray  # (k, T) true interstitial glucose on the grid
    readings: FloatArray  # (k, T) CGM readings, NaN in dropouts
    basal_u_per_min: FloatArray  # (k,)
    meal_t_min: FloatArray  # (e,)
    bolus_u: FloatArray  # (k, e)
    mean_glucose: FloatArray  # (k,) over every minute


def simulate_cgm_days(
    twins: Sequence[UvaPadovaPatient], config: LongitudinalConfig, streams: RandomStreams
) -> CgmRun:
    """Simulate ``config.cgm_days`` of three meals a day with boluses, basal insulin and
    CGM readings with dropouts (streams ``meals``, ``twins``, ``cgm``, ``dropouts``).

    Examples
    --------
    >>> from healthtwin.synthetic.virtual_population import VirtualPopulation
    >>> twins = VirtualPopulation().sample([70.0, 80.0], np.random.default_rng(0))
    >>> run = simulate_cgm_days(twins, LongitudinalConfig(cgm_days=1), RandomStreams(0))
    >>> run.readings.shape, bool(np.all(run.mean_glucose > 70))
    ((2, 288), True)
    """
    k, minutes = len(twins), config.cgm_days * 1440
    rng = streams.generator("meals")
    meal_t = np.array([d * 1440.0 + t for d in range(config.cgm_days) for t in _MEALS_MIN])
    means = np.tile([m for m, _ in _MEAL_G], config.cgm_days)
    sds = np.tile([s for _, s in _MEAL_G], config.cgm_days)
    carbs = np.clip(rng.normal(means, sds, (k, meal_t.size)), 5.0, None)
    carbs *= rng.random((k, meal_t.size)) >= _SKIP_MEAL
    counted = carbs * np.exp(rng.normal(0.0, _CARB_COUNT_LOG_SD, carbs.shape))
    ratio = np.array([p.carb_ratio_g_per_u for p in twins])[:, None]
    bolus = np.round(counted / ratio * 10.0) / 10.0  # pens and pumps dose in 0.1 U
    basal = np.array([p.basal_u_per_min for p in twins])
    inputs = Inputs(
        rates={"insulin_u_per_min": Rate.constant(basal, start=0.0)},
        events={"meal_g": Events(meal_t, carbs), "bolus_u": Events(meal_t, bolus)},
    )
    model = UvaPadova(list(twins))
    state = model.initial_state(k, streams.generator("twins"))
    _, _, rec = model.run(state, 0.0, float(minutes), inputs, record=True)
    vg = state.theta[:, UvaPadova.parameter_index("Vg")][:, None]
    per_min = np.concatenate([state.x[:, None, 12], rec[:, :, 12]], axis=1) / vg
    sensor = CGMSensor(cgm_params(config.cgm_device))
    step = round(sensor.params.sample_time_min)
    grid = np.arange(0, minutes, step)
    glucose = per_min[:, grid]
    readings = sensor.measure(glucose, streams.generator("cgm"))
    readings[_dropouts(readings.shape, config, step, streams.generator("dropouts"))] = np.nan
    return CgmRun(
        grid.astype(np.float64), glucose, readings, basal, meal_t, bolus, per_min.mean(axis=1)
    )


def _dropouts(
    shape: tuple[int, ...], config: LongitudinalConfig, step_min: int, rng: np.random.Generator
) -> BoolArray:
    """Sensor dropouts: gaps of geometric length plus isolated lost readings."""
    lost = rng.random(shape) < config.reading_loss_probability
    starts = rng.random(shape) < config.dropout_start_probability * step_min / 5.0
    p_end = 1.0 / max(config.dropout_mean_readings, 1.0)
    for i, j in zip(*np.nonzero(starts), strict=True):
        lost[i, j : j + int(rng.geometric(p_end))] = True
    mask: BoolArray = lost
    return mask


def _death_days(demo: Demographics, rng: np.random.Generator, horizon: float) -> FloatArray:
    rate_per_year = np.exp(-10.5 + 0.09 * demo.age_years) * np.where(demo.diabetes, 2.0, 1.0)
    days = rng.exponential(365.25 / rate_per_year)
    return np.where(days < horizon, days, np.inf)


def _visit_days(mean_days: float, horizon: float, rng: np.random.Generator) -> FloatArray:
    days = [float(rng.uniform(0.0, min(30.0, horizon / 4)))]
    while True:
        nxt = days[-1] + float(rng.gamma(4.0, mean_days / 4.0))
        if nxt >= horizon:
            return np.array(days)
        days.append(nxt)


def generate_patients(
    demographics: Demographics,
    *,
    config: LongitudinalConfig | None = None,
    population: VirtualPopulation | None = None,
    seed: int = 0,
    id_prefix: str = "synthetic-",
    start_index: int = 0,
) -> tuple[SyntheticPatient, ...]:
    """Simulate every patient's records over the follow-up.

    Parameters
    ----------
    demographics
        Who the patients are (see :mod:`healthtwin.synthetic.demographics`).
    config
        Time layout, missingness and device (default :class:`LongitudinalConfig`).
    population
        Where the diabetics' twins come from (default :class:`VirtualPopulation`).
    seed
        Root seed; every layer has its own named stream.
    id_prefix
        Prefix of every patient id (``synthetic-00000``...).
    start_index
        Global index of the first patient, for ids when a large run is generated in
        chunks: patient ``i`` of this call is ``f"{id_prefix}{start_index + i:05d}"``.
        Only the ids change; the random numbers come from ``seed`` alone.

    Returns
    -------
    tuple of SyntheticPatient
        One per patient, in order.

    Examples
    --------
    >>> from healthtwin.synthetic.demographics import sample_demographics
    >>> demo = sample_demographics(4, np.random.default_rng(0), diabetes_prevalence=0.5)
    >>> pats = generate_patients(demo, config=LongitudinalConfig(follow_up_days=60), seed=1)
    >>> len(pats), consistency_issues(pats)
    (4, [])
    """
    if start_index < 0:
        raise InvalidParameterError(f"start_index must be >= 0, got {start_index}")
    config = config or LongitudinalConfig()
    population = population or VirtualPopulation()
    streams = RandomStreams(seed)
    n = demographics.n
    death = _death_days(demographics, streams.generator("death"), config.follow_up_days)
    exact_age = _exact_ages(demographics.age_years, streams.generator("birthdays"))
    diabetic = np.flatnonzero(demographics.diabetes)
    twins = population.sample(
        demographics.body_weight_kg[diabetic], streams.generator("physiology"), prefix="twin"
    )
    run = simulate_cgm_days(twins, config, streams) if twins else None
    visit_rng, obs_rng = streams.generator("visits"), streams.generator("observations")
    out = []
    for i in range(n):
        row = int(np.searchsorted(diabetic, i))
        k = row if row < diabetic.size and diabetic[row] == i else None
        pid = f"{id_prefix}{start_index + i:05d}"
        builder = _RecordBuilder(pid, demographics, i, config, death[i], float(exact_age[i]))
        builder.conditions(obs_rng)
        mean_interval = (
            config.visit_interval_days_diabetes
            if k is not None
            else config.visit_interval_days_other
        )
        days = _visit_days(mean_interval, config.follow_up_days - config.cgm_days - 1, visit_rng)
        attended = visit_rng.random(days.size) >= config.missed_visit_probability
        attended[0] = True  # the first visit enrols the patient (and fits a CGM)
        if run is not None and k is not None:
            builder.visits(days[attended], obs_rng, run, k)
            builder.cgm(run, k)
            out.append(builder.patient(twins[k], run, k))
        else:
            builder.visits(days[attended], obs_rng, None, None)
            out.append(builder.patient(None, None, None))
    return tuple(out)


def _exact_ages(age_years: FloatArray, rng: np.random.Generator) -> FloatArray:
    """Ages in completed years (a table's 63) made exact: ``age + U(0, 1)``.

    A whole age would put every birthday on the start's day and month; such a patient was
    born on a day drawn uniformly over the year of ages ``[age, age + 1)``. Fractional ages
    are kept. Shape ``(n,)``; one draw per patient from the ``birthdays`` stream.
    """
    fraction = rng.random(age_years.size)
    whole = age_years == np.floor(age_years)
    return np.asarray(np.where(whole, np.minimum(age_years + fraction, 120.0), age_years))


def _years_before(moment: datetime, years: float) -> datetime:
    return moment - timedelta(days=365.25 * years)


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


class _RecordBuilder:
    """The records of one patient, laid out over the follow-up and cut at death."""

    def __init__(
        self,
        pid: str,
        demo: Demographics,
        i: int,
        config: LongitudinalConfig,
        death_day: float,
        exact_age: float,
    ) -> None:
        self.pid, self.config = pid, config
        self.start = config.start
        self.age = exact_age
        self.female = bool(demo.female[i])
        self.diabetic, self.hypertensive = bool(demo.diabetes[i]), bool(demo.hypertension[i])
        self.death = None if not np.isfinite(death_day) else self.start + timedelta(days=death_day)
        self.birth = _years_before(self.start, self.age).date()
        self.encounters: list[EncounterRecord] = []
        self.observations: list[ObservationRecord] = []
        self.conditions_: list[ConditionRecord] = []
        self.medications: list[MedicationRecord] = []
        self.first_visit_end: datetime | None = None
        self.cgm_start: datetime | None = None

    def alive(self, moment: datetime) -> bool:
        return self.death is None or moment < self.death

    def conditions(self, rng: np.random.Generator) -> None:
        for flag, code, earliest_age in (
            (self.diabetic, TYPE1_DIABETES, 0.5),
            (self.hypertensive, HYPERTENSION, 18.0),
        ):
            if not flag:
                continue
            onset_age = rng.uniform(min(earliest_age, self.age * 0.5), self.age)
            onset = _minute(_years_before(self.start, self.age - onset_age) + timedelta(hours=1))
            onset = min(onset, self.start - timedelta(days=1))
            self.conditions_.append(
                ConditionRecord(
                    id=f"{self.pid}-cond-{len(self.conditions_)}",
                    patient_id=self.pid,
                    code=code,
                    onset=max(onset, datetime.combine(self.birth, datetime.min.time(), UTC)),
                )
            )

    def _observation(
        self, name: str, coding: Coding | None, when: datetime, value: float, enc: str
    ) -> None:
        if coding is None:
            spec = vital(name)
            coding = Coding(system=LOINC, code=spec.code, display=spec.display)
            unit, category = spec.unit, spec.category
        else:
            unit, category = "%", "laboratory"
        self.observations.append(
            ObservationRecord(
                id=f"{self.pid}-obs-{len(self.observations)}",
                patient_id=self.pid,
                code=coding,
                effective=when,
                value=round(float(value), 1),
                unit=unit,
                category=category,
                encounter_id=enc,
            )
        )

    def visits(
        self, days: FloatArray, rng: np.random.Generator, run: CgmRun | None, k: int | None
    ) -> None:
        sbp0 = 115.0 + 0.4 * (self.age - 40.0) + 12.0 * self.hypertensive + rng.normal(0, 8)
        hr0 = rng.normal(72.0, 8.0)
        for d in days:
            begin = self.start + timedelta(
                days=float(np.floor(d)), minutes=int(rng.integers(480, 960))
            )
            end = begin + timedelta(minutes=30)
            if not self.alive(end):
                break
            enc = f"{self.pid}-enc-{len(self.encounters)}"
            self.encounters.append(
                EncounterRecord(
                    id=enc,
                    patient_id=self.pid,
                    status="finished",
                    class_code="AMB",
                    start=begin,
                    end=end,
                )
            )
            self.first_visit_end = self.first_visit_end or end
            sbp = sbp0 + rng.normal(0.0, 6.0) + rng.normal(0.0, NIBP_SYSTOLIC.noise_sd)
            hr = hr0 + rng.normal(0.0, 5.0) + rng.normal(0.0, ECG_HEART_RATE.noise_sd)
            vitals_at = begin + timedelta(minutes=5)
            self._observation("systolic_bp", None, vitals_at, np.clip(sbp, 70, 250), enc)
            dbp = 0.55 * sbp + 12.0 + rng.normal(0.0, 5.0)
            self._observation("diastolic_bp", None, vitals_at, np.clip(dbp, 40, 150), enc)
            self._observation("heart_rate", None, vitals_at, np.clip(hr, 35, 200), enc)
            labs_at = begin + timedelta(minutes=20)
            if rng.random() >= self.config.lab_missing_probability:
                glucose = (
                    rng.normal(92.0, 8.0)
                    if run is None or k is None
                    else float(rng.choice(run.glucose[k])) * (1.0 + rng.normal(0.0, 0.02))
                )
                self._observation("glucose_plasma", None, labs_at, glucose, enc)
            if run is not None and k is not None:
                if rng.random() >= self.config.lab_missing_probability:
                    a1c = adag_hba1c_percent(run.mean_glucose[k]) + rng.normal(0.0, 0.3)
                    self._observation("hba1c", HBA1C, labs_at, float(a1c), enc)
                self.medications.append(
                    MedicationRecord(
                        id=f"{self.pid}-med-{len(self.medications)}",
                        patient_id=self.pid,
                        kind="request",
                        medication=INSULIN_LISPRO,
                        start=begin + timedelta(minutes=25),
                        status="active",
                        route=SUBCUTANEOUS,
                        encounter_id=enc,
                    )
                )

    def cgm(self, run: CgmRun, k: int) -> None:
        if self.first_visit_end is None:
            return
        midnight = datetime.combine(self.first_visit_end.date(), datetime.min.time(), UTC)
        self.cgm_start = midnight + _DAY  # the sensor warms up overnight
        if not self.alive(self.cgm_start):
            return
        end = self.cgm_start + self.config.cgm_days * _DAY
        if self.death is not None and self.death < end:
            end = _minute(self.death)
        enc = f"{self.pid}-enc-{len(self.encounters)}"
        self.encounters.append(
            EncounterRecord(
                id=enc,
                patient_id=self.pid,
                status="finished",
                class_code="HH",
                start=self.first_visit_end,
                end=end,
            )
        )
        for t, value in zip(run.t_min, run.readings[k], strict=True):
            when = self.cgm_start + timedelta(minutes=float(t))
            if np.isfinite(value) and when < end:
                self._observation("cgm_glucose_mass", None, when, float(value), enc)
        rate_u_per_h = round(float(run.basal_u_per_min[k]) * 60.0, 4)
        for day in range(self.config.cgm_days):
            begin = self.cgm_start + day * _DAY
            if begin < end:
                self._insulin(enc, begin, min(begin + _DAY, end), None, rate_u_per_h)
        for t, dose in zip(run.meal_t_min, run.bolus_u[k], strict=True):
            when = self.cgm_start + timedelta(minutes=float(t))
            if dose > 0 and when < end:
                self._insulin(enc, when, None, float(dose), None)

    def _insulin(
        self,
        enc: str,
        start: datetime,
        end: datetime | None,
        dose: float | None,
        rate: float | None,
    ) -> None:
        self.medications.append(
            MedicationRecord(
                id=f"{self.pid}-med-{len(self.medications)}",
                patient_id=self.pid,
                kind="administration",
                medication=INSULIN_LISPRO,
                start=start,
                end=end,
                dose=dose,
                dose_unit=None if dose is None else "U",
                rate=rate,
                rate_unit=None if rate is None else "U/h",
                route=SUBCUTANEOUS,
                encounter_id=enc,
            )
        )

    def patient(
        self, twin: UvaPadovaPatient | None, run: CgmRun | None, k: int | None
    ) -> SyntheticPatient:
        record = PatientRecord(
            id=self.pid,
            birth_date=self.birth,
            gender="female" if self.female else "male",
        )
        data = PatientData(
            patient=record,
            observations=tuple(self.observations),
            conditions=tuple(self.conditions_),
            medications=tuple(self.medications),
            encounters=tuple(self.encounters),
        )
        if run is None or k is None or self.cgm_start is None:
            return SyntheticPatient(data, self.death, twin)
        keep = np.array(
            [self.alive(self.cgm_start + timedelta(minutes=float(t))) for t in run.t_min]
        )
        return SyntheticPatient(
            data,
            self.death,
            twin,
            run.t_min[keep],
            run.readings[k][keep],
            run.glucose[k][keep],
            self.cgm_start,
        )


def _birth(p: SyntheticPatient) -> datetime | None:
    b = p.data.patient.birth_date
    return None if b is None else datetime.combine(b, datetime.min.time(), UTC)


def consistency_issues(patients: Sequence[SyntheticPatient]) -> list[str]:
    """Every broken rule of the multi-table records (an empty list when consistent).

    Rules: ids unique; every record's patient exists and every referenced encounter is
    the patient's; observations and medications fall inside their encounter; nothing
    starts before birth or after death (encounters end by death); insulin only for
    diabetics.
    """
    issues: list[str] = []
    ids = [p.data.patient.id for p in patients]
    if len(set(ids)) != len(ids):
        issues.append("duplicate patient ids")
    for p in patients:
        d, pid = p.data, p.data.patient.id
        encounters = {e.id: e for e in d.encounters}
        birth, death = _birth(p), p.deceased
        timed: list[tuple[str, str, datetime | None, str | None]] = [
            *((o.id, o.patient_id, o.effective, o.encounter_id) for o in d.observations),
            *((m.id, m.patient_id, m.start, m.encounter_id) for m in d.medications),
            *((e.id, e.patient_id, e.start, None) for e in d.encounters),
            *((c.id, c.patient_id, c.onset, c.encounter_id) for c in d.conditions),
        ]
        for rid, owner, when, enc_id in timed:
            if owner != pid:
                issues.append(f"{rid}: filed under {pid} but refers to patient {owner}")
            if when is not None and birth is not None and when < birth:
                issues.append(f"{rid}: at {when.isoformat()} before birth of {pid}")
            if when is not None and death is not None and when >= death:
                issues.append(f"{rid}: at {when.isoformat()} after the death of {pid}")
            if enc_id is None:
                continue
            enc = encounters.get(enc_id)
            if enc is None:
                issues.append(f"{rid}: encounter {enc_id} is not one of {pid}'s")
            elif when is not None and not (
                enc.start is not None and enc.start <= when and (enc.end is None or when <= enc.end)
            ):
                issues.append(f"{rid}: at {when.isoformat()} outside encounter {enc_id}")
        for e in d.encounters:
            if death is not None and e.end is not None and e.end > death:
                issues.append(f"{e.id}: ends after the death of {pid}")
        if d.medications and not p.diabetic:
            issues.append(f"{pid}: insulin recorded for a patient without diabetes")
    return issues
