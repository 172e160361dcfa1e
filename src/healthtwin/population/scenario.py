"""Population scenario files: one YAML that says where, who, which disease and what is done.

A scenario names its geography (listed regions, a synthetic country, or a real country from
the optional ``starsim-data`` package), its contact matrices, mobility, disease parameters,
initial infections, interventions, the health-system capacity it is tested against, and
named *variants* (for example "no action" and "schools closed") that replace the base
interventions or disease parameters. Validation is strict: an unknown key, region, setting
or age group is an error that names the field path. See ``docs/population_scenario.md``.

Examples
--------
>>> spec = parse_scenario({
...     "days": 30, "replicates": 2,
...     "geography": {"regions": [{"name": "a", "population": 1e5},
...                               {"name": "b", "population": 5e4}]},
...     "disease": {"r0": 2.0},
...     "initial_infected": {"a": 20},
...     "variants": [{"name": "baseline"},
...                  {"name": "distancing",
...                   "interventions": [{"type": "contact_reduction",
...                                      "settings": {"community": 0.5}}]}],
... })
>>> [v.name for v in spec.variant_list()]
['baseline', 'distancing']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from healthtwin.errors import InvalidInputError, ResourceValidationError, ValidationIssue
from healthtwin.population.geography import Geography
from healthtwin.population.interventions import (
    ContactReduction,
    Intervention,
    SchoolClosure,
    TestingIsolation,
    TravelRestriction,
    VaccinationCampaign,
)
from healthtwin.population.triggers import DateTrigger, ThresholdTrigger, Trigger

__all__ = [
    "CapacitySpec",
    "PopulationScenario",
    "Variant",
    "load_scenario",
    "parse_scenario",
    "yaml_syntax_error",
]

_STRICT = ConfigDict(frozen=True, extra="forbid")


class RegionSpec(BaseModel):
    """One region: people (a total, split by ``age_shares``, or one number per age group)."""

    model_config = _STRICT
    name: str
    population: float | list[float]
    latitude: float | None = None
    longitude: float | None = None


class SyntheticSpec(BaseModel):
    """A synthetic country (see :func:`~healthtwin.population.demography.synthetic_geography`)."""

    model_config = _STRICT
    n_regions: int = Field(ge=1)
    total_population: float = Field(gt=0)
    seed: int = 0


class CountrySpec(BaseModel):
    """A real country from ``starsim-data``: admin-1 regions or the whole nation."""

    model_config = _STRICT
    name: str
    level: Literal["admin1", "national"] = "admin1"


class GeographySpec(BaseModel):
    """Exactly one of ``regions``, ``synthetic`` or ``country``."""

    model_config = _STRICT
    regions: list[RegionSpec] | None = None
    age_groups: list[str] | None = None
    age_shares: list[float] | None = None
    synthetic: SyntheticSpec | None = None
    country: CountrySpec | None = None

    @model_validator(mode="after")
    def _one_source(self) -> GeographySpec:
        given = [k for k in ("regions", "synthetic", "country") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of regions, synthetic or country; got {given or 'none'}"
            )
        if self.age_shares is not None:
            if self.age_groups is None or len(self.age_shares) != len(self.age_groups):
                raise ValueError("age_shares needs age_groups of the same length")
            if any(s < 0 for s in self.age_shares) or sum(self.age_shares) <= 0:
                raise ValueError("age_shares must be >= 0 with a positive sum")
        return self


class ContactsSpec(BaseModel):
    """``synthetic`` (rule-based), a ``country`` (Prem 2021) or explicit ``matrices``."""

    model_config = _STRICT
    source: Literal["synthetic", "country", "matrices"] = "synthetic"
    country: str | None = None
    matrices: dict[str, list[list[float]]] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ContactsSpec:
        if self.source == "country" and not self.country:
            raise ValueError("source 'country' needs country: <name>")
        if self.source == "matrices" and not self.matrices:
            raise ValueError("source 'matrices' needs matrices: {setting: [[...]]}")
        return self


class MobilitySpec(BaseModel):
    """How residents travel: none, a gravity or radiation model, or a flows CSV."""

    model_config = _STRICT
    # "auto": the gravity model from populations and distances when the regions have
    # coordinates (no mobility data given), else no travel.
    model: Literal["auto", "none", "gravity", "radiation", "flows"] = "auto"
    commuting_fraction: float = Field(default=0.1, ge=0, le=1)
    distance_exponent: float = Field(default=2.0, gt=0)
    flows_csv: str | None = None

    @model_validator(mode="after")
    def _flows(self) -> MobilitySpec:
        if self.model == "flows" and not self.flows_csv:
            raise ValueError("model 'flows' needs flows_csv: <file with origin,destination,flow>")
        return self


class TriggerSpec(BaseModel):
    """A date window (``start_day``/``end_day``) or a threshold (``quantity``, ``above``)."""

    model_config = _STRICT
    start_day: int | None = Field(default=None, ge=0)
    end_day: int | None = None
    quantity: str | None = None
    above: float | None = None
    release_below: float | None = None
    scope: Literal["region", "national"] = "region"
    per_100k: bool = False
    delay_days: int = Field(default=0, ge=0)
    min_days: int = Field(default=0, ge=0)

    def build(self) -> Trigger:
        if self.quantity is not None or self.above is not None:
            if self.quantity is None or self.above is None:
                raise ValueError("a threshold trigger needs both quantity and above")
            return ThresholdTrigger(
                quantity=self.quantity,
                above=self.above,
                release_below=self.release_below,
                scope=self.scope,
                per_100k=self.per_100k,
                delay_days=self.delay_days,
                min_days=self.min_days,
                not_before_day=self.start_day or 0,
            )
        return DateTrigger(start_day=self.start_day or 0, end_day=self.end_day)


class _InterventionBase(BaseModel):
    model_config = _STRICT
    name: str | None = None
    regions: list[str] | None = None
    trigger: TriggerSpec = Field(default_factory=TriggerSpec)

    def _common(self) -> dict[str, Any]:
        out: dict[str, Any] = {"trigger": self.trigger.build()}
        if self.name:
            out["name"] = self.name
        if self.regions is not None:
            out["regions"] = tuple(self.regions)
        return out


class ContactReductionSpec(_InterventionBase):
    type: Literal["contact_reduction"]
    settings: dict[str, float]

    def build(self) -> Intervention:
        return ContactReduction(settings=self.settings, **self._common())


class SchoolClosureSpec(_InterventionBase):
    type: Literal["school_closure"]
    effectiveness: float = 1.0

    def build(self) -> Intervention:
        return SchoolClosure(effectiveness=self.effectiveness, **self._common())


class TestingIsolationSpec(_InterventionBase):
    __test__ = False  # not a pytest test class, despite its name
    type: Literal["testing_isolation"]
    fraction: float

    def build(self) -> Intervention:
        return TestingIsolation(fraction=self.fraction, **self._common())


class TravelRestrictionSpec(_InterventionBase):
    type: Literal["travel_restriction"]
    factor: float

    def build(self) -> Intervention:
        return TravelRestriction(factor=self.factor, **self._common())


class VaccinationSpec(_InterventionBase):
    type: Literal["vaccination"]
    daily_doses: float
    age_priority: list[str] | None = None
    max_coverage: float = 0.9
    region_shares: dict[str, float] | None = None

    def build(self) -> Intervention:
        return VaccinationCampaign(
            daily_doses=self.daily_doses,
            age_priority=None if self.age_priority is None else tuple(self.age_priority),
            max_coverage=self.max_coverage,
            region_shares=self.region_shares,
            **self._common(),
        )


InterventionSpec = Annotated[
    ContactReductionSpec
    | SchoolClosureSpec
    | TestingIsolationSpec
    | TravelRestrictionSpec
    | VaccinationSpec,
    Field(discriminator="type"),
]


class ShockSpec(BaseModel):
    """A supply shock: a share of capacity lost for a while, in some regions."""

    model_config = _STRICT
    start_day: int = Field(ge=0)
    duration_days: int = Field(ge=1)
    fraction_lost: float = Field(ge=0, le=1)
    regions: list[str] | None = None


class AbsenceSpec(BaseModel):
    """Staff absence: baseline share plus ``multiplier`` x the share of people recently ill."""

    model_config = _STRICT
    baseline: float = Field(default=0.0, ge=0, lt=1)
    absence_days: int = Field(default=7, ge=1)
    staff_absence_multiplier: float = Field(default=1.0, ge=0)


class CapacitySpec(BaseModel):
    """Beds per region (or a national total shared by population), and overflow risks.

    ``p_death_without_icu`` is the death risk of a patient who needs an ICU bed and does not
    get one; ``p_death_with_icu`` defaults to the disease's ICU death fraction (its
    population mean). Both are scenario assumptions, repeated in every report.

    Ventilators and nurses are planned from the same occupancy: ventilators needed are
    ``ventilated_share_of_icu`` x ICU occupancy; nurses needed per shift are ward patients /
    ``ward_patients_per_nurse`` + ICU patients / ``icu_patients_per_nurse``. Those ratios are
    the scenario's (local staffing rules differ), required when those resources are planned.
    """

    model_config = _STRICT
    icu_beds: dict[str, float] | float | None = None
    hospital_beds: dict[str, float] | float | None = None
    ventilators: dict[str, float] | float | None = None
    nurses: dict[str, float] | float | None = None
    ventilated_share_of_icu: float | None = Field(default=None, ge=0, le=1)
    ward_patients_per_nurse: float | None = Field(default=None, gt=0)
    icu_patients_per_nurse: float | None = Field(default=None, gt=0)
    p_death_without_icu: float = Field(default=0.9, ge=0, le=1)
    p_death_with_icu: float | None = Field(default=None, ge=0, le=1)
    p_death_without_ward: float = Field(default=0.3, ge=0, le=1)
    shocks: list[ShockSpec] = Field(default_factory=list)
    staff_absence: AbsenceSpec | None = None


class Variant(BaseModel):
    """A named variant: replaces the base interventions and/or updates disease values."""

    model_config = _STRICT
    name: str
    interventions: list[InterventionSpec] | None = None
    disease: dict[str, Any] | None = None
    description: str = ""


class PopulationScenario(BaseModel):
    """A whole population scenario (see the module docstring)."""

    model_config = _STRICT
    name: str = "scenario"
    days: int = Field(default=120, ge=1)
    replicates: int = Field(default=10, ge=1)
    seed: int = 0
    engine: Literal["stochastic", "ode"] = "stochastic"
    steps_per_day: int = Field(default=1, ge=1)
    start_date: str | None = None
    geography: GeographySpec
    contacts: ContactsSpec = Field(default_factory=ContactsSpec)
    mobility: MobilitySpec = Field(default_factory=MobilitySpec)
    disease: dict[str, Any] = Field(default_factory=dict)
    initial_infected: dict[str, float] | None = None
    interventions: list[InterventionSpec] = Field(default_factory=list)
    capacity: CapacitySpec = Field(default_factory=CapacitySpec)
    variants: list[Variant] = Field(default_factory=list)
    base_dir: str = Field(default=".", exclude=True)

    @model_validator(mode="after")
    def _unique_variants(self) -> PopulationScenario:
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"variant names must be unique; got {names}")
        return self

    def variant_list(self) -> list[Variant]:
        """The variants to run (the base scenario alone when none are listed)."""
        return self.variants or [Variant(name="baseline")]

    def variant(self, name: str) -> Variant:
        """One variant by name; unknown names list the known ones."""
        for v in self.variant_list():
            if v.name == name:
                return v
        known = [v.name for v in self.variant_list()]
        raise InvalidInputError(f"unknown variant {name!r}; this scenario has {known}")

    def interventions_for(self, variant: Variant) -> list[Intervention]:
        """The typed interventions of a variant."""
        specs = self.interventions if variant.interventions is None else variant.interventions
        return [s.build() for s in specs]

    def disease_for(self, variant: Variant) -> dict[str, Any]:
        """Disease parameters of a variant (the base updated by the variant's values)."""
        return {**self.disease, **(variant.disease or {})}

    def resolve(self, path: str) -> Path:
        """A path in the scenario relative to the scenario file's folder."""
        p = Path(path)
        return p if p.is_absolute() else Path(self.base_dir) / p


def parse_scenario(data: Mapping[str, Any], source: str = "scenario") -> PopulationScenario:
    """Validate a mapping into a :class:`PopulationScenario` (errors name field paths)."""
    try:
        return PopulationScenario.model_validate(dict(data))
    except ValidationError as err:
        issues = tuple(_issue(e) for e in err.errors())
        text = "; ".join(f"{i.path}: {i.message}" if i.path else i.message for i in issues)
        raise ResourceValidationError(
            f"{source}: invalid population scenario: {text}", issues
        ) from err


def yaml_syntax_error(path: Path, err: yaml.YAMLError) -> InvalidInputError:
    """A YAML syntax error as ``file:line:column: what is wrong; fix the syntax``.

    Examples
    --------
    >>> try:
    ...     yaml.safe_load("a: 1\\nb: [2, 3\\n")
    ... except yaml.YAMLError as err:
    ...     print(str(yaml_syntax_error(Path("s.yaml"), err))[:52])
    s.yaml:3:1: not valid YAML: while parsing a flow seq
    """
    mark = getattr(err, "problem_mark", None)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
    context = getattr(err, "context", None)
    problem = getattr(err, "problem", None) or str(err)
    what = f"{context}, {problem}" if context else problem
    return InvalidInputError(f"{where}: not valid YAML: {what}; fix the syntax")


def load_scenario(path: str | Path) -> PopulationScenario:
    """Read and validate a scenario YAML file."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise InvalidInputError(f"scenario file {p} does not exist") from err
    except yaml.YAMLError as err:
        raise yaml_syntax_error(p, err) from err
    if not isinstance(data, dict):
        raise InvalidInputError(f"{p}: expected a mapping with at least 'geography'")
    data.setdefault("base_dir", str(p.resolve().parent))
    return parse_scenario(data, source=str(p))


def regional_values(
    values: Mapping[str, float] | float | None, geography: Geography, what: str
) -> np.ndarray[Any, np.dtype[np.float64]] | None:
    """Per-region numbers from a region map or a national total shared by population."""
    if values is None:
        return None
    if isinstance(values, int | float):
        people = geography.population.sum(axis=1)
        return np.asarray(float(values) * people / people.sum(), dtype=float)
    out = np.zeros(geography.n_regions)
    for region, value in values.items():
        if value < 0:
            raise InvalidInputError(f"{what} for region {region!r} is {value}; must be >= 0")
        out[geography.index(region)] = value
    return out


def region_indices(names: Sequence[str] | None, geography: Geography) -> tuple[int, ...] | None:
    """Positions of named regions (None stays None)."""
    return None if names is None else tuple(geography.index(n) for n in names)


def _issue(error: Any) -> ValidationIssue:
    path = ".".join(str(p) for p in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    return ValidationIssue(path=path, message=message, code="value")
