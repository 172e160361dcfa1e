"""Erlang B and C against published values and the exact M/M/c reference in REFERENCES.md.

Sources of the reference values (all re-derived here in exact rational arithmetic too):

- REFERENCES.md (Issue 8): M/M/10 with arrivals 9/h and service 1/h has Erlang C
  P(wait) = 0.66873 and mean wait 0.66873 h (``c mu - lambda = 1``).
- erlanglib's test suite (GitHub TechyGuy2000/erlanglib, ``test_erlang_b``/``test_erlang_c``):
  B(10, 5) = 0.018384570336648136, B(10, 20) = 0.5379631686320729, C(11, 10) = 0.6821,
  C(14, 10) = 0.1741, and 18 channels for 10 Erlangs at 1 % blocking.
- Another public Erlang test suite (a Python ``ErlangB`` tester found by code search):
  B(c=190, a=200) = 0.08869684386923561 and B(1, 5) = 5/6.
- Wolfram Language documentation, ``ErlangB``: 30 lines at 25 Erlangs block about 5 %.
- Halfin & Whitt (Oper. Res. 29, 1981): the limit formula gives beta = 0.506 for a 50 %
  chance of waiting (the rule of thumb "beta about 0.5" quoted in staffing texts).
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from healthtwin.hospital.queueing import (
    erlang_b,
    erlang_c,
    halfin_whitt_beta,
    min_servers,
    mmc_mean_wait,
)


def _exact_b(servers: int, load: Fraction) -> Fraction:
    terms = [load**k / math.factorial(k) for k in range(servers + 1)]
    return terms[-1] / sum(terms)


def _exact_c(servers: int, load: Fraction) -> Fraction:
    b = _exact_b(servers, load)
    return servers * b / (servers - load * (1 - b))


def test_mm10_reference_from_references_md() -> None:
    assert erlang_c(10, 9.0) == pytest.approx(0.66873, abs=5e-6)
    assert mmc_mean_wait(10, 9.0, 1.0) == pytest.approx(0.66873, abs=5e-6)
    assert erlang_c(10, 9.0) == pytest.approx(float(_exact_c(10, Fraction(9))), rel=1e-12)


@pytest.mark.parametrize(
    ("servers", "load", "published", "tolerance"),
    [
        (10, 5.0, 0.018384570336648136, 1e-13),
        (10, 20.0, 0.5379631686320729, 1e-13),
        (190, 200.0, 0.08869684386923561, 1e-12),
        (1, 5.0, 5 / 6, 1e-15),
        (30, 25.0, 0.05, 5e-3),
    ],
)
def test_erlang_b_published_values(
    servers: int, load: float, published: float, tolerance: float
) -> None:
    assert erlang_b(servers, load) == pytest.approx(published, abs=tolerance)
    assert erlang_b(servers, load) == pytest.approx(
        float(_exact_b(servers, Fraction(load))), rel=1e-12
    )


@pytest.mark.parametrize(("servers", "load", "published"), [(11, 10.0, 0.6821), (14, 10.0, 0.1741)])
def test_erlang_c_published_values(servers: int, load: float, published: float) -> None:
    assert erlang_c(servers, load) == pytest.approx(published, abs=5e-5)


def test_published_channel_count_for_one_percent_blocking() -> None:
    assert min_servers(10.0, 1.0, max_blocking=0.01) == 18


def test_halfin_whitt_beta_near_the_textbook_value() -> None:
    assert halfin_whitt_beta(0.5) == pytest.approx(0.5, abs=0.01)
