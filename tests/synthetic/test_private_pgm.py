"""MST through private-pgm: the privacy accounting, the ledger, binning, tree selection."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from tests.conftest import require

from healthtwin.errors import ConsentError, InvalidParameterError
from healthtwin.governance.privacy_budget import (
    BudgetAccount,
    Composition,
    MemoryLedgerStore,
    PrivacyBudget,
    PrivacyLedger,
    zcdp_to_epsilon,
)
from healthtwin.synthetic import MST, ColumnKind, ColumnSpec, TableSchema, rho_from_epsilon
from healthtwin.synthetic.private_pgm import bin_edges, import_mbi


@pytest.fixture(scope="module", autouse=True)
def _mbi() -> None:
    require("jax", "synth")
    import_mbi()


def _table(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 4, n)
    return pd.DataFrame(
        {
            "a": a,
            "b": (a + rng.integers(0, 2, n)) % 4,
            "noise": rng.integers(0, 4, n),
            "sex": rng.choice(["F", "M"], n),
        }
    )


@pytest.mark.parametrize(("epsilon", "delta"), [(0.1, 1e-9), (1.0, 1e-6), (10.0, 1e-12)])
def test_rho_converts_back_to_at_most_the_epsilon_asked(epsilon: float, delta: float) -> None:
    rho = rho_from_epsilon(epsilon, delta)
    assert zcdp_to_epsilon(rho, delta) <= epsilon
    assert zcdp_to_epsilon(rho, delta) == pytest.approx(epsilon, rel=1e-12)


@pytest.mark.parametrize(("epsilon", "delta"), [(0.0, 1e-9), (-1.0, 1e-9), (1.0, 0.0), (1.0, 1.0)])
def test_bad_privacy_parameters_are_refused(epsilon: float, delta: float) -> None:
    with pytest.raises(InvalidParameterError):
        MST(epsilon=epsilon, delta=delta)


def test_the_ledger_is_charged_rho_before_measuring_and_refuses_overspend() -> None:
    ledger = PrivacyLedger(
        MemoryLedgerStore(),
        project_budgets={"p": PrivacyBudget(1.5, 1e-6)},
        dataset_budgets={"d": PrivacyBudget(1.5, 1e-6)},
        gaussian_delta=1e-9,
    )
    account = BudgetAccount(ledger, "p", "d", "synthetic table")
    fitted = MST(epsilon=1.0, account=account, iters=50).fit(_table(), rng=np.random.default_rng(0))
    (spend,) = ledger.spends()
    assert float(spend.epsilon) == pytest.approx(1.0)
    assert float(spend.rho) == pytest.approx(rho_from_epsilon(1.0, 1e-9))
    assert fitted.privacy()["ledger_sequence"] == spend.sequence
    with pytest.raises(ConsentError, match="exceeded"):
        MST(epsilon=1.0, account=account, iters=50).fit(_table(), rng=np.random.default_rng(0))
    assert len(ledger.spends()) == 1


def test_zcdp_ledgers_add_rho() -> None:
    ledger = PrivacyLedger(
        MemoryLedgerStore(),
        project_budgets={"p": PrivacyBudget(4.0, 1e-6)},
        dataset_budgets={"d": PrivacyBudget(4.0, 1e-6)},
        composition=Composition.ZCDP,
    )
    account = BudgetAccount(ledger, "p", "d", "synthetic table")
    for _ in range(2):
        MST(epsilon=1.0, account=account, iters=50).fit(_table(), rng=np.random.default_rng(0))
    assert float(ledger.spent(project="p").rho) == pytest.approx(2 * rho_from_epsilon(1.0, 1e-9))


def test_privacy_statement_says_what_was_public() -> None:
    inferred = MST(epsilon=1.0, iters=50).fit(_table(), rng=np.random.default_rng(0))
    assert "INFERRED FROM THE DATA" in inferred.privacy()["public"]
    schema = TableSchema.infer(_table())
    public = MST(epsilon=1.0, schema=schema, iters=50).fit(_table(), rng=np.random.default_rng(0))
    statement = public.privacy()
    assert "INFERRED" not in statement["public"]
    assert statement["neighbouring"].startswith("add/remove one row")
    assert statement["epsilon"] == 1.0
    assert statement["delta"] == 1e-9


def test_high_epsilon_selects_the_dependent_pair_and_keeps_it() -> None:
    fitted = MST(epsilon=1000.0, iters=300).fit(_table(), rng=np.random.default_rng(1))
    assert (0, 1) in fitted.cliques or (1, 0) in fitted.cliques
    synthetic = fitted.sample(4000, np.random.default_rng(2))
    assert ((synthetic.b - synthetic.a) % 4 <= 1).mean() > 0.95
    # The noise column is independent of both in the real data and in the synthetic one.
    assert abs(np.corrcoef(synthetic.a, synthetic.noise)[0, 1]) < 0.1


def test_public_bins_ignore_the_data_and_one_column_tables_work() -> None:
    spec = ColumnSpec("x", ColumnKind.CONTINUOUS, lower=0.0, upper=100.0)
    assert bin_edges(spec, 4).tolist() == [0.0, 25.0, 50.0, 75.0, 100.0]
    wide = ColumnSpec("n", ColumnKind.INTEGER, lower=0, upper=1000)
    assert bin_edges(wide, 10).size == 11
    one = MST(epsilon=5.0, iters=50).fit(_table()[["sex"]], rng=np.random.default_rng(0))
    assert one.cliques == ((0,),)
    assert set(one.sample(100, np.random.default_rng(0))["sex"].astype(str)) <= {"F", "M"}
    assert math.isfinite(one.privacy()["rho"])
