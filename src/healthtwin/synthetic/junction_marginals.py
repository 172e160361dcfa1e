"""Exact marginals of a discrete graphical model from its junction tree, in numpy.

A graphical model over discrete columns (``mbi``'s fitted ``MarkovRandomField``: log
potentials on a set of cliques) is summed to the tables of its junction tree's maximal
cliques once, by Shafer-Shenoy message passing in log space (two passes over the tree).
Any marginal is then exact and cheap:

* a set of columns inside one maximal clique is a plain sum of that clique's table;
* otherwise the tables of the smallest subtree whose cliques cover the columns are joined
  along its edges, the junction-tree factorisation
  ``P(C_root) prod_k P(C_k) / P(S_k)`` (``S_k`` the separator of ``C_k`` with its parent,
  ``0 / 0 = 0``), and everything but the asked columns is summed out child by child, so
  no array ever holds more than a clique plus the asked columns.

This is what lets :class:`~healthtwin.synthetic.aim.AIM` score every candidate marginal
every round without private-pgm's variable elimination, which jax compiles once per
attribute set (about 0.7 s each) and whose compiled programs accumulate until LLVM runs
out of memory. Columns in different components of the junction forest are independent:
their marginal is the outer product.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from healthtwin.errors import InvalidInputError, ShapeError
from healthtwin.synthetic.tabular import FloatArray

__all__ = ["JunctionMarginals", "junction_marginals_of"]

Clique = tuple[int, ...]


def _align(variables: Sequence[int], values: FloatArray, target: Sequence[int]) -> FloatArray:
    """``values`` over ``variables`` transposed and reshaped to broadcast over ``target``."""
    order = sorted(range(len(variables)), key=lambda k: target.index(variables[k]))
    moved = np.transpose(values, order) if len(variables) > 1 else values
    shape = [1] * len(target)
    for k in order:
        shape[target.index(variables[k])] = values.shape[k]
    return np.reshape(moved, shape)


def _logsumexp(values: FloatArray, axes: tuple[int, ...]) -> FloatArray:
    if not axes:
        return values
    peak = np.max(values, axis=axes, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0.0)
    with np.errstate(divide="ignore"):
        total = np.log(np.sum(np.exp(values - peak), axis=axes, keepdims=True)) + peak
    return np.asarray(np.squeeze(total, axis=axes), dtype=float)


@dataclass(frozen=True)
class JunctionMarginals:
    """The maximal-clique tables of a junction tree (forest) and exact marginals from them.

    Attributes
    ----------
    cliques : tuple of tuple of int
        The maximal cliques (column indices, ascending).
    tables : tuple of ndarray
        Each clique's marginal, one axis per column in clique order, summing to ``total``.
    edges : tuple of (int, int)
        Tree edges between clique positions (a forest: components are independent).
    total : float
        What every table sums to (a number of rows).

    Examples
    --------
    >>> p = np.array([[0.3, 0.1], [0.2, 0.4]])  # columns 0, 1
    >>> q = np.array([[0.5, 0.5], [0.9, 0.1]])  # columns 1, 2: P(2 | 1) times P(1)
    >>> q = q * p.sum(axis=0)[:, None]
    >>> jm = JunctionMarginals(((0, 1), (1, 2)), (p, q), ((0, 1),), 1.0)
    >>> np.round(jm.marginal((0, 2)), 3).tolist()
    [[0.24, 0.16], [0.46, 0.14]]
    """

    cliques: tuple[Clique, ...]
    tables: tuple[FloatArray, ...]
    edges: tuple[tuple[int, int], ...]
    total: float

    def __post_init__(self) -> None:
        if len(self.cliques) != len(self.tables) or not self.cliques:
            raise ShapeError(
                f"need one table per clique and at least one clique, got {len(self.cliques)} "
                f"cliques and {len(self.tables)} tables"
            )
        for clique, table in zip(self.cliques, self.tables, strict=True):
            if table.ndim != len(clique):
                raise ShapeError(f"clique {clique} has a table of {table.ndim} axes")

    def _neighbours(self) -> list[list[int]]:
        near: list[list[int]] = [[] for _ in self.cliques]
        for a, b in self.edges:
            near[a].append(b)
            near[b].append(a)
        return near

    def marginal(self, columns: Sequence[int]) -> FloatArray:
        """The model's table of ``columns`` (axes in the order given), summing to ``total``.

        Raises
        ------
        InvalidInputError
            A column no clique holds, or a column named twice.
        """
        columns = tuple(int(c) for c in columns)
        if len(set(columns)) != len(columns):
            raise InvalidInputError(f"columns must be distinct, got {columns}")
        for k, clique in enumerate(self.cliques):
            if set(columns) <= set(clique):
                return self._inside(k, columns)
        near = self._neighbours()
        component = self._components(near)
        homes: dict[int, int] = {}
        for c in columns:
            home = next((k for k, cl in enumerate(self.cliques) if c in cl), None)
            if home is None:
                raise InvalidInputError(
                    f"no clique holds column {c}; the model covers "
                    f"{sorted({i for cl in self.cliques for i in cl})}"
                )
            homes[c] = home
        groups: dict[int, list[int]] = {}
        for c in columns:
            groups.setdefault(component[homes[c]], []).append(c)
        result: FloatArray = np.ones(())
        covered: list[int] = []
        for group in groups.values():
            part = self._joined(tuple(group), homes[group[0]], near) / self.total
            result = np.multiply.outer(result, part)
            covered.extend(group)
        return self.total * np.transpose(result, [covered.index(c) for c in columns])

    def _inside(self, k: int, columns: Clique) -> FloatArray:
        clique, table = self.cliques[k], self.tables[k]
        drop = tuple(i for i, c in enumerate(clique) if c not in columns)
        summed = table.sum(axis=drop) if drop else table
        kept = [c for c in clique if c in columns]
        return np.transpose(summed, [kept.index(c) for c in columns])

    def _components(self, near: list[list[int]]) -> list[int]:
        label = [-1] * len(self.cliques)
        for start in range(len(self.cliques)):
            if label[start] >= 0:
                continue
            stack = [start]
            label[start] = start
            while stack:
                node = stack.pop()
                for other in near[node]:
                    if label[other] < 0:
                        label[other] = start
                        stack.append(other)
        return label

    def _joined(self, columns: Clique, root: int, near: list[list[int]]) -> FloatArray:
        """Marginal of ``columns`` (all in ``root``'s component) over the covering subtree."""
        parent = {root: root}
        depth = {root: 0}
        order = [root]
        for node in order:
            for other in near[node]:
                if other not in parent:
                    parent[other], depth[other] = node, depth[node] + 1
                    order.append(other)
        keep = {root}
        for c in columns:
            # The cliques holding c are connected: the one nearest the root is unique.
            node = min((k for k in parent if c in self.cliques[k]), key=depth.__getitem__)
            while node not in keep:
                keep.add(node)
                node = parent[node]
        wanted = set(columns)
        messages: dict[int, tuple[Clique, FloatArray]] = {}
        for node in reversed([k for k in order if k in keep]):
            clique = self.cliques[node]
            factor = self.tables[node]
            if node != root:
                sep = tuple(c for c in clique if c in self.cliques[parent[node]])
                marg = self._inside(node, sep)
                denominator = _align(sep, marg, clique)
                with np.errstate(divide="ignore", invalid="ignore"):
                    factor = np.where(denominator > 0, factor / denominator, 0.0)
            operands: list[Any] = [factor, list(clique)]
            carried = set(clique)
            for child in (k for k in near[node] if k in keep and parent.get(k) == node):
                if child == node:
                    continue
                child_vars, child_msg = messages.pop(child)
                operands += [child_msg, list(child_vars)]
                carried |= set(child_vars)
            if node == root:
                out = tuple(c for c in columns)
            else:
                sep_set = set(clique) & set(self.cliques[parent[node]])
                out = tuple(sorted(c for c in carried if c in sep_set or c in wanted))
            labels = {v: i for i, v in enumerate(sorted(carried))}
            relabelled = [
                [labels[v] for v in op] if isinstance(op, list) else op for op in operands
            ]
            value = np.einsum(*relabelled, [labels[v] for v in out], optimize=True)
            messages[node] = (out, np.asarray(value, dtype=float))
        return messages[root][1]


def junction_marginals_of(
    log_potentials: Sequence[tuple[Clique, FloatArray]],
    sizes: Sequence[int],
    tree_cliques: Sequence[Clique],
    tree_edges: Sequence[tuple[int, int]],
    total: float,
) -> JunctionMarginals:
    """Sum log potentials to the exact marginals of a junction tree's maximal cliques.

    Parameters
    ----------
    log_potentials : sequence of (clique, ndarray)
        Log-space factors; each array has one axis per column of its clique (in that order)
        and each clique must lie inside one of ``tree_cliques``.
    sizes : sequence of int
        Number of values of every column.
    tree_cliques : sequence of tuple of int
        The junction tree's maximal cliques (running intersection holds along its edges).
    tree_edges : sequence of (int, int)
        Edges between positions in ``tree_cliques``.
    total : float
        What every returned table sums to.

    Returns
    -------
    JunctionMarginals
        Tables summing to ``total`` over each maximal clique.

    Raises
    ------
    InvalidInputError
        A potential that no maximal clique contains.

    Examples
    --------
    >>> log_phi = [((0, 1), np.log(np.array([[1.0, 3.0], [2.0, 2.0]])))]
    >>> jm = junction_marginals_of(log_phi, [2, 2], [(0, 1)], [], 8.0)
    >>> np.round(jm.marginal((1,)), 9).tolist()
    [3.0, 5.0]
    """
    cliques = [tuple(int(c) for c in cl) for cl in tree_cliques]
    beliefs = [np.zeros([sizes[c] for c in cl]) for cl in cliques]
    for clique, values in log_potentials:
        home = next((k for k, cl in enumerate(cliques) if set(clique) <= set(cl)), None)
        if home is None:
            raise InvalidInputError(
                f"the potential on {tuple(clique)} lies in no maximal clique of {cliques}"
            )
        beliefs[home] = beliefs[home] + _align(tuple(clique), np.asarray(values), cliques[home])
    near: list[list[int]] = [[] for _ in cliques]
    for a, b in tree_edges:
        near[a].append(b)
        near[b].append(a)
    # Shafer-Shenoy: collect then distribute, messages in log space over separators.
    messages: dict[tuple[int, int], FloatArray] = {}
    seen: set[int] = set()
    for root in range(len(cliques)):
        if root in seen:
            continue
        parent = {root: root}
        order = [root]
        for node in order:
            for other in near[node]:
                if other not in parent:
                    parent[other] = node
                    order.append(other)
        seen.update(order)
        passes = [(k, parent[k]) for k in reversed(order[1:])]
        passes += [(parent[k], k) for k in order[1:]]
        for i, j in passes:
            incoming = beliefs[i]
            for other in near[i]:
                if other != j and (other, i) in messages:
                    incoming = incoming + messages[(other, i)]
            drop = tuple(a for a, c in enumerate(cliques[i]) if c not in cliques[j])
            sep = tuple(c for c in cliques[i] if c in cliques[j])
            messages[(i, j)] = _align(sep, _logsumexp(incoming, drop), cliques[j])
    tables = []
    for k, clique in enumerate(cliques):
        log_table = beliefs[k]
        for other in near[k]:
            log_table = log_table + messages[(other, k)]
        log_table = log_table - _logsumexp(log_table, tuple(range(len(clique))))
        tables.append(float(total) * np.exp(log_table))
    return JunctionMarginals(tuple(cliques), tuple(tables), tuple(tree_edges), float(total))
