"""Federated models' losses and gradients against peers and finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import check_grad

from healthtwin.errors import InvalidParameterError, SolverError, UnknownModelError
from healthtwin.federation.models import (
    CoxPH,
    LogisticRegression,
    auc,
    concordance_index,
    fit_central,
    make_model,
    train_locally,
)
from healthtwin.federation.sites import SiteData, load_site_data, split_iid

sksurv_metrics = pytest.importorskip("sksurv.metrics")
from healthtwin.prognosis.cox_boosting import (  # noqa: E402
    cox_negative_gradient,
    cox_partial_likelihood_loss,
)


@pytest.fixture(scope="module")
def whas() -> SiteData:
    return load_site_data("whas500")


def test_cox_loss_and_gradient_equal_breslow_of_prognosis(whas: SiteData) -> None:
    theta = np.random.default_rng(0).normal(scale=0.2, size=whas.features.shape[1])
    loss, grad = CoxPH(l2=0.0).loss_and_gradient(theta, whas)
    f = whas.features @ theta
    assert loss * whas.n_patients == pytest.approx(
        cox_partial_likelihood_loss(whas.event, whas.time, f), rel=1e-12
    )
    reference = -(whas.features.T @ cox_negative_gradient(whas.event, whas.time, f))
    np.testing.assert_allclose(grad * whas.n_patients, reference, atol=1e-9)


def test_cox_handles_tied_times() -> None:
    # Two events tied at t = 1 share the risk set {all three} (Breslow).
    data = SiteData(np.array([[1.0], [0.0], [2.0]]), np.array([1.0, 1.0, 2.0]), np.ones(3, bool))
    loss, _ = CoxPH(l2=0.0).loss_and_gradient(np.array([0.3]), data)
    w = np.exp(0.3 * np.array([1.0, 0.0, 2.0]))
    expected = -(0.3 - np.log(w.sum()) + 0.0 - np.log(w.sum()) + 0.6 - np.log(w[2])) / 3
    assert loss == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("model", [CoxPH(l2=0.01), LogisticRegression(l2=0.01)])
def test_gradients_match_finite_differences(model: CoxPH | LogisticRegression) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 3))
    data = SiteData(x, rng.exponential(size=60), rng.random(60) < 0.6)
    theta = rng.normal(size=model.n_parameters(3))
    error = check_grad(
        lambda t: model.loss_and_gradient(t, data)[0],
        lambda t: model.loss_and_gradient(t, data)[1],
        theta,
    )
    assert error < 1e-6


def test_central_cox_matches_scikit_survival(whas: SiteData) -> None:
    linear = pytest.importorskip("sksurv.linear_model")
    target = np.empty(whas.n_patients, dtype=[("event", bool), ("time", float)])
    target["event"], target["time"] = whas.event, whas.time
    peer = linear.CoxPHSurvivalAnalysis(alpha=0.0, ties="breslow").fit(whas.features, target)
    ours = fit_central(CoxPH(l2=0.0), whas)
    np.testing.assert_allclose(ours, peer.coef_, atol=1e-3)


def test_concordance_equals_scikit_survival(whas: SiteData) -> None:
    risk = whas.features @ fit_central(CoxPH(), whas)
    peer = sksurv_metrics.concordance_index_censored(whas.event, whas.time, risk)[0]
    assert concordance_index(whas.time, whas.event, risk) == pytest.approx(peer, abs=1e-12)


def test_auc_equals_scikit_learn() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(2)
    label = rng.random(200) < 0.3
    score = rng.normal(size=200) + label
    assert auc(score, label) == pytest.approx(metrics.roc_auc_score(label, score), abs=1e-12)


def test_fit_central_over_sites_is_the_stratified_optimum(whas: SiteData) -> None:
    sites = split_iid(whas, 3, np.random.default_rng(0))
    theta = fit_central(CoxPH(), sites)
    total = sum(
        CoxPH().loss_and_gradient(theta, s)[1] * s.n_patients / whas.n_patients for s in sites
    )
    assert np.abs(total).max() < 1e-5


def test_local_training_lowers_the_loss_and_fedprox_stays_closer() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(100, 2))
    data = SiteData(x, np.ones(100), x[:, 0] + rng.normal(size=100) > 0)
    model = LogisticRegression()
    plain = train_locally(model, np.zeros(3), data, steps=30)
    prox = train_locally(model, np.zeros(3), data, steps=30, proximal_mu=1.0)
    assert model.loss_and_gradient(plain.theta, data)[0] < plain.loss
    assert np.linalg.norm(prox.theta) < np.linalg.norm(plain.theta)


def test_divergence_and_bad_settings_are_errors() -> None:
    x = np.array([[1e3], [-1e3]])
    data = SiteData(x, np.ones(2), np.array([True, False]))
    with pytest.raises(SolverError, match="lower the learning rate"):
        train_locally(LogisticRegression(l2=10.0), np.zeros(2), data, learning_rate=1e3, steps=100)
    with pytest.raises(InvalidParameterError, match="learning rate"):
        train_locally(LogisticRegression(), np.zeros(2), data, learning_rate=0.0)
    with pytest.raises(UnknownModelError, match="choose one of cox, glucose-ridge, logistic"):
        make_model("gbm")
