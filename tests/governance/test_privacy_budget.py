"""The privacy budget ledger: exact sums, two budgets per release, refusals, persistence."""

from __future__ import annotations

import threading
from decimal import Decimal
from pathlib import Path

import pytest
from tests.conftest import require

from healthtwin.errors import ConsentError, InvalidInputError, InvalidParameterError
from healthtwin.governance.privacy_budget import (
    Composition,
    JsonLinesLedgerStore,
    MemoryLedgerStore,
    PrivacyBudget,
    PrivacyCost,
    PrivacyLedger,
    Spend,
    total_epsilon,
    zcdp_to_epsilon,
)


def _ledger(store: MemoryLedgerStore | JsonLinesLedgerStore | None = None) -> PrivacyLedger:
    return PrivacyLedger(
        store or MemoryLedgerStore(),
        project_budgets={"p1": PrivacyBudget(1.0), "p2": PrivacyBudget(1.0)},
        dataset_budgets={"d": PrivacyBudget(1.5), "e": PrivacyBudget(5.0)},
    )


def _charge(ledger: PrivacyLedger, project: str, dataset: str, epsilon: float) -> Spend:
    return ledger.charge(
        project, dataset, PrivacyCost(epsilon=epsilon), query="q", mechanism="laplace"
    )


def test_spends_add_up_exactly_to_the_budget() -> None:
    ledger = _ledger()
    for _ in range(10):
        _charge(ledger, "p1", "e", 0.1)
    assert ledger.spent(project="p1").epsilon == Decimal("1.0")
    assert total_epsilon(ledger.spends()) == Decimal("1.0")
    with pytest.raises(ConsentError, match=r"project 'p1' exceeded.*epsilon=1\.0"):
        _charge(ledger, "p1", "e", 1e-12)
    assert len(ledger.spends()) == 10
    assert [s.sequence for s in ledger.spends()] == list(range(1, 11))


def test_a_release_must_fit_both_the_dataset_and_the_project_budget() -> None:
    ledger = _ledger()
    _charge(ledger, "p1", "d", 1.0)
    _charge(ledger, "p2", "d", 0.5)
    with pytest.raises(ConsentError, match="dataset 'd' exceeded"):
        _charge(ledger, "p2", "d", 0.1)
    _charge(ledger, "p2", "e", 0.5)
    assert ledger.spent(dataset="d").epsilon == Decimal("1.5")
    assert ledger.spent(project="p2").epsilon == Decimal("1.0")


def test_projects_and_datasets_without_a_budget_are_refused() -> None:
    ledger = _ledger()
    with pytest.raises(ConsentError, match=r"no privacy budget for project 'p9'.*'p1', 'p2'"):
        _charge(ledger, "p9", "d", 0.1)
    with pytest.raises(ConsentError, match="no privacy budget for dataset 'x'"):
        ledger.check("p1", "x", PrivacyCost(epsilon=0.1))
    assert ledger.spends() == ()


def test_the_json_lines_ledger_survives_a_restart(tmp_path: Path) -> None:
    store = JsonLinesLedgerStore(tmp_path / "ledger.jsonl")
    first = _ledger(store)
    spend = first.charge(
        "p1",
        "d",
        PrivacyCost(epsilon=0.7),
        query="mean age",
        mechanism="laplace",
        parameters={"bounds": [0, 120], "scale": 171.4},
    )
    second = _ledger(JsonLinesLedgerStore(tmp_path / "ledger.jsonl"))
    assert second.spends() == (spend,)
    assert second.spent(project="p1").epsilon == Decimal("0.7")
    with pytest.raises(ConsentError):
        _charge(second, "p1", "d", 0.31)
    assert (
        second.charge("p1", "d", PrivacyCost(epsilon=0.3), query="q", mechanism="m").sequence == 2
    )
    lines = (tmp_path / "ledger.jsonl").read_text().splitlines()
    assert len(lines) == 2
    assert '"query":"mean age"' in lines[0]


def test_a_corrupt_ledger_line_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    path.write_text('{"sequence": 1}\n')
    with pytest.raises(InvalidInputError, match="not a privacy ledger record"):
        _ledger(JsonLinesLedgerStore(path))


def test_zcdp_composition_adds_rho_and_converts_with_the_budget_delta() -> None:
    ledger = PrivacyLedger(
        MemoryLedgerStore(),
        project_budgets={"p": PrivacyBudget(1.0, 1e-6)},
        dataset_budgets={"d": PrivacyBudget(1.0, 1e-6)},
        composition=Composition.ZCDP,
    )
    for _ in range(4):
        ledger.charge("p", "d", PrivacyCost(rho=0.002), query="q", mechanism="gaussian")
    ledger.charge("p", "d", PrivacyCost(epsilon=0.1), query="q", mechanism="laplace")
    spent = ledger.spent(project="p")
    assert spent.rho == Decimal("0.008") + Decimal("0.005")
    assert float(spent.epsilon) == pytest.approx(zcdp_to_epsilon(0.013, 1e-6))
    # Basic composition of the same five releases would have spent far more.
    assert float(spent.epsilon) < 4 * zcdp_to_epsilon(0.002, 1e-6) + 0.1
    with pytest.raises(ConsentError, match="rho"):
        ledger.charge("p", "d", PrivacyCost(rho=0.01), query="q", mechanism="gaussian")


def test_the_zcdp_conversion_is_never_tighter_than_opendps() -> None:
    dp = require("opendp.prelude", "privacy")
    dp.enable_features("contrib")
    space = dp.vector_domain(dp.atom_domain(T=int)), dp.symmetric_distance()
    for rho in (0.001, 0.05, 0.5):
        gaussian = dp.t.make_count(*space) >> dp.m.then_gaussian(1 / (2 * rho) ** 0.5)
        assert float(gaussian.map(1)) == pytest.approx(rho)
        profile = dp.c.make_zCDP_to_approxDP(gaussian).map(1)
        assert zcdp_to_epsilon(rho, 1e-6) >= profile.epsilon(1e-6)


def test_gaussian_releases_under_basic_composition_need_a_delta() -> None:
    ledger = _ledger()
    with pytest.raises(InvalidParameterError, match="gaussian_delta"):
        ledger.charge("p1", "e", PrivacyCost(rho=0.01), query="q", mechanism="gaussian")
    with_delta = PrivacyLedger(
        MemoryLedgerStore(),
        project_budgets={"p": PrivacyBudget(10.0, 1e-6)},
        dataset_budgets={"d": PrivacyBudget(10.0, 1e-6)},
        gaussian_delta=4e-7,
    )
    spend = with_delta.charge("p", "d", PrivacyCost(rho=0.01), query="q", mechanism="g")
    assert float(spend.epsilon) == pytest.approx(zcdp_to_epsilon(0.01, 4e-7))
    assert spend.delta == Decimal("4e-07")
    with_delta.charge("p", "d", PrivacyCost(rho=0.001), query="q", mechanism="g")
    with pytest.raises(ConsentError, match="delta"):
        with_delta.charge("p", "d", PrivacyCost(rho=0.0001), query="q", mechanism="g")


def test_concurrent_charges_never_overspend() -> None:
    ledger = _ledger()
    refused: list[ConsentError] = []

    def spend() -> None:
        for _ in range(10):
            try:
                _charge(ledger, "p1", "e", 0.05)
            except ConsentError as err:
                refused.append(err)

    threads = [threading.Thread(target=spend) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ledger.spent(project="p1").epsilon == Decimal("1.0")
    assert len(refused) == 20


def test_invalid_budgets_and_costs_are_refused() -> None:
    with pytest.raises(InvalidParameterError, match="budget epsilon"):
        PrivacyBudget(0.0)
    with pytest.raises(InvalidParameterError, match="exactly one"):
        PrivacyCost(epsilon=0.1, rho=0.1)
    with pytest.raises(InvalidParameterError, match="delta > 0"):
        PrivacyLedger(
            MemoryLedgerStore(),
            project_budgets={"p": PrivacyBudget(1.0)},
            dataset_budgets={},
            composition=Composition.ZCDP,
        )
    with pytest.raises(InvalidInputError, match="query"):
        _ledger().charge("p1", "d", PrivacyCost(epsilon=0.1), query=" ", mechanism="m")
