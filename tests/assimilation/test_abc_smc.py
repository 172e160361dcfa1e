"""ABC-SMC: the sampler's bookkeeping, priors, predictive checks and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate

from healthtwin.assimilation.abc_smc import (
    AbcPosterior,
    GammaPrior,
    IndependentPrior,
    LogUniformPrior,
    NormalPrior,
    UniformPrior,
    abc_smc,
    euclidean_distance,
    posterior_predictive,
    predictive_check,
    scaled_euclidean,
)
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError

PRIOR = IndependentPrior((NormalPrior(0.0, 3.0), LogUniformPrior(0.1, 10.0)), names=("mean", "sd"))
N_DATA = 40


def _normal_summaries(theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sample mean and log sd of N_DATA normal draws per parameter row (mean, sd)."""
    data = theta[:, :1] + theta[:, 1:] * rng.standard_normal((theta.shape[0], N_DATA))
    return np.column_stack([data.mean(axis=1), np.log(data.std(axis=1, ddof=1))])


OBSERVED = np.array([1.0, np.log(2.0)])


def test_population_bookkeeping() -> None:
    calls: list[int] = []

    def simulate(theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        assert theta.ndim == 2
        assert theta.shape[1] == 2
        calls.append(theta.shape[0])
        return _normal_summaries(theta, rng)

    post = abc_smc(simulate, OBSERVED, PRIOR, n_particles=300, n_generations=6, seed=1)
    assert post.particles.shape == (300, 2)
    assert post.weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert (post.weights > 0).all()
    assert post.tolerances.size == 6
    assert (np.diff(post.tolerances) < 0).all()
    assert (post.distances <= post.tolerances[-1]).all()
    assert post.stop_reason == "n_generations"
    assert post.n_simulations == sum(calls)
    assert post.simulations.sum() == post.n_simulations
    assert ((post.acceptance_rates > 0) & (post.acceptance_rates <= 1)).all()
    assert 1.0 <= post.ess <= 300.0
    # Batched: far fewer simulator calls than simulations.
    assert len(calls) < post.n_simulations / 50
    assert post.names == ("mean", "sd")
    # The posterior concentrates near the data-generating region.
    assert post.mean() == pytest.approx([1.0, 2.0], abs=0.6)
    assert (post.sd() < [0.8, 0.8]).all()


def test_same_seed_same_posterior_other_seed_differs() -> None:
    run = {
        "n_particles": 100,
        "n_generations": 3,
    }
    a = abc_smc(_normal_summaries, OBSERVED, PRIOR, seed=7, **run)  # type: ignore[arg-type]
    b = abc_smc(_normal_summaries, OBSERVED, PRIOR, seed=7, **run)  # type: ignore[arg-type]
    c = abc_smc(_normal_summaries, OBSERVED, PRIOR, seed=8, **run)  # type: ignore[arg-type]
    np.testing.assert_array_equal(a.particles, b.particles)
    np.testing.assert_array_equal(a.weights, b.weights)
    assert not np.array_equal(a.particles, c.particles)


def test_stops_at_the_final_tolerance() -> None:
    post = abc_smc(
        _normal_summaries,
        OBSERVED,
        PRIOR,
        n_particles=200,
        n_generations=30,
        final_tolerance=0.3,
        seed=2,
    )
    assert post.stop_reason == "final_tolerance"
    assert post.tolerances[-1] == pytest.approx(0.3)
    assert (post.tolerances[:-1] > 0.3).all()


def test_stops_when_acceptance_is_too_low_and_keeps_the_last_population() -> None:
    post = abc_smc(
        _normal_summaries,
        OBSERVED,
        PRIOR,
        n_particles=100,
        n_generations=40,
        min_acceptance_rate=0.2,
        seed=3,
    )
    assert post.stop_reason == "min_acceptance_rate"
    assert post.particles.shape == (100, 2)
    assert (post.distances <= post.tolerances[-1]).all()


def test_stops_at_the_simulation_budget() -> None:
    post = abc_smc(
        _normal_summaries,
        OBSERVED,
        PRIOR,
        n_particles=100,
        n_generations=40,
        max_simulations=1500,
        seed=4,
    )
    assert post.stop_reason == "max_simulations"
    assert post.n_simulations <= 1500


def test_discrete_distances_reach_zero() -> None:
    def simulate(theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return rng.poisson(theta * 10.0).astype(float)

    prior = IndependentPrior((GammaPrior(2.0, 2.0),))
    post = abc_smc(
        simulate, [30.0], prior, n_particles=200, n_generations=20, final_tolerance=0.0, seed=5
    )
    assert post.stop_reason == "final_tolerance"
    assert post.tolerances[-1] == 0.0
    assert (post.distances == 0).all()


def test_non_finite_simulations_count_as_rejections() -> None:
    def simulate(theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = theta + rng.normal(size=theta.shape)
        out[theta[:, 0] < 0] = np.nan
        return out

    prior = IndependentPrior((NormalPrior(0.0, 1.0),))
    post = abc_smc(simulate, [0.5], prior, n_particles=100, n_generations=3, seed=6)
    assert (post.particles >= 0).all()


@pytest.mark.parametrize(
    "component",
    [
        UniformPrior(-1.0, 2.0),
        LogUniformPrior(0.5, 20.0),
        NormalPrior(1.0, 2.0),
        GammaPrior(3.0, 0.5),
    ],
)
def test_prior_densities_integrate_to_one_and_match_their_samples(
    component: UniformPrior | LogUniformPrior | NormalPrior | GammaPrior,
) -> None:
    def density(x: float) -> float:
        return float(np.exp(component.log_pdf(np.array([x]))[0]))

    total, _ = integrate.quad(density, -30, 30, points=[0.0, 0.5, 1.0], limit=200)
    assert total == pytest.approx(1.0, abs=1e-6)
    draws = component.sample(20000, np.random.default_rng(0))
    mean, _ = integrate.quad(lambda x: x * density(x), -30, 30, points=[0.0, 1.0], limit=200)
    sd = float(np.sqrt(integrate.quad(lambda x: (x - mean) ** 2 * density(x), -30, 30)[0]))
    # 99.9 % normal interval for the mean of 20,000 draws.
    assert abs(draws.mean() - mean) < 3.3 * sd / np.sqrt(20000)


def test_posterior_predictive_check_covers_the_observation() -> None:
    post = abc_smc(_normal_summaries, OBSERVED, PRIOR, n_particles=300, n_generations=6, seed=9)
    draws = posterior_predictive(_normal_summaries, post, 2000, seed=10)
    assert draws.shape == (2000, 2)
    check = predictive_check(draws, OBSERVED, levels=(0.5, 0.9))
    assert check.inside.shape == (2, 2)
    assert check.coverage[1] == 1.0
    assert (check.tail_probability > 0.1).all()
    far = predictive_check(draws, OBSERVED + np.array([10.0, 0.0]), levels=(0.9,))
    assert far.coverage.tolist() == [0.5]
    assert far.tail_probability[0] == 0.0


def test_distances() -> None:
    s = np.array([[1.0, 2.0], [4.0, 6.0]])
    assert euclidean_distance(s, np.array([1.0, 2.0])).tolist() == [0.0, 5.0]
    assert scaled_euclidean([3.0, 4.0])(s, np.array([1.0, 2.0])).tolist() == [
        0.0,
        1.4142135623730951,
    ]
    with pytest.raises(InvalidParameterError, match="scale"):
        scaled_euclidean([1.0, 0.0])


def test_bad_settings_are_rejected() -> None:
    with pytest.raises(InvalidInputError, match="observed"):
        abc_smc(_normal_summaries, [np.nan, 1.0], PRIOR)
    for bad, match in [
        ({"n_particles": 5}, "n_particles"),
        ({"n_generations": 0}, "n_generations"),
        ({"quantile": 1.0}, "quantile"),
        ({"min_acceptance_rate": 0.0}, "min_acceptance_rate"),
        ({"final_tolerance": -1.0}, "final_tolerance"),
        ({"max_simulations": 10}, "max_simulations"),
    ]:
        with pytest.raises(InvalidParameterError, match=match):
            abc_smc(_normal_summaries, OBSERVED, PRIOR, **bad)  # type: ignore[arg-type]


def test_wrong_shapes_from_the_simulator_and_distance_are_explained() -> None:
    with pytest.raises(ShapeError, match="expected"):
        abc_smc(lambda th, rng: th[:, :1], OBSERVED, PRIOR, n_particles=20, seed=0)
    with pytest.raises(ShapeError, match="distance returned"):
        abc_smc(
            _normal_summaries,
            OBSERVED,
            PRIOR,
            n_particles=20,
            seed=0,
            distance=lambda s, o: np.zeros((s.shape[0], 1)),
        )
    with pytest.raises(ShapeError, match=r"\(n, 2\)"):
        PRIOR.log_pdf(np.zeros((3, 3)))


@pytest.mark.parametrize(
    "make",
    [
        lambda: UniformPrior(1.0, 1.0),
        lambda: LogUniformPrior(0.0, 1.0),
        lambda: NormalPrior(0.0, -1.0),
        lambda: GammaPrior(0.0, 1.0),
        lambda: IndependentPrior(()),
        lambda: IndependentPrior((NormalPrior(0.0, 1.0),), names=("a", "b")),
    ],
)
def test_bad_priors_are_rejected(make: object) -> None:
    with pytest.raises(InvalidParameterError):
        make()  # type: ignore[operator]


def test_posterior_predictive_rejects_bad_output() -> None:
    post = AbcPosterior(
        np.ones((2, 1)),
        np.array([0.5, 0.5]),
        np.zeros(2),
        np.zeros(1),
        np.ones(1),
        np.ones(1, dtype=np.int64),
        "n_generations",
    )
    with pytest.raises(ShapeError):
        posterior_predictive(lambda th, rng: th[:1], post, 3, seed=0)
    with pytest.raises(InvalidParameterError):
        posterior_predictive(lambda th, rng: th, post, 0)
