"""One typed world scenario file: countries -> regions -> hospitals, epidemic, surveillance.

A world scenario is a YAML mapping validated by :class:`WorldScenario` (pydantic, strict:
unknown keys are errors). Countries reuse the population scenario's pieces (geography,
contacts, mobility, disease, initial infections, interventions; see
``docs/population_scenario.md``); each hospital is a full
:class:`~healthtwin.hospital.config.HospitalConfig` plus the region it serves, its share
of that region's admissions, the unit admitted patients enter and its ICU unit.
:func:`load_world` reports every broken rule with its field path *and* its line in the
file (``world.yaml:12: countries.0.hospitals.1.catchment_share: ...``), found from the
YAML node tree (``yaml.compose`` keeps each node's position).

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

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from healthtwin.errors import InvalidInputError, ResourceValidationError, ValidationIssue
from healthtwin.hospital.config import HospitalConfig
from healthtwin.population.scenario import (
    ContactsSpec,
    GeographySpec,
    InterventionSpec,
    MobilitySpec,
    PopulationScenario,
)

__all__ = [
    "CountryWorld",
    "FeedbackSpec",
    "HospitalSite",
    "OutputsSpec",
    "SurveillanceSpec",
    "WorldScenario",
    "load_world",
    "parse_world",
]

_STRICT = ConfigDict(frozen=True, extra="forbid")
Probability = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


class HospitalSite(BaseModel):
    """A hospital: its configuration, the region it serves and its share of admissions."""

    model_config = _STRICT
    name: str = Field(min_length=1)
    region: str
    catchment_share: Probability
    entry_unit: str = "ward"
    icu_unit: str | None = "icu"
    config: HospitalConfig

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
    disease: dict[str, Any] = Field(default_factory=dict)
    initial_infected: dict[str, float] | None = None
    interventions: list[InterventionSpec] = Field(default_factory=list)
    hospitals: list[HospitalSite] = Field(min_length=1)

    @model_validator(mode="after")
    def _catchments(self) -> CountryWorld:
        names = [h.name for h in self.hospitals]
        if len(set(names)) != len(names):
            raise ValueError(f"hospital names must be unique in a country; got {names}")
        listed = (
            None if self.geography.regions is None else {r.name for r in self.geography.regions}
        )
        shares: dict[str, float] = {}
        for h in self.hospitals:
            if listed is not None and h.region not in listed:
                raise ValueError(
                    f"hospital {h.name!r} serves region {h.region!r}, which is not one of the "
                    f"regions {sorted(listed)}"
                )
            shares[h.region] = shares.get(h.region, 0.0) + h.catchment_share
        for region, total in shares.items():
            if not math.isclose(total, 1.0, abs_tol=1e-9):
                raise ValueError(
                    f"catchment shares of region {region!r} sum to {total:g}; the shares of "
                    "its hospitals must sum to 1"
                )
        if listed is not None and set(shares) != listed:
            raise ValueError(
                f"regions {sorted(listed - set(shares))} have no hospital; give each region "
                "at least one hospital"
            )
        return self

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
            disease=self.disease,
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
    """Contacts scaled by ``contact_scale`` while occupancy is above ``line`` x beds."""

    model_config = _STRICT
    line: float = Field(gt=0, allow_inf_nan=False)
    contact_scale: Probability


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
    """What :func:`~healthtwin.scenarios.run.write_outputs` writes."""

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
        issues = tuple(_issue(e, root) for e in err.errors())
        text = "; ".join(f"{i.path}: {i.message}" if i.path else i.message for i in issues)
        where = f"{source}:{_line_of(root, err.errors()[0]['loc'])}" if root else source
        raise ResourceValidationError(f"{where}: invalid world scenario: {text}", issues) from err


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
        raise InvalidInputError(f"{p}: not valid YAML ({err}); fix the syntax") from err
    if not isinstance(data, dict) or root is None:
        raise InvalidInputError(f"{p}: expected a mapping with at least 'countries'")
    data.setdefault("base_dir", str(p.resolve().parent))
    return parse_world(data, source=str(p), root=root)


def _node_at(root: yaml.Node, loc: Sequence[int | str]) -> yaml.Node:
    """The deepest node along ``loc`` (pydantic's error location) in the YAML tree."""
    node = root
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            found = [v for k, v in node.value if getattr(k, "value", None) == str(key)]
            if not found:
                # A union tag or a missing field: the mapping itself is the place.
                continue
            node = found[0]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            if key >= len(node.value):
                break
            node = node.value[key]
        else:
            break
    return node


def _line_of(root: yaml.Node | None, loc: Sequence[int | str]) -> int | None:
    if root is None:
        return None
    return int(_node_at(root, loc).start_mark.line) + 1


def _issue(error: Any, root: yaml.Node | None) -> ValidationIssue:
    path = ".".join(str(p) for p in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    line = _line_of(root, error["loc"])
    if line is not None:
        message = f"(line {line}) {message}"
    return ValidationIssue(path=path, message=message, code="value")
