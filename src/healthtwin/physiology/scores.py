"""Early-warning scores of vital signs, vectorized over observations: NEWS2, qSOFA and MEWS.

One observation set (a row) holds respiratory rate, SpO2 with its scale, air or oxygen,
systolic blood pressure, heart rate, consciousness (ACVPU) and temperature; :class:`Vitals`
holds ``n`` of them as arrays of shape ``(n,)``.

NEWS2 (Royal College of Physicians. National Early Warning Score (NEWS) 2: Standardising the
assessment of acute-illness severity in the NHS. Updated report of a working party. London:
RCP, 2017). Chart 1, "The NEWS scoring system" (sub-score in brackets)::

    respiration rate /min   <=8 (3)  9-11 (1)  12-20 (0)  21-24 (2)  >=25 (3)
    SpO2 scale 1 %          <=91 (3)  92-93 (2)  94-95 (1)  >=96 (0)
    SpO2 scale 2 %          <=83 (3)  84-85 (2)  86-87 (1)  88-92 (0), >=93 on air (0)
                            93-94 on oxygen (1)  95-96 on oxygen (2)  >=97 on oxygen (3)
    air or oxygen           air (0)  oxygen (2)
    systolic BP mmHg        <=90 (3)  91-100 (2)  101-110 (1)  111-219 (0)  >=220 (3)
    pulse /min              <=40 (3)  41-50 (1)  51-90 (0)  91-110 (1)  111-130 (2)  >=131 (3)
    consciousness           Alert (0)  new Confusion, Voice, Pain, Unresponsive (3)
    temperature C           <=35.0 (3)  35.1-36.0 (1)  36.1-38.0 (0)  38.1-39.0 (1)  >=39.1 (2)

Every boundary was checked against copies of the chart: Chart 1 as reproduced at
https://scribd.com/document/584338409, both SpO2 scales in Table 1 of a Thorax article
(thorax.bmj.com, "NEWS2 with risk score for oxygen saturations alone") and the NEWS rows of
a Postgraduate Medical Journal table (pmj.bmj.com, "MEWS and NEWS used to identify patients
at risk of deterioration"). Scale 2 is for patients with hypercapnic
respiratory failure whose prescribed target is 88-92 %, chosen by a competent clinical
decision-maker; scale 1 is the default. Chart 2, "NEWS thresholds and triggers", gives the
clinical risk: aggregate 0-4 *low* (ward-based response); a red score, 3 in any single
parameter, *low-medium* (urgent ward-based response); aggregate 5-6 *medium* (key threshold
for urgent response); aggregate 7 or more *high* (urgent or emergency response). Chart 4,
"Clinical response to the NEWS trigger thresholds", gives the monitoring frequency and the
response (https://scribd.com/document/538260233); see :func:`news2_response`.

qSOFA (Seymour et al., JAMA 2016;315:762-774; Singer et al., JAMA 2016;315:801-810): one
point each for respiratory rate >= 22/min, systolic BP <= 100 mmHg and altered mentation
(GCS < 15); positive at 2 or more.

MEWS (Subbe, Kruger, Rutherford & Gemmel, QJM 2001;94:521-526, Table 1). Copies of the table
differ (https://en.wikipedia.org/wiki/Modified_early_warning_score, the PMJ table above,
local charts), so :func:`mews` takes a :class:`MewsTable`; the default
:data:`SUBBE_2001_MEWS` is the paper's table::

    systolic BP mmHg    <70 (3)  71-80 (2)  81-100 (1)  101-199 (0)  >=200 (2)
    heart rate /min     <40 (2)  41-50 (1)  51-100 (0)  101-110 (1)  111-129 (2)  >=130 (3)
    respiratory /min    <9 (2)  9-14 (0)  15-20 (1)  21-29 (2)  >=30 (3)
    temperature C       <35 (2)  35-38.4 (0)  >=38.5 (2)
    AVPU                Alert (0)  reacting to Voice (1)  Pain (2)  Unresponsive (3)

The paper leaves 70 mmHg and 40/min between rows; they go to the more abnormal row (70 -> 3,
40 -> 2), as in the copies that close the gap. It has no row for new confusion, so scoring a
confused patient with it is an error: pass a table that says how your chart scores it.

Conventions
-----------
- Values are read *as charted*: rounded half up to the chart's resolution (whole numbers;
  0.1 C for temperature) before the look-up, so 20.4 breaths/min scores as 20 and 20.5 as
  21. Every score (qSOFA included) uses the same charted values.
- Observations come as :class:`~healthtwin.physiology.vitals.Vitals`; physiologically
  impossible values are rejected there, not scored (:class:`InvalidInputError`
  naming the field, the row and the value): respiratory rate in (0, 80] /min, SpO2 in
  (0, 100] %, systolic BP in (0, 300] mmHg, heart rate in (0, 300] /min, temperature in
  [25, 45] C. Zero is refused because exports use it for "not measured" and a patient with
  no breathing or pulse needs resuscitation, not a score; 80 breaths/min and 300 beats/min
  are above what adults reach (1:1 flutter peaks near 300); 300 mmHg is above the range of
  ward monitors; temperatures outside [25, 45] C are nearly always in Fahrenheit or from a
  probe off the body.
- ``NaN`` (missing) is an error naming the field and the row. A missing parameter would
  score 0 and understate the risk, which the RCP forbids: record it, or drop the observation.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, fields
from enum import IntEnum
from pathlib import Path
from typing import TextIO

import numpy as np
import numpy.typing as npt

from healthtwin.core.types import BoolArray, FloatArray, IntArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError
from healthtwin.physiology.vitals import (
    INPUT_COLUMNS,
    NEWS2_COLUMNS,
    Consciousness,
    Vitals,
    as_flags,
    as_float_vector,
    check_measurement,
    read_vitals_csv,
)

__all__ = [
    "SUBBE_2001_MEWS",
    "BandTable",
    "Consciousness",
    "MewsScores",
    "MewsTable",
    "News2Band",
    "News2Response",
    "News2Scores",
    "QsofaScores",
    "Vitals",
    "VitalsScores",
    "mews",
    "news2",
    "news2_response",
    "qsofa",
    "read_vitals_csv",
    "score_vitals",
    "write_scores_csv",
]

_ROUNDING_SLACK = 1e-9


class News2Band(IntEnum):
    """NEWS2 clinical risk (RCP 2017, Chart 2), ordered from low to high."""

    LOW = 0
    LOW_MEDIUM = 1
    MEDIUM = 2
    HIGH = 3

    @property
    def label(self) -> str:
        """The RCP's name of the risk, e.g. ``"low-medium"``."""
        return self.name.lower().replace("_", "-")

    @property
    def trigger(self) -> str:
        """The RCP's response for the risk, e.g. ``"urgent ward-based response"``."""
        return _TRIGGERS[self]


_TRIGGERS = {
    News2Band.LOW: "ward-based response",
    News2Band.LOW_MEDIUM: "urgent ward-based response",
    News2Band.MEDIUM: "key threshold for urgent response",
    News2Band.HIGH: "urgent or emergency response",
}


@dataclass(frozen=True, slots=True)
class News2Response:
    """One row of RCP Chart 4: how often to monitor and what to do."""

    monitoring_frequency: str
    actions: tuple[str, ...]


_RESPONSE_ZERO = News2Response("minimum 12-hourly", ("continue routine NEWS monitoring",))
_RESPONSE_LOW = News2Response(
    "minimum 4-6-hourly",
    (
        "inform a registered nurse, who must assess the patient",
        "the registered nurse decides whether monitoring must be more frequent and/or care "
        "escalated",
    ),
)
_RESPONSE_SINGLE_3 = News2Response(
    "minimum 1-hourly",
    (
        "the registered nurse informs the medical team caring for the patient, who will review "
        "and decide whether escalation of care is necessary",
    ),
)
_RESPONSE_URGENT = News2Response(
    "minimum 1-hourly",
    (
        "the registered nurse immediately informs the medical team caring for the patient",
        "the registered nurse requests urgent assessment by a clinician or team with core "
        "competencies in the care of acutely ill patients",
        "provide clinical care in an environment with monitoring facilities",
    ),
)
_RESPONSE_EMERGENCY = News2Response(
    "continuous monitoring of vital signs",
    (
        "the registered nurse immediately informs the medical team caring for the patient, at "
        "least at specialist registrar level",
        "emergency assessment by a team with critical care competencies, including "
        "practitioner(s) with advanced airway management skills",
        "consider transfer of care to a level 2 or 3 facility (higher-dependency unit or ICU)",
        "clinical care in an environment with monitoring facilities",
    ),
)


def news2_response(total: int, any_single_3: bool) -> News2Response:
    """The RCP Chart 4 clinical response to a NEWS2 total and red-score flag.

    Examples
    --------
    >>> news2_response(3, any_single_3=True).monitoring_frequency
    'minimum 1-hourly'
    >>> news2_response(7, any_single_3=False).actions[1][:20]
    'emergency assessment'
    """
    if total >= 7:
        return _RESPONSE_EMERGENCY
    if total >= 5:
        return _RESPONSE_URGENT
    if any_single_3:
        return _RESPONSE_SINGLE_3
    return _RESPONSE_LOW if total >= 1 else _RESPONSE_ZERO


@dataclass(frozen=True, slots=True)
class BandTable:
    """Sub-scores of one measured parameter by contiguous bands.

    Band ``0`` covers charted values below ``lower_limits[0]``; band ``i`` starts at
    ``lower_limits[i - 1]`` (inclusive) and scores ``scores[i]``. Values are first rounded
    half up to ``resolution`` (as they would be written on the chart), so a chart row
    "9-11" at resolution 1 is the band ``[9, 12)``.

    Examples
    --------
    >>> respiration = BandTable(lower_limits=(9, 12, 21, 25), scores=(3, 1, 0, 2, 3))
    >>> respiration.score([8, 9, 11, 11.6, 20, 21, 24, 25]).tolist()
    [3, 1, 1, 0, 0, 2, 2, 3]
    """

    lower_limits: tuple[float, ...]
    scores: tuple[int, ...]
    resolution: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.resolution) and self.resolution > 0):
            raise InvalidParameterError(
                f"resolution must be a positive number, got {self.resolution!r}; use 1 for "
                "whole numbers or 0.1 for one decimal"
            )
        if len(self.scores) != len(self.lower_limits) + 1:
            raise InvalidParameterError(
                f"a band table needs one score more than lower limits, got {len(self.scores)} "
                f"scores for {len(self.lower_limits)} limits; add the score of the lowest band"
            )
        if any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in self.scores):
            raise InvalidParameterError(
                f"scores must be non-negative integers, got {self.scores!r}"
            )
        units = np.asarray(self.lower_limits, dtype=np.float64) / self.resolution
        if not np.isfinite(units).all() or np.any(np.diff(units) <= 0):
            raise InvalidParameterError(
                f"lower_limits must be finite and strictly increasing, got {self.lower_limits!r}"
            )
        if np.any(np.abs(units - np.rint(units)) > 1e-6):
            raise InvalidParameterError(
                f"lower_limits {self.lower_limits!r} are not multiples of the resolution "
                f"{self.resolution!r}; give limits as charted values"
            )

    def score(self, values: npt.ArrayLike) -> IntArray:
        """Sub-scores of ``values`` (any shape); the values must be finite."""
        charted = _chart_units(np.asarray(values, dtype=np.float64), self.resolution)
        limits = np.rint(np.asarray(self.lower_limits, dtype=np.float64) / self.resolution)
        band = np.searchsorted(limits.astype(np.int64), charted, side="right")
        return np.asarray(self.scores, dtype=np.int64)[band]


def _chart_units(values: FloatArray, resolution: float) -> IntArray:
    return np.floor(values / resolution + 0.5 + _ROUNDING_SLACK).astype(np.int64)


_NEWS2_RESPIRATION = BandTable((9, 12, 21, 25), (3, 1, 0, 2, 3))
_NEWS2_SPO2_SCALE_1 = BandTable((92, 94, 96), (3, 2, 1, 0))
_NEWS2_SPO2_SCALE_2_ON_AIR = BandTable((84, 86, 88), (3, 2, 1, 0))
_NEWS2_SPO2_SCALE_2_ON_OXYGEN = BandTable((84, 86, 88, 93, 95, 97), (3, 2, 1, 0, 1, 2, 3))
_NEWS2_SYSTOLIC = BandTable((91, 101, 111, 220), (3, 2, 1, 0, 3))
_NEWS2_PULSE = BandTable((41, 51, 91, 111, 131), (3, 1, 0, 1, 2, 3))
_NEWS2_TEMPERATURE = BandTable((35.1, 36.1, 38.1, 39.1), (3, 1, 0, 1, 2), resolution=0.1)
_NEWS2_OXYGEN = 2
_NEWS2_NOT_ALERT = 3


@dataclass(frozen=True, slots=True)
class MewsTable:
    """A MEWS chart: one :class:`BandTable` per measurement and the AVPU scores.

    ``consciousness`` holds the scores of (Alert, new Confusion, Voice, Pain, Unresponsive);
    ``None`` marks a level the chart does not score, which is then an error to meet.

    Examples
    --------
    >>> local = MewsTable(
    ...     systolic_bp_mm_hg=SUBBE_2001_MEWS.systolic_bp_mm_hg,
    ...     heart_rate_per_min=SUBBE_2001_MEWS.heart_rate_per_min,
    ...     respiratory_rate_per_min=SUBBE_2001_MEWS.respiratory_rate_per_min,
    ...     temperature_c=SUBBE_2001_MEWS.temperature_c,
    ...     consciousness=(0, 1, 1, 2, 3),
    ... )
    """

    systolic_bp_mm_hg: BandTable
    heart_rate_per_min: BandTable
    respiratory_rate_per_min: BandTable
    temperature_c: BandTable
    consciousness: tuple[int | None, int | None, int | None, int | None, int | None]

    def __post_init__(self) -> None:
        scores = self.consciousness
        if len(scores) != len(Consciousness) or any(
            s is not None and (isinstance(s, bool) or not isinstance(s, int) or s < 0)
            for s in scores
        ):
            raise InvalidParameterError(
                f"consciousness must hold 5 non-negative integer scores (or None) for A, C, V, "
                f"P, U, got {scores!r}"
            )
        if scores[Consciousness.ALERT] is None:
            raise InvalidParameterError("consciousness must score Alert (usually 0), got None")


SUBBE_2001_MEWS = MewsTable(
    systolic_bp_mm_hg=BandTable((71, 81, 101, 200), (3, 2, 1, 0, 2)),
    heart_rate_per_min=BandTable((41, 51, 101, 111, 130), (2, 1, 0, 1, 2, 3)),
    respiratory_rate_per_min=BandTable((9, 15, 21, 30), (2, 0, 1, 2, 3)),
    temperature_c=BandTable((35.0, 38.5), (2, 0, 2), resolution=0.1),
    consciousness=(0, None, 1, 2, 3),
)
"""MEWS of Subbe et al. (QJM 2001, Table 1); see the module docstring."""


@dataclass(frozen=True, slots=True, eq=False)
class News2Scores:
    """NEWS2 of ``n`` observations; every field has shape ``(n,)``.

    The seven sub-scores follow Chart 1; ``total`` is their sum; ``any_single_3`` flags a
    red score; ``band`` holds :class:`News2Band` codes.
    """

    respiration_rate: IntArray
    spo2: IntArray
    air_or_oxygen: IntArray
    systolic_bp: IntArray
    pulse: IntArray
    consciousness: IntArray
    temperature: IntArray
    total: IntArray
    any_single_3: BoolArray
    band: IntArray

    def __post_init__(self) -> None:
        for field in fields(self):
            getattr(self, field.name).setflags(write=False)

    def __len__(self) -> int:
        return int(self.total.shape[0])

    def bands(self) -> list[News2Band]:
        """The clinical risk of each observation."""
        return [News2Band(int(code)) for code in self.band]

    def responses(self) -> list[News2Response]:
        """The Chart 4 clinical response of each observation."""
        return [
            news2_response(int(t), bool(r))
            for t, r in zip(self.total, self.any_single_3, strict=True)
        ]


def news2(vitals: Vitals) -> News2Scores:
    """NEWS2 (RCP 2017) of every observation.

    Parameters
    ----------
    vitals
        The observations; already validated when built.

    Returns
    -------
    News2Scores
        Sub-scores, totals, red-score flags and clinical risk bands, shape ``(n,)``.

    Examples
    --------
    >>> v = Vitals.from_arrays(
    ...     respiratory_rate_per_min=[18, 18, 22, 26], spo2_percent=[97, 97, 95, 90],
    ...     systolic_bp_mm_hg=[120, 120, 105, 95], heart_rate_per_min=[80, 80, 95, 120],
    ...     consciousness=["A", "C", "A", "A"], temperature_c=[37.0, 37.0, 38.4, 39.2],
    ...     on_oxygen=[False, False, False, True],
    ... )
    >>> s = news2(v)
    >>> s.total.tolist(), s.any_single_3.tolist()
    ([0, 3, 6, 14], [False, True, False, True])
    >>> [band.label for band in s.bands()]
    ['low', 'low-medium', 'medium', 'high']
    >>> s.bands()[1].trigger
    'urgent ward-based response'
    """
    spo2 = _NEWS2_SPO2_SCALE_1.score(vitals.spo2_percent)
    scale_2 = np.where(
        vitals.on_oxygen,
        _NEWS2_SPO2_SCALE_2_ON_OXYGEN.score(vitals.spo2_percent),
        _NEWS2_SPO2_SCALE_2_ON_AIR.score(vitals.spo2_percent),
    )
    subscores = {
        "respiration_rate": _NEWS2_RESPIRATION.score(vitals.respiratory_rate_per_min),
        "spo2": np.where(vitals.spo2_scale == 2, scale_2, spo2),
        "air_or_oxygen": np.where(vitals.on_oxygen, _NEWS2_OXYGEN, 0).astype(np.int64),
        "systolic_bp": _NEWS2_SYSTOLIC.score(vitals.systolic_bp_mm_hg),
        "pulse": _NEWS2_PULSE.score(vitals.heart_rate_per_min),
        "consciousness": np.where(
            vitals.consciousness == Consciousness.ALERT, 0, _NEWS2_NOT_ALERT
        ).astype(np.int64),
        "temperature": _NEWS2_TEMPERATURE.score(vitals.temperature_c),
    }
    stacked = np.stack(list(subscores.values()))
    total = stacked.sum(axis=0).astype(np.int64)
    any_single_3 = (stacked == 3).any(axis=0)
    band = np.select(
        [total >= 7, total >= 5, any_single_3],
        [News2Band.HIGH, News2Band.MEDIUM, News2Band.LOW_MEDIUM],
        default=News2Band.LOW,
    ).astype(np.int64)
    return News2Scores(**subscores, total=total, any_single_3=any_single_3, band=band)


@dataclass(frozen=True, slots=True, eq=False)
class QsofaScores:
    """qSOFA of ``n`` observations: the three criteria, their count and positivity."""

    respiratory_rate_22_or_more: BoolArray
    systolic_bp_100_or_less: BoolArray
    altered_mentation: BoolArray
    total: IntArray
    positive: BoolArray

    def __post_init__(self) -> None:
        for field in fields(self):
            getattr(self, field.name).setflags(write=False)

    def __len__(self) -> int:
        return int(self.total.shape[0])


def qsofa(
    respiratory_rate_per_min: npt.ArrayLike,
    systolic_bp_mm_hg: npt.ArrayLike,
    altered_mentation: npt.ArrayLike,
) -> QsofaScores:
    """qSOFA (Seymour et al. 2016; Singer et al. 2016) of every observation.

    Parameters
    ----------
    respiratory_rate_per_min, systolic_bp_mm_hg
        Shape ``(n,)``; validated and charted as in the module docstring.
    altered_mentation
        Booleans, shape ``(n,)`` (or a scalar): GCS < 15, or any ACVPU level but Alert.

    Returns
    -------
    QsofaScores
        ``total`` in 0..3 and ``positive = total >= 2``.

    Raises
    ------
    InvalidInputError
        If a rate or pressure is missing or impossible, or ``altered_mentation`` is not
        boolean.

    Examples
    --------
    >>> q = qsofa([21, 22, 30], [101, 100, 90], [False, False, True])
    >>> q.total.tolist(), q.positive.tolist()
    ([0, 2, 3], [False, True, True])
    """
    rate = as_float_vector(respiratory_rate_per_min, "respiratory_rate_per_min")
    pressure = as_float_vector(systolic_bp_mm_hg, "systolic_bp_mm_hg")
    if pressure.shape != rate.shape:
        raise ShapeError(
            f"systolic_bp_mm_hg has {pressure.shape[0]} rows, respiratory_rate_per_min has "
            f"{rate.shape[0]}"
        )
    check_measurement(rate, "respiratory_rate_per_min")
    check_measurement(pressure, "systolic_bp_mm_hg")
    try:
        mentation = as_flags(altered_mentation, rate.shape[0])
    except InvalidInputError as err:
        raise InvalidInputError(str(err).replace("on_oxygen", "altered_mentation")) from err
    fast = _chart_units(rate, 1.0) >= 22
    low = _chart_units(pressure, 1.0) <= 100
    total = (fast.astype(np.int64) + low + mentation).astype(np.int64)
    return QsofaScores(fast, low, mentation, total, total >= 2)


@dataclass(frozen=True, slots=True, eq=False)
class MewsScores:
    """MEWS of ``n`` observations: five sub-scores and their total, shape ``(n,)``."""

    systolic_bp: IntArray
    heart_rate: IntArray
    respiratory_rate: IntArray
    temperature: IntArray
    consciousness: IntArray
    total: IntArray

    def __post_init__(self) -> None:
        for field in fields(self):
            getattr(self, field.name).setflags(write=False)

    def __len__(self) -> int:
        return int(self.total.shape[0])


def mews(vitals: Vitals, table: MewsTable = SUBBE_2001_MEWS) -> MewsScores:
    """MEWS of every observation with a chart (default: Subbe et al. 2001).

    SpO2 and oxygen are not part of MEWS and are ignored.

    Raises
    ------
    InvalidInputError
        If an observation's consciousness level has no score in ``table`` (new confusion in
        the default table).

    Examples
    --------
    >>> v = Vitals.from_arrays(
    ...     respiratory_rate_per_min=[12, 25], spo2_percent=[97, 97],
    ...     systolic_bp_mm_hg=[120, 75], heart_rate_per_min=[70, 115],
    ...     consciousness=["A", "P"], temperature_c=[37.0, 38.5],
    ... )
    >>> mews(v).total.tolist()
    [0, 10]
    """
    codes = vitals.consciousness
    unscored = [level for level in Consciousness if table.consciousness[level] is None]
    bad = np.flatnonzero(np.isin(codes, unscored))
    if bad.size:
        level = Consciousness(int(codes[bad[0]]))
        raise InvalidInputError(
            f"consciousness {level.name.lower()} at row {int(bad[0])} has no score in this MEWS "
            "table (Subbe 2001 has no row for new confusion); pass a MewsTable whose "
            "consciousness scores it"
        )
    lookup = np.array([-1 if s is None else s for s in table.consciousness], dtype=np.int64)
    parts = (
        table.systolic_bp_mm_hg.score(vitals.systolic_bp_mm_hg),
        table.heart_rate_per_min.score(vitals.heart_rate_per_min),
        table.respiratory_rate_per_min.score(vitals.respiratory_rate_per_min),
        table.temperature_c.score(vitals.temperature_c),
        lookup[codes],
    )
    return MewsScores(*parts, total=np.sum(parts, axis=0).astype(np.int64))


@dataclass(frozen=True, slots=True, eq=False)
class VitalsScores:
    """The observations with their NEWS2 and qSOFA, as written by :func:`write_scores_csv`."""

    vitals: Vitals
    news2: News2Scores
    qsofa: QsofaScores


def score_vitals(vitals: Vitals) -> VitalsScores:
    """NEWS2 and qSOFA of every observation (altered mentation: any level but Alert).

    Examples
    --------
    >>> v = Vitals.from_arrays(
    ...     respiratory_rate_per_min=[24], spo2_percent=[95], systolic_bp_mm_hg=[98],
    ...     heart_rate_per_min=[105], consciousness=["V"], temperature_c=[38.6],
    ... )
    >>> s = score_vitals(v)
    >>> int(s.news2.total[0]), int(s.qsofa.total[0])
    (10, 3)
    """
    altered = vitals.consciousness != Consciousness.ALERT
    return VitalsScores(
        vitals=vitals,
        news2=news2(vitals),
        qsofa=qsofa(vitals.respiratory_rate_per_min, vitals.systolic_bp_mm_hg, altered),
    )


def write_scores_csv(scores: VitalsScores, path: str | os.PathLike[str] | TextIO) -> None:
    """Write the observations and their scores to a CSV file (or an open text stream).

    Columns: ``patient`` and ``time`` when present, the input columns of
    :func:`read_vitals_csv` (``on_oxygen`` as 0/1, ``consciousness`` as its letter), then
    ``news2_total``, ``news2_band`` (the RCP label), ``news2_any_single_3`` (0/1), the
    sub-scores ``news2_rr``, ``news2_spo2``, ``news2_air_oxygen``, ``news2_sbp``,
    ``news2_hr``, ``news2_consciousness``, ``news2_temperature``, and ``qsofa``,
    ``qsofa_positive`` (0/1).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> v = Vitals.from_arrays(
    ...     respiratory_rate_per_min=[18], spo2_percent=[97], systolic_bp_mm_hg=[120],
    ...     heart_rate_per_min=[80], consciousness=["A"], temperature_c=[37.1],
    ... )
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "scores.csv"
    >>> write_scores_csv(score_vitals(v), path)
    >>> path.read_text().splitlines()[1]
    '18,97,1,0,120,80,A,37.1,0,low,0,0,0,0,0,0,0,0,0,0'
    """
    vitals, news, q = scores.vitals, scores.news2, scores.qsofa
    passthrough = [c for c in ("patient", "time") if getattr(vitals, c) is not None]
    columns: dict[str, list[str]] = {c: list(getattr(vitals, c)) for c in passthrough}
    for name in INPUT_COLUMNS:
        values = getattr(vitals, name)
        if name == "consciousness":
            columns[name] = [Consciousness(int(code)).letter for code in values]
        else:
            columns[name] = [_format_number(float(x)) for x in values]
    columns["news2_total"] = [str(int(t)) for t in news.total]
    columns["news2_band"] = [band.label for band in news.bands()]
    columns["news2_any_single_3"] = [str(int(flag)) for flag in news.any_single_3]
    for column, field in NEWS2_COLUMNS:
        columns[column] = [str(int(s)) for s in getattr(news, field)]
    columns["qsofa"] = [str(int(t)) for t in q.total]
    columns["qsofa_positive"] = [str(int(flag)) for flag in q.positive]
    if isinstance(path, str | os.PathLike):
        with Path(path).open("w", newline="", encoding="utf-8") as handle:
            _write_columns(columns, handle)
    else:
        _write_columns(columns, path)


def _write_columns(columns: dict[str, list[str]], handle: TextIO) -> None:
    writer = csv.writer(handle)
    writer.writerow(columns)
    writer.writerows(zip(*columns.values(), strict=True))


def _format_number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)
