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
``epsilon_0 = sqrt(8 (1 - alpha) rho / T)`` for ``T = rounds`` (``16 d`` by default, as
in the paper; it must exceed ``d``) and ``alpha = 0.9``. The total never exceeds
``rho``, which is charged to the governance ledger before anything is measured. Rows
are drawn by ancestral sampling over the fitted model's junction tree with the caller's
generator, and binning and the schema are public, exactly as for
:class:`~healthtwin.synthetic.private_pgm.MST`.

Cost: every round scores every admissible candidate against the current model. The
candidates' model marginals come from numpy
(:mod:`~healthtwin.synthetic.junction_marginals`): the fitted potentials are summed once
to the junction tree's clique tables, and a candidate is a sum inside one clique or a join
along the tree path between its columns, exact to rounding (3e-15 relative to
private-pgm's variable elimination on the test models). private-pgm's ``project``, which
compiled one jax program per attribute set (about 0.7 s each, the machine code piling up
until LLVM ran out of memory), is no longer called; real counts and junction-tree sizes
are cached across rounds. What remains is the estimate after each measurement: mirror
descent over a new clique set is a new jax program (2 to 3 s to compile for whas500's 15
columns on a shared core; jax's caches are cleared every 8 estimates so compiled code
does not accumulate). whas500's 250-row training half at epsilon 1 (model cap 0.01 MB, 8
rounds) now fits in 34 s instead of 330 s, with the same rounds and the same synthetic
rows, and its 10,000-row fit (25 rounds) in 6 to 7 minutes on a loaded machine, where it
used to die after 14. Alone, whas500's 10,000-row fit at epsilon 10 takes 549 s (33
rounds); in ``benchmarks/results/synthetic.json``, with four AIM fits and three data-set
processes sharing two cores, the 10,000-row fits took 466-1,264 s at epsilon 1 and
770-1,537 s at epsilon 10 (``docs/synthetic.md``, section Benchmark). ``rounds`` below ``16 d``
spends more per measurement and estimates fewer times: at epsilon 10, where ``16 d``
rounds would mean hundreds of estimates before annealing, the benchmark uses 48. MST
remains the fast choice for wide tables, AIM the better one when a workload's
higher-order marginals matter (see ``tests/synthetic/test_aim.py``: a 3-way XOR that
MST's tree of pairs cannot hold).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from healthtwin.errors import InvalidParameterError
from healthtwin.governance.privacy_budget import BudgetAccount, PrivacyCost
from healthtwin.synthetic.junction_marginals import JunctionMarginals, junction_marginals_of
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
#: A progress callback: the fraction of the budget spent so far, and what is running.
Progress = Callable[[float, str], None]
_ALPHA = 0.9
#: Clear jax's compiled programs after this many estimates (each new clique set compiles).
_CLEAR_EVERY = 8


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
    """What AIM measured: per measurement the clique, its noise scale and the budget used.

    ``selection_epsilons`` holds the exponential mechanism's epsilon that chose each
    measurement (0.0 for the first step's one-way marginals, which are not selected), so
    that the spend can be recomputed from the trace alone:
    ``sum(1 / (2 sigma**2)) + sum(epsilon**2 / 8)``.
    """

    cliques: tuple[Clique, ...]
    sigmas: tuple[float, ...]
    rho_used: tuple[float, ...]
    selection_epsilons: tuple[float, ...] = ()


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
    rounds : int or None
        ``T`` of the budget split (must exceed the number of columns): None is the
        paper's ``16 d``; fewer rounds spend more per measurement and estimate fewer times.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a = rng.integers(0, 3, 400)
    >>> table = pd.DataFrame({"a": a, "b": (a + rng.integers(0, 2, 400)) % 3})
    >>> fitted = AIM(epsilon=50.0, iters=50, final_iters=200, rounds=8).fit(table, rng=rng)
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
    rounds: int | None = None

    def __post_init__(self) -> None:
        rho_from_epsilon(self.epsilon, self.delta)
        if self.rounds is not None and self.rounds < 2:
            raise InvalidParameterError(
                f"rounds must be None (16 d) or more than the number of columns, got {self.rounds}"
            )
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

    def fit(
        self,
        table: pd.DataFrame,
        *,
        rng: np.random.Generator,
        progress: Progress | None = None,
    ) -> FittedMarginalModel:
        """Measure adaptively, estimate, and return a sampler; charges the ledger first.

        ``progress``, if given, is called after every round with the fraction of ``rho``
        spent and ``"round k"``.

        Raises
        ------
        InvalidParameterError
            ``rounds`` not above the number of columns.
        ConsentError
            The ledger refuses the spend (nothing is measured).
        MissingDependencyError
            ``mbi`` is not installed.
        """
        fitted, _ = self.fit_with_trace(table, rng=rng, progress=progress)
        return fitted

    def fit_with_trace(
        self,
        table: pd.DataFrame,
        *,
        rng: np.random.Generator,
        progress: Progress | None = None,
    ) -> tuple[FittedMarginalModel, AimTrace]:
        """:meth:`fit`, also returning what was measured round by round."""
        public = self.schema is not None
        schema = self.schema or TableSchema.infer(table)
        codes, edges = discretise(schema, schema.encode(table), self.n_bins)
        sizes = [e.size - 1 for e in edges]
        mbi = import_mbi()
        rounds = self.rounds if self.rounds is not None else 16 * len(sizes)
        if rounds <= len(sizes) and len(sizes) > 1:
            raise InvalidParameterError(
                f"rounds must exceed the number of columns ({len(sizes)}): the one-way "
                f"measurements alone cost 0.9 rho d / rounds; got {rounds}; None gives 16 d"
            )
        spend = None
        if self.account is not None:
            spend = self.account.charge(
                PrivacyCost(rho=self.rho),
                "AIM (McKenna et al. 2022)",
                {"epsilon": self.epsilon, "delta": self.delta, "n_rows": int(codes.shape[0])},
            )
        run = _Run(mbi, codes, sizes, self, rng, progress)
        marginals, trace = run.execute(rounds)
        privacy = {
            "mechanism": "AIM (McKenna, Mullins, Sheldon & Miklau 2022), zCDP",
            "epsilon": self.epsilon,
            "delta": self.delta,
            "rho": self.rho,
            "rho_spent": trace.rho_used[-1],
            "workload": f"all {min(self.degree, len(sizes))}-way marginals",
            "rounds": len(trace.cliques) - len(sizes),
            "budget_rounds_T": rounds,
            "neighbouring": "add/remove one row (one row per patient)",
            "public": "schema and bins (the schema's, else equal-width)"
            + ("" if public else " (INFERRED FROM THE DATA: outside the guarantee)"),
            "ledger_sequence": None if spend is None else spend.sequence,
        }
        # Maximal cliques in junction-tree preorder: each meets the columns already drawn
        # exactly in its separator with its parent, so drawing clique by clique is exact.
        fitted = FittedMarginalModel(
            method="aim", schema=schema, edges=tuple(edges), cliques=marginals.cliques,
            tables=tuple(np.clip(t, 0, None) for t in marginals.tables),
            privacy_statement=privacy,
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
        progress: Progress | None,
    ) -> None:
        self.mbi, self.codes, self.sizes, self.s, self.rng = mbi, codes, sizes, settings, rng
        self.progress = progress
        self.names = [str(i) for i in range(len(sizes))]
        self.domain = mbi.Domain(self.names, sizes)
        self.weights = workload_weights(len(sizes), settings.degree)
        self.measurements: list[Any] = []
        self.cliques: list[Clique] = []
        self.sigmas: list[float] = []
        self.used: list[float] = []
        self.epsilons: list[float] = []
        self.counts: dict[Clique, FloatArray] = {}
        self.sizes_mb: dict[frozenset[tuple[int, int]], float] = {}
        self.estimates = 0

    def _attrs(self, clique: Clique) -> tuple[str, ...]:
        return tuple(self.names[i] for i in clique)

    def _counts(self, clique: Clique) -> FloatArray:
        """Real counts of a clique, cached: the data never change within a fit."""
        if clique not in self.counts:
            self.counts[clique] = marginal_counts(self.codes, clique, self.sizes)
        return self.counts[clique]

    def _measure(self, clique: Clique, sigma: float, rho_used: float, epsilon: float = 0.0) -> None:
        x = self._counts(clique)
        y = x + self.rng.normal(0.0, sigma, x.size)
        self.measurements.append(self.mbi.LinearMeasurement(y, self._attrs(clique), stddev=sigma))
        self.cliques.append(clique)
        self.sigmas.append(sigma)
        self.used.append(rho_used)
        self.epsilons.append(epsilon)

    def _tree(self) -> tuple[list[Clique], list[tuple[int, int]]]:
        """The junction tree of the measured cliques: maximal cliques in preorder, edges."""
        jt = self.mbi.junction_tree
        tree, _ = jt.make_junction_tree(self.domain, [self._attrs(c) for c in self.cliques])
        order = list(jt.maximal_cliques(tree))
        where = {c: k for k, c in enumerate(order)}
        edges = [(where[a], where[b]) for a, b in tree.edges()]
        return [tuple(int(a) for a in c) for c in order], edges

    def _estimate(self, iters: int, warm: Any = None) -> tuple[Any, JunctionMarginals]:
        self.estimates += 1
        if self.estimates % _CLEAR_EVERY == 0:
            # Every estimate with a new clique set is a new jax program; their machine code
            # would otherwise pile up for the whole fit (LLVM runs out of memory).
            import jax

            jax.clear_caches()  # type: ignore[no-untyped-call]
        model = self.mbi.estimation.MirrorDescent().estimate(
            self.domain, self.measurements, iters=iters, warm_start=warm
        )
        potentials = model.potentials
        logs = [
            (
                tuple(int(a) for a in potentials[c].domain.attributes),
                np.asarray(potentials[c].values, dtype=float),
            )
            for c in potentials.cliques
        ]
        cliques, edges = self._tree()
        return model, junction_marginals_of(logs, self.sizes, cliques, edges, float(model.total))

    def _report(self, rho_used: float, message: str) -> None:
        if self.progress is not None:
            self.progress(min(rho_used / self.s.rho, 1.0), message)

    def execute(self, rounds: int) -> tuple[JunctionMarginals, AimTrace]:
        rho, d = self.s.rho, len(self.sizes)
        sigma = math.sqrt(rounds / (2 * _ALPHA * rho))
        epsilon = math.sqrt(8 * (1 - _ALPHA) * rho / rounds)
        rho_used = 0.0
        for j in range(d):
            rho_used += 1 / (2 * sigma**2)
            self._measure((j,), sigma, rho_used)
        model, marginals = self._estimate(self.s.iters)
        self._report(rho_used, "round 0")
        last = False
        k = 0
        while not last and d > 1:
            remaining = rho - rho_used
            if remaining < 2 * (1 / (2 * sigma**2) + epsilon**2 / 8):
                sigma = math.sqrt(1 / (2 * _ALPHA * remaining))
                epsilon = math.sqrt(8 * (1 - _ALPHA) * remaining)
                last = True
            rho_used += 1 / (2 * sigma**2) + epsilon**2 / 8
            clique = self._select(marginals, epsilon, sigma, rho_used / rho)
            before = marginals.marginal(clique).ravel()
            self._measure(clique, sigma, rho_used, epsilon)
            model, marginals = self._estimate(self.s.iters, warm=model)
            after = marginals.marginal(clique).ravel()
            n_cells = int(np.prod([self.sizes[i] for i in clique]))
            if np.abs(after - before).sum() <= sigma * math.sqrt(2 / math.pi) * n_cells:
                sigma, epsilon = sigma / 2, epsilon * 2
            k += 1
            self._report(rho_used, f"round {k}")
        _, marginals = self._estimate(self.s.final_iters, warm=model)
        trace = AimTrace(
            tuple(self.cliques), tuple(self.sigmas), tuple(self.used), tuple(self.epsilons)
        )
        return marginals, trace

    def _size_mb(self, graph: frozenset[tuple[int, int]], clique: Clique) -> float:
        """Junction-tree size (MB) of the measured cliques plus ``clique``, cached.

        mbi's greedy elimination, hence the tree, depends only on the graph the cliques
        draw (their column pairs), so sizes are cached by that graph across rounds.
        """
        key = graph | frozenset(itertools.combinations(clique, 2))
        if key not in self.sizes_mb:
            cliques = [self._attrs(c) for c in self.cliques] + [self._attrs(clique)]
            self.sizes_mb[key] = float(
                self.mbi.junction_tree.hypothetical_model_size(self.domain, cliques)
            )
        return self.sizes_mb[key]

    def _admissible(self, limit: float) -> list[Clique]:
        """Candidates whose measurement keeps the junction tree under ``limit`` megabytes."""
        graph = frozenset(pair for c in self.cliques for pair in itertools.combinations(c, 2))
        return [r for r in self.weights if r in self.cliques or self._size_mb(graph, r) <= limit]

    def _select(
        self, marginals: JunctionMarginals, epsilon: float, sigma: float, share: float
    ) -> Clique:
        candidates = self._admissible(self.s.max_model_size_mb * share)
        scores = np.empty(len(candidates))
        for k, r in enumerate(candidates):
            n_cells = int(np.prod([self.sizes[i] for i in r]))
            error = np.abs(self._counts(r) - marginals.marginal(r).ravel()).sum()
            scores[k] = self.weights[r] * (error - math.sqrt(2 / math.pi) * sigma * n_cells)
        sensitivity = max(self.weights[r] for r in candidates)
        logits = 0.5 * epsilon / sensitivity * (scores - scores.max())
        p = np.exp(logits)
        return candidates[int(self.rng.choice(len(candidates), p=p / p.sum()))]
