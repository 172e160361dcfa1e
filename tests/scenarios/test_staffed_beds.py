"""The national planner moves staffed ICU beds: the nurses come with the beds."""

from __future__ import annotations

import numpy as np

from healthtwin.hospital.config import HospitalConfig
from healthtwin.scenarios.hospital_runs import (
    icu_nurses_per_shift,
    simulate_hospital,
    with_icu_beds,
)

CONFIG = HospitalConfig.model_validate(
    {
        "units": {
            "ward": {"kind": "ward", "beds": 200, "los_hours": {"dist": "fixed", "mean": 2.0}},
            "icu": {
                "kind": "icu",
                "beds": 4,
                "los_hours": {"dist": "fixed", "mean": 240.0},
                "staff": {
                    "patients_per_nurse": 2.0,
                    "shifts": [
                        {"start_hour": 7, "length_hours": 12, "nurses": 2},
                        {"start_hour": 19, "length_hours": 12, "nurses": 2},
                    ],
                },
            },
        },
        "pathways": {"ward": {"icu": 1.0}, "icu": {"discharge": 1.0}},
    }
)


def test_moved_beds_come_with_the_nurses_to_staff_them() -> None:
    bigger = with_icu_beds(CONFIG, "icu", 9)
    staff = bigger.units["icu"].staff
    assert staff is not None
    assert icu_nurses_per_shift(CONFIG, "icu", 9) == 5
    usable = [min(9, n * staff.patients_per_nurse) for n in staff.nurses_at_hour()]
    assert min(usable) == 9
    # Fewer beds: fewer nurses, never fewer than the beds need.
    assert icu_nurses_per_shift(CONFIG, "icu", 3) == 2


def test_reallocated_icu_beds_are_usable_from_their_day_on() -> None:
    counts = np.full(20, 3, dtype=np.int64)  # every patient needs an ICU bed for 10 days
    run, _ = simulate_hospital(
        CONFIG, counts, entry_unit="ward", icu_unit="icu", seed=1, icu_beds=[(8, 10)]
    )
    icu = run.unit_occupancy("icu")
    assert np.max(icu[:8]) <= 4 + 1e-9
    assert np.max(icu[10:]) > 4
    # Without the nurses, the same 10 beds would stay at the roster's 4 usable beds.
    unstaffed = CONFIG.with_capacity("icu", beds=10)
    flat, _ = simulate_hospital(unstaffed, counts, entry_unit="ward", icu_unit="icu", seed=1)
    assert np.max(flat.unit_occupancy("icu")) <= 4 + 1e-9
