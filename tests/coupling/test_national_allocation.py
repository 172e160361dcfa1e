"""Nation -> region -> hospital allocations: conservation, floors, shapes, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthtwin.coupling.national_allocation import (
    VaccineCampaign,
    capacity_schedule,
    reallocate_icu_beds,
    split_doses,
    split_to_hospitals,
)
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError
from healthtwin.population.allocation import unmet_demand
from healthtwin.population.controls import Observed


def _demand(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.poisson([12.0, 2.0, 6.0], size=(20, 15, 3)).astype(float)


def test_reallocation_conserves_the_national_stock_and_cuts_unmet_demand() -> None:
    beds = np.array([4, 10, 6])
    plan = reallocate_icu_beds(_demand(), beds, day=5)
    assert plan.after.sum() == beds.sum()
    np.testing.assert_array_equal(plan.before, beds)
    assert plan.after[0] > beds[0]
    assert plan.after[1] < beds[1]
    assert plan.unmet_after < plan.unmet_before
    per_path, _ = unmet_demand(_demand(), plan.after)
    assert plan.unmet_after == pytest.approx(per_path.mean())
    assert plan.moved == int(np.abs(plan.after - beds).sum() // 2) > 0


def test_a_fixed_share_of_beds_stays_in_each_region() -> None:
    beds = np.array([4, 10, 6])
    plan = reallocate_icu_beds(_demand(), beds, day=5, movable_fraction=0.25)
    assert (plan.after >= np.ceil(beds * 0.75)).all()
    assert plan.after.sum() == beds.sum()
    frozen = reallocate_icu_beds(_demand(), beds, day=5, movable_fraction=0.0)
    np.testing.assert_array_equal(frozen.after, beds)
    assert frozen.moved == 0


def test_beds_nobody_needs_stay_where_they_are() -> None:
    beds = np.array([4, 10, 6])
    idle = reallocate_icu_beds(np.zeros((3, 5, 3)), beds, day=1)
    np.testing.assert_array_equal(idle.after, beds)
    demand = np.zeros((2, 4, 3))
    demand[:, :, 0] = 7.0  # region 0 needs 3 more; only region 1's spare beds should move
    demand[:, :, 2] = 6.0
    plan = reallocate_icu_beds(demand, beds, day=1)
    assert plan.after.tolist() == [7, 7, 6]
    assert plan.unmet_after == 0.0


def test_a_plan_that_saves_too_little_per_bed_moved_is_not_carried_out() -> None:
    beds = np.array([4, 10, 6])
    demand = np.zeros((2, 10, 3))
    demand[:, :, 0] = 5.0  # one more bed in region 0 saves 10 bed-days
    plan = reallocate_icu_beds(demand, beds, day=1)
    assert plan.after.tolist() == [5, 9, 6]
    assert plan.unmet_before - plan.unmet_after == pytest.approx(10.0)
    # 10 bed-days for 1 bed: carried out under a threshold of 10, not above it.
    assert reallocate_icu_beds(demand, beds, day=1, min_gain_per_bed=10.0).moved == 1
    held = reallocate_icu_beds(demand, beds, day=1, min_gain_per_bed=10.5)
    np.testing.assert_array_equal(held.after, beds)
    assert held.moved == 0
    assert held.unmet_after == held.unmet_before == pytest.approx(10.0)
    with pytest.raises(InvalidParameterError, match="min_gain_per_bed"):
        reallocate_icu_beds(demand, beds, day=1, min_gain_per_bed=-1.0)


def test_the_scenario_planner_moves_only_for_a_bed_day_per_bed_by_default() -> None:
    from healthtwin.scenarios.world import NationalSpec

    spec = NationalSpec.model_validate({"days": [10]})
    assert spec.min_gain_per_bed == 1.0
    assert spec.horizon_days == 14
    with pytest.raises(ValueError, match="min_gain_per_bed"):
        NationalSpec.model_validate({"days": [10], "min_gain_per_bed": -0.5})


def test_cvar_objective_also_conserves() -> None:
    beds = np.array([3, 3, 3])
    plan = reallocate_icu_beds(_demand()[:6, :5], beds, day=0, objective="cvar", alpha=0.8)
    assert plan.after.sum() == 9


@settings(max_examples=60, deadline=None)
@given(
    beds=st.lists(st.integers(0, 40), min_size=1, max_size=6),
    data=st.data(),
)
def test_what_the_nation_allocates_equals_what_hospitals_receive(
    beds: list[int], data: st.DataObject
) -> None:
    n_regions = len(beds)
    n_hospitals = data.draw(st.integers(n_regions, n_regions + 4))
    where = np.concatenate(
        [
            np.arange(n_regions),
            data.draw(
                st.lists(
                    st.integers(0, n_regions - 1),
                    min_size=n_hospitals - n_regions,
                    max_size=n_hospitals - n_regions,
                )
            ),
        ]
    ).astype(np.int64)
    weights = np.array(
        data.draw(st.lists(st.integers(0, 9), min_size=where.size, max_size=where.size)),
        dtype=float,
    )
    region_beds = np.array(beds, dtype=np.int64)
    out = split_to_hospitals(region_beds, where, weights)
    assert (out >= 0).all()
    received = np.bincount(where, weights=out, minlength=n_regions)
    np.testing.assert_array_equal(received, region_beds)


def test_split_follows_weights_and_refuses_orphans() -> None:
    out = split_to_hospitals(np.array([10, 3]), np.array([0, 0, 1]), np.array([3.0, 1.0, 0.0]))
    assert out.tolist() == [8, 2, 3]  # 7.5/2.5 rounded by largest remainder; zero weights share
    with pytest.raises(InvalidInputError, match="no hospital"):
        split_to_hospitals(np.array([1, 2]), np.array([0]), np.array([1.0]))
    with pytest.raises(ShapeError):
        split_to_hospitals(np.array([1]), np.array([0, 0]), np.array([1.0]))


def test_schedule_holds_each_change_from_its_day() -> None:
    sched = capacity_schedule(np.array([5, 5]), [(4, np.array([7, 3])), (2, np.array([6, 4]))], 6)
    assert sched.shape == (6, 2)
    assert sched[:, 0].tolist() == [5, 5, 6, 6, 7, 7]
    assert (sched.sum(axis=1) == 10).all()
    with pytest.raises(ShapeError):
        capacity_schedule(np.array([5, 5]), [(1, np.array([10]))], 3)


def test_doses_are_conserved() -> None:
    doses = split_doses(900.0, np.array([1.0, 2.0, 0.0]))
    assert doses.sum() == pytest.approx(900.0)
    assert doses[2] == 0.0
    with pytest.raises(InvalidInputError):
        split_doses(10.0, np.zeros(3))
    with pytest.raises(InvalidParameterError):
        split_doses(-1.0, np.ones(2))


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ShapeError, match="forecast_demand"):
        reallocate_icu_beds(np.zeros((2, 3, 4)), np.array([1, 2]), day=0)
    with pytest.raises(InvalidParameterError, match="movable_fraction"):
        reallocate_icu_beds(np.zeros((2, 3, 2)), np.array([1, 2]), day=0, movable_fraction=2)
    with pytest.raises(InvalidParameterError, match="whole numbers"):
        reallocate_icu_beds(np.zeros((2, 3, 2)), np.array([1.5, 2]), day=0)


def _seen(day: int, incidence: list[list[float]]) -> Observed:
    inc = np.array(incidence)
    return Observed(day=day, values={"incidence": inc}, population=np.ones_like(inc))


def test_the_vaccine_campaign_offers_exactly_the_national_doses() -> None:
    population = np.array([[100.0, 300.0], [500.0, 100.0], [0.0, 0.0]])
    camp = VaccineCampaign(50.0, population, planning_days=(3,), n_settings=2, start_day=1)
    assert camp(_seen(-1, [[1, 1, 1]] * 2)).vaccine_doses.sum() == 0.0  # day 0: not started
    first = camp(_seen(0, [[9, 0, 0], [0, 9, 0]])).vaccine_doses  # (reps, regions, ages)
    np.testing.assert_allclose(first.sum(axis=(1, 2)), [50.0, 50.0])
    np.testing.assert_allclose(first[0].sum(axis=1), [50 * 400 / 1000, 50 * 600 / 1000, 0])
    np.testing.assert_allclose(first[0, 0], [5.0, 15.0])  # ages by population
    # Planning day 3 (seen at the end of day 2): shares follow each replicate's infections.
    planned = camp(_seen(2, [[9, 0, 0], [0, 3, 1]])).vaccine_doses
    # Region 2 has nobody to vaccinate: its share goes to the others, none is lost.
    np.testing.assert_allclose(planned.sum(axis=2), [[50, 0, 0], [0, 50, 0]])
    held = camp(_seen(3, [[0, 0, 5], [0, 0, 5]])).vaccine_doses  # not a planning day
    np.testing.assert_allclose(held, planned)
    # A new run forgets the last plan.
    again = camp(_seen(0, [[9, 0, 0], [0, 9, 0]])).vaccine_doses
    np.testing.assert_allclose(again, first)


def test_the_campaign_checks_its_inputs() -> None:
    with pytest.raises(InvalidInputError, match="population"):
        VaccineCampaign(10.0, np.zeros((2, 2)), planning_days=(), n_settings=1)
    with pytest.raises(InvalidParameterError):
        VaccineCampaign(-1.0, np.ones((2, 2)), planning_days=(), n_settings=1)
    camp = VaccineCampaign(10.0, np.ones((2, 2)), planning_days=(), n_settings=1)
    with pytest.raises(ShapeError):
        camp(_seen(0, [[1, 1, 1]]))
