"""Gaussian copula generator: marginals plus a normal-scores correlation (no privacy).

Each column ``j`` is mapped to normal scores ``z_j = Phi^-1(u_j)``: ``u_j`` is the
rank of the value over ``n + 1`` (ties broken at random), and for a categorical column a
uniform draw inside the category's interval of the cumulative frequencies. The copula is
the correlation ``R`` of the scores (Liu, Lafferty & Wasserman, "The nonparanormal",
JMLR 10:2295-2328, 2009). Sampling draws ``z ~ N(0, R)`` and maps ``Phi(z)`` back through
each column's inverse marginal: the empirical quantile function (``marginals="empirical"``,
kept on a grid of ``n_quantiles`` levels) or the best-fitting parametric family by the
Kolmogorov-Smirnov statistic (``"parametric"``: normal, log-normal, gamma, uniform).

A copula fitted on real data keeps their quantiles: it is a fast, faithful *non-private*
baseline. It carries no privacy guarantee whatever its distance or membership scores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from healthtwin.errors import InvalidParameterError, UnknownModelError
from healthtwin.synthetic.tabular import (
    ColumnKind,
    FloatArray,
    TableSchema,
    check_sample_size,
    read_saved,
    write_saved,
)

__all__ = ["PARAMETRIC_FAMILIES", "FittedCopula", "GaussianCopula"]

Marginals = Literal["empirical", "parametric"]
PARAMETRIC_FAMILIES = ("norm", "lognorm", "gamma", "uniform")
_EIGEN_FLOOR = 1e-6


@dataclass(frozen=True, kw_only=True)
class GaussianCopula:
    """Settings of the Gaussian copula generator.

    Parameters
    ----------
    marginals : {"empirical", "parametric"}
        How non-categorical columns are modelled.
    n_quantiles : int
        Levels of the stored empirical quantile function (>= 2).
    schema : TableSchema or None
        Column metadata; inferred from the table when None.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal(2000)
    >>> table = pd.DataFrame({"x": x, "y": x + 0.5 * rng.standard_normal(2000)})
    >>> fitted = GaussianCopula().fit(table, rng=rng)
    >>> synthetic = fitted.sample(5000, rng)
    >>> round(float(synthetic.corr().iloc[0, 1]), 1)
    0.9
    """

    marginals: Marginals = "empirical"
    n_quantiles: int = 1001
    schema: TableSchema | None = None

    def __post_init__(self) -> None:
        if self.marginals not in ("empirical", "parametric"):
            raise UnknownModelError(
                f"unknown marginals {self.marginals!r}; choose 'empirical' or 'parametric'"
            )
        if self.n_quantiles < 2:
            raise InvalidParameterError(f"n_quantiles must be >= 2, got {self.n_quantiles}")

    def fit(self, table: pd.DataFrame, *, rng: np.random.Generator) -> FittedCopula:
        """Fit marginals and the normal-scores correlation.

        Raises
        ------
        InvalidInputError
            Missing values, unknown categories or columns absent from the schema.
        """
        schema = self.schema or TableSchema.infer(table)
        matrix = schema.encode(table)
        n_rows, n_columns = matrix.shape
        scores = np.empty_like(matrix)
        levels = np.linspace(0.0, 1.0, self.n_quantiles)
        quantiles = np.zeros((n_columns, self.n_quantiles))
        cumulative: dict[str, FloatArray] = {}
        families: list[list[Any]] = []
        for j, spec in enumerate(schema.columns):
            column = matrix[:, j]
            if spec.kind is ColumnKind.CATEGORICAL:
                counts = np.bincount(column.astype(int), minlength=len(spec.categories))
                edges = np.concatenate([[0.0], np.cumsum(counts) / n_rows])
                codes = column.astype(int)
                u = edges[codes] + rng.uniform(size=n_rows) * (edges[codes + 1] - edges[codes])
                cumulative[spec.name] = edges
                families.append([])
            else:
                tie_break = np.asarray(rng.random(n_rows), dtype=np.float64)
                order = np.lexsort((tie_break, column))
                u = np.empty(n_rows)
                u[order] = (np.arange(n_rows) + 1.0) / (n_rows + 1.0)
                quantiles[j] = np.quantile(column, levels)
                families.append(_best_family(column) if self.marginals == "parametric" else [])
            scores[:, j] = stats.norm.ppf(np.clip(u, 1e-12, 1 - 1e-12))
        correlation = _nearest_correlation(scores)
        return FittedCopula(
            schema=schema,
            correlation=correlation,
            levels=levels,
            quantiles=quantiles,
            cumulative=cumulative,
            families=tuple(tuple(f) for f in families),
        )


def _best_family(column: FloatArray) -> list[Any]:
    candidates = ["norm", "uniform"] + (["lognorm", "gamma"] if column.min() > 0 else [])
    best: list[Any] = []
    best_ks = np.inf
    for name in candidates:
        family = getattr(stats, name)
        with np.errstate(all="ignore"):
            parameters = family.fit(column)
        ks = stats.kstest(column, name, args=parameters).statistic
        if np.isfinite(ks) and ks < best_ks:
            best, best_ks = [name, *map(float, parameters)], ks
    return best


def _nearest_correlation(scores: FloatArray) -> FloatArray:
    """Correlation of the scores, eigenvalues floored so that it is positive definite."""
    if scores.shape[1] == 1:
        return np.ones((1, 1))
    spread = scores.std(axis=0)
    safe = np.where(spread > 0, scores, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = np.corrcoef(safe, rowvar=False)
    correlation = np.nan_to_num(correlation, nan=0.0)
    np.fill_diagonal(correlation, 1.0)
    values, vectors = np.linalg.eigh(correlation)
    repaired = (vectors * np.maximum(values, _EIGEN_FLOOR)) @ vectors.T
    scale = np.sqrt(np.diag(repaired))
    return np.asarray(repaired / np.outer(scale, scale))


@dataclass(frozen=True, kw_only=True)
class FittedCopula:
    """A fitted Gaussian copula.

    Attributes
    ----------
    correlation : ndarray, shape (n_columns, n_columns)
        Correlation of the normal scores (positive definite).
    levels : ndarray, shape (n_quantiles,)
        Probability levels of the stored quantiles.
    quantiles : ndarray, shape (n_columns, n_quantiles)
        Empirical quantiles per column (rows of categorical columns unused).
    cumulative : dict of str to ndarray, shape (n_categories + 1,)
        Cumulative category frequencies of each categorical column.
    families : tuple of tuples
        Per column, ``(family, *parameters)`` of a parametric marginal, or empty.
    """

    schema: TableSchema
    correlation: FloatArray
    levels: FloatArray
    quantiles: FloatArray
    cumulative: dict[str, FloatArray]
    families: tuple[tuple[Any, ...], ...]
    method: str = field(default="copula", init=False)

    def sample(self, n: int, rng: np.random.Generator) -> pd.DataFrame:
        """Draw ``n`` rows.

        Examples
        --------
        >>> table = pd.DataFrame({"sex": ["F", "M", "M", "F"], "age": [50, 61, 72, 80]})
        >>> fitted = GaussianCopula().fit(table, rng=np.random.default_rng(1))
        >>> fitted.sample(3, np.random.default_rng(2)).dtypes.tolist()
        [CategoricalDtype(categories=['F', 'M'], ordered=False, categories_dtype=object), dtype('int64')]
        """  # noqa: E501
        check_sample_size(n)
        factor = np.linalg.cholesky(self.correlation)
        scores = rng.standard_normal((int(n), self.correlation.shape[0])) @ factor.T
        u = stats.norm.cdf(scores)
        matrix = np.empty_like(u)
        for j, spec in enumerate(self.schema.columns):
            if spec.kind is ColumnKind.CATEGORICAL:
                edges = self.cumulative[spec.name]
                matrix[:, j] = np.clip(
                    np.searchsorted(edges, u[:, j], side="right") - 1, 0, edges.size - 2
                )
            elif self.families[j]:
                name, *parameters = self.families[j]
                matrix[:, j] = getattr(stats, name).ppf(u[:, j], *parameters)
            else:
                matrix[:, j] = np.interp(u[:, j], self.levels, self.quantiles[j])
        return self.schema.decode(matrix)

    def privacy(self) -> dict[str, Any]:
        """No formal guarantee: the copula keeps the real data's quantiles."""
        return {"mechanism": "none", "epsilon": None, "delta": None}

    def save(self, directory: Path) -> None:
        """Write JSON metadata and the arrays (no pickle)."""
        arrays = {"correlation": self.correlation, "levels": self.levels}
        arrays["quantiles"] = self.quantiles
        arrays.update({f"cumulative/{k}": v for k, v in self.cumulative.items()})
        settings = {"families": [list(f) for f in self.families], "privacy": self.privacy()}
        write_saved(Path(directory), self.method, self.schema, settings, arrays)

    @classmethod
    def load(cls, directory: Path) -> FittedCopula:
        """Read a copula written by :meth:`save`."""
        _, schema, settings, arrays = read_saved(directory)
        prefix = "cumulative/"
        return cls(
            schema=schema,
            correlation=arrays["correlation"],
            levels=arrays["levels"],
            quantiles=arrays["quantiles"],
            cumulative={k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)},
            families=tuple(tuple(f) for f in settings["families"]),
        )
