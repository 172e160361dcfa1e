"""Dosing as NONMEM-style event records: read, validate, expand, and turn into inputs.

Columns (Beal, Sheiner, Boeckmann & Bauer, *NONMEM Users Guides*, Part V): ``TIME``
(min), ``AMT`` (dose, in the model's dose unit), ``RATE`` (dose unit per min; 0 = bolus),
``CMT`` (compartment number), ``EVID`` (0 observation, 1 dose, 2 other, 3 reset,
4 reset and dose), ``II`` (interdose interval, min) and ``ADDL`` (additional doses).
Times are minutes throughout, like the patient models. A ``.`` or an empty cell means
the column's default, as in NONMEM data sets.

Compartment numbers follow NONMEM's ADVAN conventions and are declared by each model
as :class:`Route` entries: without absorption 1 = central (ADVAN1/3/11); with a depot
1 = depot, 2 = central (ADVAN2/4/12).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from healthtwin.core.inputs import Events, Inputs, Rate
from healthtwin.errors import InvalidInputError

__all__ = [
    "COLUMNS",
    "DoseRecord",
    "Route",
    "expand_doses",
    "observation_times",
    "parse_dosing_csv",
    "read_dosing_csv",
    "records_to_inputs",
    "split_at_resets",
]

#: Recognised columns and their defaults (``TIME`` is required).
COLUMNS: Mapping[str, float] = {
    "TIME": math.nan,
    "AMT": 0.0,
    "RATE": 0.0,
    "CMT": 1.0,
    "EVID": 1.0,
    "II": 0.0,
    "ADDL": 0.0,
}
_DOSE_EVIDS = (1, 4)


def _where(row: int | None) -> str:
    return f"row {row}" if row is not None else "dose record"


@dataclass(frozen=True)
class DoseRecord:
    """One NONMEM-style event record, validated on construction.

    Parameters
    ----------
    time_min
        Event time (min).
    amt
        Dose (model's dose unit), ``>= 0``; ``> 0`` for a dose (EVID 1 or 4), 0 otherwise.
    rate
        Infusion rate (dose unit/min), ``>= 0``; 0 means a bolus.
    cmt
        Compartment number (checked against a model's routes on conversion).
    evid
        Event identifier in {0, 1, 2, 3, 4}.
    ii_min, addl
        Interval (min) and count of additional doses; ``addl > 0`` needs ``ii_min > 0``.
    row
        Data row in the source file (1 = first row after the header), for messages.

    Examples
    --------
    >>> DoseRecord(0.0, amt=100.0, rate=10.0).duration_min
    10.0
    >>> DoseRecord(0.0, amt=-5.0, row=3)
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidInputError: row 3, column AMT: amount must be >= 0, got -5.0; ...
    """

    time_min: float
    amt: float = 0.0
    rate: float = 0.0
    cmt: int = 1
    evid: int = 1
    ii_min: float = 0.0
    addl: int = 0
    row: int | None = None

    def __post_init__(self) -> None:
        at = _where(self.row)
        for col, value in (("TIME", self.time_min), ("AMT", self.amt), ("RATE", self.rate)):
            if not math.isfinite(value):
                raise InvalidInputError(f"{at}, column {col}: must be finite, got {value}")
        if self.evid not in (0, 1, 2, 3, 4):
            raise InvalidInputError(
                f"{at}, column EVID: must be 0, 1, 2, 3 or 4, got {self.evid}; use 1 for a dose "
                "and 0 for an observation"
            )
        if self.amt < 0:
            raise InvalidInputError(
                f"{at}, column AMT: amount must be >= 0, got {self.amt}; doses are positive"
            )
        if self.rate < 0:
            raise InvalidInputError(
                f"{at}, column RATE: must be >= 0, got {self.rate}; modelled rates or durations "
                "(RATE -1/-2) are not supported, give the rate in dose units per minute"
            )
        if self.cmt < 1:
            raise InvalidInputError(f"{at}, column CMT: must be >= 1, got {self.cmt}")
        self._check_dose_fields(at)
        if self.ii_min < 0 or not math.isfinite(self.ii_min):
            raise InvalidInputError(f"{at}, column II: must be finite and >= 0, got {self.ii_min}")
        if self.addl < 0:
            raise InvalidInputError(f"{at}, column ADDL: must be >= 0, got {self.addl}")
        if self.addl > 0 and self.ii_min <= 0:
            raise InvalidInputError(
                f"{at}, column II: ADDL={self.addl} needs an interdose interval II > 0, got "
                f"{self.ii_min}"
            )

    def _check_dose_fields(self, at: str) -> None:
        if self.evid in _DOSE_EVIDS and self.amt <= 0:
            raise InvalidInputError(
                f"{at}, column AMT: a dose (EVID {self.evid}) needs AMT > 0, got {self.amt}"
            )
        if self.evid not in _DOSE_EVIDS and (self.amt != 0 or self.rate != 0 or self.addl):
            raise InvalidInputError(
                f"{at}, column AMT: EVID {self.evid} is not a dose, so AMT, RATE and ADDL must "
                f"be 0 (got AMT={self.amt}, RATE={self.rate}, ADDL={self.addl}); use EVID 1"
            )

    @property
    def is_dose(self) -> bool:
        return self.evid in _DOSE_EVIDS

    @property
    def is_infusion(self) -> bool:
        return self.is_dose and self.rate > 0

    @property
    def duration_min(self) -> float:
        """Infusion duration ``AMT / RATE`` (0 for a bolus)."""
        return self.amt / self.rate if self.is_infusion else 0.0


def _number(text: str, column: str, row: int) -> float:
    stripped = text.strip()
    if stripped in ("", "."):
        return COLUMNS[column]
    try:
        return float(stripped)
    except ValueError as err:
        raise InvalidInputError(
            f"row {row}, column {column}: could not read {text!r} as a number; give a decimal "
            "number, or '.' for the default"
        ) from err


def _integer(value: float, column: str, row: int) -> int:
    if not (math.isfinite(value) and value == int(value)):
        raise InvalidInputError(f"row {row}, column {column}: must be an integer, got {value}")
    return int(value)


def parse_dosing_csv(text: str) -> tuple[DoseRecord, ...]:
    """Dose records from CSV text with a header row (case-insensitive names).

    Unknown columns (``ID``, ``DV``, ...) are ignored, except that an ``ID`` column may
    hold only one subject.

    Examples
    --------
    >>> recs = parse_dosing_csv("TIME,AMT,RATE\\n0,140,0\\n1,600,10\\n")
    >>> [(r.time_min, r.amt, r.rate) for r in recs]
    [(0.0, 140.0, 0.0), (1.0, 600.0, 10.0)]
    >>> parse_dosing_csv("TIME,AMT\\n0,abc\\n")
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidInputError: row 1, column AMT: could not read 'abc' as a number; ...
    """
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise InvalidInputError("dosing CSV is empty; it needs a header row with at least TIME")
    names = [h.strip().upper() for h in header]
    if "TIME" not in names:
        raise InvalidInputError(f"dosing CSV needs a TIME column; found columns {names}")
    ids: set[str] = set()
    records = []
    for row, cells in enumerate(reader, start=1):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(names):
            raise InvalidInputError(
                f"row {row}: has {len(cells)} cells but the header has {len(names)} columns"
            )
        by_name = dict(zip(names, cells, strict=True))
        if "ID" in by_name:
            ids.add(by_name["ID"].strip())
        values = {c: _number(by_name[c], c, row) if c in by_name else COLUMNS[c] for c in COLUMNS}
        records.append(
            DoseRecord(
                values["TIME"],
                amt=values["AMT"],
                rate=values["RATE"],
                cmt=_integer(values["CMT"], "CMT", row),
                evid=_integer(values["EVID"], "EVID", row),
                ii_min=values["II"],
                addl=_integer(values["ADDL"], "ADDL", row),
                row=row,
            )
        )
    if len(ids) > 1:
        raise InvalidInputError(
            f"dosing CSV holds {len(ids)} subjects (ID {sorted(ids)[:5]}); give one file per "
            "patient"
        )
    return tuple(records)


def read_dosing_csv(path: str | Path) -> tuple[DoseRecord, ...]:
    """Dose records from a CSV file (see :func:`parse_dosing_csv`)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise InvalidInputError(f"cannot read dosing file {str(path)!r}: {err}") from err
    return parse_dosing_csv(text)


def expand_doses(records: Iterable[DoseRecord]) -> tuple[DoseRecord, ...]:
    """Records with every ``ADDL`` expanded into single doses ``II`` apart, sorted by time.

    Examples
    --------
    >>> recs = expand_doses([DoseRecord(0.0, amt=5.0, ii_min=60.0, addl=2)])
    >>> [(r.time_min, r.amt, r.addl) for r in recs]
    [(0.0, 5.0, 0), (60.0, 5.0, 0), (120.0, 5.0, 0)]
    """
    out = []
    for rec in records:
        out.append(replace(rec, addl=0, ii_min=0.0) if rec.addl else rec)
        for k in range(1, rec.addl + 1):
            out.append(replace(rec, time_min=rec.time_min + k * rec.ii_min, addl=0, ii_min=0.0))
    return tuple(sorted(out, key=lambda r: r.time_min))


@dataclass(frozen=True)
class Route:
    """How doses into compartment number ``cmt`` reach a model.

    ``bolus_channel`` is the event channel for ``RATE = 0`` doses; ``infusion_channel``
    the rate channel for ``RATE > 0`` doses, or ``None`` when the compartment takes no
    infusion.
    """

    cmt: int
    compartment: str
    bolus_channel: str
    infusion_channel: str | None = None


def _route_for(rec: DoseRecord, routes: Mapping[int, Route]) -> Route:
    route = routes.get(rec.cmt)
    if route is None:
        valid = ", ".join(f"{r.cmt} ({r.compartment})" for r in routes.values())
        raise InvalidInputError(
            f"{_where(rec.row)}, column CMT: unknown compartment {rec.cmt}; this model doses "
            f"into {valid}"
        )
    if rec.is_infusion and route.infusion_channel is None:
        raise InvalidInputError(
            f"{_where(rec.row)}, column RATE: compartment {rec.cmt} ({route.compartment}) takes "
            f"no infusion; give RATE 0 (bolus) or dose into another compartment"
        )
    return route


def _rate_schedule(intervals: Sequence[tuple[float, float, float]]) -> Rate:
    times = np.unique([t for start, end, _ in intervals for t in (start, end)])
    values = np.zeros(times.size)
    for start, end, rate in intervals:
        values[(times >= start) & (times < end)] += rate
    return Rate(times, values)


def records_to_inputs(records: Iterable[DoseRecord], routes: Sequence[Route]) -> Inputs:
    """Inputs for a model: boluses as events, infusions as summed piecewise-constant rates.

    ``ADDL`` is expanded first; observation and other records (EVID 0, 2) are skipped.
    Resets (EVID 3, 4) cannot be expressed as inputs: split the records with
    :func:`split_at_resets` and start each part from an empty state.

    Examples
    --------
    >>> routes = [Route(1, "central", "bolus_mg", "infusion_mg_per_min")]
    >>> plan = records_to_inputs([DoseRecord(0.0, amt=100.0),
    ...                           DoseRecord(5.0, amt=50.0, rate=5.0)], routes)
    >>> plan.events["bolus_mg"].amounts.tolist(), plan.rates["infusion_mg_per_min"].times.tolist()
    ([[100.0]], [5.0, 15.0])
    """
    by_cmt = {r.cmt: r for r in routes}
    boluses: dict[str, list[tuple[float, float]]] = {}
    infusions: dict[str, list[tuple[float, float, float]]] = {}
    for rec in expand_doses(records):
        if rec.evid in (3, 4):
            raise InvalidInputError(
                f"{_where(rec.row)}, column EVID: a reset (EVID {rec.evid}) cannot be expressed as "
                "inputs; split the records with split_at_resets() and simulate each part"
            )
        if not rec.is_dose:
            continue
        route = _route_for(rec, by_cmt)
        if rec.is_infusion:
            assert route.infusion_channel is not None
            infusions.setdefault(route.infusion_channel, []).append(
                (rec.time_min, rec.time_min + rec.duration_min, rec.rate)
            )
        else:
            boluses.setdefault(route.bolus_channel, []).append((rec.time_min, rec.amt))
    events = {
        name: Events(np.array([t for t, _ in doses]), np.array([a for _, a in doses]))
        for name, doses in boluses.items()
    }
    rates = {name: _rate_schedule(spans) for name, spans in infusions.items()}
    return Inputs(rates=rates, events=events)


def split_at_resets(
    records: Iterable[DoseRecord],
) -> tuple[tuple[float, tuple[DoseRecord, ...]], ...]:
    """Records cut at every reset: ``(start_min, records)`` parts, each from an empty state.

    A part starts at time ``-inf`` (the first) or at a reset; an EVID 4 record becomes an
    ordinary dose (EVID 1) at the start of its part. Infusions running at a reset stop.

    Examples
    --------
    >>> parts = split_at_resets([DoseRecord(0.0, amt=1.0), DoseRecord(60.0, amt=2.0, evid=4)])
    >>> [(start, [r.evid for r in recs]) for start, recs in parts]
    [(-inf, [1]), (60.0, [1])]
    """
    parts: list[tuple[float, list[DoseRecord]]] = [(-math.inf, [])]
    for rec in expand_doses(records):
        if rec.evid in (3, 4):
            parts.append((rec.time_min, []))
            if rec.evid == 4:
                parts[-1][1].append(replace(rec, evid=1))
            continue
        parts[-1][1].append(rec)
    return tuple((start, tuple(recs)) for start, recs in parts)


def observation_times(records: Iterable[DoseRecord]) -> tuple[float, ...]:
    """Times of the observation records (EVID 0), sorted."""
    return tuple(sorted(r.time_min for r in records if r.evid == 0))
