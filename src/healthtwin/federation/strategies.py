"""FedAvg and FedProx: aggregation as pure functions, rounds as records, failures as data.

FedAvg (McMahan et al. 2017): each sampled site takes ``local_steps`` gradient steps from
the global parameters; the server averages the returned parameters weighted by the sites'
numbers of patients. FedProx (Li et al. 2020) aggregates the same way but adds
``mu / 2 |theta - theta_global|^2`` to each site's objective, which keeps sites with
different case mix from drifting apart. With differential privacy on
(:class:`~healthtwin.federation.privacy.DifferentialPrivacy`) the server averages the
clipped updates ``theta_k - theta`` with equal weights and Gaussian noise instead
(DP-FedAvg), since a weight by site size would leak the size and break the sensitivity.

A site that does not answer, or whose training fails, is recorded in the round's
:class:`RoundRecord` (``failed``) and the round goes on with the others. The same
functions serve the in-process loop (:func:`run_in_process`, for tests and the benchmark)
and the Flower ServerApp (:mod:`~healthtwin.federation.apps`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidParameterError, ShapeError, TwinError
from healthtwin.federation.models import FederatedModel, LocalResult, train_locally
from healthtwin.federation.privacy import DifferentialPrivacy, private_mean
from healthtwin.federation.sites import SiteData

__all__ = [
    "FederationConfig",
    "FederationResult",
    "RoundRecord",
    "SiteReply",
    "aggregate",
    "close_round",
    "fedavg",
    "run_in_process",
    "sample_sites",
    "train_at_site",
    "weighted_metrics",
]

Strategy = Literal["fedavg", "fedprox"]


@dataclass(frozen=True)
class FederationConfig:
    """How a federation trains (module docstring).

    Attributes
    ----------
    rounds : int
        Number of rounds.
    strategy : {"fedavg", "fedprox"}
        Aggregation strategy; FedProx uses ``proximal_mu``.
    proximal_mu : float
        FedProx's proximal weight (ignored by FedAvg).
    local_steps, learning_rate : int, float
        Full-batch gradient steps per round at each site, and their step size.
    fraction_sites, min_sites : float, int
        Share of sites sampled per round, and the least number sampled.
    dropout_probability : float
        In-process only: chance that a sampled site fails in a round (to test failure
        tolerance).
    dp : DifferentialPrivacy or None
        Clipping and noise on the updates; ``None`` for none.
    seed : int
        Seed of site sampling, dropouts and noise.
    secure_aggregation : bool
        Aggregate over Flower's SecAgg+ (:mod:`~healthtwin.federation.secure_aggregation`)
        so that the server sees only the sum. The Flower apps honour it; the in-process
        loop computes the same FedAvg aggregate in the clear (its reference).
    secagg_clipping_range : float
        SecAgg+'s ``c``: each site's weighted update must lie in ``[-c, c]``.
    """

    rounds: int = 5
    strategy: Strategy = "fedavg"
    proximal_mu: float = 0.1
    local_steps: int = 10
    learning_rate: float = 0.5
    fraction_sites: float = 1.0
    min_sites: int = 1
    dropout_probability: float = 0.0
    dp: DifferentialPrivacy | None = None
    seed: int = 0
    secure_aggregation: bool = False
    secagg_clipping_range: float = 8.0

    def __post_init__(self) -> None:
        if self.strategy not in ("fedavg", "fedprox"):
            raise InvalidParameterError(
                f"strategy = {self.strategy!r}; choose 'fedavg' or 'fedprox'"
            )
        if self.rounds < 1 or self.local_steps < 1 or self.min_sites < 1:
            raise InvalidParameterError(
                f"rounds = {self.rounds}, local_steps = {self.local_steps}, min_sites = "
                f"{self.min_sites}; each must be at least 1"
            )
        if not (0.0 < self.fraction_sites <= 1.0 and 0.0 <= self.dropout_probability < 1.0):
            raise InvalidParameterError(
                f"fraction_sites = {self.fraction_sites} must be in (0, 1] and "
                f"dropout_probability = {self.dropout_probability} in [0, 1)"
            )
        if not (self.learning_rate > 0.0 and self.proximal_mu >= 0.0):
            raise InvalidParameterError(
                f"learning_rate = {self.learning_rate} must be positive and proximal_mu = "
                f"{self.proximal_mu} non-negative"
            )

    @property
    def mu(self) -> float:
        """The proximal weight actually used (0 for FedAvg)."""
        return self.proximal_mu if self.strategy == "fedprox" else 0.0


@dataclass(frozen=True)
class SiteReply:
    """One site's answer in a round: its result, or why it has none."""

    site: str
    result: LocalResult | None
    error: str = ""


@dataclass(frozen=True)
class RoundRecord:
    """What happened in one round.

    Attributes
    ----------
    round : int
        1-based round number.
    sampled : tuple of str
        Sites asked to train.
    failed : tuple of (str, str)
        Sites that did not return an update, with the reason.
    train_loss : float
        Patient-weighted mean loss of the answering sites at the round's start parameters.
    metrics : dict of str to float
        Federated evaluation of the new global model (patient-weighted mean over sites).
    n_clipped : int
        Updates longer than the DP clip norm (0 without DP).
    epsilon : float
        Exact epsilon spent so far (0 without DP).
    bytes_sent, bytes_received : int
        Parameter payload from and to the server in the round.
    seconds : float
        Wall time of the round.
    """

    round: int
    sampled: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]
    train_loss: float
    metrics: Mapping[str, float]
    n_clipped: int = 0
    epsilon: float = 0.0
    bytes_sent: int = 0
    bytes_received: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready view."""
        return {
            "round": self.round,
            "sampled": list(self.sampled),
            "failed": [list(f) for f in self.failed],
            "train_loss": self.train_loss,
            "metrics": dict(self.metrics),
            "n_clipped": self.n_clipped,
            "epsilon": self.epsilon,
            "bytes_sent": self.bytes_sent,
            "bytes_received": self.bytes_received,
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class FederationResult:
    """The final global parameters and every round's record."""

    theta: FloatArray
    rounds: tuple[RoundRecord, ...] = field(default=())


def fedavg(thetas: FloatArray, weights: FloatArray) -> FloatArray:
    """Weighted mean of parameter vectors.

    Parameters
    ----------
    thetas : ndarray, shape (m, p)
    weights : ndarray, shape (m,)
        Non-negative, not all zero (numbers of patients).

    Examples
    --------
    >>> fedavg(np.array([[0.0, 1.0], [1.0, 3.0]]), np.array([1.0, 3.0])).tolist()
    [0.75, 2.5]
    """
    thetas = np.asarray(thetas, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    if thetas.ndim != 2 or weights.shape != (thetas.shape[0],):
        raise ShapeError(
            f"thetas {thetas.shape} and weights {weights.shape} must be (m, p) and (m,)"
        )
    if np.any(weights < 0.0) or not weights.sum() > 0.0:
        raise InvalidParameterError(f"weights {weights.tolist()} must be >= 0, not all zero")
    return np.asarray(weights @ thetas / weights.sum(), dtype=np.float64)


def aggregate(
    theta: FloatArray,
    results: Sequence[LocalResult],
    dp: DifferentialPrivacy | None,
    rng: np.random.Generator,
) -> tuple[FloatArray, int]:
    """New global parameters from the sites' results (FedAvg, or DP-FedAvg with ``dp``).

    Returns the parameters and the number of clipped updates; with no results the
    parameters are unchanged.

    Examples
    --------
    >>> r = [LocalResult(np.array([1.0]), 0.0, 1), LocalResult(np.array([3.0]), 0.0, 3)]
    >>> aggregate(np.zeros(1), r, None, np.random.default_rng(0))[0].tolist()
    [2.5]
    """
    if not results:
        return theta, 0
    thetas = np.stack([r.theta for r in results])
    if dp is None:
        return fedavg(thetas, np.array([r.n_patients for r in results], float)), 0
    mean_update, n_clipped = private_mean(thetas - theta, dp, rng)
    return theta + mean_update, n_clipped


def sample_sites(
    sites: Sequence[str], fraction: float, min_sites: int, rng: np.random.Generator
) -> tuple[str, ...]:
    """Sample ``max(min_sites, ceil(fraction * n))`` sites without replacement (sorted).

    Examples
    --------
    >>> sample_sites(["a", "b", "c", "d"], 0.5, 1, np.random.default_rng(0))
    ('c', 'd')
    """
    n = max(min(min_sites, len(sites)), math.ceil(fraction * len(sites)))
    chosen = rng.choice(len(sites), size=n, replace=False)
    return tuple(sites[i] for i in sorted(chosen))


def train_at_site(
    model: FederatedModel, theta: FloatArray, data: SiteData, config: FederationConfig
) -> SiteReply:
    """One site's local training; a failure becomes a reply with the reason."""
    try:
        result = train_locally(
            model,
            theta,
            data,
            steps=config.local_steps,
            learning_rate=config.learning_rate,
            proximal_mu=config.mu,
        )
    except TwinError as err:
        return SiteReply(data.name, None, str(err))
    return SiteReply(data.name, result)


def weighted_metrics(per_site: Sequence[tuple[int, Mapping[str, float]]]) -> dict[str, float]:
    """Patient-weighted mean of each metric over sites.

    Examples
    --------
    >>> weighted_metrics([(1, {"auc": 0.5}), (3, {"auc": 0.9})])
    {'auc': 0.8}
    """
    total = sum(n for n, _ in per_site)
    if total == 0:
        return {}
    names = per_site[0][1].keys()
    return {k: round(sum(n * m[k] for n, m in per_site) / total, 12) for k in names}


def run_in_process(
    model: FederatedModel, sites: Sequence[SiteData], config: FederationConfig
) -> FederationResult:
    """Run the whole federation in one process (same functions as the Flower apps).

    Examples
    --------
    >>> x = np.linspace(-1, 1, 40)[:, None]
    >>> site = SiteData(x, np.ones(40), x[:, 0] > 0)
    >>> from healthtwin.federation.models import LogisticRegression
    >>> result = run_in_process(LogisticRegression(), [site, site], FederationConfig(rounds=2))
    >>> len(result.rounds), result.rounds[-1].metrics["auc"]
    (2, 1.0)
    """
    import time

    rng = np.random.default_rng(config.seed)
    by_name = {s.name: s for s in sites}
    if len(by_name) != len(sites):
        by_name = {f"{s.name}-{k}": s for k, s in enumerate(sites)}
    names = list(by_name)
    theta = np.zeros(model.n_parameters(sites[0].features.shape[1]))
    records: list[RoundRecord] = []
    for round_number in range(1, config.rounds + 1):
        start = time.perf_counter()
        sampled = sample_sites(names, config.fraction_sites, config.min_sites, rng)
        dropped = rng.random(len(sampled)) < config.dropout_probability
        replies = [
            SiteReply(name, None, "site did not answer (simulated dropout)")
            if drop
            else train_at_site(model, theta, by_name[name], config)
            for name, drop in zip(sampled, dropped, strict=True)
        ]
        theta, record = close_round(model, theta, replies, config, rng, round_number)
        metrics = weighted_metrics(_evaluate_sites(model, theta, list(by_name.values())))
        records.append(_with(record, metrics, time.perf_counter() - start, sampled, theta.size))
    return FederationResult(theta, tuple(records))


def _evaluate_sites(
    model: FederatedModel, theta: FloatArray, sites: Sequence[SiteData]
) -> list[tuple[int, Mapping[str, float]]]:
    """Each site's metrics; a site whose metrics are not finite (bad data) is left out."""
    out: list[tuple[int, Mapping[str, float]]] = []
    with np.errstate(invalid="ignore", over="ignore"):
        for site in sites:
            metrics = model.evaluate(theta, site)
            if all(math.isfinite(v) for v in metrics.values()):
                out.append((site.n_patients, metrics))
    return out


def close_round(
    model: FederatedModel,
    theta: FloatArray,
    replies: Sequence[SiteReply],
    config: FederationConfig,
    rng: np.random.Generator,
    round_number: int,
) -> tuple[FloatArray, RoundRecord]:
    """Aggregate a round's replies; the record lists failures, loss, clipping and epsilon."""
    results = [r.result for r in replies if r.result is not None]
    failed = tuple((r.site, r.error) for r in replies if r.result is None)
    new_theta, n_clipped = aggregate(theta, results, config.dp, rng)
    n_total = sum(r.n_patients for r in results)
    loss = sum(r.loss * r.n_patients for r in results) / n_total if n_total else math.nan
    epsilon = config.dp.epsilon(round_number) if config.dp is not None else 0.0
    record = RoundRecord(round_number, (), failed, loss, {}, n_clipped, epsilon)
    return new_theta, record


def _with(
    record: RoundRecord,
    metrics: Mapping[str, float],
    seconds: float,
    sampled: tuple[str, ...],
    n_parameters: int,
) -> RoundRecord:
    answered = len(sampled) - len(record.failed)
    return RoundRecord(
        record.round,
        sampled,
        record.failed,
        record.train_loss,
        dict(metrics),
        record.n_clipped,
        record.epsilon,
        bytes_sent=8 * n_parameters * len(sampled),
        bytes_received=8 * n_parameters * answered,
        seconds=seconds,
    )
