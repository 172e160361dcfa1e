"""Synthetic patients, gap filling and virtual cohorts, each with fidelity, utility, privacy.

Tabular generators share one contract (:mod:`~healthtwin.synthetic.tabular`):
``generator.fit(table, rng=rng)`` returns a fitted generator whose ``sample(n, rng)`` draws
a table with the same typed columns (categorical, continuous, integer, date with bounds)
and whose ``save(dir)`` writes JSON and ``.npz`` (no pickle); :func:`load_generator` reads
any of them back.

- :class:`GaussianCopula`: empirical or parametric marginals joined by the correlation of
  normal scores, the nonparanormal of Liu, Lafferty & Wasserman (JMLR 10:2295-2328, 2009).
  Fast, faithful, and *not* private.
- :class:`MST`: differentially private marginal-based synthesis (McKenna, Miklau & Sheldon,
  J Priv Confid 11(3), 2021), the winner of the NIST 2018 DP synthetic data challenge: noisy
  1-way marginals, a maximum spanning tree of 2-way marginals picked with the exponential
  mechanism, and private-pgm's graphical-model estimator (McKenna, Sheldon & Miklau, ICML
  2019; package ``mbi``). Its ``(epsilon, delta)`` is converted to zCDP (Bun & Steinke,
  TCC 2016) and charged to the governance ledger
  (:class:`~healthtwin.governance.privacy_budget.PrivacyLedger`) before any measurement.

Every generated table is scored by :func:`evaluate`: per-column KS / total variation
distance, correlation and contingency differences, a real-vs-synthetic discriminator
AUROC; train-synthetic-test-real utility against train-real (Esteban, Hyland & Ratsch,
2017); distance to closest record against a holdout (Platzer & Reutterer, Front Big Data
4, 2021), a distance-based membership-inference attack (Chen et al., GAN-Leaks, CCS 2020)
with its advantage (Yeom et al., CSF 2018), and the DP epsilon spent. The report is JSON
and a self-contained HTML page.

Longitudinal patients (:func:`generate_patients`: demographics, physiology drawn from a
virtual population around Dalla Man et al. 2007, CGM with sensor noise and dropouts,
visits, insulin for diabetics only, death) are written as FHIR Bundles and OMOP tables,
flagged synthetic (``HTEST``). Gaps are filled by multiple imputation (van Buuren &
Groothuis-Oudshoorn 2011; Rubin's rules, Rubin 1987) and in CGM series by the twin and the
assimilation package's fixed-lag ensemble Kalman smoother (:func:`fill_cgm_gaps`). Virtual
cohorts (:func:`generate_cohort`) match target statistics by entropy balancing
(Hainmueller 2012) and report each target (SIMCor-style); :func:`run_trial` compares two
treatments on one cohort with common random numbers.
"""

from __future__ import annotations

import importlib
from typing import Any

# Loaded on first use (PEP 562): the generators need pandas and jax, which a world run
# that only samples demographics or cohorts does not.
_EXPORTS: dict[str, str] = {
    "AIM": "aim",
    "CgmGapFill": "cgm_gaps",
    "fill_cgm_gaps": "cgm_gaps",
    "VirtualCohort": "cohort",
    "generate_cohort": "cohort",
    "CohortSpec": "cohort_spec",
    "load_cohort_spec": "cohort_spec",
    "FittedCopula": "copula",
    "GaussianCopula": "copula",
    "demographics_from_table": "demographics",
    "sample_demographics": "demographics",
    "EvaluationReport": "evaluation",
    "evaluate": "evaluation",
    "write_report": "evaluation",
    "synthetic_bundle": "fhir_output",
    "ColumnDistance": "fidelity",
    "column_distances": "fidelity",
    "contingency_difference": "fidelity",
    "correlation_difference": "fidelity",
    "discriminator_auc": "fidelity",
    "multiple_imputation": "imputation",
    "pool_rubin": "imputation",
    "ImputedPrediction": "imputed_predictions",
    "predict_over_imputations": "imputed_predictions",
    "consistency_issues": "longitudinal",
    "generate_patients": "longitudinal",
    "write_synthetic_omop": "omop_output",
    "DistanceToClosestRecord": "privacy_metrics",
    "MembershipInference": "privacy_metrics",
    "distance_to_closest_record": "privacy_metrics",
    "membership_inference": "privacy_metrics",
    "MST": "private_pgm",
    "FittedMarginalModel": "private_pgm",
    "rho_from_epsilon": "private_pgm",
    "ColumnKind": "tabular",
    "ColumnSpec": "tabular",
    "FittedGenerator": "tabular",
    "TableSchema": "tabular",
    "TabularGenerator": "tabular",
    "load_generator": "tabular",
    "InsulinTherapy": "trial",
    "TrialResult": "trial",
    "run_trial": "trial",
    "UtilityResult": "utility",
    "train_synthetic_test_real": "utility",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Load the module that holds ``name`` on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'healthtwin.synthetic' has no attribute {name!r}")
    return getattr(importlib.import_module(f"healthtwin.synthetic.{module}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
