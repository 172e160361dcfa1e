"""ED -> ward -> ICU with finite beds and blocking, against Ciw (Palmer et al. 2019).

Ciw's network is built here independently: type I blocking (``queue_capacities`` 0 on the
ward and ICU, so a patient finished in the ED keeps the cubicle until a ward bed frees).
Mean waits for each unit and throughput must agree: the 99 % Welch interval of the
difference between the two simulators' replication means contains zero.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from tests.conftest import require

from healthtwin.hospital import HospitalConfig, simulate

HOURS, WARMUP, REPS = 1500.0, 50.0, 10
LAMBDA, ED_BEDS, WARD_BEDS, ICU_BEDS = 7.0, 10, 20, 3
ED_MEAN, WARD_MEAN, ICU_MEAN, TO_WARD, TO_ICU = 1.0, 7.0, 10.0, 0.3, 0.1


def ours() -> dict[str, np.ndarray]:
    config = HospitalConfig.model_validate(
        {
            "units": {
                "ed": {"kind": "ed", "beds": ED_BEDS,
                       "los_hours": {"dist": "exponential", "mean": ED_MEAN}},
                "ward": {"kind": "ward", "beds": WARD_BEDS,
                         "los_hours": {"dist": "exponential", "mean": WARD_MEAN}},
                "icu": {"kind": "icu", "beds": ICU_BEDS,
                        "los_hours": {"dist": "exponential", "mean": ICU_MEAN}},
            },
            "arrivals": [{"unit": "ed", "rate_per_hour": LAMBDA}],
            "pathways": {"ed": {"ward": TO_WARD, "discharge": 1 - TO_WARD},
                         "ward": {"icu": TO_ICU, "discharge": 1 - TO_ICU},
                         "icu": {"discharge": 1.0}},
        }
    )  # fmt: skip
    r = simulate(config, days=(HOURS - WARMUP) / 24, warmup_days=WARMUP / 24,
                 replications=REPS, seed=11)  # fmt: skip
    return {
        "ed": r.values("wait_hours.ed"),
        "ward": r.values("wait_hours.ward"),
        "icu": r.values("wait_hours.icu"),
        "throughput": r.values("throughput") + r.values("deaths"),
    }


def ciws() -> dict[str, np.ndarray]:
    ciw = require("ciw", "test")
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=LAMBDA), None, None],
        service_distributions=[
            ciw.dists.Exponential(rate=1 / ED_MEAN),
            ciw.dists.Exponential(rate=1 / WARD_MEAN),
            ciw.dists.Exponential(rate=1 / ICU_MEAN),
        ],
        routing=[[0.0, TO_WARD, 0.0], [0.0, 0.0, TO_ICU], [0.0, 0.0, 0.0]],
        number_of_servers=[ED_BEDS, WARD_BEDS, ICU_BEDS],
        queue_capacities=[float("inf"), 0, 0],
    )
    out: dict[str, list[float]] = {"ed": [], "ward": [], "icu": [], "throughput": []}
    for r in range(REPS):
        ciw.seed(1000 + r)
        sim = ciw.Simulation(network)
        sim.simulate_until_max_time(HOURS)
        recs = [x for x in sim.get_all_records() if x.record_type == "service"]
        ed = [x for x in recs if x.node == 1 and x.arrival_date >= WARMUP]
        # A patient's wait for a ward (ICU) bed is the time blocked in the ED (ward) bed.
        to_ward = [x for x in recs if x.node == 1 and x.destination == 2]
        to_icu = [x for x in recs if x.node == 2 and x.destination == 3]
        out["ed"].append(np.mean([x.waiting_time for x in ed]))
        out["ward"].append(np.mean([x.time_blocked for x in to_ward if x.exit_date >= WARMUP]))
        out["icu"].append(np.mean([x.time_blocked for x in to_icu if x.exit_date >= WARMUP]))
        exits = [x for x in recs if x.destination == -1 and x.exit_date >= WARMUP]
        out["throughput"].append(len(exits) / (HOURS - WARMUP) * 24)
    return {k: np.asarray(v) for k, v in out.items()}


@pytest.fixture(scope="module")
def both() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    return ours(), ciws()


@pytest.mark.parametrize("metric", ["ed", "ward", "icu", "throughput"])
def test_waits_and_throughput_agree_with_ciw(
    both: tuple[dict[str, np.ndarray], dict[str, np.ndarray]], metric: str
) -> None:
    a, b = both[0][metric], both[1][metric]
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    dof = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    half = stats.t.ppf(0.995, dof) * np.sqrt(va + vb)
    diff = a.mean() - b.mean()
    assert abs(diff) <= half, f"{metric}: ours {a.mean():.4f}, Ciw {b.mean():.4f}, ±{half:.4f}"
    if metric == "throughput":  # waits are heavy-tailed under blocking; rates are tight
        assert half < 0.02 * b.mean()
