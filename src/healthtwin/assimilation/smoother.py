"""Fixed-lag ensemble Kalman smoother (stochastic EnKS), batched over groups of members.

The smoother is the ensemble Kalman filter applied to an augmented state: the members'
view vector ``z`` (:class:`~healthtwin.assimilation.view.StateView`) followed by the last
``L <= lag_steps + 1`` recorded values of a quantity ``g(x)`` (by default the observed
one). An observation at step ``j`` updates

    ``[z_j, g_{j-L+1}, ..., g_j] += C_{a,h} (C_{h,h} + R)^{-1} (y_j + e - h(x_j))``

for every member, with the ensemble cross-covariance ``C_{a,h}`` of the augmented vector
and the predicted observation, and perturbed observations ``e ~ N(0, R)`` (Evensen & van
Leeuwen, MWR 128:1852, 2000; Evensen, Ocean Dyn 53:343, 2003). So a value recorded up to
``lag_steps`` steps ago is still corrected by later readings, and a gap in the readings is
filled from data on both sides. For a linear-Gaussian model and ``lag_steps`` at least the
series length the ensemble tends to the Rauch-Tung-Striebel smoother
(:func:`~healthtwin.assimilation.kalman.rts_smoother`) as the ensemble grows.

Members are grouped as ``n_groups x members_per_group`` along the leading axis (twins,
patients); each group has its own gain and never sees another group's data. A missing
reading (NaN) is not assimilated: a group with nothing to assimilate keeps its ensemble
exactly. The analysis step is the :class:`~healthtwin.assimilation.enkf.EnsembleKalmanFilter`'s
own, so both share perturbations, screening and the ETKF alternative.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from healthtwin.assimilation.enkf import EnsembleKalmanFilter
from healthtwin.assimilation.view import StateView
from healthtwin.core.inputs import Inputs
from healthtwin.core.state import ArrayState
from healthtwin.core.types import BoolArray, FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError

__all__ = ["EnsembleKalmanSmoother", "SmoothedRun", "SmootherAnalysis"]

S = TypeVar("S")


@dataclass(frozen=True)
class SmootherAnalysis(Generic[S]):
    """One smoother update.

    Attributes
    ----------
    state
        The updated ensemble at the current step.
    lagged
        The smoothed window of the recorded quantity, ``(n, L, q)``, oldest first; its
        last row is the current step.
    innovation
        ``y`` minus the ensemble-mean prediction, ``(n_groups, k)``.
    used
        Readings assimilated, ``(n_groups, k)`` (False where missing or refused).
    """

    state: S
    lagged: FloatArray
    innovation: FloatArray
    used: BoolArray


@dataclass(frozen=True)
class SmoothedRun(Generic[S]):
    """A smoothed run over a time grid.

    Attributes
    ----------
    state
        The ensemble after the last step's update.
    history
        The smoothed ensemble of the recorded quantity, ``(n_groups, m, T, q)``: each
        value corrected by the readings up to ``lag_steps`` steps after it.
    """

    state: S
    history: FloatArray

    @property
    def mean(self) -> FloatArray:
        """Smoothed ensemble mean, ``(n_groups, T, q)``."""
        return np.asarray(self.history.mean(axis=1))

    @property
    def sd(self) -> FloatArray:
        """Smoothed ensemble standard deviation, ``(n_groups, T, q)``."""
        return np.asarray(self.history.std(axis=1, ddof=1))


@dataclass(frozen=True)
class _Augmented(ArrayState):
    """The view vector and the lagged window side by side, as the EnKF sees them."""

    x: FloatArray  # (n, size + L q)
    theta: FloatArray  # (n, 0)


class _Predicted:
    """A Gaussian observation whose prediction was computed on the model's own state."""

    def __init__(self, predicted: FloatArray, noise_sd: FloatArray) -> None:
        self.predicted = predicted
        self.noise_sd = noise_sd

    def predict(self, state: Any) -> FloatArray:
        return self.predicted

    def log_likelihood(self, state: Any, y: FloatArray) -> FloatArray:
        z = (np.asarray(y, dtype=np.float64) - self.predicted) / self.noise_sd
        norm = np.sum(np.log(self.noise_sd * np.sqrt(2.0 * np.pi)))
        return np.asarray(-0.5 * np.sum(z * z, axis=1) - norm)


class EnsembleKalmanSmoother:
    """A fixed-lag ensemble Kalman smoother over any model with ``x``/``theta`` states.

    Parameters
    ----------
    view
        What the smoother may change in the state.
    lag_steps
        Lag in steps (>= 1): an update at step ``j`` also corrects the recorded values
        of steps ``j - lag_steps`` to ``j - 1``. Make it longer than the longest gap.
    members_per_group
        Members of each group (the leading axis is groups x members); all members form
        one group when omitted.
    form
        ``"stochastic"`` (perturbed observations, the classic EnKS) or ``"etkf"``.
    outlier_sigma
        Normalized innovation above which a reading is refused (``None``: never).

    Examples
    --------
    Two twins of eight members each; the second twin has no readings and is left alone.

    >>> import dataclasses
    >>> from healthtwin.assimilation import OutputObservation, view_for
    >>> from healthtwin.core import Inputs
    >>> from healthtwin.physiology.registry import make_model
    >>> model = make_model("bergman-minimal")
    >>> rng = np.random.default_rng(0)
    >>> state = model.initial_state(16, rng)
    >>> x = np.array(state.x)
    >>> x[:, 0] += rng.normal(0.0, 15.0, 16)
    >>> state = dataclasses.replace(state, x=x)
    >>> obs = OutputObservation(model, ["glucose_mg_dl"], [5.0])
    >>> smoother = EnsembleKalmanSmoother(
    ...     view_for(model, states=["plasma_glucose_mg_dl"]), lag_steps=6, members_per_group=8
    ... )
    >>> y = np.full((2, 7, 1), np.nan)
    >>> y[0, ::3, 0] = [100.0, 95.0, 92.0]
    >>> run = smoother.smooth(model, state, np.arange(7) * 5.0, y, Inputs(), obs, rng)
    >>> run.history.shape, run.mean.shape
    ((2, 8, 7, 1), (2, 7, 1))
    >>> bool(run.sd[0, 0, 0] < run.sd[1, 0, 0])  # the readings shrank twin 0's spread
    True
    """

    def __init__(
        self,
        view: StateView,
        *,
        lag_steps: int,
        members_per_group: int | None = None,
        form: str = "stochastic",
        outlier_sigma: float | None = None,
    ) -> None:
        if isinstance(lag_steps, bool) or not isinstance(lag_steps, int | np.integer):
            raise InvalidParameterError(f"lag_steps must be an integer >= 1, got {lag_steps!r}")
        if lag_steps < 1:
            raise InvalidParameterError(
                f"lag_steps must be >= 1 (steps back an update reaches), got {lag_steps}"
            )
        self.view = view
        self.lag_steps = int(lag_steps)
        self.members_per_group = members_per_group
        self.form = form
        self.outlier_sigma = outlier_sigma
        # The filter checks form, members per group and outlier_sigma, with its messages.
        self._analysis_filter(1)

    def _analysis_filter(self, width: int) -> EnsembleKalmanFilter:
        """The EnKF over all ``width`` columns of the augmented vector."""
        return EnsembleKalmanFilter(
            StateView(state_columns=tuple(range(width))),
            members_per_twin=self.members_per_group,
            form=self.form,
            outlier_sigma=self.outlier_sigma,
        )

    def _groups(self, n: int) -> int:
        m = n if self.members_per_group is None else self.members_per_group
        if n % m:
            raise ShapeError(f"{n} members are not a whole number of groups of {m} members")
        return n // m

    def update(
        self, state: S, y: npt.ArrayLike, obs: Any, lagged: npt.ArrayLike, rng: np.random.Generator
    ) -> SmootherAnalysis[S]:
        """Assimilate ``y`` into the state and the window of recorded values.

        Parameters
        ----------
        state
            The forecast ensemble at the current step (``n`` members).
        y
            Readings, ``(n_groups, k)`` or ``(k,)`` for all groups; NaN where missing.
        obs
            A Gaussian observation model (``predict`` and a positive ``noise_sd`` (k,)).
        lagged
            Recorded values of the window, ``(n, L, q)`` with ``1 <= L <= lag_steps + 1``,
            oldest first, the last row at the current step.
        rng
            Source of the perturbed observations.

        Returns
        -------
        SmootherAnalysis
            The updated state and window.

        Raises
        ------
        ShapeError
            For a window or readings of the wrong shape.
        InvalidParameterError
            For a noise SD that is not positive and finite.
        """
        n = int(state.n_members)  # type: ignore[attr-defined]
        self._groups(n)
        window = np.asarray(lagged, dtype=np.float64)
        if (
            window.ndim != 3
            or window.shape[0] != n
            or not 1 <= window.shape[1] <= self.lag_steps + 1
        ):
            raise ShapeError(
                f"lagged must be (n={n}, L, q) with 1 <= L <= lag_steps + 1 = "
                f"{self.lag_steps + 1}, got {window.shape}"
            )
        sd = _noise_sd(obs)
        z = self.view.pack(state)
        aug = _Augmented(np.concatenate([z, window.reshape(n, -1)], axis=1), np.ones((n, 0)))
        predicted = np.asarray(obs.predict(state), dtype=np.float64)
        if predicted.shape != (n, sd.size):
            raise ShapeError(f"obs.predict must give ({n}, {sd.size}), got {predicted.shape}")
        analysis = self._analysis_filter(aug.x.shape[1]).analyse(
            aug, np.asarray(y), _Predicted(predicted, sd), rng
        )
        new = np.asarray(analysis.state.x)
        size = self.view.size
        return SmootherAnalysis(
            state=self.view.unpack(state, new[:, :size]),
            lagged=new[:, size:].reshape(window.shape),
            innovation=analysis.innovation,
            used=analysis.used,
        )

    def smooth(
        self,
        model: Any,
        state: S,
        t: npt.ArrayLike,
        y: npt.ArrayLike,
        inputs: Inputs,
        obs: Any,
        rng: np.random.Generator,
        *,
        record: Callable[[S], FloatArray] | None = None,
        assimilate: npt.ArrayLike | None = None,
    ) -> SmoothedRun[S]:
        """Run ``model`` over the grid ``t``, assimilating and smoothing as it goes.

        Parameters
        ----------
        model
            Advances the state (the kernel's ``Model`` protocol).
        state
            The ensemble at ``t[0]``.
        t
            Increasing step times in the model's unit, ``(T,)``.
        y
            Readings ``(n_groups, T, k)``, NaN where missing.
        inputs
            The model's inputs over the grid (rows per member or shared).
        obs
            Gaussian observation model of the readings.
        rng
            Source of model noise and perturbed observations.
        record
            The quantity whose smoothed history is kept, state -> ``(n, q)``;
            ``obs.predict`` when omitted.
        assimilate
            Steps at which to assimilate, boolean ``(T,)``; every step when omitted.

        Returns
        -------
        SmoothedRun
            The final state and the smoothed history ``(n_groups, m, T, q)``.

        Raises
        ------
        InvalidInputError
            For times that are not increasing.
        ShapeError
            For readings or a step mask of the wrong shape.
        """
        times = np.asarray(t, dtype=np.float64).reshape(-1)
        n = int(state.n_members)  # type: ignore[attr-defined]
        n_groups = self._groups(n)
        steps = _steps(assimilate, times)
        readings = _readings(y, times.size, n_groups)
        quantity = obs.predict if record is None else record
        width = np.asarray(quantity(state)).reshape(n, -1).shape[1]
        history = np.full((n, times.size, width), np.nan)
        for j in range(times.size):
            if j:
                state = model.advance(state, float(times[j - 1]), float(times[j]), inputs, rng)
            history[:, j] = np.asarray(quantity(state), dtype=np.float64).reshape(n, width)
            if steps[j]:
                lo = max(0, j - self.lag_steps)
                result = self.update(state, readings[:, j], obs, history[:, lo : j + 1], rng)
                state, history[:, lo : j + 1] = result.state, result.lagged
        return SmoothedRun(state, history.reshape(n_groups, n // n_groups, times.size, width))


def _noise_sd(obs: Any) -> FloatArray:
    """The observation error SD ``(k,)``, checked to be positive and finite."""
    try:
        sd = np.asarray(obs.noise_sd, dtype=np.float64).reshape(-1)
    except AttributeError as err:
        raise InvalidParameterError(
            "the smoother needs a Gaussian observation model with a noise_sd per reading"
        ) from err
    if sd.size == 0 or not np.all(np.isfinite(sd)) or np.any(sd <= 0):
        raise InvalidParameterError(
            f"observation error SD must be positive and finite, got {sd.tolist()}; "
            "give the sensor's noise SD in the reading's unit"
        )
    return sd


def _readings(y: npt.ArrayLike, n_steps: int, n_groups: int) -> FloatArray:
    readings = np.asarray(y, dtype=np.float64)
    if readings.ndim != 3 or readings.shape[:2] != (n_groups, n_steps):
        raise ShapeError(
            f"y must be (n_groups={n_groups}, T={n_steps}, k) with NaN where missing, "
            f"got {readings.shape}"
        )
    return readings


def _steps(assimilate: npt.ArrayLike | None, times: FloatArray) -> BoolArray:
    if times.size < 1 or np.any(~np.isfinite(times)) or np.any(np.diff(times) <= 0):
        raise InvalidInputError(f"t must be finite increasing step times, got {times.tolist()}")
    if assimilate is None:
        return np.ones(times.size, dtype=bool)
    steps = np.asarray(assimilate)
    if steps.shape != times.shape or steps.dtype != np.bool_:
        raise ShapeError(f"assimilate must be a boolean mask {times.shape}, got {steps.shape}")
    return steps
