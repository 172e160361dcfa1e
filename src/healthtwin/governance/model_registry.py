"""The explicit registry of the models healthtwin ships, and their cards.

:data:`REGISTERED_MODELS` lists every model a twin, a recommendation or a report can run
on, by the name its own registry or CLI uses (``physiology.registry.MODELS``,
``prognosis`` survival models and regressors, the closed-loop controllers, the
surveillance ``METHODS``...), with a version, its scale and the module that implements
it. ``governance`` may not import those packages, so the list is written out here and a
test checks it against each package's own registry.

Every registered model must have a card file in ``governance/cards/``: one YAML document
with the ``models`` it covers (name and version; a family of models that share code and
evidence shares one file), a ``credibility`` card
(:class:`~healthtwin.governance.credibility.CredibilityCard`) and a ``model_card``
(:class:`~healthtwin.governance.model_cards.ModelCard`). :func:`missing_cards` names the
models without one; :func:`cards_markdown` and :func:`cards_composition` render a
model's cards for people and as a FHIR-like ``Composition``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from healthtwin.errors import InvalidInputError, NotFoundError, UnknownModelError
from healthtwin.governance.credibility import (
    CredibilityCard,
    credibility_sections,
    narrative,
    sections_markdown,
)
from healthtwin.governance.model_cards import ModelCard, model_card_sections

__all__ = [
    "REGISTERED_MODELS",
    "CardFile",
    "CardModel",
    "ModelKind",
    "PredictionTask",
    "RegisteredModel",
    "cards_composition",
    "cards_markdown",
    "load_card_file",
    "load_cards",
    "missing_cards",
    "registered_model",
]

ModelKind = Literal["physiology", "prognosis", "control", "hospital", "population", "surveillance"]
#: What a prediction model outputs per patient, for fairness reports.
PredictionTask = Literal["risk", "regression", "classification"]

_VERSION = "0.1.0"
# libyaml's safe loader when PyYAML was built with it (10x faster), else the Python one.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class RegisteredModel:
    """One shipped model.

    Attributes
    ----------
    name : str
        The name used by the CLI, scenarios and the API (unique).
    version : str
        The healthtwin release in which the model's equations, parameters or defaults last
        changed; audit, provenance and kill switches refer to ``name@version``.
    kind : str
        Its scale (one of :data:`ModelKind`).
    module : str
        The module that implements it.
    summary : str
        One line: what it is.
    task : str or None
        ``"risk"``, ``"regression"`` or ``"classification"`` for prediction models over
        patients (those get fairness reports), else ``None``.
    """

    name: str
    version: str
    kind: ModelKind
    module: str
    summary: str
    task: PredictionTask | None = None

    @property
    def key(self) -> str:
        """``name@version``."""
        return f"{self.name}@{self.version}"


def _models(
    kind: ModelKind, module: str, entries: Iterable[tuple[str, str]]
) -> list[RegisteredModel]:
    return [RegisteredModel(name, _VERSION, kind, module, summary) for name, summary in entries]


def _predictors(
    module: str, task: PredictionTask, entries: Iterable[tuple[str, str]]
) -> list[RegisteredModel]:
    return [
        RegisteredModel(name, _VERSION, "prognosis", module, summary, task)
        for name, summary in entries
    ]


_P = "healthtwin.physiology"
_ALL: list[RegisteredModel] = [
    *_models("physiology", f"{_P}.uva_padova", [("uva-padova", "UVA/Padova S2008 T1D")]),
    *_models("physiology", f"{_P}.hovorka", [("hovorka", "Hovorka 2004 glucose-insulin")]),
    *_models("physiology", f"{_P}.bergman", [("bergman-minimal", "Bergman minimal model")]),
    *_models("physiology", f"{_P}.inflammation", [("inflammation", "Reynolds 2006 sepsis")]),
    *_models(
        "physiology",
        f"{_P}.pkpd",
        [
            ("pk-schnider", "propofol PK/PD, Schnider 1998 + Bouillon BIS"),
            ("pk-marsh", "propofol PK, Marsh 1991"),
            ("pk-marsh-modified", "propofol PK, modified Marsh (ke0 1.2/min)"),
            ("pk-minto", "remifentanil PK/PD, Minto 1997"),
        ],
    ),
    *_models("physiology", f"{_P}.circulation", [("cvs-smith", "Smith 2004 circulation")]),
    *_models(
        "physiology",
        f"{_P}.scores",
        [("news2", "RCP NEWS2 2017"), ("qsofa", "qSOFA 2016"), ("mews", "MEWS, Subbe 2001")],
    ),
    *_predictors(
        "healthtwin.prognosis.survival",
        "risk",
        [
            ("survival-cox", "Cox proportional hazards"),
            ("survival-coxnet", "elastic-net Cox"),
            ("survival-rsf", "random survival forest"),
            ("survival-gbs", "gradient-boosted Cox trees"),
        ],
    ),
    *_predictors(
        "healthtwin.prognosis.progression",
        "regression",
        [
            ("progression-ridge", "ridge regression of disease progression"),
            ("progression-gradient-boosting", "gradient boosting of disease progression"),
            ("progression-linear", "least-squares regression of disease progression"),
        ],
    ),
    *_predictors(
        "healthtwin.prognosis.hybrid",
        "regression",
        [
            ("glucose-hybrid-forecaster", "UVA/Padova twin + ML residual glucose forecast"),
            ("glucose-ml-forecaster", "ML-only glucose forecast"),
        ],
    ),
    *_models(
        "control",
        "healthtwin.control",
        [
            ("basal-bolus", "basal-bolus insulin therapy (simglucose BBController)"),
            ("pid", "PID with insulin feedback (Steil)"),
            ("oref0", "OpenAPS oref0 determine-basal"),
            ("mpc", "zone MPC on the synced UVA/Padova twin"),
        ],
    ),
    *_models(
        "control",
        "healthtwin.control",
        [
            ("propofol-tci", "target-controlled infusion (Shafer & Gregg 1992)"),
            ("bis-loop", "closed-loop BIS control via TCI targets"),
        ],
    ),
    *_models(
        "control",
        "healthtwin.control.dose_individualization",
        [("dose-individualization", "Bayesian MAP dose individualization")],
    ),
    *_models(
        "control",
        "healthtwin.control.recommend",
        [("treatment-recommender", "what-if plan comparison with chance constraints")],
    ),
    *_models(
        "hospital", "healthtwin.hospital.simulate", [("hospital-flow", "discrete-event flow")]
    ),
    *_models(
        "hospital",
        "healthtwin.hospital.plan",
        [("hospital-capacity-planner", "Erlang, staffing, ranking-and-selection plans")],
    ),
    *_models("population", "healthtwin.population.rt", [("rt-cori", "Cori 2013 Rt")]),
    *_models(
        "population",
        "healthtwin.population.epidemic",
        [("epidemic-metapopulation", "age x region chain-binomial / ODE epidemic")],
    ),
    *_models(
        "population",
        "healthtwin.population.chronic",
        [("chronic-diabetes", "type-2 diabetes microsimulation")],
    ),
    *_models(
        "population",
        "healthtwin.population.allocation",
        [("capacity-allocation", "national allocation of scarce capacity")],
    ),
    *_models(
        "surveillance",
        "healthtwin.surveillance.detect",
        [
            ("farrington-flexible", "Noufaily 2013 improved Farrington"),
            ("farrington", "Farrington 1996"),
            ("ears-c1", "EARS C1"),
            ("ears-c2", "EARS C2"),
            ("ears-c3", "EARS C3"),
            ("cusum", "Poisson/Rossi CUSUM"),
        ],
    ),
]

#: Name -> registered model, every model healthtwin ships.
REGISTERED_MODELS: Mapping[str, RegisteredModel] = MappingProxyType({m.name: m for m in _ALL})


def registered_model(name: str) -> RegisteredModel:
    """The registered model called ``name``.

    Raises
    ------
    UnknownModelError
        If no model has that name (the message lists the valid names).

    Examples
    --------
    >>> registered_model("survival-cox").task
    'risk'
    >>> registered_model("cox")
    Traceback (most recent call last):
    ...
    healthtwin.errors.UnknownModelError: unknown model 'cox'; valid models: uva-padova, ...
    """
    try:
        return REGISTERED_MODELS[name]
    except KeyError as err:
        raise UnknownModelError(
            f"unknown model {name!r}; valid models: {', '.join(REGISTERED_MODELS)}"
        ) from err


class CardModel(BaseModel):
    """A model a card file covers, by name and version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    version: str


class CardFile(BaseModel):
    """One card file: the models it covers, their credibility card and model card."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    models: tuple[CardModel, ...] = Field(min_length=1)
    credibility: CredibilityCard
    model_card: ModelCard

    @model_validator(mode="after")
    def _metrics_name_covered_models(self) -> CardFile:
        names = {m.name for m in self.models}
        strays = sorted({m.model for m in self.model_card.metrics if m.model} - names)
        if strays:
            raise ValueError(f"metrics name models {strays} that this file does not cover")
        return self

    @property
    def title(self) -> str:
        """``name@version`` of the covered models, comma separated."""
        return ", ".join(f"{m.name}@{m.version}" for m in self.models)


def load_card_file(path: Path | Traversable) -> CardFile:
    """Read and validate one card file.

    Raises
    ------
    InvalidInputError
        If the file is not YAML or does not follow the card schema; the message names the
        file and each field in error.
    """
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
        return CardFile.model_validate(data)
    except yaml.YAMLError as err:
        raise InvalidInputError(f"card file {path.name} is not valid YAML: {err}") from err
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
        )
        raise InvalidInputError(
            f"card file {path.name} breaks the card schema: {problems}"
        ) from err


def _card_dir(directory: Path | Traversable | None) -> Path | Traversable:
    return resources.files("healthtwin.governance") / "cards" if directory is None else directory


def load_cards(directory: Path | Traversable | None = None) -> dict[str, CardFile]:
    """Every card file of ``directory`` (default: the shipped cards), by model name.

    Raises
    ------
    InvalidInputError
        If a file is invalid, or two files cover the same model.

    Examples
    --------
    >>> cards = load_cards()
    >>> cards["uva-padova"].credibility.risk.risk_level in range(1, 6)
    True
    """
    folder = _card_dir(directory)
    by_model: dict[str, CardFile] = {}
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".yaml")), key=lambda f: f.name)
    for file in files:
        card = load_card_file(file)
        for model in card.models:
            if model.name in by_model:
                raise InvalidInputError(
                    f"model {model.name!r} is covered by two card files (again in "
                    f"{file.name}); keep one card per model"
                )
            by_model[model.name] = card
    return by_model


def missing_cards(
    directory: Path | Traversable | None = None,
    registry: Mapping[str, RegisteredModel] = REGISTERED_MODELS,
) -> tuple[str, ...]:
    """Registered models without a card for their current version, as ``name@version``.

    Examples
    --------
    >>> missing_cards()
    ()
    """
    cards = load_cards(directory)
    missing = []
    for model in registry.values():
        card = cards.get(model.name)
        versions = {m.version for m in card.models if m.name == model.name} if card else set()
        if model.version not in versions:
            missing.append(model.key)
    return tuple(missing)


def _card_for(
    name: str, directory: Path | Traversable | None, cards: Mapping[str, CardFile] | None
) -> tuple[RegisteredModel, CardFile]:
    model = registered_model(name)
    card = (load_cards(directory) if cards is None else cards).get(name)
    if card is None:
        raise NotFoundError(
            f"model {model.key} has no card file in governance/cards; add one covering it"
        )
    return model, card


def cards_markdown(
    name: str,
    directory: Path | Traversable | None = None,
    *,
    cards: Mapping[str, CardFile] | None = None,
) -> str:
    """The credibility card and model card of a model, as one Markdown document.

    ``cards`` (from :func:`load_cards`) saves re-reading the card files on every call.

    Examples
    --------
    >>> print(cards_markdown("rt-cori").splitlines()[0])
    # Credibility card: rt-cori@0.1.0
    """
    _, card = _card_for(name, directory, cards)
    return (
        sections_markdown(f"Credibility card: {card.title}", credibility_sections(card.credibility))
        + "\n"
        + sections_markdown(f"Model card: {card.title}", model_card_sections(card.model_card))
    )


def cards_composition(
    name: str,
    directory: Path | Traversable | None = None,
    *,
    date: dt.datetime | None = None,
    cards: Mapping[str, CardFile] | None = None,
) -> dict[str, Any]:
    """A model's two cards as a FHIR R4 ``Composition`` (plain JSON-ready dict).

    The Composition has two top-level sections, "Credibility card" and "Model card", each
    with one subsection (narrative text) per card section. ``date`` defaults to now (UTC);
    ``cards`` as for :func:`cards_markdown`.

    Examples
    --------
    >>> doc = cards_composition("rt-cori", date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    >>> doc["resourceType"], [s["title"] for s in doc["section"]]
    ('Composition', ['Credibility card', 'Model card'])
    """
    model, card = _card_for(name, directory, cards)
    when = (date or dt.datetime.now(dt.UTC)).isoformat()
    parts = [
        ("Credibility card", credibility_sections(card.credibility)),
        ("Model card", model_card_sections(card.model_card)),
    ]
    return {
        "resourceType": "Composition",
        "identifier": {"system": "urn:healthtwin:model", "value": model.key},
        "status": "final",
        "type": {"text": "Model credibility card and model card"},
        "date": when,
        "author": [{"display": "healthtwin governance"}],
        "title": f"Cards of {card.title}",
        "section": [
            {
                "title": title,
                "section": [
                    {"title": heading, "text": narrative(paragraphs)}
                    for heading, paragraphs in sections
                ],
            }
            for title, sections in parts
        ],
    }
