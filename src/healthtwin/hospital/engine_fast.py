"""The fast engine: a hand-written event loop over a binary heap of ``(time, seq, kind, p)``.

Arrivals come from a pre-sorted array (merged with the heap, never pushed into it); bed
queues are per-unit heaps ordered by ``(triage, request time, seq)``, so the most urgent
patient is admitted first and ties are first come, first served. A patient who finished
in a unit keeps its bed until the next unit has one (blocking; boarding in the ED); a bed
freed there cascades down the chain of blocked patients. The same model runs in SimPy in
:mod:`healthtwin.hospital.engine_simpy`; the benchmark shows what the hand-written loop buys.
"""

from __future__ import annotations

import heapq
import itertools

import numpy as np

from healthtwin.hospital.course import ClinicalCourse
from healthtwin.hospital.model import DEATH, CompiledModel, PatientDraws
from healthtwin.hospital.tally import CourseHook, Tally

__all__ = ["next_discharge_time", "run_fast"]

_END, _HOME, _SHIFT, _WARM = 0, 1, 2, 3


def next_discharge_time(now: float, window: tuple[float, float] | None) -> float:
    """The first time at or after ``now`` inside the daily discharge window.

    Examples
    --------
    >>> next_discharge_time(20.0, (8.0, 12.0)), next_discharge_time(9.5, (8.0, 12.0))
    (32.0, 9.5)
    """
    if window is None:
        return now
    a, b = window
    h = now % 24.0
    if a <= h < b:
        return now
    return now + (a - h if h < a else 24.0 - h + a)


def run_fast(
    model: CompiledModel,
    draws: PatientDraws,
    horizon_hours: float,
    warmup_hours: float = 0.0,
    course: ClinicalCourse | None = None,
    course_rng: np.random.Generator | None = None,
) -> dict[str, float]:
    """Simulate one replication; returns its metrics."""
    tally = Tally(model)
    occ, n_units = tally.occ, len(model.names)
    hook = None
    if course is not None:
        hook = CourseHook(model, draws, course, course_rng or np.random.default_rng(0))
    K = draws.visits
    path = hook.path if hook else draws.path
    los = hook.los if hook else draws.los_hours
    det = hook.det if hook else draws.deteriorations
    late = hook.late if hook else draws.caught_late
    obs = hook.obs if hook else draws.observations
    prio, origin, arrival = draws.priority, draws.origin_hours, draws.arrival_hours
    is_ed, interval, uses_window = model.is_ed, model.obs_interval, model.uses_window
    window = model.config.discharge_hours
    n = draws.n
    loc, visit = [-1] * n, [0] * n
    req_t, ready, ed_in = [0.0] * n, [0.0] * n, [0.0] * n
    cap = [model.capacity(u, 0) for u in range(n_units)]
    queues: list[list[tuple[int, float, int, int]]] = [[] for _ in range(n_units)]
    heap: list[tuple[float, int, int, int]] = []
    seq = itertools.count()
    push, pop = heapq.heappush, heapq.heappop
    boarders = [0]

    area, last, wait_sum, wait_n = tally.area, tally.last, tally.wait_sum, tally.wait_n
    wait_pos = tally.wait_pos

    def admit(p: int, v: int, now: float) -> None:
        # Tally.bed and Tally.waited, inlined: this is the hot path.
        area[v] += occ[v] * (now - last[v])
        last[v] = now
        occ[v] += 1
        wait_sum[v] += now - req_t[p]
        wait_n[v] += 1
        wait_pos[v] += now > req_t[p]
        old = loc[p]
        loc[p] = v
        k = visit[p]
        if hook is not None:
            hook.admit(p, k, v, now)
        push(heap, (now + los[p * K + k], next(seq), _END, p))
        if old >= 0:
            if is_ed[old]:
                boarders[0] -= 1
            leave_unit(p, old, now)

    def leave_unit(p: int, u: int, now: float) -> None:
        tally.observations += obs[p * K + visit[p] - 1] + (now - ready[p]) / interval[u]
        if is_ed[u]:
            tally.left_ed(now - ed_in[p], now - ready[p])
        area[u] += occ[u] * (now - last[u])
        last[u] = now
        occ[u] -= 1
        queue = queues[u]
        while queue and occ[u] < cap[u]:
            admit(pop(queue)[3], u, now)

    def request(p: int, v: int, now: float) -> None:
        req_t[p] = now
        if is_ed[v]:
            ed_in[p] = now
        if occ[v] < cap[v] and not queues[v]:
            admit(p, v, now)
        else:
            push(queues[v], (prio[p], now, next(seq), p))

    def depart(p: int, now: float, exit_code: int) -> None:
        u = loc[p]
        loc[p] = -1
        leave_unit(p, u, now)
        tally.departed(now, origin[p], exit_code)

    def end_stay(p: int, now: float) -> None:
        u = loc[p]
        i = p * K + visit[p]
        tally.deteriorations += det[i]
        tally.late += late[i]
        visit[p] += 1
        nxt = path[p * (K + 1) + visit[p]]
        ready[p] = now
        if nxt >= 0:
            if is_ed[u]:
                boarders[0] += 1
            request(p, nxt, now)
        elif nxt == DEATH or not uses_window[u]:
            depart(p, now, nxt)
        else:
            push(heap, (next_discharge_time(now, window), next(seq), _HOME, p))

    div, max_queue, threshold = model.diversion_unit, model.max_queue, model.boarding_threshold
    totals = tally.totals
    for p in range(draws.n_census):
        u = path[p * (K + 1)]
        totals["arrived"] += 1
        tally.system(0.0, 1)
        req_t[p] = 0.0
        ed_in[p] = origin[p]
        visit[p] = 0
        tally.bed(u, 0.0, 1)
        loc[p] = u
        if hook is not None:
            hook.admit(p, 0, u, 0.0)
        push(heap, (los[p * K], next(seq), _END, p))
    if warmup_hours > 0:
        push(heap, (warmup_hours, next(seq), _WARM, -1))
    staffed = [u for u in range(n_units) if model.cap_by_hour[u] is not None]
    if staffed:
        push(heap, (1.0, next(seq), _SHIFT, -1))
    i = draws.n_census
    while True:
        if i < n and (not heap or arrival[i] <= heap[0][0]):
            p, now = i, arrival[i]
            i += 1
            entry = path[p * (K + 1)]
            totals["arrived"] += 1
            tally.arrived += 1
            if entry == div and (
                (occ[entry] >= cap[entry] and len(queues[entry]) >= max_queue)
                or boarders[0] > threshold
            ):
                totals["refused"] += 1
                tally.refused += 1
                continue
            tally.system(now, 1)
            request(p, entry, now)
            continue
        if not heap:
            break
        now, _, kind, p = pop(heap)
        if now > horizon_hours:
            break
        if kind == _END:
            end_stay(p, now)
        elif kind == _HOME:
            depart(p, now, -1)
        elif kind == _SHIFT:
            hour = round(now) % 24
            for u in staffed:
                cap[u] = model.capacity(u, hour)
                queue = queues[u]
                while queue and occ[u] < cap[u]:
                    admit(pop(queue)[3], u, now)
            push(heap, (now + 1.0, next(seq), _SHIFT, -1))
        else:
            tally.reset(now)
    return tally.metrics(horizon_hours)
