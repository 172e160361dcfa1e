"""Model cards (Mitchell et al. 2019) for the models healthtwin ships.

Mitchell M, Wu S, Zaldivar A, et al. "Model Cards for Model Reporting", Proceedings of
FAT* 2019, doi:10.1145/3287560.3287596. A card answers, in nine sections: model details;
intended use (primary uses and users, uses out of scope); factors (the groups and
conditions over which performance may differ); metrics; evaluation data; training data;
quantitative analyses (metrics overall and per subgroup, here one list of
:class:`Metric` rows whose ``subgroup`` is ``"overall"`` or ``"column=value"``); ethical
considerations; caveats and recommendations.

A model card describes the model to its users; the credibility card
(:mod:`healthtwin.governance.credibility`) argues whether the evidence suffices for one
context of use. Both are read from the same YAML file of ``governance/cards/``.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, field_validator

from healthtwin.governance.credibility import sections_markdown

__all__ = ["Metric", "ModelCard", "model_card_markdown", "model_card_sections"]

_STRICT = ConfigDict(frozen=True, extra="forbid")


class Metric(BaseModel):
    """One measured figure: overall or for one subgroup, for one model of the card.

    Attributes
    ----------
    name, value, unit : str, float, str
        What was measured (``"C-index"``, ``"max abs glucose difference"``), its value and
        unit (``""`` for a ratio).
    dataset : str
        The data or scenario it was measured on.
    subgroup : str
        ``"overall"`` or ``"column=value"`` (``"sex=female"``, ``"age=65-79"``).
    model : str or None
        The registered model it belongs to, when the card covers several.
    interval : (float, float) or None
        A confidence or acceptance interval, as stated by the evidence.
    evidence : str or None
        The test file (or closing note / benchmark file) that measured it.
    """

    model_config = _STRICT

    name: str = Field(min_length=2)
    value: float
    unit: str = ""
    dataset: str = Field(min_length=2)
    subgroup: str = "overall"
    model: str | None = None
    interval: tuple[float, float] | None = None
    evidence: str | None = None

    @field_validator("value")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError(f"metric values must be finite, got {value}")
        return value

    @field_validator("subgroup")
    @classmethod
    def _subgroup(cls, subgroup: str) -> str:
        if subgroup != "overall" and subgroup.count("=") != 1:
            raise ValueError(f"subgroup must be 'overall' or 'column=value', got {subgroup!r}")
        return subgroup

    def describe(self) -> str:
        """One line: ``name [subgroup] = value unit (dataset)``.

        Examples
        --------
        >>> Metric(name="AUC", value=0.865, dataset="whas500", subgroup="gender=0").describe()
        'AUC [gender=0] = 0.865 (whas500)'
        """
        model = f"{self.model}: " if self.model else ""
        group = "" if self.subgroup == "overall" else f" [{self.subgroup}]"
        unit = f" {self.unit}" if self.unit else ""
        interval = f" [{self.interval[0]:g}, {self.interval[1]:g}]" if self.interval else ""
        return f"{model}{self.name}{group} = {self.value:g}{unit}{interval} ({self.dataset})"


class ModelCard(BaseModel):
    """The nine sections of a model card."""

    model_config = _STRICT

    model_type: str = Field(min_length=5)
    developers: str = Field(min_length=2)
    licence: str = Field(min_length=2)
    citations: tuple[str, ...] = Field(min_length=1)
    primary_uses: tuple[str, ...] = Field(min_length=1)
    primary_users: tuple[str, ...] = Field(min_length=1)
    out_of_scope_uses: tuple[str, ...] = Field(min_length=1)
    factors: tuple[str, ...] = Field(min_length=1)
    training_data: str = Field(min_length=5)
    evaluation_data: str = Field(min_length=5)
    metrics: tuple[Metric, ...] = Field(min_length=1)
    ethical_considerations: tuple[str, ...] = Field(min_length=1)
    caveats: tuple[str, ...] = Field(min_length=1)

    def subgroup_metrics(self) -> tuple[Metric, ...]:
        """The metrics measured for a subgroup (not ``overall``)."""
        return tuple(m for m in self.metrics if m.subgroup != "overall")


def model_card_sections(card: ModelCard) -> list[tuple[str, list[str]]]:
    """The card as ``(title, paragraphs)`` in Mitchell et al.'s order.

    Examples
    --------
    >>> [title for title, _ in model_card_sections(ModelCard.model_validate(EXAMPLE_MODEL_CARD))]
    ... # doctest: +NORMALIZE_WHITESPACE
    ['Model details', 'Intended use', 'Factors', 'Metrics', 'Evaluation data',
     'Training data', 'Quantitative analyses', 'Ethical considerations',
     'Caveats and recommendations']
    """
    overall = [m.describe() for m in card.metrics if m.subgroup == "overall"]
    by_group = [m.describe() for m in card.subgroup_metrics()]
    return [
        (
            "Model details",
            [
                f"Type: {card.model_type}",
                f"Developers: {card.developers}",
                f"Licence: {card.licence}",
                *(f"Citation: {c}" for c in card.citations),
            ],
        ),
        (
            "Intended use",
            [
                *(f"Primary use: {u}" for u in card.primary_uses),
                *(f"Primary user: {u}" for u in card.primary_users),
                *(f"Out of scope: {u}" for u in card.out_of_scope_uses),
            ],
        ),
        ("Factors", list(card.factors)),
        ("Metrics", overall or ["No overall metric; see the quantitative analyses."]),
        ("Evaluation data", [card.evaluation_data]),
        ("Training data", [card.training_data]),
        ("Quantitative analyses", by_group or ["No subgroup analysis was done."]),
        ("Ethical considerations", list(card.ethical_considerations)),
        ("Caveats and recommendations", list(card.caveats)),
    ]


def model_card_markdown(card: ModelCard, title: str = "Model card") -> str:
    """The card as Markdown, one ``##`` heading per section.

    Examples
    --------
    >>> text = model_card_markdown(ModelCard.model_validate(EXAMPLE_MODEL_CARD))
    >>> "## Quantitative analyses" in text
    True
    """
    return sections_markdown(title, model_card_sections(card))


#: A minimal valid card, used by the examples.
EXAMPLE_MODEL_CARD = {
    "model_type": "Cox proportional hazards",
    "developers": "healthtwin contributors",
    "licence": "Apache-2.0",
    "citations": ["Cox DR. J R Stat Soc B 34:187-220 (1972)"],
    "primary_uses": ["research"],
    "primary_users": ["researchers"],
    "out_of_scope_uses": ["individual treatment decisions"],
    "factors": ["sex", "age band"],
    "training_data": "whas500",
    "evaluation_data": "whas500, 5-fold out of fold",
    "metrics": [{"name": "AUC", "value": 0.8, "dataset": "whas500"}],
    "ethical_considerations": ["example"],
    "caveats": ["example"],
}
