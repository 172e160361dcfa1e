"""The training-case format: a virtual patient, what the learner may do and ask, and a rubric.

A case is a YAML mapping validated by :class:`Case` (pydantic v2, strict: unknown keys are
errors). Cross-checks (:mod:`healthtwin.education.case_checks`) run after the field
checks: the rubric, the expert pathway and the information items refer to existing action
and information ids, dose defaults and expert doses lie inside their ranges, every measure
named exists for the case's responder, and every action effect and timeline event is
accepted by the responder (a dry run on the initial patient). :func:`load_case` reports
every broken rule with its field path *and* its line in the file
(``hypoglycaemia.yaml:42: actions.1.dose.default: ...``), using the YAML node positions
(the helpers of :mod:`healthtwin.scenarios.world`).

Learner-facing strings are exactly the string values under the keys ``title``,
``summary``, ``label``, ``text`` and ``reason``; :func:`learner_strings` lists them in
document order (the message extractor and the catalog tests use it). They are English
message ids and may hold ``{placeholders}``: ``{name}``, ``{relative}``, ``{diet}`` (the
culture layer) and measure names such as ``{glucose_mmol_per_l}`` (the unit layer).

Examples
--------
>>> case = load_case("hypoglycaemia")
>>> case.patient.model
'glucose'
>>> "hypoglycaemia" in case_ids()
True
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from healthtwin.education.case_checks import cross_issues, located_error
from healthtwin.education.comorbidities import comorbidity_ids
from healthtwin.education.patients import CohortSource, resolve_cohort_patient
from healthtwin.errors import (
    InvalidInputError,
    UnknownModelError,
)

__all__ = [
    "ActionSpec",
    "Case",
    "Condition",
    "CriticalAction",
    "DoseSpec",
    "ExpertStep",
    "FinalStateItem",
    "HarmItem",
    "InfoSpec",
    "NarrativeSpec",
    "PatientSpec",
    "Rubric",
    "case_ids",
    "case_path",
    "learner_strings",
    "load_case",
    "measure_unit",
    "parse_case",
]

_STRICT = ConfigDict(frozen=True, extra="forbid", strict=True)
Id = Annotated[str, Field(pattern=r"^[a-z0-9_]+$")]
Minutes = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Points = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Finite = Annotated[float, Field(allow_inf_nan=False)]

#: The keys whose string values a learner reads (and translators translate).
LEARNER_KEYS = ("title", "summary", "label", "text", "reason")

# Measure-name suffix -> canonical unit (the table of healthtwin.education.record).
_UNIT_SUFFIXES = (
    ("_mmol_per_l", "mmol/L"),
    ("_mmhg", "mmHg"),
    ("_per_min", "/min"),
    ("_percent", "%"),
    ("_ml_per_h", "mL/h"),
    ("_c", "degC"),
    ("_g_per_dl", "g/dL"),
    ("_given_ml", "mL"),
)
_UNITLESS = frozenset({"ph", "bis", "gcs"})


def measure_unit(measure: str) -> str:
    """The canonical unit of a measure, read from its name's suffix.

    Raises
    ------
    InvalidInputError
        If the name has no known unit suffix (and is not a unitless score).

    Examples
    --------
    >>> measure_unit("glucose_mmol_per_l"), measure_unit("ph"), measure_unit("hr_per_min")
    ('mmol/L', '1', '/min')
    """
    if measure in _UNITLESS:
        return "1"
    for suffix, unit in _UNIT_SUFFIXES:
        if measure.endswith(suffix):
            return unit
    raise InvalidInputError(
        f"measure {measure!r} has no unit suffix; name measures with one of "
        f"{[s for s, _ in _UNIT_SUFFIXES]} or use a unitless score {sorted(_UNITLESS)}"
    )


class Reference(BaseModel):
    """A clinical source of the case (not translated)."""

    model_config = _STRICT
    citation: str = Field(min_length=1)
    url: str | None = None


class CultureSpec(BaseModel):
    """The locale whose cultural profile is the case's own; further keys belong to the
    culture layer (:mod:`healthtwin.education.culture`) and are passed through."""

    model_config = ConfigDict(frozen=True, extra="allow", strict=True)
    origin: str = Field(min_length=2)


class PatientSpec(BaseModel):
    """The virtual patient: demographics, the responder kind and its parameters.

    ``parameters`` are the responder's physiology parameters; a key ``<name>_cv`` gives the
    coefficient of variation of ``<name>`` across patients (debrief draws patients from it).
    ``comorbidities`` are ids of :mod:`healthtwin.education.comorbidities` (they act on the
    parameters; unknown ids are refused).

    Written with ``cohort: <id or file>`` (and ``seed``, ``select``, ``member``), the
    patient is a member of a virtual cohort, resolved at load time into this inline form
    by :func:`~healthtwin.education.patients.resolve_cohort_patient`; ``cohort`` then
    records where it came from.
    """

    model_config = _STRICT
    model: str
    age_years: Annotated[float, Field(ge=0, le=120)]
    sex: Literal["female", "male"]
    weight_kg: Annotated[float, Field(gt=0, le=400)]
    height_cm: Annotated[float, Field(gt=0, le=250)]
    comorbidities: list[str] = Field(default_factory=list)
    parameters: dict[str, Finite] = Field(default_factory=dict)
    cohort: CohortSource | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_cohort(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, Mapping) and isinstance(data.get("cohort"), str):
            case_dir = (info.context or {}).get("case_dir")
            return resolve_cohort_patient(data, None if case_dir is None else Path(case_dir))
        return data

    @field_validator("comorbidities")
    @classmethod
    def _known_comorbidities(cls, ids: list[str]) -> list[str]:
        known = comorbidity_ids()
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise ValueError(
                f"unknown comorbidity id(s) {unknown}; known ids are {list(known)} "
                "(education/data/comorbidities.yaml)"
            )
        return ids


class TimelineEvent(BaseModel):
    """A scheduled event (``event`` names it; further keys are its parameters)."""

    model_config = ConfigDict(frozen=True, extra="allow", strict=True)
    at_min: Minutes
    event: Id

    @property
    def params(self) -> dict[str, Any]:
        """The event's parameters (every key but ``at_min``), including ``event``."""
        return {"event": self.event, **(self.model_extra or {})}


class DoseSpec(BaseModel):
    """An action's dose in its canonical unit: default and allowed range."""

    model_config = _STRICT
    unit: str = Field(min_length=1)
    default: Finite
    min: Finite
    max: Finite

    @model_validator(mode="after")
    def _range(self) -> DoseSpec:
        if not self.min <= self.default <= self.max:
            raise ValueError(
                f"default {self.default:g} {self.unit} is outside [min, max] = "
                f"[{self.min:g}, {self.max:g}]; put the default inside the range"
            )
        return self


class ActionSpec(BaseModel):
    """An action the learner may take, mapped to a responder ``effect``."""

    model_config = _STRICT
    id: Id
    label: str = Field(min_length=1)
    drug: Id | None = None
    dose: DoseSpec | None = None
    effect: dict[str, Any] = Field(default_factory=dict)
    available_after_min: Minutes = 0.0


class InfoSpec(BaseModel):
    """Information the learner may request; shown at request time + ``turnaround_min``.

    Labs and monitors report ``measure`` (and any ``measures``) taken from the twin at
    request time; ``text`` is the result shown and may use their placeholders. An item is
    available once every id in ``requires`` has been disclosed and after
    ``available_after_min``.
    """

    model_config = _STRICT
    id: Id
    label: str = Field(min_length=1)
    kind: Literal["history", "exam", "lab", "monitor"]
    text: str = Field(min_length=1)
    measure: str | None = None
    measures: list[str] = Field(default_factory=list)
    turnaround_min: Minutes = 0.0
    requires: list[Id] = Field(default_factory=list)
    available_after_min: Minutes = 0.0

    @property
    def all_measures(self) -> tuple[str, ...]:
        """``measure`` followed by ``measures``."""
        return ((self.measure,) if self.measure else ()) + tuple(self.measures)

    @model_validator(mode="after")
    def _measured(self) -> InfoSpec:
        if self.kind in ("lab", "monitor") and not self.all_measures:
            raise ValueError(f"a {self.kind} item needs a 'measure'; add the measure it reports")
        return self


class Condition(BaseModel):
    """A threshold on a measure: true when it is below ``below`` or above ``above``."""

    model_config = _STRICT
    measure: str
    below: Finite | None = None
    above: Finite | None = None

    @model_validator(mode="after")
    def _one(self) -> Condition:
        if (self.below is None) == (self.above is None):
            raise ValueError("give exactly one of 'below' and 'above'")
        return self

    def holds(self, values: Mapping[str, float]) -> bool:
        """Whether the condition holds for these measures."""
        v = values[self.measure]
        return v < self.below if self.below is not None else v > float(self.above or 0.0)


class NarrativeSpec(BaseModel):
    """Text shown once: at ``at_min`` or when the ``when`` condition first holds."""

    model_config = _STRICT
    text: str = Field(min_length=1)
    when: Condition | None = None
    at_min: Minutes | None = None

    @model_validator(mode="after")
    def _one(self) -> NarrativeSpec:
        if (self.when is None) == (self.at_min is None):
            raise ValueError("give exactly one of 'when' and 'at_min'")
        return self


class CriticalAction(BaseModel):
    """An action that earns ``points`` when taken within ``within_min`` of the start.

    ``any_of`` lists alternative actions that satisfy the item as well (e.g. IM glucagon
    instead of IV glucose); the first of them taken counts. An ``essential`` action must
    be taken (at any time) for the session to pass, whatever its total.
    """

    model_config = _STRICT
    action: Id
    within_min: Minutes
    points: Points
    any_of: list[Id] = Field(default_factory=list)
    essential: bool = False

    @property
    def actions(self) -> tuple[str, ...]:
        """``action`` followed by its alternatives."""
        return (self.action, *self.any_of)


class RequiredItem(BaseModel):
    """An action or an information request that earns ``points`` when done at all.

    With ``before_action`` it counts only when done before that action was first taken
    (or when that action was never taken), e.g. blood cultures before antibiotics.
    """

    model_config = _STRICT
    action: Id | None = None
    info: Id | None = None
    points: Points
    before_action: Id | None = None

    @model_validator(mode="after")
    def _one(self) -> RequiredItem:
        if (self.action is None) == (self.info is None):
            raise ValueError("give exactly one of 'action' and 'info'")
        return self


class Contraindicated(BaseModel):
    """An action that costs ``penalty``; only while ``when`` holds at the time it is taken
    (if given), only before the result of ``before_info`` was shown (if given), and only
    with a dose above ``above_dose`` (if given: setting a rate to 0 stops it, which is
    never the contraindicated act)."""

    model_config = _STRICT
    action: Id
    reason: str = Field(min_length=1)
    penalty: Points
    when: Condition | None = None
    before_info: Id | None = None
    above_dose: Finite | None = None


class HarmItem(BaseModel):
    """Penalty per minute a measure spends below ``below`` (or above ``above``), capped.

    With ``when``, a minute counts only while that condition holds too (e.g. BIS above 60
    *while* the neuromuscular block is above 50 %); the first ``grace_min`` minutes beyond
    the limit are free (e.g. "BIS below 20 for more than 2 minutes").
    """

    model_config = _STRICT
    measure: str
    below: Finite | None = None
    above: Finite | None = None
    penalty_per_min: Points
    max_penalty: Points
    when: Condition | None = None
    grace_min: Minutes = 0.0

    @model_validator(mode="after")
    def _one(self) -> HarmItem:
        if (self.below is None) == (self.above is None):
            raise ValueError("give exactly one of 'below' and 'above'")
        return self


class FinalStateItem(BaseModel):
    """Points when a measure lies in ``between`` at ``at_min``."""

    model_config = _STRICT
    measure: str
    between: Annotated[list[Finite], Field(min_length=2, max_length=2)]
    at_min: Minutes
    points: Points

    @model_validator(mode="after")
    def _ordered(self) -> FinalStateItem:
        if self.between[0] > self.between[1]:
            raise ValueError(f"between {list(self.between)} must be [low, high] with low <= high")
        return self


class Rubric(BaseModel):
    """How a session is scored (see :mod:`healthtwin.education.scoring`)."""

    model_config = _STRICT
    critical_actions: list[CriticalAction] = Field(default_factory=list)
    required: list[RequiredItem] = Field(default_factory=list)
    contraindicated: list[Contraindicated] = Field(default_factory=list)
    harm: list[HarmItem] = Field(default_factory=list)
    final_state: list[FinalStateItem] = Field(default_factory=list)
    pass_mark: Points


class ExpertStep(BaseModel):
    """One step of the expert pathway: ``action`` at ``at_min`` with ``dose``."""

    model_config = _STRICT
    at_min: Minutes
    action: Id
    dose: Finite | None = None


class Case(BaseModel):
    """A training case (see the module docstring and ``docs`` for the YAML format)."""

    model_config = _STRICT
    id: Id
    version: Annotated[int, Field(ge=1)]
    title: str = Field(min_length=1)
    summary: str = Field(min_length=1)
    references: list[Reference] = Field(min_length=1)
    culture: CultureSpec
    patient: PatientSpec
    initial_state: dict[str, Any] = Field(default_factory=dict)
    duration_min: Annotated[float, Field(gt=0, le=24 * 60)]
    monitor: list[str] = Field(default_factory=list)
    timeline: list[TimelineEvent] = Field(default_factory=list)
    actions: list[ActionSpec] = Field(min_length=1)
    information: list[InfoSpec] = Field(default_factory=list)
    narrative: list[NarrativeSpec] = Field(default_factory=list)
    rubric: Rubric
    expert: list[ExpertStep] = Field(min_length=1)

    def action(self, action_id: str) -> ActionSpec:
        """The action with this id (:class:`InvalidInputError` listing the ids if none)."""
        for a in self.actions:
            if a.id == action_id:
                return a
        raise InvalidInputError(
            f"case {self.id!r} has no action {action_id!r}; actions are "
            f"{[a.id for a in self.actions]}"
        )

    def info(self, info_id: str) -> InfoSpec:
        """The information item with this id (:class:`InvalidInputError` if none)."""
        for i in self.information:
            if i.id == info_id:
                return i
        raise InvalidInputError(
            f"case {self.id!r} has no information {info_id!r}; items are "
            f"{[i.id for i in self.information]}"
        )


# --- loading -------------------------------------------------------------------------------


def parse_case(
    data: Mapping[str, Any],
    source: str = "case",
    root: yaml.Node | None = None,
    case_dir: Path | None = None,
) -> Case:
    """Validate a mapping into a :class:`Case`, field checks then cross-checks.

    Parameters
    ----------
    data
        The parsed YAML.
    source
        Name of the file, for messages.
    root
        The YAML node tree of ``data`` (from ``yaml.compose``), to give line numbers.
    case_dir
        The case file's folder, where a cohort file named by ``patient.cohort`` is looked
        for (packaged cohort ids need none).

    Raises
    ------
    ResourceValidationError
        Every broken rule, each with its field path (and line when ``root`` is given).
    """
    try:
        case = Case.model_validate(dict(data), context={"case_dir": case_dir})
    except ValidationError as err:
        raise located_error(
            source, root, [(tuple(e["loc"]), str(e["msg"])) for e in err.errors()]
        ) from err
    problems = list(cross_issues(case))
    if problems:
        raise located_error(source, root, problems)
    return case


def case_ids() -> list[str]:
    """Ids of the cases shipped with healthtwin, sorted.

    Examples
    --------
    >>> "hyperglycaemia_dka" in case_ids()
    True
    """
    folder = resources.files("healthtwin.education") / "cases"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def case_path(case_id: str) -> Path:
    """The file of a shipped case.

    Raises
    ------
    UnknownModelError
        If no shipped case has this id (the ids are listed).

    Examples
    --------
    >>> case_path("hypoglycaemia").name
    'hypoglycaemia.yaml'
    """
    if case_id not in case_ids():
        raise UnknownModelError(f"no shipped case {case_id!r}; cases are {case_ids()}")
    return Path(str(resources.files("healthtwin.education") / "cases" / f"{case_id}.yaml"))


def load_case(path_or_id: str | Path) -> Case:
    """Read and validate a case file, or a shipped case by its id.

    Parameters
    ----------
    path_or_id
        A path to a ``.yaml`` file, or the id of a shipped case (see :func:`case_ids`).

    Raises
    ------
    InvalidInputError
        If the file is missing or not YAML.
    ResourceValidationError
        Every broken rule, each with its field path and line.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "c.yaml"
    >>> _ = p.write_text("id: demo\\nversion: 0\\n")
    >>> load_case(p)
    Traceback (most recent call last):
    ...
    healthtwin.errors.ResourceValidationError: ...c.yaml:2: ... version: (line 2) ...
    """
    text_id = str(path_or_id)
    if isinstance(path_or_id, str) and re.fullmatch(r"[a-z0-9_]+", text_id):
        p = case_path(text_id)
    else:
        p = Path(path_or_id)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise InvalidInputError(
            f"case file {p} does not exist; pass a path or one of {case_ids()}"
        ) from err
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise InvalidInputError(f"{p}: not valid YAML ({err}); fix the syntax") from err
    if not isinstance(data, dict) or root is None:
        raise InvalidInputError(f"{p}: expected a mapping with a case's fields (id, title...)")
    return parse_case(data, source=str(p), root=root, case_dir=p.parent)


def learner_strings(case: Case) -> list[str]:
    """Every learner-facing string of a case, in document order, without repeats.

    These are the string values under the keys ``title``, ``summary``, ``label``,
    ``text`` and ``reason`` anywhere in the case.

    Examples
    --------
    >>> strings = learner_strings(load_case("hypoglycaemia"))
    >>> strings[0] == load_case("hypoglycaemia").title
    True
    """
    found: list[str] = []
    _collect(case.model_dump(mode="python"), found)
    return list(dict.fromkeys(found))


def _collect(node: Any, found: list[str]) -> None:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key in LEARNER_KEYS and isinstance(value, str):
                found.append(value)
            else:
                _collect(value, found)
    elif isinstance(node, list | tuple):
        for item in node:
            _collect(item, found)
