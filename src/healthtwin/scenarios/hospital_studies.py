"""Hospital studies run from a configuration file: a simulation, the M/M/c check, a plan.

The command line's ``healthtwin hospital simulate`` and ``plan`` call these functions and
only parse arguments, show progress and write what they return.
:func:`simulate_hospital_file` simulates a hospital YAML file (optionally with inflammation
twins as the admitted patients, whose NEWS2 trajectories then score the Royal College of
Physicians' alert rule, :func:`healthtwin.hospital.early_warning.evaluate_alerts`);
:func:`check_mmc` simulates the textbook M/M/c queue and sets its mean wait and probability
of waiting beside Erlang C; :func:`plan_hospital_capacity` searches the cheapest bed and
staff plan meeting targets (:func:`healthtwin.hospital.plan.plan_capacity`). The tables and
the HTML report of a simulation are :mod:`healthtwin.scenarios.hospital_reports`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from healthtwin.core.random import RandomStreams
from healthtwin.coupling.hospital_course import TwinCourse
from healthtwin.hospital import SimulationResult, load_hospital_config, mmc_config, simulate
from healthtwin.hospital.config import HospitalConfig
from healthtwin.hospital.course import ClinicalCourse
from healthtwin.hospital.early_warning import evaluate_alerts
from healthtwin.hospital.model import compile_model, draw_patients
from healthtwin.hospital.plan import PlanResult, plan_capacity
from healthtwin.hospital.queueing import erlang_c, mmc_mean_wait
from healthtwin.hospital.simulate import ENGINES

__all__ = [
    "HospitalStudy",
    "PlanResult",
    "SimulationResult",
    "check_mmc",
    "early_warning_line",
    "plan_hospital_capacity",
    "simulate_hospital_file",
]


@dataclass(frozen=True)
class HospitalStudy:
    """A simulated hospital and, with twins, how the NEWS2 alert rule did.

    Attributes
    ----------
    result
        Every metric per replication (``result.summary()``: mean and 95 % interval).
    early_warning
        With twins: deteriorations, sensitivity with its 95 % interval, lead times (hours)
        and false alerts per 100 patient-days; ``None`` without twins.
    """

    result: SimulationResult
    early_warning: dict[str, float | int] | None


def simulate_hospital_file(
    config: str | Path,
    *,
    days: float,
    replications: int,
    warmup_days: float = 0.0,
    seed: int = 0,
    engine: Literal["fast", "simpy"] = "fast",
    twins: bool = False,
    on_replication: Callable[[int], None] | None = None,
) -> HospitalStudy:
    """Simulate the hospital of a YAML file over ``days`` after ``warmup_days``.

    Parameters
    ----------
    config
        Hospital YAML file (:func:`healthtwin.hospital.load_hospital_config`).
    days, warmup_days
        Measured days per replication and the warm-up days discarded first.
    replications, seed
        Independent replications and their root seed (common random numbers).
    engine
        ``"fast"`` (vectorised) or ``"simpy"``.
    twins
        Admitted patients are inflammation twins giving events and NEWS2; the alert rule
        (NEWS2 >= 5 or any single 3) is then evaluated on their trajectories.
    on_replication
        Called with the number of replications done after each one (progress bars).

    Returns
    -------
    HospitalStudy
        The simulation and, with ``twins``, the alert rule's evaluation.

    Raises
    ------
    InvalidInputError
        If the file cannot be read or is not a valid hospital.

    Examples
    --------
    >>> from pathlib import Path
    >>> import tempfile, yaml
    >>> from healthtwin.hospital import mmc_config
    >>> folder = Path(tempfile.mkdtemp())
    >>> path = folder / "queue.yaml"
    >>> _ = path.write_text(yaml.safe_dump(mmc_config(9.0, 1.0, 10).model_dump(mode="json")))
    >>> study = simulate_hospital_file(path, days=20, replications=2)
    >>> study.early_warning is None, study.result.replications
    (True, 2)
    """
    hospital = load_hospital_config(config)
    course = TwinCourse(hospital, seed=seed) if twins else None
    result = _simulate(
        hospital,
        days=days,
        replications=replications,
        warmup_days=warmup_days,
        seed=seed,
        engine=engine,
        course=course,
        on_replication=on_replication,
    )
    warning = None if course is None else _early_warning(course)
    return HospitalStudy(result, warning)


def _early_warning(course: TwinCourse) -> dict[str, float | int]:
    """Evaluate RCP's alert rule (NEWS2 >= 5 or any single 3) on the twins' trajectories."""
    found = evaluate_alerts(course.trajectories())
    return {
        "deteriorations": found.events,
        "detected_within_24h": found.detected,
        "sensitivity": found.sensitivity,
        "sensitivity_95_low": found.sensitivity_low,
        "sensitivity_95_high": found.sensitivity_high,
        "lead_time_median_hours": found.lead_median_hours,
        "lead_time_q25_hours": found.lead_q25_hours,
        "lead_time_q75_hours": found.lead_q75_hours,
        "false_alerts_per_100_patient_days": found.false_alerts_per_100_patient_days,
        "patient_days": found.patient_days,
    }


def early_warning_line(warning: dict[str, float | int]) -> str:
    """One line on the alert rule's evaluation from :func:`simulate_hospital_file`.

    Examples
    --------
    >>> early_warning_line({"sensitivity": 0.8, "sensitivity_95_low": 0.6,
    ...     "sensitivity_95_high": 0.9, "deteriorations": 20, "lead_time_median_hours": 6.0,
    ...     "false_alerts_per_100_patient_days": 3.0})  # doctest: +NORMALIZE_WHITESPACE
    'NEWS2 alert rule (>= 5 or any single 3): sensitivity 0.80 [0.60, 0.90] over 20
    deteriorations, median lead 6.0 h, 3.0 false alerts per 100 patient-days'
    """
    w = warning
    return (
        f"NEWS2 alert rule (>= 5 or any single 3): sensitivity {w['sensitivity']:.2f} "
        f"[{w['sensitivity_95_low']:.2f}, {w['sensitivity_95_high']:.2f}] over "
        f"{w['deteriorations']} deteriorations, median lead {w['lead_time_median_hours']:.1f} h, "
        f"{w['false_alerts_per_100_patient_days']:.1f} false alerts per 100 patient-days"
    )


def check_mmc(
    arrival_rate: float,
    service_rate: float,
    servers: int,
    *,
    hours: float,
    replications: int,
    seed: int = 0,
    on_replication: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Simulate the M/M/c queue for ``hours`` in all and set it beside Erlang C.

    The hours are split evenly over the replications; each discards its first 2 % (at most
    10 days) as warm-up.

    Parameters
    ----------
    arrival_rate, service_rate
        Per hour; the queue must be stable (``arrival_rate < servers * service_rate``).
    servers
        Parallel servers ``c``.
    hours, replications, seed
        Total simulated hours, their independent replications and the root seed.
    on_replication
        Called with the number of replications done after each one (progress bars).

    Returns
    -------
    dict
        ``mmc`` (the queue), ``hours``, ``replicates``, ``seed``, and ``mean_wait_hours``
        and ``p_wait``, each with the simulated ``mean``, its 95 % interval (``low``,
        ``high``) and the exact ``erlang_c`` value.

    Examples
    --------
    >>> found = check_mmc(9.0, 1.0, 10, hours=2000, replications=2)
    >>> round(found["mean_wait_hours"]["erlang_c"], 5), found["mmc"]["servers"]
    (0.66873, 10)
    """
    lam, mu, c = arrival_rate, service_rate, servers
    per_rep_days = hours / replications / 24.0
    result = _simulate(mmc_config(lam, mu, c), days=per_rep_days, replications=replications,
                       warmup_days=min(per_rep_days * 0.02, 10.0), seed=seed,
                       on_replication=on_replication)  # fmt: skip
    summary = result.summary()
    w, p = summary["wait_hours.queue"], summary["waited_fraction.queue"]
    exact_w, exact_p = float(mmc_mean_wait(c, lam, mu)), float(erlang_c(c, lam / mu))
    return {
        "mmc": {"arrival_rate": lam, "service_rate": mu, "servers": c},
        "hours": hours, "replicates": replications, "seed": seed,
        "mean_wait_hours": {"mean": w.mean, "low": w.low, "high": w.high, "erlang_c": exact_w},
        "p_wait": {"mean": p.mean, "low": p.low, "high": p.high, "erlang_c": exact_p},
    }  # fmt: skip


def plan_hospital_capacity(
    config: str | Path,
    target: str,
    *,
    days: float,
    warmup_days: float = 0.0,
    replications: int = 10,
    max_replications: int = 40,
    confidence: float = 0.95,
    seed: int = 0,
    on_progress: Callable[[int, int], None] | None = None,
) -> PlanResult:
    """The cheapest bed/staff plan for the hospital of a YAML file that meets ``target``.

    Parameters
    ----------
    config
        Hospital YAML file.
    target
        Targets such as ``"ed_4h_breach<0.05"`` (comma-separated for several).
    days, warmup_days
        Simulated and discarded days per replication.
    replications, max_replications
        First-stage replications per plan and the budget per plan.
    confidence, seed
        Probability the plan meets the targets, and the root seed.
    on_progress
        ``(replications simulated, replications planned so far)`` after each batch
        (:func:`healthtwin.hospital.plan_capacity`); the result does not depend on it.

    Returns
    -------
    PlanResult
        Every candidate plan tried, and the chosen one if any was shown to meet the targets.

    Examples
    --------
    >>> from pathlib import Path
    >>> import tempfile, yaml
    >>> from healthtwin.hospital import mmc_config
    >>> path = Path(tempfile.mkdtemp()) / "queue.yaml"
    >>> _ = path.write_text(yaml.safe_dump(mmc_config(9.0, 1.0, 10).model_dump(mode="json")))
    >>> plan = plan_hospital_capacity(path, "waited_fraction.queue<0.9", days=5, replications=2,
    ...                               max_replications=2)
    >>> [t.metric for t in plan.targets]
    ['waited_fraction.queue']
    """
    return plan_capacity(
        load_hospital_config(config), target, days=days, warmup_days=warmup_days,
        replications=replications, max_replications=max_replications,
        confidence=confidence, seed=seed, on_progress=on_progress,
    )  # fmt: skip


def _simulate(
    config: HospitalConfig,
    *,
    days: float,
    replications: int,
    warmup_days: float,
    seed: int,
    engine: Literal["fast", "simpy"] = "fast",
    course: ClinicalCourse | None = None,
    on_replication: Callable[[int], None] | None = None,
) -> SimulationResult:
    """:func:`healthtwin.hospital.simulate`, reporting each replication to ``on_replication``.

    Without a callback it is that function. With one it runs the same replications (same
    streams, same engine; ``tests/scenarios/test_hospital_studies.py`` checks the results
    are identical) one by one; the loop belongs in ``simulate`` itself once it takes a
    callback.
    """
    if on_replication is None:
        return simulate(config, days=days, replications=replications, warmup_days=warmup_days,
                        seed=seed, engine=engine, course=course)  # fmt: skip
    if engine not in ENGINES or not days > 0 or not warmup_days >= 0 or replications < 1:
        # Let simulate() raise its own message for bad arguments.
        return simulate(config, days=days, replications=replications, warmup_days=warmup_days,
                        seed=seed, engine=engine, course=course)  # fmt: skip
    run, model, streams = ENGINES[engine], compile_model(config), RandomStreams(seed)
    horizon = (days + warmup_days) * 24.0
    rows = []
    start = time.process_time()
    for r in range(replications):
        draws = draw_patients(model, horizon, streams, r, None, full_paths=course is not None)
        rng = streams.generator(f"hospital/rep{r}/course")
        rows.append(run(model, draws, horizon, warmup_days * 24.0, course, rng))
        on_replication(r + 1)
    return SimulationResult(
        per_replication={k: np.array([row[k] for row in rows]) for k in rows[0]},
        days=days,
        warmup_days=warmup_days,
        seed=seed,
        engine=engine,
        cpu_seconds=time.process_time() - start,
    )
