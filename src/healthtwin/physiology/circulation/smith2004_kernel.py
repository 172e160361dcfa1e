"""The beat loop of the Smith model: RK4 at millisecond steps, beat outputs, multi-rate.

One member at a time, with scalars, so that a member's trajectory never depends on the
others; compiled by numba (``healthtwin[fast]``) with members spread over cores, or run as
plain Python (the same source, slowly) when numba is absent.

Per-member arrays: ``x`` (11,) the states of :data:`~.smith2004_equations.X`; ``acc`` (5,)
the running beat: time since the beat began (s), integral of aortic pressure (mmHg s),
its maximum and minimum (mmHg) and the forward aortic-valve volume (mL); ``beat`` (6,) the
outputs of the last complete beat: MAP, SBP, DBP (mmHg), HR (1/min), CO (L/min), SV (mL).

Multi-rate scheme (``full=False``): within each macro step (a whole input segment, or at
most ``hold_max_s`` while an infusion runs) beats are integrated until two consecutive
beats differ by less than ``tol`` (relative, in MAP, SBP, DBP and SV; during an infusion,
until that difference is steady to ``DRIFT_RTOL``) after at least ``min_beats``
beats, or ``max_beats`` beats have run; the rest of the macro step is held. Without
an infusion the state stays at the start of the converged beat. During an infusion the
orbit drifts by a steady amount per beat, so states and outputs are moved on linearly by
that drift for each skipped beat and the remainder of the infused volume is added to the
vena cava: volume is exact, and the error is the curvature of the response over one
macro step. Where the beat-to-beat map contracts by ``rho`` per beat,
a held state is within about ``tol / (1 - rho)`` of the exact periodic orbit.
"""

from __future__ import annotations

import importlib
import math
import types
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np

from healthtwin.core.types import FloatArray
from healthtwin.errors import MissingDependencyError
from healthtwin.physiology.circulation import smith2004_equations as eq
from healthtwin.physiology.circulation.smith2004_equations import (
    I_E_AO,
    I_HR,
    I_VD_AO,
    derivatives,
    driver,
    septum_volume,
)

__all__ = ["Kernel", "beat_kernel", "python_kernel"]

#: ``(x, acc, beat, c, dur_s, inflow, bolus, full, tol, min_beats, max_beats, hold_s, dt)``.
Kernel = Callable[..., None]
#: Newton steps per septum solve when warm-started from the previous step's value.
NEWTON_WARM = 3
#: During an infusion, beat-to-beat changes count as steady within this fraction.
DRIFT_RTOL = 0.01
#: Newton steps from a cold start.
NEWTON_COLD = 40


def _rk4_step(y: Any, t: float, h: float, c: Any, v_spt: float, inflow: float, w: Any) -> None:
    """One classic RK4 step of the 12 integrated quantities; ``w`` is (5, 12) scratch."""
    k1, k2, k3, k4, tmp = w[0], w[1], w[2], w[3], w[4]
    half = 0.5 * h
    e = driver(t, c)
    derivatives(y, e, septum_volume(y[0], y[3], e, c, v_spt, NEWTON_WARM), c, inflow, k1)
    e = driver(t + half, c)
    for i in range(12):
        tmp[i] = y[i] + half * k1[i]
    derivatives(tmp, e, septum_volume(tmp[0], tmp[3], e, c, v_spt, NEWTON_WARM), c, inflow, k2)
    for i in range(12):
        tmp[i] = y[i] + half * k2[i]
    derivatives(tmp, e, septum_volume(tmp[0], tmp[3], e, c, v_spt, NEWTON_WARM), c, inflow, k3)
    e = driver(t + h, c)
    for i in range(12):
        tmp[i] = y[i] + h * k3[i]
    derivatives(tmp, e, septum_volume(tmp[0], tmp[3], e, c, v_spt, NEWTON_WARM), c, inflow, k4)
    for i in range(12):
        y[i] += (h / 6.0) * (k1[i] + 2.0 * (k2[i] + k3[i]) + k4[i])


def _integrate(y: Any, aux: Any, c: Any, span: float, h_grid: float, inflow: float, w: Any) -> None:
    """Integrate ``span`` seconds within one beat; ``aux`` = [t_beat, V_spt, P_max, P_min]."""
    n_steps = max(1, math.ceil(span / h_grid - 1e-9))
    h = span / n_steps
    for _ in range(n_steps):
        _rk4_step(y, aux[0], h, c, aux[1], inflow, w)
        aux[0] += h
        aux[1] = septum_volume(y[0], y[3], driver(aux[0], c), c, aux[1], NEWTON_WARM)
        for k in range(6, 10):
            # A closed valve holds zero flow; the clamp never moves volume.
            y[k] = max(y[k], 0.0)
        p_ao = c[I_E_AO] * (y[1] - c[I_VD_AO])
        aux[2] = max(aux[2], p_ao)
        aux[3] = min(aux[3], p_ao)


def _finish_beat(
    y: Any, aux: Any, beat: Any, c: Any, period: float, last: Any, drifting: bool, tol: float
) -> bool:
    """Store the outputs of the beat just ended, restart the sums; whether beats repeat.

    Beats repeat when MAP, SBP, DBP and SV change by less than ``tol`` (relative) from the
    last beat; while ``drifting`` (an infusion runs), when those changes are steady: each
    differs from the previous beat's change by less than ``DRIFT_RTOL`` of itself (plus
    ``tol / 100``). ``last`` keeps the changes.
    """
    sv = y[11]
    new = (y[10] / period, aux[2], aux[3], 60.0 / period, sv * 60.0 / period / 1000.0, sv)
    steady = True
    for k, i in enumerate((0, 1, 2, 5)):
        delta = (new[i] - beat[i]) / max(abs(beat[i]), 1.0)
        if drifting:
            steady = steady and abs(delta - last[k]) < DRIFT_RTOL * abs(delta) + 0.01 * tol
        else:
            steady = steady and abs(delta) < tol
        last[k] = delta
    for i in range(6):
        beat[i] = new[i]
    p_ao = c[I_E_AO] * (y[1] - c[I_VD_AO])
    y[10], y[11], aux[0], aux[2], aux[3] = 0.0, 0.0, 0.0, p_ao, p_ao
    return steady


def _hold(
    y: Any,
    y_prev: Any,
    beat: Any,
    beat_prev: Any,
    inflow: float,
    hold: float,
    period: float,
    drifting: bool,
) -> None:
    """Skip ``hold`` seconds of a settled member; volume given meanwhile is exact.

    Without inflow the orbit is periodic and nothing moves. With inflow the orbit drifts
    by a steady amount per beat: states and outputs move on by that drift for every whole
    beat skipped, and the rest of the volume infused enters the vena cava.
    """
    if not drifting:
        return
    n_beats = math.floor(hold / period)
    moved = 0.0
    for i in range(10):
        step = n_beats * (y[i] - y_prev[i])
        y[i] += step
        if i < 6:
            moved += step
    for i in range(6):
        beat[i] += n_beats * (beat[i] - beat_prev[i])
    y[2] += inflow * hold - moved


def _advance_member(
    x: Any,
    acc: Any,
    beat: Any,
    c: Any,
    dur_s: Any,
    inflow: Any,
    bolus: Any,
    full: bool,
    tol: float,
    min_beats: int,
    max_beats: int,
    hold_s: float,
    dt: float,
) -> None:
    """Advance one member over its input segments (in place)."""
    y = np.empty(12)
    w = np.empty((5, 12))
    for i in range(10):
        y[i] = x[i]
    y[10], y[11] = acc[1], acc[4]
    aux = np.array([acc[0], x[10], acc[2], acc[3]])
    last = np.zeros(4)
    period = 60.0 / c[I_HR]
    h_grid = period / math.ceil(period / dt - 1e-9)
    y_prev, beat_prev = np.empty(10), np.empty(6)
    for j in range(dur_s.size):
        y[2] += bolus[j]
        remaining = dur_s[j]
        drifting = inflow[j] != 0.0
        while remaining > 1e-9:
            macro = remaining if (full or not drifting) else min(remaining, hold_s)
            used, beats, settled = 0.0, 0, False
            while macro - used > 1e-9 and not settled:
                span = min(period - aux[0], macro - used)
                _integrate(y, aux, c, span, h_grid, inflow[j], w)
                used += span
                if period - aux[0] <= 1e-9 * period:
                    y_prev[:] = y[:10]
                    beat_prev[:] = beat
                    steady = _finish_beat(y, aux, beat, c, period, last, drifting, tol)
                    beats += 1
                    settled = not full and ((beats >= min_beats and steady) or beats >= max_beats)
            if settled:
                _hold(y, y_prev, beat, beat_prev, inflow[j], macro - used, period, drifting)
            remaining -= macro
    for i in range(10):
        x[i] = y[i]
    x[10] = aux[1]
    acc[0], acc[1], acc[2], acc[3], acc[4] = aux[0], y[10], aux[2], aux[3], y[11]


def _advance_all(
    x: FloatArray,
    acc: FloatArray,
    beat: FloatArray,
    c: FloatArray,
    dur_s: FloatArray,
    inflow: FloatArray,
    bolus: FloatArray,
    full: bool,
    tol: float,
    min_beats: int,
    max_beats: int,
    hold_s: float,
    dt: float,
) -> None:
    """:func:`_advance_member` for every member: rows of ``x``, ``acc``, ``beat``, ``c``;
    columns of the per-segment ``inflow`` and ``bolus`` (s, n)."""
    for m in _prange(x.shape[0]):
        _advance_member(
            x[m], acc[m], beat[m], c[m], dur_s, inflow[:, m], bolus[:, m],
            full, tol, min_beats, max_beats, hold_s, dt,
        )  # fmt: skip


_prange: Any = range


def python_kernel() -> Kernel:
    """The beat loop as plain Python (no compiler; about 100 times slower than numba)."""
    return _advance_all


@cache
def beat_kernel(*, required: bool = False) -> Kernel:
    """The beat loop compiled by numba when it is installed, else :func:`python_kernel`.

    With ``required`` a missing numba is a :class:`MissingDependencyError`.
    """
    try:
        numba: Any = importlib.import_module("numba")
    except ImportError as err:
        if required:
            raise MissingDependencyError(
                "backend='numba' needs numba: pip install 'healthtwin[fast]'"
            ) from err
        return python_kernel()
    jit = numba.njit(error_model="numpy")
    eq_ns = dict(vars(eq))
    for name in ("free_wall", "septum_residual", "septum_volume", "driver", "pressures"):
        eq_ns[name] = jit(_rebind(getattr(eq, name), eq_ns))
    eq_ns["_valve"] = jit(_rebind(eq._valve, eq_ns))
    eq_ns["derivatives"] = jit(_rebind(eq.derivatives, eq_ns))
    ns = dict(globals())
    ns.update({k: eq_ns[k] for k in ("driver", "septum_volume", "derivatives")})
    for fn in (_rk4_step, _integrate, _finish_beat, _hold, _advance_member):
        ns[fn.__name__] = jit(_rebind(fn, ns))
    ns["_prange"] = numba.prange
    kernel: Kernel = numba.njit(parallel=True, error_model="numpy")(_rebind(_advance_all, ns))
    return kernel


def _rebind(fn: Any, namespace: dict[str, Any]) -> Any:
    """A copy of ``fn`` resolving its globals in ``namespace`` (filled before compiling)."""
    return types.FunctionType(fn.__code__, namespace, fn.__name__, fn.__defaults__, fn.__closure__)
