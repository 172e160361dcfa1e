"""From a validated scenario to the engine's inputs, and the runs of its variants."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, ResourceValidationError
from healthtwin.errors import ValidationIssue as Issue
from healthtwin.population.demography import (
    country_contacts,
    country_geography,
    synthetic_geography,
)
from healthtwin.population.epidemic import EpidemicResult, simulate_epidemic
from healthtwin.population.epidemic_parameters import EpidemicParameters
from healthtwin.population.geography import Geography
from healthtwin.population.interventions import InterventionPlan
from healthtwin.population.mixing import SETTINGS, ContactMatrices, synthetic_contacts
from healthtwin.population.mobility import MobilityMatrix, gravity_mobility, radiation_mobility
from healthtwin.population.scenario import PopulationScenario, Variant, regional_values
from healthtwin.population.stress import (
    StaffAbsence,
    StressReport,
    SupplyShock,
    capacity_timeline,
    stress_test,
)

__all__ = [
    "ScenarioInputs",
    "build_inputs",
    "parameters_for",
    "plan_for",
    "resource_demand",
    "run_variant",
    "stress_report",
]


@dataclass(frozen=True)
class ScenarioInputs:
    """What every variant of a scenario shares."""

    geography: Geography
    contacts: ContactMatrices
    mobility: MobilityMatrix | None
    initial_infected: FloatArray | None


def build_inputs(spec: PopulationScenario) -> ScenarioInputs:
    """Geography, contacts, mobility and seeds of a scenario (validated against each other)."""
    geography = _geography(spec)
    contacts = _contacts(spec, geography)
    mobility = _mobility(spec, geography)
    seeds = None
    if spec.initial_infected:
        counts = np.zeros(geography.n_regions)
        for region, n in spec.initial_infected.items():
            counts[geography.index(region)] = n
        share = geography.population / np.maximum(geography.population.sum(1, keepdims=True), 1)
        seeds = counts[:, None] * share
    return ScenarioInputs(geography, contacts, mobility, seeds)


def parameters_for(spec: PopulationScenario, variant: Variant) -> EpidemicParameters:
    """The disease parameters of a variant; bad values are errors naming the field."""
    values = spec.disease_for(variant)
    try:
        return EpidemicParameters(**values)
    except TypeError as err:
        raise _field_error(spec, f"disease: {err}; see EpidemicParameters for the fields") from err
    except (InvalidParameterError, InvalidInputError) as err:
        raise _field_error(spec, f"disease: {err}") from err


def plan_for(
    spec: PopulationScenario, variant: Variant, inputs: ScenarioInputs
) -> InterventionPlan:
    """The intervention plan of a variant."""
    return InterventionPlan(
        spec.interventions_for(variant),
        geography=inputs.geography,
        settings=inputs.contacts.settings,
    )


def run_variant(
    spec: PopulationScenario,
    variant: Variant,
    inputs: ScenarioInputs | None = None,
    *,
    replicate_ids: Sequence[int] | None = None,
) -> EpidemicResult:
    """Simulate one variant (all replicates, or the ones in ``replicate_ids``)."""
    inputs = build_inputs(spec) if inputs is None else inputs
    plan = plan_for(spec, variant, inputs)
    replicates = spec.replicates if replicate_ids is None else len(replicate_ids)
    return simulate_epidemic(
        inputs.geography,
        inputs.contacts,
        parameters_for(spec, variant),
        days=spec.days,
        replicates=replicates,
        seed=spec.seed,
        mobility=inputs.mobility,
        initial_infected=inputs.initial_infected,
        controller=plan.controller(replicates) if plan.interventions else None,
        engine=spec.engine,
        steps_per_day=spec.steps_per_day,
        replicate_ids=replicate_ids,
    )


def stress_report(
    spec: PopulationScenario,
    variant: Variant,
    result: EpidemicResult,
    inputs: ScenarioInputs,
    *,
    resource: str = "icu_beds",
    beds: FloatArray | None = None,
) -> StressReport:
    """The variant's occupancy against the scenario's capacity (shocks, absence included)."""
    geography = inputs.geography
    capacity = spec.capacity
    demand = resource_demand(spec, result, resource)
    if beds is None:
        beds = regional_values(getattr(capacity, resource), geography, resource)
    if beds is None:
        raise InvalidInputError(
            f"the scenario gives no capacity.{resource}; add a national total or beds per region"
        )
    shocks = [
        SupplyShock(
            start_day=s.start_day,
            duration_days=s.duration_days,
            fraction_lost=s.fraction_lost,
            regions=None if s.regions is None else tuple(geography.index(r) for r in s.regions),
        )
        for s in capacity.shocks
    ]
    absence = None
    if capacity.staff_absence is not None:
        absence = StaffAbsence(**capacity.staff_absence.model_dump())
    paths, days, _ = demand.shape
    cap = capacity_timeline(
        beds,
        paths=paths,
        days=days,
        shocks=shocks,
        absence=absence,
        cases=result.get("cases") if absence is not None else None,
        population=geography.population.sum(axis=1),
    )
    parameters = parameters_for(spec, variant)
    if resource in ("icu_beds", "ventilators"):
        with_care = capacity.p_death_with_icu
        if with_care is None:
            with_care = _population_mean(parameters, "icu_death_fraction", geography)
        without = capacity.p_death_without_icu
        stay = parameters.icu_stay_days
    elif resource == "hospital_beds":
        with_care = _population_mean(parameters, "ward_death_fraction", geography)
        without = capacity.p_death_without_ward
        stay = parameters.ward_stay_days
    else:
        # Nurse shortfalls are reported in nurse-days; no death risk is attached to them.
        with_care = without = 0.0
        stay = parameters.ward_stay_days
    return stress_test(
        demand,
        cap,
        p_death_with_care=with_care,
        p_death_without_care=max(without, with_care),
        mean_stay_days=stay,
        regions=geography.regions,
    )


#: Resources planned from occupancy (``population plan --resource``).
RESOURCES: tuple[str, ...] = ("icu_beds", "hospital_beds", "ventilators", "nurses")


def resource_demand(spec: PopulationScenario, result: EpidemicResult, resource: str) -> FloatArray:
    """Units of ``resource`` needed per path, day and region, ``(paths, days, R)``."""
    capacity = spec.capacity
    if resource == "icu_beds":
        return result.get("icu_occupancy")
    if resource == "hospital_beds":
        return result.get("hospital_occupancy")
    if resource == "ventilators":
        if capacity.ventilated_share_of_icu is None:
            raise InvalidInputError(
                "planning ventilators needs capacity.ventilated_share_of_icu (the share of "
                "ICU patients on a ventilator)"
            )
        return np.asarray(capacity.ventilated_share_of_icu * result.get("icu_occupancy"))
    if resource == "nurses":
        ward_ratio, icu_ratio = capacity.ward_patients_per_nurse, capacity.icu_patients_per_nurse
        if ward_ratio is None or icu_ratio is None:
            raise InvalidInputError(
                "planning nurses needs capacity.ward_patients_per_nurse and "
                "capacity.icu_patients_per_nurse"
            )
        icu = result.get("icu_occupancy")
        ward = result.get("hospital_occupancy") - icu
        return np.asarray(ward / ward_ratio + icu / icu_ratio)
    raise InvalidInputError(f"unknown resource {resource!r}; choose one of {list(RESOURCES)}")


def _population_mean(parameters: EpidemicParameters, name: str, geography: Geography) -> float:
    values = parameters.age_values(name, geography.n_ages)
    weights = geography.population.sum(axis=0)
    return float(np.average(values, weights=weights)) if weights.sum() > 0 else float(values.mean())


def _geography(spec: PopulationScenario) -> Geography:
    g = spec.geography
    if g.synthetic is not None:
        kwargs: dict[str, Any] = {}
        if g.age_groups is not None:
            kwargs["age_groups"] = tuple(g.age_groups)
        return synthetic_geography(
            g.synthetic.n_regions,
            total_population=g.synthetic.total_population,
            seed=g.synthetic.seed,
            **kwargs,
        )
    if g.country is not None:
        return country_geography(g.country.name, level=g.country.level)
    assert g.regions is not None
    ages = tuple(g.age_groups) if g.age_groups is not None else ("all",)
    shares = np.asarray(g.age_shares if g.age_shares is not None else [1.0] * len(ages))
    shares = shares / shares.sum()
    rows = []
    for i, region in enumerate(g.regions):
        pop = region.population
        if isinstance(pop, list):
            if len(pop) != len(ages):
                raise _field_error(
                    spec,
                    f"geography.regions.{i}.population: {len(pop)} values for "
                    f"{len(ages)} age groups {list(ages)}",
                )
            rows.append(np.asarray(pop, dtype=float))
        else:
            rows.append(float(pop) * shares)
    lat = [r.latitude for r in g.regions]
    lon = [r.longitude for r in g.regions]
    coords = all(v is not None for v in lat + lon)
    return Geography(
        regions=tuple(r.name for r in g.regions),
        age_groups=ages,
        population=np.vstack(rows),
        latitude=np.asarray(lat, dtype=float) if coords else None,
        longitude=np.asarray(lon, dtype=float) if coords else None,
    )


def _contacts(spec: PopulationScenario, geography: Geography) -> ContactMatrices:
    c = spec.contacts
    if c.source == "country":
        assert c.country is not None
        contacts = country_contacts(c.country)
    elif c.source == "matrices":
        assert c.matrices is not None
        contacts = ContactMatrices(
            settings=tuple(c.matrices),
            age_groups=geography.age_groups,
            matrices=np.asarray([c.matrices[s] for s in c.matrices], dtype=float),
        )
    elif geography.age_groups == ("all",):
        # One age group: the rule-based matrices need ages, so use their population mean.
        full = synthetic_contacts()
        per_setting = full.matrices.sum(axis=2).mean(axis=1)
        contacts = ContactMatrices(
            settings=SETTINGS, age_groups=("all",), matrices=per_setting[:, None, None]
        )
    else:
        contacts = synthetic_contacts(geography.age_groups)
    if contacts.age_groups != geography.age_groups:
        raise _field_error(
            spec,
            f"contacts: age groups {list(contacts.age_groups)} differ from the geography's "
            f"{list(geography.age_groups)}",
        )
    return contacts


def _mobility(spec: PopulationScenario, geography: Geography) -> MobilityMatrix | None:
    m = spec.mobility
    if m.model == "none" or geography.n_regions == 1:
        return None
    if m.model == "auto":
        if geography.latitude is None:
            return None
        m = m.model_copy(update={"model": "gravity"})
    if m.model == "flows":
        assert m.flows_csv is not None
        return MobilityMatrix.read_csv(spec.resolve(m.flows_csv), geography)
    if geography.latitude is None:
        raise _field_error(
            spec,
            f"mobility.model {m.model!r} needs latitude and longitude for every region",
        )
    if m.model == "gravity":
        return gravity_mobility(
            geography,
            commuting_fraction=m.commuting_fraction,
            distance_exponent=m.distance_exponent,
        )
    return radiation_mobility(geography, commuting_fraction=m.commuting_fraction)


def _field_error(spec: PopulationScenario, message: str) -> ResourceValidationError:
    path, _, text = message.partition(": ")
    return ResourceValidationError(
        f"scenario {spec.name!r}: {message}", (Issue(path=path, message=text, code="value"),)
    )
