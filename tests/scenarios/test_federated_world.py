"""A world's federation: hospitals train together, privately, and get the model back."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from scipy import stats

from healthtwin.core.random import RandomStreams
from healthtwin.errors import InvalidInputError, ResourceValidationError, UnknownModelError
from healthtwin.federation.models import LogisticRegression, fit_central
from healthtwin.federation.sites import pool
from healthtwin.scenarios import WorldScenario, parse_world, run_world
from healthtwin.scenarios.federated import (
    HORIZON_HOURS,
    TRUE_LOG_HAZARD,
    CohortMix,
    FederatedWorld,
    icu_features,
    share_back,
    synthetic_patients,
    train_federation,
)
from healthtwin.scenarios.world import PatientsSpec

FEATURE_COLUMNS = ("age_years", "female", "bmi_kg_m2", "diabetes", "hypertension")
UNIT = {"los_hours": {"dist": "exponential", "mean": 100}}
CONFIG = {
    "units": {"ward": {"kind": "ward", "beds": 30, **UNIT},
              "icu": {"kind": "icu", "beds": 3, **UNIT}},
    "pathways": {"ward": {"icu": 0.1, "discharge": 0.8, "death": 0.1}, "icu": {"discharge": 1.0}},
}  # fmt: skip


def _country(name: str, hospitals: int) -> dict[str, Any]:
    return {
        "name": name,
        "geography": {"regions": [{"name": "r", "population": 20000}]},
        "disease": {"r0": 2.0},
        "initial_infected": {"r": 20},
        "hospitals": [
            {"name": f"{name}-{k}", "region": "r", "catchment_share": 1 / hospitals,
             "config": CONFIG}
            for k in range(hospitals)
        ],
    }  # fmt: skip


def _world(seed: int = 3, hospitals: int = 2, **federation: Any) -> WorldScenario:
    spec = {"rounds": 15, "learning_rate": 2.0, "patients_per_hospital": 300, **federation}
    return parse_world(
        {"days": 14, "replicates": 1, "seed": seed, "federation": spec,
         "countries": [_country("Old", hospitals), _country("Young", hospitals)]}
    )  # fmt: skip


@pytest.fixture(scope="module")
def trained() -> FederatedWorld:
    world = _world(
        cohorts={"Old": {"age_weights": [0.1, 0.3, 0.6]}, "Young": {"age_weights": [0.6, 0.3, 0.1]}}
    )
    return train_federation(world, RandomStreams(world.seed))


def test_synthetic_transfers_follow_the_documented_hazard_model() -> None:
    _, data = synthetic_patients(
        CohortMix(), 20_000, np.random.default_rng(1), baseline_icu_probability=0.1
    )
    # P(transfer within H) = 1 - (1 - p0)^exp(x . beta) for each patient.
    p = 1.0 - 0.9 ** np.exp(data.features @ np.asarray(TRUE_LOG_HAZARD))
    expected, sd = p.sum(), math.sqrt(float((p * (1 - p)).sum()))
    z = stats.norm.ppf(0.995)
    assert abs(data.event.sum() - expected) < z * sd
    assert data.time.max() <= HORIZON_HOURS
    assert np.all(data.time[~data.event] == HORIZON_HOURS)


def test_every_round_is_evaluated_and_training_reaches_the_central_fit(
    trained: FederatedWorld,
) -> None:
    rounds = trained.result.rounds
    assert [r.round for r in rounds] == list(range(1, 16))
    assert all(set(r.metrics) == {"auc", "log_loss"} for r in rounds)
    assert rounds[-1].metrics["log_loss"] < rounds[0].metrics["log_loss"]
    assert rounds[-1].metrics["auc"] > 0.7
    assert abs(rounds[-1].metrics["auc"] - trained.central_metrics["auc"]) < 0.02
    assert rounds[-1].metrics["log_loss"] < trained.central_metrics["log_loss"] + 0.01
    assert all(r.failed == () and r.epsilon == 0.0 for r in rounds)


def test_each_site_keeps_its_own_audit_chain_and_patients(trained: FederatedWorld) -> None:
    assert trained.sites == ("Old/Old-0", "Old/Old-1", "Young/Young-0", "Young/Young-1")
    assert trained.audit_events == (15,) * 4
    assert trained.n_train == (225,) * 4
    assert trained.n_held_out == (75,) * 4
    assert trained.epsilon_spent == (0.0,) * 4
    summary = trained.summary()
    assert summary["version"].startswith("urn:healthtwin:federated-model:logistic:")
    assert summary["sites"]["Old/Old-0"]["audit_events"] == 15


def test_the_model_replaces_each_hospitals_icu_transfer_probability(
    trained: FederatedWorld,
) -> None:
    world = _world()
    shared_world, shared = share_back(world, trained)
    assert len(shared.shared) == 4
    for k, site in enumerate(h for c in shared_world.countries for h in c.hospitals):
        ward = site.config.pathways["ward"]
        p = float(np.mean(1.0 / (1.0 + np.exp(-trained.risk[k]))))
        assert ward["icu"] == pytest.approx(p)
        assert sum(ward.values()) == pytest.approx(1.0, abs=1e-12)
        # The other exits keep their proportions (0.8 : 0.1).
        assert ward["discharge"] / ward["death"] == pytest.approx(8.0)
        assert shared.shared[k].icu_probability_before == 0.1
        assert shared.shared[k].icu_probability_after == pytest.approx(p)
    after = [float(s.icu_probability_after or 0.0) for s in shared.shared]
    # Older patients transfer more: the model says so for the older country's hospitals.
    assert min(after[:2]) > max(after[2:])
    assert world.countries[0].hospitals[0].config.pathways["ward"]["icu"] == 0.1


def test_another_seed_trains_another_model(trained: FederatedWorld) -> None:
    # (The same seed giving the same model is tests/scenarios/test_distributed.py's.)
    world = _world(
        cohorts={"Old": {"age_weights": [0.1, 0.3, 0.6]}, "Young": {"age_weights": [0.6, 0.3, 0.1]}}
    )
    other = train_federation(world, RandomStreams(4))
    assert not np.array_equal(other.result.theta, trained.result.theta)


def test_differential_privacy_spends_exactly_epsilon_at_every_site() -> None:
    world = _world(hospitals=1, epsilon=2.0, rounds=5, clip_norm=0.5, patients_per_hospital=100)
    dp = train_federation(world, RandomStreams(world.seed))
    assert dp.epsilon_spent == pytest.approx((2.0,) * 2, rel=1e-9)
    assert dp.summary()["epsilon"] == pytest.approx(2.0, rel=1e-9)
    epsilons = [r.epsilon for r in dp.result.rounds]
    assert epsilons == sorted(epsilons)
    assert epsilons[-1] == pytest.approx(2.0, rel=1e-9)


def test_cox_is_shared_as_a_model_card_and_leaves_pathways_alone() -> None:
    world = _world(hospitals=1, model="cox", share_back="model-card", rounds=10)
    cox = train_federation(world, RandomStreams(world.seed))
    assert cox.result.rounds[-1].metrics["c_index"] > 0.65
    shared_world, shared = share_back(world, cox)
    assert shared_world == world
    assert all(s.icu_probability_after is None for s in shared.shared)
    assert all(s.as_dict()["version"] == cox.provenance.target for s in shared.shared)


def test_the_shipped_data_set_can_be_split_over_the_hospitals() -> None:
    world = _world(hospitals=1, data="veterans", model="cox", share_back="model-card", rounds=5)
    fed = train_federation(world, RandomStreams(world.seed))
    assert sum(fed.n_train) + sum(fed.n_held_out) == 137
    assert len(fed.result.rounds) == 5


def test_bad_federation_sections_are_clear_errors() -> None:
    with pytest.raises(ResourceValidationError, match="share_back 'pathway' needs model"):
        _world(model="cox")
    with pytest.raises(ResourceValidationError, match=r"federation\.rounds"):
        _world(rounds=0)
    world = _world(cohorts={"Atlantis": {}})
    with pytest.raises(InvalidInputError, match=r"countries \['Atlantis'\]"):
        train_federation(world, RandomStreams(0))
    world = _world(data="nope", model="cox", share_back="model-card")
    with pytest.raises(UnknownModelError, match=r"federation\.data 'nope': give 'synthetic'"):
        train_federation(world, RandomStreams(0))


def test_the_federated_fit_is_the_central_fit_on_the_same_patients(
    trained: FederatedWorld,
) -> None:
    # Regenerate the sites' training rows the way train_federation draws them.
    world = _world(
        cohorts={"Old": {"age_weights": [0.1, 0.3, 0.6]}, "Young": {"age_weights": [0.6, 0.3, 0.1]}}
    )
    streams = RandomStreams(world.seed)
    sites, everyone = [], []
    for country in world.countries:
        assert world.federation is not None
        mix = world.federation.cohorts[country.name]
        for h in country.hospitals:
            rng = streams.generator(f"world/federation/{country.name}/{h.name}")
            _, data = synthetic_patients(mix, 300, rng, baseline_icu_probability=0.08)
            order = streams.generator(
                f"world/federation/{country.name}/{h.name}/held-out"
            ).permutation(300)
            sites.append(data.subset(np.sort(order[75:]), h.name))
            everyone.append(data)
    model = LogisticRegression()
    central = fit_central(model, sites)
    np.testing.assert_allclose(trained.central_theta, central, rtol=1e-6, atol=1e-8)
    # FedAvg's local steps on unlike sites drift (client drift): the coefficients are
    # near, not at, the optimum after 15 rounds...
    np.testing.assert_allclose(trained.result.theta, central, atol=0.15)
    assert pool(sites).n_patients == sum(trained.n_train)
    # ... and what the hospitals receive, their mean ICU-transfer risk, agrees closely.
    for k, data in enumerate(everyone):
        central_p = np.mean(1 / (1 + np.exp(-model.risk_score(central, data.features))))
        federated_p = np.mean(1 / (1 + np.exp(-trained.risk[k])))
        assert abs(central_p - federated_p) < 0.02


def test_each_hospital_uses_the_shared_model_as_its_patients_prognosis_model(
    trained: FederatedWorld,
) -> None:
    world = _world()
    shared_world, _ = share_back(world, trained)
    theta = trained.result.theta
    for site in (h for c in shared_world.countries for h in c.hospitals):
        assert site.prognosis is not None
        assert site.prognosis.version == trained.provenance.target
        assert site.prognosis.intercept == pytest.approx(theta[0])
        assert site.prognosis.coefficients == pytest.approx(tuple(theta[1:]))
    # On the synthetic patients it was trained on, the hospital's model reproduces the
    # federation's own risk scores, patient by patient.
    columns, data = synthetic_patients(
        CohortMix(), 500, np.random.default_rng(1), baseline_icu_probability=0.1
    )
    site = shared_world.countries[0].hospitals[0]
    assert site.prognosis is not None
    features = icu_features(*(columns[k] for k in FEATURE_COLUMNS))
    np.testing.assert_allclose(features, data.features)
    np.testing.assert_allclose(
        site.prognosis.predict(features),
        1.0 / (1.0 + np.exp(-(theta[0] + data.features @ theta[1:]))),
    )


def test_the_world_run_checks_the_model_on_its_admitted_patients() -> None:
    world = parse_world(
        {
            "days": 28, "replicates": 2, "seed": 3,
            "federation": {"rounds": 10, "learning_rate": 2.0, "patients_per_hospital": 300},
            "countries": [{**_country("Old", 1), "initial_infected": {"r": 200},
                           "patients": {"course": "twins", "cohort_size": 60}}],
        }
    )  # fmt: skip
    result = run_world(world)
    c = result.countries[0]
    block = result.summary()["countries"]["Old"]["hospitals"]["Old-0"]["patients"]
    check = block["prognosis_check"]
    arrived = sum(runs[0].arrived for runs in c.hospital_runs)
    assert check["patients"] == arrived > 30
    assert 0.0 < check["mean_predicted_icu"] < 1.0
    assert check["observed_icu_share"] == pytest.approx(block["icu_transfer_share"])
    assert 0.0 <= check["brier"] <= 1.0
    assert result.federation is not None
    assert check["version"] == result.federation.provenance.target


def test_each_hospital_is_told_what_the_model_changed_there(trained: FederatedWorld) -> None:
    # Hospitals without twins: the pathway takes the model (share_back: pathway) ...
    world = _world()
    _, shared = share_back(world, trained)
    assert {s.applied for s in shared.shared} == {"pathway"}
    assert all(s.as_dict()["applied_to_pathway"] for s in shared.shared)
    # ... hospitals whose twins route the patients keep their pathway and say why ...
    twins = world.model_copy(
        update={
            "countries": [
                c.model_copy(update={"patients": PatientsSpec(course="twins")})
                for c in world.countries
            ]
        }
    )
    same, recorded = share_back(twins, trained)
    for site, before, s in zip(
        (h for c in same.countries for h in c.hospitals),
        (h for c in twins.countries for h in c.hospitals),
        recorded.shared,
        strict=True,
    ):
        assert s.applied == "recorded-only"
        assert "twins" in s.reason
        assert not s.as_dict()["applied_to_pathway"]
        assert site.config.pathways == before.config.pathways
    # ... and triage without twins and a cohort cannot act, and says so.
    assert world.federation is not None
    spec = world.federation.model_copy(update={"share_back": "triage"})
    triage = world.model_copy(update={"federation": spec})
    _, untriaged = share_back(triage, replace(trained, spec=spec))
    assert {s.applied for s in untriaged.shared} == {"recorded-only"}
    assert all("cohort" in s.reason for s in untriaged.shared)
