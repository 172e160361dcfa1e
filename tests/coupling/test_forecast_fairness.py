"""Glucose forecasters' errors by patient age group, cross-validated by patient."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from healthtwin.coupling.forecast_fairness import glucose_forecaster_fairness, patient_group
from healthtwin.errors import InvalidInputError

DATA = Path(__file__).resolve().parents[1] / "data" / "federation" / "glucose_forecasts.npz"


@pytest.mark.parametrize("kind", ["hybrid", "ml"])
def test_children_are_forecast_worst_and_the_report_says_so(kind: str) -> None:
    d = np.load(DATA)
    report = glucose_forecaster_fairness(
        d["patient"], d["features"], d["mechanistic_mg_dl"][:, 0], d["cgm_mg_dl"][:, 0],
        kind=kind,  # type: ignore[arg-type]
    )  # fmt: skip
    assert report.n == 2520
    column = report.column("patient_group")
    mae = column.metric("mae")
    assert set(mae) == {"child", "adolescent", "adult"}
    # Measured: hybrid MAE 19.1 (children) vs 11.8 (adults) mg/dL at 30 min.
    assert mae["child"] > mae["adult"] + 3.0
    assert column.disparity("mae").difference == pytest.approx(mae["child"] - mae["adult"])


def test_bad_inputs_are_clear_errors() -> None:
    with pytest.raises(InvalidInputError, match="age group"):
        patient_group("nominal-adult")
    with pytest.raises(InvalidInputError, match="one row per point"):
        glucose_forecaster_fairness(["adult#001"], np.zeros((2, 1)), [1.0], [1.0])
