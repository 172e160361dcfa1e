"""DP releases through OpenDP: calibration to the requested cost, charging, refusals."""

from __future__ import annotations

import math
import sys

import pytest
from tests.conftest import require

from healthtwin.errors import (
    ConsentError,
    InvalidInputError,
    InvalidParameterError,
    MissingDependencyError,
)
from healthtwin.governance.dp import dp_count, dp_histogram, dp_mean, dp_quantile, dp_sum
from healthtwin.governance.privacy_budget import (
    BudgetAccount,
    MemoryLedgerStore,
    PrivacyBudget,
    PrivacyLedger,
)

require("opendp.prelude", "privacy")


def _account(epsilon: float = 1.0) -> BudgetAccount:
    ledger = PrivacyLedger(
        MemoryLedgerStore(),
        project_budgets={"study": PrivacyBudget(epsilon)},
        dataset_budgets={"cohort": PrivacyBudget(10.0)},
    )
    return BudgetAccount(ledger, "study", "cohort", "admissions by ward")


@pytest.mark.parametrize("contributions", [1, 3])
def test_count_noise_scale_is_contributions_over_epsilon(contributions: int) -> None:
    release = dp_count(range(50), epsilon=0.5, max_contributions=contributions)
    assert release.scale == contributions / 0.5
    assert release.cost.epsilon == pytest.approx(0.5, rel=1e-12)
    assert release.cost.epsilon <= 0.5
    gaussian = dp_count(range(50), rho=0.125, max_contributions=contributions)
    assert gaussian.scale == pytest.approx(contributions / math.sqrt(2 * 0.125))
    assert gaussian.cost.rho <= 0.125
    assert gaussian.mechanism == "discrete gaussian"


def test_sum_mean_histogram_and_quantile_scales_follow_their_sensitivity() -> None:
    total = dp_sum([1.0, 2.0], bounds=(-20.0, 10.0), epsilon=2.0, max_contributions=2)
    assert total.scale == pytest.approx(2 * (10.0 + 20.0) / 2.0, rel=1e-6)
    one_sign = dp_sum([1.0, 2.0], bounds=(2.0, 10.0), epsilon=2.0)
    assert one_sign.scale == pytest.approx(10.0 / 2.0, rel=1e-6)
    mean = dp_mean([1.0] * 40, bounds=(0.0, 8.0), size=40, epsilon=0.5)
    assert mean.scale == pytest.approx(8.0 / 40 / 0.5, rel=1e-6)
    histogram = dp_histogram(["a", "b", "z"], categories=["a", "b"], epsilon=0.25)
    assert histogram.scale == 4.0
    assert isinstance(histogram.value, tuple)
    assert len(histogram.value) == 3
    quantile = dp_quantile([1.0, 2.0, 3.0], candidates=[0.0, 2.0, 4.0], epsilon=1.0)
    assert quantile.cost.epsilon == pytest.approx(1.0, rel=1e-12)
    assert quantile.value in {0.0, 2.0, 4.0}


def test_a_charged_release_records_query_mechanism_and_parameters() -> None:
    account = _account()
    release = dp_sum([3.0, 4.0], bounds=(0.0, 5.0), epsilon=0.4, account=account)
    assert release.spend is not None
    (spend,) = account.ledger.spends()
    assert spend == release.spend
    assert spend.query == "admissions by ward"
    assert spend.mechanism == "laplace"
    assert spend.parameters["aggregate"] == "sum"
    assert spend.parameters["bounds"] == [0.0, 5.0]
    assert spend.parameters["scale"] == release.scale
    assert float(spend.epsilon) == pytest.approx(0.4)


def test_a_release_beyond_the_budget_is_refused_before_it_is_computed() -> None:
    account = _account(epsilon=0.5)
    dp_count(range(10), epsilon=0.5, account=account)

    class Untouchable(list[float]):
        def __iter__(self):  # type: ignore[no-untyped-def]
            raise AssertionError("the data were read")

    with pytest.raises(ConsentError, match=r"project 'study' exceeded.*nothing was computed"):
        dp_quantile(Untouchable(), candidates=[0.0, 1.0], epsilon=0.1, account=account)
    assert len(account.ledger.spends()) == 1


def test_invalid_requests_are_refused_and_cost_nothing() -> None:
    account = _account()
    with pytest.raises(InvalidParameterError, match="exactly one of epsilon"):
        dp_count([1], epsilon=1.0, rho=1.0, account=account)
    with pytest.raises(InvalidParameterError, match="finite and > 0"):
        dp_count([1], epsilon=-1.0)
    with pytest.raises(InvalidParameterError, match="lower < upper"):
        dp_sum([1.0], bounds=(5.0, 1.0), epsilon=1.0)
    with pytest.raises(InvalidInputError, match="non-finite"):
        dp_sum([1.0, math.nan], bounds=(0.0, 1.0), epsilon=1.0, account=account)
    with pytest.raises(InvalidParameterError, match="strictly increasing"):
        dp_quantile([1.0], candidates=[2.0, 1.0], epsilon=1.0)
    with pytest.raises(InvalidParameterError, match="distinct"):
        dp_histogram(["a"], categories=["a", "a"], epsilon=1.0)
    with pytest.raises(InvalidParameterError, match="max_contributions"):
        dp_count([1], epsilon=1.0, max_contributions=0)
    with pytest.raises(InvalidParameterError, match="size"):
        dp_mean([1.0], bounds=(0.0, 1.0), size=0, epsilon=1.0)
    assert account.ledger.spends() == ()


def test_a_missing_opendp_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opendp.prelude", None)
    with pytest.raises(MissingDependencyError, match=r"healthtwin\[privacy\]"):
        dp_count([1, 2], epsilon=1.0)
