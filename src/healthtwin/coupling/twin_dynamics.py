"""The patient twins' physiology: inflammation dynamics, clinical events and NEWS2.

Each twin is the acute-inflammation model of Reynolds et al. (J Theor Biol 242:220-236,
2006; :mod:`healthtwin.physiology.inflammation`, Table 1 parameters) with its own initial
pathogen load and growth rate (:func:`twin_initial_state`), integrated by RK4 on a fixed
grid (:func:`integrate_twins`). Its clinical events are first crossings of damage levels
(:func:`first_crossing`), its resolution the end of the last unsettled stretch
(:func:`resolution_hours`), and its vital signs and NEWS2 follow from its state
(:func:`news2_scores`; systolic BP from the Smith et al. 2004 circulation at
quasi-steady state, :data:`SMITH_SBP_TABLE_MM_HG`, the other vitals from a documented
statistical stand-in). The choices are explained in
:mod:`~healthtwin.coupling.hospital_course`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import ndtri

from healthtwin.core.inputs import Inputs
from healthtwin.core.types import BoolArray, FloatArray
from healthtwin.coupling.twin_settings import TwinCourseSettings
from healthtwin.physiology.circulation import (
    SmithCVS,
    septic_shock_parameters,
    smith_nominal_parameters,
)
from healthtwin.physiology.inflammation import (
    Inflammation,
    inflammation_rhs,
    reynolds_nominal_parameters,
)
from healthtwin.physiology.scores import news2
from healthtwin.physiology.vitals import Vitals

__all__ = [
    "SMITH_SBP_TABLE_MM_HG",
    "circulation_sbp_table",
    "first_crossing",
    "integrate_twins",
    "news2_scores",
    "resolution_hours",
    "settled",
    "twin_initial_state",
]

#: SBP (mmHg) of the Smith et al. (2004) CVS at shock fractions 0, 0.1, ..., 1 (R_sys
#: from nominal to Revie et al. 2013 septic shock); from :func:`circulation_sbp_table`.
SMITH_SBP_TABLE_MM_HG = (
    116.49, 113.38, 110.19, 106.94, 103.64, 100.28, 96.85, 93.37, 89.83, 86.22, 82.56,
)  # fmt: skip
#: Indices of pathogen, activated phagocytes and damage in a twin state.
P_INDEX, N_INDEX, D_INDEX = 0, 1, 2


def circulation_sbp_table(n_points: int = 11) -> FloatArray:
    """SBP (mmHg) of the Smith 2004 CVS with ``R_sys`` interpolated to septic shock.

    Runs the model (numba-compiled when available; about 6 s the first time) for 30 min
    at ``n_points`` equally spaced shock fractions from 0 to 1, shape ``(n_points,)``.
    """
    nominal = float(np.ravel(smith_nominal_parameters().R_sys)[0])
    septic = float(np.ravel(septic_shock_parameters().R_sys)[0])
    r_sys = nominal + (septic - nominal) * np.linspace(0.0, 1.0, n_points)
    model = SmithCVS(smith_nominal_parameters(R_sys=r_sys))
    rng = np.random.default_rng(0)
    state = model.advance(model.initial_state(n_points, rng), 0.0, 30.0, Inputs(), rng)
    return np.asarray(model.observe(state)[:, 1])


def resolution_hours(states: FloatArray, s: TwinCourseSettings, grid: FloatArray) -> FloatArray:
    """Hours from which each twin stays settled, ``(n,)``; ``inf`` if unsettled at the end.

    ``states`` is ``(n, T, 4)`` on ``grid`` ``(T,)``.
    """
    done = settled(states, s)
    unsettled = ~done
    last = states.shape[1] - 1 - np.argmax(unsettled[:, ::-1], axis=1)
    never_unsettled = ~unsettled.any(axis=1)
    hours = grid[np.minimum(last + 1, grid.size - 1)]
    hours = np.where(never_unsettled, 0.0, hours)
    return np.where(done[:, -1], hours, math.inf)


def news2_scores(
    states: FloatArray,
    offsets: FloatArray,
    gens: list[np.random.Generator],
    settings: TwinCourseSettings,
) -> tuple[npt.NDArray[np.int8], BoolArray]:
    """NEWS2 totals and red-score flags of twins on the grid, each ``(n, T)``.

    ``states`` is ``(n, T, 4)``, ``offsets`` ``(n, 2)`` the patients' heart-rate and SBP
    offsets (standard normal) and ``gens`` each twin's generator for the reading noise.
    """
    n, t = states.shape[:2]
    act = states[:, :, N_INDEX] / (states[:, :, N_INDEX] + 0.1)
    shock = np.clip(states[:, :, D_INDEX] / settings.shock_damage, 0.0, 1.0)
    noise = np.stack([g.standard_normal((6, t)) for g in gens], axis=1)  # (6, n, t)
    table = np.asarray(SMITH_SBP_TABLE_MM_HG)
    sbp = np.interp(shock, np.linspace(0.0, 1.0, table.size), table)
    confused = noise[5] < _probit(0.7 * np.clip(2.0 * (shock - 0.5), 0.0, 1.0))
    vitals = Vitals(
        respiratory_rate_per_min=_flat(np.clip(15 + 6 * act + 10 * shock + 1.5 * noise[0], 4, 60)),
        spo2_percent=_flat(np.clip(97.5 - 7 * shock + noise[1], 50, 100)),
        spo2_scale=np.ones(n * t, dtype=np.int64),
        on_oxygen=_flat(shock > 0.5).astype(np.bool_),
        systolic_bp_mm_hg=_flat(np.clip(sbp + 10 * offsets[:, 1:2] + 8 * noise[2], 40, 250)),
        heart_rate_per_min=_flat(
            np.clip(75 + 20 * act + 30 * shock + 8 * offsets[:, 0:1] + 2.5 * noise[3], 30, 220)
        ),
        consciousness=_flat(confused).astype(np.int64),
        temperature_c=_flat(np.clip(36.8 + 1.8 * act + 0.3 * noise[4], 34, 42)),
    )
    scores = news2(vitals)
    return (
        scores.total.reshape(n, t).astype(np.int8),
        scores.any_single_3.reshape(n, t).copy(),
    )


def twin_initial_state(
    settings: TwinCourseSettings,
    z_load: FloatArray,
    z_growth: FloatArray,
    growth_multiplier: FloatArray | float = 1.0,
) -> tuple[FloatArray, FloatArray]:
    """Initial states and parameters of twins from their standard-normal draws.

    ``P(0) = pathogen_median * exp(pathogen_sigma * z_load)`` and ``k_pg =
    growth_median * exp(growth_sigma * z_growth) * growth_multiplier``; the other
    parameters are Table 1's, ``N*(0) = D(0) = 0`` and ``CA(0) = s_c / mu_c``.

    Returns
    -------
    x0 : ndarray, shape (n, 4)
    theta : ndarray, shape (n, n_parameters)

    Examples
    --------
    >>> x0, theta = twin_initial_state(TwinCourseSettings(), np.zeros(2), np.zeros(2), 2.0)
    >>> x0[:, 0].tolist(), theta[:, Inflammation.parameter_index("k_pg")].tolist()
    ([0.4, 0.4], [0.6, 0.6])
    """
    s = settings
    z_load = np.asarray(z_load, dtype=float).reshape(-1)
    n = z_load.size
    theta = reynolds_nominal_parameters().to_matrix(n).copy()
    growth = s.growth_median * np.exp(s.growth_sigma * np.asarray(z_growth, dtype=float))
    theta[:, Inflammation.parameter_index("k_pg")] = growth * growth_multiplier
    x0 = np.zeros((n, 4))
    x0[:, P_INDEX] = s.pathogen_median * np.exp(s.pathogen_sigma * z_load)
    x0[:, 3] = (
        theta[:, Inflammation.parameter_index("s_c")]
        / theta[:, Inflammation.parameter_index("mu_c")]
    )
    return x0, theta


def integrate_twins(
    x0: FloatArray, theta: FloatArray, settings: TwinCourseSettings, *, keep_states: bool = True
) -> tuple[FloatArray | None, BoolArray]:
    """RK4 of independent twins on the grid ``0, step_hours, ..., horizon_hours``.

    Every 24 h of twin time, a twin that has settled (pathogen, damage and phagocytes
    below their ``resolved_*`` levels) or reached ``death_damage`` is frozen: its state is
    held from then on and it is no longer integrated. Each twin's course therefore
    depends on its own parameters only, not on the twins integrated with it.

    Parameters
    ----------
    x0 : ndarray, shape (n, 4)
    theta : ndarray, shape (n, n_parameters)
    settings
        Step, horizon and the levels above.
    keep_states
        Return the states on the grid (else only who died: far less memory).

    Returns
    -------
    states : ndarray, shape (n, T, 4), or None
    died : ndarray of bool, shape (n,)
        Whether damage reached ``death_damage`` at a grid time.

    Examples
    --------
    >>> s = TwinCourseSettings(horizon_hours=240.0)
    >>> x0, theta = twin_initial_state(s, np.array([0.0, 3.0]), np.zeros(2))
    >>> states, died = integrate_twins(x0, theta, s)
    >>> states.shape, died.tolist()
    ((2, 961, 4), [False, True])
    """
    s, h = settings, settings.step_hours
    n_steps = np.arange(0.0, s.horizon_hours + 0.5 * h, h).size
    x = np.array(x0, dtype=float, copy=True)
    n = x.shape[0]
    out = np.empty((n, n_steps, 4)) if keep_states else None
    if out is not None:
        out[:, 0] = x
    peak = np.zeros(n)  # highest damage on the grid, per twin
    # The active twins' states and parameters, compacted only when some freeze.
    rows, xa, ta = np.arange(n), x, np.asarray(theta, dtype=float)
    peak_a, u = xa[:, D_INDEX].copy(), np.zeros((n, 1))
    check_every = max(1, int(24.0 / h))
    for k in range(1, n_steps):
        if not rows.size:
            break
        k1 = inflammation_rhs(xa, u, ta)
        k2 = inflammation_rhs(xa + 0.5 * h * k1, u, ta)
        k3 = inflammation_rhs(xa + 0.5 * h * k2, u, ta)
        k4 = inflammation_rhs(xa + h * k3, u, ta)
        xa = xa + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        np.maximum(peak_a, xa[:, D_INDEX], out=peak_a)
        if out is not None:
            out[rows, k] = xa
        if k % check_every == 0:
            done = settled(xa, s) | (xa[:, D_INDEX] >= s.death_damage)
            if done.any():
                if out is not None:
                    out[rows[done], k + 1 :] = xa[done][:, None, :]
                peak[rows[done]] = peak_a[done]
                keep = ~done
                rows, xa, ta, peak_a = rows[keep], xa[keep], ta[keep], peak_a[keep]
                u = u[: rows.size]
    peak[rows] = peak_a
    return out, peak >= s.death_damage


def settled(x: FloatArray, s: TwinCourseSettings) -> BoolArray:
    """Whether pathogen, damage and phagocytes are all below their resolved levels."""
    return np.asarray(
        (x[..., P_INDEX] < s.resolved_pathogen)
        & (x[..., D_INDEX] < s.resolved_damage)
        & (x[..., N_INDEX] < s.resolved_phagocytes)
    )


def _flat(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
    return np.ascontiguousarray(a).reshape(-1)


def _probit(p: FloatArray) -> FloatArray:
    """Standard normal quantile of ``p`` (0 -> -inf), so ``z < probit(p)`` has chance ``p``."""
    return np.asarray(ndtri(p))


def first_crossing(grid: FloatArray, values: FloatArray, level: float) -> FloatArray:
    """First time each row reaches ``level``, linearly interpolated (inf: never)."""
    above = values >= level
    k = np.argmax(above, axis=1)
    hit = above.any(axis=1)
    out = np.full(values.shape[0], math.inf)
    rows = np.flatnonzero(hit)
    for i in rows:
        j = int(k[i])
        if j == 0:
            out[i] = 0.0
            continue
        v0, v1 = values[i, j - 1], values[i, j]
        out[i] = grid[j - 1] + (grid[j] - grid[j - 1]) * (level - v0) / (v1 - v0)
    return out
