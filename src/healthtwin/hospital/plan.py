"""The cheapest bed and staff plan meeting a target, from queueing theory to simulation.

1. A first answer per unit from queueing theory: the traffic equations
   ``lambda = gamma (I - P)^-1`` give each unit's arrival rate from the external arrivals
   ``gamma`` (mean of the hour-of-day and weekday profile, plus electives) and the routing
   matrix ``P`` of the pathways; the offered load is ``lambda x mean LOS``, and beds come
   from Erlang C (the fewest beds with P(wait) <= ``first_p_wait``). Nurses per shift keep
   the unit's patients-per-nurse ratio at full occupancy.
2. A small candidate set around it: the whole plan shifted by ``k`` square-root steps
   (``k = -2..3``) and each unit moved one step alone, or the user's ``unit_options``.
3. The final choice by simulation: :func:`~healthtwin.hospital.selection.select_plan`
   with common random numbers returns the cheapest plan whose target metrics meet their
   thresholds with the stated confidence.
4. When no candidate qualifies, the search widens: the bottleneck units of the largest
   plan tried (those where more than ``bottleneck_p_wait`` of patients wait for a bed,
   which is what drives ED waits and boarding) grow by their square-root step, doubled
   each round, and step 3 runs on the new candidates, until one qualifies, no unit is a
   bottleneck any more (then beds cannot meet the target and ``PlanResult.reason`` says
   so), or ``max_rounds``/``max_cost_per_day`` is reached. Each round gets an equal share
   of ``1 - confidence`` (Bonferroni), so the guarantee holds over the whole search.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.hospital.config import EXITS, HospitalConfig
from healthtwin.hospital.queueing import min_servers
from healthtwin.hospital.selection import (
    Candidate,
    CandidateResult,
    Constraint,
    MetricInterval,
    parse_targets,
    select_plan,
)
from healthtwin.hospital.simulate import simulate

__all__ = ["PlanResult", "Simulator", "first_answer", "plan_capacity", "unit_arrival_rates"]

_HOURS_PER_WEEK = 168.0


class _ResultLike(Protocol):
    @property
    def metrics(self) -> tuple[str, ...]: ...

    def values(self, metric: str) -> np.ndarray[Any, Any]: ...


class Simulator(Protocol):
    """What :func:`plan_capacity` needs of :func:`healthtwin.hospital.simulate.simulate`."""

    def __call__(
        self,
        config: HospitalConfig,
        *,
        days: float,
        replications: int,
        seed: int,
        warmup_days: float,
    ) -> _ResultLike: ...


@dataclass(frozen=True)
class PlanResult:
    """The chosen plan and how sure we are of it.

    ``config`` is ``None`` when no candidate was proven to meet the targets (then
    ``beds``/``nurses_per_shift`` are empty, ``metrics`` is empty and ``reason`` says why
    the search stopped). ``cost_per_day`` is a point value, not an estimate: a plan pays
    for its beds and for every rostered nurse shift whether or not patients fill them
    (``HospitalConfig.cost_per_day``), so no replication changes it, and its interval is
    the point itself: ``cost_interval = (cost, cost)``.
    """

    targets: tuple[Constraint, ...]
    config: HospitalConfig | None
    beds: Mapping[str, int]
    nurses_per_shift: Mapping[str, int]
    cost_per_day: float
    cost_interval: tuple[float, float]
    metrics: Mapping[str, MetricInterval]
    replications: int
    first_answer: Mapping[str, int]
    table: tuple[CandidateResult, ...]
    confidence: float
    reason: str = ""
    rounds: int = 1

    @property
    def found(self) -> bool:
        """Whether a plan meeting every target was found."""
        return self.config is not None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (plan, intervals, and every candidate's row)."""
        return {
            "targets": [str(t) for t in self.targets],
            "found": self.found,
            "confidence": self.confidence,
            "beds": dict(self.beds),
            "nurses_per_shift": dict(self.nurses_per_shift),
            "cost_per_day": self.cost_per_day,
            "cost_interval": list(self.cost_interval),
            "metrics": {m: vars(i) for m, i in self.metrics.items()},
            "replications": self.replications,
            "first_answer_beds": dict(self.first_answer),
            "reason": self.reason,
            "rounds": self.rounds,
            "candidates": [
                {
                    "name": r.name,
                    "cost_per_day": r.cost,
                    "status": r.status,
                    "replications": r.replications,
                    "metrics": {m: vars(i) for m, i in r.metrics.items()},
                }
                for r in self.table
            ],
        }


def unit_arrival_rates(config: HospitalConfig) -> dict[str, float]:
    """Mean arrivals per hour into each unit, external and routed (traffic equations).

    Parameters
    ----------
    config
        The hospital; triage-specific pathways are averaged into the unit pathways' place
        only where no plain pathway is given.

    Returns
    -------
    dict
        Unit name -> mean arrival rate per hour over a week.

    Examples
    --------
    >>> cfg = HospitalConfig.model_validate({
    ...     "units": {"ed": {"kind": "ed", "beds": 10, "los_hours": {"dist": "exponential",
    ...                                                              "mean": 4.0}},
    ...               "ward": {"kind": "ward", "beds": 30, "los_hours": {"dist": "exponential",
    ...                                                                  "mean": 72.0}}},
    ...     "arrivals": [{"unit": "ed", "rate_per_hour": 2.0}],
    ...     "pathways": {"ed": {"ward": 0.25, "discharge": 0.75}, "ward": {"discharge": 1.0}}})
    >>> unit_arrival_rates(cfg)
    {'ed': 2.0, 'ward': 0.5}
    """
    names = list(config.units)
    index = {name: i for i, name in enumerate(names)}
    external = np.zeros(len(names))
    for stream in config.arrivals:
        rate = float(np.mean(stream.rate_per_hour)) * float(np.mean(stream.weekday_multipliers))
        external[index[stream.unit]] += rate
    for elective in config.electives:
        external[index[elective.unit]] += sum(elective.per_weekday) / _HOURS_PER_WEEK
    routing = np.zeros((len(names), len(names)))
    for unit, routes in config.pathways.items():
        for dest, probability in routes.items():
            if dest not in EXITS:
                routing[index[unit], index[dest]] += probability
    rates = np.linalg.solve((np.eye(len(names)) - routing).T, external)
    return {name: round(float(rate), 12) for name, rate in zip(names, rates, strict=True)}


def first_answer(config: HospitalConfig, *, first_p_wait: float = 0.2) -> dict[str, int]:
    """Beds per unit from Erlang C: the fewest with P(wait for a bed) <= ``first_p_wait``.

    Parameters
    ----------
    config
        The hospital (arrivals, pathways and mean lengths of stay are used).
    first_p_wait
        Target probability that an arriving patient waits for a bed.

    Returns
    -------
    dict
        Unit name -> beds; units nobody reaches keep their configured beds.

    Examples
    --------
    >>> cfg = HospitalConfig.model_validate({
    ...     "units": {"ed": {"kind": "ed", "beds": 1, "los_hours": {"dist": "exponential",
    ...                                                             "mean": 1.0}}},
    ...     "arrivals": [{"unit": "ed", "rate_per_hour": 9.0}],
    ...     "pathways": {"ed": {"discharge": 1.0}}})
    >>> first_answer(cfg, first_p_wait=0.2)
    {'ed': 13}
    """
    beds = {}
    for unit, rate in unit_arrival_rates(config).items():
        mean_los = config.units[unit].los_hours.mean_hours()
        if rate <= 0 or mean_los <= 0:
            beds[unit] = config.units[unit].beds
            continue
        beds[unit] = min_servers(rate, 1.0 / mean_los, max_p_wait=first_p_wait)
    return beds


def _apply(config: HospitalConfig, beds: Mapping[str, int]) -> HospitalConfig:
    for unit, count in beds.items():
        staff = config.units[unit].staff
        nurses = None if staff is None else math.ceil(count / staff.patients_per_nurse)
        config = config.with_capacity(unit, beds=count, nurses_per_shift=nurses)
    return config


def _candidate_beds(
    config: HospitalConfig,
    start: Mapping[str, int],
    unit_options: Mapping[str, Sequence[int]] | None,
) -> list[dict[str, int]]:
    if unit_options:
        for unit, options in unit_options.items():
            if unit not in config.units:
                raise InvalidParameterError(
                    f"unit_options: unknown unit {unit!r}; units are {sorted(config.units)}"
                )
            if not options or any(int(b) != b or b < 0 for b in options):
                raise InvalidParameterError(
                    f"unit_options.{unit}: need whole bed counts >= 0, got {list(options)!r}"
                )
        units = list(unit_options)
        grid = itertools.product(*(sorted(set(unit_options[u])) for u in units))
        return [{**start, **dict(zip(units, map(int, combo), strict=True))} for combo in grid]
    step = _steps(config, start)
    plans = [{u: max(1, b + k * step[u]) for u, b in start.items()} for k in range(-2, 4)]
    for unit in start:
        for k in (-1, 1):
            plans.append({**start, unit: max(1, start[unit] + k * step[unit])})
    unique = {tuple(sorted(p.items())): p for p in plans}
    return list(unique.values())


def plan_capacity(
    config: HospitalConfig,
    target: str | Sequence[Constraint],
    *,
    unit_options: Mapping[str, Sequence[int]] | None = None,
    days: float = 30.0,
    replications: int = 10,
    max_replications: int = 40,
    seed: int = 0,
    warmup_days: float = 0.0,
    confidence: float = 0.95,
    first_p_wait: float = 0.2,
    max_candidates: int = 64,
    max_rounds: int = 6,
    max_cost_per_day: float | None = None,
    bottleneck_p_wait: float = 0.01,
    simulator: Simulator | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> PlanResult:
    """The cheapest bed/staff plan meeting ``target``, with its uncertainty.

    Parameters
    ----------
    config
        The hospital as it is today; only beds and nurses per shift are varied.
    target
        Text such as ``"ed_4h_breach<0.05"`` (comma-separated for several) or constraints.
    unit_options
        Bed counts to try per unit (their combinations are the candidates; other units keep
        the queueing first answer; the search does not widen). ``None``: candidates around
        the first answer, widened round by round while none qualifies.
    days, warmup_days
        Simulated days per replication, and days discarded first.
    replications, max_replications
        First-stage replications per candidate, and the budget per candidate.
    seed
        Root seed; all candidates share common random numbers.
    confidence
        Probability that the returned plan truly meets every target.
    first_p_wait
        P(wait for a bed) used by the queueing first answer.
    max_candidates
        Refuse a larger candidate set (the simulation cost grows with it).
    max_rounds
        Rounds of candidates at most (the first set, then widenings); 1 never widens.
    max_cost_per_day
        Stop widening before candidates that cost more per day than this.
    bottleneck_p_wait
        A unit where more than this fraction of patients waits for a bed is a bottleneck
        (``waited_fraction.<unit>``) and grows when the search widens.
    simulator
        The simulation to use (default :func:`healthtwin.hospital.simulate.simulate`).
    on_progress
        Called after each candidate's batch of replications with ``(replications
        simulated, replications planned so far)``. The plan grows as the search learns:
        each round adds its candidates x ``replications``, and a candidate still
        undecided adds its next stage before running it. Observing only; the result is
        the same with or without it.

    Returns
    -------
    PlanResult
        The plan (``config`` with the chosen beds and nurses), its cost per day, the
        confidence interval of every target metric, every candidate's row, and when no
        plan was found, the ``reason`` the search stopped. Intervals are at the level of
        one round, ``1 - (1 - confidence) / max_rounds`` (``confidence`` with
        ``unit_options``).

    Raises
    ------
    InvalidInputError
        If the target does not parse or names a metric the simulation does not report
        (checked on the first simulated candidate, before any further work).
    InvalidParameterError
        If ``unit_options`` names an unknown unit or gives too many combinations, or
        ``max_rounds < 1``.
    """
    targets = parse_targets(target) if isinstance(target, str) else tuple(target)
    if max_rounds < 1:
        raise InvalidParameterError(f"max_rounds must be >= 1, got {max_rounds!r}")
    start = first_answer(config, first_p_wait=first_p_wait)
    options = _candidate_beds(config, start, unit_options)
    if len(options) > max_candidates:
        raise InvalidParameterError(
            f"unit_options give {len(options)} candidate plans, more than max_candidates="
            f"{max_candidates}; give fewer bed counts per unit or raise max_candidates"
        )
    run: Simulator = simulator if simulator is not None else simulate
    metrics = list(dict.fromkeys(t.metric for t in targets))
    waited: dict[str, dict[str, float]] = {}
    # Replications done and planned, and this round's first-stage batches still to run:
    # those are planned when the round starts, later stages only when they are asked for.
    count = [0, 0, 0]

    def evaluate(
        candidate: Candidate[HospitalConfig], n: int, stage_seed: int
    ) -> dict[str, FloatArray]:
        if count[2] > 0:
            count[2] -= 1
        else:
            count[1] += n
        result = run(
            candidate.plan, days=days, replications=n, seed=stage_seed, warmup_days=warmup_days
        )
        count[0] += n
        if on_progress is not None:
            on_progress(count[0], count[1])
        unknown = [m for m in metrics if m not in result.metrics]
        if unknown:
            raise InvalidInputError(
                f"target metric(s) {unknown} are not simulated; valid metrics are "
                f"{list(result.metrics)}"
            )
        waited[candidate.name] = {
            u: float(np.nanmean(result.values(f"waited_fraction.{u}")))
            for u in config.units
            if f"waited_fraction.{u}" in result.metrics
        }
        return {m: np.asarray(result.values(m), dtype=np.float64) for m in metrics}

    rounds = 1 if unit_options else max_rounds
    share = 1.0 - (1.0 - confidence) / rounds
    step = _steps(config, start)
    table: list[CandidateResult] = []
    tried: dict[str, dict[str, int]] = {}
    reason = ""
    for round_ in range(rounds):
        candidates = []
        for beds in options:
            name = ",".join(f"{u}={b}" for u, b in beds.items())
            if name not in tried:
                tried[name] = beds
                plan = _apply(config, beds)
                candidates.append(Candidate(name, plan, plan.cost_per_day()))
        if max_cost_per_day is not None:
            candidates = [c for c in candidates if c.cost <= max_cost_per_day]
        if not candidates:
            reason = (
                f"round {round_ + 1}: every wider plan costs more than "
                f"max_cost_per_day={max_cost_per_day:g}"
                if max_cost_per_day is not None
                else f"round {round_ + 1}: every wider plan was tried already"
            )
            break
        count[1] += len(candidates) * replications
        count[2] = len(candidates)
        selection = select_plan(
            candidates,
            evaluate,
            targets,
            confidence=share,
            replications=replications,
            max_replications=max_replications,
            seed=seed,
        )
        table.extend(selection.table)
        if selection.best is not None:
            return _result(targets, selection.best, tuple(table), start, confidence, round_ + 1)
        if round_ == rounds - 1:
            if rounds > 1:
                reason = f"no plan qualified in max_rounds={max_rounds} rounds of candidates"
            break
        # Beds break ties of cost (a hospital without costs), never the name's spelling.
        largest = max(selection.table, key=lambda r: (r.cost, sum(tried[r.name].values()), r.name))
        grow = [u for u, f in waited[largest.name].items() if f > bottleneck_p_wait]
        if not grow:
            shown = ", ".join(f"{m} {largest.metrics[m].mean:.3g}" for m in metrics)
            reason = (
                f"at the largest plan tried ({largest.name}) no unit makes more than "
                f"{bottleneck_p_wait:.0%} of its patients wait for a bed, yet {shown} is not "
                f"shown to meet {', '.join(map(str, targets))}: more beds or nurses will not "
                "meet it; relax the target or change the process (e.g. shorter stays)"
            )
            break
        base = tried[largest.name]
        scale = 2**round_
        options = [
            {**base, **{u: base[u] + m * scale * step[u] for u in grow}} for m in (1, 2, 3)
        ] + [{**base, u: base[u] + scale * step[u]} for u in grow if len(grow) > 1]
    return _result(targets, None, tuple(table), start, confidence, round_ + 1, reason)


def _steps(config: HospitalConfig, start: Mapping[str, int]) -> dict[str, int]:
    """Half the square root of each unit's offered load (beds), at least one."""
    rates = unit_arrival_rates(config)
    return {
        u: max(1, round(0.5 * math.sqrt(rates[u] * config.units[u].los_hours.mean_hours())))
        for u in start
    }


def _result(
    targets: tuple[Constraint, ...],
    best: Candidate[HospitalConfig] | None,
    table: tuple[CandidateResult, ...],
    start: Mapping[str, int],
    confidence: float,
    rounds: int,
    reason: str = "",
) -> PlanResult:
    if best is None:
        return PlanResult(targets, None, {}, {}, math.nan, (math.nan, math.nan), {}, 0,
                          dict(start), table, confidence, reason, rounds)  # fmt: skip
    row = next(r for r in table if r.name == best.name)
    units = best.plan.units
    nurses = {
        u: max(s.nurses for s in c.staff.shifts) for u, c in units.items() if c.staff is not None
    }
    return PlanResult(
        targets=targets,
        config=best.plan,
        beds={u: c.beds for u, c in units.items()},
        nurses_per_shift=nurses,
        cost_per_day=best.cost,
        cost_interval=(best.cost, best.cost),
        metrics=row.metrics,
        replications=row.replications,
        first_answer=dict(start),
        table=table,
        confidence=confidence,
        rounds=rounds,
    )
