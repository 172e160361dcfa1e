"""CUSUM on standardised counts, R-compatible and restarting."""

from __future__ import annotations

import numpy as np
import pytest

from healthtwin.surveillance import detect_matrix
from healthtwin.surveillance.controls import CusumControl
from healthtwin.surveillance.cusum import cusum


def _expected_path(x: np.ndarray, k: float, h: float, restart: bool) -> list[float]:
    s, path = 0.0, []
    for value in x:
        s = max(0.0, s + value - k)
        path.append(s)
        if restart and s > h:
            s = 0.0
    return path


@pytest.mark.parametrize("r_compat", [True, False])
def test_cusum_accumulates_and_restarts_only_without_r_compat(r_compat: bool) -> None:
    y = np.array([4.0, 4, 10, 10, 10, 4, 4, 12])
    control = {"m": 4.0, "r_compat": r_compat}
    d = detect_matrix(y, method="cusum", monitored=np.arange(1, 9), control=control)
    path = _expected_path((y - 4) / 2, 1.04, 2.26, restart=not r_compat)
    np.testing.assert_allclose(d.score[0], path)
    assert d.alarm[0].tolist() == [s > 2.26 for s in path]
    # R keeps signalling after the first alarm (no reset); the restarting CUSUM does not.
    assert d.alarm[0].sum() == (5 if r_compat else 2)


def test_alarm_when_the_cusum_reaches_h_in_r_mode() -> None:
    y = np.array([[10.0]])  # x = (10 - 4) / 2 = 3 = h + k exactly
    control = {"m": 4.0, "k": 1.0, "h": 2.0}
    assert detect_matrix(y, method="cusum", monitored=[1], control=control).alarm[0, 0]
    strict = detect_matrix(y, method="cusum", monitored=[1], control={**control, "r_compat": False})
    assert not strict.alarm[0, 0]


def test_upperbound_is_the_count_that_reaches_h() -> None:
    y = np.full(5, 9.0)
    d = detect_matrix(y, method="cusum", monitored=[5], control={"m": 9.0, "r_compat": False})
    assert np.isclose(d.upperbound[0, 0], 9 + 3 * (2.26 + 1.04))
    # R rounds the standard bound up to a whole count.
    assert (
        detect_matrix(y, method="cusum", monitored=[5], control={"m": 9.0}).upperbound[0, 0] == 19
    )
    for trans in ("rossi", "anscombe"):
        control = CusumControl(m=9.0, trans=trans)
        bound = cusum(y[None], np.array([5]), control=control).upperbound[0, 0]
        y_at_bound = np.append(y[:4], bound)[None]
        score = cusum(y_at_bound, np.array([5]), control=control).score[0, 0]
        assert score == pytest.approx(2.26, abs=1e-9)


def test_in_control_mean_is_the_mean_before_the_first_week_in_r_mode() -> None:
    y = np.array([2.0, 4.0, 6.0, 100.0, 3.0])
    d = detect_matrix(y, method="cusum", monitored=[4, 5])
    assert d.expected[0].tolist() == [4.0, 4.0]
    assert detect_matrix(y, method="cusum", monitored=[1, 2]).reason[0, 0] == "not enough history"


def test_baseline_mean_needs_history_without_r_compat() -> None:
    control = {"baseline": 5, "r_compat": False}
    d = detect_matrix(np.full(10, 3.0), method="cusum", monitored=[3], control=control)
    assert d.reason[0, 0] == "not enough history"
