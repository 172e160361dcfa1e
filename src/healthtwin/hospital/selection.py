"""Choosing among candidate plans by simulation, with common random numbers.

Two procedures share one calling convention: ``evaluate(candidate, replications, seed)``
runs ``replications`` independent replications of a candidate and returns one value per
replication (an array, or a mapping from metric name to array). Every candidate is
evaluated with the same ``seed`` at each stage, so candidates see common random numbers.

- :func:`select_plan` returns the **cheapest feasible** candidate under stochastic
  constraints such as ``ed_4h_breach<0.05``. A candidate is declared feasible when the
  one-sided Student-t confidence bound of every constrained mean is on the right side of
  its threshold, infeasible when one is clearly on the wrong side, and undecided
  candidates get more replications (doubling) up to a budget, as in the sequential
  feasibility checks of Andradóttir & Kim (Naval Res. Logist. 2010). Bonferroni over
  candidates, constraints and looks gives the guarantee: the chosen plan meets every
  constraint with probability at least ``confidence``.
- :func:`select_best` is the fully sequential KN procedure of Kim & Nelson (ACM TOMACS
  2001): with an indifference zone ``delta`` it picks the candidate with the best mean
  with probability at least ``confidence`` when the best leads by at least ``delta``.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

import numpy as np
from scipy import stats

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError

__all__ = [
    "Candidate",
    "CandidateResult",
    "Constraint",
    "MetricInterval",
    "Selection",
    "parse_targets",
    "select_best",
    "select_plan",
]

T = TypeVar("T")
Op = Literal["<", "<=", ">", ">="]
Evaluate = Callable[["Candidate[T]", int, int], FloatArray | Mapping[str, FloatArray]]

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_TARGET = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(<=|>=|<|>)\s*([-+0-9.eE]+)\s*$")


@dataclass(frozen=True)
class Constraint:
    """A target on the mean of one metric, e.g. ``Constraint("ed_4h_breach", "<", 0.05)``."""

    metric: str
    op: Op
    threshold: float

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise InvalidParameterError(
                f"constraint op must be one of {sorted(_OPS)}, got {self.op!r}"
            )
        if not math.isfinite(self.threshold):
            raise InvalidParameterError(f"constraint threshold must be finite: {self}")

    @property
    def upper(self) -> bool:
        """Whether the metric must stay below the threshold."""
        return self.op in ("<", "<=")

    def is_met(self, value: float) -> bool:
        """Whether ``value`` satisfies the constraint."""
        return _OPS[self.op](value, self.threshold)

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.threshold:g}"


def parse_targets(text: str) -> tuple[Constraint, ...]:
    """Constraints from text such as ``"ed_4h_breach<0.05, wait_hours.icu<=2"``.

    Parameters
    ----------
    text
        Comma-separated ``metric OP number`` targets; OP is ``<``, ``<=``, ``>`` or ``>=``.

    Returns
    -------
    tuple of Constraint
        One constraint per target, in the order given.

    Raises
    ------
    InvalidInputError
        If a target does not parse; the message quotes it and shows the expected form.

    Examples
    --------
    >>> parse_targets("ed_4h_breach<0.05, occupancy.ward>=0.7")
    (Constraint(metric='ed_4h_breach', op='<', threshold=0.05), Constraint(metric='occupancy.ward', op='>=', threshold=0.7))
    """  # noqa: E501
    parts = [part for part in text.split(",") if part.strip()]
    if not parts:
        raise InvalidInputError(
            f"no target given in {text!r}; write e.g. 'ed_4h_breach<0.05' "
            "(several: comma-separated)"
        )
    constraints = []
    for part in parts:
        match = _TARGET.match(part)
        threshold = _number(match.group(3)) if match else None
        if match is None or threshold is None:
            raise InvalidInputError(
                f"cannot read target {part.strip()!r}: write METRIC OP NUMBER with OP one of "
                "<, <=, >, >=, e.g. 'ed_4h_breach<0.05'"
            )
        op: Op = match.group(2)  # type: ignore[assignment]
        constraints.append(Constraint(match.group(1), op, threshold))
    return tuple(constraints)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class Candidate(Generic[T]):
    """One plan to compare: a name, the plan itself (e.g. a config) and its cost."""

    name: str
    plan: T
    cost: float


@dataclass(frozen=True)
class MetricInterval:
    """Mean of a metric over replications with a two-sided ``level`` confidence interval."""

    mean: float
    low: float
    high: float
    level: float


@dataclass(frozen=True)
class CandidateResult:
    """How one candidate fared: per-metric intervals, the verdict and replications used.

    ``status`` is ``"feasible"``, ``"infeasible"`` or ``"undecided"`` (the budget ran out
    before the confidence bounds separated from a threshold; treated as not feasible).
    """

    name: str
    cost: float
    metrics: Mapping[str, MetricInterval]
    status: Literal["feasible", "infeasible", "undecided", "not evaluated"]
    replications: int

    @property
    def feasible(self) -> bool:
        """Whether the candidate was declared feasible."""
        return self.status == "feasible"


@dataclass(frozen=True)
class Selection(Generic[T]):
    """The chosen candidate (``None`` when none qualified) and a row for every candidate."""

    best: Candidate[T] | None
    table: tuple[CandidateResult, ...]
    confidence: float

    def row(self, name: str) -> CandidateResult:
        """The table row of the candidate called ``name``."""
        for result in self.table:
            if result.name == name:
                return result
        raise InvalidParameterError(
            f"no candidate named {name!r}; candidates: {[r.name for r in self.table]}"
        )


def _as_metrics(
    values: FloatArray | Mapping[str, FloatArray], metrics: Sequence[str]
) -> dict[str, FloatArray]:
    if isinstance(values, Mapping):
        missing = [m for m in metrics if m not in values]
        if missing:
            raise InvalidParameterError(
                f"evaluate returned no values for {missing}; it returned {sorted(values)}"
            )
        return {m: np.asarray(values[m], dtype=np.float64).ravel() for m in metrics}
    if len(metrics) != 1:
        raise InvalidParameterError(
            f"evaluate returned one array but {len(metrics)} metrics are constrained; "
            "return a mapping from metric name to values"
        )
    return {metrics[0]: np.asarray(values, dtype=np.float64).ravel()}


def _interval(values: FloatArray, level: float) -> MetricInterval:
    mean = float(values.mean())
    if values.size < 2:
        return MetricInterval(mean, -math.inf, math.inf, level)
    half = float(stats.t.ppf(0.5 + level / 2, values.size - 1)) * _stderr(values)
    return MetricInterval(mean, mean - half, mean + half, level)


def _stderr(values: FloatArray) -> float:
    return float(values.std(ddof=1) / math.sqrt(values.size))


def _verdict(
    values: Mapping[str, FloatArray], constraints: Sequence[Constraint], alpha: float
) -> Literal["feasible", "infeasible", "undecided"]:
    verdicts = []
    for constraint in constraints:
        x = values[constraint.metric]
        quantile = float(stats.t.ppf(1.0 - alpha, x.size - 1)) if x.size > 1 else math.inf
        half = quantile * _stderr(x) if x.size > 1 else math.inf
        # Bound on the side that must be proven: below a "<" threshold, above a ">" one.
        proof = x.mean() + half if constraint.upper else x.mean() - half
        refute = x.mean() - half if constraint.upper else x.mean() + half
        if constraint.is_met(float(proof)):
            verdicts.append("feasible")
        elif not constraint.is_met(float(refute)):
            verdicts.append("infeasible")
        else:
            verdicts.append("undecided")
    if "infeasible" in verdicts:
        return "infeasible"
    return "undecided" if "undecided" in verdicts else "feasible"


def _check_budget(initial: int, maximum: int, confidence: float) -> None:
    if initial < 2:
        raise InvalidParameterError(f"initial replications must be >= 2, got {initial!r}")
    if maximum < initial:
        raise InvalidParameterError(
            f"max_replications ({maximum!r}) must be >= initial replications ({initial!r})"
        )
    if not 0.5 <= confidence < 1.0:
        raise InvalidParameterError(f"confidence must be in [0.5, 1), got {confidence!r}")


def select_plan(
    candidates: Sequence[Candidate[T]],
    evaluate: Evaluate[T],
    constraints: Constraint | Sequence[Constraint],
    *,
    confidence: float = 0.95,
    replications: int = 10,
    max_replications: int = 80,
    seed: int = 0,
) -> Selection[T]:
    """The cheapest candidate whose constrained means meet their targets, with confidence.

    Parameters
    ----------
    candidates
        Plans with distinct names and their costs.
    evaluate
        ``evaluate(candidate, n, seed)`` -> values of ``n`` replications (an array for a
        single constrained metric, or a mapping from metric name to array).
    constraints
        One constraint or several (all must hold).
    confidence
        Probability that the chosen plan truly meets every constraint.
    replications
        Replications per candidate in the first stage (>= 2).
    max_replications
        Budget per candidate; stages double the replications until it is reached.
    seed
        Stage ``s`` evaluates every candidate with seed ``seed + s`` (common random numbers).

    Returns
    -------
    Selection
        ``best`` is the cheapest feasible candidate (``None`` if none was proven
        feasible); ``table`` lists every candidate, cheapest first.

    Raises
    ------
    InvalidParameterError
        If candidates are empty or share names, or a budget or ``confidence`` is invalid.

    Examples
    --------
    >>> def evaluate(candidate, n, seed):
    ...     rng = np.random.default_rng(seed)
    ...     return 1.0 / candidate.plan + rng.normal(0.0, 0.01, n)
    >>> plans = [Candidate(f"c{c}", c, float(c)) for c in (2, 4, 8)]
    >>> select_plan(plans, evaluate, Constraint("wait", "<", 0.3)).best.name
    'c4'
    """
    _check_budget(replications, max_replications, confidence)
    names = [c.name for c in candidates]
    if not candidates or len(set(names)) != len(names):
        raise InvalidParameterError(f"candidates must be non-empty with distinct names: {names}")
    targets = (constraints,) if isinstance(constraints, Constraint) else tuple(constraints)
    metrics = list(dict.fromkeys(c.metric for c in targets))
    looks = 1 + math.ceil(math.log2(max_replications / replications))
    alpha = (1.0 - confidence) / (len(candidates) * len(targets) * looks)
    ordered = sorted(candidates, key=lambda c: (c.cost, c.name))
    values = {c.name: _as_metrics(evaluate(c, replications, seed), metrics) for c in ordered}
    status = {c.name: _verdict(values[c.name], targets, alpha) for c in ordered}
    best: Candidate[T] | None = None
    for candidate in ordered:
        stage, n = 1, replications
        while status[candidate.name] == "undecided" and n < max_replications:
            extra = min(n, max_replications - n)
            more = _as_metrics(evaluate(candidate, extra, seed + stage), metrics)
            values[candidate.name] = {
                m: np.concatenate([values[candidate.name][m], more[m]]) for m in metrics
            }
            status[candidate.name] = _verdict(values[candidate.name], targets, alpha)
            stage, n = stage + 1, n + extra
        if status[candidate.name] == "feasible":
            best = candidate
            break
    table = tuple(
        CandidateResult(
            c.name,
            c.cost,
            {m: _interval(values[c.name][m], confidence) for m in metrics},
            status[c.name],
            int(values[c.name][metrics[0]].size),
        )
        for c in ordered
    )
    return Selection(best, table, confidence)


def select_best(
    candidates: Sequence[Candidate[T]],
    evaluate: Evaluate[T],
    metric: str,
    *,
    minimize: bool = True,
    indifference: float,
    confidence: float = 0.95,
    replications: int = 10,
    max_replications: int = 1000,
    batch: int = 1,
    seed: int = 0,
) -> Selection[T]:
    """The candidate with the best mean ``metric`` by Kim & Nelson's KN procedure.

    Parameters
    ----------
    candidates
        At least two plans with distinct names.
    evaluate
        As for :func:`select_plan`; the same seed per stage gives common random numbers.
    metric
        The metric compared (its key when ``evaluate`` returns a mapping).
    minimize
        Whether smaller is better.
    indifference
        ``delta > 0``: differences smaller than this do not matter.
    confidence
        Probability of correct selection when the best leads by ``delta`` or more.
    replications
        First-stage replications ``n0`` (>= 2), from which difference variances are taken.
    max_replications
        Budget per candidate; survivors at the budget are ranked by sample mean.
    batch
        Replications added per survivor per stage (1 is KN exactly; larger batches look
        less often, which only makes elimination more cautious).
    seed
        Stage ``s`` uses seed ``seed + s``.

    Returns
    -------
    Selection
        ``best`` is the selected candidate; every row's ``status`` is ``"feasible"`` for
        the winner and ``"infeasible"`` for eliminated ones.

    Raises
    ------
    InvalidParameterError
        If fewer than two candidates, ``indifference <= 0`` or an invalid budget.

    Examples
    --------
    >>> def evaluate(candidate, n, seed):
    ...     return candidate.plan + np.random.default_rng(seed).normal(0.0, 1.0, n)
    >>> plans = [Candidate(f"m{m}", float(m), 1.0) for m in (0, 2, 3)]
    >>> select_best(plans, evaluate, "x", indifference=0.5).best.name
    'm0'
    """
    _check_budget(replications, max_replications, confidence)
    if len(candidates) < 2 or len({c.name for c in candidates}) != len(candidates):
        raise InvalidParameterError("select_best needs at least two candidates, distinct names")
    if not indifference > 0:
        raise InvalidParameterError(f"indifference must be positive, got {indifference!r}")
    k, sign = len(candidates), (-1.0 if minimize else 1.0)
    eta = 0.5 * ((2.0 * (1.0 - confidence) / (k - 1)) ** (-2.0 / (replications - 1)) - 1.0)
    h2 = 2.0 * eta * (replications - 1)
    samples = [
        sign * _as_metrics(evaluate(c, replications, seed), [metric])[metric] for c in candidates
    ]
    first = np.stack(samples)
    var = np.var(first[:, None, :] - first[None, :, :], axis=2, ddof=1)
    alive = np.ones(k, dtype=bool)
    r, stage = replications, 1
    while True:
        means = np.array([x[:r].mean() for x in samples])
        width = np.maximum(0.0, indifference / (2 * r) * (h2 * var / indifference**2 - r))
        beaten = (means[:, None] < means[None, :] - width) & alive[None, :]
        np.fill_diagonal(beaten, False)
        alive &= ~beaten.any(axis=1)
        if alive.sum() == 1 or r >= max_replications:
            break
        extra = min(batch, max_replications - r)
        for i in map(int, np.flatnonzero(alive)):
            more = _as_metrics(evaluate(candidates[i], extra, seed + stage), [metric])[metric]
            samples[i] = np.concatenate([samples[i], sign * more])
        r, stage = r + extra, stage + 1
    winner = int(np.flatnonzero(alive)[np.argmax(means[alive])])
    table = tuple(
        CandidateResult(
            c.name,
            c.cost,
            {metric: _interval(sign * samples[i], confidence)},
            "feasible" if i == winner else "infeasible",
            int(samples[i].size),
        )
        for i, c in enumerate(candidates)
    )
    return Selection(candidates[winner], table, confidence)
