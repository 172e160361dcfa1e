"""Rt against R EpiEstim 2.2-4 (``estimate_R``) on its shipped data sets.

The references in ``tests/data/epiestim/`` were written by ``make_epiestim_reference.R``
there (see its README); floats are stored with 17 significant digits.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from healthtwin.population import RT_COLUMNS, estimate_rt, read_incidence

DATA = Path(__file__).resolve().parents[1] / "data" / "epiestim"
RTOL = 1e-8

CASES = {
    "flu2009": ("flu2009_incidence.csv", {"si_mean": 2.6, "si_sd": 1.5}, 7,
                "flu2009_rt_parametric.csv"),
    "mers_2014_15": ("mers_2014_15_incidence.csv", {"si_mean": 6.8, "si_sd": 4.1}, 7,
                     "mers_2014_15_rt_parametric.csv"),
    "sars2003": ("sars2003_incidence.csv", {"si_distr": "sars2003_si_distr.csv"}, 7,
                 "sars2003_rt_si_distr.csv"),
    "flu1918": ("flu1918_incidence.csv", {"si_distr": "flu1918_si_distr.csv"}, 14,
                "flu1918_rt_si_distr_window14.csv"),
}  # fmt: skip


def _read_table(path: Path) -> tuple[list[str], np.ndarray]:
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    values = [[np.nan if v == "NA" else float(v) for v in row] for row in rows[1:]]
    return rows[0], np.array(values)


def _si_distr(name: str) -> np.ndarray:
    return _read_table(DATA / name)[1][:, 0]


@pytest.mark.parametrize("case", sorted(CASES))
def test_rt_matches_epiestim(case: str, tmp_path: Path) -> None:
    incidence_file, si, window, reference_file = CASES[case]
    kwargs: dict[str, object] = dict(si)
    if "si_distr" in kwargs:
        kwargs["si_distr"] = _si_distr(str(kwargs["si_distr"]))
    estimate = estimate_rt(read_incidence(DATA / incidence_file), window=window, **kwargs)  # type: ignore[arg-type]
    out = tmp_path / "rt.csv"
    estimate.write_csv(out)
    header, ours = _read_table(out)
    ref_header, ref = _read_table(DATA / reference_file)
    assert tuple(header) == RT_COLUMNS == tuple(ref_header)
    assert ours.shape == ref.shape
    # The same windows are left without an estimate (t_end <= mean serial interval).
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    assert np.isfinite(ref).sum() > 0.8 * ref.size
    np.testing.assert_array_equal(ours[:, :2], ref[:, :2])
    np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=0, equal_nan=True)


def test_max_relative_difference_is_far_below_the_tolerance() -> None:
    """Record the worst case over all data sets: reading at 17 digits, it is ~1e-13."""
    worst = 0.0
    for incidence_file, si, window, reference_file in CASES.values():
        kwargs: dict[str, object] = dict(si)
        if "si_distr" in kwargs:
            kwargs["si_distr"] = _si_distr(str(kwargs["si_distr"]))
        estimate = estimate_rt(read_incidence(DATA / incidence_file), window=window, **kwargs)  # type: ignore[arg-type]
        ours = np.column_stack([estimate.columns()[c] for c in RT_COLUMNS]).astype(float)
        ref = _read_table(DATA / reference_file)[1]
        finite = np.isfinite(ref)
        worst = max(worst, float(np.max(np.abs(ours[finite] / ref[finite] - 1))))
    assert worst < 1e-11
