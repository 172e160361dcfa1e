"""Closed-loop glucose controllers on a virtual cohort, side by side, as the CLI runs them.

:func:`evaluate_cohort` runs every controller (CGM + pump in closed loop) on every scenario
for the same patients, days and seeds (common random numbers) and returns the
:class:`~healthtwin.coupling.evaluation.Evaluation`: per-run metrics on true plasma glucose,
means over patient-runs and paired differences from the baseline (the first controller).
:func:`metric_rows` flattens it to one row per scenario x controller x patient x seed.

The runs are cut into tasks of replicates of one scenario x controller pair
(:mod:`~healthtwin.scenarios.cohort_tasks`), each on the whole cohort in one vectorized
batch, and run in process, on a Dask ``LocalCluster`` or on an existing cluster. The
numbers are bit-identical wherever they run, for any ``replicates_per_task``, and
identical to those of one batch per pair (the evaluation before tasks existed): replicate
``r`` of a row-separable controller (:data:`ROW_SEPARABLE`) draws its meals and sensor
noise from seed ``r`` alone, whatever other replicates share its batch; the MPC seeds its
twins once for the whole batch, so its pairs are never cut. The patients of a pair stay
in one batch: a seed's meal plans and sensor noise are drawn for the cohort as a whole
(:func:`~healthtwin.coupling.closed_loop.run_closed_loop`), so cutting the cohort would
change them (and a patient runs about as long alone as in a batch of 30).

The job-queue variant with progress and stop checks is
:mod:`healthtwin.scenarios.cohort_evaluation`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from healthtwin.core.types import FloatArray
from healthtwin.coupling.closed_loop import CONTROLLERS, ClosedLoopResult, run_closed_loop
from healthtwin.coupling.evaluation import METRICS, Evaluation
from healthtwin.coupling.glucose_scenarios import SCENARIOS, GlucoseScenario, scenario
from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.physiology.patients import cohort_names, load_patients
from healthtwin.physiology.uva_padova import UvaPadovaPatient
from healthtwin.scenarios.cohort_tasks import CohortTask, run_cohort_tasks

__all__ = [
    "COHORTS",
    "CONTROLLER_NAMES",
    "METRICS",
    "METRIC_COLUMNS",
    "ROW_SEPARABLE",
    "SCENARIO_NAMES",
    "Evaluation",
    "EvaluationJob",
    "cohort_patients",
    "evaluate_cohort",
    "join_replicates",
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
    cluster: str | None = None,
    workers: int | None = None,
    replicates_per_task: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    processes: bool = True,
) -> Evaluation:
    """Every controller in closed loop on every scenario, for the patients and seeds.

    The work is cut into tasks of replicates of one scenario x controller pair
    (:mod:`healthtwin.scenarios.cohort_tasks`), each run on the whole cohort at once;
    the results are the same in process and on any cluster, for any chunk size.

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
    cluster, workers
        Where the tasks run: None (this process), ``"local"`` (a Dask ``LocalCluster``
        of ``workers`` processes) or a scheduler address (``tcp://host:port``).
    replicates_per_task
        Replicates per task (default: about one task per worker).
    progress
        ``(tasks done, tasks)`` as tasks finish.
    processes
        Local cluster only: workers as processes (default) or threads.

    Raises
    ------
    InvalidInputError
        For fewer than one day or replicate, or a bad cluster request.
    InvalidParameterError
        For no controller or scenario, or an unknown or repeated controller.

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
    if not controllers or not scenarios:
        raise InvalidParameterError("give at least one controller and one scenario")
    if len(set(controllers)) != len(controllers):
        raise InvalidParameterError(f"controllers repeat: {list(controllers)}")
    unknown = [name for name in controllers if name not in CONTROLLERS]
    if unknown:
        raise InvalidParameterError(
            f"unknown controller(s) {unknown}; valid: {', '.join(CONTROLLERS)}"
        )
    kinds = [scenario(s) for s in scenarios]
    job = EvaluationJob(
        tuple(controllers), tuple(load_patients(list(patients))), tuple(kinds), days
    )
    labels = [f"{name} on {kind.name}" for kind in kinds for name in controllers]
    done = run_cohort_tasks(
        job.run,
        labels,
        replicates,
        splittable=[name in ROW_SEPARABLE for _ in kinds for name in controllers],
        units_per_task=replicates_per_task,
        cluster=cluster,
        workers=workers,
        progress=progress,
        processes=processes,
    )
    return job.merge(done, replicates)


#: Controllers whose runs are independent row by row (patient x seed): several replicates
#: in one batch give exactly the numbers of one batch each. The MPC's twins share one
#: random stream across the batch (seeded by its first seed), so an MPC pair is one task.
ROW_SEPARABLE = frozenset({"basal-bolus", "pid", "oref0"})


@dataclass(frozen=True)
class EvaluationJob:
    """What every task of an evaluation shares; :meth:`run` runs one task (on any worker)."""

    controllers: tuple[str, ...]
    patients: tuple[UvaPadovaPatient, ...]
    scenarios: tuple[GlucoseScenario, ...]
    days: int

    def run(self, task: CohortTask) -> tuple[ClosedLoopResult, float]:
        """Replicates ``task.unit_ids`` of one pair: runs ``patients x replicates``, CPU s.

        A pair whose controller is not row-separable comes whole (its replicates share the
        twins' random stream).
        """
        kind, name = divmod(task.group, len(self.controllers))
        start = time.process_time()
        run = run_closed_loop(
            self.controllers[name],
            list(self.patients),
            self.scenarios[kind],
            days=self.days,
            seeds=task.unit_ids,
        )
        return run, time.process_time() - start

    def merge(
        self, done: Sequence[tuple[CohortTask, tuple[ClosedLoopResult, float]]], replicates: int
    ) -> Evaluation:
        """The evaluation from the tasks' results, in task order."""
        runs: dict[tuple[str, str], ClosedLoopResult] = {}
        cpu: dict[tuple[str, str], float] = {}
        pairs = [(kind.name, name) for kind in self.scenarios for name in self.controllers]
        for g, key in enumerate(pairs):
            mine = [result for task, result in done if task.group == g]
            runs[key] = join_replicates([run for run, _ in mine])
            cpu[key] = sum(seconds for _, seconds in mine)
        return Evaluation(
            self.controllers,
            tuple(kind.name for kind in self.scenarios),
            tuple(p.name for p in self.patients),
            tuple(range(replicates)),
            self.days,
            runs,
            cpu,
        )


_TRACES = ("bg_mg_dl", "cgm_mg_dl", "basal_u_per_min", "bolus_u", "eaten_g")


def join_replicates(parts: Sequence[ClosedLoopResult]) -> ClosedLoopResult:
    """Runs of the same patients under consecutive seeds as one run (rows patient-major).

    Examples
    --------
    >>> p, sc = load_patients(["nominal-adult"]), scenario("snacks")
    >>> one = [run_closed_loop("pid", p, sc, days=1, seeds=(s,)) for s in (0, 1)]
    >>> both = run_closed_loop("pid", p, sc, days=1, seeds=(0, 1))
    >>> joined = join_replicates(one)
    >>> joined.seeds, bool((joined.bg_mg_dl == both.bg_mg_dl).all())
    ((0, 1), True)
    """
    if len(parts) == 1:
        return parts[0]
    per_part = [tuple(dict.fromkeys(part.seeds)) for part in parts]
    seeds = tuple(s for part_seeds in per_part for s in part_seeds)
    n_patients = len(parts[0].seeds) // len(per_part[0])
    names = parts[0].patients[:: len(per_part[0])]

    def joined(field: str) -> FloatArray:
        blocks = [
            np.asarray(getattr(part, field)).reshape(n_patients, len(part_seeds), -1)
            for part, part_seeds in zip(parts, per_part, strict=True)
        ]
        return np.concatenate(blocks, axis=1).reshape(n_patients * len(seeds), -1)

    first = parts[0]
    return ClosedLoopResult(
        first.controller,
        first.scenario,
        tuple(name for name in names for _ in seeds),
        seeds * n_patients,
        first.t_min,
        *(joined(field) for field in _TRACES),
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
