"""A live patient twin: one glucose twin per session, safe under concurrent use.

A :class:`PatientTwinSession` wraps a :class:`~healthtwin.core.Twin` of the UVA/Padova S2008
model (an ensemble of ``members`` with a log-normal spread of insulin sensitivity ``Vmx``, as
in ``healthtwin patient recommend``) corrected by an ensemble Kalman filter from CGM readings.
Time is minutes since the session's ``start`` (a UTC datetime). Every change (readings, vital signs,
accepted plans) happens under the session's lock, so concurrent requests for one twin are
applied one after the other and none is lost; readings that arrive late are slotted into
the twin's history (:meth:`Twin.assimilate` replays what followed).

Vital signs (:class:`~healthtwin.scenarios.patient_vitals.VitalSigns`) are kept beside the
glucose twin with their NEWS2 (RCP 2017): they are scored, not assimilated, since the
glucose model has no vital signs. The HTTP face (:mod:`healthtwin.api.twins`) only adapts
requests to these methods.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from healthtwin.assimilation import EnsembleKalmanFilter, OutputObservation, view_for
from healthtwin.control.recommend import Constraint, Objective, Recommendation, recommend
from healthtwin.core import Events, Inputs, Rate, Twin, lognormal_spread, time_in_band
from healthtwin.core.types import FloatArray
from healthtwin.coupling.patient_sync import GLUCOSE_STATES
from healthtwin.errors import InvalidInputError
from healthtwin.governance.signing import SigningKey
from healthtwin.interop.records import Coding, ObservationRecord
from healthtwin.physiology.patients import load_patient
from healthtwin.physiology.uva_padova import STATE_NAMES, UvaPadova
from healthtwin.scenarios.forecast_noise import GlucoseModelError, forecast_quantiles
from healthtwin.scenarios.patient_vitals import VitalSigns, news2_summaries, vitals_records

__all__ = [
    "CGM_GLUCOSE",
    "MAX_GAP_MIN",
    "MAX_MEMBERS",
    "MODEL",
    "MODEL_ERROR",
    "MODEL_VERSION",
    "GlucoseReading",
    "PatientTwinSession",
]

#: LOINC 99504-3: glucose [mass/volume] in interstitial fluid (a CGM reading, mg/dL).
CGM_GLUCOSE = Coding(
    system="http://loinc.org",
    code="99504-3",
    display="Glucose [Mass/volume] in Interstitial fluid",
)
#: Longest step ahead one request may move a twin (bounds the work of one request).
MAX_GAP_MIN = 2 * 24 * 60.0
#: Largest ensemble one twin may have (bounds the work of one request).
MAX_MEMBERS = 128
MODEL = "uva-padova"
MODEL_VERSION = "S2008"
_SENSITIVITY = "Vmx"
#: Multiplicative inflation of the corrected states per reading. A deterministic model
#: loses its spread reading by reading; 1.1 keeps enough to follow meals the twin was not
#: told about (demo patient adult#001, 50 g unannounced: tracking RMSE 13.9 mg/dL against
#: 29.2 with 1.01).
STATE_INFLATION = 1.1
#: Model error added to forecasts (log-normal discrepancy growing with lead time).
MODEL_ERROR = GlucoseModelError()
#: Spread of the prior's glucose around the basal steady state (coefficient of variation).
GLUCOSE_PRIOR_CV = 0.25
_GLUCOSE_COLUMNS = ("plasma_glucose_mg_per_kg", "tissue_glucose_mg_per_kg", "sc_glucose_mg_per_kg")


@dataclass(frozen=True)
class GlucoseReading:
    """One CGM reading: minutes since the twin's start and glucose in mg/dL."""

    t_min: float
    glucose_mg_dl: float

    def __post_init__(self) -> None:
        if not np.isfinite(self.t_min) or self.t_min < 0:
            raise InvalidInputError(
                f"reading time must be >= 0 min after the twin's start, got {self.t_min}"
            )
        if not 10.0 <= self.glucose_mg_dl <= 1000.0:
            raise InvalidInputError(
                f"glucose {self.glucose_mg_dl} mg/dL is outside 10-1000 mg/dL; send mg/dL "
                "(multiply mmol/L by 18.016)"
            )


@dataclass
class PatientTwinSession:
    """One patient's live glucose twin (build it with :meth:`create`).

    Attributes
    ----------
    twin_id, patient_id
        The twin's id and the FHIR Patient id its readings are stored under.
    profile
        The UVA/Padova virtual patient the prior is centred on.
    start
        UTC time of ``t_min = 0``.
    readings
        Every reading received, in arrival order.
    vitals, news2
        Every vital-signs set received, in arrival order, and its NEWS2 summary.
    events
        Accepted plans applied to the twin: ``{"t_min", "meal_g", "bolus_u", "source"}``.
    version
        Incremented by every change (live views poll it).
    """

    twin_id: str
    patient_id: str
    profile: str
    start: datetime
    members: int
    seed: int
    twin: Twin[Any]
    cgm: OutputObservation
    basal_u_per_min: float
    carb_ratio_g_per_u: float
    nominal_sensitivity: float
    sensor_sd_mg_dl: float = 8.0
    readings: list[GlucoseReading] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    vitals: list[VitalSigns] = field(default_factory=list)
    news2: list[dict[str, Any]] = field(default_factory=list)
    version: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @classmethod
    def create(
        cls,
        twin_id: str,
        *,
        patient_id: str | None = None,
        profile: str = "nominal-adult",
        members: int = 32,
        seed: int = 0,
        start: datetime | None = None,
        sensor_sd_mg_dl: float = 8.0,
    ) -> PatientTwinSession:
        """A fresh twin centred on virtual patient ``profile``.

        Raises
        ------
        InvalidInputError
            If ``members`` is not in 8-:data:`MAX_MEMBERS` or the sensor SD is not positive.
        UnknownModelError
            If ``profile`` is not a known virtual patient.

        Examples
        --------
        >>> s = PatientTwinSession.create("t1", members=8)
        >>> s.patient_id, s.profile, s.twin.state.x.shape
        ('t1', 'nominal-adult', (8, 13))
        """
        if not 8 <= members <= MAX_MEMBERS:
            raise InvalidInputError(f"members must be in 8-{MAX_MEMBERS}, got {members}")
        if not sensor_sd_mg_dl > 0:
            raise InvalidInputError(f"the CGM noise SD must be > 0 mg/dL, got {sensor_sd_mg_dl}")
        person = load_patient(profile)
        model = UvaPadova([person])
        rng = np.random.default_rng(seed)
        column = UvaPadova.parameter_index(_SENSITIVITY)
        prior = _spread_glucose(
            lognormal_spread(model.initial_state(members, rng), {column: 0.3}, rng), rng
        )
        view = view_for(model, states=GLUCOSE_STATES, parameters={_SENSITIVITY: (1e-4, 1.0)})
        basal = Inputs(rates={"insulin_u_per_min": Rate.constant(person.basal_u_per_min, 0.0)})
        twin = Twin(
            model,
            prior,
            0.0,
            seed=seed,
            standing_inputs=basal,
            assimilator=EnsembleKalmanFilter(view, inflation=STATE_INFLATION, rtps=0.5),
        )
        reference = model.initial_state(1, np.random.default_rng(0))
        return cls(
            twin_id=twin_id,
            patient_id=patient_id or twin_id,
            profile=profile,
            start=(start or datetime.now(UTC)).astimezone(UTC),
            members=members,
            seed=seed,
            twin=twin,
            cgm=OutputObservation(model, ["glucose_mg_dl"], [sensor_sd_mg_dl]),
            basal_u_per_min=float(person.basal_u_per_min),
            carb_ratio_g_per_u=float(person.carb_ratio_g_per_u),
            nominal_sensitivity=float(reference.theta[0, column]),
            sensor_sd_mg_dl=float(sensor_sd_mg_dl),
        )

    def definition(self) -> dict[str, Any]:
        """The arguments of :meth:`create` that make this twin again, e.g. after a restart
        (the twin is then rebuilt from them and the data on file).

        Examples
        --------
        >>> s = PatientTwinSession.create("t5", members=8, seed=3)
        >>> again = PatientTwinSession.create(**s.definition())
        >>> (again.twin_id, again.members, again.seed, again.start) == ("t5", 8, 3, s.start)
        True
        """
        return {
            "twin_id": self.twin_id,
            "patient_id": self.patient_id,
            "profile": self.profile,
            "members": self.members,
            "seed": self.seed,
            "start": self.start,
            "sensor_sd_mg_dl": self.sensor_sd_mg_dl,
        }

    # -- time ------------------------------------------------------------------------
    def minutes(self, when: datetime) -> float:
        """Minutes from the twin's start to ``when`` (timezone-aware)."""
        if when.tzinfo is None:
            raise InvalidInputError(f"time {when.isoformat()} has no timezone; add Z or +hh:mm")
        return (when - self.start).total_seconds() / 60.0

    def when(self, t_min: float) -> datetime:
        """The UTC time of ``t_min``."""
        return self.start + timedelta(minutes=t_min)

    # -- data in ---------------------------------------------------------------------
    def assimilate(self, readings: Sequence[GlucoseReading]) -> list[ObservationRecord]:
        """Correct the twin with ``readings`` (any order); return them as store records.

        Raises
        ------
        InvalidInputError
            If a reading lies more than :data:`MAX_GAP_MIN` ahead of the twin.

        Examples
        --------
        >>> s = PatientTwinSession.create("t2", members=8)
        >>> records = s.assimilate([GlucoseReading(5.0, 150.0), GlucoseReading(10.0, 155.0)])
        >>> len(s.readings), s.twin.t, records[0].code.code, s.version
        (2, 10.0, '99504-3', 1)
        """
        with self.lock:
            limit = self.twin.t + MAX_GAP_MIN
            late = [r for r in readings if r.t_min > limit]
            if late:
                raise InvalidInputError(
                    f"reading at t={late[0].t_min} min is more than {MAX_GAP_MIN:g} min ahead "
                    f"of the twin (t={self.twin.t} min); send readings in order"
                )
            for reading in sorted(readings, key=lambda r: r.t_min):
                self.twin.assimilate(reading.t_min, np.array([reading.glucose_mg_dl]), self.cgm)
                self.readings.append(reading)
            self.version += 1
            return [
                ObservationRecord(
                    id=f"{self.twin_id}-cgm-{uuid.uuid4().hex[:16]}",
                    patient_id=self.patient_id,
                    code=CGM_GLUCOSE,
                    effective=self.when(r.t_min),
                    value=r.glucose_mg_dl,
                    unit="mg/dL",
                    category="vital-signs",
                )
                for r in readings
            ]

    def apply_plan(self, t_min: float, meal_g: float, bolus_u: float, source: str) -> None:
        """Add a meal and bolus at ``t_min`` to what the twin knows was delivered."""
        with self.lock:
            self.events.append(
                {"t_min": t_min, "meal_g": meal_g, "bolus_u": bolus_u, "source": source}
            )
            self.twin.standing_inputs = self._inputs()
            self.version += 1

    def _inputs(self) -> Inputs:
        times = np.array([e["t_min"] for e in self.events], dtype=np.float64)
        events = {
            name: Events(times, np.array([e[name] for e in self.events], dtype=np.float64))
            for name in ("meal_g", "bolus_u")
        }
        basal = Rate.constant(self.basal_u_per_min, 0.0)
        return Inputs(rates={"insulin_u_per_min": basal}, events=events)

    def record_vitals(self, sets: Sequence[VitalSigns]) -> list[ObservationRecord]:
        """Score ``sets`` (NEWS2) and keep them; return them as store records.

        Raises
        ------
        InvalidInputError
            If a set lies more than :data:`MAX_GAP_MIN` ahead of the twin's latest data.

        Examples
        --------
        >>> s = PatientTwinSession.create("t4", members=8)
        >>> v = VitalSigns(5.0, respiratory_rate_per_min=22, spo2_percent=95,
        ...                systolic_bp_mm_hg=105, heart_rate_per_min=96, temperature_c=38.3,
        ...                consciousness="A")
        >>> records = s.record_vitals([v])
        >>> len(records), s.news2[-1]["total"], s.version
        (8, 6, 1)
        """
        with self.lock:
            latest = max([self.twin.t, *(v.t_min for v in self.vitals)])
            late = [v for v in sets if v.t_min > latest + MAX_GAP_MIN]
            if late:
                raise InvalidInputError(
                    f"vital signs at t={late[0].t_min} min are more than {MAX_GAP_MIN:g} min "
                    f"ahead of the twin (t={latest} min); send them in order"
                )
            self.vitals.extend(sets)
            self.news2.extend(news2_summaries(sets))
            self.version += 1
            return [
                record
                for v in sets
                for record in vitals_records(self.twin_id, self.patient_id, self.when(v.t_min), v)
            ]

    def vitals_state(self) -> dict[str, Any] | None:
        """The latest vital signs (by time) with their NEWS2, and the NEWS2 trend.

        ``None`` before the first set.
        """
        with self.lock:
            if not self.vitals:
                return None
            order = sorted(range(len(self.vitals)), key=lambda i: self.vitals[i].t_min)
            last = order[-1]
            return {
                "latest": {
                    **self.vitals[last].as_dict(),
                    "time": self.when(self.vitals[last].t_min).isoformat(),
                },
                "news2": self.news2[last],
                "n_sets": len(self.vitals),
                "news2_trend": [
                    {
                        "t_min": self.news2[i]["t_min"],
                        "total": self.news2[i]["total"],
                        "band": self.news2[i]["band"],
                    }
                    for i in order
                ],
            }

    # -- data out --------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """What the twin knows now: glucose quantiles, insulin sensitivity, readings, events,
        and the latest vital signs with NEWS2 (``vitals``, ``None`` before the first set)."""
        with self.lock:
            twin = self.twin
            glucose = np.asarray(self.cgm.predict(twin.state)[:, 0], dtype=np.float64)
            column = UvaPadova.parameter_index(_SENSITIVITY)
            sensitivity = np.asarray(twin.state.theta[:, column], dtype=np.float64)
            result: dict[str, Any] = {
                "twin_id": self.twin_id,
                "patient_id": self.patient_id,
                "profile": self.profile,
                "model": MODEL,
                "start": self.start.isoformat(),
                "t_min": twin.t,
                "time": self.when(twin.t).isoformat(),
                "members": self.members,
                "n_readings": len(self.readings),
                "version": self.version,
                "readings": [
                    {"t_min": r.t_min, "glucose_mg_dl": r.glucose_mg_dl}
                    for r in sorted(self.readings, key=lambda r: r.t_min)
                ],
                "events": list(self.events),
                "parameters": [
                    _estimate("insulin_sensitivity_vmx", sensitivity, self.nominal_sensitivity)
                ],
            }
            result["glucose_mg_dl"] = _quantiles(glucose)
            result["vitals"] = self.vitals_state()
            return result

    def forecast(
        self,
        horizon_min: float,
        dt_min: float = 5.0,
        levels: Sequence[float] = (0.05, 0.25, 0.5, 0.75, 0.95),
        *,
        key: SigningKey | None = None,
    ) -> dict[str, Any]:
        """Glucose forecast quantiles over ``[t, t + horizon_min]`` with its provenance.

        The quantiles include model error (:data:`MODEL_ERROR`, see
        :mod:`healthtwin.scenarios.forecast_noise`), so the bands widen with lead time.

        ``key`` (Ed25519) signs the provenance record; without it the record is hashed only.

        Examples
        --------
        >>> s = PatientTwinSession.create("t3", members=8)
        >>> fc = s.forecast(60.0, 30.0, levels=(0.5,))
        >>> fc["t_min"], len(fc["quantiles"]["0.5"])
        ([0.0, 30.0, 60.0], 3)
        """
        _check_levels(levels)
        with self.lock:
            forecast = self.twin.forecast(horizon_min, dt_out=dt_min)
            version, n = self.version, len(self.readings)
            readings = [(r.t_min, r.glucose_mg_dl) for r in self.readings]
        glucose = forecast.channel("glucose_mg_dl")
        lead = np.asarray(forecast.t, dtype=np.float64) - float(forecast.t[0])
        bands = forecast_quantiles(glucose, lead, levels, MODEL_ERROR)
        quantiles = {_key(q): _floats(row) for q, row in zip(levels, bands, strict=True)}
        return {
            "twin_id": self.twin_id,
            "channel": "glucose_mg_dl",
            "unit": "mg/dL",
            "time_unit": "min",
            "t_min": [float(t) for t in forecast.t],
            "quantiles": quantiles,
            "n_members": forecast.n_members,
            "n_readings": n,
            "version": version,
            "provenance": self._provenance(readings, quantiles, version, key),
        }

    def _provenance(
        self,
        readings: list[tuple[float, float]],
        quantiles: dict[str, Any],
        version: int,
        key: SigningKey | None,
    ) -> dict[str, Any]:
        """FHIR Provenance of a forecast: the readings and the twin's settings, hashed."""
        from datetime import UTC, datetime

        from healthtwin.governance.provenance import (
            make_provenance,
            sign_provenance,
            to_fhir_provenance,
        )

        record = make_provenance(
            f"urn:healthtwin:forecast:{self.twin_id}:{version}",
            inputs={f"urn:healthtwin:twin:{self.twin_id}:readings": readings},
            model_name="uva-padova-enkf-twin",
            model_version=self.profile,
            model_parameters={
                "profile": self.profile,
                "members": self.members,
                "model_error_log_sd_per_sqrt_min": MODEL_ERROR.log_sd_per_sqrt_min,
                "model_error_correlation_min": MODEL_ERROR.correlation_min,
            },
            agent="Device/healthtwin-api",
            activity="forecast",
            time=datetime.now(UTC),
            target_content=quantiles,
        )
        return to_fhir_provenance(record if key is None else sign_provenance(record, key))

    def plans(self, plans: Mapping[str, tuple[float, float]]) -> dict[str, Inputs]:
        """Named plans ``{name: (meal_g, bolus_u)}`` given now, as twin inputs."""
        now = self.twin.t
        return {
            name: Inputs(
                events={
                    "meal_g": Events(np.array([now]), np.array([meal])),
                    "bolus_u": Events(np.array([now]), np.array([bolus])),
                }
            )
            for name, (meal, bolus) in plans.items()
        }

    def what_if(
        self, plans: Mapping[str, tuple[float, float]], horizon_min: float, dt_min: float = 5.0
    ) -> dict[str, Any]:
        """Forecasts under each plan with common random numbers, and time in range.

        The bands include model error (:data:`MODEL_ERROR`); time in range is the
        ensemble's (the plans share the model error, so it does not change their ranking).
        """
        if not plans:
            raise InvalidInputError("what-if needs at least one plan")
        with self.lock:
            result = self.twin.what_if(self.plans(plans), horizon_min, dt_out=dt_min)
        tir = result.summary(time_in_band("glucose_mg_dl", 70.0, 180.0), 0.9)
        out = {}
        for name, forecast in result.items():
            lead = np.asarray(forecast.t, dtype=np.float64) - float(forecast.t[0])
            low, mid, high = forecast_quantiles(
                forecast.channel("glucose_mg_dl"), lead, (0.05, 0.5, 0.95), MODEL_ERROR
            )
            out[name] = {
                "t_min": _floats(forecast.t),
                "quantiles": {"0.05": _floats(low), "0.5": _floats(mid), "0.95": _floats(high)},
                "time_in_range_percent": {
                    "mean": tir[name].mean,
                    "low": tir[name].low,
                    "high": tir[name].high,
                },
            }
        return {"twin_id": self.twin_id, "plans": out}

    def recommend_bolus(
        self,
        meal_g: float,
        boluses: Sequence[float] | None = None,
        *,
        horizon_min: float = 360.0,
        max_tbr_percent: float = 4.0,
    ) -> tuple[Recommendation, dict[str, tuple[float, float]]]:
        """The best meal bolus (time in range, hypoglycaemia chance-constrained)."""
        usual = meal_g / self.carb_ratio_g_per_u
        doses = (
            sorted(set(boluses))
            if boluses
            else [0.0, *(round(f * usual, 1) for f in (0.5, 0.75, 1.0, 1.25, 1.5))]
        )
        named = {f"bolus {u:g} U": (meal_g, u) for u in doses}
        with self.lock:
            advice = recommend(
                self.twin,
                self.plans(named),
                Objective(
                    "time in range 70-180 mg/dL (%)", time_in_band("glucose_mg_dl", 70.0, 180.0)
                ),
                [
                    Constraint(
                        f"time below 70 mg/dL <= {max_tbr_percent:g} %",
                        time_in_band("glucose_mg_dl", -np.inf, 70.0),
                        max_tbr_percent,
                        0.9,
                    )
                ],
                horizon=horizon_min,
            )
        return advice, named


def _spread_glucose(state: Any, rng: np.random.Generator) -> Any:
    """Glucose states times one shared log-normal factor per member (CV 25 %).

    The nominal start is the basal steady state, identical in every member; without a
    spread in glucose the filter could not move it toward the first readings.
    """
    columns = [STATE_NAMES.index(n) for n in _GLUCOSE_COLUMNS]
    sigma = np.sqrt(np.log1p(GLUCOSE_PRIOR_CV**2))
    factor = rng.lognormal(-0.5 * sigma**2, sigma, size=state.x.shape[0])
    x = np.array(state.x, dtype=np.float64)
    x[:, columns] *= factor[:, None]
    return replace(state, x=x)


def _quantiles(values: FloatArray) -> dict[str, float]:
    levels = (0.05, 0.5, 0.95)
    return {_key(q): float(v) for q, v in zip(levels, np.quantile(values, levels), strict=True)}


def _estimate(name: str, values: FloatArray, nominal: float) -> dict[str, Any]:
    low, high = np.quantile(values, (0.05, 0.95))
    return {
        "name": name,
        "mean": float(np.mean(values)),
        "low": float(low),
        "high": float(high),
        "level": 0.9,
        "nominal": nominal,
    }


def _check_levels(levels: Sequence[float]) -> None:
    if not levels or any(not 0 < q < 1 for q in levels):
        raise InvalidInputError(f"quantile levels must be in (0, 1), got {list(levels)}")


def _key(level: float) -> str:
    return f"{level:g}"


def _floats(values: Any) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=np.float64)]
