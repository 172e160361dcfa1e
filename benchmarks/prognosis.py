"""Survival models' cost: fit and predict times on the packaged data sets and a large cohort.

Each registered model (``healthtwin.prognosis.survival.SURVIVAL_MODELS``, registry
settings) is fitted on every listed data set and asked for survival curves at 20 times
for every patient. Two peers run on the same data in the same process: scikit-survival
itself on the already-encoded matrix (``wrapper_ratio`` = our fit time / its fit time,
the cost of encoding and checks; for ``gbs``, whose estimator is healthtwin's
``CoxGradientBoosting``, the peer is the scikit-survival estimator it reimplements and
``sksurv_ratio`` = its fit time / ours, the speed-up) and, for ``cox``, lifelines'
``CoxPHFitter`` (``lifelines_ratio`` = our fit time / lifelines'). Times are wall-clock
seconds on one thread.

The synthetic cohort is drawn from a Weibull proportional-hazards model (Bender, Augustin
& Blettner, Stat Med 24:1713-1723, 2005): four N(0, 1) covariates and one two-level group,
log hazard ratios ``TRUE_COEFFICIENTS``, shape 1.5, baseline median 3 years, uniform
administrative censoring between 1 and 10 years, times rounded up to whole days. The Cox
fit there must recover the true coefficients within four standard errors. The forest is
quadratic or worse in the cohort size in scikit-survival, so at the full size it is (a)
timed on a ladder of smaller cohorts and extrapolated with the fitted power law, and (b)
actually run with a large-cohort setting (20 trees, each on a 10,000-patient bootstrap
sample). scikit-survival's boosting is quadratic too (its Cox-loss gradient is O(n^2)
per tree); ours is O(n log n), so ``gbs_large_cohort`` fits the registry setting (200
trees) on the full cohort, with the Spearman correlation of its risk scores with the
true log hazard, ``gbs_ladder`` gives its exponent, and ``gbs_versus_sksurv`` times both
estimators side by side on 10,000 patients with 20 trees (``speedup`` = scikit-survival's
fit time / ours; ``max_abs_risk_difference`` between their predictions). Writes
``benchmarks/results/prognosis.json``.
"""

from __future__ import annotations

import importlib
import json
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from healthtwin.prognosis.datasets import load_dataset
from healthtwin.prognosis.design_matrix import DesignMatrix
from healthtwin.prognosis.survival import SURVIVAL_MODELS, SurvivalModel

OUT = Path(__file__).resolve().parent / "results" / "prognosis.json"
DATASETS = ("veterans", "lung", "whas500", "gbsg2", "aids", "breast_cancer", "flchain")
TRUE_COEFFICIENTS = {"x1": 0.5, "x2": -0.25, "x3": 0.1, "x4": 0.0, "group=b": 0.7}
N_TIMES = 20


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def _structured(t: np.ndarray, e: np.ndarray) -> np.ndarray:
    target = np.empty(t.size, dtype=[("event", np.bool_), ("time", np.float64)])
    target["event"], target["time"] = e, t
    return target


def true_log_hazard(features: pd.DataFrame) -> np.ndarray:
    """``(n,)`` log hazard ratios of a :func:`weibull_cohort` (``TRUE_COEFFICIENTS``)."""
    beta = np.array([TRUE_COEFFICIENTS[c] for c in ("x1", "x2", "x3", "x4")])
    log_hazard = features[["x1", "x2", "x3", "x4"]].to_numpy() @ beta
    return log_hazard + TRUE_COEFFICIENTS["group=b"] * (features["group"] == "b").to_numpy()


def weibull_cohort(n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, Any, Any]:
    """Features, follow-up days and events of ``n`` patients (see the module docstring)."""
    features = pd.DataFrame(rng.normal(size=(n, 4)), columns=["x1", "x2", "x3", "x4"])
    features["group"] = pd.Categorical(np.where(rng.random(n) < 0.5, "a", "b"))
    log_hazard = true_log_hazard(features)
    shape, median_days = 1.5, 3.0 * 365.0
    scale = np.log(2.0) / median_days**shape
    event_days = (-np.log(rng.random(n)) / (scale * np.exp(log_hazard))) ** (1.0 / shape)
    censor_days = rng.uniform(365.0, 3650.0, n)
    return features, np.ceil(np.minimum(event_days, censor_days)), event_days <= censor_days


def _run(
    name: str, features: Any, t: Any, e: Any, *, peer: bool = True, **params: Any
) -> dict[str, Any]:
    """Fit and predict times of our model and (``peer``) of the scikit-survival estimator."""
    model = SurvivalModel(name, impute=bool(features.isna().any().any()), **params)
    fit_s, _ = _timed(lambda: model.fit(features, t, e))
    times = np.quantile(t, np.linspace(0.05, 0.95, N_TIMES))
    predict_s, _ = _timed(lambda: model.predict_survival(features, times))
    if not peer:
        return {"fit_s": round(fit_s, 3), "predict_s": round(predict_s, 3)}
    assert model.design_ is not None
    matrix, target = model.design_.transform(features), _structured(t, e)
    peer_class = _sksurv_class(name)
    bare_s, _ = _timed(lambda: peer_class(**model.params).fit(matrix, target))
    result = {"fit_s": round(fit_s, 3), "predict_s": round(predict_s, 3)}
    result["sksurv_fit_s"] = round(bare_s, 3)
    if peer_class is model.estimator_class:
        result["wrapper_ratio"] = round(fit_s / bare_s, 2)
    else:
        result["sksurv_ratio"] = round(bare_s / fit_s, 2)
    return result


def _sksurv_class(name: str) -> Any:
    """The scikit-survival estimator of a registered model, or the one it reimplements."""
    spec = SURVIVAL_MODELS[name]
    module, estimator = spec.reference or (spec.module, spec.estimator)
    return getattr(importlib.import_module(module), estimator)


def _lifelines_cox(features: Any, t: Any, e: Any) -> tuple[float, Any]:
    from lifelines import CoxPHFitter

    table = features.astype(dict.fromkeys(features.select_dtypes("category").columns, str))
    design = pd.get_dummies(table, drop_first=True, dtype=float, prefix_sep="=")
    frame = design.fillna(design.median()).assign(T=t, E=e.astype(int))
    return _timed(lambda: CoxPHFitter().fit(frame, "T", "E"))


def _on_datasets(names: tuple[str, ...], small: dict[str, Any]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for dataset in names:
        data = load_dataset(dataset)
        t, e = data.survival_target()
        row: dict[str, Any] = {"patients": data.n_patients, "columns": data.features.shape[1]}
        for name in SURVIVAL_MODELS:
            row[name] = _run(name, data.features, t, e, **small.get(name, {}))
        try:
            peer_s, _ = _lifelines_cox(data.features, t, e)
        except (ArithmeticError, ValueError) as err:  # lifelines' ConvergenceError included
            row["cox"]["lifelines_failed"] = f"{type(err).__name__}: {str(err)[:120]}"
        else:
            row["cox"]["lifelines_fit_s"] = round(peer_s, 3)
            row["cox"]["lifelines_ratio"] = round(row["cox"]["fit_s"] / peer_s, 2)
        results[dataset] = row
    return results


def _cox_at_scale(n: int, rng: np.random.Generator) -> dict[str, Any]:
    features, t, e = weibull_cohort(n, rng)
    result = _run("cox", features, t, e)
    model = SurvivalModel("cox").fit(features, t, e)
    peer_s, peer = _lifelines_cox(features, t, e)
    fitted = model.coefficients()
    error = {k: float(fitted[k] - v) for k, v in TRUE_COEFFICIENTS.items()}
    standard_errors = {k: float(peer.standard_errors_[k]) for k in TRUE_COEFFICIENTS}
    result.update(
        events=int(e.sum()),
        lifelines_fit_s=round(peer_s, 3),
        lifelines_ratio=round(result["fit_s"] / peer_s, 2),
        coefficient_error={k: round(v, 4) for k, v in error.items()},
        standard_error={k: round(v, 4) for k, v in standard_errors.items()},
        max_abs_error_in_se=round(max(abs(error[k]) / standard_errors[k] for k in error), 2),
        recovered=all(abs(error[k]) <= 4.0 * standard_errors[k] for k in error),
        max_abs_difference_from_lifelines=float(
            np.max(np.abs(fitted[list(TRUE_COEFFICIENTS)] - peer.params_[list(TRUE_COEFFICIENTS)]))
        ),
    )
    return result


def _ladder(
    name: str, sizes: tuple[int, ...], trees: int, target_n: int, rng: np.random.Generator
) -> dict[str, Any]:
    """Fit times on growing cohorts, and the power law's extrapolation to ``target_n``."""
    fits = []
    for n in sizes:
        features, t, e = weibull_cohort(n, rng)
        fits.append(_run(name, features, t, e, peer=False, n_estimators=trees)["fit_s"])
    exponent = float(np.polyfit(np.log(sizes), np.log(fits), 1)[0])
    registry_trees = int(SURVIVAL_MODELS[name].defaults["n_estimators"])  # type: ignore[call-overload]
    per_tree_at_target = fits[-1] / trees * (target_n / sizes[-1]) ** exponent
    return {
        "sizes": list(sizes),
        "trees": trees,
        "fit_s": fits,
        "exponent": round(exponent, 2),
        "extrapolated_fit_s": round(per_tree_at_target * registry_trees, 1),
        "extrapolated_for": f"{target_n} patients, {registry_trees} trees (registry setting)",
    }


def gbs_large_cohort(features: pd.DataFrame, t: Any, e: Any) -> dict[str, Any]:
    """Registry ``gbs`` (200 trees) fitted on the whole cohort: times and risk recovery."""
    model = SurvivalModel("gbs")
    fit_s, _ = _timed(lambda: model.fit(features, t, e))
    times = np.quantile(t, np.linspace(0.05, 0.95, N_TIMES))
    predict_s, _ = _timed(lambda: model.predict_survival(features, times))
    risk_s, risk = _timed(lambda: model.predict_risk(features))
    rho = spearmanr(risk, true_log_hazard(features)).statistic
    return {
        "settings": dict(SURVIVAL_MODELS["gbs"].defaults),
        "fit_s": round(fit_s, 3),
        "predict_s": round(predict_s, 3),
        "predict_risk_s": round(risk_s, 3),
        "spearman_with_true_log_hazard": round(float(rho), 4),
    }


def gbs_versus_sksurv(n: int, trees: int, rng: np.random.Generator) -> dict[str, Any]:
    """Our boosting and scikit-survival's, same settings and seed, on one encoded cohort."""
    features, t, e = weibull_cohort(n, rng)
    matrix, target = DesignMatrix.fit(features).transform(features), _structured(t, e)
    settings = {**SURVIVAL_MODELS["gbs"].defaults, "n_estimators": trees, "random_state": 0}
    ours_s, ours = _timed(
        lambda: SurvivalModel("gbs").estimator_class(**settings).fit(matrix, target)
    )
    peer_s, peer = _timed(lambda: _sksurv_class("gbs")(**settings).fit(matrix, target))
    return {
        "patients": n,
        "settings": settings,
        "fit_s": round(ours_s, 3),
        "sksurv_fit_s": round(peer_s, 3),
        "speedup": round(peer_s / ours_s, 1),
        "max_abs_risk_difference": float(
            np.max(np.abs(ours.predict(matrix) - peer.predict(matrix)))
        ),
    }


def main(quick: bool = False) -> dict[str, object]:
    # Convergence and conditioning warnings of the peers and of scikit-survival on the
    # 80-gene breast cancer set are about those fits, not about the timings.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = _measure(quick)
    if not quick:
        OUT.parent.mkdir(exist_ok=True)
        OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


def _measure(quick: bool) -> dict[str, object]:
    rng = np.random.default_rng(20240611)
    names = ("veterans", "gbsg2") if quick else DATASETS
    small = {"rsf": {"n_estimators": 20}, "gbs": {"n_estimators": 20}} if quick else {}
    cohort_n = 10_000 if quick else 100_000
    ladder = (1_000, 2_000) if quick else (2_500, 5_000, 10_000)
    versus_n = 2_000 if quick else 10_000
    forest_settings = {"n_estimators": 20, "max_samples": min(10_000, cohort_n // 2)}
    features, t, e = weibull_cohort(cohort_n, rng)
    result: dict[str, object] = {
        "scenario": (
            f"fit + survival curves at {N_TIMES} times for every patient; registry settings "
            "unless stated; wall-clock seconds, one thread"
        ),
        "datasets": _on_datasets(names, small),
        "synthetic": {
            "patients": cohort_n,
            "true_coefficients": TRUE_COEFFICIENTS,
            "cox": _cox_at_scale(cohort_n, rng),
            "rsf_large_cohort": {
                "settings": forest_settings,
                **_run("rsf", features, t, e, **forest_settings),
            },
            "rsf_ladder": _ladder("rsf", ladder, 10, cohort_n, rng),
            "gbs_ladder": _ladder("gbs", ladder, 10, cohort_n, rng),
            "gbs_large_cohort": gbs_large_cohort(features, t, e),
            "gbs_versus_sksurv": gbs_versus_sksurv(versus_n, 20, rng),
        },
    }
    return result
