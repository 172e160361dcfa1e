"""``synth impute --copies`` then ``synth pooled-predict``: imputation uncertainty carried on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.conftest import require

from healthtwin.cli import main


@pytest.fixture(scope="module")
def incomplete(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    n = 200
    age = rng.normal(60, 10, n)
    sex = rng.integers(1, 3, n)
    smoker = (rng.random(n) < 1 / (1 + np.exp(-(age - 60) / 5))).astype(int)
    frame = pd.DataFrame({"age": age, "sex": sex.astype(float), "smoker": smoker.astype(float),
                          "sbp": 100 + 0.6 * age + 8 * smoker + rng.normal(0, 6, n)})  # fmt: skip
    for column in ("sex", "smoker", "sbp"):
        frame.loc[rng.random(n) < 0.2, column] = np.nan
    path = tmp_path_factory.mktemp("impute") / "incomplete.csv"
    frame.to_csv(path, index=False)
    return path


def test_binary_columns_stay_binary_and_copies_are_written(
    incomplete: Path, tmp_path: Path
) -> None:
    out, copies = tmp_path / "completed.csv", tmp_path / "copies"
    assert main(["synth", "impute", "--data", str(incomplete), "--m", "4", "--seed", "1",
                 "--copies", str(copies), "--out", str(out)]) == 0  # fmt: skip
    done = pd.read_csv(out)
    assert set(done["sex"]) <= {1.0, 2.0}  # never 1.4
    assert set(done["smoker"]) <= {0.0, 1.0}
    kinds = pd.read_csv(tmp_path / "completed_columns.csv").set_index("column")
    assert kinds.loc["sex", "summary"] == "mode"
    assert kinds.loc["sbp", "summary"] == "mean"
    names = sorted(p.name for p in copies.glob("*.csv"))
    assert names == ["copy_1.csv", "copy_2.csv", "copy_3.csv", "copy_4.csv", "imputed.csv"]
    first = pd.read_csv(copies / "copy_1.csv")
    assert set(first["smoker"]) <= {0.0, 1.0}
    original = pd.read_csv(incomplete)
    observed = original.notna()
    assert first[observed].equals(original[observed])
    flags = pd.read_csv(copies / "imputed.csv")
    assert flags.to_numpy().sum() == original.isna().to_numpy().sum()


def test_pooled_predictions_are_wider_where_inputs_were_imputed(
    incomplete: Path, tmp_path: Path
) -> None:
    require("skops", "ml")
    from sklearn.linear_model import LinearRegression

    from healthtwin.prognosis.persistence import ModelCard, save_model

    copies = tmp_path / "copies"
    assert main(["synth", "impute", "--data", str(incomplete), "--m", "5", "--seed", "2",
                 "--copies", str(copies), "--out", str(tmp_path / "c.csv")]) == 0  # fmt: skip
    complete = pd.read_csv(incomplete).dropna()
    features = complete[["age", "smoker"]]
    fitted = LinearRegression().fit(features, complete["sbp"])
    card = ModelCard(name="sbp", dataset="test table", dataset_source="this test",
                     dataset_licence="CC0", features={"age": "float64", "smoker": "float64"},
                     metrics={}, intended_use="test", limitations="test")  # fmt: skip
    model = tmp_path / "model"
    model.mkdir()
    save_model(fitted, model / "model.skops", card)
    out = tmp_path / "pooled.csv"
    assert main(["synth", "pooled-predict", "--data", str(copies), "--model", str(model),
                 "--out", str(out)]) == 0  # fmt: skip
    pooled = pd.read_csv(out)
    width = pooled["upper"] - pooled["lower"]
    smoker_imputed = pd.read_csv(incomplete)["smoker"].isna().to_numpy()
    # One imputation through this model (no variance of its own) gives a zero-width
    # interval; pooling over copies gives the gaps' spread where the copies disagree.
    assert (width[smoker_imputed] > 0).mean() > 0.3
    assert np.allclose(width[~smoker_imputed], 0.0, atol=1e-9)
    assert np.all(pooled.loc[smoker_imputed, "imputed_inputs"] == 1)
    assert (pooled["between_variance"][smoker_imputed] > 0).any()


def test_pooled_predict_needs_copies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth", "pooled-predict", "--data", str(tmp_path), "--model", str(tmp_path),
                 "--out", str(tmp_path / "p.csv")]) == 2  # fmt: skip
    assert "--copies" in capsys.readouterr().err
