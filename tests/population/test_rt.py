"""Rt by Cori et al. (2013): the posterior against its closed form, and bad input."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.population import (
    RT_COLUMNS,
    Incidence,
    discretize_serial_interval,
    estimate_rt,
    overall_infectivity,
    read_incidence,
)


def test_discretized_serial_interval_is_a_distribution_with_the_given_mean() -> None:
    w = discretize_serial_interval(60, 4.0, 2.0)
    assert w.shape == (61,)
    assert w[0] == 0.0
    assert (w >= 0).all()
    assert w.sum() == pytest.approx(1.0, abs=1e-10)
    # EpiEstim's triangular-kernel discretization preserves the mean exactly.
    assert (np.arange(61) * w).sum() == pytest.approx(4.0, abs=1e-8)


def test_posterior_matches_the_closed_form_by_hand() -> None:
    inc = Incidence.from_counts([3, 1, 4, 1, 5, 9], imported=[2, 0, 0, 1, 0, 0])
    w = [0.0, 0.6, 0.4]
    total = np.array([5, 1, 4, 2, 5, 9], dtype=float)
    lam = [0.0, 0.6 * 5, 0.6 * 1 + 0.4 * 5, 0.6 * 4 + 0.4 * 1, 0.6 * 2 + 0.4 * 4, 0.6 * 5 + 0.4 * 2]
    assert overall_infectivity(inc, w) == pytest.approx(lam, rel=1e-15)
    assert total.sum() == 26
    rt = estimate_rt(inc, si_distr=w, window=3)
    assert rt.t_start.tolist() == [2, 3, 4]
    assert rt.t_end.tolist() == [4, 5, 6]
    for k, (s, e) in enumerate(zip(rt.t_start, rt.t_end, strict=True)):
        shape = 1.0 + sum([1, 4, 1, 5, 9][s - 2 : e - 1])  # local cases only
        scale = 1.0 / (1.0 / 5.0 + sum(lam[s - 1 : e]))
        assert rt.mean_r[k] == pytest.approx(shape * scale, rel=1e-14)
        assert rt.std_r[k] == pytest.approx(np.sqrt(shape) * scale, rel=1e-14)
        q = stats.gamma.ppf([0.025, 0.5, 0.975], shape, scale=scale)
        assert rt.quantiles([0.025, 0.5, 0.975])[k] == pytest.approx(q, rel=1e-12)


def test_imported_cases_raise_infectivity_and_lower_r() -> None:
    local = [0, 2, 3, 5, 6, 8, 10, 12, 15, 18]
    alone = estimate_rt(Incidence.from_counts(local), si_mean=2.6, si_sd=1.5)
    seeded = estimate_rt(
        Incidence.from_counts(local, imported=[4, 4, 0, 0, 0, 0, 0, 0, 0, 0]),
        si_mean=2.6,
        si_sd=1.5,
    )
    assert (seeded.shape == alone.shape).all()
    assert (seeded.mean_r < alone.mean_r).all()


def test_csv_round_trip_has_exactly_epiestims_columns(tmp_path: Path) -> None:
    src = tmp_path / "inc.csv"
    days = [dt.date(2020, 3, 1) + dt.timedelta(days=d) for d in range(12)]
    counts = [1, 2, 2, 4, 5, 7, 9, 12, 15, 19, 22, 30]
    src.write_text("dates,I\n" + "".join(f"{d},{c}\n" for d, c in zip(days, counts, strict=True)))
    inc = read_incidence(src)
    assert inc.dates == tuple(days)
    out = tmp_path / "rt.csv"
    rt = estimate_rt(inc, si_mean=2.6, si_sd=1.5)
    rt.write_csv(out)
    lines = out.read_text().splitlines()
    assert tuple(lines[0].split(",")) == RT_COLUMNS
    assert len(lines) == 1 + 12 - 7
    assert float(lines[1].split(",")[2]) == rt.mean_r[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("I\n1\n\n", None),  # a trailing blank line is not a row
        ("I\n1\n-2\n3\n", "row 3, column 'I'"),
        ("I\n1\n2.5\n3\n", "row 3, column 'I'"),
        ("I\n1\nnan\n3\n", "row 3, column 'I'"),
        ("local,imported\n1,0\n2,\n", "row 3, column 'imported'"),
        ("cases\n1\n2\n", "no incidence column"),
        ("dates,I\n2020-01-01,1\n2020-01-03,2\n", "row 3"),
        ("dates,I\n2020-01-01,1\n2020-13-02,2\n", "column 'dates'"),
    ],
)
def test_bad_incidence_files_name_the_row_and_column(
    tmp_path: Path, text: str, message: str | None
) -> None:
    path = tmp_path / "inc.csv"
    path.write_text(text)
    if message is None:
        assert read_incidence(path).local.tolist() == [1]
        return
    with pytest.raises(InvalidInputError, match=message):
        read_incidence(path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"si_mean": 2.6, "si_sd": 0.0}, "si_sd must be"),
        ({"si_mean": 0.9, "si_sd": 1.0}, "si_mean must be"),
        ({}, "no serial interval"),
        ({"si_mean": 2.6, "si_sd": 1.5, "si_distr": [0, 1]}, "not both"),
        ({"si_distr": [0.1, 0.9]}, "must be 0"),
        ({"si_distr": [0, 0.5]}, "sums to"),
        ({"si_distr": [0, 1.5, -0.5]}, "negative"),
        ({"si_mean": 2.6, "si_sd": 1.5, "window": 10}, "window of 10 days"),
        ({"si_mean": 2.6, "si_sd": 1.5, "prior_sd": 0}, "prior"),
    ],
)
def test_bad_parameters_are_rejected(kwargs: dict[str, object], message: str) -> None:
    inc = Incidence.from_counts(np.arange(10))
    with pytest.raises(InvalidParameterError, match=message):
        estimate_rt(inc, **kwargs)  # type: ignore[arg-type]


def test_bad_counts_in_memory_are_rejected() -> None:
    with pytest.raises(InvalidInputError, match="day 2"):
        Incidence.from_counts([1, np.nan, 3])
    with pytest.raises(InvalidInputError, match="differ in length"):
        Incidence.from_counts([1, 2, 3], imported=[0, 0])
