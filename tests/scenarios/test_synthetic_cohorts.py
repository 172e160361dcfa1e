"""Virtual cohorts from a spec file, and multiple imputation of a numeric table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from healthtwin.errors import InvalidInputError
from healthtwin.scenarios.synthetic_cohorts import (
    generate_virtual_cohort,
    impute_table,
    load_cohort,
    read_numeric_table,
)


def test_imputation_fills_only_the_empty_cells(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(50, 3)), columns=["a", "b", "c"])
    frame.iloc[::5, 2] = np.nan
    (tmp_path / "t.csv").write_text(frame.to_csv(index=False))
    read = read_numeric_table(tmp_path / "t.csv")
    out = tmp_path / "completed.csv"
    assert impute_table(read, out, m=3, seed=1) == 10
    completed = pd.read_csv(out)
    assert not completed.isna().any().any()
    kept = frame.notna()
    np.testing.assert_allclose(completed[kept].stack(), frame[kept].stack(), rtol=1e-9)
    flags = pd.read_csv(tmp_path / "completed_imputed.csv")
    assert flags["c"].sum() == 10
    assert flags[["a", "b"]].sum().sum() == 0
    assert (pd.read_csv(tmp_path / "completed_variance.csv")["c"][::5] > 0).all()
    with pytest.raises(InvalidInputError, match="no file"):
        read_numeric_table(tmp_path / "none.csv")


def test_a_cohort_matches_its_targets(tmp_path: Path) -> None:
    spec = tmp_path / "cohort.yaml"
    spec.write_text("name: demo\ntargets: {female_fraction: 0.4}\n")
    cohort = generate_virtual_cohort(load_cohort(spec), 60, seed=2, oversample=3)
    assert cohort.n == 60
    assert cohort.candidates == 180
    assert "female" in cohort.report_text().lower()


def test_a_text_column_is_refused(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("a,b\n1,x\n,y\n")
    with pytest.raises(InvalidInputError, match=r"columns \['b'\] are not numeric"):
        read_numeric_table(tmp_path / "t.csv")
