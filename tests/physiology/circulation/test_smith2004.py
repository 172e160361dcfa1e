"""The Smith et al. (2004) closed-loop model: operating point, conservation, multi-rate."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from healthtwin.core.inputs import Events, Inputs, Rate
from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.physiology.circulation import (
    OUTPUT_NAMES,
    SmithCVS,
    SmithState,
    septic_shock_parameters,
    smith_nominal_parameters,
)
from healthtwin.physiology.circulation.smith2004_equations import (
    driver,
    septum_residual,
)

RNG = np.random.default_rng(0)
MODEL = SmithCVS()


@pytest.fixture(scope="module")
def nominal() -> SmithState:
    return MODEL.initial_state(1, RNG)


def _outputs(state: SmithState) -> dict[str, float]:
    return dict(zip(OUTPUT_NAMES, MODEL.observe(state)[0].tolist(), strict=True))


def test_nominal_operating_point(nominal: SmithState) -> None:
    """Published parameters at 80 bpm and 1.5 L circulating volume.

    Physiological resting values (about 120/80 mmHg, SV ~ 70 mL, CO ~ 5 L/min) bound the
    point; the reproduced values are pinned to 0.5% as a regression baseline.
    """
    out = _outputs(nominal)
    assert 110 < out["sbp_mmhg"] < 125
    assert 75 < out["dbp_mmhg"] < 85
    assert 60 < out["stroke_volume_ml"] < 80
    assert 4.5 < out["cardiac_output_l_per_min"] < 6
    assert out["heart_rate_bpm"] == pytest.approx(80.0)
    baseline = {"map_mmhg": 97.78, "sbp_mmhg": 116.50, "dbp_mmhg": 79.04, "stroke_volume_ml": 66.0}
    for name, value in baseline.items():
        assert out[name] == pytest.approx(value, rel=5e-3), name
    assert out["cardiac_output_l_per_min"] == pytest.approx(out["stroke_volume_ml"] * 80.0 / 1000.0)


def test_septic_shock_lowers_map(nominal: SmithState) -> None:
    septic = SmithCVS(septic_shock_parameters()).initial_state(1, RNG)
    assert _outputs(septic)["map_mmhg"] < 0.85 * _outputs(nominal)["map_mmhg"]


def test_septum_balance_is_solved(nominal: SmithState) -> None:
    c, x = nominal.theta.T, nominal.x.T
    e = driver(nominal.acc[:, 0], c)
    residual, _ = septum_residual(x[0], x[3], e, c, x[10])
    assert np.all(np.abs(residual) < 1e-9)


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rate=st.floats(0.0, 50.0),
    bolus=st.floats(0.0, 500.0),
    hours=st.floats(0.5, 3.0),
)
def test_volume_changes_by_exactly_the_fluid_given(
    nominal: SmithState, rate: float, bolus: float, hours: float
) -> None:
    plan = Inputs(
        rates={"fluid_infusion_ml_per_min": Rate.constant(rate, start=0.0)},
        events={"fluid_bolus_ml": Events([7.0], [bolus])},
    )
    later = MODEL.advance(nominal, 0.0, 60.0 * hours, plan, RNG)
    before = MODEL.total_volume_ml(nominal)[0]
    expected = before + bolus + rate * 60.0 * hours
    assert MODEL.total_volume_ml(later)[0] == pytest.approx(expected, rel=1e-9)


@settings(
    max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(minutes=st.floats(0.2, 1.5), resistance=st.floats(0.6, 1.6))
def test_volume_is_conserved_beat_by_beat(
    nominal: SmithState, minutes: float, resistance: float
) -> None:
    model = SmithCVS(smith_nominal_parameters(R_sys=resistance), resolution="full")
    state = model.initial_state(1, RNG)
    later = model.advance(state, 0.0, minutes, Inputs(), RNG)
    np.testing.assert_allclose(model.total_volume_ml(later), 1500.0, rtol=1e-9)


def test_members_alone_and_together_agree() -> None:
    params = smith_nominal_parameters(heart_rate_bpm=np.array([65.0, 80.0, 95.0]))
    model = SmithCVS(params)
    plan = Inputs(
        rates={"fluid_infusion_ml_per_min": Rate(np.array([0.0, 3.0]), np.array([0.0, 20.0]))}
    )
    together = model.advance(model.initial_state(3, RNG), 0.0, 5.0, plan, RNG)
    for i in range(3):
        alone_model = SmithCVS(params.member(i))
        alone = alone_model.advance(alone_model.initial_state(1, RNG), 0.0, 5.0, plan, RNG)
        np.testing.assert_array_equal(alone.x[0], together.x[i])
        np.testing.assert_array_equal(alone.beat[0], together.beat[i])


@pytest.mark.parametrize(
    ("plan", "rtol"),
    [
        # A bolus: both settle on the same new orbit; the held state is within about
        # tol / (1 - rho) ~ 1e-4 of it (rho ~ 0.9, the slowest beat-to-beat contraction).
        (Inputs(events={"fluid_bolus_ml": Events([0.5], [250.0])}), 1e-3),
        # An infusion: outputs also lag by at most one hold (1 min x 20 mL/min = 20 mL
        # of 1.5 L; measured MAP error ~0.2%).
        (Inputs(rates={"fluid_infusion_ml_per_min": Rate.constant(20.0, start=0.0)}), 5e-3),
    ],
)
def test_multirate_matches_full_resolution(nominal: SmithState, plan: Inputs, rtol: float) -> None:
    full = MODEL.with_options(resolution="full")
    fast = MODEL.advance(nominal, 0.0, 2.0, plan, RNG)
    reference = full.advance(nominal, 0.0, 2.0, plan, RNG)
    assert _outputs(fast)["map_mmhg"] == pytest.approx(_outputs(reference)["map_mmhg"], rel=rtol)
    np.testing.assert_allclose(
        MODEL.total_volume_ml(fast), full.total_volume_ml(reference), rtol=1e-9
    )


def test_split_intervals_match_one_interval_at_full_resolution(nominal: SmithState) -> None:
    full = MODEL.with_options(resolution="full")
    one = full.advance(nominal, 0.0, 0.5, Inputs(), RNG)
    two = full.advance(full.advance(nominal, 0.0, 0.2, Inputs(), RNG), 0.2, 0.5, Inputs(), RNG)
    np.testing.assert_allclose(two.x, one.x, rtol=1e-9, atol=1e-9)


def test_bad_options_and_inputs_are_rejected(nominal: SmithState) -> None:
    with pytest.raises(InvalidParameterError, match="resolution"):
        SmithCVS(resolution="coarse")
    with pytest.raises(InvalidParameterError, match="unknown option"):
        MODEL.with_options(speed=2)
    with pytest.raises(InvalidInputError, match="fluid_bolus_ml"):
        MODEL.advance(
            nominal, 0.0, 1.0, Inputs(events={"fluid_bolus_ml": Events([0.1], [-5.0])}), RNG
        )


def _steady_outputs(**changes: float) -> dict[str, float]:
    from healthtwin.core.inputs import Inputs
    from healthtwin.physiology.circulation.smith2004 import SmithCVS
    from healthtwin.physiology.circulation.smith2004_parameters import smith_nominal_parameters

    model = SmithCVS(smith_nominal_parameters(**changes))
    rng = np.random.default_rng(0)
    state = model.advance(model.initial_state(1, rng), 0.0, 10.0, Inputs(), rng)
    return dict(zip(model.outputs, model.observe(state)[0], strict=True))


@pytest.mark.xfail(
    strict=True,
    reason="known discrepancy with the paper's abstract (Smith et al. 2004): doubling the "
    "systemic resistance gives 176/144 mmHg here against the published 165/130, and raising "
    "thoracic pressure from -4 to 0 mmHg drops cardiac output by 19 % against 9 %. Neither "
    "the Carlson/Physiolibrary nor the alternative (mortalsim) parameter set reproduces them; "
    "the paper's own simulation settings are needed to close this.",
)
def test_published_abstract_results() -> None:
    """Smith 2004 abstract: 120/80 -> 165/130 mmHg with R_sys doubled; CO -9 % at P_th 0."""
    base = _steady_outputs()
    doubled = _steady_outputs(R_sys=2.0 * 1.0889)
    no_thoracic = _steady_outputs(P_th=0.0)
    assert base["sbp_mmhg"] == pytest.approx(120.0, abs=5.0)
    assert base["dbp_mmhg"] == pytest.approx(80.0, abs=5.0)
    assert doubled["sbp_mmhg"] == pytest.approx(165.0, abs=5.0)
    assert doubled["dbp_mmhg"] == pytest.approx(130.0, abs=5.0)
    drop = 1.0 - no_thoracic["cardiac_output_l_per_min"] / base["cardiac_output_l_per_min"]
    assert drop == pytest.approx(0.09, abs=0.02)
