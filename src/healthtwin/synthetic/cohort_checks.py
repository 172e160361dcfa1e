"""Validation report of a virtual cohort: matched targets and held-out statistics.

:func:`validate` tests each target of a :class:`~healthtwin.synthetic.cohort_spec.CohortSpec`
against the cohort (a z-test for proportions and means, a chi-square test for SDs), with a
pass flag at ``alpha``. That check is circular: the matching forced exactly those moments.
:func:`held_out_checks` adds statistics the matching never saw: the 10th, 50th and 90th
centiles of every variable with a mean/SD target, against a ``reference`` table (the
source data) or the normal of the published mean and SD; with a reference, the
correlation of age and BMI (Fisher's z) and each condition's prevalence by age band (the
reference's age terciles). Each band is computed with the cohort's effective size and,
for a reference, the reference's size.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from healthtwin.core.types import FloatArray
from healthtwin.synthetic.cohort_spec import AgePyramid, CohortSpec, MeanSd

__all__ = ["HeldOutCheck", "TargetCheck", "held_out_checks", "validate"]


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
    pyramid: AgePyramid | None = None,
) -> list[HeldOutCheck]:
    """Centiles of ``x`` against the source's (or the pyramid's, or the normal's).

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
        elif pyramid is not None:
            # Uniform within each bin: the quantile interpolates the cumulative shares.
            w = np.asarray(pyramid.weights, dtype=float)
            cum = np.concatenate([[0.0], np.cumsum(w) / w.sum()])
            lo, mid, hi = np.interp(probs, cum, np.asarray(pyramid.edges, dtype=float))
        else:
            assert normal is not None  # one of the two is given by the caller
            lo, mid, hi = stats.norm.ppf(probs, normal.mean, normal.sd)
        got = float(np.quantile(x, p))
        checks.append(
            HeldOutCheck(f"{name} q{round(100 * p)}", float(mid), got, float(lo), float(hi),
                         bool(lo <= got <= hi))
        )  # fmt: skip
    return checks


def _pyramid_matches(pyramid: AgePyramid | None, target: MeanSd | None) -> bool:
    """Whether ages follow ``pyramid`` itself: no age target, or the pyramid's own moments.

    A region's cohort (``regional_spec``) targets its pyramid's mean and SD, so matching
    keeps the pyramid's shape; a spec whose age target differs reshapes it, and its
    centiles are compared with the target's normal instead.
    """
    if pyramid is None:
        return False
    if target is None:
        return True
    w = np.asarray(pyramid.weights, dtype=float) / float(np.sum(pyramid.weights))
    a, b = np.asarray(pyramid.edges[:-1], dtype=float), np.asarray(pyramid.edges[1:], dtype=float)
    mid = (a + b) / 2.0
    mean = float(w @ mid)
    sd = float(np.sqrt(w @ ((b - a) ** 2 / 12.0 + mid**2) - mean**2))
    return abs(mean - target.mean) <= 0.05 * sd and abs(sd - target.sd) <= 0.05 * sd


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
    >>> from healthtwin.synthetic.cohort_spec import AgePyramid, CohortSpec, MeanSd
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
        elif name == "age_years" and _pyramid_matches(spec.age_pyramid, target):
            # Ages were drawn from the pyramid (a region's), not from a normal curve.
            checks += _quantile_checks(
                f"{name} (vs pyramid)", cols[name], n_eff, z, pyramid=spec.age_pyramid
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
