"""Erlang B/C, M/M/c waiting measures, square-root staffing and server targets."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from healthtwin.errors import InvalidParameterError
from healthtwin.hospital.queueing import (
    erlang_b,
    erlang_c,
    halfin_whitt_beta,
    min_servers,
    mmc_mean_queue_length,
    mmc_mean_wait,
    mmc_wait_tail,
    square_root_staffing,
)


def _exact_erlang_b(servers: int, load: Fraction) -> Fraction:
    terms = [load**k / math.factorial(k) for k in range(servers + 1)]
    return terms[-1] / sum(terms)


@pytest.mark.parametrize(("servers", "load"), [(1, 1), (5, 3), (10, 5), (40, 37), (90, 100)])
def test_erlang_b_equals_the_factorial_formula_in_exact_arithmetic(servers: int, load: int) -> None:
    exact = float(_exact_erlang_b(servers, Fraction(load)))
    assert erlang_b(servers, float(load)) == pytest.approx(exact, rel=1e-12)


def test_erlang_b_is_stable_where_factorials_overflow() -> None:
    value = erlang_b(5000, 4900.0)
    assert 0.0 < value < 0.05
    assert erlang_b(0, 3.0) == 1.0
    assert erlang_b(7, 0.0) == 0.0


def test_erlang_b_broadcasts_servers_against_loads() -> None:
    grid = erlang_b(np.array([[1], [2], [10]]), np.array([1.0, 5.0]))
    assert isinstance(grid, np.ndarray)
    assert grid.shape == (3, 2)
    assert grid[2, 1] == pytest.approx(erlang_b(10, 5.0))
    # More servers never block more.
    assert np.all(np.diff(grid, axis=0) < 0)


def test_erlang_c_exceeds_erlang_b_and_matches_its_identity() -> None:
    c, a = 12, 10.0
    b = erlang_b(c, a)
    assert erlang_c(c, a) == pytest.approx(c * b / (c - a * (1 - b)))
    assert erlang_c(c, a) > b


def test_single_server_reduces_to_mm1() -> None:
    rho = 0.7
    assert erlang_c(1, rho) == pytest.approx(rho)
    assert mmc_mean_wait(1, rho, 1.0) == pytest.approx(rho / (1 - rho))
    assert mmc_mean_queue_length(1, rho, 1.0) == pytest.approx(rho**2 / (1 - rho))
    assert mmc_wait_tail(2.0, 1, rho, 1.0) == pytest.approx(rho * math.exp(-(1 - rho) * 2.0))


def test_littles_law_links_queue_length_and_wait() -> None:
    lam = 9.0
    assert mmc_mean_queue_length(11, lam, 1.0) == pytest.approx(lam * mmc_mean_wait(11, lam, 1.0))


def test_wait_tail_integrates_to_the_mean_wait() -> None:
    t = np.linspace(0.0, 60.0, 200_001)
    tail = np.asarray(mmc_wait_tail(t, 10, 9.0, 1.0))
    area = float(np.sum((tail[1:] + tail[:-1]) / 2 * np.diff(t)))
    assert area == pytest.approx(mmc_mean_wait(10, 9.0, 1.0), rel=1e-6)
    assert mmc_wait_tail(0.0, 10, 9.0, 1.0) == pytest.approx(erlang_c(10, 9.0))


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: erlang_c(10, 10.0), "unstable"),
        (lambda: mmc_mean_wait(10, 12.0, 1.0), "unstable"),
        (lambda: mmc_mean_wait(10, -1.0, 1.0), "arrival_rate"),
        (lambda: mmc_mean_wait(10, 1.0, 0.0), "service_rate"),
        (lambda: erlang_b(-1, 1.0), "servers"),
        (lambda: erlang_b(2.5, 1.0), "servers"),
        (lambda: erlang_b(3, -2.0), "offered_load"),
        (lambda: mmc_wait_tail(-1.0, 3, 1.0, 1.0), "wait"),
        (lambda: halfin_whitt_beta(1.0), "p_wait"),
        (lambda: square_root_staffing(0.0), "offered_load"),
        (lambda: min_servers(9.0, 1.0), "target"),
        (lambda: min_servers(9.0, 1.0, max_p_wait=-0.1), "max_p_wait"),
        (lambda: min_servers(9.0, 1.0, max_p_wait_over=(1.0, 2.0)), "max_p_wait_over"),
    ],
)
def test_bad_inputs_name_the_argument(call: object, argument: str) -> None:
    with pytest.raises(InvalidParameterError, match=argument):
        call()  # type: ignore[operator]


def test_halfin_whitt_beta_inverts_its_defining_formula() -> None:
    from scipy import stats

    for target in (0.8, 0.5, 0.2, 0.05, 0.001):
        beta = halfin_whitt_beta(target)
        ratio = stats.norm.cdf(beta) / stats.norm.pdf(beta)
        assert 1.0 / (1.0 + beta * ratio) == pytest.approx(target, rel=1e-9)


@pytest.mark.parametrize("load", [25.0, 100.0, 400.0])
@pytest.mark.parametrize("target", [0.5, 0.2, 0.1])
def test_square_root_staffing_is_within_one_server_of_exact_erlang_c(
    load: float, target: float
) -> None:
    exact = min_servers(load, 1.0, max_p_wait=target)
    assert abs(square_root_staffing(load, p_wait=target) - exact) <= 1
    assert erlang_c(exact, load) <= target < erlang_c(exact - 1, load)


def test_min_servers_is_the_smallest_count_meeting_every_target() -> None:
    lam, mu = 9.0, 1.0
    c = min_servers(lam, mu, max_mean_wait=0.1)
    assert mmc_mean_wait(c, lam, mu) <= 0.1 < mmc_mean_wait(c - 1, lam, mu)
    c = min_servers(lam, mu, max_p_wait_over=(0.5, 0.05))
    assert mmc_wait_tail(0.5, c, lam, mu) <= 0.05 < mmc_wait_tail(0.5, c - 1, lam, mu)
    c = min_servers(lam, mu, max_blocking=0.02)
    assert erlang_b(c, 9.0) <= 0.02 < erlang_b(c - 1, 9.0)
    both = min_servers(lam, mu, max_blocking=0.5, max_p_wait=0.1)
    assert both == min_servers(lam, mu, max_p_wait=0.1)
