"""Gaussian observation operators: what a sensor reads of a model's outputs, with its noise.

Kalman-type filters need the noise as a standard deviation per observed component
(:class:`GaussianObservation`); :class:`OutputObservation` reads any model outputs by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from healthtwin.core.protocols import Model
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, UnknownModelError

__all__ = ["GaussianObservation", "OutputObservation"]


@runtime_checkable
class GaussianObservation(Protocol):
    """An observation model with independent Gaussian noise of known spread."""

    noise_sd: FloatArray

    def predict(self, state: Any) -> FloatArray:
        """Expected observation per member, shape ``(n, k)``."""
        ...

    def log_likelihood(self, state: Any, y: FloatArray) -> FloatArray:
        """Log density of ``y`` per member, shape ``(n,)``."""
        ...


class OutputObservation:
    """Readings of named model outputs with Gaussian noise.

    Parameters
    ----------
    model
        The model whose outputs are read.
    outputs
        Output channel names.
    noise_sd
        Noise standard deviation per output (> 0), in the output's unit.

    Examples
    --------
    >>> from healthtwin.physiology.registry import make_model
    >>> model = make_model("bergman-minimal")
    >>> obs = OutputObservation(model, ["glucose_mg_dl"], [5.0])
    >>> state = model.initial_state(2, np.random.default_rng(0))
    >>> obs.predict(state).shape
    (2, 1)
    """

    def __init__(self, model: Model[Any], outputs: Sequence[str], noise_sd: Sequence[float]):
        names = list(model.outputs)
        unknown = [o for o in outputs if o not in names]
        if unknown:
            raise UnknownModelError(f"model {model.name!r} has no output(s) {unknown}: {names}")
        sd = np.asarray(noise_sd, dtype=np.float64)
        if sd.shape != (len(outputs),) or not np.all(np.isfinite(sd)) or np.any(sd <= 0):
            raise InvalidParameterError(
                f"give one positive noise_sd per output ({len(outputs)}), got {list(noise_sd)}"
            )
        self.model = model
        self.outputs = tuple(outputs)
        self.noise_sd = sd
        self._columns = [names.index(o) for o in outputs]

    def predict(self, state: Any) -> FloatArray:
        return np.asarray(self.model.observe(state)[:, self._columns])

    def log_likelihood(self, state: Any, y: FloatArray) -> FloatArray:
        y = np.asarray(y, dtype=np.float64)
        if y.shape != self.noise_sd.shape or not np.all(np.isfinite(y)):
            raise InvalidInputError(
                f"an observation is {len(self.outputs)} finite value(s) ({', '.join(self.outputs)})"
                f", got {y.tolist()}"
            )
        z = (y - self.predict(state)) / self.noise_sd
        return np.asarray(
            -0.5 * np.sum(z * z, axis=1) - np.sum(np.log(self.noise_sd * np.sqrt(2 * np.pi)))
        )
