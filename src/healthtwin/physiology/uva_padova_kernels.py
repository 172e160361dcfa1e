"""Segment loops of the UVA/Padova model: the numpy kernel and the numba kernel.

Both run the same rules per input segment: the meal clock on ticks (:func:`meal_tick`),
bolus impulses, held inputs, then RK4 sub-steps of the derivatives
(:func:`derivatives`). The numpy kernel advances all members together (rows of
``(13, n)``); the numba kernel advances each member with scalars, members spread over cores.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np

from healthtwin.core.solvers import rk4_columns, rk4_vector_inplace
from healthtwin.core.types import BoolArray, FloatArray, IntArray
from healthtwin.errors import MissingDependencyError
from healthtwin.physiology.uva_padova_equations import (
    I_BW,
    PMOL_PER_U,
    meal_tick,
    rhs_columns,
)

__all__ = ["Kernel", "numba_kernel", "numpy_kernel"]

#: A segment loop: (x, c, disc, seg_len, on_tick, meals, insulin, boluses, h, slot, out) -> x.
Kernel = Callable[..., FloatArray]
_Step = Callable[[FloatArray, FloatArray, FloatArray, float, float], FloatArray]


def _rk4_step(x: FloatArray, u: FloatArray, c: FloatArray, dur: float, h: float) -> FloatArray:
    return rk4_columns(rhs_columns, x, u, c, dur, h)


def numpy_kernel(step: _Step = _rk4_step) -> Kernel:
    """The vectorized segment loop over all members, integrating with ``step``.

    Arrays are member-contiguous rows: ``x`` (13, n), ``c`` (n_parameters, n); ``disc``
    (4, n) holds planned meal (g), intake rate (g/min), stomach content at meal start (mg)
    and carbohydrate eaten since (g), updated in place; per-segment inputs are (s, n).
    At the end of segment ``j``, when ``slot[j] >= 0``, ``out[slot[j], :13]`` gets the
    states and ``out[slot[j], 13]`` the intake rate (g/min) that held over the segment.
    """

    def kernel(
        x: FloatArray,
        c: FloatArray,
        disc: FloatArray,
        seg_len: FloatArray,
        on_tick: BoolArray,
        meals: FloatArray,
        insulin: FloatArray,
        boluses: FloatArray,
        h: float,
        slot: IntArray,
        out: FloatArray,
    ) -> FloatArray:
        pmol_per_kg_per_u = PMOL_PER_U / c[I_BW]
        u = np.empty((3, x.shape[1]))
        for j in range(seg_len.size):
            disc[0] += meals[j]
            if on_tick[j]:
                disc[0], disc[1], disc[2], disc[3] = meal_tick(
                    disc[0], disc[1], disc[2], disc[3], x[0] + x[1]
                )
            x[10] += boluses[j] * pmol_per_kg_per_u
            u[0] = disc[1] * 1000.0
            u[1] = insulin[j] * pmol_per_kg_per_u
            u[2] = disc[2] + 1000.0 * disc[3]
            x = step(x, u, c, seg_len[j], h)
            # Masses cannot be negative; simglucose's (x >= 0) guard alone would freeze a
            # state that a step overshot below zero (an insulin overdose) for ever.
            x[_MASSES] = np.maximum(x[_MASSES], 0.0)
            if slot[j] >= 0:
                out[slot[j], :13] = x
                out[slot[j], 13] = disc[1]
        return x

    return kernel


def _member_loop(
    x: FloatArray,
    c: FloatArray,
    disc: FloatArray,
    seg_len: FloatArray,
    on_tick: BoolArray,
    meals: FloatArray,
    insulin: FloatArray,
    boluses: FloatArray,
    h: float,
    slot: IntArray,
    out: FloatArray,
) -> FloatArray:
    """The same rules as :func:`numpy_kernel`, one member at a time with scalars.

    Compiled by :func:`numba_kernel`; ``_prange``, ``_rhs`` and ``_rk4`` are bound to
    numba's parallel range and the compiled equations there.
    """
    n = x.shape[1]
    for m in _prange(n):
        xm = x[:, m].copy()
        cm = c[:, m].copy()
        um = np.empty(3)
        work = np.empty((5, xm.shape[0]))
        planned, cho, start, eaten = disc[0, m], disc[1, m], disc[2, m], disc[3, m]
        pmol_per_kg_per_u = PMOL_PER_U / cm[I_BW]
        for j in range(seg_len.size):
            planned += meals[j, m]
            if on_tick[j]:
                planned, cho, start, eaten = meal_tick(planned, cho, start, eaten, xm[0] + xm[1])
            xm[10] += boluses[j, m] * pmol_per_kg_per_u
            um[0] = cho * 1000.0
            um[1] = insulin[j, m] * pmol_per_kg_per_u
            um[2] = start + 1000.0 * eaten
            _rk4(_rhs, xm, um, cm, seg_len[j], h, work)
            for i in range(xm.shape[0]):
                if i != _INSULIN_ACTION and xm[i] < 0.0:
                    xm[i] = 0.0
            if slot[j] >= 0:
                out[slot[j], :13, m] = xm
                out[slot[j], 13, m] = cho
        x[:, m] = xm
        disc[0, m], disc[1, m], disc[2, m], disc[3, m] = planned, cho, start, eaten
    return x


#: Every state but the insulin action X (a deviation from basal, negative below it).
_INSULIN_ACTION = 6
_MASSES = np.array([i for i in range(13) if i != _INSULIN_ACTION])

_prange: Any = range
_rhs: Any = rhs_columns
_rk4: Any = rk4_vector_inplace


@cache
def numba_kernel() -> Kernel:
    """:func:`_member_loop` compiled by numba, members in parallel across cores."""
    try:
        numba: Any = importlib.import_module("numba")
    except ImportError as err:
        raise MissingDependencyError(
            "backend='numba' needs numba: pip install 'healthtwin[fast]'"
        ) from err
    from healthtwin.physiology import uva_padova_equations as eq

    jit = numba.njit(error_model="numpy")
    compiled = {
        "derivatives": jit(eq.derivatives),
        "meal_tick": jit(eq.meal_tick),
    }
    # The equations call each other through module globals; bind compiled versions.
    rhs_globals = dict(rhs_columns.__globals__, derivatives=compiled["derivatives"])
    rhs = jit(_rebind(rhs_columns, rhs_globals))
    loop_globals = dict(
        _member_loop.__globals__,
        _prange=numba.prange,
        _rhs=rhs,
        _rk4=jit(rk4_vector_inplace),
        meal_tick=compiled["meal_tick"],
    )
    kernel: Kernel = numba.njit(parallel=True, error_model="numpy")(
        _rebind(_member_loop, loop_globals)
    )
    return kernel


def _rebind(fn: Any, namespace: dict[str, Any]) -> Any:
    """A copy of function ``fn`` that resolves its globals in ``namespace``."""
    import types

    return types.FunctionType(fn.__code__, namespace, fn.__name__, fn.__defaults__, fn.__closure__)
