"""Which parts of a twin's state a filter may change, as one flat vector per member.

A filter works on ``z``: the chosen continuous states, then the chosen parameters in log
space (so that they stay positive and their errors are relative). Everything else in the
state (discrete meal memories, fixed parameters) passes through untouched. Parameter bounds
are enforced on the way back by clipping in log space.

The state must carry ``x`` (n, d) and ``theta`` (n, p) fields, as every healthtwin
physiology state does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidParameterError, ShapeError, UnknownModelError

__all__ = ["StateView", "view_for"]


@dataclass(frozen=True)
class StateView:
    """Pack chosen states and log-parameters into ``z`` (n, k) and back.

    Parameters
    ----------
    state_columns
        Columns of ``state.x`` the filter updates.
    parameter_columns
        Columns of ``state.theta`` the filter estimates (in log space).
    lower, upper
        Bounds of each estimated parameter in natural units (``0 < lower < upper``).
    names
        Names of the components of ``z``, for reports.
    """

    state_columns: tuple[int, ...]
    parameter_columns: tuple[int, ...] = ()
    lower: tuple[float, ...] = ()
    upper: tuple[float, ...] = ()
    names: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        n_par = len(self.parameter_columns)
        if not self.state_columns and not n_par:
            raise InvalidParameterError("a state view needs at least one state or parameter")
        lower = self.lower or (1e-300,) * n_par
        upper = self.upper or (1e300,) * n_par
        if len(lower) != n_par or len(upper) != n_par:
            raise ShapeError("give one lower and one upper bound per estimated parameter")
        if any(not (0 < lo < hi) for lo, hi in zip(lower, upper, strict=True)):
            raise InvalidParameterError(f"need 0 < lower < upper, got {lower} and {upper}")
        object.__setattr__(self, "lower", tuple(lower))
        object.__setattr__(self, "upper", tuple(upper))

    @property
    def n_states(self) -> int:
        return len(self.state_columns)

    @property
    def n_parameters(self) -> int:
        return len(self.parameter_columns)

    @property
    def size(self) -> int:
        return self.n_states + self.n_parameters

    def pack(self, state: Any) -> FloatArray:
        """``z``: chosen states then log-parameters, shape ``(n, size)``."""
        x = np.asarray(state.x)[:, list(self.state_columns)]
        logp = np.log(np.asarray(state.theta)[:, list(self.parameter_columns)])
        return np.ascontiguousarray(np.concatenate([x, logp], axis=1), dtype=np.float64)

    def unpack(self, state: Any, z: FloatArray) -> Any:
        """A copy of ``state`` with ``z`` written back (parameters clipped to bounds)."""
        z = np.asarray(z, dtype=np.float64)
        if z.shape != (state.n_members, self.size):
            raise ShapeError(f"z must be ({state.n_members}, {self.size}), got {z.shape}")
        x = np.array(state.x)
        theta = np.array(state.theta)
        x[:, list(self.state_columns)] = z[:, : self.n_states]
        logp = np.clip(z[:, self.n_states :], np.log(self.lower), np.log(self.upper))
        theta[:, list(self.parameter_columns)] = np.exp(logp)
        return dataclasses.replace(state, x=x, theta=theta)


def view_for(
    model: Any,
    *,
    states: Sequence[str] | None = None,
    parameters: Mapping[str, tuple[float, float]] | None = None,
) -> StateView:
    """A view of ``model``'s states (by name; all when omitted) and bounded parameters.

    Parameters
    ----------
    model
        A model with ``states`` (name -> channel) and ``parameter_index(name)``.
    states
        State names to update; every state of the model when omitted.
    parameters
        Parameter name -> (lower, upper) bounds, estimated in log space.

    Examples
    --------
    >>> from healthtwin.physiology.registry import make_model
    >>> view = view_for(make_model("bergman-minimal"), parameters={"p3": (1e-6, 1e-3)})
    >>> view.size, view.names[-1]
    (5, 'log_p3')
    """
    all_states = list(model.states)
    chosen = all_states if states is None else list(states)
    unknown = [s for s in chosen if s not in all_states]
    if unknown:
        raise UnknownModelError(
            f"unknown state(s) {unknown} of {model.name}; valid states: {all_states}"
        )
    parameters = dict(parameters or {})
    if parameters and not hasattr(model, "parameter_index"):
        raise UnknownModelError(f"{model.name} does not expose parameters to estimate")
    columns = []
    for name in parameters:
        try:
            columns.append(int(model.parameter_index(name)))
        except (KeyError, ValueError) as err:
            raise UnknownModelError(
                f"unknown parameter {name!r} of {model.name}; see its Parameters class"
            ) from err
    return StateView(
        state_columns=tuple(all_states.index(s) for s in chosen),
        parameter_columns=tuple(columns),
        lower=tuple(lo for lo, _ in parameters.values()),
        upper=tuple(hi for _, hi in parameters.values()),
        names=(*chosen, *(f"log_{p}" for p in parameters)),
    )
