"""Gaps in patients' CGM series filled by their twins, read from and written to CSV or FHIR.

``healthtwin synth fill-gaps`` is this module behind a thin face. A series comes from

- a long CSV ``patient_id,t_min,glucose_mg_dl`` (an empty ``glucose_mg_dl`` is a missing
  reading), or
- a FHIR Bundle of CGM Observations (LOINC 99504-3 in mg/dL, as the project's synthetic
  patients are written, or 105272-9 in mmol/L), ``t_min`` counted from each patient's
  first reading.

**The grid.** Each patient's readings lie on a regular grid that starts at the patient's
first row and steps by the sensor's sample time (5 min for the default ``guardian-rt``).
Rows may be missing from the grid: a grid time with no row is a missing reading, exactly
like a row with an empty glucose. A row off the grid (by more than
:data:`GRID_TOLERANCE_MIN`) is refused with the patient and time named: resample such a
series first.

**The fill.** Each patient gets an ensemble of ``members`` virtual UVA/Padova patients
(:class:`~healthtwin.synthetic.virtual_population.VirtualPopulation` draws at
``body_weight_kg``) run through its meals and insulin (``--events``: ``patient_id,t_min``
and any of ``carbs_g``, ``bolus_u``, ``insulin_u_per_min``; without an insulin rate the
members' median basal is delivered), and
:func:`~healthtwin.synthetic.fill_cgm_gaps` smooths the readings into the gaps with a
predictive band. Random numbers come from :class:`~healthtwin.core.random.RandomStreams`
named after the patient, so one patient's fill does not depend on the others in the file.

**The output** (a contract, :data:`OUTPUT_COLUMNS`): one row per grid time,

========================  ==================================================================
column                    meaning
========================  ==================================================================
``patient_id``            as given
``t_min``                 the grid time, minutes (the input's time axis)
``glucose_mg_dl``         the reading where measured (unchanged), the twin's estimate where not
``imputed``               1 for an estimate, 0 for a measurement
``variance_mg_dl2``       predictive variance of a reading at that time (twin spread plus
                          sensor noise) for an estimate; 0 for a measurement
``lower_mg_dl``,          the predictive band at ``level`` for an estimate; the reading
``upper_mg_dl``           itself for a measurement
========================  ==================================================================

In FHIR (:func:`filled_patients`), measurements are Observations as read and estimates
imputed Observations (:mod:`healthtwin.interop.fhir_imputed`: tagged, variance and band in
an extension). **Later predictions**: :func:`reading_noise_sds` gives each row's
observation error, the sensor's widened by the estimate's variance
(:func:`~healthtwin.assimilation.readings.reading_noise_sd`), and ``healthtwin patient
sync --data filled.csv`` (:mod:`healthtwin.scenarios.imputed_readings`; in code,
:func:`sync_filled`) assimilates a filled series into a glucose twin with that error per
reading, so an estimate never weighs as much as a measurement.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from healthtwin.core.inputs import Events, Inputs, Rate
from healthtwin.core.random import RandomStreams
from healthtwin.core.types import BoolArray, FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.interop.codes import LOINC, vital
from healthtwin.interop.records import (
    Coding,
    Imputation,
    ObservationRecord,
    PatientData,
    PatientRecord,
)
from healthtwin.physiology.hovorka import MG_DL_PER_MMOL_L

__all__ = [
    "CSV_COLUMNS",
    "DEFAULT_START",
    "GRID_TOLERANCE_MIN",
    "OUTPUT_COLUMNS",
    "CgmSeries",
    "FilledSeries",
    "PatientEvents",
    "fill_series",
    "filled_patients",
    "read_cgm",
    "read_cgm_bundle",
    "read_cgm_csv",
    "read_events_csv",
    "read_filled_csv",
    "reading_noise_sds",
    "sync_filled",
    "write_filled_csv",
]

CSV_COLUMNS = ("patient_id", "t_min", "glucose_mg_dl")
OUTPUT_COLUMNS = (
    "patient_id",
    "t_min",
    "glucose_mg_dl",
    "imputed",
    "variance_mg_dl2",
    "lower_mg_dl",
    "upper_mg_dl",
)
EVENT_COLUMNS = ("carbs_g", "bolus_u", "insulin_u_per_min")
#: How far off the grid (minutes) a row may lie and still be taken as on it.
GRID_TOLERANCE_MIN = 0.01
#: Time of ``t_min = 0`` for a CSV series written as FHIR.
DEFAULT_START = datetime(2025, 1, 1, tzinfo=UTC)
_CGM_CODES = {"99504-3": 1.0, "105272-9": MG_DL_PER_MMOL_L}  # factor to mg/dL


@dataclass(frozen=True)
class CgmSeries:
    """One patient's CGM readings on a regular grid.

    Attributes
    ----------
    patient_id
        The patient.
    t_min
        Grid times in minutes, shape ``(T,)``.
    glucose_mg_dl
        Readings, NaN where missing, shape ``(T,)``.
    start
        Wall-clock time of ``t_min = 0`` (timezone-aware).
    """

    patient_id: str
    t_min: FloatArray
    glucose_mg_dl: FloatArray
    start: datetime = DEFAULT_START


@dataclass(frozen=True)
class FilledSeries:
    """One patient's series with its gaps filled (every array ``(T,)``, columns as
    :data:`OUTPUT_COLUMNS`)."""

    patient_id: str
    t_min: FloatArray
    glucose_mg_dl: FloatArray
    imputed: BoolArray
    variance_mg_dl2: FloatArray
    lower_mg_dl: FloatArray
    upper_mg_dl: FloatArray
    level: float
    start: datetime = DEFAULT_START


@dataclass(frozen=True)
class PatientEvents:
    """One patient's meals and insulin: times ``(E,)`` and a column per event kind (NaN:
    nothing of that kind at that row)."""

    t_min: FloatArray
    columns: Mapping[str, FloatArray]


def _number(text: str, path: Path, line: int, column: str) -> float:
    try:
        return float(text) if text.strip() else float("nan")
    except ValueError as err:
        raise InvalidInputError(
            f"{path}, line {line}, column {column}: {text!r} is not a number; give a number "
            "or leave the cell empty"
        ) from err


def _rows(path: Path, required: Sequence[str]) -> tuple[list[str], list[dict[str, str]]]:
    if not path.is_file():
        raise InvalidInputError(f"no file at {path}; give the path of a CSV file")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = list(reader.fieldnames or [])
        missing = [c for c in required if c not in header]
        if missing:
            raise InvalidInputError(
                f"{path}: missing column(s) {missing}; found {header}; the file needs "
                f"{','.join(required)}"
            )
        return header, list(reader)


def read_cgm_csv(path: Path, *, step_min: float = 5.0) -> list[CgmSeries]:
    """Each patient's series from a long CSV ``patient_id,t_min,glucose_mg_dl``.

    Raises
    ------
    InvalidInputError
        Naming the file and line or patient: a missing column, a value that is not a
        number, a negative reading, two rows at one time, a row off the grid, a patient
        without any reading, or a file without rows.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "cgm.csv"
    >>> _ = path.write_text("patient_id,t_min,glucose_mg_dl\\na,0,120\\na,5,\\na,15,130\\n")
    >>> [series] = read_cgm_csv(path)
    >>> series.t_min.tolist(), series.glucose_mg_dl.tolist()
    ([0.0, 5.0, 10.0, 15.0], [120.0, nan, nan, 130.0])
    """
    _, rows = _rows(path, CSV_COLUMNS)
    readings: dict[str, list[tuple[float, float, str]]] = {}
    for line, row in enumerate(rows, start=2):
        pid = (row["patient_id"] or "").strip()
        if not pid:
            raise InvalidInputError(f"{path}, line {line}: empty patient_id; name the patient")
        t = _number(row["t_min"] or "", path, line, "t_min")
        value = _number(row["glucose_mg_dl"] or "", path, line, "glucose_mg_dl")
        if not np.isfinite(t):
            raise InvalidInputError(f"{path}, line {line} (patient {pid}): t_min is empty")
        if value < 0:
            raise InvalidInputError(
                f"{path}, line {line} (patient {pid}): glucose_mg_dl {value:g} is negative; "
                "give readings in mg/dL, or leave the cell empty where a reading is missing"
            )
        readings.setdefault(pid, []).append((t, value, f"line {line}"))
    if not readings:
        raise InvalidInputError(f"{path}: no rows; give one row per reading")
    return [_on_grid(str(path), pid, rows_, step_min) for pid, rows_ in readings.items()]


def _on_grid(
    source: str,
    pid: str,
    rows: list[tuple[float, float, str]],
    step_min: float,
    start: datetime = DEFAULT_START,
) -> CgmSeries:
    rows = sorted(rows)
    t0 = rows[0][0]
    offsets = np.array([(t - t0) / step_min for t, _, _ in rows])
    index = np.round(offsets).astype(int)
    off = np.flatnonzero(np.abs(offsets - index) * step_min > GRID_TOLERANCE_MIN)
    if off.size:
        t, _, where = rows[int(off[0])]
        raise InvalidInputError(
            f"{source}, {where}: patient {pid}'s row at t_min={t:g} is off the "
            f"{step_min:g}-min grid that starts at its first row (t_min={t0:g}); CGM rows must "
            f"be {step_min:g} min apart (a missing reading is an absent row or an empty "
            "glucose); resample the series onto the grid first"
        )
    twice = np.flatnonzero(np.diff(index) == 0)
    if twice.size:
        t, _, where = rows[int(twice[0]) + 1]
        raise InvalidInputError(
            f"{source}, {where}: patient {pid} has two rows at t_min={t:g}; keep one"
        )
    values = np.full(int(index[-1]) + 1, np.nan)
    values[index] = [v for _, v, _ in rows]
    if not np.isfinite(values).any():
        raise InvalidInputError(
            f"{source}: patient {pid} has no reading (every glucose is missing); the twin "
            "fills gaps from the readings around them: add readings or drop the patient"
        )
    if values.size < 2:
        raise InvalidInputError(
            f"{source}: patient {pid} has one grid time only (t_min={t0:g}); give at least "
            "two readings' span"
        )
    grid = np.asarray(t0 + step_min * np.arange(values.size), dtype=np.float64)
    return CgmSeries(pid, grid, values, start)


def read_cgm_bundle(path: Path, *, step_min: float = 5.0) -> list[CgmSeries]:
    """Each patient's CGM series from a FHIR Bundle (JSON); ``t_min = 0`` at the first reading.

    Measured CGM Observations (LOINC 99504-3 mg/dL or 105272-9 mmol/L) are read; imputed
    ones (from an earlier fill) are missing readings again.

    Raises
    ------
    InvalidInputError
        For a file that is not a FHIR Bundle, a patient without CGM readings, or readings
        off the grid (as :func:`read_cgm_csv`).
    """
    from fhir.resources.R4B.bundle import Bundle

    from healthtwin.interop.fhir_bundle import bundle_to_patients
    from healthtwin.interop.fhir_json import parse_resource

    if not path.is_file():
        raise InvalidInputError(f"no file at {path}; give the path of a FHIR Bundle (JSON)")
    bundle = parse_resource(path.read_bytes())
    if not isinstance(bundle, Bundle):
        raise InvalidInputError(
            f"{path}: a {bundle.get_resource_type()}, not a Bundle; give a Bundle of the "
            "patients and their CGM Observations"
        )
    out = []
    for data in bundle_to_patients(bundle):
        cgm = [o for o in data.observations if o.code.code in _CGM_CODES and o.value is not None]
        if not cgm:
            raise InvalidInputError(
                f"{path}: patient {data.patient.id} has no CGM Observation (LOINC "
                f"{' or '.join(_CGM_CODES)}); drop the patient or add its readings"
            )
        start = min(o.effective for o in cgm)
        rows = [
            (
                (o.effective - start).total_seconds() / 60.0,
                _mg_dl(o.value, o.code.code),
                f"Observation/{o.id}",
            )
            for o in cgm
        ]
        out.append(_on_grid(str(path), data.patient.id, rows, step_min, start))
    return out


def _mg_dl(value: float | None, code: str) -> float:
    return float("nan") if value is None else value * _CGM_CODES[code]


def read_cgm(path: Path, *, sensor: str = "guardian-rt") -> list[CgmSeries]:
    """Each patient's series from a CSV or (``.json``) a FHIR Bundle, on ``sensor``'s grid.

    Raises
    ------
    InvalidInputError
        As :func:`read_cgm_csv` and :func:`read_cgm_bundle`.
    UnknownModelError
        For an unknown sensor (the valid names are listed).
    """
    from healthtwin.physiology.cgm import cgm_params

    step = cgm_params(sensor).sample_time_min
    if path.suffix.lower() == ".json":
        return read_cgm_bundle(path, step_min=step)
    return read_cgm_csv(path, step_min=step)


def read_events_csv(path: Path) -> dict[str, PatientEvents]:
    """Meals and insulin per patient: ``patient_id,t_min`` and any of ``carbs_g``,
    ``bolus_u``, ``insulin_u_per_min`` (an empty cell: nothing of that kind then).

    Raises
    ------
    InvalidInputError
        For a missing column, no event column, or a negative or non-numeric amount.
    """
    header, rows = _rows(path, ("patient_id", "t_min"))
    kinds = [c for c in EVENT_COLUMNS if c in header]
    if not kinds:
        raise InvalidInputError(
            f"{path}: no event column; give one or more of {', '.join(EVENT_COLUMNS)}"
        )
    per: dict[str, list[list[float]]] = {}
    for line, row in enumerate(rows, start=2):
        values = [_number(row[c] or "", path, line, c) for c in ("t_min", *kinds)]
        if not np.isfinite(values[0]) or any(v < 0 for v in values[1:]):
            raise InvalidInputError(
                f"{path}, line {line}: t_min must be given and amounts must be >= 0"
            )
        per.setdefault((row["patient_id"] or "").strip(), []).append(values)
    out = {}
    for pid, table in per.items():
        array = np.array(sorted(table))
        out[pid] = PatientEvents(array[:, 0], {k: array[:, j + 1] for j, k in enumerate(kinds)})
    return out


def _inputs(events: PatientEvents | None, origin: float, basal_u_per_min: float) -> Inputs:
    """Inputs from ``origin`` on (event times shifted); a default basal rate when none."""
    rates = {"insulin_u_per_min": Rate.constant(basal_u_per_min, 0.0)}
    if events is None:
        return Inputs(rates=rates)
    t = events.t_min - origin
    found: dict[str, Events] = {}
    for column, name in (("carbs_g", "meal_g"), ("bolus_u", "bolus_u")):
        values = events.columns.get(column, np.full(t.size, np.nan))
        given = np.isfinite(values) & (values > 0)
        if given.any():
            found[name] = Events(t[given], values[given])
    rate = events.columns.get("insulin_u_per_min")
    if rate is not None and np.isfinite(rate).any():
        given = np.isfinite(rate)
        times = np.concatenate([[min(0.0, float(t[given][0]) - 1.0)], t[given]])
        levels = np.concatenate([[basal_u_per_min], rate[given]])
        rates["insulin_u_per_min"] = Rate(times, levels)
    return Inputs(rates=rates, events=found)


#: The smoother's lag at least (4 hours of 5-minute readings).
MIN_LAG_READINGS = 48


def smoother_lag(glucose_mg_dl: npt.ArrayLike) -> int:
    """Readings the smoother reaches back: the longest gap plus an hour, at least 4 hours.

    A reading after a gap must correct the whole gap, so the lag is longer than the
    longest run of missing readings (plus 12 readings, an hour at 5 minutes).

    Examples
    --------
    >>> y = np.full(200, 100.0)
    >>> y[10:20] = np.nan
    >>> smoother_lag(y)
    48
    >>> y[50:130] = np.nan
    >>> smoother_lag(y)
    92
    """
    missing = ~np.isfinite(np.asarray(glucose_mg_dl, dtype=float))
    longest = run = 0
    for gap in missing:
        run = run + 1 if gap else 0
        longest = max(longest, run)
    return max(MIN_LAG_READINGS, longest + 12)


def fill_series(
    series: Sequence[CgmSeries],
    events: Mapping[str, PatientEvents] | None = None,
    *,
    members: int = 24,
    level: float = 0.9,
    seed: int = 0,
    sensor: str = "guardian-rt",
    body_weight_kg: float = 75.0,
    on_patient: Callable[[int, int], None] | None = None,
) -> list[FilledSeries]:
    """Fill every patient's gaps with its twin's smoother (see the module notes).

    ``on_patient`` is called with ``(patients done, patients)`` after each; it only
    observes.

    Raises
    ------
    InvalidParameterError
        For fewer than 2 members, a level outside (0, 1) or a non-positive body weight.
    UnknownModelError
        For an unknown sensor (the valid names are listed).

    Examples
    --------
    >>> t = np.arange(0.0, 60.0, 5.0)
    >>> y = np.full(t.size, 120.0)
    >>> y[4:7] = np.nan
    >>> [filled] = fill_series([CgmSeries("a", t, y)], members=4)
    >>> int(filled.imputed.sum()), bool(np.all(filled.lower_mg_dl <= filled.upper_mg_dl))
    (3, True)
    """
    from healthtwin.physiology.cgm import cgm_params
    from healthtwin.synthetic import fill_cgm_gaps
    from healthtwin.synthetic.virtual_population import VirtualPopulation

    if members < 2 or not 0.0 < level < 1.0 or not body_weight_kg > 0:
        raise InvalidParameterError(
            f"need members >= 2, a level in (0, 1) and a body weight > 0; got "
            f"members={members}, level={level}, body_weight_kg={body_weight_kg}"
        )
    params = cgm_params(sensor)
    streams = RandomStreams(seed)
    population = VirtualPopulation()
    out = []
    for done, one in enumerate(series, start=1):
        ensemble = population.sample(
            np.full(members, body_weight_kg), streams.generator(f"members/{one.patient_id}")
        )
        basal = float(np.median([p.basal_u_per_min for p in ensemble]))
        own = None if events is None else events.get(one.patient_id)
        origin = float(one.t_min[0]) if own is None else min(one.t_min[0], own.t_min.min())
        fill = fill_cgm_gaps(
            one.t_min - origin,
            one.glucose_mg_dl[None, :],
            _inputs(own, origin, basal),
            ensemble,
            sensor=params,
            rng=streams.generator(f"fill/{one.patient_id}"),
            level=level,
            lag_readings=smoother_lag(one.glucose_mg_dl),
        )
        out.append(_filled(one, fill, level))
        if on_patient is not None:
            on_patient(done, len(series))
    return out


def _filled(series: CgmSeries, fill: Any, level: float) -> FilledSeries:
    imputed = np.asarray(fill.imputed[0], dtype=bool)
    lower, upper = np.asarray(fill.lower_mg_dl[0]), np.asarray(fill.upper_mg_dl[0])
    value = np.where(imputed, np.clip(fill.mean_mg_dl[0], lower, upper), series.glucose_mg_dl)
    return FilledSeries(
        patient_id=series.patient_id,
        t_min=series.t_min,
        glucose_mg_dl=value,
        imputed=imputed,
        variance_mg_dl2=np.where(imputed, fill.variance_mg_dl2[0], 0.0),
        lower_mg_dl=np.where(imputed, lower, value),
        upper_mg_dl=np.where(imputed, upper, value),
        level=level,
        start=series.start,
    )


def write_filled_csv(filled: Sequence[FilledSeries], path: Path) -> int:
    """Write :data:`OUTPUT_COLUMNS` (floats in full precision); returns the rows written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(OUTPUT_COLUMNS)
        for s in filled:
            for i in range(s.t_min.size):
                numbers = (s.variance_mg_dl2[i], s.lower_mg_dl[i], s.upper_mg_dl[i])
                writer.writerow(
                    [s.patient_id, repr(float(s.t_min[i])), repr(float(s.glucose_mg_dl[i])),
                     int(s.imputed[i]), *(repr(float(v)) for v in numbers)]
                )  # fmt: skip
                rows += 1
    return rows


def read_filled_csv(path: Path, *, level: float = 0.9) -> list[FilledSeries]:
    """Read back what :func:`write_filled_csv` wrote (``level``: the band's coverage).

    Raises
    ------
    InvalidInputError
        For a missing column or value, or an ``imputed`` other than 0 or 1.
    """
    _, rows = _rows(path, OUTPUT_COLUMNS)
    per: dict[str, list[list[float]]] = {}
    for line, row in enumerate(rows, start=2):
        values = [_number(row[c] or "", path, line, c) for c in OUTPUT_COLUMNS[1:]]
        if not np.all(np.isfinite(values)) or values[2] not in (0.0, 1.0):
            raise InvalidInputError(
                f"{path}, line {line}: every column needs a number and imputed must be 0 or 1"
            )
        per.setdefault(row["patient_id"], []).append(values)
    out = []
    for pid, table in per.items():
        a = np.array(table)
        out.append(FilledSeries(pid, a[:, 0], a[:, 1], a[:, 2] == 1.0, a[:, 3], a[:, 4], a[:, 5],
                                level))  # fmt: skip
    return out


def filled_patients(filled: Sequence[FilledSeries]) -> list[PatientData]:
    """Each filled series as interop :class:`~healthtwin.interop.records.PatientData`:
    measured readings in ``observations``, estimates (with their
    :class:`~healthtwin.interop.records.Imputation`) in ``imputed_observations``; write
    them with :func:`~healthtwin.interop.fhir_bundle.patients_to_bundle`."""
    from healthtwin.synthetic.fhir_output import GAP_FILL_METHOD

    spec = vital("cgm_glucose_mass")
    code = Coding(system=LOINC, code=spec.code, display=spec.display)
    out = []
    for s in filled:
        measured: list[ObservationRecord] = []
        imputed: list[ObservationRecord] = []
        for i in range(s.t_min.size):
            record = ObservationRecord(
                id=f"{s.patient_id}-cgm-{'imputed-' if s.imputed[i] else ''}{i}",
                patient_id=s.patient_id,
                code=code,
                effective=s.start + timedelta(minutes=float(s.t_min[i])),
                value=float(s.glucose_mg_dl[i]),
                unit=spec.unit,
                status="preliminary" if s.imputed[i] else "final",
                category=spec.category,
                imputation=Imputation(
                    variance=float(s.variance_mg_dl2[i]),
                    lower=float(s.lower_mg_dl[i]),
                    upper=float(s.upper_mg_dl[i]),
                    level=s.level,
                    method=GAP_FILL_METHOD,
                )
                if s.imputed[i]
                else None,
            )
            (imputed if s.imputed[i] else measured).append(record)
        out.append(
            PatientData(
                patient=PatientRecord(id=s.patient_id),
                observations=tuple(measured),
                imputed_observations=tuple(imputed),
            )
        )
    return out


def reading_noise_sds(filled: FilledSeries, sensor_sd_mg_dl: float) -> FloatArray:
    """Observation-error SD of each row ``(T,)``: the sensor's for a measurement,
    ``sqrt(sensor_sd^2 + variance)`` for an estimate.

    Examples
    --------
    >>> s = FilledSeries("a", np.array([0.0, 5.0]), np.array([120.0, 125.0]),
    ...     np.array([False, True]), np.array([0.0, 225.0]), np.array([120.0, 100.0]),
    ...     np.array([120.0, 150.0]), 0.9)
    >>> reading_noise_sds(s, 8.0).tolist()
    [8.0, 17.0]
    """
    from healthtwin.assimilation.readings import reading_noise_sd

    return reading_noise_sd(sensor_sd_mg_dl, np.where(filled.imputed, filled.variance_mg_dl2, 0.0))


def sync_filled(
    filled: FilledSeries,
    *,
    patient: str = "adolescent#001",
    sensor_sd_mg_dl: float = 8.0,
    estimate: Sequence[str] = ("si", "egp"),
    members: int = 32,
    prior_cv: float = 0.3,
    seed: int = 0,
    horizons: Sequence[float] = (),
) -> Any:
    """Assimilate a filled series into a UVA/Padova glucose twin, each reading with its own
    observation error (:func:`reading_noise_sds`): what ``healthtwin patient sync --data
    filled.csv --estimate si,egp`` does with the file (steady basal insulin of ``patient``).

    Returns the :class:`~healthtwin.assimilation.sync.SyncReport` over the rows.
    """
    from healthtwin.assimilation import ObservationSeries
    from healthtwin.coupling.patient_sync import sync_twin
    from healthtwin.scenarios.patient_sync import twin_recipe

    recipe = twin_recipe("uva-padova", patient, None, None, None, None, None)
    noise = np.where(filled.imputed, reading_noise_sds(filled, sensor_sd_mg_dl), np.nan)
    series = ObservationSeries(filled.t_min, filled.glucose_mg_dl, noise_sd=noise)
    synced = sync_twin(
        recipe, series, ["glucose_mg_dl"], [sensor_sd_mg_dl], estimate=list(estimate),
        members=members, prior_cv=prior_cv, horizons=list(horizons), seed=seed,
    )  # fmt: skip
    return synced.report
