"""Real and synthetic demographic inputs: geographies and contact matrices.

Real data come from the optional ``starsim-data`` package (``pip install
'healthtwin[popdata]'``), read offline from the installed wheel and never copied here:

- contact matrices by setting for 187 countries (Prem et al. 2021, PLoS Comput Biol
  17:e1009098; Prem, Cook & Jit 2017 for ten countries the 2021 set lacks; GPL-3 data);
- population by five-year age group and sex, UN World Population Prospects 2024
  (CC BY 3.0 IGO);
- 3,070 first-level administrative regions (admin-1) with centroid and population
  (WorldPop 2020, UN-adjusted, summed within UNOCHA COD-AB or geoBoundaries units).

A region's people are split over :data:`AGE_GROUPS_16` by its country's national UN WPP
pyramid (the data hold no sub-national pyramids). :func:`synthetic_geography` builds a
plausible country from a seed for tests and benchmarks without any data.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any

import numpy as np

from healthtwin.core.types import FloatArray
from healthtwin.errors import (
    InvalidInputError,
    InvalidParameterError,
    MissingDependencyError,
    UnknownModelError,
)
from healthtwin.population.geography import AGE_GROUPS_16, Geography, age_group_spans
from healthtwin.population.mixing import SETTINGS, ContactMatrices

__all__ = [
    "country_contacts",
    "country_geography",
    "synthetic_geography",
    "world_admin1_geography",
]

#: The year of the WorldPop admin-1 populations; the default pyramid year matches it.
DEFAULT_YEAR = 2020
_LEVELS = ("admin1", "national")
# Start ages of the Prem matrices' rows and columns, in the order of AGE_GROUPS_16.
_PREM_START_AGES = tuple(range(0, 80, 5))


def _starsim_data() -> Any:
    try:
        return importlib.import_module("starsim_data")
    except ImportError as err:
        raise MissingDependencyError(
            "real demographic data need the starsim-data package: pip install 'healthtwin[popdata]'"
        ) from err


def _country_key(ssd: Any, country: str) -> str:
    """The canonical starsim-data name of a country; unknown names list close matches."""
    try:
        key = str(ssd.resolve(country))
    except KeyError as err:
        known = [str(k) for k in ssd.list_all_locations()]
        folded = {k.lower().replace("_", " "): k for k in known}
        query = str(country).lower().replace("_", " ")
        close = [folded[m] for m in difflib.get_close_matches(query, list(folded), n=5)]
        raise UnknownModelError(
            f"unknown country {country!r}; close matches: {close or 'none'}. Use a name or "
            f"ISO code of one of the {len(known)} locations of starsim_data."
            "list_all_locations()"
        ) from err
    if ":" in key:
        raise InvalidInputError(
            f"{country!r} is a region ({key!r}), not a country; give the country and pick "
            "its regions from country_geography(country)"
        )
    return key


def country_contacts(country: str) -> ContactMatrices:
    """Daily contacts by setting for a country (Prem et al. 2021, 16 age groups).

    Parameters
    ----------
    country
        Country name, ISO-2 or ISO-3 code, or alias (case- and accent-insensitive).

    Returns
    -------
    ContactMatrices
        Settings :data:`SETTINGS`, age groups :data:`AGE_GROUPS_16`, shape ``(4, 16, 16)``.

    Raises
    ------
    MissingDependencyError
        starsim-data is not installed.
    UnknownModelError
        Unknown country, or one without contact matrices (close matches listed).

    Examples
    --------
    >>> country_contacts("Kenya").matrices.shape  # doctest: +SKIP
    (4, 16, 16)
    """
    ssd = _starsim_data()
    key = _country_key(ssd, country)
    matrices = []
    for setting in SETTINGS:
        try:
            frame = ssd.load(key, which="prem", kind=setting)
        except KeyError as err:
            raise UnknownModelError(f"no contact matrices for {key!r}: {err}") from err
        if tuple(int(a) for a in frame.index) != _PREM_START_AGES:
            raise InvalidInputError(
                f"starsim-data contact matrix for {key!r} has age groups starting at "
                f"{list(frame.index)}; expected {list(_PREM_START_AGES)}"
            )
        matrices.append(frame.to_numpy(dtype=float))
    return ContactMatrices(settings=SETTINGS, age_groups=AGE_GROUPS_16, matrices=np.array(matrices))


def _pyramid(ssd: Any, key: str, year: int) -> FloatArray:
    """People per group of :data:`AGE_GROUPS_16` in ``year``, both sexes, shape ``(16,)``."""
    try:
        frame = ssd.load(key, which="population")
    except KeyError as err:
        raise UnknownModelError(f"no UN WPP population for {key!r}: {err}") from err
    years = frame["Time"].to_numpy()
    if year not in set(years.tolist()):
        raise InvalidParameterError(
            f"year {year} is not in the UN WPP data ({int(years.min())}-{int(years.max())}); "
            "choose a year in that range"
        )
    rows = years == year
    start = frame["AgeGrp"].to_numpy()[rows].astype(int)
    group = np.minimum(start // 5, len(AGE_GROUPS_16) - 1)
    counts = np.bincount(
        group, weights=frame["Value"].to_numpy()[rows], minlength=len(AGE_GROUPS_16)
    )
    return np.asarray(counts, dtype=float)


def _admin1_nodes(ssd: Any, key: str) -> Any:
    try:
        return ssd.load_nodes(key, level=1)
    except (KeyError, ValueError) as err:
        raise InvalidInputError(
            f"starsim-data has no admin-1 regions for {key!r}; use level='national'"
        ) from err


def _finite_population(nodes: Any) -> FloatArray:
    # A few units (3 of 3,070) have no WorldPop estimate: they are taken as uninhabited.
    population = np.nan_to_num(nodes["population"].to_numpy(dtype=float), nan=0.0)
    return np.asarray(population, dtype=float)


def country_geography(
    country: str, *, level: str = "admin1", year: int = DEFAULT_YEAR
) -> Geography:
    """A country as regions with people by age group and centroids.

    Parameters
    ----------
    country
        Country name, ISO-2 or ISO-3 code, or alias.
    level
        ``"admin1"``: first-level regions (states, provinces, counties), their WorldPop
        2020 population split by the national pyramid of ``year``; ``"national"``: one
        region holding the UN WPP population of ``year`` by age.
    year
        Year of the UN WPP pyramid (1950-2100).

    Returns
    -------
    Geography
        Age groups :data:`AGE_GROUPS_16`, whole persons, latitude and longitude.

    Raises
    ------
    MissingDependencyError
        starsim-data is not installed.
    UnknownModelError
        Unknown country (close matches listed).
    InvalidParameterError
        Unknown level or year out of range.
    InvalidInputError
        No admin-1 regions for the country.

    Examples
    --------
    >>> country_geography("Kenya").n_regions  # doctest: +SKIP
    47
    """
    if level not in _LEVELS:
        raise InvalidParameterError(f"unknown level {level!r}; choose one of {_LEVELS}")
    ssd = _starsim_data()
    key = _country_key(ssd, country)
    pyramid = _pyramid(ssd, key, year)
    if level == "national":
        try:
            centre = ssd.load_nodes(key, level=0)
            lat, lon = centre["lat"].to_numpy(dtype=float), centre["lon"].to_numpy(dtype=float)
        except (KeyError, ValueError):
            lat = lon = None  # Hong Kong, Macao and Puerto Rico have no node of their own.
        return Geography.from_totals((key,), [pyramid.sum()], pyramid, latitude=lat, longitude=lon)
    nodes = _admin1_nodes(ssd, key)
    return Geography.from_totals(
        _unique_names(list(nodes["name"]), list(nodes["pcode"])),
        _finite_population(nodes),
        pyramid,
        latitude=nodes["lat"].to_numpy(dtype=float),
        longitude=nodes["lon"].to_numpy(dtype=float),
    )


def world_admin1_geography(*, year: int = DEFAULT_YEAR) -> Geography:
    """Every admin-1 region of the world (3,070), named ``"ISO3:name"``.

    Each region's people are split by its country's UN WPP pyramid of ``year``.

    Examples
    --------
    >>> world_admin1_geography().n_regions  # doctest: +SKIP
    3070
    """
    ssd = _starsim_data()
    names: list[str] = []
    codes: list[str] = []
    totals, shares, lat, lon = [], [], [], []
    for key in ssd.list_locations("nodes"):
        nodes = _admin1_nodes(ssd, str(key))
        pyramid = _pyramid(ssd, str(key), year)
        names.extend(
            f"{iso}:{name}" for iso, name in zip(nodes["iso3"], nodes["name"], strict=True)
        )
        codes.extend(str(c) for c in nodes["pcode"])
        totals.append(_finite_population(nodes))
        shares.append(np.broadcast_to(pyramid, (len(nodes), pyramid.size)))
        lat.append(nodes["lat"].to_numpy(dtype=float))
        lon.append(nodes["lon"].to_numpy(dtype=float))
    return Geography.from_totals(
        _unique_names(names, codes),
        np.concatenate(totals),
        np.concatenate(shares),
        latitude=np.concatenate(lat),
        longitude=np.concatenate(lon),
    )


def _unique_names(names: list[str], codes: list[str]) -> tuple[str, ...]:
    """Names as given, with the p-code appended to any that repeat."""
    seen: dict[str, int] = {}
    for name in names:
        seen[name] = seen.get(name, 0) + 1
    return tuple(f"{n} ({c})" if seen[n] > 1 else str(n) for n, c in zip(names, codes, strict=True))


def synthetic_geography(
    n_regions: int,
    *,
    age_groups: tuple[str, ...] = AGE_GROUPS_16,
    total_population: float,
    seed: int | np.random.Generator,
) -> Geography:
    """A plausible synthetic country, the same for the same seed.

    Region sizes are log-normal (``sigma = 1``, so the largest of 50 regions holds about
    ten times the median), apportioned to whole persons summing to ``total_population``;
    centroids are uniform in a box of 8 degrees of latitude (40-48 N) by 10 of longitude
    (0-10 E); every region has the same pyramid, people per year of age proportional to
    ``exp(-age / 40) / (1 + exp((age - 75) / 6))`` (a growing population with old-age
    mortality), split by largest remainders.

    Parameters
    ----------
    n_regions
        Number of regions, >= 1; named ``region_001``...
    age_groups
        Labels ``"a-b"`` / ``"a+"``.
    total_population
        People in the country, >= 0 (rounded to whole persons).
    seed
        Integer seed or a generator.

    Examples
    --------
    >>> g = synthetic_geography(5, total_population=1_000_000, seed=1)
    >>> g.regions[0], g.total(), g.population.shape
    ('region_1', 1000000.0, (5, 16))
    """
    if int(n_regions) != n_regions or n_regions < 1:
        raise InvalidParameterError(f"n_regions must be an integer >= 1; got {n_regions}")
    if not np.isfinite(total_population) or total_population < 0:
        raise InvalidParameterError(
            f"total_population must be a finite number >= 0; got {total_population}"
        )
    rng = np.random.default_rng(seed)
    n = int(n_regions)
    weights = rng.lognormal(mean=0.0, sigma=1.0, size=n)
    latitude = rng.uniform(40.0, 48.0, size=n)
    longitude = rng.uniform(0.0, 10.0, size=n)
    totals = _apportion(float(np.round(total_population)), weights / weights.sum())
    mid, width = age_group_spans(age_groups)
    pyramid = width * np.exp(-mid / 40.0) / (1.0 + np.exp((mid - 75.0) / 6.0))
    digits = len(str(n))
    return Geography.from_totals(
        tuple(f"region_{i + 1:0{digits}d}" for i in range(n)),
        totals,
        pyramid,
        age_groups=age_groups,
        latitude=latitude,
        longitude=longitude,
    )


def _apportion(total: float, shares: FloatArray) -> FloatArray:
    """Whole numbers close to ``total * shares`` that add up to ``total`` exactly."""
    exact = total * shares
    floor = np.floor(exact)
    short = round(total - floor.sum())
    extra = np.zeros_like(floor)
    extra[np.argsort(-(exact - floor), kind="stable")[:short]] = 1.0
    return np.asarray(floor + extra, dtype=float)
