"""Region -> hospitals: every admission routed to exactly one hospital, days aligned to hours."""

from __future__ import annotations

import numpy as np
import pytest

from healthtwin.coupling.region_hospital import (
    Catchment,
    admission_hours,
    route_admissions,
    simulate_routed,
)
from healthtwin.errors import InvalidInputError, ShapeError
from healthtwin.hospital.config import HospitalConfig

CATCHMENT = Catchment(("a", "b"), ("h1", "h2", "h3"), np.array([[0.5, 0.5, 0.0], [0.0, 0.2, 0.8]]))


def _hospital(ward_los: dict[str, object], ward_beds: int = 50) -> HospitalConfig:
    return HospitalConfig.model_validate(
        {
            "units": {
                "ward": {"kind": "ward", "beds": ward_beds, "los_hours": ward_los},
                "icu": {"kind": "icu", "beds": 3, "los_hours": {"dist": "fixed", "mean": 72}},
            },
            "pathways": {
                "ward": {"icu": 0.2, "discharge": 0.7, "death": 0.1},
                "icu": {"discharge": 0.6, "death": 0.4},
            },
        }
    )


def test_routing_conserves_every_admission_by_region_day_and_age() -> None:
    rng = np.random.default_rng(1)
    admissions = rng.poisson(6.0, size=(3, 20, 2, 4)).astype(float)
    routed = route_admissions(admissions, CATCHMENT, np.random.default_rng(2))
    assert routed.shape == (3, 20, 2, 4, 3)
    np.testing.assert_array_equal(routed.sum(axis=-1), admissions)
    # Region a never goes to h3, region b never to h1.
    assert routed[:, :, 0, :, 2].sum() == 0
    assert routed[:, :, 1, :, 0].sum() == 0


def test_routing_follows_the_shares() -> None:
    admissions = np.full((1, 2000, 2), 10.0)
    routed = route_admissions(admissions, CATCHMENT, np.random.default_rng(3))
    share_b = routed[0, :, 1].sum(axis=0) / 20_000
    # Binomial(20000, 0.2): 99 % interval half-width 2.58 * sqrt(0.16 / 20000) = 0.0073.
    assert abs(share_b[1] - 0.2) < 0.0073


def test_routing_rejects_fractions_and_wrong_regions() -> None:
    with pytest.raises(InvalidInputError, match="stochastic"):
        route_admissions(np.full((1, 2, 2), 0.5), CATCHMENT, np.random.default_rng(0))
    with pytest.raises(ShapeError, match="regions"):
        route_admissions(np.ones((1, 2, 3)), CATCHMENT, np.random.default_rng(0))
    with pytest.raises(InvalidInputError, match=r"sum to 0\.9"):
        Catchment(("a",), ("h",), np.array([[0.9]]))


def test_admissions_of_day_d_arrive_within_its_24_hours() -> None:
    counts = np.array([3, 0, 5, 1])
    t = admission_hours(counts, np.random.default_rng(0))
    assert t.size == 9
    assert np.all(np.diff(t) >= 0)
    np.testing.assert_array_equal(np.bincount((t // 24).astype(int), minlength=4), counts)


def test_a_routed_hospital_admits_every_patient_once() -> None:
    counts = np.random.default_rng(4).poisson(4.0, size=30)
    run = simulate_routed(
        _hospital({"dist": "exponential", "mean": 100.0}), counts, entry_unit="ward", seed=5
    )
    assert run.arrived == counts.sum()
    assert run.refused == 0
    assert run.arrived == run.discharged + run.died + run.in_hospital
    np.testing.assert_array_equal(run.admissions, counts)
    assert run.occupancy.shape == (30, 2)
    assert np.all(run.occupancy >= 0)
    assert np.all(run.occupancy <= run.beds + 1e-9)


def test_bed_days_equal_stay_hours_over_24() -> None:
    # One patient, a fixed 60-hour stay, no ICU: 2.5 bed-days spread over the days.
    config = HospitalConfig.model_validate(
        {
            "units": {
                "ward": {"kind": "ward", "beds": 2, "los_hours": {"dist": "fixed", "mean": 60}}
            },
            "pathways": {"ward": {"discharge": 1.0}},
        }
    )
    run = simulate_routed(config, [1, 0, 0, 0, 0], entry_unit="ward", seed=0)
    assert run.occupancy[:, 0].sum() == pytest.approx(2.5)
    assert run.discharged == 1
    assert run.in_hospital == 0


def test_same_seed_same_run_and_unknown_entry_unit() -> None:
    config = _hospital({"dist": "lognormal", "mean": 80.0, "cv": 0.7})
    a = simulate_routed(config, [5, 3, 8], entry_unit="ward", seed=9, replication=2)
    b = simulate_routed(config, [5, 3, 8], entry_unit="ward", seed=9, replication=2)
    np.testing.assert_array_equal(a.occupancy, b.occupancy)
    assert (a.died, a.discharged) == (b.died, b.discharged)
    with pytest.raises(InvalidInputError, match="entry_unit"):
        simulate_routed(config, [1], entry_unit="ed", seed=0)


def test_daily_deaths_discharges_and_icu_queues_add_up_to_the_whole_run() -> None:
    from healthtwin.core.random import RandomStreams
    from healthtwin.coupling.region_hospital import routed_draws, run_by_day
    from healthtwin.hospital.engine_fast import run_fast
    from healthtwin.hospital.model import compile_model

    counts = np.array([12, 10, 8, 0, 0, 0, 0, 0, 0, 0])
    cfg = _hospital({"dist": "exponential", "mean": 20.0})
    run = simulate_routed(cfg, counts, entry_unit="ward", seed=4)
    assert run.deaths_per_day.sum() == run.died > 0
    assert run.discharges_per_day.sum() == run.discharged > 0
    assert (run.deaths_per_day >= 0).all()
    icu = run.units.index("icu")
    # Three ICU beds for about six ICU patients in three days: some wait.
    assert run.queue_days[:, icu].sum() > 0
    assert run.queue_days[:, run.units.index("ward")].sum() == 0
    # The day-by-day waiting is the whole run's, measured by the engine over the horizon;
    # asking for it leaves the metrics unchanged.
    model = compile_model(cfg)
    streams = RandomStreams(4)
    arrival = admission_hours(counts, streams.generator("hospital/rep0/admissions"))
    draws = routed_draws(model, arrival, model.names.index("ward"), streams, 0)
    waited = [0.0, 0.0]
    with_queue = run_fast(model, draws, counts.size * 24.0, queue_hours=waited)
    assert with_queue == run_fast(model, draws, counts.size * 24.0)
    assert waited[icu] / 24.0 == pytest.approx(run.queue_days[:, icu].sum())
    again = run_by_day(model, draws, counts)
    np.testing.assert_array_equal(again.deaths_per_day, run.deaths_per_day)
    # A roomy ICU has no queue.
    roomy = simulate_routed(cfg.with_capacity("icu", beds=50), counts, entry_unit="ward", seed=4)
    assert roomy.queue_days.sum() == 0
