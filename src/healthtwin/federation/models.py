"""Models a federation can train: a parameter vector, a loss and its gradient, in numpy.

What travels between sites and server is one float vector ``theta`` of length ``p``; what a
site computes is the mean loss over its ``n_k`` patients and its gradient. With weights
``n_k / N`` the weighted sum of site losses is the loss of the whole federation.

- :class:`LogisticRegression`: ``theta = (b, w)``, mean log-loss of ``sigmoid(b + x'w)``
  plus ``l2 / 2 |w|^2``.
- :class:`~healthtwin.federation.forecasting.GlucoseRidge`: ridge regression of the
  glucose change 30/60 min ahead (the hybrid forecaster's learning problem).
- :class:`CoxPH`: ``theta = beta``, minus Breslow's log partial likelihood (Breslow 1974)
  divided by ``n_k`` plus ``l2 / 2 |beta|^2``. Each site's risk sets hold only its own
  patients, so the federation fits the **site-stratified** Cox model (a baseline hazard per
  site, shared coefficients): the pooled partial likelihood's risk sets cross sites and its
  gradient is not a sum over sites. Stratifying by site is also what one would choose
  clinically, since baseline risk differs between hospitals; on IID sites the two fits
  agree closely (tests/federation/test_validation.py measures it).

:func:`train_locally` runs full-batch gradient steps at a site, with FedProx's proximal
term ``mu / 2 |theta - theta_global|^2`` (Li et al. 2020) when ``proximal_mu > 0``;
:func:`fit_central` is the reference: the same loss on pooled data minimised by L-BFGS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy import optimize, stats

from healthtwin.core.types import BoolArray, FloatArray
from healthtwin.errors import InvalidParameterError, SolverError, UnknownModelError
from healthtwin.federation.forecasting import GlucoseRidge
from healthtwin.federation.sites import SiteData

__all__ = [
    "MODELS",
    "CoxPH",
    "FederatedModel",
    "LocalResult",
    "LogisticRegression",
    "auc",
    "concordance_index",
    "fit_central",
    "make_model",
    "train_locally",
]


class FederatedModel(Protocol):
    """What a federated-trainable model provides (module docstring)."""

    @property
    def name(self) -> str:
        """Registry name."""
        ...

    def n_parameters(self, n_features: int) -> int:
        """Length ``p`` of the parameter vector for ``d`` features."""
        ...

    def loss_and_gradient(self, theta: FloatArray, data: SiteData) -> tuple[float, FloatArray]:
        """Mean loss per patient (with the L2 penalty) and its ``(p,)`` gradient."""
        ...

    def risk_score(self, theta: FloatArray, features: FloatArray) -> FloatArray:
        """``(n,)`` scores, higher meaning higher risk."""
        ...

    def evaluate(self, theta: FloatArray, data: SiteData) -> dict[str, float]:
        """Named metrics on ``data`` (C-index for Cox, AUC and log-loss for logistic)."""
        ...


@dataclass(frozen=True)
class LogisticRegression:
    """Logistic regression of ``event`` on the features (module docstring).

    Examples
    --------
    >>> x = np.array([[-1.0], [1.0]])
    >>> data = SiteData(x, np.ones(2), np.array([False, True]))
    >>> loss, grad = LogisticRegression(l2=0.0).loss_and_gradient(np.zeros(2), data)
    >>> round(loss, 6), grad.tolist()
    (0.693147, [0.0, -0.5])
    """

    l2: float = 1e-3
    name: str = "logistic"

    def n_parameters(self, n_features: int) -> int:
        return n_features + 1

    def risk_score(self, theta: FloatArray, features: FloatArray) -> FloatArray:
        return np.asarray(theta[0] + features @ theta[1:], dtype=np.float64)

    def loss_and_gradient(self, theta: FloatArray, data: SiteData) -> tuple[float, FloatArray]:
        logit = self.risk_score(theta, data.features)
        label = data.event.astype(np.float64)
        # log(1 + e^z) - y z, written stably for large |z|.
        loss = float(np.mean(np.logaddexp(0.0, logit) - label * logit))
        residual = (_sigmoid(logit) - label) / data.n_patients
        grad = np.concatenate([[residual.sum()], data.features.T @ residual])
        grad[1:] += self.l2 * theta[1:]
        return loss + 0.5 * self.l2 * float(theta[1:] @ theta[1:]), grad

    def evaluate(self, theta: FloatArray, data: SiteData) -> dict[str, float]:
        logit = self.risk_score(theta, data.features)
        label = data.event.astype(np.float64)
        log_loss = float(np.mean(np.logaddexp(0.0, logit) - label * logit))
        return {"auc": auc(logit, data.event), "log_loss": log_loss}


@dataclass(frozen=True)
class CoxPH:
    """Cox proportional hazards with Breslow ties, site-stratified (module docstring).

    Examples
    --------
    >>> data = SiteData(np.array([[1.0], [0.0]]), np.array([1.0, 2.0]), np.ones(2, bool))
    >>> loss, grad = CoxPH(l2=0.0).loss_and_gradient(np.zeros(1), data)
    >>> round(loss * 2, 6), grad.tolist()
    (0.693147, [-0.25])
    """

    l2: float = 1e-3
    name: str = "cox"

    def n_parameters(self, n_features: int) -> int:
        return n_features

    def risk_score(self, theta: FloatArray, features: FloatArray) -> FloatArray:
        return np.asarray(features @ theta, dtype=np.float64)

    def loss_and_gradient(self, theta: FloatArray, data: SiteData) -> tuple[float, FloatArray]:
        order = np.argsort(-data.time, kind="stable")
        time, event = data.time[order], data.event[order]
        x = data.features[order]
        log_hazard = x @ theta
        shift = float(log_hazard.max()) if log_hazard.size else 0.0
        weight = np.exp(log_hazard - shift)
        # Sorted by decreasing time, a running sum is the risk set; ties share the sum
        # reached at the last of them (Breslow).
        last_of_tie = np.r_[time[1:] != time[:-1], True]
        tie_end = _tie_ends(last_of_tie)
        at_risk = np.cumsum(weight)[tie_end]
        weighted_x = np.cumsum(weight[:, None] * x, axis=0)[tie_end]
        n = data.n_patients
        loss = -float(np.sum(log_hazard[event] - shift - np.log(at_risk[event]))) / n
        grad = -(x[event].sum(axis=0) - (weighted_x[event] / at_risk[event, None]).sum(axis=0))
        grad = grad / n + self.l2 * theta
        return loss + 0.5 * self.l2 * float(theta @ theta), grad

    def evaluate(self, theta: FloatArray, data: SiteData) -> dict[str, float]:
        risk = self.risk_score(theta, data.features)
        return {"c_index": concordance_index(data.time, data.event, risk)}


def _tie_ends(last_of_tie: BoolArray) -> np.ndarray:
    """For each sorted position, the position of the last member of its tie group."""
    ends = np.flatnonzero(last_of_tie)
    return ends[np.searchsorted(ends, np.arange(last_of_tie.size))]


def _sigmoid(z: FloatArray) -> FloatArray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)), dtype=np.float64)


MODELS: dict[str, type[LogisticRegression] | type[CoxPH] | type[GlucoseRidge]] = {
    "logistic": LogisticRegression,
    "cox": CoxPH,
    "glucose-ridge": GlucoseRidge,
}


def make_model(name: str, *, l2: float = 1e-3) -> LogisticRegression | CoxPH | GlucoseRidge:
    """Build a registered model by name.

    Raises
    ------
    UnknownModelError
        If ``name`` is not in :data:`MODELS`; the message lists the valid names.

    Examples
    --------
    >>> make_model("cox").name
    'cox'
    """
    if name not in MODELS:
        raise UnknownModelError(
            f"unknown federated model {name!r}; choose one of {', '.join(sorted(MODELS))}"
        )
    if not l2 >= 0.0:
        raise InvalidParameterError(f"l2 = {l2!r}; give a non-negative penalty")
    return MODELS[name](l2=l2)


@dataclass(frozen=True)
class LocalResult:
    """What a site sends back after local training.

    Attributes
    ----------
    theta : ndarray, shape (p,)
        Parameters after the local steps.
    loss : float
        Mean loss at the received parameters (before training).
    n_patients : int
        The site's number of patients, its FedAvg weight.
    """

    theta: FloatArray
    loss: float
    n_patients: int


def train_locally(
    model: FederatedModel,
    theta: FloatArray,
    data: SiteData,
    *,
    steps: int = 10,
    learning_rate: float = 0.5,
    proximal_mu: float = 0.0,
) -> LocalResult:
    """Full-batch gradient steps from the global ``theta`` (FedProx if ``proximal_mu > 0``).

    Examples
    --------
    >>> x = np.array([[-1.0], [1.0], [0.5], [-0.5]])
    >>> data = SiteData(x, np.ones(4), np.array([False, True, True, False]))
    >>> result = train_locally(LogisticRegression(), np.zeros(2), data, steps=5)
    >>> bool(result.theta[1] > 0), result.n_patients
    (True, 4)
    """
    if steps < 1 or not learning_rate > 0.0 or not proximal_mu >= 0.0:
        raise InvalidParameterError(
            f"steps = {steps}, learning_rate = {learning_rate}, proximal_mu = {proximal_mu}; "
            "give at least one step, a positive learning rate and a non-negative mu"
        )
    anchor = np.asarray(theta, dtype=np.float64)
    current = anchor.copy()
    first_loss = float("nan")
    # Divergence is reported below as an error, not as floating-point warnings.
    with np.errstate(over="ignore", invalid="ignore"):
        for step in range(steps):
            loss, grad = model.loss_and_gradient(current, data)
            if step == 0:
                first_loss = loss
            current = current - learning_rate * (grad + proximal_mu * (current - anchor))
            if not np.all(np.isfinite(current)):
                raise SolverError(
                    f"local training at site {data.name!r} diverged (non-finite parameters "
                    f"at step {step + 1}); lower the learning rate (got {learning_rate})"
                )
    return LocalResult(current, first_loss, data.n_patients)


def fit_central(model: FederatedModel, data: SiteData | Sequence[SiteData]) -> FloatArray:
    """Minimise the model's loss with L-BFGS: the reference federated training is judged by.

    Given one (pooled) data set, the central model; given several sites, the optimum of
    the federation's own objective, the patient-weighted sum of site losses (for Cox, the
    site-stratified model).

    Examples
    --------
    >>> x = np.array([[-1.0], [1.0], [0.5], [-0.5]])
    >>> data = SiteData(x, np.ones(4), np.array([False, True, False, True]))
    >>> theta = fit_central(LogisticRegression(l2=0.1), data)
    >>> theta.shape
    (2,)
    """
    sites = [data] if isinstance(data, SiteData) else list(data)
    total = sum(s.n_patients for s in sites)

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        loss, grad = 0.0, np.zeros_like(theta)
        for site in sites:
            site_loss, site_grad = model.loss_and_gradient(theta, site)
            loss += site_loss * site.n_patients / total
            grad += site_grad * site.n_patients / total
        return loss, grad

    start = np.zeros(model.n_parameters(sites[0].features.shape[1]))
    result = optimize.minimize(
        objective, start, jac=True, method="L-BFGS-B", options={"maxiter": 1000, "gtol": 1e-9}
    )
    return np.asarray(result.x, dtype=np.float64)


def concordance_index(time: FloatArray, event: BoolArray, risk: FloatArray) -> float:
    """Harrell's C: among pairs ``t_i < t_j`` with an event at ``t_i``, the share ranked right.

    A censored ``j`` tied in time with an event ``i`` counts as ``t_i < t_j``.

    Ties in risk count one half (Harrell et al. 1982; as scikit-survival's
    ``concordance_index_censored``).

    Examples
    --------
    >>> concordance_index(np.array([1.0, 2.0, 3.0]), np.ones(3, bool), np.array([3.0, 2.0, 1.0]))
    1.0
    """
    concordant = 0.0
    comparable = 0
    for i in np.flatnonzero(event):
        # A censored patient tied with an event outlived it (scikit-survival's rule).
        later = (time > time[i]) | ((time == time[i]) & ~event)
        comparable += int(later.sum())
        concordant += float(np.sum(risk[i] > risk[later]) + 0.5 * np.sum(risk[i] == risk[later]))
    if comparable == 0:
        raise InvalidParameterError("no comparable pairs: the C-index needs at least one event")
    return concordant / comparable


def auc(score: FloatArray, label: BoolArray) -> float:
    """Area under the ROC curve by the Mann-Whitney rank formula.

    Examples
    --------
    >>> auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([False, False, True, True]))
    0.75
    """
    n_pos = int(label.sum())
    n_neg = label.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise InvalidParameterError("the AUC needs both outcomes among the patients")
    ranks = stats.rankdata(score)
    return float((ranks[label].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
