"""Held-out checks of a virtual cohort (statistics matching never forced) and its twins file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from healthtwin.errors import InvalidInputError
from healthtwin.synthetic.cohort import generate_cohort, held_out_checks, read_cohort
from healthtwin.synthetic.cohort_spec import CohortSpec
from healthtwin.synthetic.demographics import sample_demographics

N_REF = 1500


def _spec(reference: dict[str, np.ndarray]) -> CohortSpec:
    """Targets read from the reference, as a paper's table 1 would give them."""
    return CohortSpec.model_validate({
        "name": "held-out",
        "inclusion": {"age_years": [18, 80], "diabetes": False},
        "targets": {
            "age_years": {"mean": float(reference["age_years"].mean()),
                          "sd": float(reference["age_years"].std())},
            "bmi_kg_m2": {"mean": float(reference["bmi_kg_m2"].mean()),
                          "sd": float(reference["bmi_kg_m2"].std())},
            "prevalence": {"hypertension": float(reference["hypertension"].mean())},
        },
    })  # fmt: skip


@pytest.fixture(scope="module")
def source() -> dict[str, np.ndarray]:
    """A population drawn by the same model as the cohort's candidates."""
    demo = sample_demographics(
        N_REF, np.random.default_rng(9), diabetes_prevalence=0.0, age_bins_years=(18, 80),
        age_weights=(1,),
    )  # fmt: skip
    return {"age_years": demo.age_years, "bmi_kg_m2": demo.bmi_kg_m2,
            "hypertension": demo.hypertension.astype(float)}  # fmt: skip


def test_a_well_specified_cohort_passes_matched_and_held_out_checks(
    source: dict[str, np.ndarray],
) -> None:
    cohort = generate_cohort(_spec(source), 300, seed=0, reference=source)
    assert all(c.passed for c in cohort.report)
    names = [h.check for h in cohort.held_out]
    assert "corr(age_years, bmi_kg_m2)" in names
    assert sum(n.startswith("hypertension fraction, age") for n in names) == 3
    assert sum(n.startswith("age_years (vs reference) q") for n in names) == 3
    failed = [h for h in cohort.held_out if not h.passed]
    assert not failed, failed
    for h in cohort.held_out:
        assert h.lower <= h.expected <= h.upper
    assert "not matched" in cohort.report_text()


def test_a_mis_specified_prior_matches_every_target_and_fails_held_out(
    source: dict[str, np.ndarray],
) -> None:
    # The source has BMI rising with age and hypertension unrelated to age; the generator's
    # prior has BMI independent of age and hypertension logistic in age. The marginal
    # moments are the same, so matching succeeds; only the held-out checks can tell.
    rng = np.random.default_rng(3)
    age = source["age_years"]
    other = {
        "age_years": age,
        "bmi_kg_m2": 14.0 + 0.25 * age + rng.normal(0.0, 3.0, N_REF),
        "hypertension": (rng.random(N_REF) < source["hypertension"].mean()).astype(float),
    }
    cohort = generate_cohort(_spec(other), 300, seed=0, reference=other)
    assert all(c.passed for c in cohort.report)  # the circular validation passes
    failed = {h.check for h in cohort.held_out if not h.passed}
    assert "corr(age_years, bmi_kg_m2)" in failed
    assert any(f.startswith("hypertension fraction, age") for f in failed)
    assert "NO" in cohort.report_text().split("not matched")[1]


def test_without_a_reference_centiles_follow_the_normal_of_the_targets() -> None:
    spec = CohortSpec.model_validate(
        {"name": "x", "targets": {"age_years": {"mean": 50.0, "sd": 10.0}}}
    )
    bimodal = np.concatenate([np.full(200, 40.0), np.full(200, 60.0)])  # mean 50, sd 10
    checks = {c.check: c for c in held_out_checks(spec, {"age_years": bimodal})}
    assert set(checks) == {"age_years q10", "age_years q50", "age_years q90"}
    assert not checks["age_years q10"].passed  # 40 against the normal's 37.2
    assert checks["age_years q10"].expected == pytest.approx(50 - 1.2816 * 10, abs=0.01)


def test_twins_round_trip_through_the_cohort_files(tmp_path: Path) -> None:
    spec = CohortSpec.model_validate({"name": "t1d", "inclusion": {"diabetes": True}})
    cohort = generate_cohort(spec, 6, seed=2, oversample=2)
    path = cohort.write(tmp_path / "cohort.csv")
    assert (tmp_path / "cohort_twins.npz").is_file()
    back = read_cohort(path)
    assert len(back.table) == cohort.n
    for mine, read in zip(cohort.twins, back.twins, strict=True):
        assert mine is not None
        assert read is not None
        assert read.name == mine.name
        assert np.array_equal(read.params.to_matrix(), mine.params.to_matrix())
        assert np.array_equal(read.x0, mine.x0)
        assert read.carb_ratio_g_per_u == mine.carb_ratio_g_per_u
    (tmp_path / "cohort_twins.npz").unlink()
    with pytest.raises(InvalidInputError, match="twins"):
        read_cohort(path)
