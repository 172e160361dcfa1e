"""Batched ODE solvers over the leading member axis.

Both solvers integrate ``dx/dt = f(x)`` over one interval in which inputs are held
constant (zero-order hold); models call them once per input segment, so input events
always fall on step boundaries.

- :func:`rk4` takes fixed steps no longer than ``h``; it never exceeds the step limit the
  model declares (the RK4 stability bound), sub-stepping instead.
- :func:`dopri5` is the embedded Dormand-Prince 5(4) pair (Dormand & Prince, J Comput
  Appl Math 6:19-26, 1980) with a step size and error control per member (Hairer,
  Norsett & Wanner, *Solving ODEs I*, sec. II.4), first-same-as-last.

Failures inside the vectorized loop become per-member status codes (:class:`Status`),
never exceptions from deep inside.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from healthtwin.core.types import FloatArray, IntArray
from healthtwin.errors import InvalidParameterError, SolverError

__all__ = [
    "RK4_STABILITY_RADIUS",
    "Dopri5Result",
    "SolverOptions",
    "Status",
    "dopri5",
    "integrate_held",
    "raise_on_failure",
    "rk4",
    "rk4_columns",
    "rk4_vector_inplace",
]

Rhs = Callable[[FloatArray], FloatArray]

#: Extent of the RK4 stability region on the negative real axis (|h * lambda| < 2.785).
RK4_STABILITY_RADIUS = 2.785


class Status(IntEnum):
    """Per-member outcome of an integration."""

    OK = 0
    NON_FINITE = 1
    MAX_STEPS = 2
    STEP_UNDERFLOW = 3


def rk4(f: Rhs, x: FloatArray, duration: float, h: float, h_limit: float = math.inf) -> FloatArray:
    """Integrate ``dx/dt = f(x)`` for ``duration`` with classic RK4 steps.

    Parameters
    ----------
    f
        Right-hand side, ``(n, d) -> (n, d)``.
    x
        State at the start, shape ``(n, d)``; not modified.
    duration
        Length of the interval (>= 0).
    h
        Requested step (> 0); the interval is split into equal steps no longer than
        ``min(h, h_limit)``.
    h_limit
        Largest stable step the model declares.

    Returns
    -------
    numpy.ndarray
        State at the end, shape ``(n, d)``.

    Examples
    --------
    >>> import numpy as np
    >>> x = rk4(lambda x: -x, np.ones((2, 1)), 1.0, 0.01)
    >>> bool(abs(x[0, 0] - np.exp(-1.0)) < 1e-9)
    True
    """
    if not h > 0:
        raise InvalidParameterError(f"step h must be positive, got {h}")
    if duration <= 0:
        return x.copy()
    n_steps = max(1, math.ceil(duration / min(h, h_limit) - 1e-9))
    dt = duration / n_steps
    half = 0.5 * dt
    for _ in range(n_steps):
        k1 = f(x)
        k2 = f(x + half * k1)
        k3 = f(x + half * k2)
        k4 = f(x + dt * k3)
        x = x + (dt / 6.0) * (k1 + 2.0 * (k2 + k3) + k4)
    return x


# Dormand-Prince 5(4) tableau.
_C = np.array([0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0])
_A = [
    [],
    [1 / 5],
    [3 / 40, 9 / 40],
    [44 / 45, -56 / 15, 32 / 9],
    [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
    [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
    [35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
]
_B5 = np.array([35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0])
_B4 = np.array([5179 / 57600, 0.0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40])
_E = _B5 - _B4


@dataclass(frozen=True)
class Dopri5Result:
    """End state, per-member status, accepted and rejected step counts, last step size."""

    x: FloatArray
    status: IntArray
    n_accepted: IntArray
    n_rejected: IntArray
    h_last: FloatArray

    @property
    def ok(self) -> bool:
        return bool(np.all(self.status == Status.OK))


def dopri5(
    f: Rhs,
    x: FloatArray,
    duration: float,
    *,
    rtol: float = 1e-6,
    atol: float = 1e-8,
    h0: FloatArray | float | None = None,
    h_max: float = math.inf,
    max_steps: int = 100_000,
) -> Dopri5Result:
    """Integrate ``dx/dt = f(x)`` for ``duration`` with adaptive Dormand-Prince 5(4).

    Every member has its own step size and error control; a member that has reached the
    end is frozen (its step is zero) while the others go on.

    Parameters
    ----------
    f
        Right-hand side, ``(n, d) -> (n, d)``, evaluated on all members at once.
    x
        State at the start, shape ``(n, d)``; not modified.
    duration
        Length of the interval (>= 0).
    rtol, atol
        Relative and absolute tolerances (scaled RMS norm per member).
    h0
        First step per member (scalar or ``(n,)``); estimated when omitted.
    h_max
        Largest step allowed.
    max_steps
        Attempts (accepted + rejected) before a member is marked ``MAX_STEPS``.

    Returns
    -------
    Dopri5Result

    Examples
    --------
    >>> import numpy as np
    >>> rates = np.array([[1.0], [10.0]])
    >>> res = dopri5(lambda x: -rates * x, np.ones((2, 1)), 1.0, rtol=1e-10, atol=1e-12)
    >>> bool(np.allclose(res.x[:, 0], np.exp(-rates[:, 0]), rtol=1e-8))
    True
    >>> bool(res.n_accepted[1] > res.n_accepted[0])
    True
    """
    if rtol <= 0 or atol <= 0:
        raise InvalidParameterError(f"rtol and atol must be positive, got {rtol}, {atol}")
    n = x.shape[0]
    x = np.array(x, dtype=np.float64, copy=True)
    status = np.zeros(n, dtype=np.int64)
    n_acc = np.zeros(n, dtype=np.int64)
    n_rej = np.zeros(n, dtype=np.int64)
    if duration <= 0:
        return Dopri5Result(x, status, n_acc, n_rej, np.zeros(n))
    t = np.zeros(n)
    k1 = f(x)
    h = (
        _initial_step(f, x, k1, rtol, atol)
        if h0 is None
        else np.broadcast_to(np.asarray(h0, dtype=np.float64), (n,)).copy()
    )
    h = np.minimum(np.minimum(h, h_max), duration)
    active = np.ones(n, dtype=bool)
    bad_start = ~np.isfinite(h) | ~np.all(np.isfinite(k1), axis=1)
    status[bad_start] = Status.NON_FINITE
    active &= ~bad_start
    stages = np.empty((7, *x.shape))
    attempts = 0
    while active.any():
        attempts += 1
        hh = np.where(active, np.minimum(h, duration - t), 0.0)[:, None]
        stages[0] = k1
        for s in range(1, 7):
            acc = x.copy()
            for j, a in enumerate(_A[s]):
                if a != 0.0:
                    acc += hh * (a * stages[j])
            stages[s] = f(acc)
        x_new = acc  # stage 7 is evaluated at the 5th-order solution (FSAL)
        err_vec = hh * np.tensordot(_E, stages, axes=1)
        scale = atol + rtol * np.maximum(np.abs(x), np.abs(x_new))
        err = np.sqrt(np.mean((err_vec / scale) ** 2, axis=1))
        finite = np.all(np.isfinite(x_new), axis=1) & np.isfinite(err)
        accept = active & finite & (err <= 1.0)
        x[accept] = x_new[accept]
        k1[accept] = stages[6][accept]
        t[accept] += hh[accept, 0]
        n_acc += accept
        n_rej += active & ~accept
        safe_err = np.where(finite, np.maximum(err, 1e-10), np.inf)
        factor = np.clip(0.9 * safe_err**-0.2, 0.2, 5.0)
        factor = np.where(accept, factor, np.minimum(factor, 1.0))
        h = np.where(active, np.minimum(hh[:, 0] * factor, h_max), h)
        done = accept & (t >= duration * (1 - 1e-12))
        h_small = active & ~done & (h < 1e-12 * max(duration, 1.0))
        status[h_small] = np.where(finite[h_small], Status.STEP_UNDERFLOW, Status.NON_FINITE)
        active &= ~done & ~h_small
        if attempts >= max_steps and active.any():
            status[active] = Status.MAX_STEPS
            break
    return Dopri5Result(x, status, n_acc, n_rej, h)


def _initial_step(f: Rhs, x: FloatArray, fx: FloatArray, rtol: float, atol: float) -> FloatArray:
    """Starting step per member (Hairer, Norsett & Wanner, sec. II.4)."""
    scale = atol + rtol * np.abs(x)
    d0 = np.sqrt(np.mean((x / scale) ** 2, axis=1))
    d1 = np.sqrt(np.mean((fx / scale) ** 2, axis=1))
    h0 = np.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / np.maximum(d1, 1e-300))
    f1 = f(x + h0[:, None] * fx)
    d2 = np.sqrt(np.mean(((f1 - fx) / scale) ** 2, axis=1)) / h0
    dmax = np.maximum(d1, d2)
    h1 = np.where(
        dmax <= 1e-15, np.maximum(1e-6, h0 * 1e-3), (0.01 / np.maximum(dmax, 1e-300)) ** 0.2
    )
    return np.asarray(np.minimum(100 * h0, h1), dtype=np.float64)


def raise_on_failure(status: IntArray, where: str) -> None:
    """Raise :class:`SolverError` naming the members whose integration failed."""
    bad = np.flatnonzero(status != Status.OK)
    if bad.size:
        kinds = sorted({Status(int(s)).name for s in status[bad]})
        raise SolverError(
            f"{where}: integration failed for members {bad[:10].tolist()}"
            f"{'...' if bad.size > 10 else ''} ({', '.join(kinds)}); check parameters and "
            "inputs for those members, or tighten the step"
        )


def rk4_columns(
    f: Callable[[FloatArray, FloatArray, FloatArray, FloatArray], None],
    x: FloatArray,
    u: FloatArray,
    c: FloatArray,
    duration: float,
    h: float,
) -> FloatArray:
    """Classic RK4 over ``duration`` in equal steps no longer than ``h``, on rows.

    The kernel form of :func:`rk4` for member-contiguous layouts: ``x`` is ``(d, n)``,
    ``f(x, u, c, out)`` writes ``dx/dt`` into ``out``. Written in plain array code so that
    numba can compile it together with a compiled ``f``.
    """
    if duration <= 0.0:
        return x.copy()
    n_steps = max(1, int(np.ceil(duration / h - 1e-9)))
    dt = duration / n_steps
    half = 0.5 * dt
    k1 = np.empty_like(x)
    k2 = np.empty_like(x)
    k3 = np.empty_like(x)
    k4 = np.empty_like(x)
    for _ in range(n_steps):
        f(x, u, c, k1)
        f(x + half * k1, u, c, k2)
        f(x + half * k2, u, c, k3)
        f(x + dt * k3, u, c, k4)
        x = x + (dt / 6.0) * (k1 + 2.0 * (k2 + k3) + k4)
    return x


def rk4_vector_inplace(
    f: Callable[[FloatArray, FloatArray, FloatArray, FloatArray], None],
    x: FloatArray,
    u: FloatArray,
    c: FloatArray,
    duration: float,
    h: float,
    work: FloatArray,
) -> None:
    """Classic RK4 on one member's state vector ``x`` (d,), updated in place.

    The allocation-free form of :func:`rk4_columns` for compiled per-member loops:
    ``work`` is scratch of shape ``(5, d)``; ``f(x, u, c, out)`` writes ``dx/dt``.
    """
    if duration <= 0.0:
        return
    n_steps = max(1, int(np.ceil(duration / h - 1e-9)))
    dt = duration / n_steps
    half = 0.5 * dt
    d = x.shape[0]
    k1, k2, k3, k4, tmp = work[0], work[1], work[2], work[3], work[4]
    for _ in range(n_steps):
        f(x, u, c, k1)
        for i in range(d):
            tmp[i] = x[i] + half * k1[i]
        f(tmp, u, c, k2)
        for i in range(d):
            tmp[i] = x[i] + half * k2[i]
        f(tmp, u, c, k3)
        for i in range(d):
            tmp[i] = x[i] + dt * k3[i]
        f(tmp, u, c, k4)
        for i in range(d):
            x[i] += (dt / 6.0) * (k1[i] + 2.0 * (k2[i] + k3[i]) + k4[i])


@dataclass(frozen=True)
class SolverOptions:
    """How an ODE model integrates: fixed-step RK4 or adaptive Dormand-Prince 5(4).

    Parameters
    ----------
    step
        RK4 step in the model's time unit (> 0); sub-stepped below the stability limit.
    method
        ``"rk4"`` or ``"dopri5"``.
    rtol, atol
        Tolerances of ``"dopri5"`` (> 0).
    step_name
        What the model calls the step (``"step_min"``, ``"step_h"``), for error messages.
    """

    step: float = 1.0
    method: str = "rk4"
    rtol: float = 1e-8
    atol: float = 1e-10
    step_name: str = "step"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.step) and self.step >= 1e-3):
            raise InvalidParameterError(
                f"{self.step_name} must be finite and at least 0.001, got {self.step}; "
                "method='dopri5' gives tight accuracy"
            )
        if self.method not in ("rk4", "dopri5"):
            raise InvalidParameterError(f"method must be 'rk4' or 'dopri5', got {self.method!r}")
        if not (self.rtol > 0 and self.atol > 0):
            raise InvalidParameterError(f"rtol and atol must be > 0, got {self.rtol}, {self.atol}")


def integrate_held(
    f: Rhs,
    x: FloatArray,
    duration: float,
    options: SolverOptions,
    stability_limit: Callable[[FloatArray], float],
    *,
    refresh: float = math.inf,
    where: str = "model",
) -> FloatArray:
    """Integrate one segment with held inputs as ``options`` say.

    For RK4 the stability limit is evaluated at the current state, and again every
    ``refresh`` time units (stiffness that moves with the state, such as insulin action);
    members that go non-finite raise :class:`SolverError`.
    """
    if options.method == "dopri5":
        res = dopri5(f, x, duration, rtol=options.rtol, atol=options.atol)
        raise_on_failure(res.status, where)
        return res.x
    chunk = (
        options.step * max(1.0, math.floor(refresh / options.step))
        if math.isfinite(refresh)
        else duration
    )
    n_chunks = max(1, math.ceil(duration / chunk - 1e-9)) if chunk > 0 else 1
    edges = np.minimum(np.arange(n_chunks + 1) * chunk, duration)
    for k in range(n_chunks):
        x = rk4(f, x, float(edges[k + 1] - edges[k]), options.step, stability_limit(x))
    finite = np.all(np.isfinite(x), axis=1)
    if not finite.all():
        raise_on_failure(np.where(finite, Status.OK, Status.NON_FINITE).astype(np.int64), where)
    return x
