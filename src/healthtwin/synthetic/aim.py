"""Differentially private synthetic tables by AIM, on the private-pgm (``mbi``) estimator.

AIM (McKenna, Mullins, Sheldon & Miklau, "AIM: An Adaptive and Iterative Mechanism for
Differentially Private Synthetic Data", PVLDB 15(11), 2022, Algorithm 1) spends a zCDP
budget ``rho`` adaptively on the marginals of a workload (here every ``degree``-way
marginal, weight 1):

1. every 1-way marginal is measured with the Gaussian mechanism (``sigma_0``), and a
   graphical model is estimated from the measurements (private-pgm's mirror descent);
2. each round picks, by the exponential mechanism, the candidate marginal ``r`` (the
   workload's downward closure, limited to those whose addition keeps the model's junction
   tree below ``max_model_size_mb * rho_used / rho``) with the largest score
   ``w_r (||M_r(D) - M_r(p)||_1 - sqrt(2/pi) sigma n_r)``, where ``w_r`` is the summed
   overlap ``sum_s |r & s|`` with the workload, the sensitivity is ``max_r w_r`` and the
   bias term is the expected L1 norm of the Gaussian noise that measuring ``r`` would add;
   ``r`` is measured, and the model re-estimated from a warm start;
3. when a measurement barely changed the model's estimate of ``r`` (by less than the noise's
   expected L1 norm) the noise is halved and the selection budget doubled (annealing); the
   last round spends exactly what is left.

Budget: the first step costs ``d / (2 sigma_0^2)``; each round costs
``1 / (2 sigma^2) + epsilon^2 / 8`` (Gaussian plus exponential mechanism in zCDP, Cesar
& Rogers 2021), with ``sigma_0 = sqrt(T / (2 alpha rho))`` and
``epsilon_0 = sqrt(8 (1 - alpha) rho / T)`` for ``T = 16 d`` rounds and ``alpha = 0.9`` as
in the paper. The total never exceeds ``rho``, which is charged to the governance ledger
before anything is measured. Rows are drawn by ancestral sampling over the fitted model's
junction tree with the caller's generator, and binning and the schema are public, exactly
as for :class:`~healthtwin.synthetic.private_pgm.MST`.

Cost: every round scores every candidate against the current model, and private-pgm
answers a marginal its cliques do not hold by variable elimination compiled by jax for
that attribute set (about 0.7 s per new set on one core). A profile of 400 rows by 8
columns at epsilon 1 spent 92 of 131 s compiling; 400 by 16 (whas500) takes about 15
minutes. The paper's authors warn that AIM "can take many hours"; MST is the fast choice
for wide tables, AIM the better one when a workload's higher-order marginals matter (see
``tests/synthetic/test_aim.py``: a 3-way XOR that MST's tree of pairs cannot hold).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from healthtwin.errors import InvalidParameterError
from healthtwin.governance.privacy_budget import BudgetAccount, PrivacyCost
from healthtwin.synthetic.private_pgm import (
    FittedMarginalModel,
    discretise,
    import_mbi,
    marginal_counts,
    rho_from_epsilon,
)
from healthtwin.synthetic.tabular import FloatArray, TableSchema

__all__ = ["AIM", "AimTrace", "workload_weights"]

Clique = tuple[int, ...]
_ALPHA = 0.9


def workload_weights(n_columns: int, degree: int) -> dict[Clique, float]:
    """AIM's candidate weights ``w_r = sum_{s in W} |r & s|`` for the all-``degree``-way workload.

    The candidates are the workload's downward closure (every clique of 1 to ``degree``
    columns).

    Examples
    --------
    >>> w = workload_weights(3, 2)
    >>> w[(0,)], w[(0, 1)]
    (2.0, 4.0)
    """
    workload = list(itertools.combinations(range(n_columns), min(degree, n_columns)))
    candidates = [
        c
        for k in range(1, min(degree, n_columns) + 1)
        for c in itertools.combinations(range(n_columns), k)
    ]
    return {r: float(sum(len(set(r) & set(s)) for s in workload)) for r in candidates}


@dataclass(frozen=True)
class AimTrace:
    """What AIM measured: per round the clique, its noise scale and the budget used so far."""

    cliques: tuple[Clique, ...]
    sigmas: tuple[float, ...]
    rho_used: tuple[float, ...]


@dataclass(frozen=True, kw_only=True)
class AIM:
    """Settings of the AIM synthesizer.

    Parameters
    ----------
    epsilon, delta : float
        The ``(epsilon, delta)``-DP guarantee of the whole fit.
    degree : int
        The workload: every marginal of this many columns (2 or 3 are usual).
    n_bins : int
        Equal-width bins per numeric column (between the schema's public bounds).
    schema : TableSchema or None
        Public column metadata; inferred from the data (outside the guarantee) if None.
    account : BudgetAccount or None
        The governance ledger account charged ``rho`` before any measurement.
    max_model_size_mb : float
        Largest junction tree (cells times 8 bytes) a selection may lead to.
    iters : int
        Mirror-descent iterations of each round's (warm-started) estimate.
    final_iters : int
        Iterations of the last estimate, from which rows are drawn.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a = rng.integers(0, 3, 400)
    >>> table = pd.DataFrame({"a": a, "b": (a + rng.integers(0, 2, 400)) % 3})
    >>> fitted = AIM(epsilon=50.0, iters=50, final_iters=200).fit(table, rng=rng)
    >>> synthetic = fitted.sample(2000, rng)
    >>> bool(((synthetic.b - synthetic.a) % 3 <= 1).mean() > 0.9)
    True
    """

    epsilon: float
    delta: float = 1e-9
    degree: int = 2
    n_bins: int = 10
    schema: TableSchema | None = None
    account: BudgetAccount | None = None
    max_model_size_mb: float = 80.0
    iters: int = 100
    final_iters: int = 1000

    def __post_init__(self) -> None:
        rho_from_epsilon(self.epsilon, self.delta)
        if self.n_bins < 2 or self.iters < 1 or self.final_iters < 1 or self.degree < 1:
            raise InvalidParameterError(
                "n_bins must be >= 2, iters and final_iters >= 1 and degree >= 1, got "
                f"{self.n_bins}, {self.iters}, {self.final_iters}, {self.degree}"
            )
        if not self.max_model_size_mb > 0:
            raise InvalidParameterError(
                f"max_model_size_mb must be > 0, got {self.max_model_size_mb}; 80 is the paper's"
            )

    @property
    def rho(self) -> float:
        """The zCDP budget of the fit."""
        return rho_from_epsilon(self.epsilon, self.delta)

    def fit(self, table: pd.DataFrame, *, rng: np.random.Generator) -> FittedMarginalModel:
        """Measure adaptively, estimate, and return a sampler; charges the ledger first.

        Raises
        ------
        ConsentError
            The ledger refuses the spend (nothing is measured).
        MissingDependencyError
            ``mbi`` is not installed.
        """
        fitted, _ = self.fit_with_trace(table, rng=rng)
        return fitted

    def fit_with_trace(
        self, table: pd.DataFrame, *, rng: np.random.Generator
    ) -> tuple[FittedMarginalModel, AimTrace]:
        """:meth:`fit`, also returning what was measured round by round."""
        public = self.schema is not None
        schema = self.schema or TableSchema.infer(table)
        codes, edges = discretise(schema, schema.encode(table), self.n_bins)
        sizes = [e.size - 1 for e in edges]
        mbi = import_mbi()
        spend = None
        if self.account is not None:
            spend = self.account.charge(
                PrivacyCost(rho=self.rho),
                "AIM (McKenna et al. 2022)",
                {"epsilon": self.epsilon, "delta": self.delta, "n_rows": int(codes.shape[0])},
            )
        run = _Run(mbi, codes, sizes, self, rng)
        model, trace = run.execute()
        privacy = {
            "mechanism": "AIM (McKenna, Mullins, Sheldon & Miklau 2022), zCDP",
            "epsilon": self.epsilon,
            "delta": self.delta,
            "rho": self.rho,
            "rho_spent": trace.rho_used[-1],
            "workload": f"all {min(self.degree, len(sizes))}-way marginals",
            "rounds": len(trace.cliques) - len(sizes),
            "neighbouring": "add/remove one row (one row per patient)",
            "public": "schema and equal-width bins"
            + ("" if public else " (INFERRED FROM THE DATA: outside the guarantee)"),
            "ledger_sequence": None if spend is None else spend.sequence,
        }
        cliques, tables = run.junction_tables(model)
        fitted = FittedMarginalModel(
            method="aim", schema=schema, edges=tuple(edges), cliques=cliques,
            tables=tables, privacy_statement=privacy,
        )  # fmt: skip
        return fitted, trace


class _Run:
    """One execution of Algorithm 1 (state kept here, not in the frozen settings)."""

    def __init__(
        self,
        mbi: Any,
        codes: Any,
        sizes: list[int],
        settings: AIM,
        rng: np.random.Generator,
    ) -> None:
        self.mbi, self.codes, self.sizes, self.s, self.rng = mbi, codes, sizes, settings, rng
        self.names = [str(i) for i in range(len(sizes))]
        self.domain = mbi.Domain(self.names, sizes)
        self.weights = workload_weights(len(sizes), settings.degree)
        self.measurements: list[Any] = []
        self.cliques: list[Clique] = []
        self.sigmas: list[float] = []
        self.used: list[float] = []

    def _attrs(self, clique: Clique) -> tuple[str, ...]:
        return tuple(self.names[i] for i in clique)

    def _measure(self, clique: Clique, sigma: float, rho_used: float) -> None:
        x = marginal_counts(self.codes, clique, self.sizes)
        y = x + self.rng.normal(0.0, sigma, x.size)
        self.measurements.append(self.mbi.LinearMeasurement(y, self._attrs(clique), stddev=sigma))
        self.cliques.append(clique)
        self.sigmas.append(sigma)
        self.used.append(rho_used)

    def _estimate(self, iters: int, warm: Any = None) -> Any:
        return self.mbi.estimation.MirrorDescent().estimate(
            self.domain, self.measurements, iters=iters, warm_start=warm
        )

    def _marginal(self, model: Any, clique: Clique) -> FloatArray:
        return np.asarray(model.project(self._attrs(clique)).datavector(False), dtype=float).ravel()

    def execute(self) -> tuple[Any, AimTrace]:
        rho, d = self.s.rho, len(self.sizes)
        rounds = 16 * d
        sigma = math.sqrt(rounds / (2 * _ALPHA * rho))
        epsilon = math.sqrt(8 * (1 - _ALPHA) * rho / rounds)
        rho_used = 0.0
        for j in range(d):
            rho_used += 1 / (2 * sigma**2)
            self._measure((j,), sigma, rho_used)
        model = self._estimate(self.s.iters)
        last = False
        while not last and d > 1:
            remaining = rho - rho_used
            if remaining < 2 * (1 / (2 * sigma**2) + epsilon**2 / 8):
                sigma = math.sqrt(1 / (2 * _ALPHA * remaining))
                epsilon = math.sqrt(8 * (1 - _ALPHA) * remaining)
                last = True
            rho_used += 1 / (2 * sigma**2) + epsilon**2 / 8
            clique = self._select(model, epsilon, sigma, rho_used / rho)
            before = self._marginal(model, clique)
            self._measure(clique, sigma, rho_used)
            model = self._estimate(self.s.iters, warm=model)
            after = self._marginal(model, clique)
            n_cells = int(np.prod([self.sizes[i] for i in clique]))
            if np.abs(after - before).sum() <= sigma * math.sqrt(2 / math.pi) * n_cells:
                sigma, epsilon = sigma / 2, epsilon * 2
        model = self._estimate(self.s.final_iters, warm=model)
        trace = AimTrace(tuple(self.cliques), tuple(self.sigmas), tuple(self.used))
        return model, trace

    def _select(self, model: Any, epsilon: float, sigma: float, share: float) -> Clique:
        limit = self.s.max_model_size_mb * share
        measured = [self._attrs(c) for c in self.cliques]
        candidates = [
            r
            for r in self.weights
            if self.mbi.junction_tree.hypothetical_model_size(
                self.domain, [*measured, self._attrs(r)]
            )
            <= limit
            or r in self.cliques
        ]
        scores = np.empty(len(candidates))
        for k, r in enumerate(candidates):
            n_cells = int(np.prod([self.sizes[i] for i in r]))
            error = np.abs(
                marginal_counts(self.codes, r, self.sizes) - self._marginal(model, r)
            ).sum()
            scores[k] = self.weights[r] * (error - math.sqrt(2 / math.pi) * sigma * n_cells)
        sensitivity = max(self.weights[r] for r in candidates)
        logits = 0.5 * epsilon / sensitivity * (scores - scores.max())
        p = np.exp(logits)
        return candidates[int(self.rng.choice(len(candidates), p=p / p.sum()))]

    def junction_tables(self, model: Any) -> tuple[tuple[Clique, ...], tuple[FloatArray, ...]]:
        """The model's maximal cliques in junction-tree preorder and their marginal tables.

        In preorder each clique meets the columns already drawn exactly in its separator
        with its parent, so drawing clique by clique from the conditionals is exact.
        """
        jt = self.mbi.junction_tree
        tree, _ = jt.make_junction_tree(self.domain, [self._attrs(c) for c in self.cliques])
        order = [tuple(int(a) for a in c) for c in jt.maximal_cliques(tree)]
        covered = {i for c in order for i in c}
        order += [(j,) for j in range(len(self.sizes)) if j not in covered]
        tables = []
        for c in order:
            factor = model.project(self._attrs(c))
            table = np.asarray(factor.datavector(False), dtype=float).reshape(
                [self.sizes[i] for i in c]
            )
            tables.append(np.clip(table, 0, None))
        return tuple(order), tuple(tables)
