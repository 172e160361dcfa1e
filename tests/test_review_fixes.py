"""Edge cases found in review, each once a real defect."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.conftest import require

from healthtwin.cli import main
from healthtwin.core import Channel, Forecast, Twin
from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.physiology import (
    Meal,
    UvaPadova,
    load_patient,
    meal_plan_inputs,
    simulate_patients,
)
from healthtwin.physiology.registry import make_model, model_names


def _twin() -> Twin:  # type: ignore[type-arg]
    model = UvaPadova([load_patient("nominal-adult")])
    state = model.initial_state(3, np.random.default_rng(0))
    return Twin(model, state, 0.0, seed=5, standing_inputs=model.basal_inputs(state))


@pytest.mark.parametrize("t", [30, np.float64(30.0), 30.0])
def test_a_replayed_twin_forecasts_with_the_same_numbers(t: float) -> None:
    twin = _twin()
    twin.advance_to(t)
    again = twin.as_of(30.0)
    assert again.t == 30.0
    np.testing.assert_array_equal(
        again.forecast(20.0, dt_out=5.0).values, twin.forecast(20.0, dt_out=5.0).values
    )


@pytest.mark.parametrize("t", [float("nan"), float("inf"), "soon"])
def test_advancing_to_a_non_finite_time_is_refused(t: object) -> None:
    twin = _twin()
    with pytest.raises(InvalidInputError, match="time must be"):
        twin.advance_to(t)  # type: ignore[arg-type]
    assert twin.t == 0.0


def test_forecast_grid_ends_exactly_at_the_horizon() -> None:
    fc = _twin().forecast(7.5, dt_out=5.0)
    np.testing.assert_array_equal(fc.t, [0.0, 5.0, 7.5])


def test_two_meals_within_a_minute_get_both_boluses() -> None:
    inputs = meal_plan_inputs([Meal(60, 50), Meal(60.5, 50)], np.array([0.0]), np.array([10.0]))
    rate = inputs.rates["insulin_u_per_min"]
    total_u = np.sum(np.diff(np.append(rate.times, 70.0)) * rate.values[0])
    assert total_u == pytest.approx(10.0)


def test_intake_column_follows_the_meal_clock_for_off_minute_meals() -> None:
    run = simulate_patients([load_patient("nominal-adult")], [Meal(60.5, 12)], hours=1.5)
    np.testing.assert_array_equal(run.cho_g_per_min[0, 59:65], [0, 0, 5, 5, 2, 0])
    assert run.states[0, 61, 0] == 0.0  # nothing in the stomach before minute 61
    assert run.states[0, 62, 0] > 0.0


@pytest.mark.parametrize(
    ("hours", "message"),
    [("1e308", "at most"), ("0.001", "whole number of minutes"), ("1.0001", "whole number")],
)
def test_run_lengths_are_checked(
    hours: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "patient",
            "simulate",
            "--patient",
            "nominal-adult",
            "--meals",
            "",
            "--hours",
            hours,
            "--out",
            str(tmp_path / "x.csv"),
        ]
    )
    assert code == 2
    assert message in capsys.readouterr().err


def test_explicit_meals_after_the_run_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "patient",
            "simulate",
            "--patient",
            "nominal-adult",
            "--hours",
            "2",
            "--meals",
            "07:00=45",
            "--out",
            str(tmp_path / "x.csv"),
        ]
    )
    assert code == 2
    assert "after the end of the run" in capsys.readouterr().err


def test_default_meals_keep_those_inside_a_short_run(tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    assert (
        main(
            ["patient", "simulate", "--patient", "nominal-adult", "--hours", "8", "--out", str(out)]
        )
        == 0
    )
    cho = np.loadtxt(out, delimiter=",", skiprows=1, usecols=2)
    assert cho.sum() == pytest.approx(45.0)


def test_forecast_copies_and_validates_its_arrays() -> None:
    t = np.array([0.0, 1.0])
    values = np.zeros((2, 2, 1))
    fc = Forecast(t, values, (Channel("g", "mg/dL"),), "min")
    assert t.flags.writeable
    assert values.flags.writeable
    t[0] = 9.0
    assert fc.t[0] == 0.0
    with pytest.raises(InvalidInputError, match="increasing"):
        Forecast(np.array([1.0, 0.0]), values, (Channel("g", "mg/dL"),), "min")


def test_coverage_refuses_observations_outside_the_window() -> None:
    fc = _twin().forecast(30.0, dt_out=5.0)
    with pytest.raises(InvalidInputError, match="outside the forecast window"):
        fc.coverage("glucose_mg_dl", np.array([10.0, 1e6]), np.array([100.0, 100.0]))


@pytest.mark.parametrize("name", model_names())
@pytest.mark.parametrize("n", [0, -1, 2.5, True])
def test_member_counts_are_checked(name: str, n: object) -> None:
    with pytest.raises(InvalidParameterError, match="member count"):
        make_model(name).initial_state(n, np.random.default_rng(0))  # type: ignore[arg-type]


@pytest.mark.parametrize("name", model_names())
def test_vanishing_steps_are_refused(name: str) -> None:
    model = make_model(name)
    # The step is named in its unit: step_min, step_h, or step_ms for the beat-resolved
    # circulation. A vanishing step in the model's own unit, or a zero one, is refused.
    step, value = ("step_ms", 0.0) if name == "cvs-smith" else (f"step_{model.time_unit}", 1e-9)
    with pytest.raises(InvalidParameterError, match=step):
        model.with_options(**{step: value})  # type: ignore[attr-defined]


def test_plotting_leaves_the_matplotlib_backend_alone(tmp_path: Path) -> None:
    matplotlib = require("matplotlib", "plot")
    before = matplotlib.get_backend()
    run = simulate_patients([load_patient("nominal-adult")], [Meal(10, 20)], hours=1)
    run.plot(tmp_path / "x.png")
    assert matplotlib.get_backend() == before
    assert (tmp_path / "x.png").read_bytes()[:4] == b"\x89PNG"
