"""Patient twins built from health records (a FHIR bundle, an OMOP export, a store).

The records of :mod:`healthtwin.interop.records` become a model's readings and inputs:

- **glucose twin** (UVA/Padova): CGM glucose (LOINC 105272-9 in mmol/L or 99504-3 in
  mg/dL) and laboratory plasma glucose (2345-7 mg/dL, 15074-8 mmol/L) are its readings;
  insulin administrations (any medication dosed in ``U``: boluses as doses, infusions as
  rates in ``U/h`` or ``U/min`` between start and end) and carbohydrate intake
  (9059-7/9060-5, g) its inputs; without infusions the patient's steady basal is assumed;
- **circulation twin** (Smith 2004): heart rate 8867-4, systolic 8480-6 and diastolic
  8462-4 pressure (also inside the 85354-9 panel) and mean pressure 8478-0.

Time zero is the first reading; times in the twin are minutes after it. Records the twin
cannot use are counted in :attr:`RecordReadings.ignored`, never silently dropped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from healthtwin.assimilation import ObservationSeries
from healthtwin.core import Events, Inputs, Rate
from healthtwin.coupling.patient_sync import (
    CIRCULATION_ESTIMABLE,
    DEFAULT_NOISE,
    GLUCOSE_ALIASES,
    GLUCOSE_STATES,
    SyncedTwin,
    TwinRecipe,
    sync_twin,
)
from healthtwin.errors import InvalidInputError
from healthtwin.interop.records import MedicationRecord, ObservationRecord, PatientData
from healthtwin.physiology.circulation import SmithCVS
from healthtwin.physiology.hovorka import MG_DL_PER_MMOL_L
from healthtwin.physiology.patients import load_patient
from healthtwin.physiology.uva_padova import UvaPadova

__all__ = ["RecordReadings", "glucose_recipe", "readings_from_records", "sync_from_records"]

#: LOINC code -> (model output, factor to the output's unit) per twin kind.
READING_CODES: dict[str, dict[str, tuple[str, float]]] = {
    "uva-padova": {
        "105272-9": ("glucose_mg_dl", MG_DL_PER_MMOL_L),
        "99504-3": ("glucose_mg_dl", 1.0),
        "2345-7": ("plasma_glucose_mg_dl", 1.0),
        "15074-8": ("plasma_glucose_mg_dl", MG_DL_PER_MMOL_L),
    },
    "cvs-smith": {
        "8867-4": ("heart_rate_bpm", 1.0),
        "8480-6": ("sbp_mmhg", 1.0),
        "8462-4": ("dbp_mmhg", 1.0),
        "8478-0": ("map_mmhg", 1.0),
    },
}
#: The unit each reading code must arrive in (the factor above assumes it).
EXPECTED_UNITS = {
    "105272-9": "mmol/L",
    "99504-3": "mg/dL",
    "2345-7": "mg/dL",
    "15074-8": "mmol/L",
    "8867-4": "/min",
    "8480-6": "mm[Hg]",
    "8462-4": "mm[Hg]",
    "8478-0": "mm[Hg]",
}
CARB_CODES = ("9059-7", "9060-5")
_INSULIN_RATE_PER_MIN = {"U/min": 1.0, "U/h": 1.0 / 60.0}
#: Reading noise SDs: CGM as ``patient sync``'s default sensor SD, the rest its defaults.
NOISE_SD = {"glucose_mg_dl": 8.0, **DEFAULT_NOISE}


@dataclass(frozen=True)
class RecordReadings:
    """A twin's readings taken from records, with where time zero is."""

    origin: datetime
    series: ObservationSeries
    observed: tuple[str, ...]
    ignored: Counter[str] = field(default_factory=Counter)
    #: ``Observation/<id>`` of every record the readings came from (a forecast's basis).
    basis: tuple[str, ...] = ()


def _minutes(when: datetime, origin: datetime) -> float:
    return (when - origin).total_seconds() / 60.0


def _values(observation: ObservationRecord) -> list[tuple[str, float | None, str | None]]:
    if observation.components:
        return [(c.code.code, c.value, c.unit) for c in observation.components]
    return [(observation.code.code, observation.value, observation.unit)]


def readings_from_records(data: PatientData, kind: str) -> RecordReadings:
    """The readings of twin ``kind`` (``"uva-padova"`` or ``"cvs-smith"``) in ``data``.

    Raises
    ------
    InvalidInputError
        If no record holds a reading of this twin, a reading arrives in another unit than
        its code's, or two readings of one output share a time (ids named).
    """
    codes = READING_CODES.get(kind)
    if codes is None:
        raise InvalidInputError(
            f"twins from records support {', '.join(READING_CODES)}, not {kind!r}"
        )
    found: dict[tuple[datetime, str], tuple[float, str]] = {}
    ignored: Counter[str] = Counter()
    for observation in data.observations:
        for code, value, unit in _values(observation):
            if code not in codes or value is None:
                if code not in CARB_CODES:
                    ignored[f"Observation {code}"] += 1
                continue
            if unit != EXPECTED_UNITS[code]:
                raise InvalidInputError(
                    f"observation {observation.id}: code {code} needs {EXPECTED_UNITS[code]!r}, "
                    f"got {unit!r}; harmonise units first (interop.ucum)"
                )
            output, factor = codes[code]
            key = (observation.effective, output)
            if key in found:
                raise InvalidInputError(
                    f"observations {found[key][1]} and {observation.id} both give {output} at "
                    f"{observation.effective.isoformat()}; keep one"
                )
            found[key] = (value * factor, observation.id)
    if not found:
        raise InvalidInputError(
            f"patient {data.patient.id} has no readings for a {kind} twin; it reads LOINC "
            f"{', '.join(codes)}"
        )
    origin = min(when for when, _ in found)
    observed = tuple(
        o for o in dict.fromkeys(out for out, _ in codes.values()) if any(k[1] == o for k in found)
    )
    times = sorted({when for when, _ in found})
    values = np.full((len(times), len(observed)), np.nan)
    row = {when: i for i, when in enumerate(times)}
    for (when, output), (value, _) in found.items():
        values[row[when], observed.index(output)] = value
    minutes = np.array([_minutes(t, origin) for t in times])
    basis = tuple(dict.fromkeys(f"Observation/{oid}" for _, oid in found.values()))
    return RecordReadings(origin, ObservationSeries(minutes, values), observed, ignored, basis)


def _insulin_inputs(
    medications: Sequence[MedicationRecord], origin: datetime, basal_u_per_min: float
) -> tuple[dict[str, Rate], dict[str, Events]]:
    boluses: list[tuple[float, float]] = []
    changes: list[tuple[float, float]] = []
    for record in medications:
        if record.kind != "administration":
            continue
        if record.rate is not None and record.rate_unit in _INSULIN_RATE_PER_MIN:
            if record.end is None:
                raise InvalidInputError(
                    f"insulin infusion {record.id} has no end time; give its period's end"
                )
            per_min = record.rate * _INSULIN_RATE_PER_MIN[record.rate_unit]
            changes.append((_minutes(record.start, origin), per_min))
            changes.append((_minutes(record.end, origin), -per_min))
        elif record.dose is not None and record.dose_unit == "U":
            boluses.append((_minutes(record.start, origin), record.dose))
    rates: dict[str, Rate] = {}
    if changes:
        times = np.array(sorted({t for t, _ in changes}))
        level = np.array([sum(d for t, d in changes if t <= s) for s in times])
        rates["insulin_u_per_min"] = Rate(times, np.maximum(level, 0.0))
    else:
        rates["insulin_u_per_min"] = Rate.constant(basal_u_per_min, -1e300)
    events: dict[str, Events] = {}
    if boluses:
        boluses.sort()
        events["bolus_u"] = Events(
            np.array([t for t, _ in boluses]), np.array([u for _, u in boluses])
        )
    return rates, events


def glucose_recipe(data: PatientData, origin: datetime, prior_patient: str) -> TwinRecipe:
    """A UVA/Padova twin of ``prior_patient`` fed the insulin and meals in ``data``."""
    person = load_patient(prior_patient)
    model = UvaPadova([person])
    rates, events = _insulin_inputs(data.medications, origin, person.basal_u_per_min)
    meals = [
        (_minutes(o.effective, origin), o.value)
        for o in data.observations
        if o.code.code in CARB_CODES and o.value is not None
    ]
    if meals:
        meals.sort()
        events["meal_g"] = Events(np.array([t for t, _ in meals]), np.array([g for _, g in meals]))
    return TwinRecipe(
        model, Inputs(rates=rates, events=events), GLUCOSE_STATES, dict(GLUCOSE_ALIASES)
    )


def _circulation_recipe() -> TwinRecipe:
    estimable = {n: (n, 1e-3, 1e4) for n in CIRCULATION_ESTIMABLE}
    return TwinRecipe(SmithCVS(), Inputs(), (), estimable)


def sync_from_records(
    data: PatientData,
    kind: str = "uva-padova",
    *,
    prior_patient: str = "adolescent#001",
    estimate: Sequence[str] = ("si",),
    members: int = 64,
    horizons: Sequence[float] = (30.0, 60.0, 120.0),
    seed: int = 0,
) -> tuple[SyncedTwin, RecordReadings]:
    """Build a patient twin from ``data`` and assimilate every reading it holds.

    Examples
    --------
    See ``tests/coupling/test_record_twins.py``: a bundle's CGM readings recover a
    patient's insulin sensitivity.
    """
    readings = readings_from_records(data, kind)
    if kind == "uva-padova":
        recipe = glucose_recipe(data, readings.origin, prior_patient)
    else:
        recipe = _circulation_recipe()
    noise = [NOISE_SD[o] for o in readings.observed]
    synced = sync_twin(
        recipe,
        readings.series,
        readings.observed,
        noise,
        estimate=estimate,
        members=members,
        horizons=horizons,
        seed=seed,
    )
    return synced, readings
