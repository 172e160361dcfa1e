"""Interventions and their triggers, driven by hand-made daily observations."""

from __future__ import annotations

import numpy as np
import pytest

from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.population.controls import OBSERVED_QUANTITIES, Observed
from healthtwin.population.geography import Geography
from healthtwin.population.interventions import (
    ContactReduction,
    InterventionPlan,
    SchoolClosure,
    TestingIsolation,
    TravelRestriction,
    VaccinationCampaign,
)
from healthtwin.population.triggers import DateTrigger, ThresholdTrigger

SETTINGS = ("home", "work", "school", "community")
GEO = Geography(
    regions=("north", "south", "east"),
    age_groups=("0-19", "20-64", "65+"),
    population=np.array([[200.0, 600.0, 200.0], [100.0, 300.0, 100.0], [50.0, 100.0, 50.0]]),
)


def observed(day: int, reps: int = 2, **values: list[list[float]]) -> Observed:
    base = {q: np.zeros((reps, GEO.n_regions)) for q in OBSERVED_QUANTITIES}
    base.update({k: np.asarray(v, dtype=float) for k, v in values.items()})
    pop = np.broadcast_to(GEO.population.sum(axis=1), (reps, GEO.n_regions)).copy()
    return Observed(day=day, values=base, population=pop)


def plan(*items: object) -> InterventionPlan:
    return InterventionPlan(list(items), geography=GEO, settings=SETTINGS)  # type: ignore[arg-type]


def test_no_interventions_give_neutral_controls() -> None:
    c = plan().controller(reps=2).first()
    assert np.all(c.contact_scale == 1)
    assert np.all(c.mobility_scale == 1)
    assert np.all(c.isolation == 0)
    assert np.all(c.vaccine_doses == 0)


def test_date_trigger_switches_on_and_off_on_its_days() -> None:
    ctl = plan(
        SchoolClosure(trigger=DateTrigger(start_day=2, end_day=4), regions=("south",))
    ).controller(reps=1)
    school = SETTINGS.index("school")
    seen = [ctl.first().contact_scale[0, 1, school]]
    for day in range(5):
        seen.append(ctl(observed(day, reps=1)).contact_scale[0, 1, school])
    # Controls for days 0..5: closed on days 2 and 3 only.
    assert seen == [1.0, 1.0, 0.0, 0.0, 1.0, 1.0]
    assert ctl(observed(2, reps=1)).contact_scale[0, 0, school] == 1.0  # north untouched


def test_effects_combine_multiplicatively() -> None:
    ctl = plan(
        ContactReduction(settings={"work": 0.8, "community": 0.5}),
        ContactReduction(settings={"work": 0.5}),
        TestingIsolation(fraction=0.5),
        TestingIsolation(fraction=0.5),
        TravelRestriction(factor=0.5, regions=("north",)),
        TravelRestriction(factor=0.5, regions=("north",)),
    ).controller(reps=1)
    c = ctl.first()
    assert c.contact_scale[0, 0].tolist() == pytest.approx([1.0, 0.4, 1.0, 0.5])
    assert c.isolation[0].tolist() == pytest.approx([0.75, 0.75, 0.75])
    assert c.mobility_scale[0].tolist() == pytest.approx([0.25, 1.0, 1.0])


def test_threshold_trigger_decides_per_replicate_and_region_with_hysteresis() -> None:
    trig = ThresholdTrigger(quantity="icu_occupancy", above=10, release_below=4)
    ctl = plan(ContactReduction(settings={"community": 0.5}, trigger=trig)).controller(reps=2)
    community = SETTINGS.index("community")

    def scale(day: int, icu: list[list[float]]) -> list[list[float]]:
        c = ctl(observed(day, icu_occupancy=icu))
        return c.contact_scale[:, :, community].tolist()  # type: ignore[no-any-return]

    assert scale(0, [[11, 0, 0], [0, 0, 0]]) == [[0.5, 1, 1], [1, 1, 1]]
    # Between the release and the switch-on level: stays on.
    assert scale(1, [[6, 0, 0], [0, 12, 0]]) == [[0.5, 1, 1], [1, 0.5, 1]]
    assert scale(2, [[3, 0, 0], [0, 5, 0]]) == [[1, 1, 1], [1, 0.5, 1]]


def test_national_per_capita_threshold_with_reporting_delay() -> None:
    # 1,700 people: 17 ICU patients is 1,000 per 100k.
    trig = ThresholdTrigger(
        quantity="icu_occupancy", above=900, scope="national", per_100k=True, delay_days=1
    )
    ctl = plan(TestingIsolation(fraction=0.4, trigger=trig)).controller(reps=1)
    assert ctl(observed(0, reps=1, icu_occupancy=[[10, 5, 2]])).isolation.tolist() == [[0, 0, 0]]
    # The day-0 value (above the line) acts one day late, on every region at once.
    assert ctl(observed(1, reps=1, icu_occupancy=[[0, 0, 0]])).isolation[0].tolist() == (
        pytest.approx([0.4, 0.4, 0.4])
    )


def test_min_days_keeps_an_intervention_on() -> None:
    trig = ThresholdTrigger(quantity="cases", above=5, release_below=1, min_days=3)
    ctl = plan(TravelRestriction(factor=0.0, trigger=trig)).controller(reps=1)
    values = [10, 0, 0, 0, 0]
    on = [
        bool(ctl(observed(d, reps=1, cases=[[v, 0, 0]])).mobility_scale[0, 0] == 0)
        for d, v in enumerate(values)
    ]
    assert on == [True, True, True, False, False]


def test_vaccination_follows_age_priority_region_shares_and_coverage() -> None:
    campaign = VaccinationCampaign(daily_doses=150, max_coverage=0.5)
    ctl = plan(campaign).controller(reps=1)
    day0 = ctl.first().vaccine_doses[0]
    # Shared by population (1000:500:200) and given oldest first.
    assert day0.sum() == pytest.approx(150)
    assert day0.sum(axis=1) == pytest.approx(150 * np.array([1000, 500, 200]) / 1700)
    assert day0[:, :2].sum() == 0
    total = day0.copy()
    for day in range(30):
        total += ctl(observed(day, reps=1)).vaccine_doses[0]
    # Coverage caps at half of every age group.
    assert total == pytest.approx(0.5 * GEO.population)


def test_vaccination_with_explicit_priority_and_shares() -> None:
    campaign = VaccinationCampaign(
        daily_doses=100,
        age_priority=("20-64",),
        region_shares={"east": 1.0},
        max_coverage=1.0,
    )
    doses = plan(campaign).controller(reps=1).first().vaccine_doses[0]
    assert doses[2, 1] == pytest.approx(100)
    assert doses.sum() == pytest.approx(100)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ContactReduction(settings={"pub": 0.5}), "unknown contact settings"),
        (lambda: SchoolClosure(regions=("west",)), "unknown region 'west'"),
        (lambda: VaccinationCampaign(daily_doses=5, age_priority=("90+",)), "unknown age"),
        (lambda: VaccinationCampaign(daily_doses=5, region_shares={"x": 1}), "unknown region"),
    ],
)
def test_plans_name_what_is_unknown(make: object, message: str) -> None:
    with pytest.raises((InvalidParameterError, InvalidInputError), match=message):
        plan(make())  # type: ignore[operator]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ContactReduction(settings={"work": -1}), "finite and >= 0"),
        (lambda: TestingIsolation(fraction=1.5), "between 0 and 1"),
        (lambda: VaccinationCampaign(daily_doses=-1), "daily_doses"),
        (lambda: ThresholdTrigger(quantity="hospital_beds", above=3), "unknown trigger"),
        (lambda: ThresholdTrigger(quantity="cases", above=3, release_below=5), "release_below"),
        (lambda: DateTrigger(start_day=5, end_day=5), "end_day"),
    ],
)
def test_bad_parameters_are_clear_errors(make: object, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        make()  # type: ignore[operator]


def test_schools_need_a_school_setting() -> None:
    with pytest.raises(InvalidParameterError, match="no 'school' setting"):
        InterventionPlan([SchoolClosure()], geography=GEO, settings=("home", "community"))
