"""``synchronise`` with a noise SD per reading: imputed values weigh by their uncertainty.

Without per-reading SDs (or with all of them NaN) the replay is the one it always was:
one ``twin.assimilate`` per reading with the observation model as given.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.assimilation.linear_model import R_SD, LinearGaussian, LinearState, simulate_truth

from healthtwin.assimilation import (
    EnsembleKalmanFilter,
    ObservationSeries,
    OutputObservation,
    StateView,
    SyncReport,
    synchronise,
)
from healthtwin.assimilation.sync import _ReadingObservation
from healthtwin.core import Twin
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError

STEPS = 12
MEMBERS = 40


def _twin(form: str = "etkf", seed: int = 3) -> Twin[LinearState]:
    model = LinearGaussian()
    prior = model.initial_state(MEMBERS, np.random.default_rng(seed))
    enkf = EnsembleKalmanFilter(StateView(state_columns=(0, 1)), form=form, outlier_sigma=None)
    return Twin(model, prior, 0.0, seed=seed, assimilator=enkf)


def _obs() -> OutputObservation:
    return OutputObservation(LinearGaussian(), ["x0"], list(R_SD))


@pytest.fixture(scope="module")
def readings() -> tuple[np.ndarray, np.ndarray]:
    _, ys = simulate_truth(STEPS, np.random.default_rng(5))
    return np.arange(1.0, STEPS + 1.0), np.asarray(ys, dtype=float).reshape(STEPS, 1)


def _same(a: SyncReport, b: SyncReport) -> None:
    for name in ("filtered", "parameters", "forecasts", "used"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.mark.parametrize("form", ["etkf", "stochastic"])
def test_without_own_noise_the_replay_is_unchanged(
    form: str, readings: tuple[np.ndarray, np.ndarray]
) -> None:
    times, values = readings
    plain = synchronise(_twin(form), ObservationSeries(times, values), _obs(), horizons=(2.0,))
    assert plain.noise_sd is None
    # The replay is one assimilate per reading with the model as given ...
    by_hand = _twin(form)
    for t, y in zip(times, values, strict=True):
        by_hand.assimilate(float(t), y, _obs())
    np.testing.assert_array_equal(by_hand.state.x, _twin_after(form, times, values).state.x)
    # ... all-NaN SDs take that same path, and SDs equal to the model's change nothing.
    nan_sd = ObservationSeries(times, values, noise_sd=np.full((STEPS, 1), np.nan))
    _same(plain, synchronise(_twin(form), nan_sd, _obs(), horizons=(2.0,)))
    own_sd = ObservationSeries(times, values, noise_sd=np.full((STEPS, 1), R_SD[0]))
    explicit = synchronise(_twin(form), own_sd, _obs(), horizons=(2.0,))
    _same(plain, explicit)
    np.testing.assert_array_equal(explicit.noise_sd, np.full((STEPS, 1), R_SD[0]))


def _twin_after(form: str, times: np.ndarray, values: np.ndarray) -> Twin[LinearState]:
    twin = _twin(form)
    synchronise(twin, ObservationSeries(times, values), _obs(), horizons=())
    return twin


def test_a_reading_with_a_huge_sd_leaves_the_ensemble_almost_unchanged(
    readings: tuple[np.ndarray, np.ndarray],
) -> None:
    times, values = readings
    last = STEPS - 1
    values = values.copy()
    values[last] += 5.0  # far from the twin: a measurement would pull hard
    before = _twin()
    synchronise(before, ObservationSeries(times[:last], values[:last]), _obs(), horizons=())
    prior_mean = float(_obs().predict(before.state).mean())
    noise = np.full((STEPS, 1), np.nan)
    measured = synchronise(_twin(), ObservationSeries(times, values, noise), _obs(), horizons=())
    noise[last] = 1e4
    vague_twin = _twin()
    vague = synchronise(vague_twin, ObservationSeries(times, values, noise), _obs(), horizons=())
    # Up to the last reading both replays are the same, bit for bit.
    np.testing.assert_array_equal(measured.filtered[:last], vague.filtered[:last])
    pull_measured = measured.filtered[last, 0, 3] - vague.filtered[last - 1, 0, 3]
    assert pull_measured > 1.0
    # The last one moves the ensemble mean by var / (var + 1e8) of the innovation: nothing.
    # (The twin advanced one step between readings, so compare with its own forecast.)
    advanced = _twin()
    synchronise(advanced, ObservationSeries(times[:last], values[:last]), _obs(), horizons=())
    advanced.advance_to(float(times[last]))
    forecast_mean = float(_obs().predict(advanced.state).mean())
    assert abs(vague.filtered[last, 0, 3] - forecast_mean) < 1e-5
    assert abs(vague.filtered[last, 0, 3] - prior_mean) < abs(pull_measured)
    np.testing.assert_allclose(vague_twin.state.x, advanced.state.x, atol=1e-5)
    assert vague.noise_sd[last, 0] == 1e4
    assert vague.noise_sd[0, 0] == R_SD[0]


def test_the_pull_shrinks_as_the_reading_sd_grows(readings: tuple[np.ndarray, np.ndarray]) -> None:
    times, values = readings
    values = values + 3.0
    pulls = []
    for sd in (R_SD[0], 2.0, 8.0):
        noise = np.full((STEPS, 1), np.nan)
        noise[0] = sd
        report = synchronise(
            _twin(), ObservationSeries(times[:1], values[:1], noise[:1]), _obs(), horizons=()
        )
        pulls.append(report.filtered[0, 0, 3])
    assert pulls[0] > pulls[1] > pulls[2]


def test_the_reading_model_keeps_the_likelihood_and_delegates() -> None:
    obs = _obs()
    state = LinearGaussian().initial_state(6, np.random.default_rng(0))
    same = _ReadingObservation(obs, np.asarray(R_SD))
    y = np.array([0.7])
    np.testing.assert_allclose(same.log_likelihood(state, y), obs.log_likelihood(state, y))
    assert same.outputs == ("x0",)
    assert same.model is obs.model
    wide = _ReadingObservation(obs, np.array([4.0]))
    assert np.all(np.ptp(wide.log_likelihood(state, y)) < np.ptp(obs.log_likelihood(state, y)))


def test_per_reading_sds_are_checked(readings: tuple[np.ndarray, np.ndarray]) -> None:
    times, values = readings
    with pytest.raises(ShapeError, match="one SD per reading"):
        ObservationSeries(times, values, noise_sd=np.ones((STEPS, 2)))
    for bad in (0.0, -1.0, np.inf):
        noise = np.full(STEPS, np.nan)
        noise[2] = bad
        with pytest.raises(InvalidInputError, match="must be > 0 and finite"):
            ObservationSeries(times, values, noise_sd=noise)
    series = ObservationSeries(times, values, noise_sd=np.arange(1.0, STEPS + 1.0))
    part = series.part(2, 4)
    assert part.noise_sd is not None
    assert part.noise_sd[:, 0].tolist() == [3.0, 4.0]
    assert part.times.tolist() == [3.0, 4.0]

    class NoNoise:
        outputs = ("x0",)

        def predict(self, state: object) -> np.ndarray:
            return np.zeros((MEMBERS, 1))

    with pytest.raises(InvalidParameterError, match="NoNoise has none"):
        synchronise(_twin(), series, NoNoise(), horizons=())


def test_the_csv_adds_noise_and_extra_columns_at_the_end(
    readings: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    times, values = readings
    plain = synchronise(_twin(), ObservationSeries(times[:3], values[:3]), _obs(), horizons=())
    plain.write_csv(tmp_path / "plain.csv", "step")
    header = (tmp_path / "plain.csv").read_text().splitlines()[0].split(",")
    noise = np.array([np.nan, 3.0, np.nan])
    own = synchronise(_twin(), ObservationSeries(times[:3], values[:3], noise), _obs(), horizons=())
    own.write_csv(tmp_path / "own.csv", "step", {"imputed": [0, 1, 0]})
    lines = (tmp_path / "own.csv").read_text().splitlines()
    assert lines[0].split(",") == [*header, "noise_sd_x0", "imputed"]
    assert [line.split(",")[-2:] for line in lines[1:]] == [["0.4", "0"], ["3", "1"], ["0.4", "0"]]
    with pytest.raises(ShapeError, match="3 values each"):
        own.write_csv(tmp_path / "bad.csv", "step", {"imputed": [0, 1]})
