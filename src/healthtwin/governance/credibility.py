"""Model credibility cards after ASME V&V 40-2018 and the FDA's 2023 credibility guidance.

A credibility card states what a model is trusted *for* and why. Following ASME V&V
40-2018 ("Assessing Credibility of Computational Modeling through Verification and
Validation: Application to Medical Devices") and the FDA guidance "Assessing the
Credibility of Computational Modeling and Simulation in Medical Device Submissions"
(November 2023), a card holds:

1. the question of interest and the **context of use** (COU): what the model answers,
   for whom, with which quantities of interest;
2. the **model risk**: *model influence* (how much the model's output weighs in the
   decision, against other evidence) and *decision consequence* (the harm of a wrong
   decision), each ``low``/``medium``/``high``, combined by the risk matrix
   :data:`RISK_MATRIX` into a level 1-5 (the standard's example matrix: the level rises
   by one for each step up of either axis);
3. **credibility goals**: the rigor wanted for each of the 13 credibility factors of the
   standard (:data:`CREDIBILITY_FACTORS`), by default from the risk level
   (:func:`goal_rigor`);
4. the **verification and validation activities** actually done, each with its factor,
   comparator, numerical result, outcome, achieved rigor and the test files that are its
   evidence;
5. the **assessment** (:func:`assess`): for every factor, the goal against the best rigor
   achieved by a passing activity; factors below their goal are gaps.

Cards are pydantic models read from YAML (package data ``governance/cards/``) and
rendered as Markdown (:func:`credibility_markdown`) or as FHIR-like Composition sections
(:func:`credibility_sections`).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "CREDIBILITY_FACTORS",
    "LEVELS",
    "RISK_MATRIX",
    "ContextOfUse",
    "CredibilityCard",
    "CredibilityGoal",
    "FactorAssessment",
    "Level",
    "ModelRisk",
    "VVActivity",
    "assess",
    "credibility_markdown",
    "credibility_sections",
    "goal_rigor",
    "model_risk_level",
]

Level = Literal["low", "medium", "high"]
LEVELS: tuple[Level, ...] = get_args(Level)
Outcome = Literal["passed", "partial", "failed"]

#: (model influence, decision consequence) -> model risk level 1 (lowest) to 5 (highest).
RISK_MATRIX: Mapping[tuple[Level, Level], int] = {
    (influence, consequence): i + j + 1
    for i, influence in enumerate(LEVELS)
    for j, consequence in enumerate(LEVELS)
}

#: The credibility factors of ASME V&V 40-2018 (section 5), by activity.
CREDIBILITY_FACTORS: Mapping[str, str] = {
    "software quality assurance": "verification: code",
    "numerical code verification": "verification: code",
    "discretization error": "verification: calculation",
    "numerical solver error": "verification: calculation",
    "use error": "verification: calculation",
    "model form": "validation: computational model",
    "model inputs": "validation: computational model",
    "test samples": "validation: comparator",
    "test conditions": "validation: comparator",
    "equivalency of input parameters": "validation: assessment",
    "output comparison": "validation: assessment",
    "relevance of the quantities of interest": "applicability",
    "relevance of the validation activities to the context of use": "applicability",
}

_STRICT = ConfigDict(frozen=True, extra="forbid")


def model_risk_level(model_influence: Level, decision_consequence: Level) -> int:
    """The model risk level (1-5) of the V&V 40 risk matrix.

    Parameters
    ----------
    model_influence, decision_consequence : {"low", "medium", "high"}
        How much the model output weighs in the decision; how bad a wrong decision is.

    Returns
    -------
    int
        1 for low/low up to 5 for high/high.

    Raises
    ------
    ValueError
        If either level is not ``low``, ``medium`` or ``high``.

    Examples
    --------
    >>> model_risk_level("low", "low"), model_risk_level("medium", "high")
    (1, 4)
    """
    try:
        return RISK_MATRIX[(model_influence, decision_consequence)]
    except KeyError as err:
        # ValueError (not InvalidParameterError) so pydantic validators report it per field.
        raise ValueError(
            f"levels must be one of {list(LEVELS)}, got model influence "
            f"{model_influence!r} and decision consequence {decision_consequence!r}"
        ) from err


def goal_rigor(risk_level: int) -> Level:
    """Default rigor of every credibility goal for a model risk level.

    Levels 1-2 ask for low rigor, 3 for medium, 4-5 for high: the higher the risk, the
    more of each factor must be demonstrated (V&V 40 section 6).

    Examples
    --------
    >>> [goal_rigor(r) for r in range(1, 6)]
    ['low', 'low', 'medium', 'high', 'high']
    """
    if not 1 <= risk_level <= 5:
        raise ValueError(f"risk level must be 1-5, got {risk_level}")
    return "low" if risk_level <= 2 else "medium" if risk_level == 3 else "high"


class ContextOfUse(BaseModel):
    """What the model answers, for whom, and with which outputs."""

    model_config = _STRICT

    question_of_interest: str = Field(min_length=10)
    context_of_use: str = Field(min_length=10)
    quantities_of_interest: tuple[str, ...] = Field(min_length=1)
    users: tuple[str, ...] = Field(min_length=1)


class ModelRisk(BaseModel):
    """Model influence, decision consequence, and the risk level they give."""

    model_config = _STRICT

    model_influence: Level
    model_influence_rationale: str = Field(min_length=10)
    decision_consequence: Level
    decision_consequence_rationale: str = Field(min_length=10)
    risk_level: int = Field(ge=1, le=5)

    @model_validator(mode="after")
    def _level_follows_the_matrix(self) -> ModelRisk:
        expected = model_risk_level(self.model_influence, self.decision_consequence)
        if self.risk_level != expected:
            raise ValueError(
                f"risk_level {self.risk_level} does not follow the V&V 40 matrix: influence "
                f"{self.model_influence} and consequence {self.decision_consequence} give "
                f"{expected}; set risk_level: {expected}"
            )
        return self


def _known_factor(factor: str) -> str:
    if factor not in CREDIBILITY_FACTORS:
        raise ValueError(
            f"unknown credibility factor {factor!r}; valid factors: "
            f"{', '.join(CREDIBILITY_FACTORS)}"
        )
    return factor


class CredibilityGoal(BaseModel):
    """A goal that differs from :func:`goal_rigor`'s default, with the reason."""

    model_config = _STRICT

    factor: str
    rigor: Level
    rationale: str = Field(min_length=10)

    @field_validator("factor")
    @classmethod
    def _factor(cls, factor: str) -> str:
        return _known_factor(factor)


class VVActivity(BaseModel):
    """One verification or validation activity that was done, with its result.

    ``evidence`` lists test files (``tests/...py``, optionally ``::test_name``) that
    re-run the activity; ``result`` states the figures measured.
    """

    model_config = _STRICT

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    factor: str
    description: str = Field(min_length=10)
    comparator: str = Field(min_length=3)
    result: str = Field(min_length=5)
    outcome: Outcome
    rigor: Level
    evidence: tuple[str, ...] = Field(min_length=1)

    @field_validator("factor")
    @classmethod
    def _factor(cls, factor: str) -> str:
        return _known_factor(factor)

    @field_validator("evidence")
    @classmethod
    def _test_paths(cls, paths: tuple[str, ...]) -> tuple[str, ...]:
        for path in paths:
            file = path.split("::", 1)[0]
            if not (file.startswith("tests/") and file.endswith(".py")):
                raise ValueError(
                    f"evidence {path!r} must be a test file 'tests/....py' (optionally "
                    "'::test_name')"
                )
        return paths


class CredibilityCard(BaseModel):
    """The credibility assessment of one model (or one family sharing its evidence)."""

    model_config = _STRICT

    context: ContextOfUse
    risk: ModelRisk
    goals: tuple[CredibilityGoal, ...] = ()
    activities: tuple[VVActivity, ...] = Field(min_length=1)
    limitations: tuple[str, ...] = Field(min_length=1)
    conclusion: str = Field(min_length=10)

    @model_validator(mode="after")
    def _unique_ids(self) -> CredibilityCard:
        ids = [a.id for a in self.activities]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"activity ids must be unique; repeated: {repeated}")
        return self

    def evidence_files(self) -> tuple[str, ...]:
        """Every test file named as evidence, without ``::test`` suffixes, sorted."""
        return tuple(sorted({p.split("::", 1)[0] for a in self.activities for p in a.evidence}))


class FactorAssessment(BaseModel):
    """One factor's goal against the best rigor that passing activities reached."""

    model_config = _STRICT

    factor: str
    goal: Level
    achieved: Level | None
    activities: tuple[str, ...]

    @property
    def met(self) -> bool:
        """Whether the achieved rigor reaches the goal."""
        return self.achieved is not None and LEVELS.index(self.achieved) >= LEVELS.index(self.goal)


def assess(card: CredibilityCard) -> tuple[FactorAssessment, ...]:
    """Goal and achieved rigor for each of the 13 credibility factors.

    Only activities whose outcome is ``passed`` count; a ``partial`` or ``failed``
    activity is listed but achieves nothing.

    Examples
    --------
    >>> card = CredibilityCard.model_validate(EXAMPLE_CARD)
    >>> rows = assess(card)
    >>> [(r.factor, r.goal, r.achieved, r.met) for r in rows if r.activities]
    [('output comparison', 'medium', 'high', True)]
    >>> sum(not r.met for r in rows)
    12
    """
    default = goal_rigor(card.risk.risk_level)
    goals = {g.factor: g.rigor for g in card.goals}
    rows = []
    for factor in CREDIBILITY_FACTORS:
        done = [a for a in card.activities if a.factor == factor]
        passed = [LEVELS.index(a.rigor) for a in done if a.outcome == "passed"]
        rows.append(
            FactorAssessment(
                factor=factor,
                goal=goals.get(factor, default),
                achieved=LEVELS[max(passed)] if passed else None,
                activities=tuple(a.id for a in done),
            )
        )
    return tuple(rows)


def credibility_sections(card: CredibilityCard) -> list[tuple[str, list[str]]]:
    """The card as ``(title, paragraphs)`` sections, shared by Markdown and FHIR output.

    Examples
    --------
    >>> card = CredibilityCard.model_validate(EXAMPLE_CARD)
    >>> [title for title, _ in credibility_sections(card)]  # doctest: +NORMALIZE_WHITESPACE
    ['Context of use', 'Model risk', 'Verification and validation',
     'Credibility assessment', 'Limitations', 'Conclusion']
    """
    cou, risk = card.context, card.risk
    rows = assess(card)
    return [
        (
            "Context of use",
            [
                f"Question of interest: {cou.question_of_interest}",
                f"Context of use: {cou.context_of_use}",
                f"Quantities of interest: {'; '.join(cou.quantities_of_interest)}",
                f"Users: {'; '.join(cou.users)}",
            ],
        ),
        (
            "Model risk",
            [
                f"Model influence: {risk.model_influence} ({risk.model_influence_rationale})",
                f"Decision consequence: {risk.decision_consequence} "
                f"({risk.decision_consequence_rationale})",
                f"Model risk level: {risk.risk_level} of 5 (ASME V&V 40 risk matrix)",
            ],
        ),
        (
            "Verification and validation",
            [
                f"[{a.outcome}] {a.id} ({a.factor}, rigor {a.rigor}): {a.description} "
                f"Comparator: {a.comparator}. Result: {a.result} "
                f"Evidence: {', '.join(a.evidence)}"
                for a in card.activities
            ],
        ),
        (
            "Credibility assessment",
            [
                f"{r.factor}: goal {r.goal}, achieved {r.achieved or 'none'}"
                f" ({'met' if r.met else 'gap'})"
                for r in rows
            ],
        ),
        ("Limitations", list(card.limitations)),
        ("Conclusion", [card.conclusion]),
    ]


def credibility_markdown(card: CredibilityCard, title: str = "Credibility card") -> str:
    """The card as Markdown, one ``##`` heading per section.

    Examples
    --------
    >>> card = CredibilityCard.model_validate(EXAMPLE_CARD)
    >>> print(credibility_markdown(card).splitlines()[0])
    # Credibility card
    """
    return sections_markdown(title, credibility_sections(card))


def sections_markdown(title: str, sections: list[tuple[str, list[str]]]) -> str:
    """Sections as Markdown: ``# title``, then ``## section`` with a bullet per paragraph."""
    lines = [f"# {title}", ""]
    for heading, paragraphs in sections:
        lines += [f"## {heading}", "", *(f"- {p}" for p in paragraphs), ""]
    return "\n".join(lines)


def narrative(paragraphs: list[str]) -> dict[str, Any]:
    """A FHIR Narrative (status ``generated``) holding the paragraphs as escaped XHTML."""
    body = "".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs)
    return {
        "status": "generated",
        "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{body}</div>',
    }


#: A minimal valid card, used by the examples.
EXAMPLE_CARD: Mapping[str, Any] = {
    "context": {
        "question_of_interest": "What is this patient's glucose in 30 minutes?",
        "context_of_use": "In-silico research; never shown to a patient.",
        "quantities_of_interest": ["glucose_mg_dl"],
        "users": ["researchers"],
    },
    "risk": {
        "model_influence": "medium",
        "model_influence_rationale": "one of several lines of evidence",
        "decision_consequence": "medium",
        "decision_consequence_rationale": "research conclusions only",
        "risk_level": 3,
    },
    "activities": [
        {
            "id": "peer-comparison",
            "factor": "output comparison",
            "description": "Same scenario run by the peer implementation.",
            "comparator": "simglucose 0.2.11",
            "result": "max difference 0.003 mg/dL",
            "outcome": "passed",
            "rigor": "high",
            "evidence": ["tests/validation/test_uva_padova_vs_simglucose.py"],
        }
    ],
    "limitations": ["Example only."],
    "conclusion": "Example card for the documentation.",
}
