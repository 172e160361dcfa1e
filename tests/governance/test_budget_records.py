"""Recorded budgets: a custodian's budget is written to the ledger once and never raised."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from healthtwin.errors import ConsentError, InvalidInputError, InvalidParameterError
from healthtwin.governance.privacy_budget import (
    BudgetRecord,
    Composition,
    JsonLinesLedgerStore,
    MemoryLedgerStore,
    PrivacyBudget,
    PrivacyCost,
    PrivacyLedger,
    fix_budget,
)

DEFAULT = PrivacyBudget(1.0, 1e-9)


@pytest.mark.parametrize("store_kind", ["memory", "file"])
def test_the_first_budget_is_recorded_and_later_ones_must_match(
    store_kind: str, tmp_path: Path
) -> None:
    store = MemoryLedgerStore() if store_kind == "memory" else JsonLinesLedgerStore(tmp_path / "l")
    first = fix_budget(store, "dataset", "d", epsilon=2.0, delta=None, default=DEFAULT, label="x")
    assert first == PrivacyBudget(2.0, 1e-9)
    # None takes the recorded value; the same values are accepted; another data set is apart.
    assert fix_budget(store, "dataset", "d", epsilon=None, delta=None, default=DEFAULT) == first
    assert fix_budget(store, "dataset", "d", epsilon=2.0, delta=1e-9, default=DEFAULT) == first
    assert fix_budget(store, "dataset", "e", epsilon=None, delta=None, default=DEFAULT) == DEFAULT
    with pytest.raises(ConsentError, match=r"'d' \(x\) was fixed at epsilon 2\.0.*got epsilon 5"):
        fix_budget(store, "dataset", "d", epsilon=5.0, delta=None, default=DEFAULT)
    with pytest.raises(ConsentError, match=r"got epsilon 2\.0, delta 1e-06"):
        fix_budget(store, "dataset", "d", epsilon=None, delta=1e-6, default=DEFAULT)
    assert [(r.name, r.budget.epsilon) for r in store.budgets()] == [("d", 2.0), ("e", 1.0)]


def test_an_invalid_budget_is_refused_and_not_recorded() -> None:
    store = MemoryLedgerStore()
    with pytest.raises(InvalidParameterError, match="budget epsilon"):
        fix_budget(store, "dataset", "d", epsilon=-1.0, delta=None, default=DEFAULT)
    assert store.budgets() == ()


def test_budget_lines_share_the_file_with_spends_and_are_skipped_by_load(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    store = JsonLinesLedgerStore(path)
    budget = fix_budget(store, "dataset", "d", epsilon=1.5, delta=None, default=DEFAULT)
    ledger = PrivacyLedger(store, project_budgets={"p": budget}, dataset_budgets={"d": budget},
                           composition=Composition.ZCDP)  # fmt: skip
    ledger.charge("p", "d", PrivacyCost(rho=0.01), query="q", mechanism="m")
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [x.get("record") for x in lines] == ["budget", None]
    # A new ledger over the same file sees the spend (not the budget line) and the budget.
    again = PrivacyLedger(store, project_budgets={"p": budget}, dataset_budgets={"d": budget},
                          composition=Composition.ZCDP)  # fmt: skip
    assert float(again.spent(dataset="d").rho) == pytest.approx(0.01)
    assert len(again.spends()) == 1
    assert store.budgets()[0].budget == PrivacyBudget(1.5, 1e-9)
    with pytest.raises(ConsentError, match=r"remaining rho=0\.0162.*needs rho=0\.02"):
        again.charge("p", "d", PrivacyCost(rho=0.02), query="q", mechanism="m")


def test_budget_records_round_trip_and_bad_lines_are_named() -> None:
    record = BudgetRecord(dt.datetime(2026, 3, 1, tzinfo=dt.UTC), "project", "p",
                          PrivacyBudget(0.1 + 0.2, 1e-7))  # fmt: skip
    back = BudgetRecord.from_json(record.to_json())
    assert back == record
    assert back.budget.epsilon == 0.1 + 0.2  # exact float, not rounded
    with pytest.raises(InvalidInputError, match="not a budget record"):
        BudgetRecord.from_json('{"record": "budget", "kind": "dataset"}')
    with pytest.raises(InvalidInputError, match="not a budget record"):
        BudgetRecord.from_json('{"sequence": 1}')
