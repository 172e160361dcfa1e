"""The shared machinery of ODE models integrated segment by segment with held inputs.

A model subclasses :class:`HeldOdeModel` and supplies its right-hand side, its stability
limit and how often that limit is refreshed; the base keeps the solver options, rebuilds
the model with other options, and integrates one held-input segment with
:func:`~healthtwin.core.solvers.integrate_held`. Steps are named in the model's time unit
(``step_min``, ``step_h``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Self

from healthtwin.core.solvers import SolverOptions, integrate_held
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidParameterError

__all__ = ["HeldOdeModel"]


class HeldOdeModel(ABC):
    """Abstract base: options, ``with_options`` and segment integration.

    Subclasses define ``name``, ``time_unit``, ``limit_refresh`` (time between refreshes
    of the RK4 stability limit), ``rhs`` (a static ``(x, u, theta) -> dx/dt``) and
    :meth:`stability_limit`, and call
    :meth:`_configure` from their constructor, whose first argument is the parameters
    and whose keywords are ``step_<time_unit>``, ``method``, ``rtol`` and ``atol``.
    """

    name: str
    time_unit: str
    limit_refresh: float
    rhs: Callable[[FloatArray, FloatArray, FloatArray], FloatArray]
    params: Any
    options: SolverOptions

    def _configure(self, params: Any, step: float, method: str, rtol: float, atol: float) -> None:
        self.options = SolverOptions(
            step=step, method=method, rtol=rtol, atol=atol, step_name=self._step_name
        )
        self.params = params

    @property
    def _step_name(self) -> str:
        return f"step_{self.time_unit}"

    @property
    def method(self) -> str:
        return self.options.method

    @property
    def rtol(self) -> float:
        return self.options.rtol

    @property
    def atol(self) -> float:
        return self.options.atol

    @abstractmethod
    def stability_limit(self, theta: FloatArray, x: FloatArray | None = None) -> float:
        """Largest stable RK4 step over the members at state ``x``."""

    def _integrate(
        self, x: FloatArray, u: FloatArray, theta: FloatArray, duration: float
    ) -> FloatArray:
        def f(xx: FloatArray) -> FloatArray:
            return self.rhs(xx, u, theta)

        # The stiffness moves with the state, so the limit is refreshed along the way.
        return integrate_held(
            f,
            x,
            duration,
            self.options,
            lambda xx: self.stability_limit(theta, xx),
            refresh=self.limit_refresh,
            where=self.name,
        )

    def with_options(self, **changes: Any) -> Self:
        """A copy with other solver options (``step_<unit>``, ``method``, ``rtol``, ``atol``)."""
        current = {
            self._step_name: self.options.step,
            "method": self.method,
            "rtol": self.rtol,
            "atol": self.atol,
        }
        unknown = sorted(set(changes) - set(current))
        if unknown:
            raise InvalidParameterError(
                f"unknown option(s) {unknown} for {self.name}; valid: {sorted(current)}"
            )
        factory: Any = type(self)  # subclasses take (params, **options)
        result: Self = factory(self.params, **{**current, **changes})
        return result

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.params.n_members} parameter set(s), "
            f"{self._step_name}={self.options.step}, method={self.method!r})"
        )
