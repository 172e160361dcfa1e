"""The federated model, trained on the hospitals' own twin seasons, triages their patients."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from healthtwin.core.random import RandomStreams
from healthtwin.coupling.hospital_course import TwinCourseSettings
from healthtwin.errors import InvalidInputError, ResourceValidationError
from healthtwin.hospital.config import HospitalConfig
from healthtwin.scenarios import WorldResult, WorldScenario, parse_world, run_world
from healthtwin.scenarios.federated import train_federation
from healthtwin.scenarios.federated_season import season_patients
from healthtwin.scenarios.hospital_runs import TriageOrders, simulate_hospital

UNIT = {"los_hours": {"dist": "exponential", "mean": 100}}
CONFIG = {
    "units": {"ward": {"kind": "ward", "beds": 30, **UNIT},
              "icu": {"kind": "icu", "beds": 3, **UNIT}},
    "pathways": {"ward": {"icu": 0.1, "discharge": 0.8, "death": 0.1}, "icu": {"discharge": 1.0}},
}  # fmt: skip


def _world(patients: bool = True, seed: int = 3, **federation: Any) -> WorldScenario:
    country: dict[str, Any] = {
        "name": "Old",
        "geography": {"regions": [{"name": "r", "population": 20000}]},
        "disease": {"r0": 2.0},
        "initial_infected": {"r": 200},
        "hospitals": [{"name": "h", "region": "r", "catchment_share": 1.0, "config": CONFIG}],
    }
    if patients:
        country["patients"] = {
            "course": "twins",
            "cohort_size": 60,
            "twin": {"step_hours": 0.5, "horizon_hours": 480.0},
        }
    spec = {"rounds": 10, "learning_rate": 2.0, "patients_per_hospital": 600, **federation}
    return parse_world(
        {"days": 28, "replicates": 2, "seed": seed, "federation": spec, "countries": [country]}
    )


def _hospital(result: WorldResult) -> dict[str, Any]:
    block: dict[str, Any] = result.summary()["countries"]["Old"]["hospitals"]["h"]
    return block


@pytest.fixture(scope="module")
def record_only() -> WorldResult:
    return run_world(_world(data="twins", share_back="model-card"))


@pytest.fixture(scope="module")
def triaged() -> WorldResult:
    return run_world(_world(data="twins", share_back="triage", triage_threshold=0.15))


def test_the_twin_season_teaches_the_model_what_the_twins_do(record_only: WorldResult) -> None:
    world = _world(data="twins", share_back="model-card")
    assert world.federation is not None
    tables, data = season_patients(world, world.federation, RandomStreams(world.seed))
    age, need = tables[0]["age_years"], data[0].event
    assert need.size == 600
    assert 0.05 < need.mean() < 0.4
    # The twins' growth rises with age, so older season patients need the ICU more often
    # (difference of shares far beyond its 99 % interval: about 0.1 against 0.07).
    young, old = need[age < np.quantile(age, 1 / 3)], need[age > np.quantile(age, 2 / 3)]
    se = np.sqrt(young.mean() * (1 - young.mean()) / young.size + old.var() / old.size)
    assert old.mean() - young.mean() > 2.58 * se
    # ... and so does the federated model trained on it (age per 15 years).
    fed = record_only.federation
    assert fed is not None
    assert fed.summary()["data"] == "twins"
    assert fed.result.theta[1] > 0
    # Checked on the run's own patients, its mean risk is their ICU share (99 % interval).
    check = _hospital(record_only)["patients"]["prognosis_check"]
    n, observed = check["patients"], check["observed_icu_share"]
    assert n > 100
    assert abs(check["mean_predicted_icu"] - observed) < 2.58 * np.sqrt(
        observed * (1 - observed) / n
    )
    assert 0.0 < check["brier"] < 0.25


def test_the_season_and_the_model_do_not_depend_on_the_share_back_mode(
    record_only: WorldResult, triaged: WorldResult
) -> None:
    a, b = record_only.federation, triaged.federation
    assert a is not None
    assert b is not None
    # Same seed: the same season of twins trains the same model, whatever is done with it.
    np.testing.assert_array_equal(a.result.theta, b.result.theta)
    assert a.provenance.target == b.provenance.target
    assert a.n_train[0] + a.n_held_out[0] == 600


def test_triage_sends_the_high_risk_patients_to_icu_and_conserves_patients(
    record_only: WorldResult, triaged: WorldResult
) -> None:
    block = _hospital(triaged)["patients"]
    triage = block["triage"]
    assert triage["threshold"] == 0.15
    assert 0 < triage["triaged"] < triage["patients"] == block["patients"]
    assert triage["triaged_reached_icu"] > 0
    # Common random numbers: the same patients arrive, with the same twins.
    for a, b in zip(
        record_only.countries[0].hospital_runs, triaged.countries[0].hospital_runs, strict=True
    ):
        assert a[0].arrived == b[0].arrived
        # Every admission is once discharged, dead or still in hospital.
        assert b[0].arrived == b[0].discharged + b[0].died + b[0].in_hospital
    # More patients reach the ICU than in the record-only run.
    before = _hospital(record_only)["patients"]["icu_transfer_share"]
    assert block["icu_transfer_share"] > before
    shared = _hospital(triaged)["prognosis_model"]
    assert shared["triage_threshold"] == 0.15


HOSPITAL = HospitalConfig.model_validate(
    {
        "units": {"ward": {"kind": "ward", "beds": 40, **UNIT},
                  "icu": {"kind": "icu", "beds": 4, **UNIT}},
        "pathways": {"ward": {"icu": 0.1, "discharge": 0.85, "death": 0.05},
                     "icu": {"discharge": 1.0}},
    }
)  # fmt: skip
COUNTS = np.array([4, 3, 5, 2, 4, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
SETTINGS = TwinCourseSettings(horizon_hours=480.0, step_hours=0.5)


def _simulate(threshold: float | None) -> tuple[Any, Any, np.ndarray]:
    risk = np.random.default_rng(7).random(int(COUNTS.sum()))
    orders = None if threshold is None else TriageOrders(risk, threshold)
    run, stays = simulate_hospital(
        HOSPITAL, COUNTS, entry_unit="ward", icu_unit="icu", seed=5, twins=SETTINGS,
        triage=orders,
    )  # fmt: skip
    return run, stays, risk


@pytest.mark.parametrize("threshold", [0.0, 0.6, 1.0])
def test_the_triaged_are_the_highest_risk_patients(threshold: float) -> None:
    run, stays, risk = _simulate(threshold)
    assert stays.triaged.size == risk.size == run.arrived
    np.testing.assert_array_equal(stays.triaged, risk > threshold)
    if threshold == 0.0:
        assert stays.triaged.all()
    if threshold == 1.0:
        assert not stays.triaged.any()
    if stays.triaged.any() and (~stays.triaged).any():
        assert risk[stays.triaged].min() > risk[~stays.triaged].max()
    # Every patient who left the ICU queue for a bed was in the ICU; deaths once each.
    assert run.arrived == run.discharged + run.died + run.in_hospital
    assert run.died <= int(stays.died.sum())


def test_triage_is_deterministic_and_threshold_one_changes_nothing() -> None:
    run_none, stays_none, _ = _simulate(None)
    run_one, stays_one, _ = _simulate(1.0)
    assert (run_none.discharged, run_none.died) == (run_one.discharged, run_one.died)
    np.testing.assert_array_equal(run_none.occupancy, run_one.occupancy)
    np.testing.assert_array_equal(stays_none.visited_icu, stays_one.visited_icu)
    run_a, stays_a, _ = _simulate(0.6)
    run_b, stays_b, _ = _simulate(0.6)
    np.testing.assert_array_equal(run_a.occupancy, run_b.occupancy)
    np.testing.assert_array_equal(run_a.queue_days, run_b.queue_days)
    np.testing.assert_array_equal(stays_a.died, stays_b.died)
    np.testing.assert_array_equal(stays_a.visited_icu, stays_b.visited_icu)
    with pytest.raises(InvalidInputError, match="one risk per admitted patient"):
        simulate_hospital(
            HOSPITAL, COUNTS, entry_unit="ward", icu_unit="icu", seed=5, twins=SETTINGS,
            triage=TriageOrders(np.zeros(3), 0.5),
        )  # fmt: skip
    with pytest.raises(InvalidInputError, match="threshold"):
        TriageOrders(np.zeros(3), 1.5)


def test_bad_triage_and_season_sections_are_clear_errors() -> None:
    with pytest.raises(ResourceValidationError, match="share_back 'triage' needs model"):
        _world(model="cox", share_back="triage")
    world = _world(patients=False, data="twins", share_back="model-card")
    with pytest.raises(InvalidInputError, match="own twin patients"):
        train_federation(world, RandomStreams(0))
