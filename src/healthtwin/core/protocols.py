"""The protocols every scale implements: a model, how it is observed, how data corrects it.

A model advances an ensemble state over ``[t0, t1]`` in its declared time unit, given
inputs and a random generator; an observation model maps state to what a sensor or a
record would show; an assimilator corrects the state with an observation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from healthtwin.core.inputs import Inputs
from healthtwin.core.state import ArrayState
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidParameterError

__all__ = ["Assimilator", "Channel", "Model", "ObservationModel", "S", "channels", "output_column"]

S = TypeVar("S", bound=ArrayState)
S_contra = TypeVar("S_contra", bound=ArrayState, contravariant=True)


@dataclass(frozen=True)
class Channel:
    """A named quantity with its unit and a one-line meaning."""

    name: str
    unit: str
    description: str = ""


def channels(items: Iterable[tuple[str, str, str]]) -> Mapping[str, Channel]:
    """A read-only name -> :class:`Channel` table from ``(name, unit, description)``.

    Examples
    --------
    >>> channels([("glucose_mg_dl", "mg/dL", "plasma glucose")])["glucose_mg_dl"].unit
    'mg/dL'
    """
    return MappingProxyType({name: Channel(name, unit, text) for name, unit, text in items})


@runtime_checkable
class Model(Protocol[S]):
    """Dynamics of one scale.

    Attributes
    ----------
    name
        Registry name (``"uva-padova"``).
    time_unit
        Unit of ``t`` (``"min"``, ``"h"``, ``"day"``).
    rate_inputs, event_inputs
        Input channels the model accepts, by name.
    outputs
        Output channels of :meth:`outputs`, in column order.
    states
        State variables of the continuous state, in column order.
    """

    name: str
    time_unit: str
    rate_inputs: Mapping[str, Channel]
    event_inputs: Mapping[str, Channel]
    outputs: Mapping[str, Channel]
    states: Mapping[str, Channel]

    def initial_state(self, n: int, rng: np.random.Generator) -> S:
        """A state of ``n`` members at the model's reference point."""
        ...

    def advance(
        self, state: S, t0: float, t1: float, inputs: Inputs, rng: np.random.Generator
    ) -> S:
        """The state at ``t1`` from the state at ``t0``; the input state is not changed."""
        ...

    def observe(self, state: S) -> FloatArray:
        """Output channels per member, shape ``(n, len(outputs))``."""
        ...

    def state_matrix(self, state: S) -> FloatArray:
        """Continuous state variables per member, shape ``(n, len(states))``."""
        ...


@runtime_checkable
class ObservationModel(Protocol[S_contra]):
    """What an observation of a state would be, and how likely an actual one is."""

    def predict(self, state: S_contra) -> FloatArray:
        """Expected observation per member, shape ``(n, n_obs)``."""
        ...

    def log_likelihood(self, state: S_contra, y: FloatArray) -> FloatArray:
        """Log density of observation ``y`` (shape ``(n_obs,)``) per member, shape ``(n,)``."""
        ...


@runtime_checkable
class Assimilator(Protocol[S]):
    """Corrects an ensemble state with an observation (EnKF, particle filter, ...)."""

    def update(
        self,
        state: S,
        y: FloatArray,
        obs: ObservationModel[S],
        rng: np.random.Generator,
    ) -> S:
        """The analysis state given observation ``y``."""
        ...


def output_column(model: Model[Any], name: str) -> int:
    """Column of output ``name`` in ``model.observe(state)``; unknown names list the valid ones."""
    names = list(model.outputs)
    if name not in names:
        raise InvalidParameterError(f"model {model.name!r} has no output {name!r}; it has {names}")
    return names.index(name)
