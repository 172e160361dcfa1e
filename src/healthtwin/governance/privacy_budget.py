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
"""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from healthtwin.errors import ConsentError, InvalidInputError, InvalidParameterError

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

_ZERO = Decimal(0)


def _decimal(value: float) -> Decimal:
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


def _max_rho(budget: PrivacyBudget) -> float:
    log_inv = math.log(1 / budget.delta)
    return (math.sqrt(log_inv + budget.epsilon) - math.sqrt(log_inv)) ** 2


@dataclass(frozen=True)
class Spend:
    """One charged release, as recorded.

    ``epsilon`` and ``delta`` are what this release adds under the ledger's composition
    (``BASIC``) or its own pure epsilon (``ZCDP``, where ``rho`` is what adds).
    """

    sequence: int
    time: dt.datetime
    project: str
    dataset: str
    query: str
    mechanism: str
    parameters: Mapping[str, Any]
    epsilon: Decimal
    delta: Decimal
    rho: Decimal

    def to_json(self) -> str:
        """One line of JSON (decimals as strings, so they round-trip exactly)."""
        record = {
            "sequence": self.sequence,
            "time": self.time.isoformat(),
            "project": self.project,
            "dataset": self.dataset,
            "query": self.query,
            "mechanism": self.mechanism,
            "parameters": dict(self.parameters),
            "epsilon": str(self.epsilon),
            "delta": str(self.delta),
            "rho": str(self.rho),
        }
        return json.dumps(record, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> Spend:
        """Read a line written by :meth:`to_json`."""
        try:
            record = json.loads(line)
            return cls(
                sequence=int(record["sequence"]),
                time=dt.datetime.fromisoformat(record["time"]),
                project=record["project"],
                dataset=record["dataset"],
                query=record["query"],
                mechanism=record["mechanism"],
                parameters=record["parameters"],
                epsilon=Decimal(record["epsilon"]),
                delta=Decimal(record["delta"]),
                rho=Decimal(record["rho"]),
            )
        except (ValueError, KeyError, TypeError, ArithmeticError) as err:
            raise InvalidInputError(
                f"not a privacy ledger record: {line[:200]!r} ({err}); the ledger file must "
                "hold lines written by Spend.to_json"
            ) from err


_BUDGET_RECORD = "budget"


@dataclass(frozen=True)
class BudgetRecord:
    """A budget fixed by a data custodian for one dataset or project, as recorded.

    Examples
    --------
    >>> record = BudgetRecord(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "dataset", "d",
    ...                       PrivacyBudget(1.5, 1e-9), label="real.csv")
    >>> BudgetRecord.from_json(record.to_json()) == record
    True
    """

    time: dt.datetime
    kind: str
    name: str
    budget: PrivacyBudget
    label: str = ""

    def to_json(self) -> str:
        """One line of JSON, marked ``"record": "budget"`` (spends have no such key)."""
        record = {
            "record": _BUDGET_RECORD,
            "time": self.time.isoformat(),
            "kind": self.kind,
            "name": self.name,
            "label": self.label,
            "epsilon": repr(float(self.budget.epsilon)),
            "delta": repr(float(self.budget.delta)),
        }
        return json.dumps(record, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> BudgetRecord:
        """Read a line written by :meth:`to_json`."""
        try:
            record = json.loads(line)
            if record.get("record") != _BUDGET_RECORD:
                raise KeyError("record")
            return cls(
                time=dt.datetime.fromisoformat(record["time"]),
                kind=record["kind"],
                name=record["name"],
                budget=PrivacyBudget(float(record["epsilon"]), float(record["delta"])),
                label=record.get("label", ""),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise InvalidInputError(
                f"not a budget record: {line[:200]!r} ({err}); budget lines are written by "
                "BudgetRecord.to_json"
            ) from err


def _is_budget_line(line: str) -> bool:
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return isinstance(record, dict) and record.get("record") == _BUDGET_RECORD


class LedgerStore(Protocol):
    """Where spends persist: append one, read all back in order."""

    def append(self, spend: Spend) -> None:
        """Persist one spend (durably, before the release is computed)."""

    def load(self) -> Iterator[Spend]:
        """Every spend recorded so far, oldest first."""


class BudgetStore(Protocol):
    """Where recorded budgets persist (see :func:`fix_budget`)."""

    def append_budget(self, record: BudgetRecord) -> None:
        """Persist one budget record."""

    def budgets(self) -> tuple[BudgetRecord, ...]:
        """Every budget record so far, oldest first."""


@dataclass
class MemoryLedgerStore:
    """A ledger store in memory (tests, short sessions)."""

    spends: list[Spend] = field(default_factory=list)
    budget_records: list[BudgetRecord] = field(default_factory=list)

    def append(self, spend: Spend) -> None:
        """Keep the spend."""
        self.spends.append(spend)

    def load(self) -> Iterator[Spend]:
        """The kept spends."""
        return iter(list(self.spends))

    def append_budget(self, record: BudgetRecord) -> None:
        """Keep the budget record."""
        self.budget_records.append(record)

    def budgets(self) -> tuple[BudgetRecord, ...]:
        """The kept budget records."""
        return tuple(self.budget_records)


@dataclass(frozen=True)
class JsonLinesLedgerStore:
    """A ledger store in a JSON-lines file, appended and flushed to disk per spend."""

    path: Path

    def append(self, spend: Spend) -> None:
        """Append one line and flush it."""
        self._write(spend.to_json())

    def _write(self, line: str) -> None:
        with Path(self.path).open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()

    def _lines(self) -> list[str]:
        path = Path(self.path)
        if not path.exists():
            return []
        return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def load(self) -> Iterator[Spend]:
        """Read every spend line (budget records are skipped); a missing file is empty."""
        lines = self._lines()
        return iter([Spend.from_json(line) for line in lines if not _is_budget_line(line)])

    def append_budget(self, record: BudgetRecord) -> None:
        """Append one budget record and flush it."""
        self._write(record.to_json())

    def budgets(self) -> tuple[BudgetRecord, ...]:
        """Every budget record of the file, oldest first."""
        return tuple(
            BudgetRecord.from_json(line) for line in self._lines() if _is_budget_line(line)
        )


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
            total = self._totals.setdefault(key, [_ZERO, _ZERO, _ZERO])
            total[0] += spend.epsilon
            total[1] += spend.delta
            total[2] += spend.rho
        self._count = max(self._count, spend.sequence)

    def _price(self, cost: PrivacyCost) -> tuple[Decimal, Decimal, Decimal]:
        if cost.epsilon > 0:
            epsilon = _decimal(cost.epsilon)
            return epsilon, _ZERO, epsilon * epsilon / 2
        rho = _decimal(cost.rho)
        if self.composition is Composition.ZCDP:
            return _ZERO, _ZERO, rho
        if self.gaussian_delta is None:
            raise InvalidParameterError(
                f"a zCDP release (rho={cost.rho}) under BASIC composition needs the ledger's "
                "gaussian_delta; set it (e.g. 1e-8) or use Composition.ZCDP"
            )
        converted = zcdp_to_epsilon(cost.rho, self.gaussian_delta)
        return _decimal(converted), _decimal(self.gaussian_delta), rho

    def _refusal(self, key: tuple[str, str], price: tuple[Decimal, ...]) -> str | None:
        kind, name = key
        budget = self._budgets.get(key)
        if budget is None:
            return (
                f"no privacy budget for {kind} {name!r}; known {kind}s: "
                f"{sorted(n for k, n in self._budgets if k == kind)}. A data custodian must "
                "grant one"
            )
        epsilon, delta, rho = self._totals.get(key, [_ZERO, _ZERO, _ZERO])
        if self.composition is Composition.ZCDP:
            limit = _decimal(_max_rho(budget))
            if rho + price[2] > limit:
                return (
                    f"privacy budget of {kind} {name!r} exceeded: spent rho={rho} of {limit} "
                    f"(epsilon {budget.epsilon}, delta {budget.delta} in zCDP), remaining "
                    f"rho={max(limit - rho, _ZERO)}, this release needs rho={price[2]}"
                )
            return None
        if epsilon + price[0] > _decimal(budget.epsilon) or delta + price[1] > _decimal(
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
            epsilon, delta, rho = self._totals.get(key, [_ZERO, _ZERO, _ZERO])
        if self.composition is Composition.ZCDP and rho > 0:
            budget = self._budgets[key]
            epsilon = _decimal(zcdp_to_epsilon(float(rho), budget.delta))
            delta = _decimal(budget.delta)
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


def fix_budget(
    store: BudgetStore,
    kind: str,
    name: str,
    *,
    epsilon: float | None,
    delta: float | None,
    default: PrivacyBudget,
    label: str = "",
) -> PrivacyBudget:
    """The budget recorded for ``kind`` ``name``, recording it the first time.

    The first call records ``(epsilon, delta)`` (each ``None`` taken from ``default``) as
    the custodian's decision; later calls return the recorded budget, and refuse an
    ``epsilon`` or ``delta`` that differs from it, so a budget is never raised by asking
    again (``None`` accepts the recorded value).

    Raises
    ------
    ConsentError
        ``epsilon`` or ``delta`` differs from the recorded budget.

    Examples
    --------
    >>> store = MemoryLedgerStore()
    >>> fix_budget(store, "dataset", "d", epsilon=1.5, delta=None,
    ...            default=PrivacyBudget(1.0, 1e-9))
    PrivacyBudget(epsilon=1.5, delta=1e-09)
    >>> fix_budget(store, "dataset", "d", epsilon=None, delta=None,
    ...            default=PrivacyBudget(1.0, 1e-9))
    PrivacyBudget(epsilon=1.5, delta=1e-09)
    >>> fix_budget(store, "dataset", "d", epsilon=3.0, delta=None,
    ...            default=PrivacyBudget(1.0, 1e-9))
    Traceback (most recent call last):
    ...
    healthtwin.errors.ConsentError: the privacy budget of dataset 'd' was fixed at ...
    """
    recorded = [r for r in store.budgets() if r.kind == kind and r.name == name]
    if not recorded:
        budget = PrivacyBudget(
            default.epsilon if epsilon is None else epsilon,
            default.delta if delta is None else delta,
        )
        store.append_budget(BudgetRecord(dt.datetime.now(dt.UTC), kind, name, budget, label))
        return budget
    first = recorded[0]
    asked = (first.budget.epsilon if epsilon is None else epsilon,
             first.budget.delta if delta is None else delta)  # fmt: skip
    if asked != (first.budget.epsilon, first.budget.delta):
        shown = f" ({first.label})" if first.label else ""
        raise ConsentError(
            f"the privacy budget of {kind} {name!r}{shown} was fixed at epsilon "
            f"{first.budget.epsilon}, delta {first.budget.delta} on {first.time:%Y-%m-%d %H:%M} "
            f"UTC; got epsilon {asked[0]}, delta {asked[1]}. A recorded budget cannot be "
            "changed: omit the budget to spend within the recorded one"
        )
    return first.budget


def total_epsilon(spends: Iterable[Spend]) -> Decimal:
    """The exact sum of the epsilons of ``spends`` (for audits of a ledger file)."""
    return sum((s.epsilon for s in spends), _ZERO)
