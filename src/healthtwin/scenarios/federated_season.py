"""A federation's ``data: twins``: each hospital trains on a previous season of its patients.

The shared model is only useful to a hospital if it was trained on patients like the ones
it is used on. With ``federation.data: twins`` each hospital's training table is a past
season of its own admitted patients, made by the machinery the run uses for the present
ones:

- ``patients_per_hospital`` members drawn from the hospital's ``patients:`` cohort
  (:meth:`~healthtwin.scenarios.world.PatientsSpec.cohort_spec`, the features of
  :data:`~healthtwin.scenarios.world_patients.ICU_COLUMNS`), from their own stream
  ``world/federation/<country>/<hospital>/season/cohort``;
- each with a twin (:class:`~healthtwin.coupling.hospital_course.TwinCourse`, the
  hospital's twin settings) whose growth is the run's: its age band's calibrated factor
  (:func:`~healthtwin.scenarios.world_patients.admitted_patients`) times its own age,
  diabetes and hypertension (:func:`~healthtwin.coupling.twin_calibration.covariate_multiplier`),
  drawn from the stream ``world/federation/<country>/<hospital>/season`` (distinct from the
  run's, so the season's patients are not the run's);
- labelled by whether the twin needed the ICU: it deteriorated (a twin that dies
  deteriorates first) within the twins' horizon. The time is the hours to that
  deterioration, censored at the horizon (for the Cox model).

The season's members are drawn from the cohort as it is, not by the age mix of the
epidemic's admissions: the model conditions on the features, so its discrimination
carries over; its calibration in the large holds when the features explain the mix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from healthtwin.core.random import RandomStreams
from healthtwin.core.types import FloatArray
from healthtwin.coupling.hospital_course import (
    TwinCourse,
    TwinCourseSettings,
    prefetch_twins,
    replication_entropy,
)
from healthtwin.coupling.twin_calibration import covariate_multiplier
from healthtwin.errors import InvalidInputError
from healthtwin.federation.sites import SiteData
from healthtwin.population.scenario import Variant
from healthtwin.population.scenario_build import build_inputs
from healthtwin.scenarios.ages import AdmittedPatients
from healthtwin.scenarios.federated import icu_features
from healthtwin.scenarios.world_patients import ICU_COLUMNS, admitted_patients, world_seed
from healthtwin.synthetic.cohort import generate_cohort

if TYPE_CHECKING:
    from healthtwin.scenarios.federated import FederationSpec
    from healthtwin.scenarios.world import CountryWorld, HospitalSite, WorldScenario

__all__ = ["season_patients"]


@dataclass(frozen=True)
class _Season:
    """One hospital's season before its twins are read: members, growth and streams."""

    name: str
    site: HospitalSite
    settings: TwinCourseSettings
    seed: int
    rng: np.random.Generator
    columns: dict[str, FloatArray]
    growth: FloatArray


def season_patients(
    world: WorldScenario, spec: FederationSpec, streams: RandomStreams
) -> tuple[list[dict[str, FloatArray]], list[SiteData]]:
    """Each hospital's past season of twin patients, in world order (module docstring).

    Returns
    -------
    tables : list of dict of str to ndarray
        Per hospital: the :data:`~healthtwin.scenarios.world_patients.ICU_COLUMNS`,
        ``hours_to_icu`` and ``icu_transfer``, each ``(patients_per_hospital,)``.
    data : list of SiteData
        Features ``(n, 5)`` (:func:`~healthtwin.scenarios.federated.icu_features`), hours
        and the ICU-need indicator, named ``<country>/<hospital>``.

    Raises
    ------
    InvalidInputError
        A hospital has no ``patients:`` section with ``course: twins``.
    """
    seasons = [
        s for country in world.countries for s in _country_seasons(world, country, spec, streams)
    ]
    cache: dict[tuple[int, int, int], object] = {}
    by_settings: dict[TwinCourseSettings, list[tuple[int, int, FloatArray]]] = {}
    for s in seasons:
        by_settings.setdefault(s.settings, []).append(
            (s.seed, replication_entropy(s.rng), s.growth)
        )
    # Every hospital's twins integrated together (the cost is per step, not per twin).
    for settings, courses in by_settings.items():
        prefetch_twins(settings, courses, cache)
    tables, data = [], []
    for s in seasons:
        course = TwinCourse(
            s.site.config,
            s.settings,
            seed=s.seed,
            twin_cache=cache,
            growth_multiplier=s.growth,
        )
        course.start(s.rng)
        hours = np.array([course.prognosis(p)[0] for p in range(s.growth.size)])
        event = np.isfinite(hours)
        time = np.minimum(hours, s.settings.horizon_hours)
        features = icu_features(*(s.columns[k] for k in ICU_COLUMNS))
        tables.append({**s.columns, "hours_to_icu": time, "icu_transfer": event.astype(np.float64)})
        data.append(SiteData(features, time, event, name=s.name))
    return tables, data


def _country_seasons(
    world: WorldScenario, country: CountryWorld, spec: FederationSpec, streams: RandomStreams
) -> list[_Season]:
    missing = [
        h.name
        for h in country.hospitals
        if (p := country.patients_of(h)) is None or p.course != "twins"
    ]
    if missing:
        raise InvalidInputError(
            f"federation.data 'twins' trains on each hospital's own twin patients, but "
            f"hospitals {missing} of country {country.name!r} have none; give them (or the "
            "country) patients: {course: twins, cohort_size: ...}, or use data: synthetic"
        )
    scenario = country.population_scenario(world)
    admitted = admitted_patients(
        world, country, streams, scenario, Variant(name="baseline"), build_inputs(scenario)
    )
    out = []
    for site, patients in zip(country.hospitals, admitted, strict=True):
        spec_h = country.patients_of(site)
        assert spec_h is not None
        assert patients is not None
        name = f"world/federation/{country.name}/{site.name}/season"
        cohort = generate_cohort(
            spec_h.cohort_spec(),
            spec.patients_per_hospital,
            seed=world_seed(streams, f"{name}/cohort"),
        )
        columns = {k: np.asarray(cohort.columns[k], dtype=np.float64) for k in ICU_COLUMNS}
        growth = _band_factor(patients, columns["age_years"]) * covariate_multiplier(
            columns["age_years"], columns["diabetes"], columns["hypertension"]
        )
        out.append(
            _Season(
                f"{country.name}/{site.name}",
                site,
                spec_h.twin.settings(),
                world_seed(streams, name),
                streams.generator(name),
                columns,
                np.asarray(growth, dtype=np.float64),
            )
        )
    return out


def _band_factor(patients: AdmittedPatients, ages: FloatArray) -> FloatArray:
    """Each member's age band's growth factor (the mean factor without numeric bands)."""
    factor = np.asarray(patients.age_factor, dtype=np.float64)
    if patients.edges is None:
        return np.full(ages.size, float(factor.mean()))
    band = np.searchsorted(patients.edges, ages, side="right") - 1
    return factor[np.clip(band, 0, factor.size - 1)]
