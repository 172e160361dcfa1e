"""A cohort run that reports its minutes gives the traces of one uninterrupted run."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from healthtwin.physiology.cgm import CGMSensor, cgm_params
from healthtwin.physiology.patients import load_patients
from healthtwin.physiology.registry import make_model
from healthtwin.physiology.simulate import Meal, simulate_nominal, simulate_patients


def _same(a: object, b: object) -> None:
    for field in dataclasses.fields(a):  # type: ignore[arg-type]
        x, y = getattr(a, field.name), getattr(b, field.name)
        if isinstance(x, np.ndarray):
            np.testing.assert_array_equal(x, y, err_msg=field.name)
        else:
            assert x == y, field.name


@pytest.mark.parametrize("method", ["rk4", "dopri5"])
def test_hour_chunks_reproduce_the_single_run(method: str) -> None:
    patients = load_patients("all")[::10]
    meals = [Meal(30, 50), Meal(100, 40)]
    options = {"hours": 2.5, "bolus_cr": True, "method": method, "seed": 3,
               "cgm": CGMSensor(cgm_params("dexcom"))}  # fmt: skip
    reports: list[tuple[int, int]] = []
    counted = simulate_patients(patients, meals, on_progress=lambda d, t: reports.append((d, t)),
                                **options)  # type: ignore[arg-type]  # fmt: skip
    _same(counted, simulate_patients(patients, meals, **options))  # type: ignore[arg-type]
    assert reports == [(60, 150), (120, 150), (150, 150)]


def test_the_nominal_subject_reports_each_hour() -> None:
    model = make_model("bergman-minimal")
    reports: list[tuple[int, int]] = []
    counted = simulate_nominal(model, [Meal(20, 30)], hours=1.5,
                               on_progress=lambda d, t: reports.append((d, t)))  # fmt: skip
    _same(counted, simulate_nominal(model, [Meal(20, 30)], hours=1.5))
    assert reports == [(60, 90), (90, 90)]
