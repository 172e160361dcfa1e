"""Ranking and selection with common random numbers, on an M/M/c family with known truth."""

from __future__ import annotations

import numpy as np
import pytest

from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.hospital.queueing import mmc_mean_wait
from healthtwin.hospital.selection import (
    Candidate,
    Constraint,
    parse_targets,
    select_best,
    select_plan,
)

ARRIVALS_PER_HOUR, SERVICE_PER_HOUR = 9.0, 1.0
CUSTOMERS, WARMUP = 1500, 300


def mmc_mean_waits(servers: int, replications: int, seed: int) -> np.ndarray:
    """Mean wait of each replication of an FCFS M/M/c queue, by the free-server recursion.

    The arrival and service streams depend only on ``seed``, never on ``servers``, so
    every server count sees the same patients (common random numbers).
    """
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1 / ARRIVALS_PER_HOUR, (replications, CUSTOMERS)), 1)
    service = rng.exponential(1 / SERVICE_PER_HOUR, (replications, CUSTOMERS))
    free_at = np.zeros((replications, servers))
    rows = np.arange(replications)
    waits = np.empty((replications, CUSTOMERS))
    for n in range(CUSTOMERS):
        server = free_at.argmin(axis=1)
        start = np.maximum(free_at[rows, server], arrivals[:, n])
        waits[:, n] = start - arrivals[:, n]
        free_at[rows, server] = start + service[:, n]
    return waits[:, WARMUP:].mean(axis=1)


def evaluate(candidate: Candidate[int], replications: int, seed: int) -> np.ndarray:
    return mmc_mean_waits(candidate.plan, replications, seed)


FAMILY = [Candidate(f"c={c}", c, 100.0 * c) for c in range(10, 15)]
TARGET = Constraint("mean_wait_hours", "<", 0.15)


def test_the_stand_in_simulator_agrees_with_erlang_c() -> None:
    waits = mmc_mean_waits(11, 200, seed=1)
    half = 2.576 * waits.std(ddof=1) / np.sqrt(waits.size)
    assert abs(waits.mean() - mmc_mean_wait(11, ARRIVALS_PER_HOUR, SERVICE_PER_HOUR)) < half


def test_cheapest_feasible_plan_is_chosen_with_the_stated_probability() -> None:
    truth = {c.name: mmc_mean_wait(c.plan, ARRIVALS_PER_HOUR, SERVICE_PER_HOUR) for c in FAMILY}
    cheapest = min((c for c in FAMILY if truth[c.name] < TARGET.threshold), key=lambda c: c.cost)
    assert cheapest.name == "c=12"  # Erlang C: 0.215 h with 11 servers, 0.089 h with 12
    chosen = [select_plan(FAMILY, evaluate, TARGET, seed=s).best for s in range(20)]
    infeasible = sum(b is None or truth[b.name] >= TARGET.threshold for b in chosen)
    correct = sum(b is not None and b.name == cheapest.name for b in chosen)
    # confidence 0.95: at most 3 of 20 wrong is the 99 % binomial bound; Bonferroni makes
    # the procedure conservative, so almost every run should pick exactly 12 servers.
    assert infeasible <= 3
    assert correct >= 17


def test_the_table_reports_every_candidate_cheapest_first() -> None:
    selection = select_plan(FAMILY, evaluate, TARGET, seed=3)
    assert [r.name for r in selection.table] == [c.name for c in FAMILY]
    assert selection.row("c=10").status == "infeasible"
    best = selection.row(selection.best.name if selection.best else "")
    assert best.feasible
    interval = best.metrics["mean_wait_hours"]
    assert interval.low < interval.mean < interval.high < TARGET.threshold
    # Candidates dearer than the winner are not refined beyond the first stage.
    assert selection.row("c=14").replications == 10


def test_undecided_candidates_get_more_replications_up_to_the_budget() -> None:
    def noisy(candidate: Candidate[float], n: int, seed: int) -> np.ndarray:
        return candidate.plan + np.random.default_rng(seed).normal(0.0, 1.0, n)

    plans = [Candidate("edge", 0.999, 1.0), Candidate("safe", 0.0, 2.0)]
    selection = select_plan(plans, noisy, Constraint("x", "<", 1.0), max_replications=40)
    assert selection.row("edge").status == "undecided"
    assert selection.row("edge").replications == 40
    assert selection.best is not None
    assert selection.best.name == "safe"


def test_common_random_numbers_are_shared_across_candidates() -> None:
    seen: list[tuple[str, int, int]] = []

    def record(candidate: Candidate[float], n: int, seed: int) -> np.ndarray:
        seen.append((candidate.name, n, seed))
        return np.full(n, candidate.plan)

    plans = [Candidate("a", 0.5, 1.0), Candidate("b", 0.1, 2.0)]
    select_plan(plans, record, Constraint("x", "<", 0.2), seed=7)
    assert ("a", 10, 7) in seen
    assert ("b", 10, 7) in seen


def test_several_constraints_must_all_hold() -> None:
    def two(candidate: Candidate[tuple[float, float]], n: int, seed: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        wait, use = candidate.plan
        return {"wait": wait + rng.normal(0, 0.01, n), "use": use + rng.normal(0, 0.01, n)}

    plans = [
        Candidate("short-wait-idle", (0.1, 0.5), 1.0),
        Candidate("long-wait-busy", (0.9, 0.9), 2.0),
        Candidate("balanced", (0.2, 0.8), 3.0),
    ]
    targets = parse_targets("wait<0.3, use>=0.75")
    selection = select_plan(plans, two, targets)
    assert selection.best is not None
    assert selection.best.name == "balanced"
    assert selection.row("short-wait-idle").status == "infeasible"


def test_no_feasible_candidate_gives_no_best() -> None:
    selection = select_plan(FAMILY[:2], evaluate, Constraint("mean_wait_hours", "<", 0.01))
    assert selection.best is None
    assert not any(r.feasible for r in selection.table)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ed_4h_breach<0.05", [("ed_4h_breach", "<", 0.05)]),
        (" wait_hours.icu <= 2 ", [("wait_hours.icu", "<=", 2.0)]),
        (
            "occupancy.ward>0.6,refusals>=1e-3",
            [("occupancy.ward", ">", 0.6), ("refusals", ">=", 0.001)],
        ),
    ],
)
def test_parse_targets(text: str, expected: list[tuple[str, str, float]]) -> None:
    assert [(c.metric, c.op, c.threshold) for c in parse_targets(text)] == expected


@pytest.mark.parametrize("text", ["", "ed_4h_breach", "ed_4h_breach=0.05", "x<abc", "x<nan", "<3"])
def test_unreadable_targets_are_clear_errors(text: str) -> None:
    with pytest.raises(InvalidInputError, match=r"ed_4h_breach<0\.05"):
        parse_targets(text)


def test_constraint_sides() -> None:
    assert Constraint("x", "<=", 1.0).is_met(1.0)
    assert not Constraint("x", "<", 1.0).is_met(1.0)
    assert Constraint("x", ">", 1.0).is_met(1.5)
    assert str(Constraint("ed_4h_breach", "<", 0.05)) == "ed_4h_breach<0.05"
    with pytest.raises(InvalidParameterError, match="op"):
        Constraint("x", "==", 1.0)  # type: ignore[arg-type]


def test_bad_budgets_and_candidates_are_rejected() -> None:
    with pytest.raises(InvalidParameterError, match="replications"):
        select_plan(FAMILY, evaluate, TARGET, replications=1)
    with pytest.raises(InvalidParameterError, match="max_replications"):
        select_plan(FAMILY, evaluate, TARGET, replications=10, max_replications=5)
    with pytest.raises(InvalidParameterError, match="distinct"):
        select_plan([FAMILY[0], FAMILY[0]], evaluate, TARGET)
    with pytest.raises(InvalidParameterError, match="confidence"):
        select_plan(FAMILY, evaluate, TARGET, confidence=1.0)


def test_kn_picks_the_smallest_mean_wait_with_the_stated_probability() -> None:
    # Among 10..13 servers the smallest mean wait is 13 servers (Erlang C 0.036 h, vs
    # 0.089 h for 12): a lead of 0.053 h > the 0.04 h indifference zone.
    family = FAMILY[:4]
    chosen = [
        select_best(family, evaluate, "w", indifference=0.04, batch=5, seed=s).best
        for s in range(10)
    ]
    assert sum(b is not None and b.name == "c=13" for b in chosen) >= 9


def test_kn_maximizes_when_asked() -> None:
    def shifted(candidate: Candidate[float], n: int, seed: int) -> np.ndarray:
        return candidate.plan + np.random.default_rng(seed).normal(0.0, 1.0, n)

    plans = [Candidate(f"m{m}", float(m), 0.0) for m in (0, 1, 3)]
    selection = select_best(plans, shifted, "x", minimize=False, indifference=0.5)
    assert selection.best is not None
    assert selection.best.name == "m3"
    assert selection.row("m3").replications >= selection.row("m0").replications
    with pytest.raises(InvalidParameterError, match="indifference"):
        select_best(plans, shifted, "x", indifference=0.0)
