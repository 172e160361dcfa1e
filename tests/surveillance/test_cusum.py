"""CUSUM on standardised counts."""

from __future__ import annotations

import numpy as np

from healthtwin.surveillance import detect_matrix


def test_cusum_accumulates_and_restarts_after_alarm() -> None:
    y = np.array([4.0, 4, 6, 6, 6, 4, 12])
    d = detect_matrix(y, method="cusum", monitored=np.arange(1, 8), control={"m": 4.0})
    x = (y - 4) / 2
    s, expected = 0.0, []
    for value in x:
        s = max(0.0, s + value - 1.04)
        expected.append(s)
        if s > 2.26:
            s = 0.0
    np.testing.assert_allclose(d.score[0], expected)
    assert d.alarm[0].tolist() == [e > 2.26 for e in expected]


def test_upperbound_is_the_count_that_reaches_h() -> None:
    d = detect_matrix(np.full(5, 9.0), method="cusum", monitored=[5], control={"m": 9.0})
    assert np.isclose(d.upperbound[0, 0], 9 + 3 * (2.26 + 1.04))


def test_baseline_mean_needs_history() -> None:
    d = detect_matrix(np.full(10, 3.0), method="cusum", monitored=[3], control={"baseline": 5})
    assert d.reason[0, 0] == "not enough history"
