"""The glucose forecaster across sites: federated ridge against the central fit.

Data: ``tests/data/federation/glucose_forecasts.npz``, forecast points of 30 virtual
patients (10 adults, 10 adolescents, 10 children; one closed-loop day each) with the
glucose twin's 30/60-min forecasts (README there). Six patients are held out; the other
24 are dealt to three sites (IID by patient) or split by age group (non-IID).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from healthtwin.errors import InvalidParameterError, ShapeError
from healthtwin.federation.forecasting import GlucoseRidge, forecast_site_data, whiten
from healthtwin.federation.models import fit_central, make_model
from healthtwin.federation.sites import SiteData, pool, split_by_group
from healthtwin.federation.strategies import FederationConfig, run_in_process

DATA = Path(__file__).resolve().parents[1] / "data" / "federation" / "glucose_forecasts.npz"


def _points(kind: str) -> tuple[SiteData, SiteData, np.ndarray]:
    """Train and test points of the hybrid or pure-ML forecaster, and the train patients."""
    with np.load(DATA) as data:
        patient, features = data["patient"], data["features"]
        mechanistic, cgm = data["mechanistic_mg_dl"], data["cgm_mg_dl"]
    held_out = np.random.default_rng(0).choice(np.unique(patient), 6, replace=False)
    train = ~np.isin(patient, held_out)
    if kind == "hybrid":
        raw, anchor = np.column_stack([features, mechanistic]), mechanistic
    else:
        raw, anchor = features, features[:, 0]
    # Shared encoding statistics (in a real federation: federated moments).
    x = whiten(raw, raw[train].mean(axis=0), np.cov(raw[train].T, bias=True))
    points = forecast_site_data(x, cgm, anchor)
    train_rows, test_rows = np.flatnonzero(train), np.flatnonzero(~train)
    return points.subset(train_rows, "train"), points.subset(test_rows, "test"), patient[train]


def _relative_gap(model: GlucoseRidge, theta: np.ndarray, central: np.ndarray, test: SiteData):
    fed, ref = model.evaluate(theta, test), model.evaluate(central, test)
    return {k: fed[k] / ref[k] - 1.0 for k in ref}, ref


@pytest.mark.parametrize("kind", ["hybrid", "ml"])
def test_federated_ridge_is_within_one_percent_of_central_rmse_on_iid_sites(kind: str) -> None:
    train, test, patients = _points(kind)
    model = GlucoseRidge()
    central = fit_central(model, train)
    sites = split_by_group(train, patients, 3, np.random.default_rng(1))
    assert sum(s.n_patients for s in sites) == train.n_patients
    config = FederationConfig(rounds=20, local_steps=2, learning_rate=0.5)
    result = run_in_process(model, sites, config)
    gap, ref = _relative_gap(model, result.theta, central, test)
    assert all(abs(g) < 0.01 for g in gap.values()), (gap, ref)
    # One local step per round is plain gradient descent on the pooled loss: it converges
    # to the central fit itself.
    exact = run_in_process(
        model, sites, FederationConfig(rounds=30, local_steps=1, learning_rate=0.9)
    )
    np.testing.assert_allclose(exact.theta, central, atol=1e-4)


def test_the_hybrid_correction_beats_the_mechanistic_forecast() -> None:
    train, test, _ = _points("hybrid")
    model = GlucoseRidge()
    theta = fit_central(model, train)
    twin = np.sqrt(np.mean(test.target**2, axis=0))  # the twin's error: target = cgm - twin
    learned = model.evaluate(theta, test)
    assert learned["rmse_30_min"] < 0.8 * twin[0]
    assert learned["rmse_60_min"] < 0.85 * twin[1]


def test_non_iid_sites_by_age_group_stay_close_and_fedprox_does_not_hurt() -> None:
    train, test, patients = _points("hybrid")
    group = np.array([p.split("#")[0] for p in patients])
    sites = [train.subset(np.flatnonzero(group == g), g) for g in np.unique(group)]
    model = GlucoseRidge()
    central = fit_central(model, pool(sites))
    gaps = {}
    for strategy in ("fedavg", "fedprox"):
        config = FederationConfig(rounds=20, local_steps=10, learning_rate=0.5, strategy=strategy)
        gap, _ = _relative_gap(model, run_in_process(model, sites, config).theta, central, test)
        gaps[strategy] = max(abs(g) for g in gap.values())
    assert gaps["fedavg"] < 0.02
    assert gaps["fedprox"] <= gaps["fedavg"] + 1e-3


def test_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(3)
    site = SiteData(rng.normal(size=(20, 3)), np.zeros(20), np.zeros(20, bool),
                    target=rng.normal(0, 30, size=(20, 2)))  # fmt: skip
    model = GlucoseRidge(l2=0.1)
    theta = rng.normal(size=model.n_parameters(3))
    _, grad = model.loss_and_gradient(theta, site)
    eps = 1e-6
    numeric = [
        (model.loss_and_gradient(theta + eps * e, site)[0]
         - model.loss_and_gradient(theta - eps * e, site)[0]) / (2 * eps)
        for e in np.eye(theta.size)
    ]  # fmt: skip
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def test_registry_and_errors() -> None:
    assert make_model("glucose-ridge").name == "glucose-ridge"
    survival = SiteData(np.zeros((3, 1)), np.ones(3), np.ones(3, bool))
    with pytest.raises(InvalidParameterError, match="no regression target"):
        GlucoseRidge().loss_and_gradient(np.zeros(4), survival)
    with pytest.raises(ShapeError, match="theta"):
        GlucoseRidge().predict(np.zeros(3), np.zeros((2, 1)))
    with pytest.raises(ShapeError, match="anchor"):
        forecast_site_data(np.zeros((2, 1)), np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(InvalidParameterError):
        GlucoseRidge(horizons_min=())


def test_the_flower_apps_train_the_forecaster_from_the_sites_own_files(tmp_path: Path) -> None:
    pytest.importorskip("flwr", reason="Flower is the 'fed' extra: pip install 'healthtwin[fed]'")
    from healthtwin.federation.apps import client_app
    from healthtwin.federation.local_grid import InProcessGrid, run_in_grid

    train, _, patients = _points("hybrid")
    sites = split_by_group(train, patients, 3, np.random.default_rng(1))
    nodes = []
    for site in sites:
        path = tmp_path / f"{site.name}.npz"
        np.savez(path, features=site.features, time=site.time, event=site.event,
                 target=site.target)  # fmt: skip
        nodes.append({"data-path": str(path)})
    run_config = {"num-rounds": 3, "model": "glucose-ridge", "local-steps": 2,
                  "learning-rate": 0.5, "secure-aggregation": True}  # fmt: skip
    apps = run_in_grid(InProcessGrid(client_app, nodes), run_config)
    loop = run_in_process(GlucoseRidge(), sites, FederationConfig(rounds=3, local_steps=2))
    # SecAgg+ quantization: within 1e-4 of plain FedAvg; RMSE in mg/dL reported per horizon.
    np.testing.assert_allclose(apps.theta, loop.theta, atol=1e-4)
    assert sorted(apps.rounds[-1].metrics) == ["rmse_30_min", "rmse_60_min"]
