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
Groothuis-Oudshoorn 2011; Rubin's rules, Rubin 1987) and in CGM series by the twin's
ensemble smoother (:func:`fill_cgm_gaps`). Virtual cohorts (:func:`generate_cohort`) match
target statistics by entropy balancing (Hainmueller 2012) and report each target
(SIMCor-style); :func:`run_trial` compares two treatments on one cohort with common random
numbers.
"""

from __future__ import annotations

from healthtwin.synthetic.aim import AIM
from healthtwin.synthetic.cohort import VirtualCohort, generate_cohort
from healthtwin.synthetic.cohort_spec import CohortSpec, load_cohort_spec
from healthtwin.synthetic.copula import FittedCopula, GaussianCopula
from healthtwin.synthetic.demographics import demographics_from_table, sample_demographics
from healthtwin.synthetic.evaluation import EvaluationReport, evaluate, write_report
from healthtwin.synthetic.fhir_output import synthetic_bundle
from healthtwin.synthetic.fidelity import (
    ColumnDistance,
    column_distances,
    contingency_difference,
    correlation_difference,
    discriminator_auc,
)
from healthtwin.synthetic.imputation import fill_cgm_gaps, multiple_imputation, pool_rubin
from healthtwin.synthetic.longitudinal import consistency_issues, generate_patients
from healthtwin.synthetic.omop_output import write_synthetic_omop
from healthtwin.synthetic.privacy_metrics import (
    DistanceToClosestRecord,
    MembershipInference,
    distance_to_closest_record,
    membership_inference,
)
from healthtwin.synthetic.private_pgm import MST, FittedMarginalModel, rho_from_epsilon
from healthtwin.synthetic.tabular import (
    ColumnKind,
    ColumnSpec,
    FittedGenerator,
    TableSchema,
    TabularGenerator,
    load_generator,
)
from healthtwin.synthetic.trial import InsulinTherapy, TrialResult, run_trial
from healthtwin.synthetic.utility import UtilityResult, train_synthetic_test_real

__all__ = [
    "AIM",
    "MST",
    "CohortSpec",
    "ColumnDistance",
    "ColumnKind",
    "ColumnSpec",
    "DistanceToClosestRecord",
    "EvaluationReport",
    "FittedCopula",
    "FittedGenerator",
    "FittedMarginalModel",
    "GaussianCopula",
    "InsulinTherapy",
    "MembershipInference",
    "TableSchema",
    "TabularGenerator",
    "TrialResult",
    "UtilityResult",
    "VirtualCohort",
    "column_distances",
    "consistency_issues",
    "contingency_difference",
    "correlation_difference",
    "demographics_from_table",
    "discriminator_auc",
    "distance_to_closest_record",
    "evaluate",
    "fill_cgm_gaps",
    "generate_cohort",
    "generate_patients",
    "load_cohort_spec",
    "load_generator",
    "membership_inference",
    "multiple_imputation",
    "pool_rubin",
    "rho_from_epsilon",
    "run_trial",
    "sample_demographics",
    "synthetic_bundle",
    "train_synthetic_test_real",
    "write_report",
    "write_synthetic_omop",
]
