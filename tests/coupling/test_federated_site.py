"""Sites that harmonise their own exports, audit every step and keep their own budget.

The three synthetic country exports of ``tests/data/harmonisation`` (US, German, French:
different languages, units, date formats and time zones; the same three patients) each
join a federation through their own mapping.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from healthtwin.coupling.federated_site import (
    LEARNING_PROJECT,
    FederatedSite,
    SiteFederation,
    glucose_table,
    train_sites,
)
from healthtwin.errors import ConsentError, InvalidInputError
from healthtwin.federation.analytics import FederatedAnalytics
from healthtwin.federation.analytics_queries import CountQuery, Where
from healthtwin.federation.analytics_site import SitePolicy
from healthtwin.federation.models import CoxPH
from healthtwin.federation.privacy import DifferentialPrivacy
from healthtwin.federation.sites import load_site_data, split_iid
from healthtwin.federation.strategies import FederationConfig
from healthtwin.interop.harmonize import harmonize
from healthtwin.store import open_store

DATA = Path(__file__).resolve().parents[1] / "data" / "harmonisation"
SITES = ("us", "de", "fr")


def _sites(tmp_path: Path, **kwargs: object) -> list[FederatedSite]:
    return [
        FederatedSite.from_export(
            name, DATA / f"{name}_site.yaml", open_store(f"sqlite:///{tmp_path}/{name}.db"),
            **kwargs,  # type: ignore[arg-type]
        )
        for name in SITES
    ]  # fmt: skip


def test_federated_glucose_by_country_equals_the_pooled_harmonised_data(tmp_path: Path) -> None:
    analytics = FederatedAnalytics(SiteFederation(_sites(tmp_path)))
    pooled = [glucose_table(harmonize(None, DATA / f"{s}_site.yaml").patients) for s in SITES]
    values = np.concatenate([t["glucose_mg_dl"] for t in pooled])
    country = np.concatenate([t["country"] for t in pooled])
    assert sorted(set(country)) == ["DE", "FR", "US"]
    for code in ("DE", "FR", "US"):
        where = Where("country", equals=code)
        count = analytics.count(where)
        moments = analytics.moments("glucose_mg_dl", where=where)
        mine = values[country == code]
        assert count.total == mine.size == 9
        assert moments.n == mine.size
        assert moments.mean == pytest.approx(float(mine.mean()), rel=1e-12)
        assert moments.variance == pytest.approx(float(mine.var(ddof=1)), rel=1e-9)
    # Each export holds the same patients: harmonised, every site reports the same mean.
    tables = [glucose_table(harmonize(None, DATA / f"{s}_site.yaml").patients) for s in SITES]
    means = [float(t["glucose_mg_dl"][t["country"] == "DE"].mean()) for t in tables]
    assert max(means) - min(means) < 1e-9


def test_every_query_is_audited_in_the_sites_own_chain_and_dp_spends_its_own_budget(
    tmp_path: Path,
) -> None:
    policy = SitePolicy(min_cell=None, epsilon_per_query=0.4)
    sites = _sites(tmp_path, policy=policy, epsilon_budget=1.0)
    analytics = FederatedAnalytics(SiteFederation(sites))
    query = CountQuery(Where("country", equals="US"))
    coverage = [analytics.ask(query) for _ in range(3)]
    assert all(len(a) == 3 for a in coverage)
    assert [a[0].refusal is None for a in coverage] == [True, True, False]
    assert "privacy budget" in str(coverage[2][0].refusal)
    for site in sites:
        events = site.store.audit_events(actor=f"site:{site.name}")
        assert [e.action for e in events] == ["federation.harmonise"] + 3 * [
            "federation.analytics-query"
        ]
        assert [e.outcome for e in events[1:]] == ["success", "success", "minor-failure"]
        assert events[1].query is not None
        assert '"count"' in events[1].query
        assert site.store.verify_audit().ok
        assert site.ledger.spent(dataset=site.name).epsilon == Decimal("0.8")
    # The stores are separate: one site's chain holds none of another's events.
    assert {e.actor for e in sites[0].store.audit_events()} == {"site:us"}


def test_training_rounds_are_audited_and_charged_until_the_budget_is_spent(
    tmp_path: Path,
) -> None:
    sites = _sites(tmp_path, epsilon_budget=1.1)
    data = split_iid(load_site_data("veterans"), 3, np.random.default_rng(0))
    for site, records in zip(sites, data, strict=True):
        site.learning_data = records
    dp = DifferentialPrivacy.for_epsilon(1.0, rounds=2, clip_norm=0.5)
    config = FederationConfig(rounds=3, local_steps=3, dp=dp)
    result = train_sites(CoxPH(), sites, config)
    assert [r.failed for r in result.rounds[:2]] == [(), ()]
    # Round 3 would take each site to epsilon(3) = 1.25 > 1.1: every site sits it out.
    assert len(result.rounds[2].failed) == 3
    assert all("privacy budget" in why for _, why in result.rounds[2].failed)
    for site in sites:
        spent = site.ledger.spent(project=LEARNING_PROJECT).epsilon
        assert float(spent) == pytest.approx(dp.epsilon(2), rel=1e-9)
        rounds = site.store.audit_events(action="federation.training-round")
        assert [e.details["round"] for e in rounds] == [1, 2, 3]
        assert [e.outcome for e in rounds] == ["success", "success", "minor-failure"]
        assert site.store.verify_audit().ok


def test_the_delta_budget_is_enforced(tmp_path: Path) -> None:
    (site, *_) = _sites(tmp_path, delta_budget=1e-6)
    ledger = site.privacy_ledger()
    ledger.spend(site.name, 0.1, 1e-6, "round 1")
    with pytest.raises(ConsentError, match="delta"):
        ledger.spend(site.name, 0.1, 1e-7, "round 2")


def test_a_site_whose_export_does_not_harmonise_cleanly_refuses_to_join(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="problem"):
        FederatedSite.from_export(
            "de", DATA / "de_site.yaml", open_store(f"sqlite:///{tmp_path}/de.db"),
            export=DATA / "de_site_defects.csv",
        )  # fmt: skip
