"""The privacy budget ledger: epsilon and delta spent per dataset and per project.

Every differentially private release is *charged* before it is computed: the ledger checks
that the dataset's budget (over all projects) and the project's budget (over all its
datasets) both still cover the release, records the spend (query, mechanism, parameters,
cost) and only then lets the mechanism run. A release that would exceed either budget is
refused with :class:`~healthtwin.errors.ConsentError` and nothing is computed.

Two composition rules, chosen per ledger:

- ``BASIC``: sequential composition (Dwork & Roth, *The Algorithmic Foundations of
  Differential Privacy*, 2014, Theorem 3.16): epsilons add, deltas add. A pure release
  costs ``(epsilon, 0)``; a zCDP release of ``rho`` is converted at ``gaussian_delta`` by
  ``epsilon = rho + 2 sqrt(rho ln(1/delta))`` (Bun & Steinke, "Concentrated Differential
  Privacy", TCC 2016, Proposition 1.3).
- ``ZCDP``: zero-concentrated DP (Bun & Steinke 2016): rhos add (Lemma 2.3), a pure
  ``epsilon`` release counts as ``rho = epsilon**2 / 2`` (Proposition 1.4), and the total
  is converted to ``(epsilon, delta)`` with the budget's delta by Proposition 1.3. Much
  tighter than ``BASIC`` for many Gaussian releases.

Sums are exact: costs are kept as :class:`decimal.Decimal` of their shortest decimal form,
so ten releases at ``epsilon = 0.1`` spend exactly ``1.0``. Spends persist through a
:class:`LedgerStore`; :class:`JsonLinesLedgerStore` writes one JSON object per line, and
the database store can implement the same two methods later. Check and record happen
under one lock per ledger, so threads of one process cannot both take the last bit of
budget; processes sharing a file need the database store.

A budget can itself be recorded in the store as a custodian's decision
(:class:`BudgetRecord`, one ``"record": "budget"`` line of the JSON-lines file):
:func:`fix_budget` records it the first time and afterwards returns the recorded budget,
refusing any other, so that a budget cannot be raised by asking again.

The units of privacy loss (budgets, costs, composition, the zCDP conversion) live in
:mod:`~healthtwin.governance.privacy_costs`, the records and stores in
:mod:`~healthtwin.governance.ledger_stores`; every name is re-exported here.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from healthtwin.errors import ConsentError, InvalidInputError, InvalidParameterError
from healthtwin.governance.ledger_stores import (
    BudgetRecord,
    BudgetStore,
    JsonLinesLedgerStore,
    LedgerStore,
    MemoryLedgerStore,
    Spend,
    fix_budget,
    total_epsilon,
)
from healthtwin.governance.privacy_costs import (
    ZERO,
    Composition,
    PrivacyBudget,
    PrivacyCost,
    exact_decimal,
    max_rho,
    zcdp_to_epsilon,
)

__all__ = [
    "BudgetAccount",
    "BudgetRecord",
    "BudgetStore",
    "Composition",
    "JsonLinesLedgerStore",
    "LedgerStore",
    "MemoryLedgerStore",
    "PrivacyBudget",
    "PrivacyCost",
    "PrivacyLedger",
    "Spend",
    "Spent",
    "fix_budget",
    "total_epsilon",
    "zcdp_to_epsilon",
]


@dataclass(frozen=True)
class Spent:
    """Totals spent by one project or dataset, and its budget."""

    epsilon: Decimal
    delta: Decimal
    rho: Decimal
    budget: PrivacyBudget


class PrivacyLedger:
    """Budgets per project and per dataset, and the record of what was spent.

    Parameters
    ----------
    store : LedgerStore
        Where spends persist; existing spends are loaded and count against the budgets.
    project_budgets, dataset_budgets : mapping of str to PrivacyBudget
        The budget of each project and of each dataset. A release for a project or
        dataset without a budget is refused (default deny).
    composition : Composition
        ``BASIC`` (epsilons and deltas add) or ``ZCDP`` (rhos add).
    gaussian_delta : float or None
        Under ``BASIC``, the delta charged for each zCDP (Gaussian) release; without it
        such releases are refused.

    Examples
    --------
    >>> ledger = PrivacyLedger(MemoryLedgerStore(), project_budgets={"p": PrivacyBudget(1.0)},
    ...                        dataset_budgets={"d": PrivacyBudget(2.0)})
    >>> for _ in range(10):
    ...     _ = ledger.charge("p", "d", PrivacyCost(epsilon=0.1), query="count", mechanism="x")
    >>> ledger.spent(project="p").epsilon
    Decimal('1.0')
    >>> ledger.charge("p", "d", PrivacyCost(epsilon=0.1), query="count", mechanism="x")
    Traceback (most recent call last):
    ...
    healthtwin.errors.ConsentError: privacy budget of project 'p' exceeded: ...
    """

    def __init__(
        self,
        store: LedgerStore,
        *,
        project_budgets: Mapping[str, PrivacyBudget],
        dataset_budgets: Mapping[str, PrivacyBudget],
        composition: Composition = Composition.BASIC,
        gaussian_delta: float | None = None,
    ) -> None:
        self.composition = Composition(composition)
        self.store = store
        self._budgets = {
            **{("project", k): v for k, v in project_budgets.items()},
            **{("dataset", k): v for k, v in dataset_budgets.items()},
        }
        if gaussian_delta is not None and not 0 < gaussian_delta < 1:
            raise InvalidParameterError(f"gaussian_delta must be in (0, 1), got {gaussian_delta}")
        self.gaussian_delta = gaussian_delta
        if self.composition is Composition.ZCDP:
            zero = [f"{kind} {name!r}" for (kind, name), b in self._budgets.items() if not b.delta]
            if zero:
                raise InvalidParameterError(
                    f"zCDP composition needs a delta > 0 in every budget; {zero} have none. "
                    "Give e.g. PrivacyBudget(1.0, 1e-6), or use Composition.BASIC"
                )
        self._lock = threading.Lock()
        self._totals: dict[tuple[str, str], list[Decimal]] = {}
        self._count = 0
        for spend in store.load():
            self._add(spend)

    def _add(self, spend: Spend) -> None:
        for key in (("project", spend.project), ("dataset", spend.dataset)):
            total = self._totals.setdefault(key, [ZERO, ZERO, ZERO])
            total[0] += spend.epsilon
            total[1] += spend.delta
            total[2] += spend.rho
        self._count = max(self._count, spend.sequence)

    def _price(self, cost: PrivacyCost) -> tuple[Decimal, Decimal, Decimal]:
        if cost.epsilon > 0:
            epsilon = exact_decimal(cost.epsilon)
            return epsilon, ZERO, epsilon * epsilon / 2
        rho = exact_decimal(cost.rho)
        if self.composition is Composition.ZCDP:
            return ZERO, ZERO, rho
        if self.gaussian_delta is None:
            raise InvalidParameterError(
                f"a zCDP release (rho={cost.rho}) under BASIC composition needs the ledger's "
                "gaussian_delta; set it (e.g. 1e-8) or use Composition.ZCDP"
            )
        converted = zcdp_to_epsilon(cost.rho, self.gaussian_delta)
        return exact_decimal(converted), exact_decimal(self.gaussian_delta), rho

    def _refusal(self, key: tuple[str, str], price: tuple[Decimal, ...]) -> str | None:
        kind, name = key
        budget = self._budgets.get(key)
        if budget is None:
            return (
                f"no privacy budget for {kind} {name!r}; known {kind}s: "
                f"{sorted(n for k, n in self._budgets if k == kind)}. A data custodian must "
                "grant one"
            )
        epsilon, delta, rho = self._totals.get(key, [ZERO, ZERO, ZERO])
        if self.composition is Composition.ZCDP:
            limit = exact_decimal(max_rho(budget))
            if rho + price[2] > limit:
                return (
                    f"privacy budget of {kind} {name!r} exceeded: spent rho={rho} of {limit} "
                    f"(epsilon {budget.epsilon}, delta {budget.delta} in zCDP), remaining "
                    f"rho={max(limit - rho, ZERO)}, this release needs rho={price[2]}"
                )
            return None
        if epsilon + price[0] > exact_decimal(budget.epsilon) or delta + price[1] > exact_decimal(
            budget.delta
        ):
            return (
                f"privacy budget of {kind} {name!r} exceeded: spent epsilon={epsilon}, "
                f"delta={delta} of ({budget.epsilon}, {budget.delta}), this release needs "
                f"epsilon={price[0]}, delta={price[1]}"
            )
        return None

    def check(self, project: str, dataset: str, cost: PrivacyCost) -> None:
        """Raise :class:`ConsentError` if ``cost`` does not fit both budgets; record nothing."""
        with self._lock:
            self._check(project, dataset, self._price(cost))

    def _check(self, project: str, dataset: str, price: tuple[Decimal, ...]) -> None:
        for key in (("project", project), ("dataset", dataset)):
            refusal = self._refusal(key, price)
            if refusal is not None:
                raise ConsentError(
                    f"{refusal}; nothing was computed. Lower epsilon/rho, or ask the data "
                    "custodian for more budget"
                )

    def charge(
        self,
        project: str,
        dataset: str,
        cost: PrivacyCost,
        *,
        query: str,
        mechanism: str,
        parameters: Mapping[str, Any] | None = None,
    ) -> Spend:
        """Check both budgets and record the spend; call before computing the release.

        Raises
        ------
        ConsentError
            The project or dataset has no budget, or the release would exceed it.
        """
        for name, text in (("project", project), ("dataset", dataset), ("query", query)):
            if not isinstance(text, str) or not text.strip():
                raise InvalidInputError(f"{name} must be a non-empty string, got {text!r}")
        with self._lock:
            price = self._price(cost)
            self._check(project, dataset, price)
            spend = Spend(
                sequence=self._count + 1,
                time=dt.datetime.now(dt.UTC),
                project=project,
                dataset=dataset,
                query=query,
                mechanism=mechanism,
                parameters=dict(parameters or {}),
                epsilon=price[0],
                delta=price[1],
                rho=price[2],
            )
            self.store.append(spend)
            self._add(spend)
        return spend

    def spent(self, *, project: str | None = None, dataset: str | None = None) -> Spent:
        """Totals of one project or one dataset (give exactly one)."""
        if (project is None) == (dataset is None):
            raise InvalidParameterError("give exactly one of project= or dataset=")
        key = ("project", project) if project is not None else ("dataset", str(dataset))
        if key not in self._budgets:
            raise InvalidInputError(f"no privacy budget for {key[0]} {key[1]!r}")
        with self._lock:
            epsilon, delta, rho = self._totals.get(key, [ZERO, ZERO, ZERO])
        if self.composition is Composition.ZCDP and rho > 0:
            budget = self._budgets[key]
            epsilon = exact_decimal(zcdp_to_epsilon(float(rho), budget.delta))
            delta = exact_decimal(budget.delta)
        return Spent(epsilon, delta, rho, self._budgets[key])

    def spends(self) -> tuple[Spend, ...]:
        """Every recorded spend, oldest first."""
        return tuple(self.store.load())


@dataclass(frozen=True)
class BudgetAccount:
    """A ledger bound to one project, dataset and query text, passed to a DP release.

    Examples
    --------
    >>> ledger = PrivacyLedger(MemoryLedgerStore(), project_budgets={"p": PrivacyBudget(1.0)},
    ...                        dataset_budgets={"d": PrivacyBudget(1.0)})
    >>> account = BudgetAccount(ledger, "p", "d", "count of admissions")
    >>> account.charge(PrivacyCost(epsilon=0.25), "laplace", {"scale": 4.0}).epsilon
    Decimal('0.25')
    """

    ledger: PrivacyLedger
    project: str
    dataset: str
    query: str

    def charge(
        self, cost: PrivacyCost, mechanism: str, parameters: Mapping[str, Any] | None = None
    ) -> Spend:
        """Charge ``cost`` for this account's query (see :meth:`PrivacyLedger.charge`)."""
        return self.ledger.charge(
            self.project,
            self.dataset,
            cost,
            query=self.query,
            mechanism=mechanism,
            parameters=parameters,
        )
