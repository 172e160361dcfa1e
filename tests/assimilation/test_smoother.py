"""The fixed-lag ensemble Kalman smoother: its contract and edge cases.

Its accuracy against the exact Rauch-Tung-Striebel smoother is in
``tests/validation/test_enks_rts.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from tests.assimilation.linear_model import LinearGaussian, LinearObservation, LinearState

from healthtwin.assimilation import EnsembleKalmanSmoother, SmoothedRun, StateView
from healthtwin.core import Inputs
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError

VIEW = StateView(state_columns=(0, 1))
STEPS, GROUPS, MEMBERS = 12, 3, 16


def _states(state: LinearState) -> np.ndarray:
    return np.asarray(state.x)


def _readings(seed: int = 5) -> np.ndarray:
    y = np.random.default_rng(seed).normal(1.0, 0.5, (GROUPS, STEPS, 1))
    y[:, 4:8] = np.nan
    return y


def _run(
    y: np.ndarray, seed: int, lag: int = 6, assimilate: np.ndarray | None = None
) -> SmoothedRun[LinearState]:
    rng = np.random.default_rng(seed)
    model = LinearGaussian()
    smoother = EnsembleKalmanSmoother(VIEW, lag_steps=lag, members_per_group=MEMBERS)
    return smoother.smooth(
        model,
        model.initial_state(GROUPS * MEMBERS, rng),
        np.arange(STEPS, dtype=float),
        y,
        Inputs(),
        LinearObservation(),
        rng,
        record=_states,
        assimilate=assimilate,
    )


class _Noise(LinearObservation):
    def __init__(self, sd: float) -> None:
        self.noise_sd = np.array([sd])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"lag_steps": 0}, InvalidParameterError, r"lag_steps must be >= 1.*got 0"),
        ({"lag_steps": 2.5}, InvalidParameterError, r"integer >= 1, got 2\.5"),
        ({"lag_steps": 3, "members_per_group": 1}, InvalidParameterError, "at least 2 members"),
        ({"lag_steps": 3, "form": "enks"}, InvalidParameterError, "'etkf' or 'stochastic'"),
    ],
)
def test_bad_settings_are_refused(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        EnsembleKalmanSmoother(VIEW, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("sd", [0.0, -1.0, np.nan])
def test_observation_error_sd_must_be_positive(sd: float) -> None:
    rng = np.random.default_rng(0)
    state = LinearGaussian().initial_state(4, rng)
    smoother = EnsembleKalmanSmoother(VIEW, lag_steps=2)
    with pytest.raises(InvalidParameterError, match="SD must be positive and finite"):
        smoother.update(state, np.array([1.0]), _Noise(sd), np.zeros((4, 1, 2)), rng)


def test_bad_shapes_are_refused_with_what_was_received() -> None:
    rng = np.random.default_rng(0)
    model, obs = LinearGaussian(), LinearObservation()
    state = model.initial_state(GROUPS * MEMBERS, rng)
    smoother = EnsembleKalmanSmoother(VIEW, lag_steps=2, members_per_group=MEMBERS)
    n = GROUPS * MEMBERS
    with pytest.raises(ShapeError, match=r"1 <= L <= lag_steps \+ 1 = 3, got \(48, 4, 2\)"):
        smoother.update(state, np.ones(1), obs, np.zeros((n, 4, 2)), rng)
    with pytest.raises(ShapeError, match="lagged must be"):
        smoother.update(state, np.ones(1), obs, np.zeros((n - 1, 2, 2)), rng)
    with pytest.raises(ShapeError, match="y must have shape"):
        smoother.update(state, np.ones((2, 1)), obs, np.zeros((n, 2, 2)), rng)
    with pytest.raises(ShapeError, match="not a whole number of groups of 16"):
        smoother.update(state.take(slice(0, n - 1)), np.ones(1), obs, np.zeros((n - 1, 1, 2)), rng)
    t = np.arange(STEPS, dtype=float)
    with pytest.raises(ShapeError, match=r"y must be \(n_groups=3, T=12, k\).*got \(12, 1\)"):
        smoother.smooth(model, state, t, np.ones((STEPS, 1)), Inputs(), obs, rng)
    with pytest.raises(InvalidInputError, match="increasing"):
        smoother.smooth(model, state, t[::-1], _readings(), Inputs(), obs, rng)
    with pytest.raises(ShapeError, match="assimilate must be a boolean mask"):
        smoother.smooth(model, state, t, _readings(), Inputs(), obs, rng, assimilate=[1, 0])


def test_missing_readings_leave_the_ensemble_and_window_unchanged() -> None:
    rng = np.random.default_rng(1)
    state = LinearGaussian().initial_state(GROUPS * MEMBERS, rng)
    window = rng.normal(size=(GROUPS * MEMBERS, 3, 2))
    smoother = EnsembleKalmanSmoother(VIEW, lag_steps=4, members_per_group=MEMBERS)
    y = np.array([[np.nan], [0.7], [np.nan]])
    step = smoother.update(state, y, LinearObservation(), window, rng)
    untouched = np.r_[0:MEMBERS, 2 * MEMBERS : 3 * MEMBERS]
    assert np.array_equal(step.state.x[untouched], state.x[untouched])
    assert np.array_equal(step.lagged[untouched], window[untouched])
    assert step.used[:, 0].tolist() == [False, True, False]
    # The group with a reading moved, in its state and along its whole window.
    moved = slice(MEMBERS, 2 * MEMBERS)
    assert not np.allclose(step.state.x[moved], state.x[moved])
    assert (np.abs(step.lagged[moved] - window[moved]) > 0).all(axis=0).any()
    nothing = smoother.update(state, np.full(1, np.nan), LinearObservation(), window, rng)
    assert np.array_equal(nothing.state.x, state.x)
    assert np.array_equal(nothing.lagged, window)


def test_groups_are_independent_of_each_others_data() -> None:
    y = _readings()
    other = y.copy()
    other[2] = np.random.default_rng(9).normal(-3.0, 2.0, (STEPS, 1))
    other[2, ::2] = np.nan  # another gap pattern too
    base, changed = _run(y, seed=3), _run(other, seed=3)
    assert np.array_equal(base.history[:2], changed.history[:2])
    assert np.array_equal(base.state.x[: 2 * MEMBERS], changed.state.x[: 2 * MEMBERS])
    assert not np.allclose(base.history[2], changed.history[2])


def test_runs_are_reproducible_from_a_seed() -> None:
    y = _readings()
    first, again, other = _run(y, seed=4), _run(y, seed=4), _run(y, seed=5)
    assert np.array_equal(first.history, again.history)
    assert not np.allclose(first.history, other.history)


def test_a_reading_reaches_back_exactly_lag_steps() -> None:
    y = _readings()
    moved = y.copy()
    moved[:, 10] += 1.0
    base, changed = _run(y, seed=6, lag=2), _run(moved, seed=6, lag=2)
    assert np.array_equal(base.history[:, :, :8], changed.history[:, :, :8])
    assert not np.any(np.isclose(base.history[:, :, 8:11], changed.history[:, :, 8:11]))
    # A longer lag carries the same reading back into the gap.
    base, changed = _run(y, seed=6, lag=6), _run(moved, seed=6, lag=6)
    assert np.array_equal(base.history[:, :, :4], changed.history[:, :, :4])
    assert not np.any(np.isclose(base.history[:, :, 4:11], changed.history[:, :, 4:11]))


def test_history_ends_at_the_final_analysis_and_spread_shrinks_with_data() -> None:
    y = _readings()
    run = _run(y, seed=7)
    assert np.array_equal(run.history[:, :, -1].reshape(-1, 2), run.state.x)
    assert run.mean.shape == run.sd.shape == (GROUPS, STEPS, 2)
    none = _run(np.full_like(y, np.nan), seed=7)
    assert np.all(run.sd[:, :, 0] < none.sd[:, :, 0])


def test_steps_left_out_of_assimilate_are_a_free_run() -> None:
    run = _run(_readings(), seed=8, assimilate=np.zeros(STEPS, dtype=bool))
    rng = np.random.default_rng(8)
    model = LinearGaussian()
    state = model.initial_state(GROUPS * MEMBERS, rng)
    free = [state.x]
    for k in range(1, STEPS):
        state = model.advance(state, k - 1, k, Inputs(), rng)
        free.append(state.x)
    expected = np.stack(free, axis=1).reshape(GROUPS, MEMBERS, STEPS, 2)
    assert np.array_equal(run.history, expected)
