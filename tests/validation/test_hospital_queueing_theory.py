"""The hospital engine against queueing theory, each within a 99 % interval over replications.

Erlang C (M/M/c wait and P(wait)), Erlang B (M/M/c/c blocking), the M/G/inf census
(Poisson with mean lambda E[S]), Little's law on a network, and exact conservation. The
Erlang formulas are the package's own (:mod:`healthtwin.hospital.queueing`), themselves
checked against exact rational arithmetic and published tables in tests/hospital and
tests/validation/test_erlang_reference.py.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from healthtwin.hospital import HospitalConfig, mmc_config, simulate
from healthtwin.hospital.queueing import erlang_b, erlang_c
from healthtwin.hospital.results import t_interval

LEVEL = 0.99


def test_mmc_matches_erlang_c_mean_wait_and_probability_of_waiting() -> None:
    result = simulate(mmc_config(9.0, 1.0, 10), days=400, replications=10, warmup_days=2, seed=3)
    p_wait = float(erlang_c(10, 9.0))
    assert math.isclose(p_wait, 0.66873, abs_tol=5e-6)
    wait = t_interval(result.values("wait_hours.queue"), LEVEL)
    assert wait.low <= p_wait / (10 - 9.0) <= wait.high
    frac = t_interval(result.values("waited_fraction.queue"), LEVEL)
    assert frac.low <= p_wait <= frac.high
    assert wait.high - wait.low < 0.15


def test_mmcc_blocking_matches_erlang_b() -> None:
    config = mmc_config(8.0, 1.0, 10, waiting_room=0)
    result = simulate(config, days=200, replications=10, warmup_days=1, seed=4)
    blocked = result.values("refusals") / result.values("arrivals")
    ci = t_interval(blocked, LEVEL)
    assert ci.low <= float(erlang_b(10, 8.0)) <= ci.high
    assert ci.high - ci.low < 0.02


def test_mginf_census_is_poisson_with_mean_lambda_times_mean_stay() -> None:
    config = HospitalConfig.model_validate(
        {
            "units": {"ward": {"kind": "ward", "beds": 10_000,
                               "los_hours": {"dist": "lognormal", "mean": 4.0, "cv": 1.5}}},
            "arrivals": [{"unit": "ward", "rate_per_hour": 5.0}],
            "pathways": {"ward": {"discharge": 1.0}},
        }
    )  # fmt: skip
    result = simulate(config, days=5, replications=400, seed=5)
    census = result.values("patients.in_system")
    expected = 5.0 * 4.0  # the tail beyond 5 days of this lognormal is negligible
    mean = t_interval(census, LEVEL)
    assert mean.low <= expected <= mean.high
    n = census.size
    var = census.var(ddof=1)
    low = (n - 1) * var / stats.chi2.ppf(0.995, n - 1)
    high = (n - 1) * var / stats.chi2.ppf(0.005, n - 1)
    assert low <= expected <= high
    occupancy = t_interval(result.values("occupancy.ward") * 10_000, LEVEL)
    assert occupancy.high < expected * 1.05


NETWORK = {
    "units": {
        "ed": {"kind": "ed", "beds": 12, "los_hours": {"dist": "exponential", "mean": 2.0}},
        "ward": {"kind": "ward", "beds": 40, "los_hours": {"dist": "gamma", "mean": 30.0,
                                                           "cv": 0.7}},
        "icu": {"kind": "icu", "beds": 6, "los_hours": {"dist": "exponential", "mean": 40.0}},
    },
    "arrivals": [{"unit": "ed", "rate_per_hour": [3.0] * 12 + [5.0] * 12,
                  "triage_mix": [0.1, 0.6, 0.3]}],
    "pathways": {"ed": {"ward": 0.25, "icu": 0.02, "discharge": 0.73},
                 "ward": {"icu": 0.05, "discharge": 0.93, "death": 0.02},
                 "icu": {"ward": 0.6, "discharge": 0.3, "death": 0.1}},
}  # fmt: skip


def test_littles_law_holds_on_a_network_with_blocking() -> None:
    result = simulate(HospitalConfig.model_validate(NETWORK), days=200, replications=8, seed=6)
    lam = result.values("arrivals") / 24.0
    gap = result.values("in_system") - lam * result.values("sojourn_hours")
    ci = t_interval(gap, LEVEL)
    assert ci.low <= 0.0 <= ci.high
    assert abs(ci.mean) < 0.02 * float(np.mean(result.values("in_system")))


def test_patients_are_conserved_exactly() -> None:
    config = HospitalConfig.model_validate(
        {**NETWORK, "diversion": {"unit": "ed", "boarding_threshold": 2},
         "discharge_hours": [8, 12]}
    )  # fmt: skip
    for engine in ("fast", "simpy"):
        r = simulate(config, days=20, replications=3, seed=7, engine=engine, warmup_days=1)
        out = sum(r.values(f"patients.{k}") for k in ("discharged", "died", "in_system", "refused"))
        np.testing.assert_array_equal(r.values("patients.arrived"), out)
        assert r.values("patients.refused").sum() > 0
