"""The Reynolds et al. (2006) inflammation model against scipy's LSODA on the same equations.

The reference integrates :func:`inflammation_rhs` with ``solve_ivp`` (LSODA, rtol 1e-10,
atol 1e-12) member by member, restarting at every input change and applying inoculations
and anti-inflammatory boluses as the documented jumps in ``P`` and ``CA``. Two plans over
two weeks (336 h), compared every 6 h: the paper's three outcome runs (health, aseptic
death, septic death), and a therapy plan with per-member infusions, boluses and a second
inoculation. Tolerances, on the absolute error of every state (the states are O(0.1-20)):

- RK4 at its default 0.1 h: the global error is O(h^4); the fastest mode (pathogen
  clearance, spectral radius <= 1.46/h on these runs) gives h |lambda| <= 0.15. Within
  1e-4 (measured 6.8e-6, tissue damage of the health run at 90 h, whose load sits 3.5 %
  below the threshold to aseptic death);
- RK4 at 0.5 h: within 1e-2 (measured 2.9e-3, 420 times the 0.1 h error, near the
  5^4 = 625 of a fourth-order method);
- dopri5 at rtol 1e-8, atol 1e-10: within 1e-6 (measured 5.6e-8, pathogen load).

RK4 asked for steps beyond the stability limit (5 h) is checked for finiteness and outcome
in ``tests/physiology/test_inflammation.py``; it is not an accuracy setting.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from healthtwin.core.inputs import Events, Inputs, Rate
from healthtwin.core.segments import segment_bounds
from healthtwin.core.types import FloatArray
from healthtwin.physiology.inflammation import (
    PAPER_SCENARIOS,
    Inflammation,
    InflammationParameters,
    InflammationState,
    classify_outcome,
    inflammation_rhs,
    rest_state,
    reynolds_nominal_parameters,
)

HORIZON_H = 336.0
GRID_H = 6.0
RATE = "anti_inflammatory_ca_units_per_h"
INOCULUM = "pathogen_inoculum"
BOLUS = "anti_inflammatory_bolus_ca_units"


def paper_runs() -> tuple[InflammationParameters, Inputs]:
    runs = list(PAPER_SCENARIOS.values())
    params = reynolds_nominal_parameters(k_pg=np.array([r.k_pg for r in runs]))
    loads = np.array([[r.pathogen_0] for r in runs])
    return params, Inputs(events={INOCULUM: Events([0.0], loads)})


def therapy_runs() -> tuple[InflammationParameters, Inputs]:
    params = reynolds_nominal_parameters(k_pg=np.array([0.3, 0.3, 0.45, 0.6]))
    infusion = np.array([[0.0, 0.0], [0.02, 0.0], [0.05, 0.01], [0.01, 0.0]])
    inputs = Inputs(
        rates={RATE: Rate(np.array([4.0, 28.5]), infusion)},
        events={
            INOCULUM: Events(
                [0.0, 50.0], np.array([[1.0, 0.0], [1.5, 0.2], [0.8, 0.0], [1.0, 1.0]])
            ),
            BOLUS: Events([10.25], np.array([[0.0], [0.2], [0.5], [0.1]])),
        },
    )
    return params, inputs


PLANS = {"paper": paper_runs, "therapy": therapy_runs}


def reference(params: InflammationParameters, inputs: Inputs, grid: FloatArray) -> FloatArray:
    """LSODA trajectories on ``grid`` (after its first time), shape ``(n, len(grid) - 1, 4)``."""
    theta = params.to_matrix()
    n = theta.shape[0]
    bounds = segment_bounds(float(grid[0]), float(grid[-1]), inputs)
    out = np.empty((n, grid.size - 1, 4))
    for i in range(n):
        th = theta[[i]]
        y = rest_state(params.member(i))[0]
        for a, b in pairwise(bounds):
            y = y.copy()
            y[0] += inputs.event_totals(INOCULUM, np.array([a]), np.array([b]), n)[i, 0]
            y[3] += inputs.event_totals(BOLUS, np.array([a]), np.array([b]), n)[i, 0]
            u = inputs.rate(RATE, np.array([a]), n)[[i]]

            def f(_t: float, yy: FloatArray, u: FloatArray = u, th: FloatArray = th) -> FloatArray:
                return inflammation_rhs(yy[None, :], u, th)[0]

            inside = (grid > a) & (grid <= b)
            times = np.unique(np.append(grid[inside], b))
            sol = solve_ivp(f, (a, b), y, method="LSODA", rtol=1e-10, atol=1e-12, t_eval=times)
            assert sol.success, sol.message
            out[i, inside[1:]] = sol.y.T[np.isin(times, grid[inside])]
            y = sol.y[:, -1]
    return out


def simulate(model: Inflammation, inputs: Inputs, grid: FloatArray) -> FloatArray:
    """The model's states on ``grid`` (after its first time), shape ``(n, len(grid) - 1, 4)``."""
    rng = np.random.default_rng(0)
    state = model.initial_state(model.params.n_members, rng)
    rows = []
    for a, b in pairwise(grid):
        state = model.advance(state, float(a), float(b), inputs, rng)
        rows.append(np.array(state.x))
    return np.stack(rows, axis=1)


GRID = np.arange(0.0, HORIZON_H + GRID_H / 2, GRID_H)


@pytest.fixture(scope="module", params=list(PLANS))
def case(request: pytest.FixtureRequest) -> tuple[InflammationParameters, Inputs, FloatArray]:
    params, inputs = PLANS[request.param]()
    return params, inputs, reference(params, inputs, GRID)


@pytest.mark.parametrize(
    ("options", "tolerance"),
    [
        ({"method": "rk4"}, 1e-4),
        ({"method": "rk4", "step_h": 0.5}, 1e-2),
        ({"method": "dopri5", "rtol": 1e-8, "atol": 1e-10}, 1e-6),
    ],
    ids=["rk4-default", "rk4-0.5h", "dopri5"],
)
def test_matches_lsoda(
    case: tuple[InflammationParameters, Inputs, FloatArray],
    options: dict[str, float | str],
    tolerance: float,
) -> None:
    params, inputs, expected = case
    model = Inflammation(params, **options)  # type: ignore[arg-type]
    got = simulate(model, inputs, GRID)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, expected, rtol=0.0, atol=tolerance)


def test_the_papers_outcomes_hold_in_the_reference() -> None:
    params, inputs = paper_runs()
    end = reference(params, inputs, GRID)[:, -1]
    outcomes = classify_outcome(InflammationState(end, params.to_matrix()))
    assert outcomes.tolist() == [int(s.outcome) for s in PAPER_SCENARIOS.values()]
