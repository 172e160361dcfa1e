"""Twins that read their patient, calibrated to the disease's hospital fatality (issue 15)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from healthtwin.coupling.hospital_course import (
    TwinCourse,
    TwinCourseSettings,
    integrate_twins,
    prefetch_twins,
    replication_entropy,
    twin_initial_state,
)
from healthtwin.coupling.twin_calibration import (
    TwinCalibration,
    calibrate_age_factors,
    covariate_multiplier,
    death_curve,
    hospital_fatality,
)
from healthtwin.errors import InvalidParameterError
from healthtwin.hospital.config import HospitalConfig
from healthtwin.population.epidemic_parameters import EpidemicParameters
from healthtwin.scenarios import WorldResult, parse_world, run_world

SETTINGS = TwinCourseSettings()
Z99 = 2.576


@pytest.fixture(scope="module")
def curve() -> Any:
    return death_curve(SETTINGS)


def _dies(z: np.ndarray, multiplier: np.ndarray | float) -> np.ndarray:
    x0, theta = twin_initial_state(SETTINGS, z[0], z[1], multiplier)
    return integrate_twins(x0, theta, SETTINGS, keep_states=False)[1]


def test_a_twin_dies_exactly_above_a_critical_growth() -> None:
    # The calibration's premise: at a given load, death is monotone in the growth rate.
    loads = np.linspace(-3.0, 3.0, 5)
    factors = np.exp(np.linspace(np.log(0.2), np.log(8.0), 16))
    z_load, mult = (a.ravel() for a in np.meshgrid(loads, factors, indexing="ij"))
    died = _dies(np.stack([z_load, np.zeros_like(z_load)]), mult).reshape(5, 16)
    assert (np.diff(died.astype(int), axis=1) >= 0).all()
    assert died[:, -1].all()
    assert not died[0, 0]


def test_each_twin_is_integrated_on_its_own() -> None:
    z = np.random.default_rng(3).standard_normal((2, 40))
    x0, theta = twin_initial_state(SETTINGS, z[0], z[1])
    together, died = integrate_twins(x0, theta, SETTINGS)
    assert together is not None
    for i in (0, 7, 39):
        alone, died_alone = integrate_twins(x0[i : i + 1], theta[i : i + 1], SETTINGS)
        assert alone is not None
        np.testing.assert_array_equal(alone[0], together[i])
        assert died_alone[0] == died[i]


def test_calibrated_twins_die_at_the_target_within_a_binomial_interval(curve: Any) -> None:
    members = [np.ones(1), covariate_multiplier(np.array([70.0, 85.0]), np.array([0.0, 1.0]))]
    target = np.array([0.04, 0.25])
    cal = calibrate_age_factors(curve, target, members)
    assert isinstance(cal, TwinCalibration)
    np.testing.assert_allclose(cal.fatality, target, atol=2e-3)
    # Fresh twins (draws the calibration never saw) at the calibrated factors.
    n = 1200
    z = np.random.default_rng(11).standard_normal((2, n))
    for b in range(2):
        m = cal.age_factor[b] * members[b][np.arange(n) % members[b].size]
        share = _dies(z, m).mean()
        half = Z99 * np.sqrt(target[b] * (1 - target[b]) / n)
        assert abs(share - target[b]) < half, (b, share)


def test_covariates_and_factors_only_push_twins_towards_death(curve: Any) -> None:
    older = covariate_multiplier(np.array([40.0, 60.0, 80.0, 80.0]), None, None)
    assert older[0] < older[1] == 1.0 < older[2]
    sick = covariate_multiplier(np.full(2, 60.0), np.array([0.0, 1.0]), np.array([1.0, 1.0]))
    assert sick[1] > sick[0] > 1.0
    z = np.random.default_rng(5).standard_normal((2, 300))
    base, faster = _dies(z, 1.0), _dies(z, 1.6)
    assert (faster >= base).all()
    assert faster.sum() > base.sum()
    cal = calibrate_age_factors(curve, np.array([0.0, 1.0]), [np.ones(1)] * 2)
    assert cal.fatality.tolist() == [0.0, 1.0]
    with pytest.raises(InvalidParameterError, match="target fatality"):
        calibrate_age_factors(curve, np.array([1.5]), [np.ones(1)])


def test_hospital_fatality_is_the_ward_and_icu_branches() -> None:
    p = EpidemicParameters(
        r0=2.0, icu_fraction=[0.1, 0.3], ward_death_fraction=[0.02, 0.2], icu_death_fraction=0.5
    )
    np.testing.assert_allclose(hospital_fatality(p, 2), [0.9 * 0.02 + 0.05, 0.7 * 0.2 + 0.15])


def test_a_course_knows_its_patients_and_gives_them_the_same_twins_later() -> None:
    cfg = HospitalConfig.model_validate(
        {
            "units": {
                "ward": {"kind": "ward", "beds": 5, "los_hours": {"dist": "fixed", "mean": 24}}
            },
            "pathways": {"ward": {"discharge": 1.0}},
        }
    )
    growth = np.exp(np.random.default_rng(2).normal(0.0, 0.3, 150))
    cache: dict[tuple[int, int, int], Any] = {}

    def prognoses(n: int, shared: dict[tuple[int, int, int], Any] | None) -> np.ndarray:
        course = TwinCourse(cfg, seed=4, twin_cache=shared, growth_multiplier=growth[:n])
        course.start(np.random.default_rng(9))
        return np.array([course.prognosis(p) for p in range(n)])

    early = prognoses(70, cache)  # a block and a part of one
    later = prognoses(150, cache)  # extends the cached part
    fresh = prognoses(150, None)
    np.testing.assert_array_equal(later[:70], early)
    np.testing.assert_array_equal(later, fresh)
    # Twins integrated in one batch with another hospital's are the same twins.
    batch: dict[tuple[int, int, int], Any] = {}
    entropy = replication_entropy(np.random.default_rng(9))
    courses = [(4, entropy, growth[:100]), (5, entropy, growth[:30])]
    assert prefetch_twins(SETTINGS, courses, batch) == 130
    courses[0] = (4, entropy, growth)
    assert prefetch_twins(SETTINGS, courses, batch) == 50  # only the new ones
    np.testing.assert_array_equal(prognoses(150, batch), fresh)
    assert len(batch) == 4  # 3 blocks of one course, 1 of the other: nothing recomputed
    other = TwinCourse(cfg, seed=4, growth_multiplier=growth[:10])
    other.start(np.random.default_rng(9))
    with pytest.raises(InvalidParameterError, match="patient 10 has none"):
        other.prognosis(10)


# -- a small world: deaths by age band against the disease's hospital fatality --------------

WARD = {"ward": {"kind": "ward", "beds": 400, "los_hours": {"dist": "exponential", "mean": 60}}}
ICU = {"icu": {"kind": "icu", "beds": 200, "los_hours": {"dist": "exponential", "mean": 90}}}
DISEASE = {
    "r0": 3.0,
    "latent_period_days": 2.0,
    "infectious_period_days": 3.0,
    "hospitalised_fraction": [0.02, 0.04, 0.3],
    "icu_fraction": [0.1, 0.2, 0.3],
    "ward_death_fraction": [0.01, 0.05, 0.2],
    "icu_death_fraction": [0.1, 0.3, 0.5],
}


def _world(twin: dict[str, Any], line: dict[str, Any] | None = None) -> dict[str, Any]:
    world: dict[str, Any] = {"days": 45, "replicates": 2, "seed": 8, "countries": [{
        "name": "X",
        "geography": {"age_groups": ["0-19", "20-64", "65+"], "age_shares": [0.2, 0.6, 0.2],
                      "regions": [{"name": "c", "population": 12000}]},
        "disease": DISEASE,
        "initial_infected": {"c": 600},
        "patients": {"course": "twins", "cohort_size": 120, "twin": twin},
        "hospitals": [{"name": "h", "region": "c", "catchment_share": 1.0,
                       "config": {"units": {**WARD, **ICU},
                                  "pathways": {"ward": {"icu": 0.2, "discharge": 0.8},
                                               "icu": {"discharge": 1.0}}}}]}]}  # fmt: skip
    if line is not None:
        world["feedback"] = {"occupancy_line": line}
    return world


@pytest.fixture(scope="module")
def calibrated() -> WorldResult:
    return run_world(parse_world(_world({})))


def test_hospital_deaths_by_age_band_match_the_disease_fatality(calibrated: WorldResult) -> None:
    target = hospital_fatality(EpidemicParameters(**DISEASE), 3)
    c = calibrated.countries[0]
    bands = calibrated.summary()["countries"]["X"]["hospitals"]["h"]["patients"]["by_age_band"]
    total = 0
    for b, label in enumerate(("0-19", "20-64", "65+")):
        n, died = bands[label]["patients"], bands[label]["deaths"]
        total += died
        if n < 30:
            continue
        half = Z99 * np.sqrt(target[b] * (1 - target[b]) / n) + 0.5 / n
        assert abs(died / n - target[b]) < half, (label, n, died, target[b])
    assert sum(v["patients"] for v in bands.values()) == int(c.routed.sum()) > 300
    # Deaths in the run are the twins' deaths before its end (the rest die after it).
    assert 0.9 * total <= c.hospital_deaths().sum() <= total


def test_without_calibration_the_factors_are_one_and_fewer_twins_die(
    calibrated: WorldResult,
) -> None:
    plain = run_world(parse_world(_world({"calibrate": False})))
    bands = plain.summary()["countries"]["X"]["hospitals"]["h"]["patients"]["by_age_band"]
    assert {v["twin_growth_factor"] for v in bands.values()} == {1.0}
    tuned = calibrated.summary()["countries"]["X"]["hospitals"]["h"]["patients"]["by_age_band"]
    assert tuned["65+"]["twin_growth_factor"] > 1.0
    assert tuned["65+"]["deaths"] > bands["65+"]["deaths"]


def test_the_loop_sees_the_twins_the_results_report() -> None:
    # Twins read their age band and member: matched before the hospitals run, day by day.
    line = {"line": 0.2, "contact_scale": 0.5, "review_every_days": 6}
    result = run_world(parse_world(_world({}, line)))
    c = result.countries[0]
    assert len(c.reviews) >= 5
    occupancy = c.hospital_occupancy()
    for review in c.reviews:
        np.testing.assert_array_equal(review.occupancy, occupancy[:, review.day, :])
