"""Differentially private synthetic tables by MST, on the private-pgm (``mbi``) estimator.

MST (McKenna, Miklau & Sheldon, "Winning the NIST Contest: A scalable and general
approach to differentially private synthetic data", J Priv Confid 11(3), 2021) spends a
zCDP budget ``rho`` in three equal parts:

1. every 1-way marginal is measured with the Gaussian mechanism;
2. the pairs of columns whose 2-way marginal is worst explained by the 1-way estimate
   (L1 error, sensitivity 1) are chosen one by one with the exponential mechanism,
   ``d - 1`` picks that form a maximum spanning tree (Kruskal order);
3. the 2-way marginals of the tree's edges are measured with the Gaussian mechanism.

The noisy measurements are turned into one consistent graphical model by private-pgm's
mirror-descent estimator (McKenna, Sheldon & Miklau, "Graphical-model based estimation and
inference for differential privacy", ICML 2019; package ``mbi`` 2.x, Apache-2.0), and
rows are drawn from the model's tree marginals by ancestral sampling with the caller's
generator (``mbi``'s own sampler uses numpy's global state, so it is not used).

Privacy: ``(epsilon, delta)`` is turned into ``rho`` by inverting Bun & Steinke (TCC
2016, Proposition 1.3), ``epsilon = rho + 2 sqrt(rho ln(1/delta))``, the same conversion
as the governance ledger, which is charged ``rho`` *before* anything is measured. The
neighbouring relation is add/remove one row, so the table must hold one row per patient.
The schema (categories and bounds) and the equal-width binning are treated as public: pass
a schema written from public knowledge; a schema inferred from the data is outside the
guarantee, and the privacy statement says so.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.governance.privacy_budget import BudgetAccount, PrivacyCost
from healthtwin.synthetic.tabular import (
    BinScale,
    ColumnKind,
    ColumnSpec,
    FloatArray,
    TableSchema,
    check_sample_size,
    read_saved,
    require,
    write_saved,
)

__all__ = [
    "MST",
    "FittedMarginalModel",
    "bin_edges",
    "column_edges",
    "discretise",
    "import_mbi",
    "marginal_counts",
    "rho_from_epsilon",
]

IntArray = NDArray[np.int64]
#: A progress callback: the fraction of the budget spent so far, and what is running.
Progress = Callable[[float, str], None]
DP_EXTRA = "pip install 'healthtwin[synth]' (mbi, which brings jax)"


def rho_from_epsilon(epsilon: float, delta: float) -> float:
    """The zCDP ``rho`` whose Bun-Steinke conversion at ``delta`` is exactly ``epsilon``.

    Examples
    --------
    >>> round(rho_from_epsilon(1.0, 1e-9), 5)
    0.01178
    """
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise InvalidParameterError(f"epsilon must be finite and > 0, got {epsilon!r}")
    if not 0 < delta < 1:
        raise InvalidParameterError(f"delta must be in (0, 1), got {delta!r}; e.g. 1e-9")
    log_inv = math.log(1 / delta)
    rho = (math.sqrt(log_inv + epsilon) - math.sqrt(log_inv)) ** 2
    # Rounding must never make the ledger's conversion exceed the epsilon asked for.
    while rho + 2 * math.sqrt(rho * log_inv) > epsilon:
        rho = math.nextafter(rho, 0.0)
    return rho


def bin_edges(spec: ColumnSpec, n_bins: int) -> FloatArray:
    """Public, data-independent bin edges of a non-categorical column, shape (k + 1,).

    Integer columns with at most ``n_bins`` values get one bin per value.

    Examples
    --------
    >>> bin_edges(ColumnSpec("x", ColumnKind.INTEGER, lower=0, upper=2), 8).tolist()
    [-0.5, 0.5, 1.5, 2.5]
    >>> bin_edges(ColumnSpec("y", ColumnKind.CONTINUOUS, lower=0, upper=1), 2).tolist()
    [0.0, 0.5, 1.0]
    """
    lower, upper = float(spec.lower or 0.0), float(spec.upper or 0.0)
    if spec.kind is ColumnKind.INTEGER or spec.kind is ColumnKind.DATE:
        lower, upper = lower - 0.5, upper + 0.5
        n_bins = min(n_bins, round(upper - lower))
    if upper <= lower:
        upper = lower + 1.0
    return np.linspace(lower, upper, n_bins + 1)


def _log_edges(spec: ColumnSpec, n_bins: int) -> FloatArray:
    """``n_bins`` bins of equal ratio between the bounds (integers: one per value if fewer)."""
    lower, upper = float(spec.lower or 0.0), float(spec.upper or 0.0)
    if spec.kind is ColumnKind.INTEGER or spec.kind is ColumnKind.DATE:
        if round(upper - lower) + 1 <= n_bins:
            return bin_edges(spec, n_bins)
        lower, upper = lower - 0.5, upper + 0.5
    if upper <= lower:
        upper = lower * 2.0
    return np.geomspace(lower, upper, n_bins + 1)


def column_edges(spec: ColumnSpec, n_bins: int) -> FloatArray:
    """Public edges of a non-categorical column: its schema's bins, else ``n_bins`` equal widths.

    Examples
    --------
    >>> from healthtwin.synthetic.tabular import BinSpec
    >>> spec = ColumnSpec("kappa", ColumnKind.CONTINUOUS, lower=0.1, upper=100.0,
    ...                   bins=BinSpec(n=3, scale="log"))
    >>> column_edges(spec, 10).round(6).tolist()
    [0.1, 1.0, 10.0, 100.0]
    """
    bins = spec.bins
    if bins is None:
        return bin_edges(spec, n_bins)
    if bins.edges:
        return np.asarray(bins.edges, dtype=np.float64)
    n = n_bins if bins.n is None else int(bins.n)
    return _log_edges(spec, n) if bins.scale is BinScale.LOG else bin_edges(spec, n)


def discretise(
    schema: TableSchema, matrix: FloatArray, n_bins: int
) -> tuple[IntArray, list[FloatArray]]:
    """Bin codes of an encoded table, shape ``(n, d)``, and each column's public edges.

    A column's edges are its schema's bins (:class:`~healthtwin.synthetic.tabular.BinSpec`:
    ``n`` linear or log-scale bins, or explicit edges), else ``n_bins`` equal-width bins
    between its bounds; values outside the edges fall into the first or last bin.

    Examples
    --------
    >>> from healthtwin.synthetic.tabular import BinSpec
    >>> schema = TableSchema((ColumnSpec("x", ColumnKind.CONTINUOUS, lower=0.0, upper=10.0,
    ...                                  bins=BinSpec(edges=(0.0, 1.0, 10.0))),))
    >>> codes, edges = discretise(schema, np.array([[0.5], [3.0], [12.0]]), 4)
    >>> codes.ravel().tolist(), edges[0].tolist()
    ([0, 1, 1], [0.0, 1.0, 10.0])
    """
    codes = np.empty(matrix.shape, dtype=np.int64)
    edges: list[FloatArray] = []
    for j, spec in enumerate(schema.columns):
        if spec.kind is ColumnKind.CATEGORICAL:
            codes[:, j] = matrix[:, j].astype(np.int64)
            edges.append(np.arange(len(spec.categories) + 1, dtype=float) - 0.5)
            continue
        cut = column_edges(spec, n_bins)
        codes[:, j] = np.clip(np.searchsorted(cut, matrix[:, j], side="right") - 1, 0, cut.size - 2)
        edges.append(cut)
    return codes, edges


def marginal_counts(codes: IntArray, clique: Sequence[int], sizes: Sequence[int]) -> FloatArray:
    """Counts of a clique's cells, flattened in C order, shape ``(prod(sizes[clique]),)``.

    Examples
    --------
    >>> marginal_counts(np.array([[0, 1], [1, 1]]), (0, 1), (2, 2)).tolist()
    [0.0, 1.0, 0.0, 1.0]
    """
    shape = tuple(sizes[i] for i in clique)
    flat = np.ravel_multi_index(tuple(codes[:, i] for i in clique), shape)
    return np.bincount(flat, minlength=int(np.prod(shape))).astype(np.float64)


def _choose(scores: FloatArray, epsilon: float, rng: np.random.Generator) -> int:
    """Exponential mechanism, sensitivity 1 (``epsilon**2 / 8``-zCDP, Cesar & Rogers 2021)."""
    logits = 0.5 * epsilon * (scores - scores.max())
    weights = np.exp(logits)
    return int(rng.choice(scores.size, p=weights / weights.sum()))


@dataclass(frozen=True, kw_only=True)
class MST:
    """Settings of the MST synthesizer.

    Parameters
    ----------
    epsilon, delta : float
        The ``(epsilon, delta)``-DP guarantee of the whole fit.
    n_bins : int
        Equal-width bins per numeric column (between the schema's public bounds).
    schema : TableSchema or None
        Public column metadata; inferred from the data (outside the guarantee) if None.
    account : BudgetAccount or None
        The governance ledger account charged ``rho`` before any measurement.
    iters : int
        Mirror-descent iterations of the estimator.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a = rng.integers(0, 3, 400)
    >>> table = pd.DataFrame({"a": a, "b": (a + rng.integers(0, 2, 400)) % 3})
    >>> fitted = MST(epsilon=50.0, iters=200).fit(table, rng=rng)
    >>> synthetic = fitted.sample(2000, rng)
    >>> bool(((synthetic.b - synthetic.a) % 3 <= 1).mean() > 0.9)
    True
    """

    epsilon: float
    delta: float = 1e-9
    n_bins: int = 10
    schema: TableSchema | None = None
    account: BudgetAccount | None = None
    iters: int = 1000

    def __post_init__(self) -> None:
        rho_from_epsilon(self.epsilon, self.delta)
        if self.n_bins < 2 or self.iters < 1:
            raise InvalidParameterError(
                f"n_bins must be >= 2 and iters >= 1, got {self.n_bins}, {self.iters}"
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
        """Measure, select, measure and estimate; charges the ledger first.

        ``progress``, if given, is called after each of the three steps with the fraction
        of ``rho`` spent (1/3, 2/3, 1) and the step's name, and once more before the
        estimate (``"estimating"``).

        Raises
        ------
        ConsentError
            The ledger refuses the spend (nothing is measured).
        MissingDependencyError
            ``mbi`` is not installed.
        """
        public = self.schema is not None
        schema = self.schema or TableSchema.infer(table)
        codes, edges = discretise(schema, schema.encode(table), self.n_bins)
        sizes = [e.size - 1 for e in edges]
        mbi = import_mbi()
        spend = None
        if self.account is not None:
            spend = self.account.charge(
                PrivacyCost(rho=self.rho),
                "MST (McKenna et al. 2021)",
                {"epsilon": self.epsilon, "delta": self.delta, "n_rows": int(codes.shape[0])},
            )
        tree, measurements = _mst_measurements(codes, sizes, self.rho, rng, progress)
        if progress is not None:
            progress(1.0, "estimating")
        names = [str(i) for i in range(len(sizes))]
        domain = mbi.Domain(names, sizes)
        linear = [
            mbi.LinearMeasurement(y, tuple(names[i] for i in clique), stddev=std)
            for clique, y, std in measurements
        ]
        model = mbi.estimation.MirrorDescent().estimate(domain, linear, iters=self.iters)
        cliques = _ancestral_order(tree, len(sizes))
        tables = [
            np.clip(
                np.asarray(model.project(tuple(names[i] for i in c)).datavector(False)), 0, None
            )
            for c in cliques
        ]
        privacy = {
            "mechanism": "MST (McKenna, Miklau & Sheldon 2021), zCDP",
            "epsilon": self.epsilon,
            "delta": self.delta,
            "rho": self.rho,
            "neighbouring": "add/remove one row (one row per patient)",
            "public": "schema and bins (the schema's, else equal-width)"
            + ("" if public else " (INFERRED FROM THE DATA: outside the guarantee)"),
            "ledger_sequence": None if spend is None else spend.sequence,
        }
        return FittedMarginalModel(
            schema=schema, edges=tuple(edges), cliques=cliques, tables=tuple(tables),
            privacy_statement=privacy,
        )  # fmt: skip


def import_mbi() -> Any:
    """Import ``mbi`` with jax in float64 and without its disk cache (mbi warns otherwise)."""
    jax = require("jax", "differentially private synthesis", DP_EXTRA)
    # mbi warns (and our tests fail) unless jax runs in float64 without its disk cache.
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_enable_compilation_cache", False)
    return require("mbi", "differentially private synthesis", DP_EXTRA)


def _mst_measurements(
    codes: IntArray,
    sizes: list[int],
    rho: float,
    rng: np.random.Generator,
    progress: Progress | None = None,
) -> tuple[list[tuple[int, int]], list[tuple[tuple[int, ...], FloatArray, float]]]:
    def report(fraction: float, step: str) -> None:
        if progress is not None:
            progress(fraction, step)

    n_columns = len(sizes)
    if n_columns == 1:
        std = math.sqrt(1 / (2 * rho))
        x = marginal_counts(codes, (0,), sizes)
        return [], [((0,), x + rng.normal(0.0, std, x.size), std)]
    sigma = math.sqrt(3 / (2 * rho))
    std_one = sigma * math.sqrt(n_columns)
    measurements: list[tuple[tuple[int, ...], FloatArray, float]] = []
    marginals = []
    for j in range(n_columns):
        x = marginal_counts(codes, (j,), sizes)
        y = x + rng.normal(0.0, std_one, x.size)
        measurements.append(((j,), y, std_one))
        marginals.append(np.clip(y, 0, None) / max(np.clip(y, 0, None).sum(), 1e-12))
    report(1 / 3, "step 1 of 3: one-way marginals")
    total = max(float(np.mean([m[1].sum() for m in measurements])), 1.0)
    errors = {
        (a, b): float(
            np.abs(
                marginal_counts(codes, (a, b), sizes)
                - total * np.outer(marginals[a], marginals[b]).ravel()
            ).sum()
        )
        for a, b in itertools.combinations(range(n_columns), 2)
    }
    tree = _select_tree(errors, n_columns, math.sqrt(8 * (rho / 3) / (n_columns - 1)), rng)
    report(2 / 3, "step 2 of 3: tree of pairs selected")
    std_two = sigma * math.sqrt(n_columns - 1)
    for a, b in tree:
        x = marginal_counts(codes, (a, b), sizes)
        measurements.append(((a, b), x + rng.normal(0.0, std_two, x.size), std_two))
    report(1.0, "step 3 of 3: two-way marginals")
    return tree, measurements


def _select_tree(
    errors: dict[tuple[int, int], float],
    n_columns: int,
    epsilon: float,
    rng: np.random.Generator,
) -> list[tuple[int, int]]:
    component = list(range(n_columns))

    def root(i: int) -> int:
        while component[i] != i:
            i = component[i]
        return i

    tree: list[tuple[int, int]] = []
    for _ in range(n_columns - 1):
        candidates = [e for e in errors if root(e[0]) != root(e[1])]
        pick = candidates[_choose(np.array([errors[e] for e in candidates]), epsilon, rng)]
        tree.append(pick)
        component[root(pick[0])] = root(pick[1])
    return tree


def _ancestral_order(tree: list[tuple[int, int]], n_columns: int) -> tuple[tuple[int, ...], ...]:
    """Cliques ordered so that each shares at most one already-covered column."""
    if not tree:
        return ((0,),)
    order: list[tuple[int, ...]] = []
    covered = {tree[0][0]}
    remaining = list(tree)
    while remaining:
        edge = next(e for e in remaining if e[0] in covered or e[1] in covered)
        remaining.remove(edge)
        order.append(edge)
        covered.update(edge)
    order.extend((j,) for j in range(n_columns) if j not in covered)
    return tuple(order)


@dataclass(frozen=True, kw_only=True)
class FittedMarginalModel:
    """A fitted marginal-based model: tree cliques, their estimated tables and the bins.

    Attributes
    ----------
    edges : tuple of ndarray, each shape (k_j + 1,)
        Bin edges per column (category codes -0.5 ... k - 0.5 for categorical columns).
    cliques : tuple of tuple of int
        Column indices of each clique, in ancestral order.
    tables : tuple of ndarray
        The estimated (non-negative) marginal table of each clique, one axis per column.
    privacy_statement : dict
        Mechanism, epsilon, delta, rho, neighbouring relation, what was public.
    """

    schema: TableSchema
    edges: tuple[FloatArray, ...]
    cliques: tuple[tuple[int, ...], ...]
    tables: tuple[FloatArray, ...]
    privacy_statement: dict[str, Any]
    method: str = "mst"

    def sample(self, n: int, rng: np.random.Generator) -> pd.DataFrame:
        """Draw ``n`` rows: bins by ancestral sampling, values uniform within bins."""
        check_sample_size(n)
        sizes = [e.size - 1 for e in self.edges]
        codes = np.full((int(n), len(sizes)), -1, dtype=np.int64)
        covered: set[int] = set()
        for clique, table in zip(self.cliques, self.tables, strict=True):
            _sample_clique(codes, clique, table, covered, rng)
            covered.update(clique)
        matrix = np.empty(codes.shape)
        for j, cut in enumerate(self.edges):
            low, high = cut[codes[:, j]], cut[codes[:, j] + 1]
            if self.schema.columns[j].kind is ColumnKind.CATEGORICAL:
                matrix[:, j] = codes[:, j]
            else:
                matrix[:, j] = low + rng.uniform(size=codes.shape[0]) * (high - low)
        return self.schema.decode(matrix)

    def privacy(self) -> dict[str, Any]:
        """The privacy statement of the fit."""
        return dict(self.privacy_statement)

    def save(self, directory: Path) -> None:
        """Write JSON metadata and the arrays (no pickle)."""
        arrays: dict[str, NDArray[Any]] = {f"edges/{j}": e for j, e in enumerate(self.edges)}
        arrays.update({f"table/{k}": t for k, t in enumerate(self.tables)})
        settings = {"cliques": [list(c) for c in self.cliques], "privacy": self.privacy_statement}
        write_saved(Path(directory), self.method, self.schema, settings, arrays)

    @classmethod
    def load(cls, directory: Path) -> FittedMarginalModel:
        """Read a model written by :meth:`save`."""
        method, schema, settings, arrays = read_saved(directory)
        cliques = tuple(tuple(int(i) for i in c) for c in settings["cliques"])
        return cls(
            method=method,
            schema=schema,
            edges=tuple(arrays[f"edges/{j}"] for j in range(len(schema.columns))),
            cliques=cliques,
            tables=tuple(arrays[f"table/{k}"] for k in range(len(cliques))),
            privacy_statement=settings["privacy"],
        )


def _sample_clique(
    codes: IntArray,
    clique: tuple[int, ...],
    table: FloatArray,
    covered: set[int],
    rng: np.random.Generator,
) -> None:
    known = [i for i in clique if i in covered]
    new = [i for i in clique if i not in covered]
    if not new:
        return
    axes = [clique.index(i) for i in known + new]
    known_shape = tuple(table.shape[clique.index(i)] for i in known)
    new_shape = tuple(table.shape[clique.index(i)] for i in new)
    conditional = np.transpose(table, axes).reshape(int(np.prod(known_shape)), -1)
    row_index = (
        np.ravel_multi_index(tuple(codes[:, i] for i in known), known_shape)
        if known
        else np.zeros(codes.shape[0], dtype=np.int64)
    )
    sums = conditional.sum(axis=1, keepdims=True)
    # A parent bin the model gives no mass has no conditional: fall back to uniform.
    conditional = np.where(sums > 0, conditional / np.where(sums > 0, sums, 1.0), 1.0)
    cumulative = np.cumsum(conditional / conditional.sum(axis=1, keepdims=True), axis=1)
    draws = np.asarray(rng.random(codes.shape[0]), dtype=np.float64)
    flat = np.minimum((draws[:, None] > cumulative[row_index]).sum(axis=1), cumulative.shape[1] - 1)
    for i, values in zip(new, np.unravel_index(flat, new_shape), strict=True):
        codes[:, i] = values
    if np.any(codes[:, new] < 0):
        raise InvalidInputError("internal: a column was left unsampled")
