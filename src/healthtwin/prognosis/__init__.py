"""Disease progression and risk prediction: learned models with honest uncertainty.

- Real clinical data sets that ship inside packages, with source and licence
  (:mod:`~healthtwin.prognosis.datasets`).
- Survival: Cox proportional hazards and random survival forests (scikit-survival), and
  gradient-boosted Cox survival (:mod:`~healthtwin.prognosis.cox_boosting`: the trees of
  scikit-survival's, with an O(n) gradient per tree instead of O(n^2)); per-patient
  survival curves, bootstrap intervals; repeated
  cross-validation with Harrell's and Uno's C, time-dependent AUC and the integrated
  Brier score (:mod:`~healthtwin.prognosis.evaluation`).
- Progression markers: gradient boosting and linear baselines with split-conformal and
  conformalized-quantile intervals (Romano, Patterson & Candès 2019) and conformal
  prediction sets for risks; calibration curves, Brier score and its decomposition.
- Explanations: SHAP (optional ``explain`` extra), linear contributions, permutation
  importance and baseline ablation; fairness reports per subgroup with the gaps.
- Safe persistence: skops files with an allow-list of types, a SHA-256 hash and a model
  card beside each saved model.
- Hybrid mechanistic + learned glucose forecasting: a residual model on top of a twin's
  forecast, with RMSE, MARD and Clarke error-grid zones (Clarke et al. 1987).

Imports only ``core``; the machine-learning libraries are the optional ``ml`` extra, so
names are resolved lazily: ``from healthtwin.prognosis import SurvivalModel`` loads the
survival module (and needs the extra) only then.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "ablation_contributions": "ablation",
    "typical_values": "ablation",
    "BootstrapSurvival": "bootstrap",
    "SurvivalPrediction": "bootstrap",
    "ConformalizedQuantileRegressor": "conformal",
    "PredictionInterval": "conformal",
    "SplitConformalRegressor": "conformal",
    "conformal_quantile": "conformal",
    "SplitConformalClassifier": "conformal_sets",
    "DATASETS": "datasets",
    "Dataset": "datasets",
    "DatasetInfo": "datasets",
    "DesignMatrix": "design_matrix",
    "FoldScores": "evaluation",
    "MetricSummary": "evaluation",
    "score_survival": "evaluation",
    "SurvivalModelSpec": "survival",
    "CalibrationTable": "survival_calibration",
    "calibration_table": "survival_calibration",
    "calibration_from_risk": "survival_calibration",
    "load_dataset": "datasets",
    "CrossValidation": "evaluation",
    "cross_validate_survival": "evaluation",
    "Explanation": "explain",
    "FeatureImportance": "explain",
    "explain": "explain",
    "linear_contributions": "explain",
    "permutation_importance": "explain",
    "top_features": "explain",
    "SubgroupReport": "fairness",
    "age_bands": "fairness",
    "regression_by_group": "fairness",
    "risk_by_group": "fairness",
    "FeatureSchema": "feature_schema",
    "CLARKE_ZONES": "glucose_metrics",
    "ForecastAccuracy": "glucose_metrics",
    "clarke_zone_percentages": "glucose_metrics",
    "clarke_zones": "glucose_metrics",
    "forecast_accuracy": "glucose_metrics",
    "mard": "glucose_metrics",
    "rmse": "glucose_metrics",
    "HybridForecaster": "hybrid",
    "MLForecaster": "hybrid",
    "make_regressor": "hybrid",
    "ModelCard": "persistence",
    "TRUSTED_TYPES": "persistence",
    "load_model": "persistence",
    "save_model": "persistence",
    "ProgressionModel": "progression",
    "out_of_fold_survival": "out_of_fold",
    "subgroup_fairness": "out_of_fold",
    "BrierDecomposition": "risk_calibration",
    "CalibrationCurve": "risk_calibration",
    "brier_decomposition": "risk_calibration",
    "brier_score": "risk_calibration",
    "calibration_curve": "risk_calibration",
    "expected_calibration_error": "risk_calibration",
    "SURVIVAL_MODELS": "survival",
    "SurvivalModel": "survival",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Load the module that holds ``name`` on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'healthtwin.prognosis' has no attribute {name!r}")
    return getattr(importlib.import_module(f"healthtwin.prognosis.{module}"), name)
