"""Capacity that changes during one run of the fast engine (the national planner's moves)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from healthtwin.core.random import RandomStreams
from healthtwin.coupling.region_hospital import admission_hours, routed_draws, run_by_day
from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.hospital.config import HospitalConfig
from healthtwin.hospital.engine_fast import run_fast
from healthtwin.hospital.model import (
    CompiledModel,
    PatientDraws,
    capacity_change,
    compile_model,
)
from healthtwin.scenarios.hospital_runs import simulate_hospital, with_icu_beds

CONFIG = HospitalConfig.model_validate(
    {
        "units": {
            "ward": {"kind": "ward", "beds": 30, "los_hours": {"dist": "exponential", "mean": 80}},
            "icu": {"kind": "icu", "beds": 4, "los_hours": {"dist": "exponential", "mean": 150}},
        },
        "pathways": {
            "ward": {"icu": 0.3, "discharge": 0.65, "death": 0.05},
            "icu": {"ward": 0.5, "discharge": 0.2, "death": 0.3},
        },
    }
)
COUNTS = np.full(40, 6, dtype=np.int64)


def _draws(config: HospitalConfig = CONFIG) -> tuple[CompiledModel, PatientDraws]:
    model = compile_model(config)
    streams = RandomStreams(3)
    arrival = admission_hours(COUNTS, streams.generator("hospital/rep0/admissions"))
    return model, routed_draws(model, arrival, model.names.index("ward"), streams, 0)


def test_patients_add_up_across_capacity_changes() -> None:
    changes = [(10, 9), (20, 1), (30, 6)]
    run, _ = simulate_hospital(
        CONFIG, COUNTS, entry_unit="ward", icu_unit="icu", seed=3, icu_beds=changes
    )
    assert run.arrived == COUNTS.sum() == run.discharged + run.died + run.in_hospital
    assert run.deaths_per_day.sum() == run.died
    assert run.discharges_per_day.sum() == run.discharged
    assert int(run.beds[run.units.index("icu")]) == 6  # the beds at the end


def test_a_shrunk_icu_keeps_its_patients_and_a_grown_one_admits_its_queue() -> None:
    model, draws = _draws()
    base = run_by_day(model, draws, COUNTS)
    icu = model.names.index("icu")
    assert base.queue_days[:, icu].sum() > 5  # not vacuous: 4 beds are too few
    more = with_icu_beds(CONFIG, "icu", 12)
    grown = run_by_day(
        model,
        draws,
        COUNTS,
        (capacity_change(20 * 24.0, "icu", more),),
    )
    # Identical until the change; from the day of it, the queue is admitted.
    np.testing.assert_array_equal(grown.occupancy[:20], base.occupancy[:20])
    assert grown.queue_days[21:, icu].sum() < 0.5 * base.queue_days[21:, icu].sum()
    assert grown.occupancy[22:, icu].max() > 4
    fewer = with_icu_beds(CONFIG, "icu", 1)
    shrunk = run_by_day(
        model,
        draws,
        COUNTS,
        (capacity_change(20 * 24.0, "icu", fewer),),
    )
    # Nobody is put out of a bed: occupancy falls only as patients leave.
    assert shrunk.occupancy[20, icu] > 1
    assert shrunk.occupancy[30:, icu].max() <= 1 + 1e-9
    assert shrunk.queue_days[21:, icu].sum() > base.queue_days[21:, icu].sum()
    assert shrunk.arrived == shrunk.discharged + shrunk.died + shrunk.in_hospital


def test_a_change_beyond_the_horizon_changes_nothing_and_days_are_prefix_consistent() -> None:
    model, draws = _draws()
    later = (capacity_change(45 * 24.0, "icu", with_icu_beds(CONFIG, "icu", 12)),)
    a = run_fast(model, draws, 40 * 24.0)
    b = run_fast(model, draws, 40 * 24.0, capacity_changes=later)
    assert a == b
    # The run up to day 25 reports, for those days, what the whole run reports.
    change = (capacity_change(10 * 24.0, "icu", with_icu_beds(CONFIG, "icu", 8)),)
    whole = run_by_day(model, draws, COUNTS, change)
    short = run_by_day(
        model,
        replace(draws, arrival_hours=draws.arrival_hours[: int(COUNTS[:25].sum())]),
        COUNTS[:25],
        change,
    )
    np.testing.assert_array_equal(short.occupancy, whole.occupancy[:25])
    np.testing.assert_array_equal(short.deaths_per_day, whole.deaths_per_day[:25])


def test_bad_changes_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="no unit 'ccu'"):
        capacity_change(0.0, "ccu", CONFIG)
    with pytest.raises(InvalidInputError, match=">= 0 hours"):
        capacity_change(-1.0, "icu", CONFIG)
    staffed_cfg = HospitalConfig.model_validate(
        {
            **CONFIG.model_dump(),
            "units": {
                **CONFIG.model_dump()["units"],
                "icu": {
                    **CONFIG.model_dump()["units"]["icu"],
                    "staff": {
                        "patients_per_nurse": 2.0,
                        "shifts": [{"start_hour": 0, "length_hours": 24, "nurses": 2}],
                    },
                },
            },
        }
    )
    model, draws = _draws()
    with pytest.raises(InvalidParameterError, match="must keep it unstaffed"):
        run_fast(
            model,
            draws,
            100.0,
            capacity_changes=(capacity_change(10.0, "icu", staffed_cfg),),
        )
