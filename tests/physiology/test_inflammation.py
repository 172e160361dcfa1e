"""Tests of the Reynolds et al. (2006) inflammation model: outcomes, inputs, members, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthtwin.core.inputs import Events, Inputs, Rate
from healthtwin.core.protocols import Model
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError
from healthtwin.physiology.inflammation import (
    PAPER_SCENARIOS,
    REYNOLDS_2006,
    STATE_NAMES,
    Inflammation,
    InflammationParameters,
    InflammationState,
    Outcome,
    classify_outcome,
    jacobian_spectral_radius,
    rest_state,
    reynolds_nominal_parameters,
)

TWO_WEEKS_H = 336.0
P, N, D, CA = range(4)
RNG = np.random.default_rng(0)

#: Table 1 of Reynolds et al. (2006), typed in again from the paper's table as curated in
#: BioModels BIOMD0000000714 (the module's copy must agree with it).
TABLE_1 = {
    "k_pg": 0.3, "p_inf": 20.0, "k_pm": 0.6, "s_m": 0.005, "mu_m": 0.002, "k_mp": 0.01,
    "k_pn": 1.8, "k_np": 0.1, "k_nn": 0.01, "s_nr": 0.08, "mu_nr": 0.12, "mu_n": 0.05,
    "k_nd": 0.02, "k_dn": 0.35, "x_dn": 0.06, "mu_d": 0.02, "c_inf": 0.28, "s_c": 0.0125,
    "k_cn": 0.04, "k_cnd": 48.0, "mu_c": 0.1,
}  # fmt: skip


def inoculated(
    k_pg: list[float], loads: list[float], *, t1: float = TWO_WEEKS_H, method: str = "rk4"
) -> InflammationState:
    """Members with growth rates ``k_pg`` given pathogen ``loads`` at t = 0, at ``t1``."""
    model = Inflammation(reynolds_nominal_parameters(k_pg=np.array(k_pg)), method=method)
    state = model.initial_state(len(loads), RNG)
    plan = Inputs(events={"pathogen_inoculum": Events([0.0], np.array(loads)[:, None])})
    return model.advance(state, 0.0, t1, plan, RNG)


def test_table_1_values() -> None:
    assert dict(REYNOLDS_2006) == TABLE_1
    assert InflammationParameters.names() == tuple(TABLE_1)
    assert isinstance(Inflammation(), Model)
    assert tuple(Inflammation.states) == STATE_NAMES


def test_rest_point_is_the_papers_initial_condition() -> None:
    x = rest_state(reynolds_nominal_parameters())
    np.testing.assert_array_equal(x, [[0.0, 0.0, 0.0, 0.125]])


@pytest.mark.parametrize("method", ["rk4", "dopri5"])
def test_rest_point_holds_for_a_week(method: str) -> None:
    model = Inflammation(method=method)
    state = model.initial_state(2, RNG)
    later = model.advance(state, 0.0, 168.0, Inputs(), RNG)
    np.testing.assert_allclose(later.x, state.x, rtol=0, atol=1e-14)


def test_the_papers_three_outcomes() -> None:
    names = list(PAPER_SCENARIOS)
    k_pg = [PAPER_SCENARIOS[k].k_pg for k in names]
    loads = [PAPER_SCENARIOS[k].pathogen_0 for k in names]
    x = inoculated(k_pg, loads).x
    outcomes = classify_outcome(inoculated(k_pg, loads))
    assert [Outcome(int(k)) for k in outcomes] == [PAPER_SCENARIOS[k].outcome for k in names]
    health, aseptic, septic = x
    assert health[P] < 1e-12
    assert health[D] < 0.05
    assert health[N] < 0.01
    assert aseptic[P] < 1e-12
    assert aseptic[D] > 15.0
    assert aseptic[N] > 0.5
    assert septic[P] > 4.0
    assert septic[D] > 15.0
    assert septic[N] > 0.9


def test_the_outcomes_settle_on_the_papers_attractors() -> None:
    x = inoculated([0.3, 0.3, 0.6], [1.0, 1.5, 1.0], t1=3000.0, method="dopri5").x
    np.testing.assert_allclose(x[0], [0.0, 0.0, 0.0, 0.125], atol=1e-9)
    # Aseptic death: the pathogen is gone, damage and phagocytes stay (P = 0 rest point).
    np.testing.assert_allclose(x[1, 1:], [0.635, 17.399, 0.5229], atol=1e-3)
    # Septic death: a persisting infection well below the carrying capacity P_inf = 20.
    np.testing.assert_allclose(x[2], [4.9364, 0.981, 17.4925, 0.5229], atol=1e-3)


def test_outcome_thresholds_bracket_the_paper_runs() -> None:
    """With k_pg = 0.3, health turns to aseptic death above P(0) = 1.036; with P(0) = 1,
    health turns to aseptic death above k_pg = 0.311 and that to septic death above
    k_pg = 0.514 (thresholds found by bisection with LSODA at rtol 1e-10)."""
    outcomes = classify_outcome(inoculated([0.3, 0.3, 0.45, 0.55], [1.0, 1.1, 1.0, 1.0]))
    assert [Outcome(int(k)) for k in outcomes] == [
        Outcome.HEALTH,
        Outcome.ASEPTIC_DEATH,
        Outcome.ASEPTIC_DEATH,
        Outcome.SEPTIC_DEATH,
    ]


def test_small_loads_heal() -> None:
    outcomes = classify_outcome(inoculated([0.3, 0.3], [0.1, 0.5]))
    assert outcomes.tolist() == [Outcome.HEALTH, Outcome.HEALTH]


def test_classify_early_infection_as_unresolved() -> None:
    theta = reynolds_nominal_parameters().to_matrix(1)
    state = InflammationState(np.array([[2.0, 0.1, 0.0, 0.125]]), theta)
    assert classify_outcome(state).tolist() == [Outcome.UNRESOLVED]


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf])
def test_classify_rejects_bad_thresholds(bad: float) -> None:
    state = Inflammation().initial_state(1, RNG)
    with pytest.raises(InvalidParameterError, match="pathogen_threshold"):
        classify_outcome(state, pathogen_threshold=bad)
    with pytest.raises(InvalidParameterError, match="damage_threshold"):
        classify_outcome(state, damage_threshold=bad)


@pytest.mark.parametrize("method", ["rk4", "dopri5"])
def test_anti_inflammatory_inputs_match_the_closed_form(method: str) -> None:
    """Without pathogen, N* = D = 0 and dCA/dt = s_c + u - mu_c CA: a linear ODE."""
    model = Inflammation(method=method, rtol=1e-10, atol=1e-12)
    u, bolus, t_bolus, t1 = 0.05, 0.3, 10.0, 40.0
    plan = Inputs(
        rates={"anti_inflammatory_ca_units_per_h": Rate.constant(u, start=0.0)},
        events={"anti_inflammatory_bolus_ca_units": Events([t_bolus], [bolus])},
    )
    later = model.advance(model.initial_state(1, RNG), 0.0, t1, plan, RNG)
    s_c, mu_c = TABLE_1["s_c"], TABLE_1["mu_c"]
    target = (s_c + u) / mu_c
    ca_at_bolus = target + (s_c / mu_c - target) * math.exp(-mu_c * t_bolus)
    expected = target + (ca_at_bolus + bolus - target) * math.exp(-mu_c * (t1 - t_bolus))
    assert later.x[0, CA] == pytest.approx(expected, rel=1e-8)
    np.testing.assert_array_equal(later.x[0, :CA], [0.0, 0.0, 0.0])


def test_an_inoculum_is_the_initial_load() -> None:
    model = Inflammation(reynolds_nominal_parameters())
    direct = model.initial_state(1, RNG)
    direct = InflammationState(direct.x + np.array([[1.5, 0.0, 0.0, 0.0]]), direct.theta)
    by_event = inoculated([0.3], [1.5], t1=48.0)
    np.testing.assert_array_equal(model.advance(direct, 0.0, 48.0, Inputs(), RNG).x, by_event.x)


def test_splitting_an_advance_changes_nothing() -> None:
    model = Inflammation()
    plan = Inputs(events={"pathogen_inoculum": Events([0.0], [1.5])})
    state = model.initial_state(1, RNG)
    whole = model.advance(state, 0.0, 96.0, plan, RNG)
    half = model.advance(model.advance(state, 0.0, 36.0, plan, RNG), 36.0, 96.0, plan, RNG)
    np.testing.assert_allclose(half.x, whole.x, rtol=1e-10, atol=1e-12)


def test_members_alone_and_together_are_identical() -> None:
    k_pg = np.array([0.3, 0.3, 0.6])
    loads = np.array([1.0, 1.5, 1.0])
    infusion = np.array([0.0, 0.02, 0.01])
    model = Inflammation(reynolds_nominal_parameters(k_pg=k_pg))
    plan = Inputs(
        rates={
            "anti_inflammatory_ca_units_per_h": Rate(
                np.array([6.0, 30.0]), np.stack([infusion, np.zeros(3)], axis=1)
            )
        },
        events={"pathogen_inoculum": Events([0.0], loads[:, None])},
    )
    together = model.advance(model.initial_state(3, RNG), 0.0, 120.0, plan, RNG)
    for i in range(3):
        alone_model = Inflammation(reynolds_nominal_parameters(k_pg=float(k_pg[i])))
        alone_plan = Inputs(
            rates={"anti_inflammatory_ca_units_per_h": Rate([6.0, 30.0], [infusion[i], 0.0])},
            events={"pathogen_inoculum": Events([0.0], [loads[i]])},
        )
        alone = alone_model.advance(alone_model.initial_state(1, RNG), 0.0, 120.0, alone_plan, RNG)
        np.testing.assert_array_equal(alone.x[0], together.x[i])


def test_spectral_radius_at_rest_is_the_pathogen_clearance_rate() -> None:
    """At rest only P's own rate is not small: k_pg - k_pm s_m / mu_m = 0.3 - 1.5."""
    p = reynolds_nominal_parameters()
    radius = jacobian_spectral_radius(rest_state(p), p.to_matrix())
    assert radius[0] == pytest.approx(1.2, rel=1e-6)
    limit = Inflammation().stability_limit(p.to_matrix())
    assert limit == pytest.approx(0.5 * 2.785 / 1.2, rel=1e-6)


def test_a_long_rk4_step_is_substepped_below_the_stability_limit() -> None:
    coarse = Inflammation(reynolds_nominal_parameters(k_pg=np.array([0.3, 0.3, 0.6])), step_h=5.0)
    assert coarse.with_options(step_h=0.1).step_h == 0.1
    assert coarse.stability_limit(coarse.params.to_matrix()) < 5.0
    plan = Inputs(events={"pathogen_inoculum": Events([0.0], [[1.0], [1.5], [1.0]])})
    later = coarse.advance(coarse.initial_state(3, RNG), 0.0, TWO_WEEKS_H, plan, RNG)
    fine = inoculated([0.3, 0.3, 0.6], [1.0, 1.5, 1.0])
    np.testing.assert_array_equal(classify_outcome(later), classify_outcome(fine))


def test_observe_and_repr() -> None:
    model = Inflammation()
    state = model.initial_state(2, RNG)
    assert model.observe(state).shape == (2, 4)
    assert model.state_matrix(state).shape == (2, 4)
    assert tuple(model.outputs) == STATE_NAMES
    assert "method='rk4'" in repr(model)
    assert model.parameter_index("k_pg") == 0


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("k_pg", -0.1, "must be >= 0"),
        ("c_inf", 0.0, "must be > 0"),
        ("mu_m", 0.0, "must be > 0"),
        ("x_dn", -0.06, "must be > 0"),
        ("k_cnd", math.nan, "finite"),
        ("s_c", "lots", "number"),
    ],
)
def test_bad_parameters_are_rejected(field: str, value: object, match: str) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        InflammationParameters(**{**TABLE_1, field: value})


def test_parameter_arrays_must_agree_in_length() -> None:
    with pytest.raises(ShapeError):
        InflammationParameters(**{**TABLE_1, "k_pg": [0.3, 0.6], "p_inf": [20.0, 20.0, 20.0]})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"step_h": 0.0}, "step"), ({"method": "euler"}, "method"), ({"rtol": 0.0}, "rtol")],
)
def test_bad_solver_options_are_rejected(kwargs: dict[str, float | str], match: str) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        Inflammation(**kwargs)  # type: ignore[arg-type]


def test_bad_inputs_are_rejected() -> None:
    model = Inflammation()
    state = model.initial_state(1, RNG)
    with pytest.raises(InvalidInputError, match="pathogen_inoculum"):
        model.advance(
            state, 0.0, 1.0, Inputs(events={"pathogen_inoculum": Events([0.5], [-1.0])}), RNG
        )
    with pytest.raises(InvalidInputError, match="antibiotic"):
        model.advance(state, 0.0, 1.0, Inputs(rates={"antibiotic": Rate.constant(1.0)}), RNG)
    with pytest.raises(InvalidParameterError, match="member count"):
        model.initial_state(0, RNG)


loads = st.floats(0.0, 4.0, allow_nan=False)
growth = st.floats(0.0, 1.0, allow_nan=False)
therapy = st.floats(0.0, 0.2, allow_nan=False)


@settings(max_examples=10, deadline=None)
@given(k_pg=growth, load=loads, second=loads, infusion=therapy, bolus=therapy)
def test_states_stay_non_negative(
    k_pg: float, load: float, second: float, infusion: float, bolus: float
) -> None:
    model = Inflammation(reynolds_nominal_parameters(k_pg=k_pg), step_h=0.25)
    plan = Inputs(
        rates={"anti_inflammatory_ca_units_per_h": Rate([12.0, 36.0], [infusion, 0.0])},
        events={
            "pathogen_inoculum": Events([0.0, 20.0], [load, second]),
            "anti_inflammatory_bolus_ca_units": Events([48.0], [bolus]),
        },
    )
    state = model.initial_state(1, RNG)
    for t0, t1 in [(0.0, 24.0), (24.0, 72.0), (72.0, 240.0)]:
        state = model.advance(state, t0, t1, plan, RNG)
        assert np.all(state.x >= 0.0), state.x
