"""Tests of healthtwin.physiology.scores against the published charts.

The expected sub-scores below are literal values transcribed from the charts, not computed
from the implementation's tables:

- NEWS2: Royal College of Physicians 2017, Chart 1 (scoring system), Chart 2 (thresholds
  and triggers) and Chart 4 (clinical response).
- qSOFA: Seymour et al., JAMA 2016; Singer et al., JAMA 2016.
- MEWS: Subbe et al., QJM 2001, Table 1 (gaps at 70 mmHg and 40/min closed to the more
  abnormal row, as documented in the module).

The RCP report publishes no numerical worked examples of whole observation sets, so the
"worked examples" here are constructed from Chart 1 and summed by hand in the comments.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError
from healthtwin.physiology.scores import (
    SUBBE_2001_MEWS,
    BandTable,
    Consciousness,
    MewsTable,
    News2Band,
    Vitals,
    mews,
    news2,
    news2_response,
    qsofa,
    read_vitals_csv,
    score_vitals,
    write_scores_csv,
)

# A healthy adult: every NEWS2, MEWS and qSOFA sub-score is 0.
NORMAL: dict[str, Any] = {
    "respiratory_rate_per_min": 14.0,
    "spo2_percent": 97.0,
    "spo2_scale": 1,
    "on_oxygen": False,
    "systolic_bp_mm_hg": 120.0,
    "heart_rate_per_min": 70.0,
    "consciousness": "A",
    "temperature_c": 37.0,
}


def observations(n: int = 1, **changes: Any) -> Vitals:
    """``n`` normal observations with some fields replaced (scalars or length-n lists)."""
    columns: dict[str, Any] = {}
    for name, normal in NORMAL.items():
        value = changes.get(name, normal)
        columns[name] = list(value) if isinstance(value, list | tuple) else [value] * n
    return Vitals.from_arrays(**columns)


def vary(name: str, values: list[Any], **fixed: Any) -> Vitals:
    return observations(len(values), **{name: values}, **fixed)


# --- NEWS2 Chart 1, every boundary on both sides -------------------------------------------

RESPIRATION = [
    (1, 3),
    (8, 3),
    (9, 1),
    (11, 1),
    (12, 0),
    (20, 0),
    (21, 2),
    (24, 2),
    (25, 3),
    (80, 3),
]
SPO2_SCALE_1 = [(1, 3), (91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0)]
SPO2_SCALE_2_AIR = [
    (50, 3), (83, 3), (84, 2), (85, 2), (86, 1), (87, 1), (88, 0), (92, 0), (93, 0), (97, 0),
    (100, 0),
]  # fmt: skip
SPO2_SCALE_2_OXYGEN = [
    (50, 3), (83, 3), (84, 2), (85, 2), (86, 1), (87, 1), (88, 0), (92, 0), (93, 1), (94, 1),
    (95, 2), (96, 2), (97, 3), (100, 3),
]  # fmt: skip
SYSTOLIC = [
    (40, 3), (90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0), (220, 3),
    (300, 3),
]  # fmt: skip
PULSE = [
    (20, 3), (40, 3), (41, 1), (50, 1), (51, 0), (90, 0), (91, 1), (110, 1), (111, 2), (130, 2),
    (131, 3), (300, 3),
]  # fmt: skip
TEMPERATURE = [
    (25.0, 3), (35.0, 3), (35.1, 1), (36.0, 1), (36.1, 0), (38.0, 0), (38.1, 1), (39.0, 1),
    (39.1, 2), (45.0, 2),
]  # fmt: skip


def _check(vitals: Vitals, field: str, cases: Sequence[tuple[float, int]]) -> None:
    scores = news2(vitals)
    assert getattr(scores, field).tolist() == [expected for _, expected in cases]
    assert scores.total.tolist() == [expected for _, expected in cases]


def test_news2_respiration_rate_boundaries() -> None:
    values = [v for v, _ in RESPIRATION]
    _check(vary("respiratory_rate_per_min", values), "respiration_rate", RESPIRATION)


def test_news2_spo2_scale_1_boundaries() -> None:
    _check(vary("spo2_percent", [v for v, _ in SPO2_SCALE_1]), "spo2", SPO2_SCALE_1)


def test_news2_spo2_scale_2_on_air_boundaries() -> None:
    vitals = vary("spo2_percent", [v for v, _ in SPO2_SCALE_2_AIR], spo2_scale=2)
    _check(vitals, "spo2", SPO2_SCALE_2_AIR)


def test_news2_spo2_scale_2_on_oxygen_boundaries() -> None:
    vitals = vary("spo2_percent", [v for v, _ in SPO2_SCALE_2_OXYGEN], spo2_scale=2, on_oxygen=True)
    scores = news2(vitals)
    assert scores.spo2.tolist() == [expected for _, expected in SPO2_SCALE_2_OXYGEN]
    assert scores.air_or_oxygen.tolist() == [2] * len(SPO2_SCALE_2_OXYGEN)


def test_news2_scale_1_ignores_oxygen_for_the_spo2_row() -> None:
    vitals = vary("spo2_percent", [v for v, _ in SPO2_SCALE_1], on_oxygen=True)
    scores = news2(vitals)
    assert scores.spo2.tolist() == [expected for _, expected in SPO2_SCALE_1]
    assert scores.air_or_oxygen.tolist() == [2] * len(SPO2_SCALE_1)


def test_news2_air_or_oxygen() -> None:
    scores = news2(vary("on_oxygen", [False, True]))
    assert scores.air_or_oxygen.tolist() == [0, 2]
    assert scores.total.tolist() == [0, 2]


def test_news2_systolic_bp_boundaries() -> None:
    _check(vary("systolic_bp_mm_hg", [v for v, _ in SYSTOLIC]), "systolic_bp", SYSTOLIC)


def test_news2_pulse_boundaries() -> None:
    _check(vary("heart_rate_per_min", [v for v, _ in PULSE]), "pulse", PULSE)


def test_news2_temperature_boundaries() -> None:
    _check(vary("temperature_c", [v for v, _ in TEMPERATURE]), "temperature", TEMPERATURE)


def test_news2_consciousness_acvpu() -> None:
    levels = ["A", "C", "V", "P", "U", "alert", "Confusion", "VOICE", "pain", "unresponsive"]
    scores = news2(vary("consciousness", levels))
    assert scores.consciousness.tolist() == [0, 3, 3, 3, 3, 0, 3, 3, 3, 3]


def test_values_are_rounded_half_up_to_the_chart_resolution() -> None:
    rates = news2(vary("respiratory_rate_per_min", [20.4, 20.5, 8.4, 8.5]))
    assert rates.respiration_rate.tolist() == [0, 2, 3, 1]
    temperatures = news2(vary("temperature_c", [36.04, 36.05, 35.04, 35.05, 39.05]))
    assert temperatures.temperature.tolist() == [1, 0, 3, 1, 2]


# --- NEWS2 risk bands (Chart 2) and responses (Chart 4) -------------------------------------


@pytest.mark.parametrize(
    ("changes", "total", "single_3", "band"),
    [
        ({}, 0, False, News2Band.LOW),
        # RR 22 (2) + HR 95 (1) + T 38.5 (1) = 4, no red score
        ({"respiratory_rate_per_min": 22, "heart_rate_per_min": 95, "temperature_c": 38.5}, 4,
         False, News2Band.LOW),
        # new confusion alone: 3, a red score
        ({"consciousness": "C"}, 3, True, News2Band.LOW_MEDIUM),
        # SBP 90 (3) + HR 95 (1) = 4 with a red score
        ({"systolic_bp_mm_hg": 90, "heart_rate_per_min": 95}, 4, True, News2Band.LOW_MEDIUM),
        # RR 22 (2) + SBP 100 (2) + HR 95 (1) = 5
        ({"respiratory_rate_per_min": 22, "systolic_bp_mm_hg": 100, "heart_rate_per_min": 95}, 5,
         False, News2Band.MEDIUM),
        # SpO2 91 (3) + oxygen (2) = 5 with a red score: medium, not low-medium
        ({"spo2_percent": 91, "on_oxygen": True}, 5, True, News2Band.MEDIUM),
        # RR 22 (2) + SBP 100 (2) + HR 111 (2) = 6
        ({"respiratory_rate_per_min": 22, "systolic_bp_mm_hg": 100, "heart_rate_per_min": 111}, 6,
         False, News2Band.MEDIUM),
        # oxygen (2) + RR 22 (2) + SBP 100 (2) + HR 95 (1) = 7
        ({"on_oxygen": True, "respiratory_rate_per_min": 22, "systolic_bp_mm_hg": 100,
          "heart_rate_per_min": 95}, 7, False, News2Band.HIGH),
    ],
)  # fmt: skip
def test_news2_clinical_risk_bands(
    changes: dict[str, Any], total: int, single_3: bool, band: News2Band
) -> None:
    scores = news2(observations(**changes))
    assert scores.total.tolist() == [total]
    assert scores.any_single_3.tolist() == [single_3]
    assert scores.bands() == [band]


def test_band_labels_and_triggers_use_the_rcp_wording() -> None:
    assert [(b.label, b.trigger) for b in News2Band] == [
        ("low", "ward-based response"),
        ("low-medium", "urgent ward-based response"),
        ("medium", "key threshold for urgent response"),
        ("high", "urgent or emergency response"),
    ]


@pytest.mark.parametrize(
    ("total", "single_3", "frequency"),
    [
        (0, False, "minimum 12-hourly"),
        (1, False, "minimum 4-6-hourly"),
        (4, False, "minimum 4-6-hourly"),
        (3, True, "minimum 1-hourly"),
        (4, True, "minimum 1-hourly"),
        (5, False, "minimum 1-hourly"),
        (6, True, "minimum 1-hourly"),
        (7, False, "continuous monitoring of vital signs"),
        (20, True, "continuous monitoring of vital signs"),
    ],
)
def test_news2_response_follows_chart_4(total: int, single_3: bool, frequency: str) -> None:
    assert news2_response(total, single_3).monitoring_frequency == frequency


def test_responses_distinguish_single_3_from_aggregate_5() -> None:
    single = news2_response(3, True).actions
    urgent = news2_response(5, False).actions
    assert "who will review" in single[0]
    assert any("urgent assessment" in action for action in urgent)
    assert any("level 2 or 3" in action for action in news2_response(7, False).actions)
    scores = news2(vary("consciousness", ["A", "U"]))
    assert [r.monitoring_frequency for r in scores.responses()] == [
        "minimum 12-hourly",
        "minimum 1-hourly",
    ]


# --- Worked examples, constructed from Chart 1 (the RCP publishes none) ---------------------


def test_constructed_worked_examples() -> None:
    vitals = Vitals.from_arrays(
        # 1) septic-looking: RR 24 (2), SpO2 95 (1), air (0), SBP 98 (2), HR 112 (2), A (0),
        #    T 38.7 (1) -> 8, high; qSOFA RR + SBP = 2, positive
        # 2) COPD on scale 2 with oxygen: RR 20 (0), SpO2 96 on O2 (2), oxygen (2), SBP 130 (0),
        #    HR 88 (0), A (0), T 36.8 (0) -> 4, low
        # 3) the same reading on scale 1: SpO2 96 (0) + oxygen (2) -> 2, low
        # 4) post-operative: RR 10 (1), SpO2 93 (2), air, SBP 108 (1), HR 48 (1), V (3),
        #    T 35.8 (1) -> 9, high; qSOFA altered mentation only = 1
        respiratory_rate_per_min=[24, 20, 20, 10],
        spo2_percent=[95, 96, 96, 93],
        spo2_scale=[1, 2, 1, 1],
        on_oxygen=[False, True, True, False],
        systolic_bp_mm_hg=[98, 130, 130, 108],
        heart_rate_per_min=[112, 88, 88, 48],
        consciousness=["A", "A", "A", "V"],
        temperature_c=[38.7, 36.8, 36.8, 35.8],
    )
    scores = score_vitals(vitals)
    assert scores.news2.total.tolist() == [8, 4, 2, 9]
    assert [b.label for b in scores.news2.bands()] == ["high", "low", "low", "high"]
    assert scores.qsofa.total.tolist() == [2, 0, 0, 1]
    assert scores.qsofa.positive.tolist() == [True, False, False, False]


# --- Properties -------------------------------------------------------------------------------


@st.composite
def vitals_strategy(draw: st.DrawFn) -> Vitals:
    n = draw(st.integers(1, 25))

    def column(low: int, high: int) -> list[int]:
        return draw(st.lists(st.integers(low, high), min_size=n, max_size=n))

    return Vitals.from_arrays(
        respiratory_rate_per_min=column(1, 80),
        spo2_percent=column(1, 100),
        spo2_scale=[s + 1 for s in column(0, 1)],
        on_oxygen=[bool(x) for x in column(0, 1)],
        systolic_bp_mm_hg=column(1, 300),
        heart_rate_per_min=column(1, 300),
        consciousness=[Consciousness(x) for x in column(0, 4)],
        temperature_c=[t / 10 for t in column(250, 450)],
    )


SUBSCORE_FIELDS = (
    "respiration_rate",
    "spo2",
    "air_or_oxygen",
    "systolic_bp",
    "pulse",
    "consciousness",
    "temperature",
)


@settings(max_examples=60, deadline=None)
@given(vitals_strategy())
def test_total_is_the_sum_of_subscores_and_flags_agree(vitals: Vitals) -> None:
    scores = news2(vitals)
    parts = np.stack([getattr(scores, f) for f in SUBSCORE_FIELDS])
    assert np.array_equal(scores.total, parts.sum(axis=0))
    assert np.array_equal(scores.any_single_3, (parts == 3).any(axis=0))
    assert ((parts >= 0) & (parts <= 3)).all()
    assert ((scores.total >= 0) & (scores.total <= 20)).all()


@settings(max_examples=60, deadline=None)
@given(vitals_strategy())
def test_band_is_monotone_in_the_total(vitals: Vitals) -> None:
    scores = news2(vitals)
    for flag in (False, True):
        rows = scores.any_single_3 == flag
        order = np.argsort(scores.total[rows], kind="stable")
        assert np.all(np.diff(scores.band[rows][order]) >= 0)
    # A red score never lowers the band of the same total.
    low = scores.total <= 4
    assert np.array_equal(scores.band[low], np.where(scores.any_single_3[low], 1, 0))
    assert (scores.band[scores.total >= 7] == News2Band.HIGH).all()


@settings(max_examples=40, deadline=None)
@given(vitals_strategy(), st.randoms(use_true_random=False))
def test_scores_do_not_depend_on_row_order(vitals: Vitals, rng: Any) -> None:
    order = list(range(len(vitals)))
    rng.shuffle(order)
    shuffled = Vitals(**{name: getattr(vitals, name)[order] for name in (*NORMAL.keys(),)})
    original, permuted = score_vitals(vitals), score_vitals(shuffled)
    for field in (*SUBSCORE_FIELDS, "total", "any_single_3", "band"):
        assert np.array_equal(getattr(original.news2, field)[order], getattr(permuted.news2, field))
    assert np.array_equal(original.qsofa.total[order], permuted.qsofa.total)
    single = [news2(Vitals(**{k: getattr(vitals, k)[i : i + 1] for k in NORMAL})) for i in order]
    assert [int(s.total[0]) for s in single] == permuted.news2.total.tolist()


# --- qSOFA ----------------------------------------------------------------------------------


def test_qsofa_boundaries() -> None:
    q = qsofa([21, 22, 16, 16, 16, 16], [120, 120, 101, 100, 120, 120], [0, 0, 0, 0, 0, 1])
    assert q.respiratory_rate_22_or_more.tolist() == [False, True, False, False, False, False]
    assert q.systolic_bp_100_or_less.tolist() == [False, False, False, True, False, False]
    assert q.altered_mentation.tolist() == [False] * 5 + [True]
    assert q.total.tolist() == [0, 1, 0, 1, 0, 1]
    assert not q.positive.any()


def test_qsofa_is_positive_at_two_or_more() -> None:
    q = qsofa([22, 22, 16, 30], [100, 120, 95, 80], [False, True, True, True])
    assert q.total.tolist() == [2, 2, 2, 3]
    assert q.positive.all()
    assert qsofa(21.5, 100.4, False).total.tolist() == [2]  # charted as 22 and 100
    assert qsofa(21.4, 100.5, False).total.tolist() == [0]  # charted as 21 and 101


def test_qsofa_from_vitals_uses_any_level_but_alert() -> None:
    scores = score_vitals(vary("consciousness", ["A", "C", "V", "P", "U"]))
    assert scores.qsofa.altered_mentation.tolist() == [False, True, True, True, True]


def test_qsofa_rejects_bad_input() -> None:
    with pytest.raises(InvalidInputError, match=r"systolic_bp_mm_hg = -5.0 at row 1"):
        qsofa([16, 16], [120, -5], [False, False])
    with pytest.raises(InvalidInputError, match="altered_mentation"):
        qsofa([16], [120], ["yes"])
    with pytest.raises(ShapeError):
        qsofa([16, 16], [120], False)


# --- MEWS -------------------------------------------------------------------------------------

MEWS_SYSTOLIC = [
    (40, 3), (69, 3), (70, 3), (71, 2), (80, 2), (81, 1), (100, 1), (101, 0), (199, 0), (200, 2),
]  # fmt: skip
MEWS_HEART = [
    (30, 2), (39, 2), (40, 2), (41, 1), (50, 1), (51, 0), (100, 0), (101, 1), (110, 1), (111, 2),
    (129, 2), (130, 3),
]  # fmt: skip
MEWS_RESPIRATION = [(5, 2), (8, 2), (9, 0), (14, 0), (15, 1), (20, 1), (21, 2), (29, 2), (30, 3)]
MEWS_TEMPERATURE = [(34.9, 2), (35.0, 0), (38.4, 0), (38.5, 2), (41.0, 2)]


@pytest.mark.parametrize(
    ("name", "field", "cases"),
    [
        ("systolic_bp_mm_hg", "systolic_bp", MEWS_SYSTOLIC),
        ("heart_rate_per_min", "heart_rate", MEWS_HEART),
        ("respiratory_rate_per_min", "respiratory_rate", MEWS_RESPIRATION),
        ("temperature_c", "temperature", MEWS_TEMPERATURE),
    ],
)
def test_mews_subbe_2001_boundaries(
    name: str, field: str, cases: Sequence[tuple[float, int]]
) -> None:
    scores = mews(vary(name, [v for v, _ in cases]))
    assert getattr(scores, field).tolist() == [expected for _, expected in cases]
    assert scores.total.tolist() == [expected for _, expected in cases]


def test_mews_avpu_and_confusion() -> None:
    assert mews(vary("consciousness", ["A", "V", "P", "U"])).consciousness.tolist() == [0, 1, 2, 3]
    with pytest.raises(InvalidInputError, match=r"confusion at row 1 has no score"):
        mews(vary("consciousness", ["A", "C"]))


def test_mews_with_a_custom_table() -> None:
    # A local chart: HR <=50 scores 1, 51-99 0, >=100 scores 2; confusion scores 1.
    local = MewsTable(
        systolic_bp_mm_hg=SUBBE_2001_MEWS.systolic_bp_mm_hg,
        heart_rate_per_min=BandTable((51, 100), (1, 0, 2)),
        respiratory_rate_per_min=SUBBE_2001_MEWS.respiratory_rate_per_min,
        temperature_c=BandTable((36.0, 38.0), (1, 0, 1), resolution=0.5),
        consciousness=(0, 1, 1, 2, 3),
    )
    vitals = observations(
        4,
        heart_rate_per_min=[50, 51, 99, 100],
        temperature_c=[35.5, 36.0, 37.5, 38.0],
        consciousness=["C", "A", "A", "U"],
    )
    scores = mews(vitals, local)
    assert scores.heart_rate.tolist() == [1, 0, 0, 2]
    assert scores.temperature.tolist() == [1, 0, 0, 1]
    assert scores.consciousness.tolist() == [1, 0, 0, 3]
    assert scores.total.tolist() == [3, 0, 0, 6]


@pytest.mark.parametrize(
    ("limits", "scores", "resolution", "message"),
    [
        ((9, 12), (1, 0), 1.0, "one score more"),
        ((12, 9), (1, 0, 1), 1.0, "strictly increasing"),
        ((9, 12), (1, -1, 0), 1.0, "non-negative"),
        ((9.5, 12), (1, 0, 1), 1.0, "multiples of the resolution"),
        ((9, 12), (1, 0, 1), 0.0, "resolution"),
    ],
)
def test_band_table_rejects_bad_tables(
    limits: tuple[float, ...], scores: tuple[int, ...], resolution: float, message: str
) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        BandTable(limits, scores, resolution)


def test_mews_table_rejects_bad_consciousness_scores() -> None:
    parts = SUBBE_2001_MEWS
    with pytest.raises(InvalidParameterError, match="Alert"):
        MewsTable(
            parts.systolic_bp_mm_hg,
            parts.heart_rate_per_min,
            parts.respiratory_rate_per_min,
            parts.temperature_c,
            (None, 1, 1, 2, 3),
        )


# --- Impossible and missing input ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("respiratory_rate_per_min", -1.0),
        ("respiratory_rate_per_min", 0.0),
        ("respiratory_rate_per_min", 81.0),
        ("spo2_percent", -5.0),
        ("spo2_percent", 0.0),
        ("spo2_percent", 100.5),
        ("systolic_bp_mm_hg", 0.0),
        ("systolic_bp_mm_hg", -20.0),
        ("systolic_bp_mm_hg", 301.0),
        ("heart_rate_per_min", 0.0),
        ("heart_rate_per_min", 301.0),
        ("temperature_c", 24.9),
        ("temperature_c", 45.1),
        ("temperature_c", 98.6),
        ("temperature_c", float("inf")),
    ],
)
def test_impossible_values_are_rejected_naming_field_value_and_row(name: str, value: float) -> None:
    values = [NORMAL[name], NORMAL[name], value]
    with pytest.raises(InvalidInputError, match=rf"{name} = {value!r} at row 2 .*impossible"):
        vary(name, values)


@pytest.mark.parametrize("name", [n for n, v in NORMAL.items() if isinstance(v, float)])
def test_missing_values_are_rejected(name: str) -> None:
    with pytest.raises(InvalidInputError, match=rf"{name} is missing \(NaN\) at row 1"):
        vary(name, [NORMAL[name], float("nan")])


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"consciousness": ["A", "X"]}, InvalidInputError, "unknown consciousness level 'X'"),
        ({"spo2_scale": [1, 3]}, InvalidInputError, "spo2_scale must be 1 or 2"),
        ({"on_oxygen": [0, 2]}, InvalidInputError, "on_oxygen must be booleans"),
        ({"spo2_percent": ["high", 97]}, InvalidInputError, "spo2_percent must be numeric"),
        ({"spo2_percent": [[97, 97]]}, ShapeError, "1-D"),
        ({"heart_rate_per_min": [70, 70, 70]}, ShapeError, "3 rows"),
    ],
)
def test_malformed_arrays_are_rejected(
    changes: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        observations(2, **changes)


def test_direct_construction_needs_arrays_and_stores_read_only_copies() -> None:
    vitals = observations(2)
    with pytest.raises(InvalidInputError, match="from_arrays"):
        Vitals(**{**{k: getattr(vitals, k) for k in NORMAL}, "spo2_percent": [97.0, 97.0]})
    rate = np.array([16.0, 16.0])
    built = Vitals(**{**{k: getattr(vitals, k) for k in NORMAL}, "respiratory_rate_per_min": rate})
    rate[0] = -1.0  # the caller's array stays writable and does not reach the stored copy
    assert built.respiratory_rate_per_min.tolist() == [16.0, 16.0]
    assert not built.respiratory_rate_per_min.flags.writeable


# --- CSV --------------------------------------------------------------------------------------

HEADER = (
    "patient,time,respiratory_rate_per_min,spo2_percent,spo2_scale,on_oxygen,"
    "systolic_bp_mm_hg,heart_rate_per_min,consciousness,temperature_c"
)


def write_csv(tmp_path: Path, *lines: str, header: str = HEADER) -> Path:
    path = tmp_path / "vitals.csv"
    path.write_text("\n".join((header, *lines)) + "\n", encoding="utf-8")
    return path


def test_read_vitals_csv_accepts_every_documented_spelling(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "p1,2024-01-01T08:00,18,97,1,0,120,80,A,37.0",
        "p1,2024-01-01T12:00,22,95,2,oxygen,100,95,confusion,38.2",
        "",
        "p2,2024-01-01T08:00,12,92,,AIR,115,60,v,36.5",
        "p2,2024-01-01T12:00,12,92, 2 ,True,115,60,Pain,36.5",
        "p3,2024-01-01T12:00,12,92,1,false,115,60,UNRESPONSIVE,36.5",
    )
    vitals = read_vitals_csv(path)
    assert len(vitals) == 5
    assert vitals.patient == ("p1", "p1", "p2", "p2", "p3")
    assert vitals.time is not None
    assert vitals.time[1] == "2024-01-01T12:00"
    assert vitals.spo2_scale.tolist() == [1, 2, 1, 2, 1]
    assert vitals.on_oxygen.tolist() == [False, True, False, True, False]
    assert vitals.consciousness.tolist() == [0, 1, 2, 3, 4]


def test_read_vitals_csv_without_optional_columns(tmp_path: Path) -> None:
    header = (
        "Respiratory_Rate_Per_Min,spo2_percent,on_oxygen,systolic_bp_mm_hg,heart_rate_per_min,"
        "consciousness,temperature_c"
    )
    vitals = read_vitals_csv(write_csv(tmp_path, "18,97,1,120,80,a,37", header=header))
    assert vitals.patient is None
    assert vitals.time is None
    assert vitals.spo2_scale.tolist() == [1]
    assert vitals.on_oxygen.tolist() == [True]


@pytest.mark.parametrize(
    ("row", "column", "message"),
    [
        ("p,t,18,abc,1,0,120,80,A,37", "spo2_percent", "'abc' is not a number"),
        ("p,t,18,97,1,0,120,80,A,", "temperature_c", "'' is not a number"),
        ("p,t,18,97,1,0,120,80,A,nan", "temperature_c", "'nan' is not a number"),
        ("p,t,18,97,1,maybe,120,80,A,37", "on_oxygen", "'maybe' is not 0/1"),
        ("p,t,18,97,1,0,120,80,Z,37", "consciousness", "'Z' is not A/C/V/P/U"),
        ("p,t,18,97,3,0,120,80,A,37", "spo2_scale", "'3' is not 1 or 2"),
    ],
)
def test_malformed_cells_name_the_line_and_column(
    tmp_path: Path, row: str, column: str, message: str
) -> None:
    path = write_csv(tmp_path, "p,t,18,97,1,0,120,80,A,37", row)
    with pytest.raises(InvalidInputError, match=rf"line 3, column '{column}': {message}"):
        read_vitals_csv(path)


def test_impossible_csv_value_names_the_line(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "p,t,18,97,1,0,120,80,A,37", "p,t,18,97,1,0,120,0,A,37")
    with pytest.raises(InvalidInputError, match=r"heart_rate_per_min = 0.0 at .*line 3 \(row 1\)"):
        read_vitals_csv(path)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (HEADER.replace("spo2_scale", "spo2_scal"), r"unknown columns \['spo2_scal'\]"),
        (HEADER.replace(",temperature_c", ",time"), "repeated columns"),
        (HEADER.replace("heart_rate_per_min", "patient_id"), "unknown columns"),
        (HEADER.replace(",consciousness", ""), r"missing columns \['consciousness'\]"),
    ],
)
def test_bad_headers_are_rejected(tmp_path: Path, header: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        read_vitals_csv(write_csv(tmp_path, header=header))


def test_ragged_rows_and_empty_files_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="line 2: 9 cells for 10 columns"):
        read_vitals_csv(write_csv(tmp_path, "p,t,18,97,1,0,120,80,A"))
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InvalidInputError, match="is empty"):
        read_vitals_csv(empty)


def test_csv_round_trip(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "p1,08:00,18,97,1,air,120,80,A,37.1",
        "p1,12:00,24,95,2,oxygen,98,112,C,38.75",
        "p2,08:00,8,91,1,1,90,40,U,35",
    )
    vitals = read_vitals_csv(path)
    scores = score_vitals(vitals)
    out = tmp_path / "scores.csv"
    write_scores_csv(scores, out)

    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0].split(",") == [
        "patient", "time", "respiratory_rate_per_min", "spo2_percent", "spo2_scale", "on_oxygen",
        "systolic_bp_mm_hg", "heart_rate_per_min", "consciousness", "temperature_c",
        "news2_total", "news2_band", "news2_any_single_3", "news2_rr", "news2_spo2",
        "news2_air_oxygen", "news2_sbp", "news2_hr", "news2_consciousness", "news2_temperature",
        "qsofa", "qsofa_positive",
    ]  # fmt: skip
    # Row 2: RR 24 (2), SpO2 95 on O2 scale 2 (2), oxygen (2), SBP 98 (2), HR 112 (2), C (3),
    # T 38.75 charted 38.8 (1) -> 14. Row 3: 3 + 3 + 2 + 3 + 3 + 3 + 3 = 20.
    assert lines[2] == "p1,12:00,24,95,2,1,98,112,C,38.75,14,high,1,2,2,2,2,2,3,1,3,1"
    assert lines[3] == "p2,08:00,8,91,1,1,90,40,U,35,20,high,1,3,3,2,3,3,3,3,2,1"

    again = read_vitals_csv(out)
    for name in (*NORMAL.keys(), "patient", "time"):
        assert np.array_equal(np.asarray(getattr(again, name)), np.asarray(getattr(vitals, name)))
    second = tmp_path / "again.csv"
    write_scores_csv(score_vitals(again), second)
    assert second.read_text(encoding="utf-8") == out.read_text(encoding="utf-8")


def test_csv_with_no_rows_scores_to_an_empty_table(tmp_path: Path) -> None:
    vitals = read_vitals_csv(write_csv(tmp_path))
    assert len(vitals) == 0
    out = tmp_path / "scores.csv"
    write_scores_csv(score_vitals(vitals), out)
    assert len(out.read_text().splitlines()) == 1
