"""AIM's spend recomputed from its trace alone, against the budget and the ledger's charge."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from tests.conftest import require

from healthtwin.governance.privacy_budget import (
    BudgetAccount,
    Composition,
    MemoryLedgerStore,
    PrivacyBudget,
    PrivacyLedger,
)
from healthtwin.synthetic import AIM


def _table(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 4, n)
    b = (a + rng.integers(0, 2, n)) % 4
    return pd.DataFrame({"a": a, "b": b, "c": (b + rng.integers(0, 2, n)) % 4})


def test_the_trace_spends_exactly_the_charged_rho_and_never_more() -> None:
    require("jax", "synth")
    budget = PrivacyBudget(2.0, 1e-9)
    ledger = PrivacyLedger(MemoryLedgerStore(), project_budgets={"p": budget},
                           dataset_budgets={"d": budget}, composition=Composition.ZCDP)  # fmt: skip
    aim = AIM(epsilon=2.0, iters=10, final_iters=10, rounds=4,
              account=BudgetAccount(ledger, "p", "d", "synthetic table"))  # fmt: skip
    _, trace = aim.fit_with_trace(_table(), rng=np.random.default_rng(0))
    d = 3
    n = len(trace.cliques)
    assert len(trace.sigmas) == len(trace.selection_epsilons) == len(trace.rho_used) == n
    # The one-way marginals are measured without a selection; every round selects.
    assert trace.selection_epsilons[:d] == (0.0,) * d
    assert all(e > 0 for e in trace.selection_epsilons[d:])
    assert n > d
    # Gaussian: 1 / (2 sigma^2) per measurement; exponential mechanism: epsilon^2 / 8 per
    # round (Cesar & Rogers 2021), both in zCDP, where rhos add (Bun & Steinke 2016).
    costs = [1 / (2 * s**2) + e**2 / 8 for s, e in zip(trace.sigmas, trace.selection_epsilons,
                                                        strict=True)]  # fmt: skip
    spent = math.fsum(costs)
    (charge,) = ledger.spends()
    assert spent <= aim.rho * (1 + 1e-12)
    assert spent == pytest.approx(aim.rho, rel=1e-9)
    assert charge.rho == Decimal(repr(aim.rho))
    assert spent == pytest.approx(float(charge.rho), rel=1e-9)
    # The code's own running total agrees with the recomputation, measurement by measurement.
    assert np.cumsum(costs) == pytest.approx(np.array(trace.rho_used), rel=1e-12)
