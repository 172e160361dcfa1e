"""Where a privacy ledger's spends and budget records persist.

A :class:`Spend` is one charged release as recorded; a :class:`BudgetRecord` a budget
fixed by a data custodian (:func:`fix_budget` records it once and refuses any other, so a
budget cannot be raised by asking again). Both serialise to one JSON object per line
(decimals as strings, so sums stay exact). Stores implement two small protocols,
:class:`LedgerStore` and :class:`BudgetStore`: :class:`MemoryLedgerStore` in memory and
:class:`JsonLinesLedgerStore` in an append-only JSON-lines file (budget lines carry
``"record": "budget"``; spends have no such key).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from healthtwin.errors import ConsentError, InvalidInputError
from healthtwin.governance.privacy_costs import ZERO, PrivacyBudget

__all__ = [
    "BudgetRecord",
    "BudgetStore",
    "JsonLinesLedgerStore",
    "LedgerStore",
    "MemoryLedgerStore",
    "Spend",
    "fix_budget",
    "total_epsilon",
]


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
    return sum((s.epsilon for s in spends), ZERO)
