"""The prognosis check is scored against the twins' ICU need, not against triage's own routes.

With ``share_back: triage`` the model sends its high-risk patients to the ICU, so whether a
stay reached the ICU partly repeats the model's prediction. Each patient's twin ICU need as
if untriaged (``PatientStays.needed_icu``) is read from the twin before the run: these tests
check that it is the twin's deterioration, that recording it changes nothing else in a run,
and that the headline AUROC is computed on it and does not rise with triage.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from healthtwin.core.random import RandomStreams
from healthtwin.coupling.hospital_course import TwinCourse, TwinCourseSettings
from healthtwin.hospital.config import HospitalConfig
from healthtwin.scenarios import WorldResult, WorldScenario, parse_world, run_world, world_patients
from healthtwin.scenarios.federated import icu_features
from healthtwin.scenarios.hospital_runs import PatientStays, TriageOrders, simulate_hospital

UNIT = {"los_hours": {"dist": "exponential", "mean": 100}}
SETTINGS = TwinCourseSettings(horizon_hours=360.0, step_hours=0.5)
# Four days of arrivals, then 16 quiet days: every twin event (within 360 h) is in the run.
COUNTS = np.array([20] * 4 + [0] * 16)
SEED = 11


def _config(icu_beds: int) -> HospitalConfig:
    return HospitalConfig.model_validate({
        "units": {"ward": {"kind": "ward", "beds": 40, **UNIT},
                  "icu": {"kind": "icu", "beds": icu_beds, **UNIT}},
        "pathways": {"ward": {"icu": 0.1, "discharge": 0.85, "death": 0.05},
                     "icu": {"discharge": 1.0}},
    })  # fmt: skip


def _simulate(icu_beds: int, threshold: float | None) -> tuple[Any, PatientStays]:
    risk = np.random.default_rng(7).random(int(COUNTS.sum()))
    orders = None if threshold is None else TriageOrders(risk, threshold)
    return simulate_hospital(
        _config(icu_beds), COUNTS, entry_unit="ward", icu_unit="icu", seed=SEED,
        twins=SETTINGS, triage=orders,
    )  # fmt: skip


@pytest.fixture(scope="module")
def small_icu() -> dict[float | None, tuple[Any, PatientStays]]:
    return {t: _simulate(3, t) for t in (None, 0.6)}


def test_needed_icu_is_each_twins_deterioration_whatever_triage_does(
    small_icu: dict[float | None, tuple[Any, PatientStays]],
) -> None:
    # By hand: the same twins (seed, the replication's course stream, patient ids).
    course = TwinCourse(_config(3), SETTINGS, seed=SEED)
    course.start(RandomStreams(SEED).generator("hospital/rep0/course"))
    by_hand = np.array([math.isfinite(course.prognosis(p)[0]) for p in range(COUNTS.sum())])
    assert 0 < by_hand.sum() < by_hand.size
    for _, stays in small_icu.values():
        np.testing.assert_array_equal(stays.needed_icu, by_hand)
    # Triage changes where the patients go, not what their twins need.
    _, triaged = small_icu[0.6]
    assert triaged.triaged.any()
    assert not np.array_equal(triaged.visited_icu, small_icu[None][1].visited_icu)


def test_recording_the_need_leaves_the_runs_as_they_were(
    small_icu: dict[float | None, tuple[Any, PatientStays]],
) -> None:
    # Figures of these two runs from before needed_icu existed (the same code paths, random
    # streams and seeds): reading the twins' prognosis draws no random number.
    # Per threshold: totals, who reached the ICU, bed-days and queue-days of (ward, icu).
    before = {
        None: (
            (80, 74, 4, 2),
            [30, 36, 61, 67],
            [377.3706134251032, 16.184582655443993],
            [40.72526858789682, 0.959019327232627],
        ),
        0.6: (
            (80, 55, 0, 25),
            [0, 1, 2, 5, 7, 8, 16, 17, 18, 19, 22, 27, 28],
            [255.81680764226024, 59.4336127249349],
            [0.0, 476.5094608811133],
        ),
    }
    for threshold, (totals, icu, bed_days, queue_days) in before.items():
        run, stays = small_icu[threshold]
        assert (run.arrived, run.discharged, run.died, run.in_hospital) == totals
        assert np.flatnonzero(stays.visited_icu).tolist() == icu
        assert np.flatnonzero(stays.died).tolist() == [30, 36, 61, 67]
        np.testing.assert_allclose(run.occupancy.sum(axis=0), bed_days, rtol=1e-9)
        np.testing.assert_allclose(run.queue_days.sum(axis=0), queue_days, rtol=1e-9, atol=1e-12)


def test_without_triage_the_need_is_where_the_twins_went_unless_the_icu_was_full() -> None:
    run, roomy = _simulate(200, None)
    assert roomy.needed_icu.sum() >= 3
    assert float(run.queue_days[:, 1].sum()) == 0.0
    np.testing.assert_array_equal(roomy.needed_icu, roomy.visited_icu)
    # A week's run: with room in the ICU, still the same; with one ICU bed, the patients
    # who need it and are still waiting for it at the end never reach it.
    week = COUNTS[:7]
    for beds in (200, 1):
        run, stays = simulate_hospital(
            _config(beds), week, entry_unit="ward", icu_unit="icu", seed=SEED, twins=SETTINGS
        )
        np.testing.assert_array_equal(stays.needed_icu, roomy.needed_icu)
        assert not (stays.visited_icu & ~stays.needed_icu).any()
        waiting = stays.needed_icu & ~stays.visited_icu
        # Each waited the whole last day: queue-days of the ICU on it, one per patient.
        assert waiting.sum() == pytest.approx(run.queue_days[-1, 1], abs=1e-9)
        assert (waiting.sum() > 0) == (beds == 1)
        assert (stays.deterioration_hours[waiting] < week.size * 24.0).all()


def _world(seed: int = 3, **federation: Any) -> WorldScenario:
    config = {
        "units": {"ward": {"kind": "ward", "beds": 30, **UNIT},
                  "icu": {"kind": "icu", "beds": 3, **UNIT}},
        "pathways": {"ward": {"icu": 0.1, "discharge": 0.8, "death": 0.1},
                     "icu": {"discharge": 1.0}},
    }  # fmt: skip
    country: dict[str, Any] = {
        "name": "Old",
        "geography": {"regions": [{"name": "r", "population": 20000}]},
        "disease": {"r0": 2.0},
        "initial_infected": {"r": 200},
        "hospitals": [{"name": "h", "region": "r", "catchment_share": 1.0, "config": config}],
        "patients": {
            "course": "twins",
            "cohort_size": 60,
            "twin": {"step_hours": 0.5, "horizon_hours": 480.0},
        },
    }
    spec = {
        "rounds": 10,
        "learning_rate": 2.0,
        "patients_per_hospital": 600,
        "data": "synthetic",
        **federation,
    }
    return parse_world(
        {"days": 28, "replicates": 2, "seed": seed, "federation": spec, "countries": [country]}
    )


Checked = tuple[WorldResult, list[tuple[Any, ...]]]


def _run_capturing_the_check(world: WorldScenario) -> Checked:
    """The world's result and the arguments its prognosis check was given."""
    calls: list[tuple[Any, ...]] = []
    original = world_patients.prognosis_check

    def spy(*args: Any) -> dict[str, Any]:
        calls.append(args)
        return original(*args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(world_patients, "prognosis_check", spy)
        result = run_world(world)
    return result, calls


@pytest.fixture(scope="module")
def worlds() -> dict[str, Checked]:
    return {
        "off": _run_capturing_the_check(_world(share_back="model-card")),
        "triage": _run_capturing_the_check(_world(share_back="triage", triage_threshold=0.4)),
    }


def _pairwise_auroc(score: np.ndarray, label: np.ndarray) -> float:
    """AUROC as the share of (positive, negative) pairs ranked right, ties counting half."""
    pos, neg = score[label][:, None], score[~label][None, :]
    return float(((pos > neg) + 0.5 * (pos == neg)).mean())


def _patients(calls: list[tuple[Any, ...]]) -> dict[str, np.ndarray]:
    [(site, columns, members, stays)] = calls
    x = icu_features(
        *(
            np.concatenate([np.asarray(columns[k])[m] for m in members])
            for k in world_patients.ICU_COLUMNS
        )
    )
    return {
        "risk": site.prognosis.predict(x),
        "needed": np.concatenate([s.needed_icu for s in stays]),
        "visited": np.concatenate([s.visited_icu for s in stays]),
        "triaged": np.concatenate([s.triaged for s in stays]),
    }


def _check(result: WorldResult) -> dict[str, Any]:
    block = result.countries[0].patients[0]
    assert block is not None
    check: dict[str, Any] = block["prognosis_check"]
    return check


def test_the_headline_auroc_is_on_the_twins_need_computed_by_hand(
    worlds: dict[str, Checked],
) -> None:
    result, calls = worlds["triage"]
    check, mine = _check(result), _patients(calls)
    assert check["outcome"] == "twin_icu_need"
    assert check["patients"] == mine["risk"].size > 100
    # The risks are those triage acted on (threshold 0.4).
    np.testing.assert_array_equal(mine["triaged"], mine["risk"] > 0.4)
    assert mine["triaged"].any()
    assert check["observed_route_includes_triage"] is True
    assert check["auroc"] == pytest.approx(_pairwise_auroc(mine["risk"], mine["needed"]), abs=1e-12)
    assert check["auroc_observed_route"] == pytest.approx(
        _pairwise_auroc(mine["risk"], mine["visited"]), abs=1e-12
    )
    brier = float(np.mean((mine["risk"] - mine["needed"]) ** 2))
    assert check["brier"] == pytest.approx(brier, abs=1e-12)
    assert check["needed_icu_share"] == check["outcome_share"] == mine["needed"].mean()
    left = ~mine["triaged"]
    untriaged = check["untriaged"]
    assert untriaged["patients"] == int(left.sum())
    assert untriaged["auroc"] == pytest.approx(
        _pairwise_auroc(mine["risk"][left], mine["needed"][left]), abs=1e-12
    )


def test_triage_raises_the_observed_route_auroc_but_not_the_headline(
    worlds: dict[str, Checked],
) -> None:
    (off, off_calls), (on, on_calls) = worlds["off"], worlds["triage"]
    before, after = _check(off), _check(on)
    a, b = _patients(off_calls), _patients(on_calls)
    # Same seed: the same patients, risks and twins; only the routes of the triaged differ.
    np.testing.assert_array_equal(a["risk"], b["risk"])
    np.testing.assert_array_equal(a["needed"], b["needed"])
    assert not before["observed_route_includes_triage"]
    assert before["auroc"] == after["auroc"]
    assert before["brier"] == after["brier"]
    # Triage sends its high-risk patients to the ICU, and their risk ranks the route.
    assert after["auroc_observed_route"] > before["auroc_observed_route"] + 0.03
    assert after["auroc_observed_route"] > after["auroc"]


def test_without_triage_only_the_need_takes_patients_to_the_icu(
    worlds: dict[str, Checked],
) -> None:
    for name in ("off", "triage"):
        mine = _patients(worlds[name][1])
        left = ~mine["triaged"]
        # No untriaged patient reaches the ICU without a twin that needed it; a need
        # without the ICU is a patient still waiting for a bed (3 beds) or whose twin
        # deteriorates after the run's last day.
        assert not (mine["visited"] & ~mine["needed"])[left].any()
    off = _patients(worlds["off"][1])
    assert off["visited"].sum() > 0.5 * off["needed"].sum()
