"""Ages from region to hospital: admitted patients matched to cohort members by age band."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from healthtwin.errors import InvalidInputError
from healthtwin.scenarios import parse_world, run_world
from healthtwin.scenarios.ages import age_band_edges, match_members, patient_bands
from healthtwin.synthetic.cohort import generate_cohort


def test_patient_bands_keep_each_days_counts_in_arrival_blocks() -> None:
    counts = np.array([[3, 0, 2], [0, 0, 0], [1, 4, 0]])
    bands = patient_bands(counts, np.random.default_rng(1))
    assert bands.size == counts.sum()
    np.testing.assert_array_equal(np.bincount(bands[:5], minlength=3), counts[0])
    np.testing.assert_array_equal(np.bincount(bands[5:], minlength=3), counts[2])
    with pytest.raises(InvalidInputError, match="by_day_and_band"):
        patient_bands(np.array([1, 2]), np.random.default_rng(0))


def test_members_come_from_the_patients_band_or_the_nearest_filled_one() -> None:
    edges = np.array([0.0, 20.0, 65.0])
    ages = np.array([30.0, 40.0, 70.0, 80.0, 90.0])
    bands = np.array([2, 2, 1, 0, 2, 1])
    chosen = match_members(bands, ages, edges)
    own = np.searchsorted(edges, ages[chosen], side="right") - 1
    np.testing.assert_array_equal(own[bands > 0], bands[bands > 0])
    assert own[bands == 0].tolist() == [1]  # no member under 20: the 20-64 band
    assert chosen[bands == 2].tolist() == [2, 3, 4]  # in turn
    assert age_band_edges(["under 5"]) is None
    assert age_band_edges(["5+", "0-4"]) is None


def _world() -> dict[str, Any]:
    units = {
        "ward": {"kind": "ward", "beds": 200, "los_hours": {"dist": "exponential", "mean": 50}},
        "icu": {"kind": "icu", "beds": 20, "los_hours": {"dist": "exponential", "mean": 90}},
    }
    return {"days": 35, "replicates": 2, "seed": 5, "countries": [{
        "name": "X",
        "geography": {"age_groups": ["0-19", "20-64", "65+"], "age_shares": [0.3, 0.5, 0.2],
                      "regions": [{"name": "c", "population": 200000}]},
        "disease": {"r0": 2.5, "hospitalised_fraction": [0.001, 0.01, 0.3]},
        "initial_infected": {"c": 400},
        "patients": {"course": "distribution", "cohort_size": 400},
        "hospitals": [{"name": "h", "region": "c", "catchment_share": 1.0,
                       "config": {"units": units,
                                  "pathways": {"ward": {"icu": 0.1, "discharge": 0.9},
                                               "icu": {"discharge": 1.0}}}}]}]}  # fmt: skip


def test_admitted_patients_are_as_old_as_the_epidemics_admissions() -> None:
    world = parse_world(_world())
    result = run_world(world)
    c = result.countries[0]
    assert c.routed.sum() > 100
    cohort = result.summary()["countries"]["X"]["hospitals"]["h"]["patients"]["admitted_cohort"]
    # Every admitted patient found a member of their own band (the cohort spans 18-90).
    assert cohort["age_band_matched_share"] > 0.95
    # Most admissions are 65+ (hospitalised fraction 0.3 vs 0.01): the admitted members are
    # far older than the cohort they are drawn from (not member p mod size).
    spec = world.countries[0].patients
    assert spec is not None
    members = generate_cohort(spec.cohort_spec(), spec.cohort_size, seed=0)
    assert cohort["age_years"] > float(np.mean(members.columns["age_years"])) + 10.0
    assert cohort["age_years"] >= 65.0 - 5.0


def test_matching_the_first_days_matches_those_patients_as_the_whole_run_does() -> None:
    # Prefix consistency: the hospital loop's reviews see the first d days only.
    from healthtwin.scenarios.ages import AdmittedPatients

    counts = np.random.default_rng(4).poisson(3.0, (20, 3))
    ages = np.array([25.0, 40.0, 55.0, 70.0, 85.0, 66.0])
    patients = AdmittedPatients(
        lambda rep: np.random.default_rng(rep),
        np.array([0.5, 1.0, 2.0]),
        ages,
        np.linspace(1.0, 1.5, ages.size),
        np.array([0.0, 20.0, 65.0]),
    )
    whole_bands, whole_members = patients.match(3, counts)
    assert whole_members is not None
    whole_growth = patients.growth(whole_bands, whole_members)
    for days in (1, 7, 13):
        bands, members = patients.match(3, counts[:days])
        n = int(counts[:days].sum())
        np.testing.assert_array_equal(bands, whole_bands[:n])
        np.testing.assert_array_equal(members, whole_members[:n])
        np.testing.assert_array_equal(patients.growth(bands, members), whole_growth[:n])
    # Each patient's twin growth is their band's factor times their member's covariates.
    own = np.searchsorted([0.0, 20.0, 65.0], ages[whole_members], side="right") - 1
    assert (own[whole_bands > 0] == whole_bands[whole_bands > 0]).all()
    expected = np.array([0.5, 1.0, 2.0])[whole_bands] * np.linspace(1.0, 1.5, 6)[whole_members]
    np.testing.assert_allclose(whole_growth, expected)
