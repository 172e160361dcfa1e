"""Ensembles with uncertain parameters: spread members' parameters around a subject's.

Models whose states carry a ``theta`` matrix (parameters per member) get their parameter
uncertainty by perturbing it; forecasts then show that uncertainty as ensemble spread.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Protocol, TypeVar

import numpy as np

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidParameterError, ShapeError

__all__ = ["HasTheta", "lognormal_spread"]


class HasTheta(Protocol):
    """A state whose members carry their parameters as ``theta`` (n, n_parameters)."""

    @property
    def theta(self) -> FloatArray: ...


T = TypeVar("T", bound=HasTheta)


def lognormal_spread(state: T, cv_by_column: Mapping[int, float], rng: np.random.Generator) -> T:
    """Multiply parameter columns by independent log-normal factors with mean 1.

    Parameters
    ----------
    state
        A state with a ``theta`` field (a frozen dataclass).
    cv_by_column
        Coefficient of variation (> 0) for each parameter column to perturb.
    rng
        Source of the factors.

    Returns
    -------
    A new state; the other fields are unchanged.

    Examples
    --------
    >>> from healthtwin.physiology import UvaPadova, load_patient
    >>> model = UvaPadova([load_patient("nominal-adult")])
    >>> state = model.initial_state(2000, np.random.default_rng(0))
    >>> spread = lognormal_spread(state, {UvaPadova.parameter_index("Vmx"): 0.3},
    ...                           np.random.default_rng(1))
    >>> ratio = spread.theta[:, UvaPadova.parameter_index("Vmx")] / state.theta[0, 19]
    >>> round(float(ratio.mean()), 1), round(float(ratio.std() / ratio.mean()), 1)
    (1.0, 0.3)
    """
    theta = np.array(state.theta, dtype=np.float64)
    if theta.ndim != 2:
        raise ShapeError(f"theta must be (n, n_parameters), got {theta.shape}")
    for col, cv in cv_by_column.items():
        if not 0 <= col < theta.shape[1]:
            raise InvalidParameterError(
                f"parameter column {col} is outside 0..{theta.shape[1] - 1}"
            )
        if not cv > 0:
            raise InvalidParameterError(f"coefficient of variation must be > 0, got {cv}")
        sigma2 = np.log1p(cv**2)
        theta[:, col] *= rng.lognormal(-0.5 * sigma2, np.sqrt(sigma2), theta.shape[0])
    replaced: Any = dataclasses.replace(state, theta=theta)  # type: ignore[type-var]
    return replaced  # type: ignore[no-any-return]
