"""The cohort evaluation without HTTP: checked names and size, equal to the coupling's own."""

from __future__ import annotations

from typing import Any

import pytest

from healthtwin.coupling.evaluation import METRICS, evaluate_controllers
from healthtwin.coupling.glucose_scenarios import scenario
from healthtwin.errors import InvalidInputError
from healthtwin.physiology.patients import load_patients
from healthtwin.scenarios.cohort_evaluation import (
    MAX_COHORT_PATIENT_DAYS,
    plan_cohort_evaluation,
)


class Recorder:
    def __init__(self) -> None:
        self.reports: list[tuple[float, str]] = []
        self.checks = 0

    def check(self) -> None:
        self.checks += 1

    def progress(self, fraction: float, message: str = "") -> None:
        self.reports.append((fraction, message))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"controllers": ["magic"]}, "unknown controller.*basal-bolus"),
        ({"controllers": ["pid"], "scenarios": ["feast"]}, "unknown scenario.*snacks"),
        ({"controllers": ["pid", "pid"]}, "controllers repeat"),
        (
            {"controllers": ["pid", "mpc"], "days": 14, "replicates": 20},
            f"exceed {MAX_COHORT_PATIENT_DAYS}",
        ),
    ],
)
def test_bad_evaluations_are_refused_before_running(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        plan_cohort_evaluation(**kwargs)


def test_the_run_equals_evaluate_controllers_and_reports_each_pair() -> None:
    # One controller keeps the test short (each closed-loop run costs about 2 s); the
    # paired differences are checked against the coupling's in tests/api/test_jobs.py.
    patients = ["adult#001", "adult#002"]
    plan = plan_cohort_evaluation(["pid"], patients=patients, scenarios=["announced"], replicates=1)
    reporter = Recorder()
    summary = plan.run(reporter).summary
    assert reporter.reports == [(1.0, "pid on announced")]
    assert reporter.checks == 1
    direct = evaluate_controllers(
        ["pid"], load_patients(patients), [scenario("announced")], days=1, seeds=(0,)
    )
    out = summary["scenarios"]["announced"]
    assert (summary["kind"], summary["baseline"]) == ("cohort-evaluation", "pid")
    assert out["metrics"] == direct.table("announced")
    assert set(out["metrics"]["pid"]) == set(METRICS)
    assert out["versus_baseline"] == {}
