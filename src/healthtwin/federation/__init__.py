"""Federated learning across sites: models travel, patient records stay where they are.

Each site (a hospital, a region, a country) holds its own harmonised records and trains the
shared model locally; only parameter vectors travel, over Flower's deployment engine
(SuperLink + SuperNodes, :mod:`~healthtwin.federation.deployment`).

- Models (:mod:`~healthtwin.federation.models`): logistic regression, ridge regression
  of glucose ahead and the Cox proportional hazards model with Breslow ties, as numpy
  parameter vectors with analytic gradients. The federated Cox fit is
  **site-stratified** (each site's risk sets hold only its own patients); the pooled
  partial likelihood's gradient is not a sum over sites.
- Strategies (:mod:`~healthtwin.federation.strategies`): FedAvg (McMahan, Moore, Ramage,
  Hampson & Agüera y Arcas, AISTATS 2017) averages locally trained parameters weighted by
  site size; FedProx (Li, Sahu, Zaheer, Sanjabi, Talwalkar & Smith, MLSys 2020) adds
  ``mu / 2 |theta - theta_global|^2`` to each site's objective against drift when sites
  differ in case mix. Sites are sampled per round; a site that fails or drops out is
  recorded with its reason and the round goes on.
- Privacy (:mod:`~healthtwin.federation.privacy`): DP-FedAvg (McMahan, Ramage, Talwar &
  Zhang, ICLR 2018; clipping and Gaussian noise after Abadi et al., CCS 2016) with
  site-level neighbours; the epsilon is reported exactly (analytic Gaussian mechanism,
  Balle & Wang 2018) and as the Renyi-DP bound (Mironov 2017).
- Secure aggregation (:mod:`~healthtwin.federation.secure_aggregation`): Flower's SecAgg+
  (Bonawitz et al., CCS 2017; Bell et al., CCS 2020) as a run-config switch; the server
  learns the weighted mean update only, equal to FedAvg's to within the quantization.
- Forecasting (:mod:`~healthtwin.federation.forecasting`): the hybrid glucose
  forecaster's learning problem (ridge regression of the change 30/60 min ahead) as a
  federated model.
- Apps (:mod:`~healthtwin.federation.apps`): the Flower ServerApp and ClientApp (Message
  API), testable in process through :mod:`~healthtwin.federation.local_grid`.
- Gradient-boosted trees (:mod:`~healthtwin.federation.gbdt`, over Flower in
  :mod:`~healthtwin.federation.gbdt_flower`): histogram boosting where sites send
  gradient/hessian sums per node, feature and public bin; without DP the federated model
  equals the pooled fit exactly.
- Site governance (:mod:`~healthtwin.federation.site_governance`): a deployed site's own
  privacy ledger and hash-chained audit file, charged and written by the ClientApp.
- Sites (:mod:`~healthtwin.federation.sites`): one shipped data set split into IID sites
  or sites that differ in case mix, for validation against central training.
- Analytics (:mod:`~healthtwin.federation.analytics`): counts, means and variances,
  histograms, quantiles and Kaplan-Meier curves (Greenwood variance; Kaplan & Meier 1958,
  Greenwood 1926) across sites from local sufficient statistics, with small-cell
  suppression and OpenDP noise spent from each site's own privacy budget, and error bounds
  stated for every released number; exact (equal to the pooled computation) without DP.

``core``, ``prognosis``, ``governance`` (OpenDP aggregates, small cells, the privacy ledger
of the analytics) and ``errors`` are imported; the learning apps' privacy spend comes in
through :class:`~healthtwin.federation.privacy.PrivacyLedger`. Flower is the optional
``fed`` extra, loaded only by the apps and the deployment.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "CoxPH": "models",
    "LogisticRegression": "models",
    "FederatedModel": "models",
    "fit_central": "models",
    "make_model": "models",
    "train_locally": "models",
    "DifferentialPrivacy": "privacy",
    "PrivacyLedger": "privacy",
    "gaussian_epsilon": "privacy",
    "rdp_epsilon": "privacy",
    "FederationConfig": "strategies",
    "FederationResult": "strategies",
    "RoundRecord": "strategies",
    "fedavg": "strategies",
    "run_in_process": "strategies",
    "SiteData": "sites",
    "load_site_data": "sites",
    "split_by_case_mix": "sites",
    "split_iid": "sites",
    "LoopbackFederation": "deployment",
    "AppSpec": "deployment",
    "LEARNING_APP": "deployment",
    "ANALYTICS_APP": "deployment",
    "GlucoseRidge": "forecasting",
    "forecast_site_data": "forecasting",
    "whiten": "forecasting",
    "SecureAggregation": "secure_aggregation",
    "split_by_group": "sites",
    "InProcessGrid": "local_grid",
    "run_in_grid": "local_grid",
    "FederatedAnalytics": "analytics",
    "InProcessSites": "analytics",
    "AnalyticsSite": "analytics_site",
    "SitePolicy": "analytics_site",
    "CountQuery": "analytics_queries",
    "HistogramQuery": "analytics_queries",
    "MomentsQuery": "analytics_queries",
    "SurvivalQuery": "analytics_queries",
    "Where": "analytics_queries",
    "federated_model_provenance": "model_provenance",
    "BoostingConfig": "gbdt",
    "FeatureBins": "gbdt",
    "GradientBoostedTrees": "gbdt",
    "train_federated": "gbdt",
    "SiteGovernance": "site_governance",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Load the module that holds ``name`` on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'healthtwin.federation' has no attribute {name!r}")
    return getattr(importlib.import_module(f"healthtwin.federation.{module}"), name)
