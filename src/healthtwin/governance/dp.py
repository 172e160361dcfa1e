"""Differentially private aggregates through OpenDP: counts, sums, means, histograms, quantiles.

Each release is built as an OpenDP measurement (transformations chained into a noise
mechanism), its noise scale calibrated so that the measurement's own privacy map gives
exactly the requested cost for ``max_contributions`` rows per patient (the neighbouring
relation: add or remove one patient, that is, all of that patient's rows), charged to a
:class:`~healthtwin.governance.privacy_budget.BudgetAccount` *before* the data are touched,
and only then run. Give ``epsilon`` for pure DP (Laplace noise; the exponential mechanism
for quantiles) or ``rho`` for zero-concentrated DP (Gaussian noise).

Every :class:`DPRelease` states its error: ``accuracy`` is the half-width ``a`` with
``P(|noise| > a) <= alpha`` from OpenDP's ``*_scale_to_accuracy`` helpers (for Laplace
``a = scale ln(1/alpha)``). For quantiles the error is in rank units: with probability at
least ``1 - alpha`` the released candidate's score ``|(1-q) #below - q #above|`` exceeds the
best candidate's by at most ``scale ln(n_candidates / alpha)`` (the exponential mechanism
bound; McSherry & Talwar 2007, Dwork & Roth 2014 Theorem 3.11).

OpenDP (Harvard's OpenDP Library, https://opendp.org) requires its ``"contrib"`` feature to
be enabled explicitly for every constructor used here: these are implementations whose
proofs the OpenDP team has not yet vetted completely (its "contrib" policy). We enable it
knowingly, on the grounds that the mechanisms used (Laplace, Gaussian, exponential
mechanism, clamping, resizing, counting) are textbook ones, and tests check their noise
against theory. Randomness comes from OpenDP's own cryptographically secure generator and
cannot be seeded: DP noise must not be reproducible by whoever sees a seed, so releases
are the one place where healthtwin does not take an ``np.random.Generator``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from healthtwin.errors import InvalidInputError, InvalidParameterError, MissingDependencyError
from healthtwin.governance.privacy_budget import BudgetAccount, PrivacyCost, Spend

__all__ = [
    "DPRelease",
    "dp_count",
    "dp_histogram",
    "dp_mean",
    "dp_quantile",
    "dp_sum",
]


@dataclass(frozen=True)
class DPRelease:
    """A released DP aggregate and what it cost.

    Attributes
    ----------
    value : float or tuple of float
        The noisy answer (a histogram: one count per category, then the count of values
        outside the categories).
    mechanism : str
        The noise mechanism (``"discrete laplace"``, ``"laplace"``, ``"gaussian"``...).
    scale : float
        The noise scale (Laplace ``b``, Gaussian ``sigma``, exponential-mechanism scale).
    cost : PrivacyCost
        Epsilon (pure DP) or rho (zCDP) for ``max_contributions`` rows per patient.
    accuracy : float
        Error bound at confidence ``1 - alpha`` (per cell; rank units for quantiles).
    alpha : float
    spend : Spend or None
        The ledger record, when an account was charged.
    """

    value: float | tuple[float, ...]
    mechanism: str
    scale: float
    cost: PrivacyCost
    accuracy: float
    alpha: float
    spend: Spend | None = None


def _opendp() -> ModuleType:
    try:
        import opendp.prelude as dp
    except ImportError as err:
        raise MissingDependencyError(
            "differentially private releases need OpenDP: pip install 'healthtwin[privacy]'"
        ) from err
    # See the module docstring for why "contrib" is enabled.
    dp.enable_features("contrib")
    return dp


def _target(epsilon: float | None, rho: float | None) -> tuple[str, float]:
    if (epsilon is None) == (rho is None):
        raise InvalidParameterError(
            f"give exactly one of epsilon (pure DP) or rho (zCDP), got epsilon={epsilon!r}, "
            f"rho={rho!r}"
        )
    name, value = ("epsilon", epsilon) if epsilon is not None else ("rho", rho)
    assert value is not None
    if not (math.isfinite(value) and value > 0):
        raise InvalidParameterError(f"{name} must be finite and > 0, got {value!r}")
    return name, float(value)


def _check_common(max_contributions: int, alpha: float) -> None:
    if not isinstance(max_contributions, int) or max_contributions < 1:
        raise InvalidParameterError(
            f"max_contributions must be an integer >= 1 (rows per patient), got "
            f"{max_contributions!r}"
        )
    if not 0 < alpha < 1:
        raise InvalidParameterError(f"alpha must be in (0, 1), got {alpha!r}")


def _calibrate(
    build: Callable[[float], Any], d_in: int, kind: str, target: float
) -> tuple[Any, float]:
    """The measurement whose privacy map at ``d_in`` is at most ``target``, and its scale.

    Laplace-type losses fall as ``1/scale``, zCDP losses as ``1/scale**2``; the scale is
    solved from the map at scale 1 and nudged up if rounding leaves it a hair over.
    """
    unit = float(build(1.0).map(d_in))
    scale = unit / target if kind == "epsilon" else math.sqrt(unit / target)
    measurement = build(scale)
    for _ in range(64):
        if float(measurement.map(d_in)) <= target:
            return measurement, scale
        scale = math.nextafter(scale, math.inf) * (1 + 1e-12)
        measurement = build(scale)
    raise InvalidParameterError(
        f"could not calibrate noise to {kind}={target}; the mechanism's privacy map "
        f"gave {measurement.map(d_in)} at scale {scale}"
    )


def _release(
    build: Callable[[float], Any],
    prepare: Callable[[], Any],
    *,
    epsilon: float | None,
    rho: float | None,
    max_contributions: int,
    alpha: float,
    account: BudgetAccount | None,
    query: dict[str, Any],
    accuracy: Callable[[Any, float, str], tuple[float, str]],
) -> DPRelease:
    _check_common(max_contributions, alpha)
    kind, target = _target(epsilon, rho)
    dp = _opendp()
    measurement, scale = _calibrate(build, max_contributions, kind, target)
    bound, mechanism = accuracy(dp, scale, kind)
    loss = float(measurement.map(max_contributions))
    cost = PrivacyCost(epsilon=loss) if kind == "epsilon" else PrivacyCost(rho=loss)
    spend = None
    if account is not None:
        # Refuse before the data are read; charge only once they are known to be valid.
        account.ledger.check(account.project, account.dataset, cost)
    data = prepare()
    if account is not None:
        parameters = {**query, "scale": scale, "max_contributions": max_contributions}
        spend = account.charge(cost, mechanism, parameters)
    value = measurement(data)
    result = tuple(float(v) for v in value) if isinstance(value, list) else float(value)
    return DPRelease(result, mechanism, scale, cost, bound, alpha, spend)


# (integer data, pure DP) -> (OpenDP accuracy helper, mechanism name)
_ACCURACY = {
    (True, "epsilon"): ("discrete_laplacian_scale_to_accuracy", "discrete laplace"),
    (True, "rho"): ("discrete_gaussian_scale_to_accuracy", "discrete gaussian"),
    (False, "epsilon"): ("laplacian_scale_to_accuracy", "laplace"),
    (False, "rho"): ("gaussian_scale_to_accuracy", "gaussian"),
}


def _noise_accuracy(integer: bool, alpha: float) -> Callable[[Any, float, str], tuple[float, str]]:
    def accuracy(dp: Any, scale: float, kind: str) -> tuple[float, str]:
        helper, mechanism = _ACCURACY[integer, kind]
        return float(getattr(dp, helper)(scale, alpha)), mechanism

    return accuracy


def _measure(kind: str, dp: Any) -> Any:
    return dp.m.then_laplace if kind == "epsilon" else dp.m.then_gaussian


def _floats(values: Sequence[float], what: str) -> list[float]:
    try:
        data = [float(v) for v in values]
    except (TypeError, ValueError) as err:
        raise InvalidInputError(f"{what} needs numbers, got {err}") from err
    bad = [v for v in data if not math.isfinite(v)]
    if bad:
        raise InvalidInputError(
            f"{what} got {len(bad)} non-finite values (first {bad[0]!r}); drop or impute them "
            "first (missingness may itself need a DP count)"
        )
    return data


def _bounds(bounds: tuple[float, float]) -> tuple[float, float]:
    lower, upper = (float(b) for b in bounds)
    if not (math.isfinite(lower) and math.isfinite(upper) and lower < upper):
        raise InvalidParameterError(
            f"bounds must be finite with lower < upper, got {bounds!r}; give public bounds "
            "chosen without looking at the data"
        )
    return lower, upper


def dp_count(
    values: Sequence[Any],
    *,
    epsilon: float | None = None,
    rho: float | None = None,
    max_contributions: int = 1,
    alpha: float = 0.05,
    account: BudgetAccount | None = None,
) -> DPRelease:
    """A DP count of rows (discrete Laplace for ``epsilon``, discrete Gaussian for ``rho``).

    The noise scale is ``max_contributions / epsilon`` (Laplace) or
    ``max_contributions / sqrt(2 rho)`` (Gaussian).

    Raises
    ------
    ConsentError
        The account's budget does not cover the release (nothing is computed).

    Examples
    --------
    >>> release = dp_count(range(1000), epsilon=1.0)
    >>> release.scale, release.mechanism, round(release.accuracy, 2)
    (1.0, 'discrete laplace', 3.38)
    >>> abs(release.value - 1000) < 40
    True
    """
    dp = _opendp()
    kind, _ = _target(epsilon, rho)
    domain = dp.vector_domain(dp.atom_domain(T=int)), dp.symmetric_distance()

    def build(scale: float) -> Any:
        return dp.t.make_count(*domain) >> _measure(kind, dp)(scale)

    return _release(
        build,
        lambda: [0] * len(values),
        epsilon=epsilon,
        rho=rho,
        max_contributions=max_contributions,
        alpha=alpha,
        account=account,
        query={"aggregate": "count"},
        accuracy=_noise_accuracy(True, alpha),
    )


def dp_sum(
    values: Sequence[float],
    *,
    bounds: tuple[float, float],
    epsilon: float | None = None,
    rho: float | None = None,
    max_contributions: int = 1,
    alpha: float = 0.05,
    account: BudgetAccount | None = None,
) -> DPRelease:
    """A DP sum of values clamped to public ``bounds`` (Laplace or Gaussian noise).

    The sensitivity is the one OpenDP's privacy map proves: ``max(|lower|, |upper|)``
    when the bounds have one sign, ``upper - lower`` when they straddle zero (OpenDP sums
    the positive and negative parts separately), times ``max_contributions``, plus a
    relative allowance of about 1e-8 for floating-point rounding of the sum.

    Examples
    --------
    >>> release = dp_sum([1.0, 2.0, 3.0], bounds=(0.0, 10.0), epsilon=1.0)
    >>> release.mechanism, round(release.scale, 6)
    ('laplace', 10.0)
    """
    dp = _opendp()
    kind, _ = _target(epsilon, rho)
    lower, upper = _bounds(bounds)
    domain = dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.symmetric_distance()

    def build(scale: float) -> Any:
        clamp = dp.t.make_clamp(*domain, bounds=(lower, upper))
        return clamp >> dp.t.then_sum() >> _measure(kind, dp)(scale)

    return _release(
        build,
        lambda: _floats(values, "dp_sum"),
        epsilon=epsilon,
        rho=rho,
        max_contributions=max_contributions,
        alpha=alpha,
        account=account,
        query={"aggregate": "sum", "bounds": [lower, upper]},
        accuracy=_noise_accuracy(False, alpha),
    )


def dp_mean(
    values: Sequence[float],
    *,
    bounds: tuple[float, float],
    size: int,
    epsilon: float | None = None,
    rho: float | None = None,
    max_contributions: int = 1,
    alpha: float = 0.05,
    account: BudgetAccount | None = None,
) -> DPRelease:
    """A DP mean over a public number of rows ``size``.

    Values are clamped to ``bounds``, then resized to ``size`` rows (extra rows dropped at
    random, missing ones filled with the midpoint of the bounds), so the sensitivity is
    ``max_contributions * (upper - lower) / size``. A ``size`` far from the true count
    biases the mean towards the midpoint: use a DP count or a published total.

    Examples
    --------
    >>> release = dp_mean([50.0] * 100, bounds=(0.0, 100.0), size=100, epsilon=1.0)
    >>> round(release.scale, 6), abs(release.value - 50) < 10
    (1.0, True)
    """
    dp = _opendp()
    kind, _ = _target(epsilon, rho)
    lower, upper = _bounds(bounds)
    if not isinstance(size, int) or size < 1:
        raise InvalidParameterError(f"size must be a public row count >= 1, got {size!r}")
    domain = dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.symmetric_distance()

    def build(scale: float) -> Any:
        clamp = dp.t.make_clamp(*domain, bounds=(lower, upper))
        resized = clamp >> dp.t.then_resize(size=size, constant=(lower + upper) / 2)
        return resized >> dp.t.then_mean() >> _measure(kind, dp)(scale)

    return _release(
        build,
        lambda: _floats(values, "dp_mean"),
        epsilon=epsilon,
        rho=rho,
        max_contributions=max_contributions,
        alpha=alpha,
        account=account,
        query={"aggregate": "mean", "bounds": [lower, upper], "size": size},
        accuracy=_noise_accuracy(False, alpha),
    )


def dp_histogram(
    values: Sequence[Any],
    *,
    categories: Sequence[str],
    epsilon: float | None = None,
    rho: float | None = None,
    max_contributions: int = 1,
    alpha: float = 0.05,
    account: BudgetAccount | None = None,
) -> DPRelease:
    """DP counts per public category, plus one count of values outside them.

    Each row changes one count, so the scale is ``max_contributions / epsilon`` for every
    cell (discrete Laplace) and ``accuracy`` holds per cell.

    Examples
    --------
    >>> release = dp_histogram(["a"] * 500 + ["b"] * 300, categories=["a", "b"], epsilon=1.0)
    >>> len(release.value), release.scale
    (3, 1.0)
    """
    dp = _opendp()
    kind, _ = _target(epsilon, rho)
    names = [str(c) for c in categories]
    if not names or len(set(names)) != len(names):
        raise InvalidParameterError(
            f"categories must be a non-empty list of distinct public labels, got {names!r}"
        )
    domain = dp.vector_domain(dp.atom_domain(T=str)), dp.symmetric_distance()
    metric = dp.L1Distance[int] if kind == "epsilon" else dp.L2Distance[int]

    def build(scale: float) -> Any:
        counts = dp.t.make_count_by_categories(*domain, categories=names, MO=metric)
        return counts >> _measure(kind, dp)(scale)

    return _release(
        build,
        lambda: [str(v) for v in values],
        epsilon=epsilon,
        rho=rho,
        max_contributions=max_contributions,
        alpha=alpha,
        account=account,
        query={"aggregate": "histogram", "categories": names},
        accuracy=_noise_accuracy(True, alpha),
    )


def dp_quantile(
    values: Sequence[float],
    *,
    candidates: Sequence[float],
    quantile: float = 0.5,
    epsilon: float | None = None,
    rho: float | None = None,
    max_contributions: int = 1,
    alpha: float = 0.05,
    account: BudgetAccount | None = None,
) -> DPRelease:
    """A DP quantile chosen among public ``candidates`` by the exponential mechanism.

    OpenDP's ``make_private_quantile`` scores candidate ``c`` by
    ``|(1-q) #{x < c} - q #{x > c}|`` and selects with noise of ``scale``; ``accuracy`` is
    ``scale * ln(len(candidates) / alpha)``, the excess score (in rows) the release stays
    within with probability ``1 - alpha``.

    Examples
    --------
    >>> release = dp_quantile([float(i % 100) for i in range(1000)],
    ...                       candidates=[float(c) for c in range(0, 101, 10)], epsilon=1.0)
    >>> release.value in {40.0, 50.0, 60.0}, release.mechanism
    (True, 'exponential')
    """
    dp = _opendp()
    kind, _ = _target(epsilon, rho)
    grid = _floats(candidates, "dp_quantile candidates")
    if len(grid) < 2 or any(b <= a for a, b in itertools.pairwise(grid)):
        raise InvalidParameterError(
            "candidates must be at least two public values in strictly increasing order, "
            f"got {grid[:5]}..."
        )
    if not 0 < quantile < 1:
        raise InvalidParameterError(f"quantile must be in (0, 1), got {quantile!r}")
    domain = dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.symmetric_distance()
    measure = dp.max_divergence() if kind == "epsilon" else dp.zero_concentrated_divergence()

    def build(scale: float) -> Any:
        return dp.m.make_private_quantile(
            *domain, measure, candidates=grid, alpha=quantile, scale=scale
        )

    def accuracy(dp: Any, scale: float, kind: str) -> tuple[float, str]:
        return scale * math.log(len(grid) / alpha), "exponential"

    return _release(
        build,
        lambda: _floats(values, "dp_quantile"),
        epsilon=epsilon,
        rho=rho,
        max_contributions=max_contributions,
        alpha=alpha,
        account=account,
        query={"aggregate": "quantile", "quantile": quantile, "n_candidates": len(grid)},
        accuracy=accuracy,
    )
