"""The ensemble Kalman smoother against the exact Rauch-Tung-Striebel smoother.

On the shared linear-Gaussian test model (a damped rotation in 2-D, scalar readings with a
7-step gap, 25 steps) the smoothed ensemble of the whole state history, with a lag as long
as the series, must tend to the RTS posterior: the error of its mean shrinks like
``1 / sqrt(m)`` and its spread approaches the RTS standard deviation. The RTS smoother is
itself checked against brute force: the joint Gaussian of the stacked states conditioned
exactly on the readings.

Measured over 20 replications (seeds 100-119): RMS over steps and components of
``(ensemble mean - RTS mean) / RTS SD`` times ``sqrt(m)`` was 1.77 +/- 0.35 (m = 100)
and 2.20 +/- 0.70 (m = 2000, largest 4.85) for the stochastic form, 1.45-1.51 for the
ETKF; the largest relative SD error at m = 2000 was 0.061 (stochastic) and 0.049 (ETKF).
"""

from __future__ import annotations

import numpy as np
import pytest
from tests.assimilation.linear_model import (
    R_SD,
    X0_COV,
    X0_MEAN,
    F,
    H,
    LinearGaussian,
    LinearObservation,
    LinearState,
    Q,
    simulate_truth,
)

from healthtwin.assimilation import EnsembleKalmanSmoother, StateView, rts_smoother
from healthtwin.core import Inputs
from healthtwin.errors import InvalidInputError, ShapeError

STEPS = 25
GAP = slice(8, 15)


@pytest.fixture(scope="module")
def reference() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Readings with a gap ``(T, 1)``, RTS means ``(T, 2)`` and SDs ``(T, 2)``."""
    _, ys = simulate_truth(STEPS, np.random.default_rng(11))
    ys[GAP] = np.nan
    means, covs = rts_smoother(ys, X0_MEAN, X0_COV, F, Q, H, np.diag(R_SD**2))
    return ys, means[0], np.sqrt(np.diagonal(covs[0], axis1=1, axis2=2))


def _smoothed(ys: np.ndarray, members: int, seed: int, form: str) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    model = LinearGaussian()
    smoother = EnsembleKalmanSmoother(StateView(state_columns=(0, 1)), lag_steps=STEPS, form=form)

    def states(state: LinearState) -> np.ndarray:
        return np.asarray(state.x)

    run = smoother.smooth(
        model,
        model.initial_state(members, rng),
        np.arange(STEPS, dtype=float),
        ys[None],
        Inputs(),
        LinearObservation(),
        rng,
        record=states,
    )
    return run.mean[0], run.sd[0]


def _normalized_rms(mean: np.ndarray, ref_mean: np.ndarray, ref_sd: np.ndarray) -> float:
    return float(np.sqrt(np.mean(((mean - ref_mean) / ref_sd) ** 2)))


def test_stochastic_enks_tends_to_rts(reference: tuple[np.ndarray, ...]) -> None:
    ys, ref_mean, ref_sd = reference
    error = {}
    for members in (100, 2000):
        runs = [_smoothed(ys, members, seed, "stochastic") for seed in range(3)]
        error[members] = np.mean([_normalized_rms(m, ref_mean, ref_sd) for m, _ in runs])
        # Monte Carlo tolerance from the ensemble size: one replication's scaled error is
        # about 2.2 +/- 0.7, a mean of three 2.2 +/- 0.4 (99 % below 3.3); allow 4.5.
        assert error[members] < 4.5 / np.sqrt(members)
        if members == 2000:
            for _, sd in runs:
                np.testing.assert_allclose(sd, ref_sd, rtol=0.10)
    # sqrt(2000 / 100) = 4.5 expected; 1.5 leaves room for the 99 % extremes of both.
    assert error[2000] < error[100] / 1.5


def test_etkf_smoother_also_tends_to_rts(reference: tuple[np.ndarray, ...]) -> None:
    ys, ref_mean, ref_sd = reference
    mean, sd = _smoothed(ys, 2000, 7, "etkf")
    assert _normalized_rms(mean, ref_mean, ref_sd) < 4.5 / np.sqrt(2000)
    np.testing.assert_allclose(sd, ref_sd, rtol=0.10)


def test_smoothing_narrows_the_gap_below_the_filter(reference: tuple[np.ndarray, ...]) -> None:
    """The readings after the gap shrink its uncertainty: smoothed SD < filtered SD there."""
    ys, _, ref_sd = reference
    filtered_sd = np.empty_like(ref_sd)
    for t in range(STEPS):
        # The RTS estimate of step t from readings up to t only is the filter's.
        _, cov = rts_smoother(ys[: t + 1], X0_MEAN, X0_COV, F, Q, H, np.diag(R_SD**2))
        filtered_sd[t] = np.sqrt(np.diag(cov[0, t]))
    assert np.all(ref_sd[GAP] < filtered_sd[GAP])
    np.testing.assert_allclose(ref_sd[-1], filtered_sd[-1], rtol=1e-12)


def _joint_posterior(
    ys: np.ndarray, h: np.ndarray, r_sd: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Brute force: condition the stacked states ``(T d,)`` on every observed component."""
    n_t, d = ys.shape[0], F.shape[0]
    mean, cov = np.zeros(n_t * d), np.zeros((n_t * d, n_t * d))
    m_t, p_t = X0_MEAN.copy(), X0_COV.copy()
    for t in range(n_t):
        if t:
            m_t, p_t = F @ m_t, F @ p_t @ F.T + Q
        mean[t * d : (t + 1) * d] = m_t
        block = p_t
        for u in range(t, n_t):  # Cov(x_u, x_t) = F^(u-t) P_t
            cov[u * d : (u + 1) * d, t * d : (t + 1) * d] = block
            cov[t * d : (t + 1) * d, u * d : (u + 1) * d] = block.T
            block = F @ block
    rows, values, noise = [], [], []
    for t, c in zip(*np.nonzero(np.isfinite(ys)), strict=True):
        row = np.zeros(n_t * d)
        row[t * d : (t + 1) * d] = h[c]
        rows.append(row)
        values.append(ys[t, c])
        noise.append(r_sd[c] ** 2)
    a = np.array(rows)
    s = a @ cov @ a.T + np.diag(noise)
    gain = np.linalg.solve(s, a @ cov).T
    post_mean = mean + gain @ (np.array(values) - a @ mean)
    post_cov = cov - gain @ a @ cov
    return post_mean.reshape(n_t, d), post_cov


def test_rts_equals_the_joint_gaussian_posterior() -> None:
    h = np.array([[1.0, 0.0], [0.5, 1.0]])
    r_sd = np.array([0.4, 0.7])
    ys = np.random.default_rng(3).normal(0.0, 1.0, (2, 6, 2))
    ys[0, 2:4] = np.nan  # a whole gap
    ys[1, 1, 0] = ys[1, 4, 1] = np.nan  # single components missing
    means, covs = rts_smoother(ys, X0_MEAN, X0_COV, F, Q, h, np.diag(r_sd**2))
    for b in range(2):
        exact_mean, exact_cov = _joint_posterior(ys[b], h, r_sd)
        np.testing.assert_allclose(means[b], exact_mean, rtol=0, atol=1e-10)
        for t in range(6):
            block = exact_cov[2 * t : 2 * t + 2, 2 * t : 2 * t + 2]
            np.testing.assert_allclose(covs[b, t], block, rtol=0, atol=1e-10)


def test_rts_refuses_mismatched_shapes() -> None:
    ys = np.zeros((4, 1))
    with pytest.raises(ShapeError, match=r"'h': \(1, 3\)"):
        rts_smoother(ys, X0_MEAN, X0_COV, F, Q, np.ones((1, 3)), np.eye(1))
    with pytest.raises(ShapeError, match=r"got y \(1, 4, 2\)"):
        rts_smoother(np.zeros((4, 2)), X0_MEAN, X0_COV, F, Q, H, np.eye(1))
    with pytest.raises(ShapeError, match="mean0"):
        rts_smoother(ys, np.zeros(3), X0_COV, F, Q, H, np.eye(1))
    with pytest.raises(InvalidInputError, match="infinity"):
        rts_smoother(np.full((4, 1), np.inf), X0_MEAN, X0_COV, F, Q, H, np.eye(1))
