"""Fidelity, utility and privacy figures, and the JSON/HTML report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from healthtwin.errors import InvalidInputError
from healthtwin.synthetic import (
    GaussianCopula,
    column_distances,
    contingency_difference,
    correlation_difference,
    distance_to_closest_record,
    evaluate,
    membership_inference,
    train_synthetic_test_real,
    write_report,
)


def _table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.normal(65, 10, n)
    risk = 0.08 * (age - 65) + rng.normal(0, 1, n)
    return pd.DataFrame(
        {
            "age": age,
            "sbp": 120 + 0.6 * (age - 65) + rng.normal(0, 8, n),
            "sex": rng.choice(["F", "M"], n),
            "died": np.where(risk > 0.5, "yes", "no"),
        }
    )


def test_marginal_and_pair_distances_see_a_shift_and_a_broken_correlation() -> None:
    real = _table(500, 0)
    shifted = real.assign(age=real.age + 10)
    distances = {d.column: d.value for d in column_distances(real, shifted)}
    assert distances["age"] > 0.3
    assert distances["sbp"] == 0.0
    shuffled = real.assign(sbp=real.sbp.sample(frac=1.0, random_state=0).to_numpy())
    mean, difference, names = correlation_difference(real, shuffled)
    assert names == ("age", "sbp")
    assert difference[0, 1] < -0.4
    assert mean > 0.4
    assert contingency_difference(real, shuffled) > contingency_difference(real, real) + 0.02


def test_utility_of_real_data_matches_itself_and_noise_is_useless() -> None:
    rng = np.random.default_rng(1)
    train, test = _table(600, 1), _table(600, 2)
    same = train_synthetic_test_real(train, train, test, "died", rng=rng)
    assert same.metric == "auroc"
    assert same.tstr == pytest.approx(same.trtr)
    noise = train.assign(died=rng.permutation(train.died.to_numpy()))
    useless = train_synthetic_test_real(train, noise, test, "died", rng=rng)
    assert useless.trtr > 0.7
    assert useless.tstr < 0.62
    regression = train_synthetic_test_real(train, train, test, "sbp", rng=rng)
    assert regression.metric == "r2"
    assert regression.trtr > 0.2
    with pytest.raises(InvalidInputError, match="'bmi'"):
        train_synthetic_test_real(train, train, test, "bmi", rng=rng)


def test_copies_are_caught_by_dcr_and_membership_but_a_copula_is_not() -> None:
    rng = np.random.default_rng(2)
    train, holdout = _table(400, 3), _table(400, 4)
    copies = distance_to_closest_record(train, train, holdout)
    assert copies.ratio == 0.0
    assert copies.exact_copies == 1.0
    assert membership_inference(train, train, holdout, rng=rng).advantage == 1.0
    synthetic = GaussianCopula().fit(train, rng=rng).sample(400, rng)
    dcr = distance_to_closest_record(synthetic, train, holdout)
    assert dcr.ratio > 0.7
    assert dcr.exact_copies == 0.0
    assert 0.3 < dcr.share_closer_to_train < 0.7
    attack = membership_inference(synthetic, train, holdout, rng=rng)
    assert attack.advantage < 0.2
    assert attack.n_members == 400


def test_report_is_json_and_self_contained_html(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    train, holdout = _table(300, 5), _table(300, 6)
    synthetic = GaussianCopula().fit(train, rng=rng).sample(300, rng)
    report = evaluate(train, synthetic, rng=rng, holdout=holdout, target="died",
                      privacy={"mechanism": "none", "epsilon": None})  # fmt: skip
    assert 0.35 < report.discriminator_auc < 0.8
    assert report.utility is not None
    assert report.utility["metric"] == "auroc"
    write_report(report, tmp_path / "report.html")
    write_report(report, tmp_path / "report.json")
    page = (tmp_path / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3
    assert "<script" not in page
    assert "http" not in page.replace("http-equiv", "")
    record = json.loads((tmp_path / "report.json").read_text())
    assert record["dcr"]["ratio"] == pytest.approx(report.dcr["ratio"])  # type: ignore[index]
    assert record["privacy"] == {"mechanism": "none", "epsilon": None}
    assert [c["column"] for c in record["columns"]] == ["age", "sbp", "sex", "died"]


def test_without_a_holdout_utility_and_privacy_are_not_computed() -> None:
    real = _table(200, 7)
    report = evaluate(real, real, rng=np.random.default_rng(4), plots=False)
    assert report.utility is None
    assert report.dcr is None
    assert report.membership is None
    assert "not computed" in report.to_html()
    assert report.to_dict()["correlation_difference"] == 0.0
