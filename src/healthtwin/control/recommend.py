"""Recommendations that explain themselves, for a human to approve.

:func:`recommend` forecasts every candidate plan on the twin (common random numbers),
scores each on an objective, checks chance constraints ("time below 70 mg/dL at most 4 %
with probability 0.9"), and recommends the best feasible plan with: the predicted
trajectories with bands, the constraints that bind, the expected benefit over the
reference plan with its interval (member-by-member differences), and what data the twin
relied on. It is advice: nothing is applied unless the policy says so
(``auto_apply=True``), and then the plan joins the twin's standing inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from healthtwin.core.inputs import Inputs
from healthtwin.core.twin import Twin
from healthtwin.core.what_if import Outcome, PlanDifference, PlanOutcome, WhatIf
from healthtwin.errors import InvalidInputError, InvalidParameterError

__all__ = ["Constraint", "Objective", "PlanAssessment", "Recommendation", "recommend"]


@dataclass(frozen=True)
class Objective:
    """What to optimize: an outcome per member, maximized (or minimized)."""

    name: str
    outcome: Outcome
    maximize: bool = True


@dataclass(frozen=True)
class Constraint:
    """A chance constraint: ``P(outcome <= upper) >= probability`` over the members."""

    name: str
    outcome: Outcome
    upper: float
    probability: float = 0.9

    def __post_init__(self) -> None:
        if not 0 < self.probability <= 1:
            raise InvalidParameterError(
                f"constraint {self.name!r}: probability must be in (0, 1], got {self.probability}"
            )


@dataclass(frozen=True)
class PlanAssessment:
    """One plan: its objective distribution and how likely each constraint holds."""

    plan: str
    objective: PlanOutcome
    constraint_probability: dict[str, float]
    feasible: bool


@dataclass(frozen=True)
class Recommendation:
    """The advice, its reasons and its uncertainty."""

    chosen: str | None
    reference: str
    objective: str
    assessments: tuple[PlanAssessment, ...]
    benefit: PlanDifference | None
    binding: tuple[str, ...]
    evidence: dict[str, Any]
    forecasts: WhatIf
    applied: bool

    @property
    def status(self) -> str:
        if self.chosen is None:
            return "no feasible plan: escalate to a clinician"
        return "applied by configuration" if self.applied else "awaiting approval"

    def explain(self) -> str:
        """A plain-language account of the recommendation."""
        lines = []
        if self.chosen is None:
            lines.append("No candidate plan meets every constraint; none is recommended.")
        else:
            lines.append(f"Recommended plan: {self.chosen} ({self.status}).")
        if self.benefit is not None and self.chosen != self.reference:
            b = self.benefit
            lines.append(
                f"Expected change in {self.objective} against {self.reference}: {b.mean:+.2f} "
                f"({b.level:.0%} interval {b.low:+.2f} to {b.high:+.2f}; better in "
                f"{b.probability_b_higher:.0%} of the twin's members)."
            )
        for a in self.assessments:
            held = ", ".join(
                f"{k} holds with p={v:.2f}" for k, v in a.constraint_probability.items()
            )
            lines.append(
                f"- {a.plan}: {self.objective} {a.objective.mean:.2f} "
                f"[{a.objective.low:.2f}, {a.objective.high:.2f}]"
                + (f"; {held}" if held else "")
                + ("" if a.feasible else " (infeasible)")
            )
        if self.binding:
            lines.append(f"Binding constraints: {', '.join(self.binding)}.")
        e = self.evidence
        lines.append(
            f"Relied on: {e['observations']} assimilated reading(s), the last at "
            f"t={e['last_observation']}; twin time t={e['twin_time']}; "
            f"{e['members']} ensemble members."
        )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (no arrays)."""
        return {
            "chosen": self.chosen,
            "status": self.status,
            "reference": self.reference,
            "objective": self.objective,
            "benefit": None if self.benefit is None else vars(self.benefit),
            "binding_constraints": list(self.binding),
            "plans": [
                {
                    "plan": a.plan,
                    "objective": vars(a.objective),
                    "constraint_probability": a.constraint_probability,
                    "feasible": a.feasible,
                }
                for a in self.assessments
            ],
            "evidence": self.evidence,
        }


def recommend(
    twin: Twin[Any],
    plans: Mapping[str, Inputs],
    objective: Objective,
    constraints: Sequence[Constraint] = (),
    *,
    horizon: float,
    dt_out: float = 5.0,
    reference: str | None = None,
    level: float = 0.9,
    auto_apply: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> Recommendation:
    """Recommend the best feasible plan for ``twin`` (see the module docstring).

    Parameters
    ----------
    plans
        Candidate plans by name; ``reference`` (default: the first) is what the benefit
        is measured against, usually "carry on as now".
    horizon, dt_out
        Forecast window and resolution (the model's time unit).
    auto_apply
        Apply the chosen plan to the twin's standing inputs (only where a configuration
        allows automatic action; the default is advice only).
    on_progress
        Called with ``(plans forecast, plans)`` after each plan's ensemble forecast. The
        forecasts are then made one plan at a time, as :meth:`Twin.what_if` makes them
        (each from the twin's own forecast stream), so the result is the same.
    """
    if not plans:
        raise InvalidInputError("recommend needs at least one candidate plan")
    reference = reference or next(iter(plans))
    if reference not in plans:
        raise InvalidInputError(f"reference plan {reference!r} is not among {list(plans)}")
    forecasts = _what_if(twin, plans, horizon, dt_out, on_progress)
    summaries = forecasts.summary(objective.outcome, level)
    held = {c.name: forecasts.outcomes(c.outcome) for c in constraints}
    assessments = []
    for name in plans:
        probability = {c.name: float(np.mean(held[c.name][name] <= c.upper)) for c in constraints}
        ok = all(probability[c.name] >= c.probability for c in constraints)
        assessments.append(PlanAssessment(name, summaries[name], probability, ok))
    sign = 1.0 if objective.maximize else -1.0
    candidates = [a for a in assessments if a.feasible]
    chosen: str | None = None
    if candidates:
        chosen = max(candidates, key=lambda a: sign * a.objective.mean).plan
    best_chosen = sign * summaries[chosen].mean if chosen is not None else -np.inf
    binding = tuple(
        c.name
        for c in constraints
        if any(
            sign * a.objective.mean > best_chosen
            and a.constraint_probability[c.name] < c.probability
            for a in assessments
        )
    )
    benefit = (
        forecasts.difference(reference, chosen, objective.outcome, level)
        if chosen is not None
        else None
    )
    observations = twin.observations()
    evidence = {
        "observations": len(observations),
        "last_observation": observations[-1][0] if observations else None,
        "twin_time": twin.t,
        "members": twin.state.n_members,
    }
    applied = bool(auto_apply and chosen is not None)
    if applied and chosen is not None:
        twin.standing_inputs = twin.standing_inputs.merged(plans[chosen])
    return Recommendation(
        chosen,
        reference,
        getattr(objective, "name", "objective"),
        tuple(assessments),
        benefit,
        binding,
        evidence,
        forecasts,
        applied,
    )


def _what_if(
    twin: Twin[Any],
    plans: Mapping[str, Inputs],
    horizon: float,
    dt_out: float,
    on_progress: Callable[[int, int], None] | None,
) -> WhatIf:
    """``twin.what_if(plans)``, plan by plan when someone watches the progress."""
    if on_progress is None:
        return twin.what_if(plans, horizon, dt_out=dt_out)
    forecasts = {}
    for done, (name, plan) in enumerate(plans.items(), start=1):
        forecasts[name] = twin.forecast(horizon, plan, dt_out=dt_out, name=name)
        on_progress(done, len(plans))
    return WhatIf(forecasts)
