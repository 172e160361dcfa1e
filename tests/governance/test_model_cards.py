"""Model cards: the schema, rendering as Markdown and as a FHIR R4 Composition."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from tests.conftest import require

from healthtwin.governance.model_cards import (
    EXAMPLE_MODEL_CARD,
    Metric,
    ModelCard,
    model_card_markdown,
)
from healthtwin.governance.model_registry import (
    REGISTERED_MODELS,
    cards_composition,
    cards_markdown,
    load_cards,
)

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = {card.title: card for card in load_cards().values()}


def card_with(**changes: Any) -> dict[str, Any]:
    return {**EXAMPLE_MODEL_CARD, **changes}


def test_a_card_needs_every_section() -> None:
    for section in ("out_of_scope_uses", "metrics", "caveats", "ethical_considerations"):
        data = card_with()
        del data[section]
        with pytest.raises(ValidationError, match=section):
            ModelCard.model_validate(data)
    with pytest.raises(ValidationError, match="at least 1"):
        ModelCard.model_validate(card_with(out_of_scope_uses=[]))


def test_metrics_are_finite_and_subgroups_named() -> None:
    with pytest.raises(ValidationError, match="finite"):
        Metric(name="AUC", value=float("nan"), dataset="cohort")
    with pytest.raises(ValidationError, match="column=value"):
        Metric(name="AUC", value=0.7, dataset="cohort", subgroup="women")
    metric = Metric(
        name="AUC", value=0.7, dataset="cohort", subgroup="sex=female", interval=(0.6, 0.8)
    )
    assert metric.describe() == "AUC [sex=female] = 0.7 [0.6, 0.8] (cohort)"


def test_markdown_has_mitchells_sections_in_order() -> None:
    text = model_card_markdown(ModelCard.model_validate(EXAMPLE_MODEL_CARD))
    headings = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    assert headings == [
        "Model details",
        "Intended use",
        "Factors",
        "Metrics",
        "Evaluation data",
        "Training data",
        "Quantitative analyses",
        "Ethical considerations",
        "Caveats and recommendations",
    ]
    assert "No subgroup analysis was done." in text


@pytest.mark.parametrize("title", sorted(SHIPPED))
def test_shipped_metric_evidence_exists_and_models_match(title: str) -> None:
    card = SHIPPED[title]
    covered = {m.name for m in card.models}
    for metric in card.model_card.metrics:
        if metric.evidence:
            assert (ROOT / metric.evidence.split("::")[0]).is_file(), metric.evidence
        assert metric.model is None or metric.model in covered


def test_prediction_models_report_subgroup_metrics() -> None:
    survival = load_cards()["survival-cox"].model_card
    groups = {m.subgroup for m in survival.subgroup_metrics()}
    assert {"gender=0", "gender=1"} <= groups


def test_cards_render_for_every_registered_model() -> None:
    cards = load_cards()
    for name in REGISTERED_MODELS:
        text = cards_markdown(name, cards=cards)
        assert text.startswith("# Credibility card: ")
        assert "# Model card: " in text
        assert f"{name}@" in text.splitlines()[0]


def test_composition_is_valid_fhir_r4b() -> None:
    require("fhir.resources", "fhir")
    from fhir.resources.R4B.composition import Composition

    when = dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC)
    for name in ("survival-cox", "cvs-smith", "farrington"):
        doc = cards_composition(name, date=when)
        parsed = Composition.model_validate(json.loads(json.dumps(doc)))
        assert parsed.identifier.value == f"{name}@0.1.0"
        sections = [s.title for s in parsed.section]
        assert sections == ["Credibility card", "Model card"]
        assert [s.title for s in parsed.section[0].section][:2] == ["Context of use", "Model risk"]
    assert "NOT reproduced" in json.dumps(cards_composition("cvs-smith", date=when))
    loop = json.dumps(cards_composition("mpc", date=when))
    assert "TBR&lt;70" in loop
    assert "TBR<70" not in loop
