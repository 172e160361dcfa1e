"""What-if with paired differences, and recommendations that explain themselves."""

from __future__ import annotations

import numpy as np
import pytest

from healthtwin.control.recommend import Constraint, Objective, recommend
from healthtwin.core import Events, Inputs, Twin, lognormal_spread, time_in_band
from healthtwin.errors import InvalidInputError
from healthtwin.physiology import UvaPadova, load_patient

MEAL = Events([10.0], [70.0])


def _twin() -> Twin:  # type: ignore[type-arg]
    model = UvaPadova([load_patient("nominal-adult")])
    rng = np.random.default_rng(0)
    state = lognormal_spread(
        model.initial_state(32, rng), {UvaPadova.parameter_index("Vmx"): 0.3}, rng
    )
    return Twin(model, state, 0.0, seed=1, standing_inputs=model.basal_inputs(state))


def _plans() -> dict[str, Inputs]:
    return {
        f"{u:g} U": Inputs(events={"meal_g": MEAL, "bolus_u": Events([10.0], [float(u)])})
        for u in (0, 3, 6, 9, 14)
    }


TIR = time_in_band("glucose_mg_dl", 70.0, 180.0)
TBR = time_in_band("glucose_mg_dl", 0.0, 70.0)


def test_what_if_differences_are_paired_member_by_member() -> None:
    forecasts = _twin().what_if(_plans(), 360.0, dt_out=5.0)
    d = forecasts.difference("0 U", "6 U", TIR)
    outcomes = forecasts.outcomes(TIR)
    np.testing.assert_allclose(d.mean, np.mean(outcomes["6 U"] - outcomes["0 U"]))
    assert d.low > 0  # a meal bolus raises time in range in (nearly) every member
    # pairing: the difference is far tighter than the spread of either plan alone
    assert d.high - d.low < np.ptp(outcomes["6 U"])
    sequence = _twin().what_if(list(_plans().values()), 60.0)
    assert list(sequence) == [f"plan_{i}" for i in range(5)]


def test_recommendation_respects_the_hypoglycaemia_constraint() -> None:
    twin = _twin()
    before = twin.standing_inputs
    rec = recommend(
        twin,
        _plans(),
        Objective("time in range %", TIR),
        [Constraint("time below 70 mg/dL <= 2 %", TBR, 2.0, probability=0.9)],
        horizon=360.0,
    )
    assert rec.chosen is not None
    chosen = next(a for a in rec.assessments if a.plan == rec.chosen)
    assert chosen.feasible
    better = [a for a in rec.assessments if a.objective.mean > chosen.objective.mean]
    assert all(not a.feasible for a in better)  # only infeasible plans do better
    if better:
        assert rec.binding == ("time below 70 mg/dL <= 2 %",)
    assert rec.benefit is not None
    assert rec.benefit.mean > 0
    assert rec.status == "awaiting approval"
    assert twin.standing_inputs is before  # advice only
    text = rec.explain()
    assert "awaiting approval" in text
    assert "Relied on: 0 assimilated reading(s)" in text
    assert rec.to_dict()["chosen"] == rec.chosen


def test_auto_apply_only_when_configured() -> None:
    twin = _twin()
    rec = recommend(twin, _plans(), Objective("tir", TIR), horizon=240.0, auto_apply=True)
    assert rec.applied
    assert rec.status == "applied by configuration"
    assert "bolus_u" in twin.standing_inputs.events


def test_no_feasible_plan_escalates() -> None:
    impossible = Constraint("never above 60", time_in_band("glucose_mg_dl", 60.0, 1e9), 0.0)
    rec = recommend(_twin(), _plans(), Objective("tir", TIR), [impossible], horizon=120.0)
    assert rec.chosen is None
    assert "escalate" in rec.status
    with pytest.raises(InvalidInputError, match="reference"):
        recommend(_twin(), _plans(), Objective("tir", TIR), horizon=60.0, reference="x")
