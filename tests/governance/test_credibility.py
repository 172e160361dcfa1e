"""Credibility cards: the V&V 40 risk matrix, goals, the assessment, and the shipped cards."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from healthtwin.governance.credibility import (
    CREDIBILITY_FACTORS,
    EXAMPLE_CARD,
    LEVELS,
    RISK_MATRIX,
    CredibilityCard,
    assess,
    credibility_markdown,
    goal_rigor,
    model_risk_level,
)
from healthtwin.governance.model_registry import load_cards

ROOT = Path(__file__).resolve().parents[2]


def card_with(**changes: Any) -> dict[str, Any]:
    data = dict(EXAMPLE_CARD.items())
    data.update(changes)
    return data


# The example matrix of ASME V&V 40-2018 (Fig. 5-2) / FDA 2023 guidance: rows are model
# influence, columns decision consequence, both low -> high.
EXPECTED_MATRIX = [[1, 2, 3], [2, 3, 4], [3, 4, 5]]


def test_risk_matrix_is_the_standard_example_matrix() -> None:
    for i, influence in enumerate(LEVELS):
        for j, consequence in enumerate(LEVELS):
            assert model_risk_level(influence, consequence) == EXPECTED_MATRIX[i][j]
    assert len(RISK_MATRIX) == 9


def test_risk_rises_with_each_axis() -> None:
    for a in LEVELS:
        levels = [model_risk_level(a, b) for b in LEVELS]
        assert levels == sorted(levels)
        assert len(set(levels)) == 3
        levels = [model_risk_level(b, a) for b in LEVELS]
        assert levels == sorted(levels)
        assert len(set(levels)) == 3


def test_unknown_level_is_refused_with_the_valid_levels() -> None:
    with pytest.raises(ValueError, match=r"'very high'.*\['low', 'medium', 'high'\]|levels must"):
        model_risk_level("very high", "low")  # type: ignore[arg-type]


def test_goal_rigor_by_risk_level() -> None:
    assert [goal_rigor(r) for r in range(1, 6)] == ["low", "low", "medium", "high", "high"]
    with pytest.raises(ValueError, match="1-5"):
        goal_rigor(6)


def test_the_card_refuses_a_risk_level_off_the_matrix() -> None:
    risk = dict(EXAMPLE_CARD["risk"], risk_level=2)
    with pytest.raises(ValidationError, match="set risk_level: 3"):
        CredibilityCard.model_validate(card_with(risk=risk))


def test_unknown_factor_and_non_test_evidence_are_refused() -> None:
    activity = dict(EXAMPLE_CARD["activities"][0])
    with pytest.raises(ValidationError, match="unknown credibility factor 'vibes'"):
        CredibilityCard.model_validate(card_with(activities=[dict(activity, factor="vibes")]))
    with pytest.raises(ValidationError, match="must be a test file"):
        CredibilityCard.model_validate(
            card_with(activities=[dict(activity, evidence=["src/healthtwin/x.py"])])
        )
    with pytest.raises(ValidationError, match="unique"):
        CredibilityCard.model_validate(card_with(activities=[activity, activity]))
    with pytest.raises(ValidationError, match="extra"):
        CredibilityCard.model_validate(card_with(verdict="fine"))


def test_assessment_counts_only_passed_activities_and_honours_goal_overrides() -> None:
    base = EXAMPLE_CARD["activities"][0]
    activities = [
        dict(base, id="a", factor="model form", outcome="failed", rigor="high"),
        dict(base, id="b", factor="model form", outcome="passed", rigor="low"),
        dict(base, id="c", factor="use error", outcome="partial", rigor="high"),
    ]
    goals = [{"factor": "model form", "rigor": "low", "rationale": "form is textbook"}]
    card = CredibilityCard.model_validate(card_with(activities=activities, goals=goals))
    rows = {r.factor: r for r in assess(card)}
    assert len(rows) == len(CREDIBILITY_FACTORS) == 13
    assert (rows["model form"].goal, rows["model form"].achieved, rows["model form"].met) == (
        "low",
        "low",
        True,
    )
    assert rows["model form"].activities == ("a", "b")
    assert rows["use error"].achieved is None
    assert not rows["use error"].met
    assert rows["output comparison"].goal == "medium"  # risk 3 default


def test_markdown_lists_every_activity_and_factor() -> None:
    card = CredibilityCard.model_validate(EXAMPLE_CARD)
    text = credibility_markdown(card, title="Example")
    assert text.startswith("# Example\n")
    assert "[passed] peer-comparison" in text
    for factor in CREDIBILITY_FACTORS:
        assert f"- {factor}: goal" in text


SHIPPED = {card.title: card.credibility for card in load_cards().values()}


@pytest.mark.parametrize("title", sorted(SHIPPED))
def test_shipped_risk_levels_follow_the_matrix(title: str) -> None:
    risk = SHIPPED[title].risk
    assert risk.risk_level == model_risk_level(risk.model_influence, risk.decision_consequence)


def _test_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}


@pytest.mark.parametrize("title", sorted(SHIPPED))
def test_every_vv_entry_points_at_an_existing_test(title: str) -> None:
    for activity in SHIPPED[title].activities:
        for evidence in activity.evidence:
            file, _, name = evidence.partition("::")
            path = ROOT / file
            assert path.is_file(), f"{title}: {activity.id} names missing {file}"
            assert path.name.startswith("test_"), f"{title}: {file} is not a test module"
            if name:
                assert name in _test_names(path), f"{title}: no {name} in {file}"


def test_shipped_cards_are_honest_about_gaps() -> None:
    outcomes = {a.outcome for card in SHIPPED.values() for a in card.activities}
    assert {"passed", "partial", "failed"} <= outcomes  # e.g. Smith 2004 abstract: failed
    smith = next(c for t, c in SHIPPED.items() if t.startswith("cvs-smith"))
    assert any(a.outcome == "failed" for a in smith.activities)
