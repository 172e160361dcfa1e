"""Saving and loading models: round trips, model cards, tampering and unknown types."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sklearn
import skops
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sksurv.column import encode_categorical
from sksurv.datasets import load_whas500
from sksurv.linear_model import CoxPHSurvivalAnalysis

from healthtwin.errors import InvalidInputError, InvalidParameterError, MissingDependencyError
from healthtwin.prognosis.datasets import load_dataset
from healthtwin.prognosis.persistence import (
    ModelCard,
    card_path,
    feature_types,
    load_model,
    save_model,
)
from healthtwin.prognosis.progression import ProgressionModel
from healthtwin.prognosis.survival import SurvivalModel


@pytest.fixture(scope="module")
def diabetes() -> tuple[pd.DataFrame, np.ndarray]:
    X, y = load_diabetes(return_X_y=True, as_frame=True, scaled=False)
    return X.assign(sex=X["sex"].map({1.0: "F", 2.0: "M"})), y.to_numpy()


def _card(features: dict[str, str]) -> ModelCard:
    return ModelCard(
        name="diabetes progression",
        dataset="Efron et al. (2004) diabetes, 442 patients",
        dataset_source="scikit-learn sklearn.datasets.load_diabetes",
        dataset_licence="BSD-3-Clause (scikit-learn)",
        features=features,
        metrics={"coverage_90": 0.9, "mae": 44.0},
        intended_use="teaching and testing; not for clinical decisions",
        limitations="one US cohort; one-year progression only",
    )


@pytest.fixture(scope="module")
def saved(
    diabetes: tuple[pd.DataFrame, Any], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, ProgressionModel, ModelCard]:
    X, y = diabetes
    model = ProgressionModel("gradient_boosting").fit(X.iloc[:300], y[:300])
    model.calibrate(X.iloc[300:], y[300:])
    path = tmp_path_factory.mktemp("models") / "progression.skops"
    return path, model, save_model(model, path, _card(feature_types(X)))


def test_round_trip_keeps_predictions_and_card(saved: Any, diabetes: Any) -> None:
    path, model, card = saved
    X, _ = diabetes
    loaded, loaded_card = load_model(path)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    ours, theirs = loaded.predict_interval(X, 0.1), model.predict_interval(X, 0.1)
    np.testing.assert_array_equal(ours.lower, theirs.lower)
    assert loaded_card == card
    assert card_path(path) == path.with_name("progression.card.json")
    on_disk = json.loads(card_path(path).read_text())
    assert on_disk["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert on_disk["features"]["sex"] == "object"
    assert on_disk["library_versions"]["scikit-learn"] == sklearn.__version__
    assert on_disk["library_versions"]["skops"] == skops.__version__
    assert len(on_disk["training_date"]) == 10  # YYYY-MM-DD
    assert load_model(path, expected_sha256=on_disk["sha256"].upper())[1] == card


def test_tampered_file_is_refused(saved: Any, tmp_path: Path) -> None:
    path, _, _ = saved
    copy = tmp_path / "copy.skops"
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0xFF
    copy.write_bytes(bytes(content))
    card_path(copy).write_text(card_path(path).read_text())
    with pytest.raises(InvalidInputError, match=r"SHA-256 .* but its card records"):
        load_model(copy)


def test_a_hash_from_elsewhere_is_checked_too(saved: Any) -> None:
    path, _, _ = saved
    with pytest.raises(InvalidInputError, match="expected_sha256 records 00"):
        load_model(path, expected_sha256="00" * 32)


def test_unknown_types_are_refused_even_with_a_matching_card(tmp_path: Path) -> None:
    # A pipeline that would hand its input to a shell; never fitted, so never run.
    hostile = make_pipeline(FunctionTransformer(os.system), LinearRegression())
    path = tmp_path / "hostile.skops"
    save_model(hostile, path, _card({}))  # the card's hash matches the file
    shell = f"{os.system.__module__}.system"
    with pytest.raises(InvalidInputError, match=rf"outside the allow-list: \['{shell}'\]"):
        load_model(path)


def test_a_pickle_is_never_unpickled(tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    path.write_bytes(pickle.dumps({"a": 1}))
    card = json.loads(_card({}).to_json())
    card["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    card_path(path).write_text(json.dumps(card))
    with pytest.raises(InvalidInputError, match="not a skops file"):
        load_model(path)


def test_survival_models_round_trip(tmp_path: Path) -> None:
    X, y = load_whas500()
    X = encode_categorical(X).astype(float)
    cox = CoxPHSurvivalAnalysis(alpha=0.1).fit(X, y)
    path = tmp_path / "cox.skops"
    save_model(cox, path, _card(feature_types(X)))
    loaded, _ = load_model(path)
    np.testing.assert_array_equal(loaded.predict(X), cox.predict(X))
    (curve,) = loaded.predict_survival_function(X.iloc[:1])
    np.testing.assert_array_equal(curve.y, cox.predict_survival_function(X.iloc[:1])[0].y)


def test_boosted_survival_model_round_trips(tmp_path: Path) -> None:
    data = load_dataset("veterans")
    model = SurvivalModel("gbs", n_estimators=20).fit(data.features, data.time, data.event)
    path = tmp_path / "gbs.skops"
    save_model(model, path, _card(feature_types(data.features)))
    loaded, _ = load_model(path)  # every type inside is on the allow-list
    assert type(loaded.estimator_).__name__ == "CoxGradientBoosting"
    times = [30.0, 180.0, 365.0]
    np.testing.assert_array_equal(
        loaded.predict_survival(data.features, times), model.predict_survival(data.features, times)
    )


def test_cards_and_paths_are_checked(saved: Any, tmp_path: Path) -> None:
    path, model, _ = saved
    with pytest.raises(InvalidParameterError, match=r"end in \.skops"):
        save_model(model, tmp_path / "model.pkl", _card({}))
    with pytest.raises(InvalidInputError, match="need both"):
        load_model(tmp_path / "absent.skops")
    orphan = tmp_path / "orphan.skops"
    orphan.write_bytes(path.read_bytes())
    with pytest.raises(InvalidInputError, match="need both"):
        load_model(orphan)
    card_path(orphan).write_text('{"name": "x"}')
    with pytest.raises(InvalidInputError, match="it needs"):
        load_model(orphan)
    card_path(orphan).write_text("{not json")
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        load_model(orphan)


def test_missing_skops_names_the_extra(
    saved: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, model, _ = saved
    monkeypatch.setitem(sys.modules, "skops.io", None)  # what an absent package looks like
    with pytest.raises(MissingDependencyError, match=r"pip install 'healthtwin\[ml\]'"):
        save_model(model, tmp_path / "m.skops", _card({}))
    with pytest.raises(ImportError, match="skops"):  # also the built-in a caller catches
        load_model(path)
