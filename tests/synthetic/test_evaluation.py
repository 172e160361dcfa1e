"""Fidelity, utility and privacy figures, and the JSON/HTML report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from healthtwin.errors import InvalidInputError
from healthtwin.synthetic import (
    GaussianCopula,
    column_distances,
    contingency_difference,
    correlation_difference,
    discriminator_auc,
    distance_to_closest_record,
    evaluate,
    membership_inference,
    train_synthetic_test_real,
    write_report,
)
from healthtwin.synthetic.evaluation import MISSING_REASONS


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
    assert report.discriminator_real == "holdout"  # the echo-free comparison
    assert 0.0 < report.discriminator_auc_training < 0.8
    assert report.missing == {}
    assert report.utility is not None
    assert report.utility["metric"] == "auroc"
    write_report(report, tmp_path / "report.html")
    write_report(report, tmp_path / "report.json")
    page = (tmp_path / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3
    assert "<script" not in page
    assert "http" not in page.replace("http-equiv", "")
    record = json.loads((tmp_path / "report.json").read_text())
    assert report.dcr is not None
    assert record["dcr"]["ratio"] == pytest.approx(report.dcr["ratio"])
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


def _mixed(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Numeric, integer (with ties) and categorical columns, one fixed distribution."""
    age = rng.normal(60, 12, n)
    return pd.DataFrame(
        {
            "age": age,
            "visits": rng.poisson(3, n),
            "stage": rng.choice(["I", "II", "III"], n, p=[0.5, 0.3, 0.2]),
        }
    )


def test_discriminator_is_at_chance_on_two_samples_of_one_distribution() -> None:
    # The 99 % interval of the mean AUC over replications (t with R-1 df) must hold 0.5:
    # the cross-validated discriminator itself is not biased.
    aucs = []
    for rep in range(8):
        rng = np.random.default_rng(100 + rep)
        a, b = _mixed(100, rng), _mixed(100, rng)
        aucs.append(discriminator_auc(a, b, rng=rng, n_estimators=30))
    mean, half = np.mean(aucs), stats.t.ppf(0.995, len(aucs) - 1) * np.std(aucs, ddof=1)
    assert abs(mean - 0.5) <= half / np.sqrt(len(aucs))
    assert 0.0 < np.std(aucs, ddof=1) < 0.1


def test_synthetic_rows_that_echo_the_training_rows_score_below_chance() -> None:
    # The benchmark's 0.37-0.38: compared with the rows it was fitted on, a generator's
    # echo of each row sits in the other folds labelled synthetic. Against a holdout
    # the same copies are indistinguishable from real data.
    rng = np.random.default_rng(7)
    train, holdout = _mixed(150, rng), _mixed(150, rng)
    copies = train.sample(frac=1.0, random_state=3).reset_index(drop=True)
    assert discriminator_auc(train, copies, rng=rng, n_estimators=30) < 0.2
    assert 0.35 < discriminator_auc(holdout, copies, rng=rng, n_estimators=30) < 0.65


def test_a_two_valued_numeric_target_is_a_classification_task() -> None:
    rng = np.random.default_rng(8)
    train, test = _table(400, 8), _table(400, 9)
    as_int = [t.assign(died=(t.died == "yes").astype(int)) for t in (train, test)]
    as_bool = [t.assign(died=t.died == "yes") for t in (train, test)]
    for real, real_test in (as_int, as_bool):
        result = train_synthetic_test_real(real, real, real_test, "died", rng=rng)
        assert result.metric == "auroc"
        assert 0.7 < result.trtr <= 1.0
    # A copula may draw the 0/1 column as numbers in between: cut at the midpoint.
    blurred = as_int[0].assign(died=as_int[0].died * 0.8 + 0.1)
    result = train_synthetic_test_real(as_int[0], blurred, as_int[1], "died", rng=rng)
    assert result.metric == "auroc"
    assert result.tstr == pytest.approx(result.trtr)
    three = train_synthetic_test_real(train, train, test, "sbp", rng=rng)
    assert three.metric == "r2"


def test_without_a_holdout_the_report_says_what_is_missing_and_why(tmp_path: Path) -> None:
    real = _table(150, 10)
    report = evaluate(real, real, rng=np.random.default_rng(5), plots=False)
    assert set(report.missing) == set(MISSING_REASONS)
    assert report.discriminator_real == "training"
    write_report(report, tmp_path / "report.json")
    write_report(report, tmp_path / "report.html")
    record = json.loads((tmp_path / "report.json").read_text())
    assert set(record["missing"]) == {"utility", "dcr", "membership",
                                      "discriminator against unseen rows"}  # fmt: skip
    page = (tmp_path / "report.html").read_text()
    assert "Incomplete report: no holdout" in page
    assert "never saw" in page
