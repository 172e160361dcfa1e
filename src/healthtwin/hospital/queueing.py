"""Queueing approximations for a first capacity answer: Erlang B, Erlang C, square-root staffing.

For ``c`` identical servers (beds, cubicles, nurses) fed by Poisson arrivals at rate
``lambda`` with exponential service at rate ``mu`` per server, the offered load is
``a = lambda / mu`` (Erlangs) and the utilisation ``rho = a / c``.

- Erlang B (M/M/c/c, blocked patients are lost) from the stable recursion
  ``B(0) = 1,  B(k) = a B(k-1) / (k + a B(k-1))`` (no factorials, no overflow).
- Erlang C (M/M/c, blocked patients wait): ``C = c B / (c - a (1 - B))`` is P(wait);
  the mean wait is ``Wq = C / (c mu - lambda)``, the mean queue ``Lq = lambda Wq``, and the
  waiting-time tail ``P(W > t) = C exp(-(c mu - lambda) t)``.
- Square-root staffing (Halfin & Whitt, Oper. Res. 1981): ``c = a + beta sqrt(a)`` where
  ``beta`` solves ``P(wait) = [1 + beta Phi(beta) / phi(beta)]^-1``.

Every function broadcasts over array arguments; scalar arguments give a Python ``float``.
"""

from __future__ import annotations

import math
from typing import overload

import numpy as np
import numpy.typing as npt
from scipy import optimize, stats

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidParameterError

__all__ = [
    "erlang_b",
    "erlang_c",
    "halfin_whitt_beta",
    "min_servers",
    "mmc_mean_queue_length",
    "mmc_mean_wait",
    "mmc_wait_tail",
    "square_root_staffing",
]

_MAX_EXTRA_SERVERS = 100_000


def _positive(name: str, value: npt.ArrayLike, *, allow_zero: bool = False) -> FloatArray:
    array = np.asarray(value, dtype=np.float64)
    bad = ~np.isfinite(array) | ((array < 0) if allow_zero else (array <= 0))
    if np.any(bad):
        need = "non-negative" if allow_zero else "positive"
        raise InvalidParameterError(
            f"{name} must be finite and {need}, got {value!r}; pass a rate or count > 0"
        )
    return array


def _servers(value: npt.ArrayLike) -> FloatArray:
    array = np.asarray(value, dtype=np.float64)
    if np.any(~np.isfinite(array) | (array < 0) | (array != np.round(array))):
        raise InvalidParameterError(
            f"servers must be a non-negative whole number, got {value!r}; pass e.g. servers=10"
        )
    return array


def _stable(servers: FloatArray, load: FloatArray, value: npt.ArrayLike) -> None:
    if np.any(load >= servers):
        raise InvalidParameterError(
            f"the queue is unstable: offered load {value!r} Erlangs is not below servers "
            f"{servers.tolist()!r} (utilisation rho = load / servers must be < 1); add servers "
            "or lower the arrival rate"
        )


def _result(array: FloatArray) -> float | FloatArray:
    return float(array) if array.ndim == 0 else array


@overload
def erlang_b(servers: int, offered_load: float) -> float: ...
@overload
def erlang_b(servers: npt.ArrayLike, offered_load: npt.ArrayLike) -> float | FloatArray: ...
def erlang_b(servers: npt.ArrayLike, offered_load: npt.ArrayLike) -> float | FloatArray:
    """Blocking probability of the Erlang loss system M/M/c/c.

    Parameters
    ----------
    servers
        Number of servers ``c`` (whole, >= 0); broadcasts with ``offered_load``.
    offered_load
        Offered load ``a = lambda / mu`` in Erlangs (>= 0).

    Returns
    -------
    float or numpy.ndarray
        ``B(c, a)``, the fraction of arrivals refused (insensitive to the service law).

    Raises
    ------
    InvalidParameterError
        If ``servers`` is negative or fractional, or ``offered_load`` is negative.

    Examples
    --------
    >>> round(erlang_b(10, 5.0), 6)
    0.018385
    >>> erlang_b([1, 2], 1.0).round(4).tolist()
    [0.5, 0.2]
    """
    c = _servers(servers)
    a = _positive("offered_load", offered_load, allow_zero=True)
    c, a = np.broadcast_arrays(c, a)
    blocking = np.ones(c.shape)
    for k in range(1, int(c.max(initial=0)) + 1):
        step = a * blocking / (k + a * blocking)
        blocking = np.where(k <= c, step, blocking)
    return _result(blocking)


@overload
def erlang_c(servers: int, offered_load: float) -> float: ...
@overload
def erlang_c(servers: npt.ArrayLike, offered_load: npt.ArrayLike) -> float | FloatArray: ...
def erlang_c(servers: npt.ArrayLike, offered_load: npt.ArrayLike) -> float | FloatArray:
    """Probability that an arrival waits in the M/M/c queue (Erlang C).

    Parameters
    ----------
    servers
        Number of servers ``c`` (whole, > ``offered_load``).
    offered_load
        Offered load ``a = lambda / mu`` in Erlangs (> 0).

    Returns
    -------
    float or numpy.ndarray
        ``C(c, a) = c B / (c - a (1 - B))``.

    Raises
    ------
    InvalidParameterError
        If the queue is unstable (``a >= c``) or an argument is out of its domain.

    Examples
    --------
    >>> round(erlang_c(10, 9.0), 5)
    0.66873
    """
    c = _servers(servers)
    a = _positive("offered_load", offered_load)
    _stable(c, a, offered_load)
    blocking = np.asarray(erlang_b(c, a), dtype=np.float64)
    return _result(c * blocking / (c - a * (1.0 - blocking)))


def _rates(
    servers: npt.ArrayLike, arrival_rate: npt.ArrayLike, service_rate: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    c = _servers(servers)
    lam = _positive("arrival_rate", arrival_rate)
    mu = _positive("service_rate", service_rate)
    load = lam / mu
    _stable(c, load, arrival_rate)
    waiting = np.asarray(erlang_c(c, load), dtype=np.float64)
    return c, lam, mu, waiting


def mmc_mean_wait(
    servers: npt.ArrayLike, arrival_rate: npt.ArrayLike, service_rate: npt.ArrayLike
) -> float | FloatArray:
    """Mean wait in queue ``Wq = C / (c mu - lambda)`` of the M/M/c queue.

    Parameters
    ----------
    servers
        Number of servers ``c``.
    arrival_rate, service_rate
        ``lambda`` and ``mu`` per server, in the same time unit (e.g. per hour).

    Returns
    -------
    float or numpy.ndarray
        Mean wait, in the time unit of the rates.

    Raises
    ------
    InvalidParameterError
        If a rate is not positive or ``lambda >= c mu``.

    Examples
    --------
    >>> round(mmc_mean_wait(10, 9.0, 1.0), 5)
    0.66873
    """
    c, lam, mu, waiting = _rates(servers, arrival_rate, service_rate)
    return _result(waiting / (c * mu - lam))


def mmc_mean_queue_length(
    servers: npt.ArrayLike, arrival_rate: npt.ArrayLike, service_rate: npt.ArrayLike
) -> float | FloatArray:
    """Mean number waiting ``Lq = lambda Wq`` (Little's law) in the M/M/c queue.

    Parameters
    ----------
    servers
        Number of servers ``c``.
    arrival_rate, service_rate
        ``lambda`` and ``mu`` per server.

    Returns
    -------
    float or numpy.ndarray
        Mean queue length (patients waiting, not in service).

    Raises
    ------
    InvalidParameterError
        If a rate is not positive or ``lambda >= c mu``.

    Examples
    --------
    >>> round(mmc_mean_queue_length(1, 0.5, 1.0), 6)  # M/M/1: rho^2 / (1 - rho)
    0.5
    """
    c, lam, mu, waiting = _rates(servers, arrival_rate, service_rate)
    return _result(lam * waiting / (c * mu - lam))


def mmc_wait_tail(
    wait: npt.ArrayLike,
    servers: npt.ArrayLike,
    arrival_rate: npt.ArrayLike,
    service_rate: npt.ArrayLike,
) -> float | FloatArray:
    """Probability ``P(W > t) = C exp(-(c mu - lambda) t)`` that the wait exceeds ``t``.

    Parameters
    ----------
    wait
        Threshold ``t`` (>= 0), in the time unit of the rates.
    servers
        Number of servers ``c``.
    arrival_rate, service_rate
        ``lambda`` and ``mu`` per server.

    Returns
    -------
    float or numpy.ndarray
        The tail probability; ``P(W > 0)`` is Erlang C.

    Raises
    ------
    InvalidParameterError
        If ``wait`` is negative, a rate is not positive or ``lambda >= c mu``.

    Examples
    --------
    >>> round(mmc_wait_tail(1.0, 10, 9.0, 1.0), 5)  # 0.66873 * exp(-1)
    0.24601
    """
    t = _positive("wait", wait, allow_zero=True)
    c, lam, mu, waiting = _rates(servers, arrival_rate, service_rate)
    return _result(waiting * np.exp(-(c * mu - lam) * t))


def halfin_whitt_beta(p_wait: float) -> float:
    """Quality-of-service parameter ``beta`` of square-root staffing for a target P(wait).

    Solves ``p_wait = [1 + beta Phi(beta) / phi(beta)]^-1`` (the Halfin-Whitt limit of
    Erlang C as the load grows with ``c = a + beta sqrt(a)``).

    Parameters
    ----------
    p_wait
        Target probability of waiting, strictly between 0 and 1.

    Returns
    -------
    float
        ``beta > 0``.

    Raises
    ------
    InvalidParameterError
        If ``p_wait`` is not in (0, 1).

    Examples
    --------
    >>> round(halfin_whitt_beta(0.5), 3)
    0.506
    """
    if not 0.0 < p_wait < 1.0:
        raise InvalidParameterError(
            f"p_wait must be strictly between 0 and 1, got {p_wait!r}; pass e.g. p_wait=0.2"
        )

    def gap(beta: float) -> float:
        ratio = float(stats.norm.cdf(beta) / stats.norm.pdf(beta))
        return 1.0 / (1.0 + beta * ratio) - p_wait

    upper = 1.0
    while gap(upper) > 0.0:
        upper *= 2.0
    return float(optimize.brentq(gap, 0.0, upper, xtol=1e-12))


def square_root_staffing(offered_load: float, *, p_wait: float = 0.2) -> int:
    """Servers ``ceil(a + beta sqrt(a))`` from the Halfin-Whitt square-root rule.

    Parameters
    ----------
    offered_load
        Offered load ``a`` in Erlangs (> 0).
    p_wait
        Target probability of waiting, which sets ``beta``.

    Returns
    -------
    int
        Recommended number of servers; always more than ``a``.

    Raises
    ------
    InvalidParameterError
        If ``offered_load`` is not positive or ``p_wait`` is not in (0, 1).

    Examples
    --------
    >>> square_root_staffing(100.0, p_wait=0.2)  # Erlang C gives the same 111
    111
    """
    load = float(_positive("offered_load", offered_load))
    beta = halfin_whitt_beta(p_wait)
    return max(math.ceil(load + beta * math.sqrt(load)), math.floor(load) + 1)


def min_servers(
    arrival_rate: float,
    service_rate: float,
    *,
    max_mean_wait: float | None = None,
    max_p_wait: float | None = None,
    max_p_wait_over: tuple[float, float] | None = None,
    max_blocking: float | None = None,
) -> int:
    """Smallest number of servers meeting every target given.

    Parameters
    ----------
    arrival_rate, service_rate
        ``lambda`` and ``mu`` per server (same time unit).
    max_mean_wait
        Upper bound on the M/M/c mean wait ``Wq``.
    max_p_wait
        Upper bound on Erlang C, the probability of waiting at all.
    max_p_wait_over
        ``(t, p)``: the probability of waiting longer than ``t`` must be at most ``p``.
    max_blocking
        Upper bound on Erlang B, for a loss system without a queue.

    Returns
    -------
    int
        The least ``c`` meeting all targets (waiting targets also need ``c > a``).

    Raises
    ------
    InvalidParameterError
        If no target is given, a target is out of range, or a rate is not positive.

    Examples
    --------
    >>> min_servers(9.0, 1.0, max_mean_wait=0.1)
    12
    >>> min_servers(10.0, 1.0, max_blocking=0.01)
    18
    """
    lam = float(_positive("arrival_rate", arrival_rate))
    mu = float(_positive("service_rate", service_rate))
    targets = {
        "max_mean_wait": max_mean_wait,
        "max_p_wait": max_p_wait,
        "max_blocking": max_blocking,
    }
    if all(value is None for value in targets.values()) and max_p_wait_over is None:
        raise InvalidParameterError(
            "min_servers needs a target; pass max_mean_wait, max_p_wait, max_p_wait_over "
            "or max_blocking"
        )
    for name, value in targets.items():
        if value is not None and not (value > 0 and math.isfinite(value)):
            raise InvalidParameterError(f"{name} must be positive and finite, got {value!r}")
    if max_p_wait_over is not None and not (
        max_p_wait_over[0] >= 0 and 0 < max_p_wait_over[1] <= 1
    ):
        raise InvalidParameterError(
            f"max_p_wait_over must be (wait >= 0, probability in (0, 1]), got {max_p_wait_over!r}"
        )
    load = lam / mu
    queues = max_mean_wait is not None or max_p_wait is not None or max_p_wait_over is not None
    start = math.floor(load) + 1 if queues else 0
    for c in range(start, start + _MAX_EXTRA_SERVERS):
        if _meets(c, lam, mu, max_mean_wait, max_p_wait, max_p_wait_over, max_blocking):
            return c
    raise InvalidParameterError(  # pragma: no cover - targets > 0 are always reachable
        f"no server count up to {start + _MAX_EXTRA_SERVERS} meets the targets"
    )


def _meets(
    c: int,
    lam: float,
    mu: float,
    max_mean_wait: float | None,
    max_p_wait: float | None,
    max_p_wait_over: tuple[float, float] | None,
    max_blocking: float | None,
) -> bool:
    if max_blocking is not None and erlang_b(c, lam / mu) > max_blocking:
        return False
    if max_mean_wait is not None and mmc_mean_wait(c, lam, mu) > max_mean_wait:
        return False
    if max_p_wait is not None and erlang_c(c, lam / mu) > max_p_wait:
        return False
    return not (
        max_p_wait_over is not None
        and mmc_wait_tail(max_p_wait_over[0], c, lam, mu) > max_p_wait_over[1]
    )
