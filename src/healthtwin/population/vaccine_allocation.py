"""Sharing a national vaccine supply across regions, chosen by simulation.

Unlike beds, doses change the epidemic itself, so each candidate allocation is simulated.
Candidates are the usual rules (pro rata by population, by older population, by the
deaths or ICU demand projected without vaccine) and a local search from the best of them
that moves a share of the doses from the region where they save least to the one where
they save most (judged by the projected deaths per dose share), keeping a move only when
the simulated objective improves. Every candidate runs the same replicates with the same
seeds (common random numbers), so differences are the allocation's, not the noise's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError
from healthtwin.population.epidemic import EpidemicResult
from healthtwin.population.geography import Geography, age_group_spans
from healthtwin.population.scenario import (
    PopulationScenario,
    TriggerSpec,
    VaccinationSpec,
    Variant,
)
from healthtwin.population.scenario_build import build_inputs, run_variant

__all__ = ["VaccineAllocation", "allocate_vaccine", "rule_shares"]

RULES: tuple[str, ...] = ("population", "older_population", "projected_deaths", "projected_icu")


@dataclass(frozen=True)
class VaccineAllocation:
    """The chosen region shares and every candidate's simulated objective.

    Attributes
    ----------
    shares
        Region -> share of the daily doses (sums to 1).
    objective
        ``"deaths"`` (mean deaths per replicate) or ``"icu_bed_days"``.
    value
        The chosen allocation's objective.
    candidates
        Candidate name -> (objective mean, standard error of its difference to pro rata).
    """

    shares: dict[str, float]
    objective: str
    value: float
    candidates: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def pro_rata(self) -> float:
        """The objective under shares by population."""
        return self.candidates["population"][0]


def rule_shares(rule: str, geography: Geography, projected: FloatArray | None = None) -> FloatArray:
    """Region shares of one rule (``projected``: a per-region projection, for the last two)."""
    people = geography.population
    if rule == "population":
        weights = people.sum(axis=1)
    elif rule == "older_population":
        mid, _ = age_group_spans(geography.age_groups)
        weights = people[:, mid >= 60].sum(axis=1)
    elif rule in ("projected_deaths", "projected_icu"):
        if projected is None:
            raise InvalidInputError(f"rule {rule!r} needs the projection without vaccine")
        weights = np.asarray(projected, dtype=float)
    else:
        raise InvalidInputError(f"unknown allocation rule {rule!r}; choose one of {RULES}")
    total = float(weights.sum())
    if total <= 0:
        return np.full(geography.n_regions, 1.0 / geography.n_regions)
    return np.asarray(weights / total, dtype=float)


def allocate_vaccine(
    spec: PopulationScenario,
    *,
    daily_doses: float,
    variant: str | None = None,
    objective: Literal["deaths", "icu_bed_days"] = "deaths",
    start_day: int = 0,
    max_coverage: float = 0.9,
    age_priority: Sequence[str] | None = None,
    search_steps: int = 6,
    step_share: float = 0.25,
    on_progress: Callable[[int, int], None] | None = None,
) -> VaccineAllocation:
    """Choose region shares of ``daily_doses`` that minimise ``objective`` by simulation.

    ``on_progress`` is called with ``(ensembles run, ensembles planned)`` after each
    simulated candidate: the run without vaccine, one per rule and at most
    ``search_steps`` search moves; a search that stops early reports its count as the
    total. It only observes.
    """
    if daily_doses <= 0:
        raise InvalidInputError(f"daily_doses must be > 0; got {daily_doses}")
    if objective not in ("deaths", "icu_bed_days"):
        raise InvalidInputError(f"objective must be deaths or icu_bed_days; got {objective!r}")
    base = spec.variant(variant) if variant is not None else spec.variant_list()[0]
    inputs = build_inputs(spec)
    geo = inputs.geography
    planned, ran = 1 + len(RULES) + search_steps, [0]

    def counted(result: EpidemicResult) -> EpidemicResult:
        ran[0] += 1
        if on_progress is not None:
            on_progress(ran[0], max(planned, ran[0]))
        return result

    none = counted(run_variant(spec, base, inputs))
    projected_deaths = none.get("deaths").sum(axis=1).mean(axis=0)
    projected_icu = none.get("icu_occupancy").sum(axis=1).mean(axis=0)

    def evaluate(shares: FloatArray) -> FloatArray:
        campaign = VaccinationSpec(
            type="vaccination",
            daily_doses=daily_doses,
            max_coverage=max_coverage,
            age_priority=None if age_priority is None else list(age_priority),
            region_shares={r: float(s) for r, s in zip(geo.regions, shares, strict=True)},
            trigger=TriggerSpec(start_day=start_day),
        )
        plan = list(spec.interventions if base.interventions is None else base.interventions)
        trial = Variant(
            name=f"{base.name}+vaccine", interventions=[*plan, campaign], disease=base.disease
        )
        return _objective(counted(run_variant(spec, trial, inputs)), objective)

    candidates: dict[str, FloatArray] = {}
    values: dict[str, FloatArray] = {}
    for rule in RULES:
        projection = projected_deaths if rule == "projected_deaths" else projected_icu
        candidates[rule] = rule_shares(rule, geo, projection)
        values[rule] = evaluate(candidates[rule])
    best = min(values, key=lambda k: float(values[k].mean()))
    shares, current = candidates[best].copy(), values[best]
    for step in range(search_steps):
        gain = projected_deaths / np.maximum(shares, 1e-9)
        give = int(np.argmin(np.where(shares > 0, gain, np.inf)))
        take = int(np.argmax(gain))
        if give == take:
            break
        moved = step_share * shares[give]
        proposal = shares.copy()
        proposal[give] -= moved
        proposal[take] += moved
        trial_values = evaluate(proposal)
        if trial_values.mean() < current.mean():
            shares, current = proposal, trial_values
            candidates[f"search {step + 1}"] = proposal
            values[f"search {step + 1}"] = trial_values
            best = f"search {step + 1}"
    if on_progress is not None and ran[0] < planned:
        on_progress(ran[0], ran[0])
    reference = values["population"]
    table = {
        name: (float(v.mean()), float(np.std(v - reference, ddof=1) / np.sqrt(v.size)))
        for name, v in values.items()
    }
    return VaccineAllocation(
        shares={r: float(s) for r, s in zip(geo.regions, shares, strict=True)},
        objective=objective,
        value=float(current.mean()),
        candidates=table,
    )


def _objective(result: EpidemicResult, objective: str) -> FloatArray:
    if objective == "deaths":
        return np.asarray(result.national("deaths").sum(axis=1), dtype=float)
    return np.asarray(result.national("icu_occupancy").sum(axis=1), dtype=float)
