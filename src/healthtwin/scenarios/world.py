"""One typed world scenario file: countries -> regions -> hospitals, epidemic, surveillance.

A world scenario is a YAML mapping validated by :class:`WorldScenario` (pydantic, strict:
unknown keys are errors). Countries reuse the population scenario's pieces (geography,
contacts, mobility, disease, initial infections, interventions; see
``docs/population_scenario.md``); each hospital is a full
:class:`~healthtwin.hospital.config.HospitalConfig` plus the region it serves, its share
of that region's admissions, the unit admitted patients enter and its ICU unit.
A ``patients:`` section (per hospital, or per country for all its hospitals;
:class:`PatientsSpec`) gives admitted patients twins (``course: twins``) and a synthetic
cohort; a country's ``national:`` section (:class:`NationalSpec`) has the national
planner reallocate ICU beds across its regions at given days.
:func:`load_world` reports every broken rule with its field path *and* its line in the
file (``world.yaml:12: countries.0.hospitals.1.catchment_share: ...``), found from the
YAML node tree (``yaml.compose`` keeps each node's position): a rule about one hospital
(its region, its catchment share, its name) is reported at that hospital's line, a value
out of range is echoed (``got 1.7``), and an unknown key names the mapping it was found
in, the keys allowed there, the nearest one (``replicats``: did you mean
``replicates``?) and, when it belongs to an enclosing mapping, says to check its
indentation.

One world at every scale: unless a country's ``disease:`` sets ``icu_fraction`` (and
``icu_stay_days``), the epidemic takes them from the country's hospitals
(:meth:`CountryWorld.epidemic_disease`): each hospital's pathways imply the share of its
admitted patients who reach its ICU and their ICU days
(:func:`~healthtwin.coupling.pathway_outcomes.pathway_outcomes`), pooled over the
hospitals by their expected share of admissions (catchment share x region population).
The epidemic's ICU compartment (peak ICU demand, unmet ICU bed-days, the national
planner's forecast) then expects the ICU bed-days the hospitals' pathways give. With
patient twins the ICU transfers are the twins' deteriorations; the pathway is still the
rule (the twins' ICU share is not known before they are integrated). Deaths are checked
the same way: :func:`world_warnings` names each hospital whose pathway-implied fatality
differs from the disease's hospital fatality (admission-weighted over ages) by more than
a factor 1.5 (hospitals whose patients have calibrated twins die at the disease's
fatality and are not checked).

Examples
--------
>>> world = parse_world({
...     "days": 21, "replicates": 2, "start_date": "2024-01-01",
...     "countries": [{"name": "X",
...         "geography": {"regions": [{"name": "city", "population": 50000}]},
...         "disease": {"r0": 2.0}, "initial_infected": {"city": 20},
...         "hospitals": [{"name": "h", "region": "city", "catchment_share": 1.0,
...             "config": {"units": {
...                 "ward": {"kind": "ward", "beds": 20,
...                          "los_hours": {"dist": "exponential", "mean": 120}},
...                 "icu": {"kind": "icu", "beds": 4,
...                         "los_hours": {"dist": "exponential", "mean": 200}}},
...              "pathways": {"ward": {"icu": 0.1, "discharge": 0.85, "death": 0.05},
...                           "icu": {"discharge": 0.7, "death": 0.3}}}}]}]})
>>> world.countries[0].hospitals[0].config.units["icu"].beds
4
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from healthtwin.core.yaml_lines import line_of, validation_issue
from healthtwin.coupling.hospital_course import TwinCourseSettings
from healthtwin.coupling.pathway_outcomes import pathway_outcomes, pooled_icu
from healthtwin.coupling.twin_calibration import hospital_fatality
from healthtwin.errors import (
    InvalidInputError,
    InvalidParameterError,
    ResourceValidationError,
    ShapeError,
)
from healthtwin.hospital.config import HospitalConfig
from healthtwin.population.epidemic_parameters import EpidemicParameters
from healthtwin.population.scenario import (
    ContactsSpec,
    GeographySpec,
    InterventionSpec,
    MobilitySpec,
    PopulationScenario,
    yaml_syntax_error,
)
from healthtwin.scenarios.federated import FederationSpec, PrognosisModel
from healthtwin.scenarios.world_errors import explained_error, rule_at
from healthtwin.synthetic.cohort_spec import CohortSpec

__all__ = [
    "CountryWorld",
    "FeedbackSpec",
    "HospitalSite",
    "NationalSpec",
    "OutputsSpec",
    "PatientsSpec",
    "SurveillanceSpec",
    "WorldScenario",
    "load_world",
    "parse_world",
    "world_warnings",
]

_STRICT = ConfigDict(frozen=True, extra="forbid")
Probability = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
#: The keys a country's ``disease:`` mapping may have: the fields of EpidemicParameters.
DISEASE_KEYS = tuple(f.name for f in dataclasses.fields(EpidemicParameters))


def _disease_key(key: str) -> str:
    """A ``disease:`` key, checked against :data:`DISEASE_KEYS` (errors suggest the nearest)."""
    if key in DISEASE_KEYS:
        return key
    near = difflib.get_close_matches(key, DISEASE_KEYS, n=1, cutoff=0.5)
    hint = f"did you mean {near[0]!r}? " if near else ""
    raise ValueError(
        f"unknown disease parameter {key!r}; {hint}the parameters are {list(DISEASE_KEYS)}"
    )


DiseaseKey = Annotated[str, AfterValidator(_disease_key)]
#: Pathway-implied and disease fatality may differ by this factor before a warning.
FATALITY_FACTOR = 1.5


class TwinSpec(BaseModel):
    """Heterogeneity and numerics of the patient twins (see ``TwinCourseSettings``).

    With ``calibrate: true`` (the default) each age band's twins are given the growth
    factor that makes their death share the disease's hospital fatality of the band
    (``(1 - icu_fraction) * ward_death_fraction + icu_fraction * icu_death_fraction`` of
    the country's ``disease:``), over the cohort members the band's patients are matched
    to (:func:`~healthtwin.coupling.twin_calibration.calibrate_age_factors`; about half a
    second per world). With ``calibrate: false`` the factor is 1 in every band and the
    twins' death share is their basin's (about 5 % at the default heterogeneity).
    """

    model_config = _STRICT
    pathogen_median: Positive = 0.4
    pathogen_sigma: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.5
    growth_median: Positive = 0.3
    growth_sigma: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.25
    horizon_hours: Positive = 720.0
    step_hours: Positive = 0.25
    calibrate: bool = True

    def settings(self) -> TwinCourseSettings:
        """The :class:`TwinCourseSettings` these values give."""
        return TwinCourseSettings(**self.model_dump(exclude={"calibrate"}))


class PatientsSpec(BaseModel):
    """Admitted patients: their clinical course, and the cohort they are drawn from.

    ``course: twins`` gives each admitted patient an acute-inflammation twin
    (:class:`~healthtwin.coupling.hospital_course.TwinCourse`) whose deterioration, death
    and resolution drive the stay; ``course: distribution`` keeps the units' length-of-stay
    laws. ``cohort_size`` members are generated by the synthetic cohort generator from
    ``cohort`` (defaults when omitted) and each admitted patient is matched to a member of
    the same age band (the country's age groups, carried from the epidemic's admissions;
    the nearest band with members when the cohort has none in it;
    :mod:`~healthtwin.scenarios.ages`): the results report who was admitted (age, sex,
    comorbidities). Each twin reads its patient: its pathogen growth is multiplied by its
    age band's factor (calibrated to the disease's hospital fatality, :class:`TwinSpec`)
    and by the matched member's age, diabetes and hypertension
    (:func:`~healthtwin.coupling.twin_calibration.covariate_multiplier`; without a cohort,
    by the band's factor only). The patients are matched before the hospitals are
    simulated, in arrival order, so a hospital simulated over the first days of the run
    gives those days' patients the same twins as the whole run.
    """

    model_config = _STRICT
    course: Literal["twins", "distribution"] = "twins"
    cohort_size: int = Field(default=0, ge=0)
    cohort: CohortSpec | None = None
    twin: TwinSpec = Field(default_factory=TwinSpec)

    def cohort_spec(self) -> CohortSpec:
        """The cohort to generate (a non-diabetic adult default)."""
        if self.cohort is not None:
            return self.cohort
        return CohortSpec.model_validate({"name": "admitted", "inclusion": {"diabetes": False}})


class NationalSpec(BaseModel):
    """The national ICU planner: reallocates the country's ICU beds at ``days``.

    Each replicate has its own planner, which knows only that replicate's past. At each
    day its forecast of ICU demand over the next ``horizon_days`` (None: the rest of the
    run) goes to
    :func:`~healthtwin.coupling.national_allocation.reallocate_icu_beds`; the regions'
    new beds are shared over their hospitals and hold until the next day of the list.
    Beds move staffed: an ICU with a nursing roster gets the nurses its new beds need on
    every shift (:func:`~healthtwin.scenarios.hospital_runs.with_icu_beds`).
    The forecast (``forecast``) is ``trend`` (the default:
    :func:`~healthtwin.population.icu_forecast.forecast_icu_demand`, ``forecast_paths``
    paths from the admissions, ICU admissions and ICU occupancy seen before the day, each
    region's growth pooled towards the nation's) or ``ensemble`` (the replicate's own
    future ICU demand: an oracle, for comparison; not available when the hospitals are
    simulated together with the epidemic, since their future is not known yet). A plan is
    carried out only if it saves at least ``min_gain_per_bed`` expected bed-days per bed
    moved; ``keep_quantile`` keeps in each region that quantile of its peak forecast
    demand (``docs/national_planner.md``). Days at or after the run's horizon are ignored,
    so a run shortened with ``--days`` still runs. With ``vaccine_daily_doses``, the
    nation offers that many first doses a day from ``vaccine_start_day``, shared over
    regions by population and, from each planning day on, by the new infections the
    nation saw the day before
    (:class:`~healthtwin.coupling.national_allocation.VaccineCampaign`).
    """

    model_config = _STRICT
    days: list[Annotated[int, Field(ge=1)]] = Field(min_length=1)
    objective: Literal["expected", "cvar"] = "expected"
    alpha: Annotated[float, Field(gt=0, lt=1)] = 0.9
    movable_fraction: Probability = 0.5
    forecast: Literal["trend", "ensemble"] = "trend"
    forecast_paths: int = Field(default=200, ge=1, le=10_000)
    horizon_days: int | None = Field(default=14, ge=1)
    keep_quantile: Annotated[float, Field(gt=0, le=1)] | None = None
    min_gain_per_bed: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 1.0
    vaccine_daily_doses: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    vaccine_start_day: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _increasing(self) -> NationalSpec:
        if any(b <= a for a, b in zip(self.days, self.days[1:], strict=False)):
            raise ValueError(f"national.days must increase; got {self.days}")
        return self


class HospitalSite(BaseModel):
    """A hospital: its configuration, the region it serves and its share of admissions."""

    model_config = _STRICT
    name: str = Field(min_length=1)
    region: str
    catchment_share: Probability
    entry_unit: str = "ward"
    icu_unit: str | None = "icu"
    config: HospitalConfig
    patients: PatientsSpec | None = None
    #: The hospital's ICU-transfer prognosis model (the federation's, when shared back).
    prognosis: PrognosisModel | None = None
    #: Patients whose ``prognosis`` risk is above this go straight to the ICU (``share_back:
    #: triage``; needs twins and a cohort, :mod:`~healthtwin.scenarios.world_patients`).
    triage_threshold: Probability | None = None

    @model_validator(mode="after")
    def _units(self) -> HospitalSite:
        units = sorted(self.config.units)
        if self.entry_unit not in self.config.units:
            raise ValueError(f"entry_unit {self.entry_unit!r} is not a unit; units are {units}")
        if self.icu_unit is not None and self.icu_unit not in self.config.units:
            raise ValueError(
                f"icu_unit {self.icu_unit!r} is not a unit; units are {units} (or null)"
            )
        return self

    def icu_beds(self) -> int:
        """Beds of the ICU unit (0 without one)."""
        return 0 if self.icu_unit is None else self.config.units[self.icu_unit].beds

    def total_beds(self) -> int:
        """Beds of every unit."""
        return sum(u.beds for u in self.config.units.values())


class CountryWorld(BaseModel):
    """A country: its regions and epidemic (population scenario pieces) and its hospitals."""

    model_config = _STRICT
    name: str = Field(min_length=1)
    geography: GeographySpec
    contacts: ContactsSpec = Field(default_factory=ContactsSpec)
    mobility: MobilitySpec = Field(default_factory=MobilitySpec)
    disease: dict[DiseaseKey, Any] = Field(default_factory=dict)
    initial_infected: dict[str, float] | None = None
    interventions: list[InterventionSpec] = Field(default_factory=list)
    hospitals: list[HospitalSite] = Field(min_length=1)
    patients: PatientsSpec | None = None
    national: NationalSpec | None = None

    @field_validator("initial_infected")
    @classmethod
    def _seeded_regions(
        cls, value: dict[str, float] | None, info: ValidationInfo
    ) -> dict[str, float] | None:
        geography = info.data.get("geography")
        if value is None or geography is None or geography.regions is None:
            return value
        listed = [r.name for r in geography.regions]
        unknown = [k for k in value if k not in listed]
        if unknown:
            raise ValueError(
                f"initial_infected names region {unknown[0]!r}, which is not one of the "
                f"regions {listed[:10]}; seed infections in a listed region"
            )
        return value

    def patients_of(self, site: HospitalSite) -> PatientsSpec | None:
        """The hospital's own ``patients`` section, else the country's (or None)."""
        return site.patients if site.patients is not None else self.patients

    @model_validator(mode="after")
    def _catchments(self) -> CountryWorld:
        names = [h.name for h in self.hospitals]
        for j, name in enumerate(names):
            if name in names[:j]:
                raise rule_at(
                    f"hospital name {name!r} is used twice in the country; give each hospital "
                    "a unique name",
                    "hospitals", j, "name",
                )  # fmt: skip
        listed = (
            None if self.geography.regions is None else {r.name for r in self.geography.regions}
        )
        shares: dict[str, float] = {}
        first: dict[str, int] = {}
        for j, h in enumerate(self.hospitals):
            if listed is not None and h.region not in listed:
                raise rule_at(
                    f"hospital {h.name!r} serves region {h.region!r}, which is not one of the "
                    f"regions {sorted(listed)[:10]}; give one of them",
                    "hospitals", j, "region",
                )  # fmt: skip
            shares[h.region] = shares.get(h.region, 0.0) + h.catchment_share
            first.setdefault(h.region, j)
        for region, total in shares.items():
            if not math.isclose(total, 1.0, abs_tol=1e-9):
                raise rule_at(
                    f"catchment shares of region {region!r} sum to {total:g}; the shares of "
                    "its hospitals must sum to 1",
                    "hospitals", first[region], "catchment_share",
                )  # fmt: skip
        if listed is not None and set(shares) != listed:
            raise ValueError(
                f"regions {sorted(listed - set(shares))} have no hospital; give each region "
                "at least one hospital"
            )
        return self

    def admission_weights(self) -> list[float]:
        """Each hospital's expected share of the admissions: catchment x region population.

        Without listed regions (a data-package geography) the catchment share alone.
        """
        people = {r.name: float(np.sum(r.population)) for r in (self.geography.regions or [])}
        return [h.catchment_share * people.get(h.region, 1.0) for h in self.hospitals]

    def epidemic_disease(self) -> dict[str, Any]:
        """``disease:`` with ``icu_fraction``/``icu_stay_days`` from the hospitals when unset.

        See the module docstring (one world at every scale).

        Examples
        --------
        >>> unit = {"los_hours": {"dist": "fixed", "mean": 240}}
        >>> country = CountryWorld.model_validate({"name": "X",
        ...     "geography": {"regions": [{"name": "c", "population": 1000}]},
        ...     "hospitals": [{"name": "h", "region": "c", "catchment_share": 1.0,
        ...         "config": {"units": {"ward": {"kind": "ward", "beds": 9, **unit},
        ...                              "icu": {"kind": "icu", "beds": 2, **unit}},
        ...                    "pathways": {"ward": {"icu": 0.12, "discharge": 0.88},
        ...                                 "icu": {"discharge": 1.0}}}}]})
        >>> country.epidemic_disease()
        {'icu_fraction': 0.12, 'icu_stay_days': 10.0}
        """
        disease = dict(self.disease)
        if "icu_fraction" in disease and "icu_stay_days" in disease:
            return disease
        outcomes = [pathway_outcomes(h.config, h.entry_unit, h.icu_unit) for h in self.hospitals]
        share, stay_days = pooled_icu(outcomes, self.admission_weights())
        if "icu_fraction" not in disease:
            disease["icu_fraction"] = round(share, 6)
        if "icu_stay_days" not in disease and stay_days is not None:
            disease["icu_stay_days"] = round(stay_days, 6)
        return disease

    def fatality_warnings(self, factor: float = FATALITY_FACTOR) -> list[str]:
        """Hospitals whose pathways' fatality is ``factor``-fold off the disease's.

        The disease's hospital fatality is :func:`~healthtwin.coupling.twin_calibration.
        hospital_fatality` of :meth:`epidemic_disease`, averaged over ages by the expected
        admissions (age share x symptomatic x hospitalised x susceptibility).
        """
        expected = self._disease_fatality()
        if expected is None:
            return []
        out = []
        for site in self.hospitals:
            spec = self.patients_of(site)
            if spec is not None and spec.course == "twins" and spec.twin.calibrate:
                continue
            implied = pathway_outcomes(site.config, site.entry_unit, site.icu_unit).fatality
            low, high = sorted((implied, expected))
            if high > factor * low and high - low > 0.005:
                out.append(
                    f"country {self.name!r}, hospital {site.name!r}: its pathways imply an "
                    f"in-hospital fatality of {implied:.1%}, the disease's hospital fatality "
                    f"is {expected:.1%} ((1 - icu_fraction) x ward_death_fraction + "
                    "icu_fraction x icu_death_fraction, weighted by admissions over ages), so "
                    "the hospitals' deaths and epidemic_deaths will disagree; change the "
                    "'death' shares of its pathways or the disease's death fractions so they "
                    "agree (or give its patients calibrated twins: patients: {course: twins})"
                )
        return out

    def _disease_fatality(self) -> float | None:
        disease = self.epidemic_disease()
        if "r0" not in disease and "beta" not in disease:
            disease["r0"] = 1.0  # transmission does not matter here
        groups = self.geography.age_groups
        lengths = [len(v) for v in disease.values() if isinstance(v, list)]
        n_ages = len(groups) if groups else max(lengths, default=1)
        shares = np.asarray(self.geography.age_shares or np.ones(n_ages), dtype=float)
        try:
            p = EpidemicParameters(**disease)
            weights = shares * np.prod(
                [p.age_values(k, n_ages) for k in
                 ("symptomatic_fraction", "hospitalised_fraction", "susceptibility")], axis=0,
            )  # fmt: skip
            fatality = hospital_fatality(p, n_ages)
        except (InvalidParameterError, ShapeError, TypeError, ValueError):
            return None  # reported by the epidemic's own validation
        if weights.sum() <= 0:
            return None
        return float(weights @ fatality / weights.sum())

    def population_scenario(self, world: WorldScenario) -> PopulationScenario:
        """This country as a population scenario (days, replicates and seed of the world)."""
        return PopulationScenario(
            name=f"{world.name}/{self.name}",
            days=world.days,
            replicates=world.replicates,
            seed=world.seed,
            engine="stochastic",
            geography=self.geography,
            contacts=self.contacts,
            mobility=self.mobility,
            disease=self.epidemic_disease(),
            initial_infected=self.initial_infected,
            interventions=self.interventions,
            base_dir=world.base_dir,
        )


class IcuOverflowSpec(BaseModel):
    """Death risks of a patient needing ICU with and without a bed, and the mean ICU stay."""

    model_config = _STRICT
    p_death_with_care: Probability = 0.3
    p_death_without_care: Probability = 0.9
    mean_stay_days: float = Field(default=8.0, gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _order(self) -> IcuOverflowSpec:
        if self.p_death_without_care < self.p_death_with_care:
            raise ValueError("p_death_without_care must be >= p_death_with_care")
        return self


class OccupancyLineSpec(BaseModel):
    """Contacts scaled by ``contact_scale`` while occupancy is above ``line`` x beds.

    ``source: hospitals`` (the default) watches the hospitals' simulated occupancy,
    simulated together with the epidemic and reviewed every ``review_every_days`` days
    (:mod:`~healthtwin.scenarios.hospital_loop`); ``source: epidemic`` watches the
    population model's own ward and ICU compartments every day (cheaper, but blind to
    the hospitals' queues, twins and reallocated beds).
    """

    model_config = _STRICT
    line: float = Field(gt=0, allow_inf_nan=False)
    contact_scale: Probability
    source: Literal["hospitals", "epidemic"] = "hospitals"
    review_every_days: int = Field(default=7, ge=1)


class FeedbackSpec(BaseModel):
    """Hospital -> region feedback: ICU overflow mortality and an occupancy trigger."""

    model_config = _STRICT
    icu_overflow: IcuOverflowSpec = Field(default_factory=IcuOverflowSpec)
    occupancy_line: OccupancyLineSpec | None = None


class SurveillanceSpec(BaseModel):
    """The cross-border monitor: weekly hospital admissions per country."""

    model_config = _STRICT
    disease: str = "respiratory"
    syndrome: str = "sari"
    method: str = "ears-c1"
    lookback_weeks: int = Field(default=1, ge=1)
    neighbours: dict[str, list[str]] = Field(default_factory=dict)


class OutputsSpec(BaseModel):
    """What :func:`~healthtwin.scenarios.outputs.write_outputs` writes."""

    model_config = _STRICT
    report: bool = True
    tables: bool = True


class WorldScenario(BaseModel):
    """A whole world (see the module docstring)."""

    model_config = _STRICT
    name: str = "world"
    seed: int = Field(default=0, ge=0)
    days: int = Field(default=60, ge=7)
    replicates: int = Field(default=4, ge=1)
    start_date: dt.date = dt.date(2024, 1, 1)
    countries: list[CountryWorld] = Field(min_length=1)
    feedback: FeedbackSpec = Field(default_factory=FeedbackSpec)
    surveillance: SurveillanceSpec = Field(default_factory=SurveillanceSpec)
    outputs: OutputsSpec = Field(default_factory=OutputsSpec)
    # W15b: hospitals train a prognosis model together (scenarios/federated.py).
    federation: FederationSpec | None = None
    engine: Literal["stochastic"] = "stochastic"
    base_dir: str = Field(default=".", exclude=True)

    @model_validator(mode="after")
    def _unique(self) -> WorldScenario:
        names = [c.name for c in self.countries]
        if len(set(names)) != len(names):
            raise ValueError(f"country names must be unique; got {names}")
        return self


def parse_world(
    data: Mapping[str, Any], source: str = "world", root: yaml.Node | None = None
) -> WorldScenario:
    """Validate a mapping into a :class:`WorldScenario`.

    Parameters
    ----------
    data
        The parsed YAML.
    source
        Name of the file, for messages.
    root
        The YAML node tree of ``data`` (from ``yaml.compose``), to give line numbers.

    Raises
    ------
    ResourceValidationError
        Every broken rule, each with its field path (and line when ``root`` is given).
    """
    try:
        return WorldScenario.model_validate(dict(data))
    except ValidationError as err:
        errors = [explained_error(e, WorldScenario) for e in err.errors()]
        issues = tuple(validation_issue(e, root) for e in errors)
        text = "; ".join(f"{i.path}: {i.message}" if i.path else i.message for i in issues)
        where = f"{source}:{line_of(root, errors[0]['loc'])}" if root else source
        raise ResourceValidationError(f"{where}: invalid world scenario: {text}", issues) from err


def world_warnings(world: WorldScenario) -> tuple[str, ...]:
    """What in a valid world makes its scales disagree (see the module docstring).

    Each hospital whose pathway-implied fatality is more than :data:`FATALITY_FACTOR`
    times off the disease's hospital fatality, with both numbers and how to fix it.

    Examples
    --------
    >>> unit = {"los_hours": {"dist": "exponential", "mean": 100}}
    >>> world = parse_world({"countries": [{"name": "X",
    ...     "geography": {"regions": [{"name": "c", "population": 1000}]},
    ...     "disease": {"r0": 2.0, "ward_death_fraction": 0.2, "icu_death_fraction": 0.5},
    ...     "hospitals": [{"name": "h", "region": "c", "catchment_share": 1.0,
    ...         "config": {"units": {"ward": {"kind": "ward", "beds": 9, **unit},
    ...                              "icu": {"kind": "icu", "beds": 2, **unit}},
    ...                    "pathways": {"ward": {"icu": 0.1, "discharge": 0.88, "death": 0.02},
    ...                                 "icu": {"discharge": 0.9, "death": 0.1}}}}]}]})
    >>> print(world_warnings(world)[0][:80])
    country 'X', hospital 'h': its pathways imply an in-hospital fatality of 3.0%, t
    """
    return tuple(w for country in world.countries for w in country.fatality_warnings())


def load_world(path: str | Path) -> WorldScenario:
    """Read and validate a world scenario YAML file; errors name the field and its line.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "w.yaml"
    >>> _ = p.write_text("days: 30\\nreplicates: 0\\ncountries: []\\n")
    >>> load_world(p)
    Traceback (most recent call last):
    ...
    healthtwin.errors.ResourceValidationError: ...w.yaml:2: ... replicates: (line 2) ...
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise InvalidInputError(f"world scenario file {p} does not exist") from err
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise yaml_syntax_error(p, err) from err
    if not isinstance(data, dict) or root is None:
        raise InvalidInputError(f"{p}: expected a mapping with at least 'countries'")
    data.setdefault("base_dir", str(p.resolve().parent))
    return parse_world(data, source=str(p), root=root)
