"""The Noufaily et al. (2013) simulation design: scenarios, baseline law, outbreaks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from healthtwin.errors import InvalidParameterError, ShapeError
from healthtwin.surveillance.simulation import (
    NOUFAILY_BLOCKS,
    NOUFAILY_SCENARIOS,
    NoufailyDesign,
    NoufailyScenario,
    inject_outbreaks,
    lognormal_week_probabilities,
    simulate_noufaily,
    spread_outbreaks,
)

Z99 = 2.576
SHORT = NoufailyDesign(n_weeks=156, n_current=20, past_window=(60, 130))


def test_the_design_has_42_scenarios_seven_blocks_by_trend_by_seasonality() -> None:
    assert len(NOUFAILY_SCENARIOS) == 42
    assert [s.number for s in NOUFAILY_SCENARIOS] == list(range(1, 43))
    for block, (theta, beta, gamma1, gamma2, phi) in enumerate(NOUFAILY_BLOCKS):
        six = NOUFAILY_SCENARIOS[6 * block : 6 * block + 6]
        assert {(s.theta, s.phi) for s in six} == {(theta, phi)}
        assert [s.beta for s in six] == [0.0, 0.0, 0.0, beta, beta, beta]
        assert [s.m for s in six] == [0, 1, 2, 0, 1, 2]
        assert [(s.gamma1, s.gamma2) for s in six if s.m] == [(gamma1, gamma2)] * 4
        assert [(s.gamma1, s.gamma2) for s in six if not s.m] == [(0.0, 0.0)] * 2


def test_scenario_14_is_the_one_other_implementations_use_as_default() -> None:
    s = NOUFAILY_SCENARIOS[13]
    assert (s.theta, s.beta, s.gamma1, s.gamma2, s.m, s.phi) == (1.5, 0.0, 0.2, -0.4, 1, 1.0)


def test_mean_counts_follow_the_log_linear_formula() -> None:
    s = NoufailyScenario(theta=1.0, beta=0.01, gamma1=0.3, gamma2=-0.2, m=2, phi=2.0)
    t = 7.0
    expected = math.exp(
        1.0
        + 0.01 * t
        + sum(
            0.3 * math.cos(2 * math.pi * j * t / 52) - 0.2 * math.sin(2 * math.pi * j * t / 52)
            for j in (1, 2)
        )
    )
    assert s.mean_counts(7)[-1] == pytest.approx(expected, rel=1e-12)
    assert s.sd_counts(7)[-1] == pytest.approx(math.sqrt(2.0 * expected), rel=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"theta": 0.0, "m": 3}, "seasonality order"), ({"theta": 0.0, "phi": 0.5}, "dispersion")],
)
def test_bad_scenarios_are_rejected(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        NoufailyScenario(**kwargs)  # type: ignore[arg-type]


def test_bad_designs_are_rejected() -> None:
    with pytest.raises(InvalidParameterError, match="n_current"):
        NoufailyDesign(n_weeks=10, n_current=10)
    with pytest.raises(InvalidParameterError, match="past_window"):
        NoufailyDesign(past_window=(600, 700))
    with pytest.raises(InvalidParameterError, match="n_reps"):
        simulate_noufaily(0, seed=1)


def test_simulation_is_deterministic_from_its_seed() -> None:
    scenarios = NOUFAILY_SCENARIOS[:3]
    a = simulate_noufaily(4, seed=7, scenarios=scenarios, design=SHORT)
    b = simulate_noufaily(4, seed=7, scenarios=scenarios, design=SHORT)
    c = simulate_noufaily(4, seed=8, scenarios=scenarios, design=SHORT)
    np.testing.assert_array_equal(a.observed, b.observed)
    np.testing.assert_array_equal(a.start, b.start)
    assert not np.array_equal(a.observed, c.observed)


def test_outbreaks_start_where_the_design_says() -> None:
    sim = simulate_noufaily(30, seed=3, scenarios=NOUFAILY_SCENARIOS[30:36], design=SHORT)
    first_current = SHORT.n_weeks - SHORT.n_current + 1
    assert ((sim.current_start >= first_current) & (sim.current_start <= SHORT.n_weeks)).all()
    assert set(np.unique(sim.current_k)) <= set(SHORT.current_k)
    assert not sim.current[..., : first_current - 1].any()
    assert not sim.past[..., : SHORT.past_window[0] - 1].any()
    starts = np.argwhere(sim.start)[:, 2] + 1
    assert starts.min() >= SHORT.past_window[0]
    assert sim.start[..., SHORT.past_window[1] : first_current - 1].sum() == 0
    per_series = sim.start.sum(axis=2)
    assert per_series.max() <= SHORT.n_past_outbreaks + 1
    sc, rep = np.indices(sim.current_start.shape)
    assert sim.start[sc, rep, sim.current_start - 1].all()
    np.testing.assert_array_equal(sim.observed, sim.baseline + sim.past + sim.current)


def test_baseline_mean_and_dispersion_match_the_negative_binomial() -> None:
    flat = [s for s in NOUFAILY_SCENARIOS if s.m == 0 and s.beta == 0]
    sim = simulate_noufaily(40, seed=11, scenarios=flat, design=SHORT)
    for index, scenario in enumerate(flat):
        y = sim.baseline[index].astype(float)
        mu = math.exp(scenario.theta)
        se_mean = math.sqrt(scenario.phi * mu / y.size)
        assert abs(y.mean() - mu) < Z99 * se_mean, scenario
        # Dispersion per replicate series, then a 99 % interval over replicates.
        ratio = y.var(axis=1, ddof=1) / mu
        se_ratio = ratio.std(ddof=1) / math.sqrt(ratio.size)
        assert abs(ratio.mean() - scenario.phi) < Z99 * se_ratio + 1e-12, scenario


def test_week_probabilities_are_the_law_of_the_floored_lognormal() -> None:
    p = lognormal_week_probabilities(0.0, 0.5)
    assert p.sum() == pytest.approx(1.0, abs=1e-14)
    assert p[0] == pytest.approx(0.5, abs=1e-15)
    assert p[1] == pytest.approx(0.5 * math.erfc(-math.log(2) / 0.5 / math.sqrt(2)) - 0.5)
    draws = np.floor(np.random.default_rng(5).lognormal(0.0, 0.5, 200_000)).astype(int)
    freq = np.bincount(draws, minlength=p.size)[: p.size] / draws.size
    se = np.sqrt(p * (1 - p) / draws.size)
    assert (np.abs(freq - p) <= 4.0 * se + 1e-9).all()
    with pytest.raises(InvalidParameterError, match="sdlog"):
        lognormal_week_probabilities(0.0, 0.0)


def test_spread_keeps_every_case_unless_it_falls_after_the_series() -> None:
    rng = np.random.default_rng(2)
    sizes = np.array([0, 5, 40, 1000])
    out = spread_outbreaks(sizes, [1, 3, 10, 20], 200, rng)
    np.testing.assert_array_equal(out.sum(axis=1), sizes)
    assert not out[1, :2].any()
    assert not out[2, :9].any()
    assert out[3, 19] == pytest.approx(500, abs=Z99 * math.sqrt(250))
    truncated = spread_outbreaks([1000], [200], 200, rng)
    assert truncated.sum() < 1000
    with pytest.raises(ShapeError):
        spread_outbreaks([1, 2], [1], 10, rng)
    with pytest.raises(InvalidParameterError, match="starts within"):
        spread_outbreaks([1], [11], 10, rng)


def test_outbreak_sizes_are_poisson_k_times_the_start_week_sd() -> None:
    design = NoufailyDesign(
        n_weeks=156, n_current=20, past_window=(60, 130), n_past_outbreaks=0, current_k=(4.0,)
    )
    scenario = NOUFAILY_SCENARIOS[40]  # theta 5, trend, annual season, phi 1.2
    sim = simulate_noufaily(400, seed=4, scenarios=[scenario], design=design)
    starts = sim.current_start[0]
    early = starts <= design.n_weeks - 8  # nothing lost past the end
    sizes = sim.current[0].sum(axis=1)[early]
    expected = 4.0 * scenario.sd_counts(design.n_weeks)[starts[early] - 1]
    z = (sizes - expected) / np.sqrt(expected)
    assert abs(z.mean()) < Z99 / math.sqrt(z.size)
    assert not sim.past.any()


def test_inject_outbreaks_adds_cases_to_any_series() -> None:
    rng = np.random.default_rng(9)
    counts = np.full((3, 30), 100)
    observed, outbreak = inject_outbreaks(counts, [5, 10, 30], [0.0, 5.0, 5.0], rng)
    np.testing.assert_array_equal(observed - outbreak, counts)
    assert outbreak[0].sum() == 0
    assert not outbreak[1, :9].any()
    assert outbreak[1].sum() > 0
    assert outbreak[2].sum() == outbreak[2, 29]
    _, given_sd = inject_outbreaks(counts, 1, 10.0, rng, baseline_sd=[0.0, 0.0, 0.0])
    assert given_sd.sum() == 0
    with pytest.raises(ShapeError, match="2-D"):
        inject_outbreaks([1, 2, 3], [1], 1.0, rng)
    with pytest.raises(InvalidParameterError, match="non-negative integers"):
        inject_outbreaks([[1.5, 2.0]], [1], 1.0, rng)
    with pytest.raises(InvalidParameterError, match="starts must lie"):
        inject_outbreaks([[1, 2]], [3], 1.0, rng)
