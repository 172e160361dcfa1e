"""AIM through private-pgm: the budget, the ledger, adaptive selection, junction-tree sampling."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.conftest import require

from healthtwin.errors import ConsentError, InvalidParameterError
from healthtwin.governance.privacy_budget import (
    BudgetAccount,
    MemoryLedgerStore,
    PrivacyBudget,
    PrivacyLedger,
)
from healthtwin.synthetic import AIM, MST, load_generator, rho_from_epsilon
from healthtwin.synthetic.aim import workload_weights
from healthtwin.synthetic.private_pgm import import_mbi


@pytest.fixture(scope="module", autouse=True)
def _mbi() -> None:
    require("jax", "synth")
    import_mbi()


def _xor_table(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """c = a XOR b (with 5 % flips): every pair looks independent, the triple does not."""
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 2, n), rng.integers(0, 2, n)
    c = (a ^ b) ^ (rng.random(n) < 0.05)
    return pd.DataFrame({"a": a, "b": b, "c": c.astype(int)})


def _chain_table(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 4, n)
    b = (a + rng.integers(0, 2, n)) % 4
    c = (b + rng.integers(0, 2, n)) % 4
    return pd.DataFrame({"a": a, "b": b, "c": c, "noise": rng.integers(0, 3, n)})


def _tv(real: pd.DataFrame, synthetic: pd.DataFrame, columns: list[str]) -> float:
    p = real.value_counts(columns, normalize=True)
    q = synthetic.value_counts(columns, normalize=True)
    return 0.5 * float(p.sub(q, fill_value=0.0).abs().sum())


def test_weights_are_the_summed_overlap_with_the_workload() -> None:
    w = workload_weights(4, 2)
    assert len(w) == 4 + 6
    # (0,) meets the 3 pairs that contain 0; (0, 1) meets itself (2) and 4 pairs once.
    assert w[(0,)] == 3.0
    assert w[(0, 1)] == 2.0 + 4.0
    assert set(workload_weights(3, 3)) == {
        c for k in (1, 2, 3) for c in itertools.combinations(range(3), k)
    }


def test_the_whole_budget_is_spent_and_never_more() -> None:
    # T = 16 rounds (16 d would be 64): each round is a jax compilation, kept few in tests.
    aim = AIM(epsilon=2.0, iters=20, final_iters=20, rounds=16)
    fitted, trace = aim.fit_with_trace(_chain_table(600), rng=np.random.default_rng(0))
    assert trace.rho_used[-1] == pytest.approx(aim.rho, rel=1e-9)
    assert max(trace.rho_used) <= aim.rho * (1 + 1e-12)
    assert list(trace.rho_used) == sorted(trace.rho_used)
    # The first d measurements are the 1-way marginals at the initial noise scale.
    assert trace.cliques[:4] == ((0,), (1,), (2,), (3,))
    assert fitted.privacy()["rho_spent"] == pytest.approx(aim.rho)
    # Annealing only ever halves the noise.
    ratios = np.array(trace.sigmas[1:]) / np.array(trace.sigmas[:-1])
    assert np.all((ratios <= 1.0 + 1e-12) | (np.arange(ratios.size) == ratios.size - 1))


def test_the_ledger_is_charged_once_before_measuring_and_refuses_overspend() -> None:
    ledger = PrivacyLedger(
        MemoryLedgerStore(),
        project_budgets={"p": PrivacyBudget(1.5, 1e-6)},
        dataset_budgets={"d": PrivacyBudget(1.5, 1e-6)},
        gaussian_delta=1e-9,
    )
    account = BudgetAccount(ledger, "p", "d", "synthetic table")
    fitted = AIM(epsilon=1.0, account=account, iters=10, final_iters=10, rounds=6).fit(
        _chain_table(400), rng=np.random.default_rng(0)
    )
    (spend,) = ledger.spends()
    assert float(spend.rho) == pytest.approx(rho_from_epsilon(1.0, 1e-9))
    assert fitted.privacy()["ledger_sequence"] == spend.sequence
    with pytest.raises(ConsentError, match="exceeded"):
        AIM(epsilon=1.0, account=account).fit(_chain_table(400), rng=np.random.default_rng(0))
    assert len(ledger.spends()) == 1


@pytest.mark.parametrize(
    "settings",
    [
        {"epsilon": 0.0},
        {"epsilon": 1.0, "n_bins": 1},
        {"epsilon": 1.0, "degree": 0},
        {"epsilon": 1.0, "max_model_size_mb": 0.0},
    ],
)
def test_bad_settings_are_refused(settings: dict[str, float]) -> None:
    with pytest.raises(InvalidParameterError):
        AIM(**settings)


def test_a_three_way_workload_finds_what_no_tree_of_pairs_can() -> None:
    """XOR: MST's pairs carry no information; AIM with 3-way marginals recovers the triple."""
    real = _xor_table()
    aim, trace = AIM(epsilon=20.0, degree=3, iters=50, final_iters=300, rounds=9).fit_with_trace(
        real, rng=np.random.default_rng(2)
    )
    assert (0, 1, 2) in trace.cliques
    assert any(len(c) == 3 for c in aim.cliques)
    synthetic = aim.sample(6000, np.random.default_rng(3))
    mst = MST(epsilon=20.0, iters=300).fit(real, rng=np.random.default_rng(2))
    by_mst = mst.sample(6000, np.random.default_rng(3))

    def xor(t: pd.DataFrame) -> float:
        return float(((t.a ^ t.b) == t.c).mean())

    assert xor(synthetic) > 0.9
    assert xor(by_mst) < 0.6
    assert _tv(real, synthetic, ["a", "b", "c"]) < 0.06


def test_two_way_marginals_are_close_at_high_epsilon_and_samples_reproducible(
    tmp_path: Path,
) -> None:
    real = _chain_table()
    fitted = AIM(epsilon=30.0, iters=50, final_iters=300, rounds=8).fit(
        real, rng=np.random.default_rng(0)
    )
    synthetic = fitted.sample(8000, np.random.default_rng(1))
    for pair in (["a", "b"], ["b", "c"]):
        assert _tv(real, synthetic, pair) < 0.08
    fitted.save(tmp_path)
    loaded = load_generator(tmp_path)
    assert loaded.method == "aim"
    again = loaded.sample(500, np.random.default_rng(7))
    pd.testing.assert_frame_equal(again, fitted.sample(500, np.random.default_rng(7)))


def test_fewer_rounds_keep_the_accounting_exact_and_report_progress(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """rounds=T sets the split; progress sees the spent share rise to 1; no jax projections."""
    mbi = import_mbi()

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("AIM must score candidates without mbi's variable elimination")

    monkeypatch.setattr(mbi.MarkovRandomField, "project", refuse)
    seen: list[tuple[float, str]] = []
    aim = AIM(epsilon=2.0, iters=20, final_iters=20, rounds=6)
    fitted, trace = aim.fit_with_trace(
        _chain_table(600), rng=np.random.default_rng(0), progress=lambda f, m: seen.append((f, m))
    )
    rho, d = aim.rho, 4
    # The one-way step costs d / (2 sigma_0^2) = 0.9 rho d / T.
    assert trace.rho_used[d - 1] == pytest.approx(0.9 * rho * d / 6, rel=1e-12)
    assert trace.sigmas[0] == pytest.approx(math.sqrt(6 / (2 * 0.9 * rho)))
    assert trace.rho_used[-1] == pytest.approx(rho, rel=1e-9)
    assert max(trace.rho_used) <= rho * (1 + 1e-12)
    privacy = fitted.privacy()
    assert privacy["budget_rounds_T"] == 6
    assert privacy["rounds"] == len(trace.cliques) - d
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions)
    assert fractions[-1] == pytest.approx(1.0)
    assert [m for _, m in seen] == [f"round {k}" for k in range(len(seen))]
    assert len(seen) == privacy["rounds"] + 1


def test_rounds_must_exceed_the_number_of_columns() -> None:
    with pytest.raises(InvalidParameterError, match="rounds"):
        AIM(epsilon=1.0, rounds=1)
    with pytest.raises(InvalidParameterError, match=r"number of columns \(4\)"):
        AIM(epsilon=1.0, rounds=4).fit(_chain_table(200), rng=np.random.default_rng(0))
