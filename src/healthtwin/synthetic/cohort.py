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
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import optimize, stats

from healthtwin.core.random import RandomStreams
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, MissingDependencyError
from healthtwin.physiology.uva_padova import UvaPadovaParameters, UvaPadovaPatient
from healthtwin.synthetic.cohort_spec import CohortSpec, MeanSd
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
class TargetCheck:
    """One line of the validation report."""

    target: str
    expected: float
    achieved: float
    statistic: float
    p_value: float
    passed: bool


@dataclass(frozen=True)
class HeldOutCheck:
    """One statistic the matching did not force, with its pass band.

    ``expected`` comes from the reference (or the normal of a published mean and SD),
    ``achieved`` from the cohort; ``passed`` when ``lower <= achieved <= upper``.
    """

    check: str
    expected: float
    achieved: float
    lower: float
    upper: float
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
        _write_twins(twins_path(target), self.twins)
        return target


def twins_path(table: Path) -> Path:
    """The twins' sidecar of a cohort table: ``<stem>_twins.npz`` beside it."""
    return table.with_name(table.stem + "_twins.npz")


def _write_twins(path: Path, twins: Sequence[UvaPadovaPatient | None]) -> None:
    rows = [i for i, t in enumerate(twins) if t is not None]
    kept = [t for t in twins if t is not None]
    width = len(UvaPadovaParameters.names())
    np.savez(
        path,
        row=np.asarray(rows, dtype=np.int64),
        name=np.asarray([t.name for t in kept], dtype=str),
        parameter_names=np.asarray(UvaPadovaParameters.names(), dtype=str),
        parameters=(
            np.vstack([t.params.to_matrix() for t in kept]) if kept else np.zeros((0, width))
        ),
        x0=np.vstack([t.x0 for t in kept]) if kept else np.zeros((0, 13)),
        carb_ratio_g_per_u=np.asarray([t.carb_ratio_g_per_u for t in kept], dtype=float),
        correction_factor_mg_dl_per_u=np.asarray(
            [t.correction_factor_mg_dl_per_u for t in kept], dtype=float
        ),
        total_daily_insulin_u=np.asarray([t.total_daily_insulin_u for t in kept], dtype=float),
    )


@dataclass(frozen=True)
class CohortFile:
    """A cohort read back: its table (a pandas DataFrame) and each member's twin."""

    table: Any
    twins: tuple[UvaPadovaPatient | None, ...]


def read_cohort(path: str | Path) -> CohortFile:
    """Read a cohort written by :meth:`VirtualCohort.write`, twins included.

    Raises
    ------
    InvalidInputError
        A missing table or twins file, or a twins file that does not fit the table.

    Examples
    --------
    >>> read_cohort("no/such.csv")
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidInputError: no cohort table at no/such.csv; write one with ...
    """
    import pandas as pd

    table_path = Path(path)
    sidecar = twins_path(table_path)
    if not table_path.is_file():
        raise InvalidInputError(
            f"no cohort table at {table_path}; write one with healthtwin synth cohort"
        )
    if not sidecar.is_file():
        raise InvalidInputError(
            f"no twins file {sidecar} beside {table_path}: the twins' parameters are written "
            "there by healthtwin synth cohort; generate the cohort again"
        )
    table = (
        pd.read_parquet(table_path) if table_path.suffix == ".parquet" else pd.read_csv(table_path)
    )
    try:
        with np.load(sidecar, allow_pickle=False) as saved:
            arrays = {k: saved[k] for k in saved.files}
        names = tuple(str(n) for n in arrays["parameter_names"])
        if names != UvaPadovaParameters.names():
            raise InvalidInputError(f"{sidecar} holds parameters {names}, not UVA/Padova's")
        twins: list[UvaPadovaPatient | None] = [None] * len(table)
        for k, row in enumerate(arrays["row"]):
            twins[int(row)] = UvaPadovaPatient(
                name=str(arrays["name"][k]),
                params=UvaPadovaParameters.from_matrix(arrays["parameters"][[k]]),
                x0=arrays["x0"][k],
                carb_ratio_g_per_u=float(arrays["carb_ratio_g_per_u"][k]),
                correction_factor_mg_dl_per_u=float(arrays["correction_factor_mg_dl_per_u"][k]),
                total_daily_insulin_u=float(arrays["total_daily_insulin_u"][k]),
                source=f"read from {sidecar.name}",
            )
    except (KeyError, IndexError, ValueError, OSError) as err:
        raise InvalidInputError(
            f"{sidecar} does not fit {table_path} ({err}); generate the cohort again"
        ) from err
    return CohortFile(table, tuple(twins))


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


#: Centiles of the targeted variables checked by :func:`held_out_checks`.
_CENTILES = (0.1, 0.5, 0.9)


def _quantile_checks(
    name: str,
    x: FloatArray,
    n_eff: float,
    z: float,
    *,
    source: FloatArray | None = None,
    normal: MeanSd | None = None,
) -> list[HeldOutCheck]:
    """Centiles of ``x`` against the source's (or the normal's), each with its band.

    The band is the expected quantile function at ``p -/+ z se(p)``, ``se(p)`` the binomial
    standard error of a proportion over the cohort (and the source, when given).
    """
    m_ref = np.inf if source is None else float(source.size)
    checks = []
    for p in _CENTILES:
        half = z * float(np.sqrt(p * (1.0 - p) * (1.0 / n_eff + 1.0 / m_ref)))
        probs = np.clip(np.array([p - half, p, p + half]), 1e-6, 1.0 - 1e-6)
        if source is not None:
            lo, mid, hi = np.quantile(source, probs)
        else:
            assert normal is not None  # one of the two is given by the caller
            lo, mid, hi = stats.norm.ppf(probs, normal.mean, normal.sd)
        got = float(np.quantile(x, p))
        checks.append(
            HeldOutCheck(f"{name} q{round(100 * p)}", float(mid), got, float(lo), float(hi),
                         bool(lo <= got <= hi))
        )  # fmt: skip
    return checks


def held_out_checks(
    spec: CohortSpec,
    cols: dict[str, FloatArray],
    *,
    reference: Any = None,
    n_effective: float | None = None,
    alpha: float = 0.01,
) -> tuple[HeldOutCheck, ...]:
    """Statistics the matching did not force, each with a band at ``alpha``.

    Parameters
    ----------
    spec
        The cohort's specification (which variables have mean/SD targets).
    cols
        The cohort's columns, each ``(n,)`` (``VirtualCohort.columns``).
    reference
        The source table (a mapping of columns, e.g. a DataFrame) or None.
    n_effective
        The cohort's effective size (default ``n``).
    alpha
        One minus the band's coverage.

    Examples
    --------
    >>> from healthtwin.synthetic.cohort_spec import CohortSpec, MeanSd
    >>> spec = CohortSpec.model_validate(
    ...     {"name": "demo", "targets": {"age_years": {"mean": 50, "sd": 10}}})
    >>> ages = np.random.default_rng(0).normal(50, 10, 400)
    >>> [(c.check, c.passed) for c in held_out_checks(spec, {"age_years": ages})]
    [('age_years q10', True), ('age_years q50', True), ('age_years q90', True)]
    """
    n = cols["age_years"].size
    n_eff = float(n if n_effective is None else min(n_effective, n))
    z = float(stats.norm.ppf(1.0 - alpha / 2.0))
    ref = {} if reference is None else {str(k): np.asarray(reference[k]) for k in reference}
    checks: list[HeldOutCheck] = []
    t = spec.targets
    for name, target in (
        ("age_years", t.age_years),
        ("bmi_kg_m2", t.bmi_kg_m2),
        ("hba1c_percent", t.hba1c_percent),
    ):
        if name in ref:
            source = np.asarray(ref[name], dtype=np.float64)
            checks += _quantile_checks(
                f"{name} (vs reference)", cols[name], n_eff, z, source=source[np.isfinite(source)]
            )
        elif target is not None:
            checks += _quantile_checks(name, cols[name], n_eff, z, normal=target)
    if {"age_years", "bmi_kg_m2"} <= set(ref):
        checks.append(_correlation_check(cols, ref, n_eff, z))
    for condition in ("diabetes", "hypertension"):
        if condition in ref and "age_years" in ref and condition in cols:
            checks += _prevalence_by_age(condition, cols, ref, n_eff / n, z)
    return tuple(checks)


def _correlation_check(
    cols: dict[str, FloatArray], ref: dict[str, Any], n_eff: float, z: float
) -> HeldOutCheck:
    a, b = np.asarray(ref["age_years"], dtype=float), np.asarray(ref["bmi_kg_m2"], dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    r_ref = float(np.corrcoef(a[ok], b[ok])[0, 1])
    r_got = float(np.corrcoef(cols["age_years"], cols["bmi_kg_m2"])[0, 1])
    se = np.sqrt(1.0 / max(n_eff - 3, 1) + 1.0 / max(ok.sum() - 3, 1))
    lo, hi = np.tanh(np.arctanh(r_ref) - z * se), np.tanh(np.arctanh(r_ref) + z * se)
    return HeldOutCheck("corr(age_years, bmi_kg_m2)", r_ref, r_got, float(lo), float(hi),
                        bool(lo <= r_got <= hi))  # fmt: skip


def _prevalence_by_age(
    condition: str, cols: dict[str, FloatArray], ref: dict[str, Any], share: float, z: float
) -> list[HeldOutCheck]:
    ref_age = np.asarray(ref["age_years"], dtype=float)
    ref_has = np.asarray(ref[condition], dtype=float) > 0
    edges = np.quantile(ref_age, [0.0, 1 / 3, 2 / 3, 1.0])
    checks = []
    for lo_age, hi_age in itertools.pairwise(edges):
        in_ref = (ref_age >= lo_age) & (ref_age <= hi_age)
        in_cohort = (cols["age_years"] >= lo_age) & (cols["age_years"] <= hi_age)
        if in_ref.sum() < 2 or in_cohort.sum() < 2:
            continue
        p_ref = float(ref_has[in_ref].mean())
        p_got = float((cols[condition][in_cohort] > 0).mean())
        pooled = max(p_ref * (1 - p_ref), 1.0 / (4 * in_ref.sum()))
        se = np.sqrt(pooled * (1.0 / (share * in_cohort.sum()) + 1.0 / in_ref.sum()))
        lo, hi = max(0.0, p_ref - z * se), min(1.0, p_ref + z * se)
        checks.append(
            HeldOutCheck(f"{condition} fraction, age {lo_age:.0f}-{hi_age:.0f}", p_ref, p_got,
                         float(lo), float(hi), bool(lo <= p_got <= hi))
        )  # fmt: skip
    return checks


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
    features, goals = _features(spec, cols)
    weights = entropy_balance(features, goals)
    chosen = _systematic(weights, n, streams.generator("matching"))
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
