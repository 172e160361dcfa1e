"""Demographic inputs: synthetic countries, and starsim-data loaders where installed."""

from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np
import pytest
from tests.conftest import require

from healthtwin.errors import (
    InvalidInputError,
    InvalidParameterError,
    MissingDependencyError,
    UnknownModelError,
)
from healthtwin.population.demography import (
    country_contacts,
    country_geography,
    synthetic_geography,
    world_admin1_geography,
)
from healthtwin.population.geography import AGE_GROUPS_16
from healthtwin.population.mixing import SETTINGS


def test_synthetic_geography_is_reproducible_from_the_seed() -> None:
    a = synthetic_geography(30, total_population=5e6, seed=3)
    b = synthetic_geography(30, total_population=5e6, seed=np.random.default_rng(3))
    c = synthetic_geography(30, total_population=5e6, seed=4)
    np.testing.assert_array_equal(a.population, b.population)
    np.testing.assert_array_equal(a.latitude, b.latitude)
    assert not np.array_equal(a.population, c.population)
    assert a.regions[:2] == ("region_01", "region_02")
    assert a.age_groups == AGE_GROUPS_16


def test_synthetic_geography_is_whole_persons_adding_up_to_the_total() -> None:
    g = synthetic_geography(200, total_population=12_345_678, seed=1)
    assert g.total() == 12_345_678
    np.testing.assert_array_equal(g.population, np.round(g.population))
    assert ((g.latitude >= 40) & (g.latitude <= 48)).all()
    assert ((g.longitude >= 0) & (g.longitude <= 10)).all()
    ages = g.age_population()
    assert ages[0] > ages[7] > ages[14]  # a pyramid: young groups are the largest
    # One national pyramid, rounded by largest remainders: within one person per cell.
    pyramid = ages / ages.sum()
    exact = g.region_population()[:, None] * pyramid[None, :]
    assert np.abs(g.population - exact).max() < 1.0 + 1e-6


def test_synthetic_region_sizes_are_log_normal() -> None:
    g = synthetic_geography(2_000, total_population=1e9, seed=5)
    logs = np.log(g.region_population())
    # Sample sd of 2,000 normal draws with sigma 1: standard error 0.016, 99 % within 0.041.
    assert abs(logs.std(ddof=1) - 1.0) < 0.041


def test_synthetic_geography_rejects_bad_arguments() -> None:
    with pytest.raises(InvalidParameterError, match="n_regions must be an integer >= 1; got 0"):
        synthetic_geography(0, total_population=10, seed=1)
    with pytest.raises(InvalidParameterError, match="total_population"):
        synthetic_geography(3, total_population=-1, seed=1)
    with pytest.raises(InvalidInputError, match="'kids' is not of the form"):
        synthetic_geography(3, age_groups=("kids", "adults"), total_population=10, seed=1)


def test_missing_starsim_data_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.import_module

    def fake(name: str, package: str | None = None) -> ModuleType:
        if name == "starsim_data":
            raise ImportError("No module named 'starsim_data'")
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", fake)
    for call in (
        lambda: country_contacts("Kenya"),
        lambda: country_geography("Kenya"),
        world_admin1_geography,
    ):
        with pytest.raises(MissingDependencyError, match=r"pip install 'healthtwin\[popdata\]'"):
            call()


@pytest.fixture(scope="module")
def ssd() -> ModuleType:
    return require("starsim_data", "popdata")


def test_country_contacts_are_prem_2021_by_setting(ssd: ModuleType) -> None:
    m = country_contacts("KEN")
    assert m.settings == SETTINGS
    assert m.age_groups == AGE_GROUPS_16
    for setting in SETTINGS:
        expected = ssd.load("Kenya", kind=setting).to_numpy(dtype=float)
        np.testing.assert_array_equal(m.setting(setting), expected)
    overall = ssd.load("Kenya", kind="all").to_numpy(dtype=float)
    np.testing.assert_allclose(m.total(), overall, rtol=1e-5)


def test_country_geography_admin1_splits_regions_by_the_national_pyramid(
    ssd: ModuleType,
) -> None:
    g = country_geography("Kenya")
    nodes = ssd.load_nodes("Kenya", level=1)
    assert g.n_regions == 47
    assert g.regions == tuple(nodes["name"])
    np.testing.assert_array_equal(g.region_population(), np.round(nodes["population"]))
    np.testing.assert_allclose(g.latitude, nodes["lat"])
    wpp = ssd.load("Kenya", which="population")
    wpp = wpp[wpp["Time"] == 2020]
    old = wpp[wpp["AgeGrp"] >= 75]["Value"].sum()
    young = wpp[wpp["AgeGrp"] == 0]["Value"].sum()
    shares = g.age_population() / g.total()
    assert shares[15] == pytest.approx(old / wpp["Value"].sum(), rel=1e-4)
    assert shares[0] == pytest.approx(young / wpp["Value"].sum(), rel=1e-4)


def test_country_geography_national_is_the_wpp_population(ssd: ModuleType) -> None:
    g = country_geography("france", level="national", year=2030)
    wpp = ssd.load("France", which="population")
    assert g.regions == ("France",)
    values = wpp[wpp["Time"] == 2030]["Value"].to_numpy(dtype=float)
    assert g.total() == pytest.approx(values.sum(), abs=1.0)
    assert g.latitude is not None
    # Hong Kong has a pyramid but no admin-1 regions and no node of its own.
    hk = country_geography("Hong Kong", level="national")
    assert hk.latitude is None
    with pytest.raises(InvalidInputError, match=r"no admin-1 regions for 'Hong_Kong'.*national"):
        country_geography("Hong Kong")


def test_country_lookups_reject_bad_names_levels_and_years(ssd: ModuleType) -> None:
    with pytest.raises(
        UnknownModelError, match=r"unknown country 'Frnace'; close matches: \[.*France"
    ):
        country_geography("Frnace")
    with pytest.raises(UnknownModelError, match="unknown country 'Atlantis'"):
        country_contacts("Atlantis")
    with pytest.raises(InvalidParameterError, match="unknown level 'admin2'"):
        country_geography("Kenya", level="admin2")
    with pytest.raises(
        InvalidParameterError, match=r"year 1900 is not in the UN WPP data \(1950-2100\)"
    ):
        country_geography("Kenya", year=1900)
    with pytest.raises(InvalidInputError, match="is a region"):
        country_geography("Kenya:Baringo")


@pytest.mark.slow
def test_world_admin1_geography_has_every_region_once(ssd: ModuleType) -> None:
    g = world_admin1_geography()
    assert g.n_regions == 3_070
    assert len(set(g.regions)) == g.n_regions
    assert "KEN:Baringo" in g.regions
    assert g.latitude is not None
    assert g.longitude is not None
    # People of the world in 2020 by WorldPop, UN-adjusted: about 7.8 billion.
    assert 7.5e9 < g.total() < 8.1e9
    kenya = [i for i, r in enumerate(g.regions) if r.startswith("KEN:")]
    assert g.population[kenya].sum() == country_geography("Kenya").total()
