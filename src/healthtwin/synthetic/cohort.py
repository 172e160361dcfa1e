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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import optimize, stats

from healthtwin.core.random import RandomStreams
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, MissingDependencyError
from healthtwin.physiology.uva_padova import UvaPadovaPatient
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
    "TargetCheck",
    "VirtualCohort",
    "entropy_balance",
    "generate_cohort",
    "validate",
]

#: Stages :func:`generate_cohort` reports: candidates, twins, checks, CGM day, matching.
COHORT_STAGES = 5


@dataclass(frozen=True)
class TargetCheck:
    """One line of the validation report."""

    target: str
    expected: float
    achieved: float
    statistic: float
    p_value: float
    passed: bool


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
    """

    columns: dict[str, FloatArray]
    twins: tuple[UvaPadovaPatient | None, ...]
    report: tuple[TargetCheck, ...]
    candidates: int
    implausible: int

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
        return "\n".join(lines)

    def write(self, path: str | Path) -> Path:
        """Write the columns (plus ``twin``) as CSV, or Parquet for a ``.parquet`` path."""
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
        return target


def _features(spec: CohortSpec, cols: dict[str, FloatArray]) -> tuple[FloatArray, FloatArray]:
    """Balance functions ``(N, k)`` and their target means ``(k,)``."""
    t = spec.targets
    feats, goals = [], []
    if t.female_fraction is not None:
        feats.append(cols["female"])
        goals.append(t.female_fraction)
    for name, target in (
        ("age_years", t.age_years),
        ("bmi_kg_m2", t.bmi_kg_m2),
        ("hba1c_percent", t.hba1c_percent),
    ):
        if target is not None:
            feats += [cols[name], cols[name] ** 2]
            goals += [target.mean, target.sd**2 + target.mean**2]
    for name, p in t.prevalence.items():
        feats.append(cols[name])
        goals.append(p)
    if not feats:
        n = cols["age_years"].size
        return np.zeros((n, 0)), np.zeros(0)
    return np.column_stack(feats), np.asarray(goals, dtype=np.float64)


#: Largest multiplier of a standardised balance function (weights up to e^50 apart).
_MAX_MULTIPLIER = 50.0


def entropy_balance(features: FloatArray, targets: FloatArray) -> FloatArray:
    """Weights (summing to 1) closest to uniform whose weighted feature means hit ``targets``.

    Raises
    ------
    InvalidParameterError
        When the targets lie outside what the candidates can reach.

    Examples
    --------
    >>> x = np.array([[0.0], [0.0], [1.0], [1.0]])
    >>> entropy_balance(x, np.array([0.25])).round(3).tolist()
    [0.375, 0.375, 0.125, 0.125]
    """
    if features.shape[1] == 0:
        return np.full(features.shape[0], 1.0 / features.shape[0])
    scale = features.std(axis=0) + 1e-12
    g = (features - targets) / scale

    def dual(lam: FloatArray) -> tuple[float, FloatArray]:
        a = g @ lam
        top = a.max()
        w = np.exp(a - top)
        total = w.sum()
        return float(np.log(total) + top), np.asarray(g.T @ w / total)

    # Bounded multipliers: unreachable targets end at a bound (and fail the check below)
    # instead of overflowing.
    bounds = [(-_MAX_MULTIPLIER, _MAX_MULTIPLIER)] * g.shape[1]
    res = optimize.minimize(
        dual,
        np.zeros(g.shape[1]),
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 1000, "ftol": 1e-15, "gtol": 1e-10},
    )
    a = g @ res.x
    w = np.exp(a - a.max())
    w /= w.sum()
    miss = np.abs(w @ g).max()
    if miss > 1e-3:
        raise InvalidParameterError(
            f"the targets cannot be matched by reweighting the candidates (largest miss "
            f"{miss:.3g} SD): check them, widen the inclusion criteria or raise oversample"
        )
    return np.asarray(w)


def _systematic(weights: FloatArray, n: int, rng: np.random.Generator) -> Any:
    positions = (rng.random() + np.arange(n)) / n
    return np.minimum(np.searchsorted(np.cumsum(weights), positions), weights.size - 1)


def validate(
    spec: CohortSpec, cols: dict[str, FloatArray], alpha: float = 0.01
) -> tuple[TargetCheck, ...]:
    """Each target against the cohort: z-tests (proportions, means), chi-square (SDs)."""
    n = cols["age_years"].size
    t = spec.targets
    checks = []

    def add(name: str, expected: float, achieved: float, stat: float, p: float) -> None:
        checks.append(TargetCheck(name, expected, achieved, stat, p, bool(p >= alpha)))

    proportions: dict[str, float] = {}
    if t.female_fraction is not None:
        proportions["female"] = t.female_fraction
    for condition, prevalence in t.prevalence.items():
        proportions[str(condition)] = prevalence
    for column, p0 in proportions.items():
        p_hat = float(cols[column].mean())
        z = (p_hat - p0) / np.sqrt(max(p0 * (1 - p0), 1e-12) / n)
        add(f"{column} fraction", p0, p_hat, z, float(2 * stats.norm.sf(abs(z))))
    for column, target in (
        ("age_years", t.age_years),
        ("bmi_kg_m2", t.bmi_kg_m2),
        ("hba1c_percent", t.hba1c_percent),
    ):
        if target is None:
            continue
        x = cols[column]
        z = (x.mean() - target.mean) / (target.sd / np.sqrt(n))
        add(f"{column} mean", target.mean, float(x.mean()), z, float(2 * stats.norm.sf(abs(z))))
        chi2 = (n - 1) * x.var(ddof=1) / target.sd**2
        p = 2 * min(stats.chi2.cdf(chi2, n - 1), stats.chi2.sf(chi2, n - 1))
        add(f"{column} sd", target.sd, float(x.std(ddof=1)), float(chi2), float(min(p, 1.0)))
    return tuple(checks)


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
    on_progress: Callable[[int, int], None] | None = None,
) -> VirtualCohort:
    """Sample, check, match and validate a virtual cohort of ``n`` members.

    ``on_progress`` is called with ``(stages done, COHORT_STAGES)`` after each stage
    (candidates drawn, physiology twins sampled, twins checked, a CGM day simulated,
    members matched); it only observes.

    Raises
    ------
    InvalidParameterError
        For ``n < 1``, or targets the candidates cannot reach.

    Examples
    --------
    >>> from healthtwin.synthetic.cohort_spec import CohortSpec
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
    features, goals = _features(spec, cols)
    weights = entropy_balance(features, goals)
    chosen = _systematic(weights, n, streams.generator("matching"))
    final = {k: np.asarray(v[chosen]) for k, v in cols.items()}
    stage(5)
    return VirtualCohort(
        columns=final,
        twins=tuple(twin_kept[i] for i in chosen),
        report=validate(spec, final, alpha),
        candidates=demo.n,
        implausible=int((~ok).sum()),
    )
