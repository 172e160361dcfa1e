"""Tests of the generic twin on the UVA/Padova model (nominal adult, cheap to run)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

import numpy as np
import pytest

from healthtwin.core.forecast import Forecast
from healthtwin.core.inputs import Events, Inputs, Rate
from healthtwin.core.protocols import Assimilator, Channel, Model, ObservationModel
from healthtwin.core.state import ArrayState
from healthtwin.core.twin import Twin
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, ReplayError
from healthtwin.physiology.patients import load_patient
from healthtwin.physiology.uva_padova import UvaPadova, UvaPadovaState

MODEL = UvaPadova([load_patient("nominal-adult")])
VG = float(np.asarray(load_patient("nominal-adult").params.Vg)[0])
N = 4


def _state(n: int = N) -> UvaPadovaState:
    return MODEL.initial_state(n, np.random.default_rng(0))


def _twin(n: int = N, **kwargs: object) -> Twin[UvaPadovaState]:
    state = _state(n)
    return Twin(MODEL, state, 0.0, seed=3, standing_inputs=MODEL.basal_inputs(state), **kwargs)  # type: ignore[arg-type]


def meal(t: float, grams: float) -> Inputs:
    return Inputs(events={"meal_g": Events([t], [grams])})


def bolus(t: float, units: float) -> Inputs:
    return Inputs(events={"bolus_u": Events([t], [units])})


def _assert_same_state(a: UvaPadovaState, b: UvaPadovaState) -> None:
    for name, arr in a.arrays().items():
        np.testing.assert_allclose(arr, b.arrays()[name], rtol=1e-12, atol=1e-12, err_msg=name)


class GlucoseSensor:
    """Observation model: subcutaneous glucose in mg/dL with a Gaussian error."""

    sd = 10.0

    def predict(self, state: UvaPadovaState) -> FloatArray:
        return MODEL.observe(state)[:, :1]

    def log_likelihood(self, state: UvaPadovaState, y: FloatArray) -> FloatArray:
        r = (y[None, :] - self.predict(state)) / self.sd
        return np.asarray(-0.5 * np.sum(r**2, axis=1))


class NudgeGlucose:
    """A toy assimilator: moves each member's subcutaneous glucose halfway toward ``y``."""

    def __init__(self, gain: float = 0.5) -> None:
        self.gain = gain
        self.calls = 0

    def update(
        self,
        state: UvaPadovaState,
        y: FloatArray,
        obs: ObservationModel[UvaPadovaState],
        rng: np.random.Generator,
    ) -> UvaPadovaState:
        self.calls += 1
        predicted = obs.predict(state)[:, 0]
        x = np.array(state.x)
        x[:, 12] += self.gain * (y[0] - predicted) * state.theta[:, MODEL.parameter_index("Vg")]
        return replace(state, x=x)


def test_the_toy_components_satisfy_the_protocols() -> None:
    assert isinstance(MODEL, Model)
    assert isinstance(GlucoseSensor(), ObservationModel)
    assert isinstance(NudgeGlucose(), Assimilator)


# -- forecasts -----------------------------------------------------------------------


def test_forecast_has_members_time_grid_channels_and_units() -> None:
    twin = _twin()
    twin.advance_to(15.0)
    fc = twin.forecast(120.0, dt_out=30.0, name="standing")
    assert isinstance(fc, Forecast)
    np.testing.assert_array_equal(fc.t, 15.0 + np.array([0.0, 30.0, 60.0, 90.0, 120.0]))
    assert fc.values.shape == (N, 5, 3)
    assert fc.names == ("glucose_mg_dl", "plasma_glucose_mg_dl", "plasma_insulin_pmol_l")
    assert fc.unit("glucose_mg_dl") == "mg/dL"
    assert fc.unit("plasma_insulin_pmol_l") == "pmol/L"
    assert fc.time_unit == "min"
    assert fc.plan == "standing"
    # the first column is the current state's output
    np.testing.assert_array_equal(fc.values[:, 0, :], MODEL.observe(twin.state))


def test_forecast_grid_ends_exactly_at_the_horizon() -> None:
    fc = _twin().forecast(100.0, dt_out=30.0)
    np.testing.assert_array_equal(fc.t, [0.0, 30.0, 60.0, 90.0, 100.0])
    assert fc.channel("glucose_mg_dl").shape == (N, 5)


def test_forecast_at_basal_stays_at_the_basal_glucose() -> None:
    fc = _twin().forecast(240.0, dt_out=60.0)
    basal = load_patient("nominal-adult").basal_glucose_mg_dl
    np.testing.assert_allclose(fc.channel("glucose_mg_dl"), basal, rtol=1e-6)


def test_forecast_equals_advancing_the_model_along_the_grid() -> None:
    twin = _twin(1)
    plan = meal(20.0, 60.0)
    fc = twin.forecast(90.0, plan, dt_out=45.0)
    inputs = twin.standing_inputs.merged(plan)
    s = twin.state
    expected = [MODEL.observe(s)]
    for a, b in [(0.0, 45.0), (45.0, 90.0)]:
        s = MODEL.advance(s, a, b, inputs, np.random.default_rng(0))
        expected.append(MODEL.observe(s))
    np.testing.assert_allclose(fc.values, np.stack(expected, axis=1), rtol=1e-12)


def test_forecast_does_not_move_the_twin_and_is_reproducible() -> None:
    twin = _twin()
    twin.advance_to(30.0, meal(0.0, 50.0))
    state, t, n_hist = twin.state, twin.t, len(twin.history)
    plan = meal(40.0, 80.0).merged(bolus(40.0, 4.0))
    first = twin.forecast(180.0, plan)
    second = twin.forecast(180.0, plan)
    assert twin.state is state
    assert twin.t == t
    assert len(twin.history) == n_hist
    np.testing.assert_array_equal(first.values, second.values)
    # forecast arrays are read-only
    with pytest.raises(ValueError, match="read-only"):
        first.values[0, 0, 0] = 1.0


def test_what_if_a_bolus_plan_gives_lower_glucose() -> None:
    twin = _twin()
    plans = {
        "meal only": meal(10.0, 60.0),
        "meal and bolus": meal(10.0, 60.0).merged(bolus(10.0, 5.0)),
    }
    out = twin.what_if(plans, 240.0, dt_out=10.0)
    assert set(out) == set(plans)
    assert out["meal only"].plan == "meal only"
    g_meal = out["meal only"].channel("glucose_mg_dl")
    g_bolus = out["meal and bolus"].channel("glucose_mg_dl")
    np.testing.assert_array_equal(g_meal[:, 0], g_bolus[:, 0])
    assert np.all(g_bolus[:, -1] < g_meal[:, -1] - 5.0)
    assert np.all(g_bolus.max(axis=1) < g_meal.max(axis=1))
    # the meal raises glucose above basal
    assert np.all(g_meal.max(axis=1) > g_meal[:, 0] + 20.0)
    # insulin in plasma is higher with the bolus
    ins_meal = out["meal only"].channel("plasma_insulin_pmol_l")
    ins_bolus = out["meal and bolus"].channel("plasma_insulin_pmol_l")
    assert np.all(ins_bolus.max(axis=1) > ins_meal.max(axis=1))


def test_a_plan_channel_overrides_the_standing_one() -> None:
    twin = _twin(1)
    no_basal = Inputs(rates={"insulin_u_per_min": Rate.constant(0.0)})
    fc = twin.what_if({"basal": Inputs(), "suspend": no_basal}, 180.0, dt_out=60.0)
    assert (
        fc["suspend"].channel("glucose_mg_dl")[0, -1] > fc["basal"].channel("glucose_mg_dl")[0, -1]
    )
    assert (
        fc["suspend"].channel("plasma_insulin_pmol_l")[0, -1]
        < fc["basal"].channel("plasma_insulin_pmol_l")[0, -1]
    )


@pytest.mark.parametrize(("horizon", "dt_out"), [(0.0, 5.0), (-10.0, 5.0), (60.0, 0.0)])
def test_forecast_rejects_non_positive_horizon_or_step(horizon: float, dt_out: float) -> None:
    with pytest.raises(InvalidInputError, match="must be > 0"):
        _twin().forecast(horizon, dt_out=dt_out)


def test_what_if_needs_a_plan() -> None:
    with pytest.raises(InvalidInputError, match="at least one plan"):
        _twin().what_if({}, 60.0)


# -- keeping in sync -----------------------------------------------------------------


def test_advance_to_moves_the_state_and_records_history() -> None:
    twin = _twin()
    start = twin.state
    after = twin.advance_to(60.0, meal(0.0, 40.0))
    assert twin.t == 60.0
    assert twin.state is after
    assert MODEL.observe(after)[0, 0] > MODEL.observe(start)[0, 0]
    kinds = [(e.kind, e.t0, e.t1) for e in twin.history]
    assert kinds == [("start", 0.0, 0.0), ("advance", 0.0, 60.0)]
    assert "meal_g" in twin.history[-1].inputs.channels
    assert "insulin_u_per_min" in twin.history[-1].inputs.channels


def test_advance_to_the_current_time_is_recorded_and_keeps_the_state() -> None:
    twin = _twin()
    state = twin.state
    assert twin.advance_to(0.0) is state
    assert len(twin.history) == 2


def test_advance_backwards_raises() -> None:
    twin = _twin()
    twin.advance_to(30.0)
    with pytest.raises(InvalidInputError, match="cannot advance backwards"):
        twin.advance_to(29.0)
    assert twin.t == 30.0


def test_twin_time_must_be_finite() -> None:
    with pytest.raises(InvalidParameterError, match="finite"):
        Twin(MODEL, _state(), float("nan"))


def test_advancing_in_pieces_equals_one_advance() -> None:
    plan = meal(12.0, 50.0).merged(bolus(12.0, 3.0))
    one = _twin()
    one.advance_to(150.0, plan)
    pieces = _twin()
    for t in (30.0, 31.0, 90.0, 150.0):
        pieces.advance_to(t, plan)
    _assert_same_state(one.state, pieces.state)


def test_assimilate_without_an_assimilator_records_the_observation() -> None:
    twin = _twin()
    reference = _twin()
    reference.advance_to(45.0, meal(5.0, 30.0))
    twin.assimilate(45.0, np.array([180.0]), GlucoseSensor(), meal(5.0, 30.0))
    assert twin.t == 45.0
    _assert_same_state(twin.state, reference.state)
    obs = twin.observations()
    assert len(obs) == 1
    assert obs[0][0] == 45.0
    np.testing.assert_array_equal(obs[0][1], [180.0])
    last = twin.history[-1]
    assert last.kind == "observe"
    assert (last.t0, last.t1) == (45.0, 45.0)
    twin.assimilate(60.0, 150.0, GlucoseSensor())
    assert [t for t, _ in twin.observations()] == [45.0, 60.0]
    np.testing.assert_array_equal(twin.observations()[1][1], [150.0])


def test_assimilate_with_an_assimilator_corrects_the_state() -> None:
    assimilator = NudgeGlucose(gain=0.5)
    twin = _twin(assimilator=assimilator)
    reference = _twin()
    reference.advance_to(30.0)
    y = np.array([200.0])
    after = twin.assimilate(30.0, y, GlucoseSensor())
    assert assimilator.calls == 1
    assert twin.state is after
    before_g = MODEL.observe(reference.state)[:, 0]
    after_g = MODEL.observe(after)[:, 0]
    np.testing.assert_allclose(after_g, before_g + 0.5 * (200.0 - before_g), rtol=1e-12)
    # only the corrected column moved
    np.testing.assert_array_equal(
        np.delete(after.x, 12, axis=1), np.delete(reference.state.x, 12, 1)
    )
    assert [e.kind for e in twin.history] == ["start", "advance", "assimilate"]
    assert twin.history[-1].state is after
    assert twin.history[-2].state is not after
    assert len(twin.observations()) == 1


# NaN marks a missing component (the filters skip it); infinities are errors.
@pytest.mark.parametrize("bad", [np.inf, [100.0, -np.inf]])
def test_non_finite_observation_is_rejected_before_anything_moves(bad: object) -> None:
    twin = _twin(assimilator=NudgeGlucose())
    with pytest.raises(InvalidInputError, match="observation must be finite or NaN"):
        twin.assimilate(30.0, bad, GlucoseSensor())  # type: ignore[arg-type]
    assert twin.t == 0.0
    assert len(twin.history) == 1
    assert twin.observations() == []


# -- looking back --------------------------------------------------------------------


def _lived_twin() -> Twin[UvaPadovaState]:
    twin = _twin()
    twin.advance_to(60.0, meal(10.0, 60.0))
    twin.advance_to(120.0, bolus(70.0, 4.0))
    twin.advance_to(200.5, meal(150.0, 30.0))
    return twin


def _direct(t: float) -> UvaPadovaState:
    fresh = _twin()
    plan = Inputs(
        events={
            "meal_g": Events([10.0, 150.0], [60.0, 30.0]),
            "bolus_u": Events([70.0], [4.0]),
        }
    )
    return fresh.advance_to(t, plan)


@pytest.mark.parametrize("t", [60.0, 120.0, 200.5])
def test_as_of_a_history_boundary_reproduces_a_direct_advance(t: float) -> None:
    past = _lived_twin().as_of(t)
    assert past.t == t
    _assert_same_state(past.state, _direct(t))


@pytest.mark.parametrize("t", [30.0, 75.5, 90.0, 199.0])
def test_as_of_inside_an_advance_reproduces_a_direct_advance(t: float) -> None:
    twin = _lived_twin()
    past = twin.as_of(t)
    assert past.t == t
    _assert_same_state(past.state, _direct(t))
    assert past.history[-1].kind == "advance"
    assert past.history[-1].t1 == t


def test_as_of_the_start_is_the_initial_state() -> None:
    twin = _lived_twin()
    past = twin.as_of(0.0)
    assert past.t == 0.0
    assert past.state is twin.history[0].state
    assert [e.kind for e in past.history] == ["start"]


def test_as_of_leaves_the_twin_alone_and_the_replica_can_go_on() -> None:
    twin = _lived_twin()
    state, n_hist = twin.state, len(twin.history)
    past = twin.as_of(60.0)
    assert twin.state is state
    assert len(twin.history) == n_hist
    past.advance_to(120.0, bolus(70.0, 4.0))
    assert twin.t == 200.5
    assert len(twin.history) == n_hist
    _assert_same_state(past.state, twin.as_of(120.0).state)


def test_as_of_after_an_assimilation_replays_from_the_corrected_state() -> None:
    twin = _twin(assimilator=NudgeGlucose())
    twin.advance_to(20.0, meal(5.0, 40.0))
    twin.assimilate(30.0, 250.0, GlucoseSensor())
    twin.advance_to(90.0)
    corrected = twin.history[-2].state
    assert twin.history[-2].kind == "assimilate"
    _assert_same_state(twin.as_of(30.0).state, corrected)
    expected = MODEL.advance(corrected, 30.0, 60.0, twin.standing_inputs, np.random.default_rng(0))
    _assert_same_state(twin.as_of(60.0).state, expected)
    assert len(twin.as_of(60.0).observations()) == 1
    assert twin.as_of(25.0).observations() == []


@pytest.mark.parametrize("t", [-1.0, 200.6, 1e9])
def test_as_of_outside_the_history_raises(t: float) -> None:
    with pytest.raises(ReplayError, match=r"history covers t in \[0.0, 200.5\]"):
        _lived_twin().as_of(t)


def test_a_bolus_given_over_a_tiny_advance_is_not_lost() -> None:
    tiny = _twin(1)
    tiny.advance_to(1e-12, bolus(0.0, 5.0))
    tiny.advance_to(60.0)
    direct = _twin(1)
    direct.advance_to(60.0, bolus(0.0, 5.0))
    np.testing.assert_allclose(MODEL.observe(tiny.state), MODEL.observe(direct.state), rtol=1e-6)


# -- a stochastic toy model: random-number bookkeeping ------------------------------


@dataclass(frozen=True)
class WalkState(ArrayState):
    x: FloatArray  # (n, 1)


def _chan(*names: str) -> Mapping[str, Channel]:
    return MappingProxyType({n: Channel(n, "1") for n in names})


class RandomWalk:
    """dx = drift dt + dW; every advance draws one normal per member per call."""

    name = "random-walk"
    time_unit = "min"
    rate_inputs = _chan("drift")
    event_inputs = _chan("kick")
    outputs = _chan("x")
    states = _chan("x")

    def initial_state(self, n: int, rng: np.random.Generator) -> WalkState:
        return WalkState(np.zeros((n, 1)))

    def advance(
        self, state: WalkState, t0: float, t1: float, inputs: Inputs, rng: np.random.Generator
    ) -> WalkState:
        n = state.n_members
        inputs.check(self.rate_inputs, self.event_inputs, n)
        drift = inputs.rate("drift", np.array([t0]), n)[:, 0]
        kick = inputs.event_totals("kick", np.array([t0]), np.array([t1]), n)[:, 0]
        noise = np.sqrt(t1 - t0) * rng.standard_normal(n)
        return WalkState(state.x + (drift * (t1 - t0) + kick + noise)[:, None])

    def observe(self, state: WalkState) -> FloatArray:
        return np.asarray(state.x)

    def state_matrix(self, state: WalkState) -> FloatArray:
        return np.asarray(state.x)


def _walk_twin(seed: int = 5) -> Twin[WalkState]:
    model = RandomWalk()
    return Twin(model, model.initial_state(50, np.random.default_rng(0)), 0.0, seed=seed)


def test_what_if_plans_share_common_random_numbers() -> None:
    twin = _walk_twin()
    twin.advance_to(10.0)
    out = twin.what_if(
        {"none": Inputs(), "kick": Inputs(events={"kick": Events([10.0], [3.0])})}, 20.0
    )
    diff = out["kick"].channel("x") - out["none"].channel("x")
    # same noise paths: the difference is exactly the kick after it happens
    np.testing.assert_allclose(diff[:, 1:], 3.0, rtol=0, atol=1e-12)
    again = twin.forecast(20.0)
    np.testing.assert_array_equal(again.values, out["none"].values)
    # the spread is real noise, not a constant
    assert np.std(out["none"].channel("x")[:, -1]) > 1.0


def test_forecast_does_not_consume_the_advance_stream() -> None:
    quiet, busy = _walk_twin(), _walk_twin()
    quiet.advance_to(5.0)
    busy.advance_to(5.0)
    busy.forecast(30.0)
    busy.what_if({"a": Inputs(), "b": Inputs()}, 10.0)
    quiet.advance_to(20.0)
    busy.advance_to(20.0)
    np.testing.assert_array_equal(quiet.state.x, busy.state.x)


def test_forecasts_from_different_times_use_different_numbers() -> None:
    twin = _walk_twin()
    first = twin.forecast(10.0).channel("x")[:, -1] - twin.state.x[:, 0]
    twin.advance_to(5.0)
    second = twin.forecast(10.0).channel("x")[:, -1] - twin.state.x[:, 0]
    assert not np.allclose(first, second)


def test_twins_with_the_same_seed_share_their_advance_stream() -> None:
    a, b, c = _walk_twin(5), _walk_twin(5), _walk_twin(6)
    for twin in (a, b, c):
        twin.advance_to(10.0)
    np.testing.assert_array_equal(a.state.x, b.state.x)
    assert not np.allclose(a.state.x, c.state.x)


def test_as_of_restores_the_random_stream() -> None:
    twin = _walk_twin()
    drift = Inputs(rates={"drift": Rate.constant(0.5)})
    twin.advance_to(10.0, drift)
    twin.advance_to(25.0, drift)
    twin.advance_to(40.0)
    # replaying from a boundary draws the same numbers the twin drew
    past = twin.as_of(10.0)
    past.advance_to(25.0, drift)
    past.advance_to(40.0)
    np.testing.assert_array_equal(past.state.x, twin.state.x)
    # inside an interval: the replay is the stream continued from the last boundary
    mid = twin.as_of(17.0)
    fresh = _walk_twin()
    fresh.advance_to(10.0, drift)
    fresh.advance_to(17.0, drift)
    np.testing.assert_array_equal(mid.state.x, fresh.state.x)


def test_a_late_observation_is_slotted_into_the_history() -> None:
    from healthtwin.assimilation import EnsembleKalmanFilter, OutputObservation, view_for

    def make() -> Twin[UvaPadovaState]:
        model = UvaPadova([load_patient("nominal-adult")])
        state = model.initial_state(16, np.random.default_rng(0))
        theta = np.array(state.theta)
        theta[:, UvaPadova.parameter_index("Vmx")] *= np.linspace(0.7, 1.3, 16)
        state = UvaPadovaState(
            state.x,
            theta,
            state.planned_meal_g,
            state.cho_g_per_min,
            state.meal_start_stomach_mg,
            state.meal_eaten_g,
        )
        plan = model.basal_inputs(state).merged(Inputs(events={"meal_g": Events([10.0], [60.0])}))
        view = view_for(model, states=["sc_glucose_mg_per_kg"], parameters={"Vmx": (1e-4, 1.0)})
        return Twin(
            model,
            state,
            0.0,
            seed=2,
            standing_inputs=plan,
            assimilator=EnsembleKalmanFilter(view, outlier_sigma=None),
        )

    model = UvaPadova([load_patient("nominal-adult")])
    cgm = OutputObservation(model, ["glucose_mg_dl"], [8.0])
    on_time, late = make(), make()
    on_time.assimilate(40.0, np.array([130.0]), cgm)
    on_time.assimilate(90.0, np.array([150.0]), cgm)
    late.assimilate(90.0, np.array([150.0]), cgm)
    late.assimilate(40.0, np.array([130.0]), cgm)  # arrives after the 90-min reading
    assert late.t == 90.0
    np.testing.assert_allclose(late.state.x, on_time.state.x, rtol=1e-10)
    np.testing.assert_allclose(late.state.theta, on_time.state.theta, rtol=1e-10)
    assert [t for t, _ in late.observations()] == [40.0, 90.0]


def test_a_late_observation_at_an_advance_boundary_replays_once() -> None:
    from healthtwin.assimilation import EnsembleKalmanFilter, OutputObservation, view_for

    model = UvaPadova([load_patient("nominal-adult")])
    state = model.initial_state(8, np.random.default_rng(0))
    view = view_for(model, states=["sc_glucose_mg_per_kg"])
    cgm = OutputObservation(model, ["glucose_mg_dl"], [8.0])
    twins = [
        Twin(
            model,
            state,
            0.0,
            seed=1,
            standing_inputs=model.basal_inputs(state),
            assimilator=EnsembleKalmanFilter(view, outlier_sigma=None),
        )
        for _ in range(2)
    ]
    twins[0].advance_to(30.0)
    twins[0].assimilate(30.0, np.array([100.0]), cgm)
    twins[0].advance_to(60.0)
    twins[1].advance_to(30.0)
    twins[1].advance_to(60.0)
    twins[1].assimilate(30.0, np.array([100.0]), cgm)  # late, at the end of an advance
    np.testing.assert_allclose(twins[1].state.x, twins[0].state.x, rtol=1e-12)
    kinds = [e.kind for e in twins[1].history]
    assert kinds.count("assimilate") == 1
