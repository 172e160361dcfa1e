"""The synthetic benchmark's child-process runner: crashes are reported, AIM runs apart."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from benchmarks.synthetic import run_aim, run_child
from tests.conftest import require

from healthtwin.synthetic import TableSchema


def test_a_child_killed_by_a_signal_is_reported_as_failed() -> None:
    status = run_child([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), 11)"], 60)
    assert status.startswith("failed: killed by SIGSEGV")


def test_a_child_past_its_time_limit_is_reported_as_failed() -> None:
    status = run_child([sys.executable, "-c", "import time; time.sleep(30)"], 0.5)
    assert status == "failed: timed out after 0.5 s"


def test_a_child_error_keeps_its_last_line() -> None:
    status = run_child([sys.executable, "-c", "raise ValueError('bad table')"], 60)
    assert status == "failed: exit 1: ValueError: bad table"


def _tiny() -> tuple[pd.DataFrame, pd.DataFrame, TableSchema]:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2, 120)
    table = pd.DataFrame({"x": a + rng.normal(0.0, 0.3, 120), "y": np.where(a, "yes", "no")})
    train, holdout = table.iloc[:60], table.iloc[60:]
    return train.reset_index(drop=True), holdout.reset_index(drop=True), TableSchema.infer(table)


def test_invalid_aim_settings_fail_in_the_child_not_here() -> None:
    train, holdout, schema = _tiny()
    row = run_aim(train, train, holdout, schema=schema, target="y",
                  settings={"epsilon": -1.0}, timeout_s=120)  # fmt: skip
    assert row["status"].startswith("failed: fit on the training half: exit 1: ")
    assert "InvalidParameterError" in row["status"]
    assert "first_fit_s" not in row


@pytest.mark.slow  # a fresh process imports jax and compiles: ~10 s of CPU
def test_aim_child_on_a_tiny_table_returns_figures_and_timings() -> None:
    require("jax", "synth")  # mbi itself warns unless imported through healthtwin
    train, holdout, schema = _tiny()
    settings = {"epsilon": 20.0, "iters": 5, "final_iters": 20}
    row = run_aim(train, train, holdout, schema=schema, target="y", settings=settings,
                  timeout_s=300)  # fmt: skip
    assert row["status"] == "ok"
    assert row["epsilon"] == 20.0
    assert row["first_fit_s"] > 0
    assert row["fit_s_per_10k_rows"] > 0
    assert row["sample_s_per_10k_rows"] > 0
    assert 0.0 <= row["discriminator_auc"] <= 1.0
