"""Exact marginals from junction-tree clique tables, against private-pgm's own answers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from tests.conftest import require

from healthtwin.errors import InvalidInputError, ShapeError
from healthtwin.synthetic.junction_marginals import JunctionMarginals, junction_marginals_of
from healthtwin.synthetic.private_pgm import import_mbi


def _fitted_model(
    sizes: list[int], cliques: list[tuple[int, ...]], seed: int
) -> tuple[object, JunctionMarginals]:
    """An mbi model with random log potentials on ``cliques``, and our tables of its tree.

    The model holds no marginals, so its ``project`` always runs mbi's variable
    elimination: an independent reference.
    """
    require("jax", "synth")
    mbi = import_mbi()
    rng = np.random.default_rng(seed)
    names = [str(i) for i in range(len(sizes))]
    domain = mbi.Domain(names, sizes)
    keys = [tuple(names[i] for i in c) for c in cliques]
    tables = {
        key: mbi.Factor(domain.project(key), rng.normal(0.0, 1.0, [sizes[i] for i in c]))
        for key, c in zip(keys, cliques, strict=True)
    }
    potentials = mbi.CliqueVector(domain, keys, tables)
    model = mbi.MarkovRandomField(
        potentials=potentials, marginals=mbi.CliqueVector(domain, [], {}), total=100.0
    )
    jt = mbi.junction_tree
    tree, _ = jt.make_junction_tree(domain, keys)
    order = list(jt.maximal_cliques(tree))
    where = {c: k for k, c in enumerate(order)}
    logs = [
        (tuple(int(a) for a in potentials[c].domain.attributes), np.asarray(potentials[c].values))
        for c in potentials.cliques
    ]
    marginals = junction_marginals_of(
        logs,
        sizes,
        [tuple(int(a) for a in c) for c in order],
        [(where[a], where[b]) for a, b in tree.edges()],
        float(model.total),
    )
    return model, marginals


def _brute_force(model: object, sizes: list[int], columns: tuple[int, ...]) -> np.ndarray:
    """The marginal from the whole joint table: exp(sum of potentials), normalised."""
    potentials = model.potentials  # type: ignore[attr-defined]
    log_joint = np.zeros(sizes)
    everything = tuple(range(len(sizes)))
    for clique in potentials.cliques:
        factor = potentials[clique]
        variables = tuple(int(a) for a in factor.domain.attributes)
        values = np.asarray(factor.values)
        order = np.argsort(variables)
        shape = [sizes[i] if i in variables else 1 for i in everything]
        log_joint = log_joint + np.transpose(values, order).reshape(shape)
    joint = np.exp(log_joint - log_joint.max())
    joint *= float(model.total) / joint.sum()  # type: ignore[attr-defined]
    drop = tuple(i for i in everything if i not in columns)
    return np.transpose(joint.sum(axis=drop), np.argsort(np.argsort(columns)))


@pytest.mark.parametrize(
    ("sizes", "cliques", "checked_by_mbi"),
    [
        # a chain with a cycle (0-1-4 / 1-2-3-4): triangulation makes 3-column cliques
        ([3, 2, 4, 2, 3, 2], [(0, 1), (1, 2), (2, 3), (3, 4), (1, 4), (4, 5), (0,)],
         [(0, 5), (0, 2, 5)]),
        # a forest: columns 5 and 6 are independent of the rest
        ([2, 3, 2, 2, 3, 2, 4], [(0, 1, 2), (2, 3), (3, 4), (5, 6), (0,), (4,)],
         [(1, 6), (0, 4, 6)]),
    ],
)  # fmt: skip
def test_every_marginal_up_to_three_columns_is_exact(
    sizes: list[int], cliques: list[tuple[int, ...]], checked_by_mbi: list[tuple[int, ...]]
) -> None:
    """All 1- to 3-column marginals against the brute-force joint; some against mbi's own
    variable elimination (each costs a jax compilation, so only a few)."""
    model, marginals = _fitted_model(sizes, cliques, seed=len(sizes))
    worst = 0.0
    for k in (1, 2, 3):
        for r in itertools.combinations(range(len(sizes)), k):
            reference = _brute_force(model, sizes, r)
            ours = marginals.marginal(r)
            assert ours.shape == reference.shape
            worst = max(worst, float(np.abs(ours - reference).max() / np.abs(reference).max()))
    assert worst < 1e-6
    for r in checked_by_mbi:
        reference = np.asarray(model.project(tuple(str(i) for i in r)).datavector(False))  # type: ignore[attr-defined]
        ours = marginals.marginal(r)
        np.testing.assert_allclose(ours, reference, rtol=1e-6, atol=1e-9 * float(ours.sum()))


def test_axes_follow_the_order_asked_and_tables_sum_to_the_total() -> None:
    _, marginals = _fitted_model([3, 2, 4], [(0, 1), (1, 2)], seed=1)
    forward, backward = marginals.marginal((0, 2)), marginals.marginal((2, 0))
    np.testing.assert_allclose(backward, forward.T)
    for table in marginals.tables:
        assert table.sum() == pytest.approx(marginals.total)
    assert marginals.marginal((1,)).sum() == pytest.approx(marginals.total)


def test_a_hand_made_chain_gives_the_conditional_product() -> None:
    p01 = np.array([[0.3, 0.1], [0.2, 0.4]])
    cond = np.array([[0.5, 0.5], [0.9, 0.1]])  # P(2 | 1)
    p12 = cond * p01.sum(axis=0)[:, None]
    marginals = JunctionMarginals(((0, 1), (1, 2)), (p01, p12), ((0, 1),), 1.0)
    expected = np.einsum("ab,bc->ac", p01, cond)
    np.testing.assert_allclose(marginals.marginal((0, 2)), expected)
    # A separator value with no mass contributes nothing (0 / 0 = 0), not NaN.
    p01_zero = np.array([[0.5, 0.0], [0.5, 0.0]])
    p12_zero = np.array([[0.6, 0.4], [0.0, 0.0]])
    zero = JunctionMarginals(((0, 1), (1, 2)), (p01_zero, p12_zero), ((0, 1),), 1.0)
    result = zero.marginal((0, 2))
    assert np.all(np.isfinite(result))
    np.testing.assert_allclose(result, [[0.3, 0.2], [0.3, 0.2]])


def test_bad_requests_are_refused() -> None:
    marginals = JunctionMarginals(((0, 1),), (np.ones((2, 2)) / 4,), (), 1.0)
    with pytest.raises(InvalidInputError, match="distinct"):
        marginals.marginal((0, 0))
    with pytest.raises(InvalidInputError, match="no clique holds column 3"):
        marginals.marginal((0, 3))
    with pytest.raises(ShapeError):
        JunctionMarginals(((0, 1),), (np.ones(2),), (), 1.0)
    with pytest.raises(InvalidInputError, match="no maximal clique"):
        junction_marginals_of([((0, 2), np.zeros((2, 2)))], [2, 2, 2], [(0, 1), (1, 2)],
                              [(0, 1)], 1.0)  # fmt: skip
