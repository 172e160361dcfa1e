"""Units of privacy loss: budgets, costs and how they compose.

A release costs either pure ``epsilon``-DP or ``rho``-zCDP (:class:`PrivacyCost`); a
dataset or project may spend a total ``(epsilon, delta)`` (:class:`PrivacyBudget`). Costs
combine by one of two rules (:class:`Composition`): ``BASIC`` sequential composition
(Dwork & Roth 2014, Theorem 3.16: epsilons and deltas add) or ``ZCDP`` (Bun & Steinke,
"Concentrated Differential Privacy", TCC 2016: rhos add, Lemma 2.3; a pure ``epsilon``
counts as ``rho = epsilon**2 / 2``, Proposition 1.4). :func:`zcdp_to_epsilon` converts
``rho`` to ``(epsilon, delta)`` (Proposition 1.3) and :func:`max_rho` inverts it: the
largest ``rho`` a budget allows. The ledger itself is
:class:`~healthtwin.governance.privacy_budget.PrivacyLedger`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from healthtwin.errors import InvalidParameterError

__all__ = [
    "ZERO",
    "Composition",
    "PrivacyBudget",
    "PrivacyCost",
    "exact_decimal",
    "max_rho",
    "zcdp_to_epsilon",
]

#: Exact zero of the ledger's sums.
ZERO = Decimal(0)


def exact_decimal(value: float) -> Decimal:
    """``value`` as the Decimal of its shortest repr, so that ten 0.1s sum to exactly 1.0.

    Examples
    --------
    >>> sum([exact_decimal(0.1)] * 10)
    Decimal('1.0')
    """
    return Decimal(repr(float(value)))


def _positive(name: str, value: float, *, allow_zero: bool = False) -> None:
    ok = math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise InvalidParameterError(f"{name} must be finite and {bound}, got {value!r}")


class Composition(StrEnum):
    """How the costs of several releases combine."""

    BASIC = "basic"
    ZCDP = "zcdp"


@dataclass(frozen=True)
class PrivacyBudget:
    """A total (epsilon, delta) a dataset or project may spend.

    Examples
    --------
    >>> PrivacyBudget(1.0, 1e-6).epsilon
    1.0
    """

    epsilon: float
    delta: float = 0.0

    def __post_init__(self) -> None:
        _positive("budget epsilon", self.epsilon)
        _positive("budget delta", self.delta, allow_zero=True)
        if self.delta >= 1:
            raise InvalidParameterError(f"budget delta must be < 1, got {self.delta!r}")


@dataclass(frozen=True)
class PrivacyCost:
    """The privacy loss of one release: pure ``epsilon``-DP or ``rho``-zCDP (one of them).

    Examples
    --------
    >>> PrivacyCost(epsilon=0.5).as_rho()
    0.125
    """

    epsilon: float = 0.0
    rho: float = 0.0

    def __post_init__(self) -> None:
        _positive("cost epsilon", self.epsilon, allow_zero=True)
        _positive("cost rho", self.rho, allow_zero=True)
        if (self.epsilon > 0) == (self.rho > 0):
            raise InvalidParameterError(
                f"a privacy cost is either pure epsilon or rho-zCDP, got epsilon="
                f"{self.epsilon!r}, rho={self.rho!r}; give exactly one of them > 0"
            )

    def as_rho(self) -> float:
        """The cost in zCDP: ``rho``, or ``epsilon**2 / 2`` for a pure release."""
        return self.rho if self.rho > 0 else self.epsilon**2 / 2


def zcdp_to_epsilon(rho: float, delta: float) -> float:
    """Epsilon of ``(epsilon, delta)``-DP implied by ``rho``-zCDP (Bun & Steinke, Prop. 1.3).

    Examples
    --------
    >>> round(zcdp_to_epsilon(0.01, 1e-6), 4)
    0.7534
    """
    if rho == 0:
        return 0.0
    if not 0 < delta < 1:
        raise InvalidParameterError(
            f"converting zCDP to (epsilon, delta) needs 0 < delta < 1, got {delta!r}"
        )
    return rho + 2 * math.sqrt(rho * math.log(1 / delta))


def max_rho(budget: PrivacyBudget) -> float:
    """The largest zCDP ``rho`` whose Proposition 1.3 epsilon at ``budget.delta`` fits.

    Examples
    --------
    >>> b = PrivacyBudget(1.0, 1e-6)
    >>> round(zcdp_to_epsilon(max_rho(b), b.delta), 12)
    1.0
    """
    log_inv = math.log(1 / budget.delta)
    return (math.sqrt(log_inv + budget.epsilon) - math.sqrt(log_inv)) ** 2
