"""Virtual cohorts matched to published summary statistics, with a validation report.

Generation follows the SIMCor recipe for in-silico cohorts (sample, check, match,
validate against the real statistics):

1. **Sample** ``oversample * n`` candidates (:func:`sample_demographics` with the spec's
   age pyramid), keep those meeting the inclusion criteria, and draw each diabetic's
   twin from the spec's physiology priors.
2. **Check plausibility**: a twin must hold a physiological steady state on basal insulin
   (:func:`steady_state_ok`); failures are dropped and counted.
3. **Simulate** one day of meals and meal boluses for each twin; HbA1c follows its mean
   glucose (ADAG); non-diabetics get HbA1c ~ N(5.4, 0.3) %.
4. **Match** by entropy balancing (Hainmueller, Political Analysis 20:25, 2012): weights
   ``w_i ∝ exp(lambda . g(x_i))`` whose weighted means of ``g`` (indicators for
   proportions, ``x`` and ``x^2`` for mean/SD targets) equal the targets, found by
   minimising the convex dual; ``n`` members are then drawn by systematic resampling.
5. **Validate**: each target against the achieved value with a test statistic (a z-test
   for proportions and means, a chi-square test for SDs) and a pass flag at ``alpha``.

Step 5 is circular: matching forced exactly those moments. :func:`held_out_checks` adds
statistics the matching never saw, reported apart as "not matched": the 10th, 50th and
90th centiles of every variable with a mean/SD target, against a ``reference`` table
(the source data) when one is given, else against the normal distribution of the
published mean and SD; and, with a reference, the correlation of age and BMI (Fisher's z)
and each condition's prevalence by age band (the reference's age terciles). Each check
has a band at ``alpha`` computed with the cohort's effective size (the smaller of ``n``
and Kish's effective sample size of the matching weights, as resampled members repeat
candidates) and, for a reference, the reference's size. A mis-specified prior (an age
pyramid or physiology unlike the population's) can match every target and fail here.

:meth:`VirtualCohort.write` writes the members' table and, beside it, the twins'
parameters (``<stem>_twins.npz``: UVA/Padova parameter matrix, initial state and therapy
settings, by member row; no pickle), which :func:`read_cohort` reads back for an
in-silico trial (:func:`healthtwin.synthetic.trial.run_trial`).

The steps live in sibling modules, re-exported here: matching in
:mod:`~healthtwin.synthetic.cohort_matching`, the report in
:mod:`~healthtwin.synthetic.cohort_checks`, files in :mod:`~healthtwin.synthetic.cohort_files`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from healthtwin.core.random import RandomStreams
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, MissingDependencyError
from healthtwin.physiology.uva_padova import UvaPadovaPatient
from healthtwin.synthetic.cohort_checks import HeldOutCheck, TargetCheck, held_out_checks, validate
from healthtwin.synthetic.cohort_files import CohortFile, read_cohort, twins_path, write_twins
from healthtwin.synthetic.cohort_matching import (
    balance_features,
    entropy_balance,
    systematic_resample,
)
from healthtwin.synthetic.cohort_spec import CohortSpec
from healthtwin.synthetic.demographics import Demographics, sample_demographics
from healthtwin.synthetic.longitudinal import (
    LongitudinalConfig,
    adag_hba1c_percent,
    simulate_cgm_days,
)
from healthtwin.synthetic.virtual_population import (
    DEFAULT_CV,
    VirtualPopulation,
    steady_state_ok,
)

__all__ = [
    "COHORT_STAGES",
    "CohortFile",
    "HeldOutCheck",
    "TargetCheck",
    "VirtualCohort",
    "entropy_balance",
    "generate_cohort",
    "held_out_checks",
    "read_cohort",
    "validate",
]

#: Stages :func:`generate_cohort` reports: candidates, twins, checks, CGM day, matching.
COHORT_STAGES = 5


@dataclass(frozen=True)
class VirtualCohort:
    """A matched virtual cohort.

    Attributes
    ----------
    columns
        Per-member columns (``age_years``, ``female``, ``bmi_kg_m2``, ``diabetes``,
        ``hypertension``, ``hba1c_percent``, ``body_weight_kg``), each ``(n,)``.
    twins
        Each member's twin (None for members without diabetes).
    report
        The validation report, one line per target.
    candidates, implausible
        Candidates sampled after inclusion, and twins dropped as implausible.
    held_out
        Checks of statistics not used in matching (:func:`held_out_checks`).
    """

    columns: dict[str, FloatArray]
    twins: tuple[UvaPadovaPatient | None, ...]
    report: tuple[TargetCheck, ...]
    candidates: int
    implausible: int
    held_out: tuple[HeldOutCheck, ...] = ()

    @property
    def n(self) -> int:
        return len(self.twins)

    def report_text(self) -> str:
        """The validation report as an aligned text table."""
        lines = [f"{'target':<26}{'expected':>10}{'achieved':>10}{'statistic':>11}{'p':>8}  ok"]
        for c in self.report:
            lines.append(
                f"{c.target:<26}{c.expected:>10.3f}{c.achieved:>10.3f}{c.statistic:>11.3f}"
                f"{c.p_value:>8.3f}  {'yes' if c.passed else 'NO'}"
            )
        if self.held_out:
            lines += ["", "not matched (held-out checks, not used in matching)"]
            lines.append(f"{'check':<40}{'expected':>10}{'achieved':>10}{'band':>21}  ok")
            for h in self.held_out:
                band = f"[{h.lower:.3f}, {h.upper:.3f}]"
                lines.append(
                    f"{h.check:<40}{h.expected:>10.3f}{h.achieved:>10.3f}{band:>21}  "
                    f"{'yes' if h.passed else 'NO'}"
                )
        return "\n".join(lines)

    def write(self, path: str | Path) -> Path:
        """Write the columns (plus ``twin``) as CSV, or Parquet for a ``.parquet`` path,
        and the twins' parameters beside it (``<stem>_twins.npz``)."""
        import pandas as pd

        target = Path(path)
        frame = pd.DataFrame(self.columns)
        frame["twin"] = [t.name if t is not None else "" for t in self.twins]
        if target.suffix == ".parquet":
            try:
                frame.to_parquet(target, index=False)
            except ImportError as err:
                raise MissingDependencyError(
                    "Parquet output needs pyarrow: pip install pyarrow (or write a .csv)"
                ) from err
        else:
            frame.to_csv(target, index=False)
        write_twins(twins_path(target), self.twins)
        return target


def _population(spec: CohortSpec) -> VirtualPopulation:
    phys = spec.physiology
    return VirtualPopulation(
        cv=dict(DEFAULT_CV if phys.cv is None else phys.cv),
        basal_glucose_mg_dl=phys.basal_glucose_mg_dl,
        basal_cv=phys.basal_cv,
    )


def _candidates(spec: CohortSpec, size: int, rng: np.random.Generator) -> Demographics:
    inc = spec.inclusion
    pyramid = spec.age_pyramid
    edges: Sequence[float] = pyramid.edges if pyramid else inc.age_years
    weights: Sequence[float] = pyramid.weights if pyramid else (1.0,)
    prevalence = spec.diabetes_prevalence if inc.diabetes is None else float(inc.diabetes)
    demo = sample_demographics(
        size, rng, diabetes_prevalence=prevalence, age_bins_years=edges, age_weights=weights
    )
    keep = (demo.age_years >= inc.age_years[0]) & (demo.age_years <= inc.age_years[1])
    if inc.sex != "any":
        keep &= demo.female == (inc.sex == "female")
    return demo.subset(keep)


def generate_cohort(
    spec: CohortSpec,
    n: int,
    *,
    seed: int = 0,
    oversample: int = 4,
    alpha: float = 0.01,
    reference: Any = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> VirtualCohort:
    """Sample, check, match and validate a virtual cohort of ``n`` members.

    ``reference`` (the source table: a mapping of columns such as a DataFrame, with any of
    ``age_years``, ``bmi_kg_m2``, ``hba1c_percent``, ``diabetes``, ``hypertension``) feeds
    the held-out checks (:func:`held_out_checks`); without it they compare centiles with
    the normal of each published mean and SD.

    ``on_progress`` is called with ``(stages done, COHORT_STAGES)`` after each stage
    (candidates drawn, physiology twins sampled, twins checked, a CGM day simulated,
    members matched); it only observes.

    Raises
    ------
    InvalidParameterError
        For ``n < 1``, or targets the candidates cannot reach.

    Examples
    --------
    >>> from healthtwin.synthetic.cohort_spec import CohortSpec, MeanSd
    >>> spec = CohortSpec.model_validate({"name": "demo", "inclusion": {"diabetes": False},
    ...     "targets": {"female_fraction": 0.6, "age_years": {"mean": 50, "sd": 12}}})
    >>> cohort = generate_cohort(spec, 300, seed=1)
    >>> cohort.n, all(c.passed for c in cohort.report)
    (300, True)
    """
    if n < 1 or oversample < 1:
        raise InvalidParameterError(f"need n >= 1 and oversample >= 1, got {n} and {oversample}")

    def stage(done: int) -> None:
        if on_progress is not None:
            on_progress(done, COHORT_STAGES)

    streams = RandomStreams(seed)
    demo = _candidates(spec, n * oversample, streams.generator("candidates"))
    stage(1)
    if demo.n < n:
        raise InvalidInputError(
            f"only {demo.n} of {n * oversample} candidates meet the inclusion criteria; "
            "raise oversample or widen the criteria"
        )
    diab = np.flatnonzero(demo.diabetes)
    twins = _population(spec).sample(
        demo.body_weight_kg[diab], streams.generator("physiology"), prefix=f"{spec.name}"
    )
    stage(2)
    ok = steady_state_ok(twins) if twins else np.zeros(0, dtype=bool)
    stage(3)
    keep = np.ones(demo.n, dtype=bool)
    keep[diab[~ok]] = False
    hba1c = streams.generator("hba1c").normal(5.4, 0.3, demo.n)
    if twins:
        run = simulate_cgm_days(twins, LongitudinalConfig(cgm_days=1), streams)
        hba1c[diab] = adag_hba1c_percent(run.mean_glucose)
    stage(4)
    twin_of: list[UvaPadovaPatient | None] = [None] * demo.n
    for row, twin in zip(diab, twins, strict=True):
        twin_of[row] = twin
    cols = {
        "age_years": demo.age_years,
        "female": demo.female.astype(np.float64),
        "bmi_kg_m2": demo.bmi_kg_m2,
        "diabetes": demo.diabetes.astype(np.float64),
        "hypertension": demo.hypertension.astype(np.float64),
        "hba1c_percent": hba1c,
        "body_weight_kg": demo.body_weight_kg,
    }
    cols = {k: v[keep] for k, v in cols.items()}
    twin_kept = [t for t, k in zip(twin_of, keep, strict=True) if k]
    features, goals = balance_features(spec, cols)
    weights = entropy_balance(features, goals)
    chosen = systematic_resample(weights, n, streams.generator("matching"))
    final = {k: np.asarray(v[chosen]) for k, v in cols.items()}
    stage(5)
    kish = 1.0 / float(np.sum(weights**2))
    return VirtualCohort(
        columns=final,
        twins=tuple(twin_kept[i] for i in chosen),
        report=validate(spec, final, alpha),
        candidates=demo.n,
        implausible=int((~ok).sum()),
        held_out=held_out_checks(spec, final, reference=reference, n_effective=kish, alpha=alpha),
    )
