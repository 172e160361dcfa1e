"""Federated runs without HTTP: synthetic sites, checks, rounds logged, stops, privacy."""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import require

from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.scenarios.federated_jobs import (
    MAX_PATIENT_ROUNDS,
    TRUE_COEFFICIENTS,
    FederatedRunSettings,
    RoundLog,
    plan_federated_run,
    synthetic_site,
)


class Recorder:
    def __init__(self, stop_after: int | None = None) -> None:
        self.fractions: list[float] = []
        self.checks = 0
        self.stop_after = stop_after

    def check(self) -> None:
        self.checks += 1
        if self.stop_after is not None and self.checks > self.stop_after:
            raise RuntimeError("stopped")

    def progress(self, fraction: float, message: str = "") -> None:
        self.fractions.append(fraction)


def test_sites_shift_their_case_mix_and_keep_the_true_model() -> None:
    first = synthetic_site("logistic", 0, 3, 4000, 1.0, seed=5)
    last = synthetic_site("logistic", 2, 3, 4000, 1.0, seed=5)
    # Feature means are shift x (k / (K - 1) - 1/2): -0.5 and +0.5, SE 1/sqrt(4000).
    np.testing.assert_allclose(first["features"].mean(axis=0), -0.5, atol=0.06)
    np.testing.assert_allclose(last["features"].mean(axis=0), 0.5, atol=0.06)
    # Same seed and site: the same cohort; another seed: another.
    again = synthetic_site("logistic", 0, 3, 4000, 1.0, seed=5)
    np.testing.assert_array_equal(first["event"], again["event"])
    assert not np.array_equal(
        first["features"], synthetic_site("logistic", 0, 3, 4000, 1.0, 6)["features"]
    )
    cox = synthetic_site("cox", 1, 3, 4000, 0.0, seed=1)
    assert cox["time"].min() > 0
    assert 0.5 < cox["event"].mean() < 0.95
    # Logistic labels follow the true coefficients: the score separates the two classes.
    score = first["features"] @ np.asarray(TRUE_COEFFICIENTS)
    assert score[first["event"]].mean() > score[~first["event"]].mean() + 0.3


def test_bad_runs_are_refused_before_running() -> None:
    with pytest.raises(InvalidParameterError, match="at least 2 sites"):
        FederatedRunSettings(sites=1)
    with pytest.raises(InvalidInputError, match=f"at most {MAX_PATIENT_ROUNDS}"):
        plan_federated_run(
            FederatedRunSettings(sites=16, patients_per_site=2000, rounds=100), RoundLog()
        )


def test_a_run_logs_each_round_and_spends_its_privacy_budget() -> None:
    require("flwr", "fed")
    settings = FederatedRunSettings(sites=2, patients_per_site=100, rounds=2, dp_epsilon=5.0)
    log, reporter = RoundLog(), Recorder()
    output = plan_federated_run(settings, log).run(reporter)
    rounds = log.entries()
    assert [r["round"] for r in rounds] == [1, 2]
    assert rounds[-1]["epsilon"] == pytest.approx(5.0)
    assert rounds[0]["epsilon"] < rounds[1]["epsilon"]
    assert reporter.fractions[0] == 0.0
    assert reporter.fractions[-1] == 1.0
    summary = output.summary
    assert summary["privacy"]["epsilon_spent"] == pytest.approx(5.0)
    assert summary["privacy"]["rdp_epsilon_bound"] >= 5.0
    assert summary["settings"]["dp_epsilon"] == 5.0
    assert summary["settings"]["sites"] == 2
    assert [s["n_patients"] for s in summary["sites"]] == [100, 100]
    assert (
        np.asarray(output.arrays["theta"]).shape == np.asarray(output.arrays["central_theta"]).shape
    )


def test_a_stop_at_a_message_exchange_ends_the_run() -> None:
    require("flwr", "fed")
    log = RoundLog()
    run = plan_federated_run(FederatedRunSettings(sites=2, patients_per_site=50, rounds=5), log)
    with pytest.raises(RuntimeError, match="stopped"):
        run.run(Recorder(stop_after=2))
    assert len(log.entries()) < 5


def test_without_dp_no_privacy_is_spent() -> None:
    require("flwr", "fed")
    output = plan_federated_run(
        FederatedRunSettings(sites=2, patients_per_site=50, rounds=1), RoundLog()
    ).run(Recorder())
    assert output.summary["privacy"] == {
        "differential_privacy": False, "epsilon_spent": 0.0, "epsilon_budget": None,
    }  # fmt: skip
    assert output.summary["true_coefficients"] == list(TRUE_COEFFICIENTS)
