"""The stochastic engine and simulate_epidemic: reproducibility, controls, results, bad input."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError
from healthtwin.population.chain_binomial import binomial, replicate_generators
from healthtwin.population.compartments import COMPARTMENTS, V
from healthtwin.population.controls import DayControls, Observed
from healthtwin.population.epidemic import QUANTITIES, simulate_epidemic
from healthtwin.population.epidemic_parameters import EpidemicParameters
from healthtwin.population.geography import Geography
from healthtwin.population.mixing import ContactMatrices

AGES = ("young", "old")
MOBILITY = np.array([[0.9, 0.1, 0.0], [0.05, 0.9, 0.05], [0.0, 0.2, 0.8]])


def geography(pop: float = 20_000.0) -> Geography:
    return Geography(
        regions=("north", "centre", "south"),
        age_groups=AGES,
        population=np.array([[pop, pop / 2], [pop / 2, pop / 4], [pop, pop]]),
    )


def contacts() -> ContactMatrices:
    return ContactMatrices(
        settings=("home", "work"),
        age_groups=AGES,
        matrices=np.array([[[3.0, 1.0], [1.0, 2.0]], [[6.0, 1.0], [1.0, 1.0]]]),
    )


PARAMS = EpidemicParameters(r0=2.5, hospitalised_fraction=0.2, icu_fraction=0.3)


def run(**kwargs: Any) -> Any:
    base: dict[str, Any] = {
        "days": 60,
        "replicates": 4,
        "seed": 11,
        "mobility": MOBILITY,
        "initial_infected": {"north": 30},
    }
    base.update(kwargs)
    return simulate_epidemic(geography(), contacts(), PARAMS, **base)


def test_same_seed_same_trajectories_and_different_seed_differs() -> None:
    a, b, c = run(), run(), run(seed=12)
    for q in QUANTITIES:
        np.testing.assert_array_equal(a.get(q), b.get(q))
    assert not np.array_equal(a.incidence, c.incidence)
    assert a.final_state.dtype == np.int64


def test_a_replicate_is_the_same_alone_or_in_an_ensemble() -> None:
    ensemble = run(replicates=5)
    alone = run(replicate_ids=[3])
    pair = run(replicate_ids=[4, 1])
    np.testing.assert_array_equal(alone.incidence[0], ensemble.incidence[3])
    np.testing.assert_array_equal(pair.deaths[0], ensemble.deaths[4])
    np.testing.assert_array_equal(pair.final_state[1], ensemble.final_state[1])
    assert pair.replicate_ids == (4, 1)
    # Replicates differ from each other.
    assert not np.array_equal(ensemble.incidence[0], ensemble.incidence[1])


def test_binomial_skipping_empty_cells_matches_full_draws() -> None:
    n = np.array([[[0, 5, 0, 0, 0, 7]], [[3, 3, 3, 3, 0, 3]]])
    p = np.linspace(0.1, 0.9, 6)
    got = binomial(replicate_generators(5, [0, 1]), n, p)
    gens = replicate_generators(5, [0, 1])
    for r in range(2):
        np.testing.assert_array_equal(got[r], gens[r].binomial(n[r], p))


def test_epidemic_spreads_through_mobility_only() -> None:
    res = run()
    assert res.incidence[:, :, 1].sum(axis=1).min() > 0  # centre infected via commuters
    isolated = run(mobility=None)
    assert isolated.incidence[:, :, 1:].sum() == 0
    assert isolated.incidence[:, :, 0].sum() > 0


def test_outputs_are_consistent() -> None:
    res = run(keep_ages=True, days=80)
    assert res.incidence.shape == (4, 80, 3)
    assert res.get("deaths", by_age=True).shape == (4, 80, 3, 2)
    np.testing.assert_array_equal(res.get("cases", by_age=True).sum(axis=3), res.cases)
    # Every case was infected before (the 30 seeds were infected before day 0).
    assert np.all(res.cases.sum(axis=(1, 2)) <= res.incidence.sum(axis=(1, 2)) + 30)
    assert res.admissions.sum() <= res.cases.sum()
    assert res.icu_admissions.sum() <= res.admissions.sum()
    assert np.all(res.icu_occupancy <= res.hospital_occupancy)
    final = res.final_state
    assert final.shape == (4, len(COMPARTMENTS), 3, 2)
    dead = final[:, COMPARTMENTS.index("D")].sum(axis=2)
    np.testing.assert_array_equal(dead, res.deaths.sum(axis=1))
    assert res.admissions.sum() > 0
    assert res.n_days == 80


@pytest.mark.parametrize("engine", ["stochastic", "ode"])
def test_keeping_ages_does_not_change_the_series(engine: str) -> None:
    with_ages = run(keep_ages=True, days=25, engine=engine)
    without = run(days=25, engine=engine)
    assert without.by_age is None
    for q in QUANTITIES:
        np.testing.assert_allclose(with_ages.get(q), without.get(q), rtol=1e-12)
        np.testing.assert_allclose(with_ages.get(q, by_age=True).sum(axis=3), without.get(q))


def test_quantiles_national_and_frame() -> None:
    res = run(days=20)
    q = res.quantiles("incidence", [0.05, 0.5, 0.95])
    assert q.shape == (3, 20, 3)
    assert np.all(q[0] <= q[1])
    assert np.all(q[1] <= q[2])
    np.testing.assert_array_equal(res.national("cases"), res.cases.sum(axis=2))
    frame = res.to_frame()
    assert list(frame.columns) == ["replicate", "day", "region", "quantity", "value"]
    assert len(frame) == 4 * 20 * 3 * len(QUANTITIES)
    row = frame[(frame.replicate == 2) & (frame.day == 7) & (frame.region == "centre")]
    assert row.set_index("quantity").value["incidence"] == res.incidence[2, 7, 1]
    with pytest.raises(InvalidParameterError, match="quantile levels"):
        res.quantiles("cases", [1.5])
    with pytest.raises(InvalidInputError, match="unknown quantity"):
        res.get("infections")
    with pytest.raises(InvalidInputError, match="keep_ages=True"):
        res.get("cases", by_age=True)


def test_sub_steps_run_and_keep_people() -> None:
    res = run(steps_per_day=4, days=30)
    assert res.final_state.sum(axis=(1, 3)).tolist() == [[30_000, 15_000, 40_000]] * 4


def test_controller_sees_each_day_and_can_stop_transmission() -> None:
    seen: list[int] = []

    def lockdown(obs: Observed) -> DayControls:
        seen.append(obs.day)
        assert obs.get("incidence").shape == (4, 3)
        assert obs.population.shape == (4, 3)
        c = DayControls.none(reps=4, regions=3, settings=2, ages=2)
        return DayControls(
            contact_scale=np.zeros_like(c.contact_scale),
            mobility_scale=c.mobility_scale,
            isolation=c.isolation,
            vaccine_doses=c.vaccine_doses,
        )

    res = run(controller=lockdown, days=30)
    assert seen == list(range(-1, 30))
    assert res.incidence.sum() == 0  # no contacts from day 0: the 30 exposed infect nobody
    assert res.cases.sum() > 0


def test_vaccination_is_capped_by_susceptibles_and_counted() -> None:
    def vaccinate(obs: Observed) -> DayControls:
        c = DayControls.none(reps=2, regions=3, settings=2, ages=2)
        doses = np.zeros((2, 3, 2))
        doses[:, 2, 1] = 5_000.0  # 20,000 people: all vaccinated by day 4 at most
        doses[:, 0, 0] = 1e9  # far more than north/young has
        return DayControls(c.contact_scale, c.mobility_scale, c.isolation, doses)

    res = run(controller=vaccinate, replicates=2, days=10, keep_ages=True)
    vacc = res.get("vaccinated", by_age=True)
    assert vacc[0, 0, 0, 0] == 20_000 - 20  # every susceptible north/young on day 0
    south_old = vacc[:, :, 2, 1]
    np.testing.assert_array_equal(south_old[:, :3], [[5_000.0, 10_000.0, 15_000.0]] * 2)
    # Day 4 takes everyone still susceptible (a few were infected meanwhile), then no more.
    assert np.all(south_old[:, 3] > 19_900)
    assert np.all(south_old[:, 3:] == south_old[:, 3:4])
    assert np.all(np.diff(res.vaccinated, axis=1) >= 0)
    assert res.final_state[:, V].sum() > 0


def test_controller_with_wrong_shapes_is_an_error() -> None:
    def wrong(obs: Observed) -> DayControls:
        return DayControls.none(reps=4, regions=3, settings=4, ages=2)

    with pytest.raises(ShapeError, match="contact_scale"):
        run(controller=wrong)


def test_none_from_the_controller_means_no_intervention() -> None:
    np.testing.assert_array_equal(run(controller=lambda obs: None).incidence, run().incidence)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"days": 0}, InvalidParameterError, "days must be an integer >= 1"),
        ({"replicates": 0}, InvalidParameterError, "replicates"),
        ({"replicate_ids": [1, 1]}, InvalidParameterError, "distinct"),
        ({"steps_per_day": 0}, InvalidParameterError, "steps_per_day"),
        ({"engine": "abm"}, InvalidParameterError, "unknown engine"),
        ({"mobility": np.eye(2)}, ShapeError, r"expected \(regions, regions\) = \(3, 3\)"),
        ({"mobility": np.full((3, 3), 0.5)}, InvalidInputError, "rows must sum to 1"),
        ({"mobility": -np.eye(3) + 2 * np.eye(3)[[1, 2, 0]]}, InvalidInputError, ">= 0"),
        ({"initial_infected": {"west": 3}}, InvalidInputError, "unknown region 'west'"),
        ({"initial_infected": {"north": 1e6}}, InvalidInputError, "cannot seed"),
        ({"initial_infected": {"north": -1}}, InvalidInputError, ">= 0"),
        ({"initial_infected": np.ones((3, 3))}, ShapeError, "initial_infected has shape"),
        ({"initial_infected": np.full((3, 2), 1e5)}, InvalidInputError, "more than its population"),
    ],
)
def test_bad_input_is_rejected(kwargs: dict[str, Any], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        run(**kwargs)


def test_contacts_for_other_age_groups_are_rejected() -> None:
    other = ContactMatrices(settings=("all",), age_groups=("a", "b"), matrices=np.ones((1, 2, 2)))
    with pytest.raises(InvalidInputError, match="age groups"):
        simulate_epidemic(geography(), other, PARAMS, days=5)


def test_mobility_object_with_other_regions_is_rejected() -> None:
    class Mobility:
        regions = ("a", "b", "c")
        fraction = np.eye(3)

    with pytest.raises(InvalidInputError, match="regions differ"):
        run(mobility=Mobility())


def test_per_age_parameters_must_match_the_age_groups() -> None:
    params = EpidemicParameters(r0=2.0, symptomatic_fraction=[0.1, 0.2, 0.3])
    with pytest.raises(ShapeError, match="3 values but the model has 2 age groups"):
        simulate_epidemic(geography(), contacts(), params, days=5)


def test_default_seed_is_in_the_largest_region() -> None:
    res = simulate_epidemic(geography(), contacts(), PARAMS, days=15, replicates=2)
    exposed = res.final_state.sum(axis=3)
    assert res.incidence[:, :, 1].sum() == 0  # no mobility: centre never infected
    assert exposed[:, COMPARTMENTS.index("S"), 2].max() < 40_000  # south (largest) seeded
