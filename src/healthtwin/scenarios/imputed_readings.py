"""A gap-filled CGM series read as readings of a glucose twin, estimates with their variance.

``healthtwin synth fill-gaps`` writes one row per grid time (columns
:data:`~healthtwin.scenarios.cgm_gaps.OUTPUT_COLUMNS`): measured readings as read, the
twin's estimates where readings were missing, flagged ``imputed`` with a predictive
``variance_mg_dl2``. ``healthtwin patient sync --data filled.csv`` reads that file here:
a measured reading keeps the sensor's error, an estimate is assimilated with the sensor's
error widened by its variance, ``sqrt(sensor_sd^2 + variance)``
(:func:`~healthtwin.assimilation.readings.reading_noise_sd`), so it moves the twin less
than a measurement of the same value would, and its uncertainty reaches every later
prediction.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from healthtwin.assimilation import ObservationSeries
from healthtwin.core.types import BoolArray
from healthtwin.errors import InvalidInputError
from healthtwin.scenarios.cgm_gaps import (
    OUTPUT_COLUMNS,
    FilledSeries,
    read_filled_csv,
    reading_noise_sds,
)

__all__ = ["FILLED_MARKERS", "FilledReadings", "is_filled_header", "read_filled_readings"]

#: Columns that mark a reading file as a filled series (``synth fill-gaps`` output).
FILLED_MARKERS = ("imputed", "variance_mg_dl2")


@dataclass(frozen=True)
class FilledReadings:
    """One patient's filled series as a twin's readings.

    Attributes
    ----------
    patient_id
        The patient picked from the file.
    series
        Times ``(T,)`` in minutes, glucose ``(T, 1)`` in mg/dL and, per reading, its
        observation-error SD ``(T, 1)``: NaN (the sensor's) where measured,
        ``sqrt(sensor_sd^2 + variance)`` where imputed.
    imputed
        Which readings are the twin's estimates, ``(T,)``.
    """

    patient_id: str
    series: ObservationSeries
    imputed: BoolArray


def is_filled_header(header: Sequence[str]) -> bool:
    """Whether a reading file's header is a filled series' (it has ``imputed`` or
    ``variance_mg_dl2``).

    Examples
    --------
    >>> is_filled_header(["patient_id", "t_min", "glucose_mg_dl", "imputed", "variance_mg_dl2"])
    True
    >>> is_filled_header(["t_min", "glucose_mg_dl"])
    False
    """
    return any(c in header for c in FILLED_MARKERS)


def _pick(path: Path, filled: list[FilledSeries], patient_id: str | None) -> FilledSeries:
    ids = [s.patient_id for s in filled]
    if not filled:
        raise InvalidInputError(f"{path}: no rows; give the filled series of a patient")
    if patient_id is None:
        if len(filled) > 1:
            shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
            raise InvalidInputError(
                f"{path} holds {len(ids)} patients ({shown}); pick one with --patient-id"
            )
        return filled[0]
    for s in filled:
        if s.patient_id == patient_id:
            return s
    raise InvalidInputError(
        f"{path}: no patient {patient_id!r}; the file holds {', '.join(ids[:10])}"
    )


def _check(path: Path, s: FilledSeries) -> None:
    """Refuse flags that disagree with variances, and readings that are not mg/dL."""
    variance = s.variance_mg_dl2
    where = f"{path} (patient {s.patient_id})"
    bad = np.flatnonzero(variance < 0)
    if bad.size:
        i = int(bad[0])
        raise InvalidInputError(
            f"{where}, t_min={s.t_min[i]:g}: variance_mg_dl2 {variance[i]:g} is negative; "
            "a variance is >= 0"
        )
    bad = np.flatnonzero(s.imputed & (variance <= 0))
    if bad.size:
        i = int(bad[0])
        raise InvalidInputError(
            f"{where}, t_min={s.t_min[i]:g}: imputed=1 with variance_mg_dl2=0 ({bad.size} such "
            "row(s)); an estimate needs its predictive variance (> 0), a measurement is "
            "imputed=0: write the file with `healthtwin synth fill-gaps` or fix the flags"
        )
    bad = np.flatnonzero(~s.imputed & (variance != 0))
    if bad.size:
        i = int(bad[0])
        raise InvalidInputError(
            f"{where}, t_min={s.t_min[i]:g}: imputed=0 with variance_mg_dl2={variance[i]:g} "
            f"({bad.size} such row(s)); a measurement has variance 0, an estimate is imputed=1"
        )
    if s.glucose_mg_dl.min() < 10 or s.glucose_mg_dl.max() > 1000:
        raise InvalidInputError(
            f"{where}: glucose_mg_dl {s.glucose_mg_dl.min():g}-{s.glucose_mg_dl.max():g} is "
            "not mg/dL; a filled series is in mg/dL"
        )


def read_filled_readings(
    path: Path, *, sensor_sd_mg_dl: float, patient_id: str | None = None
) -> FilledReadings:
    """A patient's filled CGM series (``synth fill-gaps`` CSV) as readings with their errors.

    Parameters
    ----------
    path
        CSV with :data:`~healthtwin.scenarios.cgm_gaps.OUTPUT_COLUMNS`.
    sensor_sd_mg_dl
        CGM noise SD, mg/dL (> 0): a measured reading's error, widened for an estimate.
    patient_id
        The patient to read; may be omitted when the file holds one.

    Raises
    ------
    InvalidInputError
        For a missing file or column, a value that is not a number, several patients and
        no ``patient_id`` (or one not in the file), an estimate without variance or a
        measurement with one, a negative variance, or glucose that is not mg/dL.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "filled.csv"
    >>> _ = path.write_text(
    ...     "patient_id,t_min,glucose_mg_dl,imputed,variance_mg_dl2,lower_mg_dl,upper_mg_dl\\n"
    ...     "a,0,120,0,0,120,120\\na,5,125,1,225,100,150\\n")
    >>> readings = read_filled_readings(path, sensor_sd_mg_dl=8.0)
    >>> readings.imputed.tolist(), readings.series.noise_sd[:, 0].tolist()
    ([False, True], [nan, 17.0])
    """
    if not path.is_file():
        raise InvalidInputError(f"no file at {path}; give the path of a filled CSV")
    with path.open(newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh), [])
    missing = [c for c in OUTPUT_COLUMNS if c not in header]
    if missing:
        marks = ", ".join(c for c in FILLED_MARKERS if c in header)
        raise InvalidInputError(
            f"{path}: a filled series (it has {marks}) needs the columns "
            f"{','.join(OUTPUT_COLUMNS)}; missing {missing}: give the CSV that "
            "`healthtwin synth fill-gaps` wrote"
        )
    one = _pick(path, read_filled_csv(path), patient_id)
    _check(path, one)
    widened = reading_noise_sds(one, sensor_sd_mg_dl)
    noise = np.where(one.imputed, widened, np.nan)
    series = ObservationSeries(one.t_min, one.glucose_mg_dl, noise_sd=noise)
    return FilledReadings(one.patient_id, series, np.asarray(one.imputed, dtype=bool))
