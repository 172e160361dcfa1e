"""Disease parameters: validation, per-age values, beta from R0, resolved rates."""

from __future__ import annotations

import numpy as np
import pytest

from healthtwin.errors import InvalidParameterError, ShapeError
from healthtwin.population.epidemic_parameters import EpidemicParameters

CONTACTS = np.array([[8.0, 2.0, 1.0], [3.0, 6.0, 2.0], [1.0, 2.0, 3.0]])


def test_needs_exactly_one_of_r0_and_beta() -> None:
    with pytest.raises(InvalidParameterError, match="exactly one of r0 and beta"):
        EpidemicParameters()
    with pytest.raises(InvalidParameterError, match="exactly one"):
        EpidemicParameters(r0=2.0, beta=0.1)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("r0", -1.0, "r0 must be finite"),
        ("beta", float("nan"), "beta must be finite"),
        ("latent_period_days", 0.0, "latent_period_days must be > 0"),
        ("infectious_period_days", -2.0, "infectious_period_days"),
        ("icu_stay_days", float("inf"), "icu_stay_days"),
        ("relative_infectiousness_asymptomatic", 1.5, r"in \[0.0, 1.0\]"),
        ("ve_infection", -0.1, "ve_infection"),
        ("ve_disease", float("nan"), "ve_disease"),
        ("immunity_waning_per_day", -0.01, "immunity_waning_per_day"),
        (
            "symptomatic_fraction",
            [0.5, 1.2],
            r"symptomatic_fraction must be finite and in \[0, 1\]",
        ),
        ("hospitalised_fraction", -0.1, "hospitalised_fraction"),
        ("icu_death_fraction", [0.1, float("nan")], "position 1"),
        ("susceptibility", [-1.0], "susceptibility must be finite and in >= 0"),
        ("ward_death_fraction", [], "empty"),
        ("icu_fraction", "lots", "must be a number or one number per age group"),
    ],
)
def test_bad_values_are_rejected_with_the_value(field: str, value: object, message: str) -> None:
    kwargs: dict[str, object] = {"r0": 2.0, field: value}
    if field in ("r0", "beta"):
        kwargs = {field: value}
    with pytest.raises(InvalidParameterError, match=message):
        EpidemicParameters(**kwargs)  # type: ignore[arg-type]


def test_age_values_broadcast_scalars_and_check_length() -> None:
    p = EpidemicParameters(r0=2.0, symptomatic_fraction=0.3, icu_fraction=[0.1, 0.2, 0.3])
    assert p.age_values("symptomatic_fraction", 3).tolist() == [0.3, 0.3, 0.3]
    assert p.age_values("icu_fraction", 3).tolist() == [0.1, 0.2, 0.3]
    with pytest.raises(ShapeError, match="3 values but the model has 2 age groups"):
        p.age_values("icu_fraction", 2)
    with pytest.raises(InvalidParameterError, match="not a per-age field"):
        p.age_values("r0", 3)


def test_beta_from_r0_gives_an_ngm_with_that_spectral_radius() -> None:
    p = EpidemicParameters(
        r0=3.0,
        symptomatic_fraction=[0.2, 0.5, 0.8],
        susceptibility=[0.5, 1.0, 1.2],
        relative_infectiousness_asymptomatic=0.4,
        infectious_period_days=4.0,
    )
    k = p.next_generation_matrix(CONTACTS)
    assert np.max(np.abs(np.linalg.eigvals(k))) == pytest.approx(3.0, rel=1e-12)
    beta = p.beta_per_day(CONTACTS)
    d = 4.0 * (np.array([0.8, 0.5, 0.2]) * 0.4 + np.array([0.2, 0.5, 0.8]))
    expected = beta * np.array([0.5, 1.0, 1.2])[:, None] * CONTACTS * d[None, :]
    np.testing.assert_allclose(k, expected, rtol=1e-14)


def test_given_beta_is_used_as_is_and_r0_follows() -> None:
    p = EpidemicParameters(beta=0.05, symptomatic_fraction=1.0)
    c = np.array([[10.0]])
    assert p.beta_per_day(c) == 0.05
    assert p.next_generation_matrix(c)[0, 0] == pytest.approx(0.05 * 10 * 5.0)


def test_r0_without_contacts_is_an_error() -> None:
    with pytest.raises(InvalidParameterError, match="no transmission"):
        EpidemicParameters(r0=2.0).beta_per_day(np.zeros((2, 2)))
    with pytest.raises(ShapeError, match="square"):
        EpidemicParameters(r0=2.0).beta_per_day(np.zeros((2, 3)))


def test_rates_and_exit_probabilities() -> None:
    p = EpidemicParameters(
        beta=0.1,
        latent_period_days=2.0,
        infectious_period_days=4.0,
        ward_stay_days=5.0,
        icu_stay_days=10.0,
        immunity_waning_per_day=0.01,
        vaccine_waning_per_day=0.02,
        ve_infection=0.75,
        ve_disease=0.5,
        symptomatic_fraction=[0.4, 0.8],
    )
    rates = p.rates(np.eye(2))
    assert rates.symptomatic_vaccinated.tolist() == [0.2, 0.4]
    force = np.array([[[0.1, 0.2]]])
    k = rates.exit_rates(force)
    assert k.shape == (1, 9, 1, 2)
    np.testing.assert_allclose(k[0, :, 0, 0], [0.1, 0.045, 0.5, 0.5, 0.25, 0.25, 0.2, 0.1, 0.01])
    prob = rates.exit_probabilities(force, 0.5)
    np.testing.assert_allclose(prob[0, 0, 0], 1 - np.exp(-0.5 * np.array([0.1, 0.2])))
    np.testing.assert_allclose(prob[0, 2:, 0, 1], 0.5 * k[0, 2:, 0, 1])
    # A step longer than a stay is capped at certainty.
    assert rates.exit_probabilities(force, 3.0)[0, 2, 0, 0] == 1.0


def test_describe_lists_every_field() -> None:
    d = EpidemicParameters(r0=2.0, icu_fraction=[0.1, 0.2]).describe()
    assert d["icu_fraction"] == [0.1, 0.2]
    assert d["r0"] == 2.0
    assert d["beta"] is None
