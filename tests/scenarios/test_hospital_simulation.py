"""A hospital simulated over a window: checked now, run later, equal to the engine's summary."""

from __future__ import annotations

import numpy as np
import pytest

from healthtwin.errors import InvalidInputError
from healthtwin.hospital.simulate import simulate
from healthtwin.hospital.textbook import mmc_config
from healthtwin.scenarios.hospital_simulation import plan_hospital_simulation
from healthtwin.scenarios.reporting import SilentReporter


class Stopper:
    def __init__(self) -> None:
        self.checks = 0

    def check(self) -> None:
        self.checks += 1
        if self.checks > 1:
            raise RuntimeError("stopped")

    def progress(self, fraction: float, message: str = "") -> None:
        self.message = message


def test_the_run_holds_the_engines_summary_and_per_replication_values() -> None:
    config = mmc_config(9.0, 1.0, 10)
    plan = plan_hospital_simulation(
        config.model_dump(mode="json"), days=5.0, warmup_days=1.0, replications=4, seed=2
    )
    output = plan.run(SilentReporter())
    direct = simulate(config, days=5.0, warmup_days=1.0, replications=4, seed=2)
    metrics = output.summary["metrics"]
    for name, s in direct.summary().items():
        assert metrics[name]["mean"] == pytest.approx(s.mean, nan_ok=True)
        assert metrics[name]["level"] == s.level
    for name, values in direct.per_replication.items():
        np.testing.assert_array_equal(output.arrays[name.replace(":", "_")], values)


def test_bad_configs_and_oversized_runs_are_refused_and_a_stop_is_honoured() -> None:
    with pytest.raises(InvalidInputError, match="config is invalid"):
        plan_hospital_simulation({"units": {"x": {"beds": -1}}}, days=1.0)
    with pytest.raises(InvalidInputError, match="replication-days"):
        plan_hospital_simulation({}, days=3000.0, replications=10)
    plan = plan_hospital_simulation(mmc_config(1.0, 1.0, 2).model_dump(mode="json"), days=1.0)
    stopper = Stopper()
    with pytest.raises(RuntimeError, match="stopped"):
        plan.run(stopper)
    assert stopper.message == "simulating 10 replications"
