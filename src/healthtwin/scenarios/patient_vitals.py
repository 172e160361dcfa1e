"""Vital signs of a patient twin: validated sets, FHIR Observations with their codes, NEWS2.

A :class:`VitalSigns` is one observation set of the NEWS2 chart (Royal College of
Physicians, *National Early Warning Score (NEWS) 2*, London: RCP, 2017): respiration rate,
SpO2 with its scale (1, or 2 for hypercapnic respiratory failure), air or supplemental
oxygen, systolic blood pressure, heart rate, consciousness (ACVPU) and temperature, at
``t_min`` minutes after the twin's start. Values outside the physiologically possible
ranges of :mod:`healthtwin.physiology.vitals` are refused with a
:class:`~healthtwin.errors.ResourceValidationError` listing every bad field, its value and
the allowed range (an API answers it as ``422``).

Each set is stored as one FHIR Observation per quantity (category ``vital-signs``), as the
CGM readings are:

=========================  ===================================  =======================
quantity                   code                                 value, unit
=========================  ===================================  =======================
respiration rate           LOINC 9279-1                         /min
SpO2                       LOINC 59408-5 (2708-6 read as well)  %
systolic blood pressure    LOINC 8480-6                         mm[Hg]
heart rate                 LOINC 8867-4                         /min
body temperature           LOINC 8310-5                         Cel
consciousness (ACVPU)      LOINC 67775-7 Level of responsiveness 0 A, 1 C, 2 V, 3 P, 4 U
supplemental oxygen        ``urn:healthtwin:news2`` on-oxygen    1 on oxygen, 0 on air
SpO2 scale                 ``urn:healthtwin:news2`` spo2-scale   1 or 2
=========================  ===================================  =======================

The store holds quantities only, so consciousness is the ACVPU level's number (FHIR would
prefer a ``valueCodeableConcept``); LOINC has no code for "on oxygen yes/no" or for the
NEWS2 SpO2 scale (3151-8 is an oxygen *flow rate*), so those two use a local code system.

NEWS2 itself is :func:`healthtwin.physiology.scores.news2`; :func:`news2_summaries` turns
its arrays into plain dictionaries (total, sub-scores, risk band, RCP Chart 4 response).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from healthtwin.errors import InvalidInputError, ResourceValidationError, ValidationIssue
from healthtwin.interop.records import Coding, ObservationRecord
from healthtwin.physiology.scores import news2, news2_response
from healthtwin.physiology.vitals import Consciousness, Vitals
from healthtwin.store import Store

__all__ = [
    "MEASURED_RANGES",
    "NEWS2_CODES",
    "VITAL_CODES",
    "VitalSigns",
    "latest_news2",
    "news2_summaries",
    "stored_vital_signs",
    "vital_signs_from_rows",
    "vitals_records",
]

LOINC = "http://loinc.org"
#: Local code system of the NEWS2 fields LOINC has no code for.
NEWS2_SYSTEM = "urn:healthtwin:news2"

#: Quantity -> (code, unit) of the stored Observations (see the module docstring).
VITAL_CODES: dict[str, tuple[Coding, str | None]] = {
    "respiratory_rate_per_min": (
        Coding(system=LOINC, code="9279-1", display="Respiratory rate"),
        "/min",
    ),
    "spo2_percent": (
        Coding(
            system=LOINC,
            code="59408-5",
            display="Oxygen saturation in Arterial blood by Pulse oximetry",
        ),
        "%",
    ),
    "systolic_bp_mm_hg": (
        Coding(system=LOINC, code="8480-6", display="Systolic blood pressure"),
        "mm[Hg]",
    ),
    "heart_rate_per_min": (Coding(system=LOINC, code="8867-4", display="Heart rate"), "/min"),
    "temperature_c": (Coding(system=LOINC, code="8310-5", display="Body temperature"), "Cel"),
    "consciousness": (
        Coding(system=LOINC, code="67775-7", display="Level of responsiveness"),
        "{ACVPU}",
    ),
    "on_oxygen": (
        Coding(system=NEWS2_SYSTEM, code="on-oxygen", display="Supplemental oxygen"),
        None,
    ),
    "spo2_scale": (
        Coding(system=NEWS2_SYSTEM, code="spo2-scale", display="NEWS2 SpO2 scale"),
        None,
    ),
}
#: Codes read back per quantity, the first found wins (SpO2 also as 2708-6, SaO2).
NEWS2_CODES: dict[str, tuple[str, ...]] = {
    "respiratory_rate_per_min": ("9279-1",),
    "spo2_percent": ("59408-5", "2708-6"),
    "systolic_bp_mm_hg": ("8480-6",),
    "heart_rate_per_min": ("8867-4",),
    "temperature_c": ("8310-5",),
}
#: Physiologically possible range of each measured quantity: (low, high, low included,
#: unit). The same limits as :mod:`healthtwin.physiology.vitals` (a test holds them equal).
MEASURED_RANGES: dict[str, tuple[float, float, bool, str]] = {
    "respiratory_rate_per_min": (0.0, 80.0, False, "breaths/min"),
    "spo2_percent": (0.0, 100.0, False, "%"),
    "systolic_bp_mm_hg": (0.0, 300.0, False, "mmHg"),
    "heart_rate_per_min": (0.0, 300.0, False, "beats/min"),
    "temperature_c": (25.0, 45.0, True, "C"),
}
_SUBSCORES = (
    "respiration_rate",
    "spo2",
    "air_or_oxygen",
    "systolic_bp",
    "pulse",
    "consciousness",
    "temperature",
)


@dataclass(frozen=True)
class VitalSigns:
    """One NEWS2 observation set, ``t_min`` minutes after the twin's start.

    ``consciousness`` is an ACVPU letter (``"A"``, ``"C"`` new confusion, ``"V"``,
    ``"P"``, ``"U"``); a word (``"alert"``) is accepted and stored as its letter.

    Raises
    ------
    ResourceValidationError
        Listing every field out of its range (the field, the value received, the range).

    Examples
    --------
    >>> v = VitalSigns(10.0, respiratory_rate_per_min=18, spo2_percent=97,
    ...                systolic_bp_mm_hg=120, heart_rate_per_min=80, temperature_c=37.0,
    ...                consciousness="alert")
    >>> v.consciousness, v.spo2_scale, v.on_oxygen
    ('A', 1, False)
    >>> VitalSigns(0.0, respiratory_rate_per_min=18, spo2_percent=120, systolic_bp_mm_hg=120,
    ...            heart_rate_per_min=80, temperature_c=37.0, consciousness="A")
    Traceback (most recent call last):
    ...
    healthtwin.errors.ResourceValidationError: spo2_percent = 120 is outside the allowed ...
    """

    t_min: float
    respiratory_rate_per_min: float
    spo2_percent: float
    systolic_bp_mm_hg: float
    heart_rate_per_min: float
    temperature_c: float
    consciousness: str
    spo2_scale: int = 1
    on_oxygen: bool = False

    def __post_init__(self) -> None:
        issues = _issues(self)
        if issues:
            raise ResourceValidationError("; ".join(i.message for i in issues), tuple(issues))
        level = Consciousness.parse(self.consciousness)
        object.__setattr__(self, "consciousness", level.letter)
        for name in MEASURED_RANGES:
            object.__setattr__(self, name, float(getattr(self, name)))
        object.__setattr__(self, "t_min", float(self.t_min))

    def as_dict(self) -> dict[str, Any]:
        """The set as JSON-ready values."""
        return asdict(self)


def _issues(vitals: VitalSigns) -> list[ValidationIssue]:
    found = []
    if not (isinstance(vitals.t_min, int | float) and math.isfinite(vitals.t_min)) or (
        vitals.t_min < 0
    ):
        found.append(
            ValidationIssue(
                "t_min", f"t_min = {vitals.t_min!r} must be >= 0 min after the twin's start"
            )
        )
    for name, (low, high, inclusive, unit) in MEASURED_RANGES.items():
        value = getattr(vitals, name)
        number = float(value) if isinstance(value, int | float) else math.nan
        above = number >= low if inclusive else number > low
        if not (above and number <= high):
            interval = f"{'[' if inclusive else '('}{low:g}, {high:g}] {unit}"
            found.append(
                ValidationIssue(
                    name, f"{name} = {value!r} is outside the allowed range {interval}", "value"
                )
            )
    if vitals.spo2_scale not in (1, 2):
        found.append(
            ValidationIssue(
                "spo2_scale",
                f"spo2_scale = {vitals.spo2_scale!r} must be 1 (default) or 2 (hypercapnic "
                "respiratory failure with a prescribed target of 88-92 %)",
                "value",
            )
        )
    try:
        Consciousness.parse(str(vitals.consciousness))
    except InvalidInputError as err:
        found.append(ValidationIssue("consciousness", str(err), "value"))
    return found


def vital_signs_from_rows(
    rows: Sequence[Mapping[str, Any]], *, paths: Sequence[str] | None = None
) -> list[VitalSigns]:
    """Validated sets from mappings; every issue of every row in one error.

    ``paths`` names where each row sits in a request (default: its index); an issue's path
    is the row's path and the field, dot-separated.

    Raises
    ------
    ResourceValidationError
        With one issue per bad field, its path naming the row and the field.

    Examples
    --------
    >>> row = dict(t_min=5, respiratory_rate_per_min=18, spo2_percent=97, systolic_bp_mm_hg=120,
    ...            heart_rate_per_min=80, temperature_c=37.0, consciousness="A")
    >>> len(vital_signs_from_rows([row, {**row, "t_min": 10}]))
    2
    >>> try:
    ...     vital_signs_from_rows([row, {**row, "heart_rate_per_min": 0}],
    ...                           paths=["body.sets.0", "body.sets.1"])
    ... except ResourceValidationError as err:
    ...     print(err.issues[0].path)
    body.sets.1.heart_rate_per_min
    """
    if paths is not None and len(paths) != len(rows):
        raise InvalidInputError(f"{len(paths)} paths given for {len(rows)} rows; give one each")
    made: list[VitalSigns] = []
    issues: list[ValidationIssue] = []
    for index, row in enumerate(rows):
        where = [str(index) if paths is None else paths[index]]
        try:
            made.append(VitalSigns(**row))
        except ResourceValidationError as err:
            issues.extend(
                ValidationIssue(".".join([*where, i.path]), i.message, i.code) for i in err.issues
            )
        except TypeError as err:
            raise InvalidInputError(
                f"a vitals set needs t_min, {', '.join(MEASURED_RANGES)} and consciousness "
                f"(optional spo2_scale, on_oxygen): {err}"
            ) from err
    if issues:
        raise ResourceValidationError(
            "; ".join(f"{i.path}: {i.message}" for i in issues), tuple(issues)
        )
    return made


def news2_summaries(sets: Sequence[VitalSigns]) -> list[dict[str, Any]]:
    """NEWS2 of each set: total, sub-scores, red score, risk band and Chart 4 response.

    Examples
    --------
    >>> v = VitalSigns(0.0, respiratory_rate_per_min=22, spo2_percent=95, systolic_bp_mm_hg=105,
    ...                heart_rate_per_min=96, temperature_c=38.3, consciousness="A")
    >>> [s] = news2_summaries([v])
    >>> s["total"], s["band"], s["subscores"]["respiration_rate"], s["monitoring_frequency"]
    (6, 'medium', 2, 'minimum 1-hourly')
    """
    if not sets:
        return []
    scores = news2(
        Vitals.from_arrays(
            respiratory_rate_per_min=[s.respiratory_rate_per_min for s in sets],
            spo2_percent=[s.spo2_percent for s in sets],
            systolic_bp_mm_hg=[s.systolic_bp_mm_hg for s in sets],
            heart_rate_per_min=[s.heart_rate_per_min for s in sets],
            temperature_c=[s.temperature_c for s in sets],
            consciousness=[s.consciousness for s in sets],
            spo2_scale=[s.spo2_scale for s in sets],
            on_oxygen=[s.on_oxygen for s in sets],
        )
    )
    out = []
    for row, (band, response) in enumerate(zip(scores.bands(), scores.responses(), strict=True)):
        out.append(
            {
                "t_min": sets[row].t_min,
                "total": int(scores.total[row]),
                "any_single_3": bool(scores.any_single_3[row]),
                "band": band.label,
                "trigger": band.trigger,
                "subscores": {n: int(getattr(scores, n)[row]) for n in _SUBSCORES},
                "monitoring_frequency": response.monitoring_frequency,
                "actions": list(response.actions),
            }
        )
    return out


def vitals_records(
    twin_id: str, patient_id: str, when: datetime, vitals: VitalSigns
) -> list[ObservationRecord]:
    """One stored Observation per quantity of ``vitals`` taken at ``when`` (UTC).

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> v = VitalSigns(0.0, respiratory_rate_per_min=18, spo2_percent=97, systolic_bp_mm_hg=120,
    ...                heart_rate_per_min=80, temperature_c=37.0, consciousness="V")
    >>> records = vitals_records("t1", "p1", datetime(2026, 1, 1, tzinfo=UTC), v)
    >>> len(records), {r.code.code: r.value for r in records}["67775-7"]
    (8, 2.0)
    """
    values: dict[str, float] = {name: float(getattr(vitals, name)) for name in MEASURED_RANGES} | {
        "consciousness": float(Consciousness.parse(vitals.consciousness)),
        "on_oxygen": 1.0 if vitals.on_oxygen else 0.0,
        "spo2_scale": float(vitals.spo2_scale),
    }
    tag = uuid.uuid4().hex[:16]
    return [
        ObservationRecord(
            id=f"{twin_id}-vitals-{tag}-{code.code}",
            patient_id=patient_id,
            code=code,
            effective=when,
            value=values[name],
            unit=unit,
            category="vital-signs",
        )
        for name, (code, unit) in VITAL_CODES.items()
    ]


def latest_news2(store: Store, patient_id: str) -> dict[str, Any]:
    """NEWS2 of the patient's latest vital signs in the store.

    The latest value of each quantity is scored. Consciousness, supplemental oxygen and the
    SpO2 scale are read when recorded; otherwise Alert, air and scale 1 are assumed and the
    answer says so.

    Examples
    --------
    >>> from healthtwin.store import open_store
    >>> with open_store("sqlite://") as store:
    ...     latest_news2(store, "p1")["available"]
    False
    """
    values: dict[str, float] = {}
    times = []
    for name, codes in NEWS2_CODES.items():
        for code in codes:
            found = store.observations(patient_id, code, limit=1, newest_first=True)
            if found and found[0].value is not None:
                values[name] = float(found[0].value)
                times.append(found[0].effective)
                break
    missing = [n for n in NEWS2_CODES if n not in values]
    if missing:
        return {"available": False, "reason": f"no {', '.join(missing)} on file"}
    extra = {
        name: _latest(store, patient_id, VITAL_CODES[name][0].code)
        for name in ("consciousness", "on_oxygen", "spo2_scale")
    }
    level = Consciousness(int(extra["consciousness"] or 0))
    sets = VitalSigns(
        0.0,
        respiratory_rate_per_min=values["respiratory_rate_per_min"],
        spo2_percent=values["spo2_percent"],
        systolic_bp_mm_hg=values["systolic_bp_mm_hg"],
        heart_rate_per_min=values["heart_rate_per_min"],
        temperature_c=values["temperature_c"],
        consciousness=level.letter,
        spo2_scale=int(extra["spo2_scale"] or 1),
        on_oxygen=bool(extra["on_oxygen"]),
    )
    [summary] = news2_summaries([sets])
    total, red = summary["total"], summary["any_single_3"]
    response = news2_response(total, red)
    consciousness = (
        f"{level.letter} (assumed: not recorded)"
        if extra["consciousness"] is None
        else level.letter
    )
    return {
        "available": True,
        "total": total,
        "any_single_3": red,
        "band": summary["band"],
        "time": max(times).isoformat(),
        "vitals": values,
        "consciousness": consciousness,
        "on_oxygen": bool(extra["on_oxygen"]),
        "spo2_scale": sets.spo2_scale,
        "subscores": summary["subscores"],
        "response": f"Monitoring {response.monitoring_frequency}; {response.actions[0]}.",
    }


def stored_vital_signs(
    store: Store,
    patient_id: str,
    minutes: Callable[[datetime], float],
    *,
    since: datetime | None = None,
) -> list[VitalSigns]:
    """The complete vital-signs sets on file for ``patient_id``, in time order.

    Observations taken at one time form a set; a set needs the five measured quantities
    (:data:`NEWS2_CODES`), and consciousness, supplemental oxygen and the SpO2 scale are
    read when recorded at that time (else Alert, air and scale 1). ``minutes`` turns a
    time into the set's ``t_min`` (a twin's clock); sets before ``since`` are left out.

    Examples
    --------
    >>> from datetime import UTC, datetime, timedelta
    >>> from healthtwin.store import open_store
    >>> start = datetime(2026, 1, 1, tzinfo=UTC)
    >>> v = VitalSigns(0.0, respiratory_rate_per_min=22, spo2_percent=95, systolic_bp_mm_hg=105,
    ...                heart_rate_per_min=96, temperature_c=38.3, consciousness="V")
    >>> with open_store("sqlite://") as store:
    ...     _ = store.add_observations(vitals_records("t", "p1", start + timedelta(minutes=30), v))
    ...     sets = stored_vital_signs(
    ...         store, "p1", lambda t: (t - start).total_seconds() / 60, since=start
    ...     )
    >>> [(s.t_min, s.respiratory_rate_per_min, s.consciousness) for s in sets]
    [(30.0, 22.0, 'V')]
    """
    by_code = {code: name for name, codes in NEWS2_CODES.items() for code in codes}
    extras = {VITAL_CODES[n][0].code: n for n in ("consciousness", "on_oxygen", "spo2_scale")}
    at: dict[datetime, dict[str, float]] = {}
    for record in store.observations(patient_id, start=since):
        name = by_code.get(record.code.code) or extras.get(record.code.code)
        if name is None or record.value is None:
            continue
        at.setdefault(record.effective, {}).setdefault(name, float(record.value))
    sets = []
    for when in sorted(at):
        values = at[when]
        if any(name not in values for name in NEWS2_CODES):
            continue
        sets.append(
            VitalSigns(
                minutes(when),
                respiratory_rate_per_min=values["respiratory_rate_per_min"],
                spo2_percent=values["spo2_percent"],
                systolic_bp_mm_hg=values["systolic_bp_mm_hg"],
                heart_rate_per_min=values["heart_rate_per_min"],
                temperature_c=values["temperature_c"],
                consciousness=Consciousness(int(values.get("consciousness", 0))).letter,
                spo2_scale=int(values.get("spo2_scale", 1)),
                on_oxygen=bool(values.get("on_oxygen", 0.0)),
            )
        )
    return sets


def _latest(store: Store, patient_id: str, code: str) -> float | None:
    found = store.observations(patient_id, code, limit=1, newest_first=True)
    return found[0].value if found else None
