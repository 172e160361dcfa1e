"""PkPdModel: the conformance battery run locally, mass balance, registry factories."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthtwin.core import Events, Inputs, Model, Rate
from healthtwin.core.segments import hold_inputs
from healthtwin.errors import InvalidInputError, UnknownModelError
from healthtwin.physiology.pkpd import (
    PKPD_MODELS,
    CompartmentLayout,
    Covariates,
    DoseRecord,
    PkPdModel,
    PkPdParameters,
    make_pkpd_model,
    propagators,
    system_matrix,
)
from healthtwin.physiology.pkpd.compartments import apply_propagators


def _plan(model: PkPdModel, n: int) -> Inputs:
    per_member = 2.0 * (1.0 + 0.1 * np.arange(n))
    return Inputs(
        rates={
            model.infusion_channel: Rate(
                np.array([10.0, 70.0]), np.stack([per_member, 0 * per_member], 1)
            )
        },
        events={model.bolus_channel: Events([0.0, 150.5], [100.0, 20.0])},
    )


@pytest.fixture(params=sorted(PKPD_MODELS))
def model(request: pytest.FixtureRequest) -> PkPdModel:
    return PKPD_MODELS[request.param]()


def test_is_a_model_with_declared_units(model: PkPdModel) -> None:
    assert isinstance(model, Model)
    assert model.time_unit == "min"
    for table in (model.rate_inputs, model.event_inputs, model.outputs, model.states):
        assert table
        for name, channel in table.items():
            assert channel.name == name
            assert channel.unit


@pytest.mark.parametrize("n", [1, 4])
def test_shapes_and_determinism(model: PkPdModel, n: int) -> None:
    rng = np.random.default_rng(0)
    state = model.initial_state(n, rng)
    later = model.advance(state, 0.0, 240.0, _plan(model, n), rng)
    assert model.observe(later).shape == (n, len(model.outputs))
    assert model.state_matrix(later).shape == (n, len(model.states))
    again = model.advance(state, 0.0, 240.0, _plan(model, n), rng)
    np.testing.assert_array_equal(again.to_array(), later.to_array())
    with pytest.raises(ValueError, match="read-only"):
        later.x[0, 0] = 1.0


def test_members_alone_and_together_agree(model: PkPdModel) -> None:
    rng = np.random.default_rng(0)
    n = 3
    plan = _plan(model, n)
    together = model.advance(model.initial_state(n, rng), 0.0, 300.0, plan, rng)
    for i in range(n):
        alone_plan = Inputs(
            rates={k: Rate(r.times, r.values[i]) for k, r in plan.rates.items()},
            events=dict(plan.events),
        )
        alone = model.advance(model.initial_state(1, rng), 0.0, 300.0, alone_plan, rng)
        np.testing.assert_allclose(alone.x[0], together.x[i], rtol=1e-12, atol=1e-12)


def test_empty_interval_and_unknown_channels(model: PkPdModel) -> None:
    rng = np.random.default_rng(0)
    state = model.initial_state(2, rng)
    same = model.advance(state, 10.0, 10.0, _plan(model, 2), rng)
    np.testing.assert_array_equal(same.to_array(), state.to_array())
    with pytest.raises(InvalidInputError, match="heparin_u"):
        model.advance(state, 0.0, 10.0, Inputs(events={"heparin_u": Events([1.0], [1.0])}), rng)
    np.testing.assert_array_equal(state.from_array(state.to_array()).to_array(), state.to_array())


def test_registry_names_and_units() -> None:
    assert sorted(PKPD_MODELS) == ["pk-marsh", "pk-marsh-modified", "pk-minto", "pk-schnider"]
    assert make_pkpd_model("pk-minto").bolus_channel == "bolus_ug"
    assert list(make_pkpd_model("pk-schnider").outputs) == [
        "plasma_mg_l",
        "effect_site_mg_l",
        "bis",
    ]
    with pytest.raises(UnknownModelError, match="valid presets"):
        make_pkpd_model("pk-eleveld")


def test_a_propofol_induction_lowers_bis() -> None:
    cov = Covariates(age_yr=[30, 80], weight_kg=[70, 70], height_cm=[175, 175], sex="male")
    model = make_pkpd_model("pk-schnider", cov)
    rng = np.random.default_rng(0)
    plan = model.inputs_from_records(
        [DoseRecord(0.0, amt=140.0), DoseRecord(0.0, amt=600.0, rate=10.0)]
    )
    later = model.advance(model.initial_state(2, rng), 0.0, 10.0, plan, rng)
    bis = model.observe(later)[:, 2]
    assert np.all((bis > 20) & (bis < 70))


def _run_with_elimination(
    p: PkPdParameters, layout: CompartmentLayout, plan: Inputs, t1: float
) -> np.ndarray[Any, Any]:
    theta = p.to_matrix()
    cols = [
        PkPdParameters.names().index(k)
        for k in ("v1_l", "k10", "k12", "k21", "k13", "k31", "ka", "ke0")
    ]
    a = system_matrix(layout, theta[:, cols])
    held = hold_inputs(
        plan,
        0.0,
        t1,
        1,
        rate_channels=["infusion_mg_per_min"],
        event_channels=["bolus_mg", "oral_mg"],
    )
    x = np.zeros((1, layout.size))
    c = layout.index("central")
    for j, h in enumerate(held.durations):
        x[:, c] += held.events["bolus_mg"][:, j]
        x[:, layout.index("depot")] += (
            held.events["oral_mg"][:, j] * theta[:, PkPdParameters.names().index("bioavailability")]
        )
        b = np.zeros_like(x)
        mid = 0.5 * (held.starts[j] + held.ends[j])
        b[:, c] = plan.rate("infusion_mg_per_min", np.array([mid]), 1)[:, 0]
        phi, gam = propagators(a, float(h))
        x = apply_propagators(phi, gam, x, b)
    return x[0]


rates_st = st.floats(0.001, 0.5)


@settings(max_examples=40, deadline=None)
@given(
    n_compartments=st.integers(1, 3),
    k=st.tuples(rates_st, rates_st, rates_st, rates_st, rates_st, rates_st, st.floats(0.1, 2.0)),
    f=st.floats(0.1, 1.0),
    boluses=st.lists(st.tuples(st.floats(0, 200), st.floats(0.1, 500)), max_size=4),
    orals=st.lists(st.tuples(st.floats(0, 200), st.floats(0.1, 500)), max_size=3),
    infusions=st.lists(
        st.tuples(st.floats(0, 150), st.floats(1, 90), st.floats(0.1, 20)), max_size=3
    ),
)
def test_mass_balance_for_random_dosing(
    n_compartments: int,
    k: tuple[float, ...],
    f: float,
    boluses: list[tuple[float, float]],
    orals: list[tuple[float, float]],
    infusions: list[tuple[float, float, float]],
) -> None:
    """Amount in the body + amount eliminated = doses given (oral doses times F).

    Infusions that start within 1e-9 x max(1, t1) min of another boundary gain or lose
    that sliver (the kernel merges such boundaries), hence the tolerance scaled by rates.
    """
    p = PkPdParameters(
        v1_l=8.0,
        k10=k[0],
        k12=k[1],
        k21=k[2],
        k13=k[3],
        k31=k[4],
        ka=k[5],
        ke0=k[6],
        bioavailability=f,
    )
    layout = CompartmentLayout(n_compartments, absorption=True, track_elimination=True)
    records = [DoseRecord(t, amt=a, cmt=2) for t, a in boluses]
    records += [DoseRecord(t, amt=a, cmt=1) for t, a in orals]
    records += [DoseRecord(t, amt=d * r, rate=r, cmt=2) for t, d, r in infusions]
    model = PkPdModel(p, n_compartments=n_compartments, absorption=True)
    plan = model.inputs_from_records(records)
    x = _run_with_elimination(p, layout, plan, 300.0)
    given_mg = (
        sum(a for _, a in boluses)
        + f * sum(a for _, a in orals)
        + sum(d * r for _, d, r in infusions)
    )
    in_body = sum(x[layout.index(s)] for s in layout.amount_names)
    total = in_body + x[layout.index("eliminated")]
    # boundaries closer than 1e-9 x max(1, |t1|) merge (segment_bounds), moving an
    # infusion's start or end by at most that much
    sliver = 2 * 1e-9 * 300.0 * sum(r for _, _, r in infusions)
    assert total == pytest.approx(given_mg, rel=1e-9, abs=1e-9 + sliver)
    assert np.all(x > -1e-9 * max(given_mg, 1.0))
    # The model itself agrees with the tallying system on every compartment it carries.
    rng = np.random.default_rng(0)
    state = model.advance(model.initial_state(1, rng), 0.0, 300.0, plan, rng)
    assert float(model.amount_in_body(state)[0]) == pytest.approx(in_body, rel=1e-9, abs=1e-9)


def test_an_infusion_ending_a_hair_after_a_dose_stops_on_time() -> None:
    # 0.1 + 2.0 / 10.0 = 0.30000000000000004: the kernel merges that end with the bolus at
    # 0.3; the infusion must still stop there rather than run on to the next boundary.
    model = PkPdModel(PkPdParameters(v1_l=5.0, k10=0.0), n_compartments=1)
    plan = model.inputs_from_records(
        [DoseRecord(0.1, amt=2.0, rate=10.0), DoseRecord(0.3, amt=1.0), DoseRecord(50.0, amt=1.0)]
    )
    rng = np.random.default_rng(0)
    state = model.advance(model.initial_state(1, rng), 0.0, 100.0, plan, rng)
    assert float(model.amount_in_body(state)[0]) == pytest.approx(4.0, abs=1e-8)
