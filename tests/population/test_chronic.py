"""Unit tests of the type-2 diabetes microsimulation: rates, population, programme."""

from __future__ import annotations

import math

import numpy as np
import pytest

from healthtwin.errors import (
    InvalidInputError,
    InvalidParameterError,
    ShapeError,
    UnknownModelError,
)
from healthtwin.population.chronic import (
    AgePyramid,
    Population,
    PreventionProgramme,
    project_prevalence,
    project_t2d_programme,
    synthetic_population,
)
from healthtwin.population.chronic_rates import (
    ChronicRates,
    MortalityLaw,
    load_t2d_rates,
    sex_codes,
)
from healthtwin.population.geography import Geography

LAW = MortalityLaw(
    makeham_per_year=np.array([0.002, 0.003]),
    gompertz_per_year=np.array([1e-5, 2e-5]),
    gompertz_slope_per_year=np.array([0.1, 0.1]),
)
PYRAMID = AgePyramid(age_lower=(18, 50), age_upper=(50, 90), female=(50, 30), male=(45, 25))


def _rates(**overrides: object) -> ChronicRates:
    fields: dict[str, object] = {
        "age_lower": (18, 45),
        "age_upper": (45, 110),
        "prediabetes_onset_per_year": np.full((2, 2), 0.02),
        "diabetes_onset_per_year": np.zeros((2, 2)),
        "progression_per_year": np.full((2, 2), 0.05),
        "complication_per_year": np.full((2, 2), 0.01),
        "mortality": LAW,
        "mortality_hr": np.array([1.0, 1.0, 1.9, 3.7]),
    }
    fields.update(overrides)
    return ChronicRates(**fields)  # type: ignore[arg-type]


def test_published_rates_follow_the_data_file() -> None:
    rates = load_t2d_rates()
    assert rates.band_labels == ("18-44", "45-64", "65-74", "75-109")
    # Men 18-44: incidence 5.5/1000, prediabetes 24.3 % of adults, diabetes 1.76 %.
    share = 0.243 / (1 - 0.0176)
    assert rates.progression_per_year[0, 1] == pytest.approx(0.0055 / share)
    assert rates.prediabetes_onset_per_year[0, 1] == pytest.approx(0.0055 / (1 - share))
    assert rates.complication_per_year[2, 0] == pytest.approx(0.00983)
    np.testing.assert_allclose(rates.mortality_hr, [1.0, 1.0, 1.9, 3.7])
    # Men die faster than women at 60 under the fitted law; hazards rise with age.
    assert (
        rates.mortality.hazard(np.array([60.0]), np.array([1]))[0]
        > rates.mortality.hazard(np.array([60.0]), np.array([0]))[0]
    )
    assert rates.mortality.hazard(np.array([80.0]), np.array([0]))[0] > 0.03


def test_negative_rate_is_rejected_with_its_position() -> None:
    bad = np.full((2, 2), 0.05)
    bad[1, 0] = -0.01
    with pytest.raises(InvalidParameterError, match=r"progression_per_year\[1, 0\] is -0.01"):
        _rates(progression_per_year=bad)


def test_non_contiguous_bands_are_rejected() -> None:
    with pytest.raises(InvalidParameterError, match="not contiguous: band 0 ends at 40"):
        _rates(age_lower=(18, 45), age_upper=(40, 110))


def test_rate_table_of_wrong_shape_is_rejected() -> None:
    with pytest.raises(ShapeError, match=r"expected \(2, 2\)"):
        _rates(complication_per_year=np.zeros((3, 2)))


def test_baseline_shares_cannot_exceed_one() -> None:
    with pytest.raises(InvalidParameterError, match="exceeds 1"):
        _rates(baseline_prediabetes=np.full((2, 2), 0.7), baseline_diabetes=np.full((2, 2), 0.4))


def test_unknown_sex_label_is_rejected() -> None:
    assert sex_codes(["F", "m", "Female"]).tolist() == [0, 1, 0]
    with pytest.raises(InvalidInputError, match="unknown sex label 'x' at position 1"):
        Population.from_arrays([40, 50], ["female", "x"])


def test_unknown_stage_and_bad_age_are_rejected() -> None:
    with pytest.raises(InvalidInputError, match="unknown stage 'sick'"):
        Population.from_arrays([40], ["female"], ["sick"])
    with pytest.raises(InvalidInputError, match="finite and >= 0"):
        Population.from_arrays([-1.0], ["female"])


@pytest.mark.parametrize("n", [0, -5, 2.5, True])
def test_population_size_below_one_is_rejected(n: object) -> None:
    with pytest.raises(InvalidParameterError, match="n must be an integer >= 1"):
        synthetic_population(n, age_pyramid=PYRAMID)  # type: ignore[arg-type]


def test_bad_projection_arguments_are_rejected() -> None:
    pop = synthetic_population(10, age_pyramid=PYRAMID)
    with pytest.raises(InvalidParameterError, match="years must be an integer >= 1"):
        project_prevalence(pop, _rates(), years=0)
    with pytest.raises(InvalidParameterError, match="replicates"):
        project_prevalence(pop, _rates(), years=1, replicates=0)
    with pytest.raises(InvalidParameterError, match="uptake must be in"):
        PreventionProgramme(uptake=1.5, start_year=2025)
    with pytest.raises(InvalidParameterError, match="waning_half_life_years"):
        PreventionProgramme(uptake=0.5, start_year=2025, waning_half_life_years=0)


def test_synthetic_population_is_reproducible_and_matches_baseline_shares() -> None:
    rates = load_t2d_rates()
    pyramid = AgePyramid(age_lower=(45,), age_upper=(65,), female=(1,), male=(0,))
    pop = synthetic_population(40_000, age_pyramid=pyramid, rates=rates, seed=4)
    again = synthetic_population(40_000, age_pyramid=pyramid, rates=rates, seed=4)
    np.testing.assert_array_equal(pop.stage, again.stage)
    assert pop.age_years.min() >= 45
    assert pop.age_years.max() < 65
    assert (pop.sex == 0).all()
    for stage, share in ((1, 0.417), (2, 0.0868 * (1 - 0.176)), (3, 0.0868 * 0.176)):
        sd = math.sqrt(share * (1 - share) / pop.n)
        # 99 % familywise over the three shares (Bonferroni): z = 2.935.
        assert abs((pop.stage == stage).mean() - share) < 2.935 * sd


def test_age_pyramid_from_geography() -> None:
    geo = Geography(
        regions=("a", "b"),
        age_groups=("0-19", "20-64", "65+"),
        population=np.array([[100.0, 400.0, 100.0], [10.0, 20.0, 30.0]]),
    )
    pyramid = AgePyramid.from_geography(geo, "a", male_fraction=0.25, min_age=18)
    assert pyramid.age_lower == (18.0, 20.0, 65.0)
    assert pyramid.age_upper == (20.0, 65.0, 100.0)
    np.testing.assert_allclose(pyramid.male, [2.5, 100.0, 25.0])
    bad = Geography(regions=("a",), age_groups=("young",), population=np.array([[1.0]]))
    with pytest.raises(InvalidInputError, match="'young' is not 'a-b' or 'a\\+'"):
        AgePyramid.from_geography(bad, "a")


def test_people_are_conserved_and_flows_match_stocks() -> None:
    rates = _rates()
    pop = synthetic_population(3000, age_pyramid=PYRAMID, rates=rates, seed=1)
    run = project_prevalence(pop, rates, years=6, replicates=3, seed=2)
    np.testing.assert_array_equal(run.occupancy.sum(axis=-1), 3000)
    np.testing.assert_array_equal(np.diff(run.occupancy[..., 4], axis=1), run.deaths)
    # Complicated stock changes by complications in, minus deaths of complicated people.
    change = np.diff(run.occupancy[..., 3], axis=1)
    np.testing.assert_array_equal(change, run.transitions[..., 3] - run.deaths_by_stage[..., 3])
    assert (run.person_years <= 3000 + 1e-9).all()
    assert (run.person_years > 0).all()
    assert run.quantiles("prevalence", (0.1, 0.9)).shape == (2, 6)
    with pytest.raises(UnknownModelError, match="choose one of"):
        run.quantiles("wellbeing")


def test_common_random_numbers_across_arms() -> None:
    rates = _rates()
    pop = synthetic_population(2000, age_pyramid=PYRAMID, seed=7)
    base = project_prevalence(pop, rates, years=5, replicates=2, seed=9)
    same = project_prevalence(pop, rates, years=5, replicates=2, seed=9)
    # A programme nobody joins must not shift any random number: identical results.
    idle = PreventionProgramme(uptake=0.0, start_year=0)
    idle_run = project_prevalence(pop, rates, years=5, replicates=2, seed=9, programme=idle)
    other = project_prevalence(pop, rates, years=5, replicates=2, seed=10)
    np.testing.assert_array_equal(base.occupancy, same.occupancy)
    np.testing.assert_array_equal(base.occupancy, idle_run.occupancy)
    assert not np.array_equal(base.occupancy, other.occupancy)
    assert idle_run.participants.sum() == 0


def test_programme_reduces_incidence_and_counts_costs() -> None:
    rates = _rates()
    pop = synthetic_population(4000, age_pyramid=PYRAMID, rates=None, seed=3)
    base = project_prevalence(pop, rates, years=8, replicates=3, seed=1, start_year=2025)
    programme = PreventionProgramme(uptake=0.8, start_year=2027, cost_per_participant=250.0)
    arm = project_prevalence(
        pop, rates, years=8, replicates=3, seed=1, start_year=2025, programme=programme
    )
    effect = arm.compare(base)
    # Nothing changes before the programme starts.
    np.testing.assert_array_equal(effect.cases_averted[:, :2], 0)
    assert (effect.cases_averted.sum(axis=1) > 0).all()
    np.testing.assert_allclose(arm.cost, 250.0 * arm.participants)
    summary = effect.summary()
    assert summary["cost_per_case_averted"][1] > 250.0
    with pytest.raises(ShapeError, match="same population, years"):
        arm.compare(project_prevalence(pop, rates, years=7, replicates=3, seed=1))


def test_waning_effect_halves_each_half_life() -> None:
    programme = PreventionProgramme(uptake=1, start_year=0, waning_half_life_years=4.0)
    np.testing.assert_allclose(
        programme.multiplier(np.array([0.0, 4.0, 8.0])), [0.42, 1 - 0.58 / 2, 1 - 0.58 / 4]
    )


def test_children_have_no_disease_hazard() -> None:
    rates = _rates(prediabetes_onset_per_year=np.full((2, 2), 5.0))
    pop = Population.from_arrays(np.full(500, 5.0), ["male"] * 500)
    run = project_prevalence(pop, rates, years=3, replicates=1, seed=0)
    assert run.transitions.sum() == 0
    assert np.isnan(run.prevalence_by_band).all()


def test_cli_entry_point_returns_both_arms() -> None:
    base, arm, effect = project_t2d_programme(n=800, years=3, replicates=2, uptake=0.5, seed=1)
    assert base.calendar_years.tolist() == [2025, 2026, 2027]
    assert arm.participants.sum() > 0
    assert effect.cases_averted.shape == (2, 3)
    assert 0.05 < float(base.prevalence.mean()) < 0.3
