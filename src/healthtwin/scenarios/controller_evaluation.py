"""Closed-loop glucose controllers on a virtual cohort, side by side, as the CLI runs them.

:func:`evaluate_cohort` runs every controller (CGM + pump in closed loop) on every scenario
for the same patients, days and seeds (common random numbers) and returns the
:class:`~healthtwin.coupling.evaluation.Evaluation`: per-run metrics on true plasma glucose,
means over patient-runs and paired differences from the baseline (the first controller).
:func:`metric_rows` flattens it to one row per scenario x controller x patient x seed.
The job-queue variant with progress and stop checks is
:mod:`healthtwin.scenarios.cohort_evaluation`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from healthtwin.coupling.closed_loop import CONTROLLERS
from healthtwin.coupling.evaluation import METRICS, Evaluation, evaluate_controllers
from healthtwin.coupling.glucose_scenarios import SCENARIOS, scenario
from healthtwin.errors import InvalidInputError
from healthtwin.physiology.patients import cohort_names, load_patients

__all__ = [
    "COHORTS",
    "CONTROLLER_NAMES",
    "METRICS",
    "METRIC_COLUMNS",
    "SCENARIO_NAMES",
    "Evaluation",
    "cohort_patients",
    "evaluate_cohort",
    "metric_rows",
]

#: Controllers that can run in closed loop; the first asked for is the baseline.
CONTROLLER_NAMES: tuple[str, ...] = tuple(CONTROLLERS)
#: Glucose scenarios (meals, snacks, exercise...).
SCENARIO_NAMES: tuple[str, ...] = tuple(SCENARIOS)
#: Virtual cohorts: simglucose's 30 patients, or the nominal adult.
COHORTS = ("simglucose", "nominal")
#: Columns of :func:`metric_rows`.
METRIC_COLUMNS: tuple[str, ...] = ("scenario", "controller", "patient", "seed", *METRICS)


def cohort_patients(cohort: str) -> list[str]:
    """The names of a virtual cohort's patients.

    Raises
    ------
    InvalidInputError
        For a cohort not in :data:`COHORTS`.

    Examples
    --------
    >>> cohort_patients("nominal"), len(cohort_patients("simglucose"))
    (['nominal-adult'], 30)
    """
    if cohort not in COHORTS:
        raise InvalidInputError(f"unknown cohort {cohort!r}; valid: {', '.join(COHORTS)}")
    return list(cohort_names()) if cohort == "simglucose" else ["nominal-adult"]


def evaluate_cohort(
    controllers: Sequence[str],
    patients: Sequence[str],
    scenarios: Sequence[str],
    *,
    days: int = 3,
    replicates: int = 5,
) -> Evaluation:
    """Every controller in closed loop on every scenario, for the patients and seeds.

    Parameters
    ----------
    controllers
        Controller names (:data:`CONTROLLER_NAMES`); the first is the baseline.
    patients
        Virtual patient names (``nominal-adult``, ``adult#001``...).
    scenarios
        Scenario names (:data:`SCENARIO_NAMES`).
    days, replicates
        Days per run, and seeds ``0 .. replicates - 1``.

    Raises
    ------
    InvalidInputError
        For fewer than one day or replicate.
    InvalidParameterError
        For no controller or scenario, or a repeated controller.

    Examples
    --------
    >>> ev = evaluate_cohort(["basal-bolus"], ["nominal-adult"], ["snacks"], days=1,
    ...                      replicates=1)
    >>> ev.controllers, ev.scenarios, ev.seeds
    (('basal-bolus',), ('snacks',), (0,))
    """
    if days < 1 or replicates < 1:
        raise InvalidInputError(
            f"--days and --replicates must be >= 1, got {days} and {replicates}"
        )
    return evaluate_controllers(
        list(controllers),
        load_patients(list(patients)),
        [scenario(s) for s in scenarios],
        days=days,
        seeds=tuple(range(replicates)),
    )


def metric_rows(evaluation: Evaluation) -> Iterator[list[object]]:
    """One row per scenario x controller x patient x seed (:data:`METRIC_COLUMNS`).

    Metric values are formatted with 6 significant digits.

    Examples
    --------
    >>> ev = evaluate_cohort(["basal-bolus"], ["nominal-adult"], ["snacks"], days=1,
    ...                      replicates=1)
    >>> row = next(metric_rows(ev))
    >>> row[:4], len(row) == len(METRIC_COLUMNS)
    (['snacks', 'basal-bolus', 'nominal-adult', 0], True)
    """
    for kind in evaluation.scenarios:
        for name in evaluation.controllers:
            values = {m: evaluation.metric(kind, name, m) for m in METRICS}
            for p, patient in enumerate(evaluation.patients):
                for s, seed in enumerate(evaluation.seeds):
                    row = [f"{values[m][p, s]:.6g}" for m in METRICS]
                    yield [kind, name, patient, seed, *row]
