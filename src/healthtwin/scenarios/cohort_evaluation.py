"""Glucose controllers in closed loop on a virtual cohort, evaluated side by side.

:func:`plan_cohort_evaluation` checks the names (controllers, scenarios, virtual patients)
and the size of the evaluation now; :meth:`CohortEvaluation.run` later runs every
(scenario, controller) pair in closed loop
(:func:`~healthtwin.coupling.closed_loop.run_closed_loop`) on the same patients, days and
seeds (common random numbers), reporting progress after each pair and checking for a stop
between pairs. Its summary holds, per scenario, each controller's metrics (mean and SD over
patient-runs) and its paired difference from the baseline (the first controller) with a
95 % interval (:class:`~healthtwin.coupling.evaluation.Evaluation`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from healthtwin.errors import InvalidInputError
from healthtwin.scenarios.reporting import Reporter, RunOutput

if TYPE_CHECKING:
    from healthtwin.coupling.closed_loop import ClosedLoopResult
    from healthtwin.coupling.glucose_scenarios import GlucoseScenario
    from healthtwin.physiology.uva_padova import UvaPadovaPatient

__all__ = ["MAX_COHORT_PATIENT_DAYS", "CohortEvaluation", "plan_cohort_evaluation"]

#: Closed-loop patient-days one evaluation may simulate (a few CPU minutes).
MAX_COHORT_PATIENT_DAYS = 400


@dataclass(frozen=True)
class CohortEvaluation:
    """A validated cohort evaluation, ready to run (see :func:`plan_cohort_evaluation`)."""

    controllers: tuple[str, ...]
    patients: tuple[UvaPadovaPatient, ...]
    scenarios: tuple[GlucoseScenario, ...]
    days: int
    seeds: tuple[int, ...]

    def run(self, reporter: Reporter) -> RunOutput:
        """Every (scenario, controller) pair in closed loop, then the paired comparison.

        Examples
        --------
        >>> from healthtwin.scenarios.reporting import SilentReporter
        >>> plan = plan_cohort_evaluation(["pid"], replicates=1)
        >>> out = plan.run(SilentReporter()).summary
        >>> out["baseline"], 0 <= out["scenarios"]["snacks"]["metrics"]["pid"]["tir_70_180"][0]
        ('pid', True)
        """
        from healthtwin.coupling.closed_loop import run_closed_loop

        runs: dict[tuple[str, str], ClosedLoopResult] = {}
        total = len(self.scenarios) * len(self.controllers)
        for kind in self.scenarios:
            for name in self.controllers:
                reporter.check()
                runs[(kind.name, name)] = run_closed_loop(
                    name, list(self.patients), kind, days=self.days, seeds=self.seeds
                )
                reporter.progress(len(runs) / total, f"{name} on {kind.name}")
        return RunOutput(self._summary(runs))

    def _summary(self, runs: dict[tuple[str, str], ClosedLoopResult]) -> dict[str, Any]:
        from healthtwin.coupling.evaluation import METRICS, Evaluation

        evaluation = Evaluation(
            self.controllers,
            tuple(s.name for s in self.scenarios),
            tuple(p.name for p in self.patients),
            self.seeds,
            self.days,
            runs,
            dict.fromkeys(runs, 0.0),
        )
        baseline = self.controllers[0]
        scenarios = {
            sc: {
                "metrics": evaluation.table(sc),
                "versus_baseline": {
                    other: {
                        m: dataclasses.asdict(evaluation.versus(sc, baseline, other, m))
                        for m in METRICS
                    }
                    for other in self.controllers[1:]
                },
            }
            for sc in evaluation.scenarios
        }
        return {"kind": "cohort-evaluation", "baseline": baseline, "scenarios": scenarios}


def plan_cohort_evaluation(
    controllers: Sequence[str],
    *,
    patients: Sequence[str] = ("nominal-adult",),
    scenarios: Sequence[str] = ("snacks",),
    days: int = 1,
    replicates: int = 2,
) -> CohortEvaluation:
    """Check an evaluation's names and size now; run it later with :meth:`CohortEvaluation.run`.

    Parameters
    ----------
    controllers
        Controller names; the first is the baseline of the paired differences.
    patients
        Virtual patients (``nominal-adult``, or simglucose's ``adult#001``...).
    scenarios
        Glucose scenario names (meals and exercise).
    days, replicates
        Days per run, and seeds ``0 .. replicates - 1``.

    Returns
    -------
    CohortEvaluation

    Raises
    ------
    InvalidInputError
        For an unknown controller or scenario (the valid names are listed), a repeated
        controller, or more than :data:`MAX_COHORT_PATIENT_DAYS` patient-days.

    Examples
    --------
    >>> plan_cohort_evaluation(["pid", "pid"])
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidInputError: controllers repeat: ['pid', 'pid']
    """
    from healthtwin.coupling.closed_loop import CONTROLLERS
    from healthtwin.coupling.glucose_scenarios import SCENARIOS, scenario
    from healthtwin.physiology.patients import load_patients

    for what, names, valid in (
        ("controller", controllers, CONTROLLERS),
        ("scenario", scenarios, tuple(SCENARIOS)),
    ):
        unknown = [n for n in names if n not in valid]
        if unknown:
            raise InvalidInputError(f"unknown {what}(s) {unknown}; valid: {', '.join(valid)}")
    if len(set(controllers)) != len(controllers):
        raise InvalidInputError(f"controllers repeat: {list(controllers)}")
    patient_days = len(controllers) * len(scenarios) * len(patients) * replicates * days
    if patient_days > MAX_COHORT_PATIENT_DAYS:
        raise InvalidInputError(
            f"{patient_days} simulated patient-days (controllers x scenarios x patients x "
            f"replicates x days) exceed {MAX_COHORT_PATIENT_DAYS} per job; ask for less"
        )
    return CohortEvaluation(
        tuple(controllers),
        tuple(load_patients(list(patients))),
        tuple(scenario(name) for name in scenarios),
        days,
        tuple(range(replicates)),
    )
