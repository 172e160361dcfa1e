"""The model registry: every shipped model is registered, and every registered model has cards.

The registry in ``governance`` is written out by hand (the layering forbids importing the
scale packages there), so these tests compare it with each package's own registry.
"""

from __future__ import annotations

import dataclasses
import importlib
import shutil
from pathlib import Path

import pytest
from tests.conftest import require

from healthtwin.errors import InvalidInputError, NotFoundError, UnknownModelError
from healthtwin.governance.model_registry import (
    REGISTERED_MODELS,
    RegisteredModel,
    cards_markdown,
    load_card_file,
    load_cards,
    missing_cards,
    registered_model,
)

CARDS = Path(__file__).resolve().parents[2] / "src" / "healthtwin" / "governance" / "cards"


def test_every_registered_model_has_a_credibility_card_and_a_model_card() -> None:
    """THE test of issue 13: no registered model without its cards."""
    assert missing_cards() == ()
    cards = load_cards()
    for name, model in REGISTERED_MODELS.items():
        card = cards[name]
        assert (name, model.version) in {(m.name, m.version) for m in card.models}
        assert card.credibility.activities
        assert card.model_card.metrics


def test_a_missing_card_makes_the_check_fail(tmp_path: Path) -> None:
    for file in CARDS.glob("*.yaml"):
        shutil.copy(file, tmp_path / file.name)
    assert missing_cards(tmp_path) == ()
    (tmp_path / "rt-cori.yaml").unlink()
    assert missing_cards(tmp_path) == ("rt-cori@0.1.0",)
    with pytest.raises(NotFoundError, match=r"rt-cori@0\.1\.0 has no card file"):
        cards_markdown("rt-cori", tmp_path)


def test_a_new_model_version_needs_a_new_card() -> None:
    newer = dataclasses.replace(REGISTERED_MODELS["uva-padova"], version="0.2.0")
    assert missing_cards(registry={"uva-padova": newer}) == ("uva-padova@0.2.0",)


def test_a_model_covered_twice_or_a_broken_card_is_refused(tmp_path: Path) -> None:
    shutil.copy(CARDS / "rt-cori.yaml", tmp_path / "a.yaml")
    shutil.copy(CARDS / "rt-cori.yaml", tmp_path / "b.yaml")
    with pytest.raises(InvalidInputError, match="'rt-cori' is covered by two card files"):
        load_cards(tmp_path)
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        (CARDS / "rt-cori.yaml").read_text().replace("risk_level: 4", "risk_level: 2")
    )
    with pytest.raises(InvalidInputError, match=r"broken\.yaml.*credibility\.risk.*risk_level: 4"):
        load_card_file(broken)
    broken.write_text("models: [unclosed\n")
    with pytest.raises(InvalidInputError, match="not valid YAML"):
        load_card_file(broken)


def test_unknown_names_list_the_valid_ones() -> None:
    with pytest.raises(UnknownModelError, match="valid models: uva-padova, hovorka"):
        registered_model("glucose")


def test_names_are_unique_and_versions_set() -> None:
    assert all(isinstance(m, RegisteredModel) for m in REGISTERED_MODELS.values())
    assert all(
        m.version and m.key == f"{name}@{m.version}" for name, m in REGISTERED_MODELS.items()
    )


@pytest.mark.parametrize("name", sorted(REGISTERED_MODELS))
def test_registered_modules_exist(name: str) -> None:
    module = REGISTERED_MODELS[name].module
    if "prognosis" in module:
        require("sksurv", "ml")
    importlib.import_module(module)


def names(kind: str) -> set[str]:
    return {n for n, m in REGISTERED_MODELS.items() if m.kind == kind}


def test_every_physiology_model_of_the_cli_is_registered() -> None:
    from healthtwin.physiology.registry import MODELS

    assert set(MODELS) <= names("physiology")
    assert names("physiology") - set(MODELS) == {"news2", "qsofa", "mews"}


def test_every_prognosis_model_is_registered() -> None:
    require("sksurv", "ml")
    from healthtwin.prognosis.hybrid import REGRESSORS as FORECAST_LEARNERS
    from healthtwin.prognosis.progression import REGRESSORS
    from healthtwin.prognosis.survival import SURVIVAL_MODELS

    expected = {f"survival-{n}" for n in SURVIVAL_MODELS}
    expected |= {f"progression-{n.replace('_', '-')}" for n in REGRESSORS}
    expected |= {"glucose-hybrid-forecaster", "glucose-ml-forecaster"}
    assert names("prognosis") == expected
    assert len(FORECAST_LEARNERS) >= 1
    assert all(REGISTERED_MODELS[n].task for n in expected)


def test_every_controller_and_detector_is_registered() -> None:
    from healthtwin.coupling.closed_loop import CONTROLLERS
    from healthtwin.surveillance.detect import METHODS

    assert set(CONTROLLERS) <= names("control")
    assert set(METHODS) == names("surveillance")


def test_non_prediction_models_have_no_task() -> None:
    assert {m.task for m in REGISTERED_MODELS.values() if m.kind != "prognosis"} == {None}
