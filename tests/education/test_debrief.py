"""Counterfactual debrief: replays on common patients, ordered bands, translatable text."""

from __future__ import annotations

import numpy as np
import pytest

from healthtwin.education.case import Case, load_case
from healthtwin.education.debrief import Band, Debrief, debrief, expert_requests
from healthtwin.education.engine import replay
from healthtwin.education.i18n import Localizer, placeholders
from healthtwin.education.record import ActionTaken, InfoRequest, SessionRecord
from healthtwin.education.scoring import score
from healthtwin.errors import InvalidParameterError

N_DRAWS = 3


@pytest.fixture(scope="module")
def case() -> Case:
    return load_case("hypoglycaemia")


@pytest.fixture(scope="module")
def late(case: Case) -> SessionRecord:
    """Dextrose after 20 minutes: too late for the critical 15-minute target."""
    return replay(
        case,
        [ActionTaken(20.0, "give_dextrose_iv", 15.0)],
        requests=[InfoRequest(0.0, "capillary_glucose", 1.0)],
        seed=3,
    )


@pytest.fixture(scope="module")
def report(case: Case, late: SessionRecord) -> Debrief:
    return debrief(case, late, shifts=(-10.0, 5.0), n_draws=N_DRAWS, seed=1)


def test_the_variants_are_played_shifted_removed_and_expert(report: Debrief) -> None:
    ids = [v.id for v in report.variants]
    assert ids == ["played", "shift:0:-10", "shift:0:5", "without:0", "expert"]
    assert report.variant("shift:0:-10").actions[0].t_min == 10.0
    assert report.variant("shift:0:5").actions[0].t_min == 25.0
    assert report.variant("without:0").actions == ()
    assert all(len(v.reports) == N_DRAWS for v in report.variants)


def test_the_played_variant_on_the_played_patient_reproduces_the_record(
    report: Debrief, late: SessionRecord
) -> None:
    again = report.variant("played").record
    assert again.actions == late.actions
    assert again.requests == late.requests
    assert again.ended_min == late.ended_min
    np.testing.assert_array_equal(again.times_min, late.times_min)
    for name, values in late.measures.items():
        np.testing.assert_array_equal(again.measures[name], values)


def test_moving_a_critical_action_earlier_never_worsens_its_points(report: Debrief) -> None:
    def critical_points(variant_id: str) -> list[float]:
        return [
            next(i.points for i in r.items if i.kind == "critical")
            for r in report.variant(variant_id).reports
        ]

    played, earlier = critical_points("played"), critical_points("shift:0:-10")
    assert all(e >= p for e, p in zip(earlier, played, strict=True))
    assert earlier == [30.0] * N_DRAWS
    assert played == [0.0] * N_DRAWS
    times = [
        r.time_to_critical_min["give_dextrose_iv"] for r in report.variant("shift:0:-10").reports
    ]
    assert times == [10.0] * N_DRAWS


def test_bands_are_ordered(report: Debrief) -> None:
    for v in report.variants:
        bands = [v.score_band, *v.outcome_bands.values()]
        assert all(b.low <= b.median <= b.high for b in bands)
    assert Band.of(np.array([3.0, 1.0, 2.0])) == Band(1.1, 2.0, 2.9)


def test_every_variant_sees_the_same_patients(case: Case, late: SessionRecord) -> None:
    # Common random numbers: the expert pathway's outcomes do not depend on the learner.
    other = replay(case, [ActionTaken(1.0, "give_glucagon_im", 1.0)], seed=3)
    a = debrief(case, late, shifts=(), n_draws=N_DRAWS, seed=1).variant("expert")
    b = debrief(case, other, shifts=(), n_draws=N_DRAWS, seed=1).variant("expert")
    np.testing.assert_array_equal(a.scores, b.scores)
    for measure, values in a.outcomes.items():
        np.testing.assert_array_equal(values, b.outcomes[measure])
    # ... and the patients differ from one another.
    assert len(set(a.outcomes["glucose_mmol_per_l"].tolist())) == N_DRAWS


def test_the_messages_translate_with_every_parameter(report: Debrief) -> None:
    counterfactuals = len(report.variants) - 1
    per_variant = 2 + len(report.at_min)  # header, score, one line per final-state measure
    assert len(report.messages) == counterfactuals * per_variant
    for m in report.messages:
        assert placeholders(m.msgid) <= set(m.params), m.msgid
    en, de = Localizer("en"), Localizer("de")
    text_en = [en.render(m) for m in report.messages]
    text_de = [de.render(m) for m in report.messages]
    assert text_en[0].startswith('Had you chosen "Give intravenous glucose')
    assert "10 minutes earlier" in text_en[0]
    assert any("mg/dl" in t for t in text_de)  # glucose converted for German learners
    assert all("{" not in t for t in text_en + text_de)


def test_the_expert_requests_honour_disclosure() -> None:
    for case_id in ("hypoglycaemia", "hyperglycaemia_dka"):
        case = load_case(case_id)
        requests = expert_requests(case)
        asked = {r.info_id: r for r in requests}
        for r in requests:
            for needed in case.info(r.info_id).requires:
                assert asked[needed].ready_min <= r.t_min


def test_bad_settings_are_refused(case: Case, late: SessionRecord) -> None:
    with pytest.raises(InvalidParameterError, match="n_draws"):
        debrief(case, late, n_draws=0)
    with pytest.raises(InvalidParameterError, match="finite"):
        debrief(case, late, shifts=(float("nan"),))


def test_the_debrief_is_json(report: Debrief) -> None:
    doc = report.to_dict()
    assert doc["quantiles"] == [0.05, 0.5, 0.95]
    assert doc["variants"][0]["score"]["q50"] == report.variant("played").score_band.median


def test_progress_is_reported_after_each_variant(case: Case, late: SessionRecord) -> None:
    calls: list[tuple[int, int]] = []
    found = debrief(case, late, shifts=(), n_draws=1, progress=lambda *c: calls.append(c))
    assert [v.id for v in found.variants] == ["played", "without:0", "expert"]
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_the_headline_is_the_learners_own_patient() -> None:
    """A cohort patient: the headline compares the played patient, the bands add context."""
    trauma = load_case("trauma_haemorrhage")
    played = replay(trauma, [ActionTaken(1.0, "apply_tourniquet"),
                             ActionTaken(12.0, "transfuse_red_cells", 500.0)])  # fmt: skip
    own = score(trauma, played).total
    found = debrief(trauma, played, shifts=(-5.0,), n_draws=N_DRAWS, seed=2)
    assert found.variant("played").own_score == own
    heads = [m for m in found.messages if m.msgid.startswith("Score:")]
    assert heads
    assert all(m.params["played_score"] == own for m in heads)
    assert "for your patient" in heads[0].msgid
    assert "similar patients" in heads[0].msgid
    expert = found.variant("expert")
    assert heads[-1].params["score"] == expert.own_score == expert.reports[0].total
    lactate = [m for m in found.messages if m.params.get("measure") == "lactate"]
    assert lactate
    final = played.measures["lactate_mmol_per_l"][-1]
    assert all(m.params["played"].value == pytest.approx(final) for m in lactate)  # type: ignore[union-attr]
    doc = found.to_dict()["variants"][0]
    assert doc["own"]["score"] == own
    assert "q50" in doc["score"]
