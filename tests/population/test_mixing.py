"""Contact matrices: scaling, reciprocity, aggregation, R0 helpers and synthetic contacts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError
from healthtwin.population.geography import AGE_GROUPS_16
from healthtwin.population.mixing import SETTINGS, ContactMatrices, synthetic_contacts

AGES = ("0-19", "20-59", "60+")


def _random(seed: int, n_ages: int = 3) -> ContactMatrices:
    rng = np.random.default_rng(seed)
    return ContactMatrices(
        settings=SETTINGS,
        age_groups=AGES if n_ages == 3 else tuple(f"g{i}" for i in range(n_ages)),
        matrices=rng.gamma(2.0, 1.0, size=(4, n_ages, n_ages)),
    )


def test_scaled_multiplies_only_the_named_settings() -> None:
    m = _random(1)
    s = m.scaled({"school": 0.0, "work": 0.5})
    np.testing.assert_array_equal(s.setting("school"), 0.0)
    np.testing.assert_allclose(s.setting("work"), 0.5 * m.setting("work"))
    np.testing.assert_array_equal(s.setting("home"), m.setting("home"))
    np.testing.assert_array_equal(m.scaled({}).matrices, m.matrices)
    with pytest.raises(InvalidInputError, match=r"unknown setting 'pub'; known settings"):
        m.scaled({"pub": 0.5})
    with pytest.raises(InvalidParameterError, match="'home' is -1"):
        m.scaled({"home": -1.0})


def test_symmetrized_is_reciprocal_and_keeps_total_contacts() -> None:
    m = _random(2)
    n = np.array([3_000.0, 5_000.0, 1_500.0])
    s = m.symmetrized(n)
    for k in range(4):
        flows = s.matrices[k] * n[:, None]  # C'_ij N_i
        np.testing.assert_allclose(flows, flows.T, rtol=1e-13)
    assert (s.matrices * n[None, :, None]).sum() == pytest.approx(
        (m.matrices * n[None, :, None]).sum(), rel=1e-13
    )
    # Already reciprocal matrices are left as they are.
    np.testing.assert_allclose(s.symmetrized(n).matrices, s.matrices, rtol=1e-13)


def test_symmetrized_by_hand() -> None:
    m = ContactMatrices(
        settings=("all",), age_groups=("a", "b"), matrices=[[[1.0, 4.0], [1.0, 2.0]]]
    )
    s = m.symmetrized([100.0, 200.0])
    # C'_ab = (4*100 + 1*200) / (2*100) = 3; C'_ba = (1*200 + 4*100) / (2*200) = 1.5
    np.testing.assert_allclose(s.matrices[0], [[1.0, 3.0], [1.5, 2.0]])


def test_population_vectors_are_validated() -> None:
    m = _random(3)
    with pytest.raises(ShapeError, match=r"expected one number per age group \(3,\)"):
        m.symmetrized([1.0, 2.0])
    with pytest.raises(InvalidInputError, match="> 0"):
        m.symmetrized([1.0, 0.0, 2.0])
    with pytest.raises(InvalidInputError, match=">= 0"):
        m.aggregated([1.0, -1.0, 2.0], {"all": list(AGES)})


def test_aggregated_preserves_total_contacts_and_weights_rows_by_population() -> None:
    m = _random(4, n_ages=6)
    n = np.array([10.0, 20.0, 30.0, 25.0, 10.0, 5.0])
    groups = {"young": ["g0", "g1"], "middle": ["g2", "g3", "g4"], "old": ["g5"]}
    a = m.aggregated(n, groups)
    assert a.age_groups == ("young", "middle", "old")
    assert a.settings == m.settings
    coarse_n = np.array([30.0, 65.0, 5.0])
    assert (a.matrices * coarse_n[None, :, None]).sum() == pytest.approx(
        (m.matrices * n[None, :, None]).sum(), rel=1e-13
    )
    expected = (
        n[0] * m.matrices[:, 0, 2:5].sum(axis=1) + n[1] * m.matrices[:, 1, 2:5].sum(axis=1)
    ) / 30.0
    np.testing.assert_allclose(a.matrices[:, 0, 1], expected, rtol=1e-13)
    # A reciprocal fine matrix stays reciprocal when aggregated.
    r = m.symmetrized(n).aggregated(n, groups)
    for k in range(4):
        flows = r.matrices[k] * coarse_n[:, None]
        np.testing.assert_allclose(flows, flows.T, rtol=1e-12)


def test_aggregated_group_without_people_takes_the_plain_mean() -> None:
    m = _random(5)
    a = m.aggregated([0.0, 0.0, 10.0], {"under60": ["0-19", "20-59"], "60+": ["60+"]})
    np.testing.assert_allclose(
        a.matrices[:, 0, 0], m.matrices[:, :2, :2].sum(axis=2).mean(axis=1), rtol=1e-13
    )


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ({"a": ["0-19"], "b": ["20-59"]}, r"missing: \['60\+'\]"),
        ({"a": ["0-19", "20-59"], "b": ["20-59", "60+"]}, r"in more than one: \['20-59'\]"),
        ({"a": ["0-19", "20-59", "60+", "90+"]}, r"unknown age group '90\+'"),
        ({"a": "0-19"}, "must list the fine age groups"),
        ({}, "at least one"),
    ],
)
def test_aggregated_rejects_bad_groupings(groups: dict[str, list[str]], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        _random(6).aggregated([1.0, 1.0, 1.0], groups)


def test_next_generation_radius_gives_the_dominant_growth_of_a_generation_model() -> None:
    m = _random(7)
    n = np.array([2_000.0, 5_000.0, 1_000.0])
    sigma = np.array([0.5, 1.0, 1.2])
    tau = np.array([1.0, 0.8, 0.6])
    radius = m.next_generation_radius(n, susceptibility=sigma, infectiousness=tau)
    # Generations of the linearised model x_{g+1} = K x_g grow by the radius (power method).
    k = sigma[:, None] * m.total() * tau[None, :] * n[:, None] / n[None, :]
    x = np.ones(3)
    for _ in range(200):
        x_next = k @ x
        growth = x_next.sum() / x.sum()
        x = x_next / x_next.sum()
    assert growth == pytest.approx(radius, rel=1e-10)
    # Without profiles the N_i/N_j similarity leaves the spectral radius unchanged.
    assert m.next_generation_radius(n) == pytest.approx(m.spectral_radius(), rel=1e-12)
    # beta from R0 with a 5-day infectious period.
    beta = 2.5 / (5.0 * radius)
    assert np.max(np.abs(np.linalg.eigvals(beta * 5.0 * k))) == pytest.approx(2.5, rel=1e-12)


def test_next_generation_radius_leaves_out_empty_groups_and_checks_profiles() -> None:
    m = _random(8)
    r = m.next_generation_radius([0.0, 100.0, 50.0])
    sub = m.total()[1:, 1:]
    assert r == pytest.approx(np.max(np.abs(np.linalg.eigvals(sub))), rel=1e-12)
    with pytest.raises(InvalidInputError, match="zero in every age group"):
        m.next_generation_radius([0.0, 0.0, 0.0])
    with pytest.raises(InvalidParameterError, match="susceptibility must be 3"):
        m.next_generation_radius([1.0, 1.0, 1.0], susceptibility=[1.0, -1.0, 1.0])


def test_synthetic_contacts_are_deterministic_and_plausible() -> None:
    m = synthetic_contacts()
    assert m.settings == SETTINGS
    assert m.age_groups == AGE_GROUPS_16
    np.testing.assert_array_equal(m.matrices, synthetic_contacts().matrices)
    per_person = m.total().sum(axis=1)
    assert (per_person > 5).all()
    assert (per_person < 25).all()
    school = m.setting("school").sum(axis=1)
    assert school[1:4].min() > 5 * school[5:13].max()  # pupils meet far more at school
    assert (m.setting("work").sum(axis=1)[[0, 1, 2, 3, 13, 14, 15]] == 0).all()
    # Home: parents (30-34) meet children (0-4) more than people 15 years older do.
    home = m.setting("home")
    assert home[6, 0] > home[9, 0]
    # Reciprocal for a flat pyramid: C_ij w_i = C_ji w_j.
    width = np.array([5.0] * 15 + [10.0])
    for k in range(4):
        flows = m.matrices[k] * width[:, None]
        np.testing.assert_allclose(flows, flows.T, rtol=1e-12)


def test_synthetic_contacts_for_coarse_groups_and_bad_labels() -> None:
    m = synthetic_contacts(("0-14", "15-64", "65+"))
    assert m.matrices.shape == (4, 3, 3)
    assert m.setting("school")[0, 0] > m.setting("school")[2, 2]
    with pytest.raises(InvalidInputError, match="'children' is not of the form"):
        synthetic_contacts(("children", "adults"))


@settings(max_examples=40, deadline=None)
@given(
    matrices=hnp.arrays(np.float64, (2, 4, 4), elements=st.floats(0.0, 50.0)),
    population=hnp.arrays(np.float64, (4,), elements=st.floats(1.0, 1e7)),
)
def test_reciprocity_and_conservation_hold_for_any_matrix(
    matrices: np.ndarray, population: np.ndarray
) -> None:
    m = ContactMatrices(
        settings=("home", "other"), age_groups=("a", "b", "c", "d"), matrices=matrices
    )
    s = m.symmetrized(population)
    flows = s.matrices * population[None, :, None]
    np.testing.assert_allclose(flows, flows.transpose(0, 2, 1), rtol=1e-10, atol=1e-6)
    total = (m.matrices * population[None, :, None]).sum()
    assert flows.sum() == pytest.approx(total, rel=1e-10, abs=1e-6)
    a = m.aggregated(population, {"ab": ["a", "b"], "cd": ["c", "d"]})
    coarse = np.array([population[:2].sum(), population[2:].sum()])
    assert (a.matrices * coarse[None, :, None]).sum() == pytest.approx(total, rel=1e-10, abs=1e-6)
