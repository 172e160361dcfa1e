"""The fast engine: a hand-written event loop over a binary heap of ``(time, seq, kind, p)``.

Arrivals come from a pre-sorted array (merged with the heap, never pushed into it); bed
queues are per-unit heaps ordered by ``(triage, request time, seq)``, so the most urgent
patient is admitted first and ties are first come, first served. A patient who finished
in a unit keeps its bed until the next unit has one (blocking; boarding in the ED); a bed
freed there cascades down the chain of blocked patients. The same model runs in SimPy in
:mod:`healthtwin.hospital.engine_simpy`; the benchmark shows what the hand-written loop buys.

The loop is written for CPython's speed: one function, every counter a local variable
(folded into a :class:`~healthtwin.hospital.tally.Tally` at the warm-up and the end), no
per-event calls on the common path (a patient who finds a bed free), and the rare cascade
of freed beds walked with an explicit stack in the order of the recursive definition
(``leave -> admit the head of the queue -> that patient leaves its blocked bed -> ...``),
so that results equal the SimPy engine's to rounding.

Capacity may change during a run (``capacity_changes``: a unit's beds, and its staffed
beds per hour of the day, from a given time on, as the national planner moves ICU beds).
A unit that shrinks below its occupancy keeps its patients and admits nobody until a bed
is free under the new capacity; one that grows admits from its queue at once. No patient
is moved or lost, so arrivals, discharges, deaths and the patients still inside add up.
"""

from __future__ import annotations

import heapq
import math

import numpy as np

from healthtwin.errors import InvalidParameterError
from healthtwin.hospital.course import ClinicalCourse
from healthtwin.hospital.model import DEATH, CapacityChange, CompiledModel, PatientDraws
from healthtwin.hospital.tally import CourseHook, Tally

__all__ = ["next_discharge_time", "run_fast"]

_END, _HOME, _SHIFT, _WARM, _CAPACITY = 0, 1, 2, 3, 4


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
    *,
    queue_hours: list[float] | None = None,
    capacity_changes: tuple[CapacityChange, ...] = (),
) -> dict[str, float]:
    """Simulate one replication; returns its metrics.

    ``queue_hours`` (one number per unit), when given, is increased by the people-hours
    spent waiting in each unit's bed queue over ``[warmup_hours, horizon_hours]`` (a
    patient blocked in the previous unit counts as waiting; the metrics are unchanged).
    ``capacity_changes`` change a unit's capacity from their time on (module docstring);
    occupancy is still reported as a share of the model's own beds.
    """
    tally = Tally(model)
    occ, area, last = tally.occ, tally.area, tally.last
    wait_sum, wait_n, wait_pos = tally.wait_sum, tally.wait_n, tally.wait_pos
    n_units = len(model.names)
    hook = None
    if course is not None:
        hook = CourseHook(model, draws, course, course_rng or np.random.default_rng(0))
    K = draws.visits
    K1 = K + 1
    path = hook.path if hook else draws.path
    los = hook.los if hook else draws.los_hours
    det = hook.det if hook else draws.deteriorations
    late = hook.late if hook else draws.caught_late
    obs = hook.obs if hook else draws.observations
    prio, origin, arrival = draws.priority, draws.origin_hours, draws.arrival_hours
    is_ed, interval, uses_window = model.is_ed, model.obs_interval, model.uses_window
    cap_by_hour = list(model.cap_by_hour)
    beds_now = list(model.beds)
    window = model.config.discharge_hours
    t4, t12 = model.config.ed_targets_hours
    n = draws.n
    loc, visit = [-1] * n, [0] * n
    req_t, ready, ed_in = [0.0] * n, [0.0] * n, [0.0] * n
    cap = [model.capacity(u, 0) for u in range(n_units)]
    queues: list[list[tuple[int, float, int, int]]] = [[] for _ in range(n_units)]
    push, pop = heapq.heappush, heapq.heappop
    END, HOME, SHIFT, DIED = _END, _HOME, _SHIFT, DEATH
    # ``s`` numbers heap and queue entries (ties in time go first come, first served); a
    # sentinel past the horizon keeps the heap non-empty (every arrival is before it).
    s = 0
    heap: list[tuple[float, int, int, int]] = [(horizon_hours + 1.0, s, _WARM, -1)]
    boarders = 0
    observations = boarding = sojourn_sum = sys_area = sys_last = 0.0
    ed_n = ed_4h = ed_12h = refused = tot_refused = n_det = n_late = sys_n = 0
    # Arrivals, discharges and deaths are counted since the start; the marks are the
    # counts at the end of the warm-up.
    tot_discharged = tot_died = mark_discharged = mark_died = 0
    any_det = hook is not None or any(det)

    for p in range(draws.n_census):
        u = path[p * K1]
        sys_n += 1
        ed_in[p] = origin[p]
        tally.bed(u, 0.0, 1)
        loc[p] = u
        if hook is not None:
            hook.admit(p, 0, u, 0.0)
        s += 1
        push(heap, (los[p * K], s, END, p))
    if warmup_hours > 0:
        s += 1
        push(heap, (warmup_hours, s, _WARM, -1))
    staffed = [u for u in range(n_units) if cap_by_hour[u] is not None]
    if staffed:
        s += 1
        push(heap, (1.0, s, SHIFT, -1))
    for c, change in enumerate(capacity_changes):
        if (change.by_hour is None) != (cap_by_hour[change.unit] is None):
            raise InvalidParameterError(
                f"a capacity change of unit {model.names[change.unit]!r} must keep it "
                f"{'staffed' if cap_by_hour[change.unit] is not None else 'unstaffed'}"
            )
        s += 1
        push(heap, (change.hours, s, _CAPACITY, c))
    div, max_queue, threshold = model.diversion_unit, model.max_queue, model.boarding_threshold
    i = mark_arrived = draws.n_census
    next_arrival = arrival[i] if i < n else math.inf
    hour = 0
    while True:
        if next_arrival <= heap[0][0]:
            p, now = i, next_arrival
            i += 1
            next_arrival = arrival[i] if i < n else math.inf
            v = path[p * K1]
            if v == div and (
                (occ[v] >= cap[v] and len(queues[v]) >= max_queue) or boarders > threshold
            ):
                tot_refused += 1
                refused += 1
                continue
            sys_area += sys_n * (now - sys_last)
            sys_last = now
            sys_n += 1
            req_t[p] = now
            if is_ed[v]:
                ed_in[p] = now
            if occ[v] < cap[v] and not queues[v]:
                area[v] += occ[v] * (now - last[v])
                last[v] = now
                occ[v] += 1
                wait_n[v] += 1
                loc[p] = v
                if hook is not None:
                    hook.admit(p, 0, v, now)
                s += 1
                push(heap, (now + los[p * K], s, END, p))
            else:
                s += 1
                push(queues[v], (prio[p], now, s, p))
            continue
        now, _, kind, p = pop(heap)
        if now > horizon_hours:
            break
        drain: tuple[int, ...] | list[int] = ()
        if kind == END:
            u = loc[p]
            k = visit[p]
            j = p * K + k
            if any_det:
                n_det += det[j]
                n_late += late[j]
            k += 1
            visit[p] = k
            v = path[p * K1 + k]
            if v >= 0:
                if is_ed[u]:
                    boarders += 1
                req_t[p] = now
                if is_ed[v]:
                    ed_in[p] = now
                if occ[v] >= cap[v] or queues[v]:
                    ready[p] = now
                    s += 1
                    push(queues[v], (prio[p], now, s, p))
                    continue
                # A bed is free: move at once (no wait, no boarding) and free the old bed.
                area[v] += occ[v] * (now - last[v])
                last[v] = now
                occ[v] += 1
                wait_n[v] += 1
                loc[p] = v
                if hook is not None:
                    hook.admit(p, k, v, now)
                s += 1
                push(heap, (now + los[j + 1], s, END, p))
                observations += obs[j]
                if is_ed[u]:
                    boarders -= 1
                    h = now - ed_in[p]
                    ed_n += 1
                    if h > t4:
                        ed_4h += 1
                    if h > t12:
                        ed_12h += 1
            elif v == DIED or not uses_window[u]:
                loc[p] = -1
                observations += obs[j]
                if is_ed[u]:
                    h = now - ed_in[p]
                    ed_n += 1
                    if h > t4:
                        ed_4h += 1
                    if h > t12:
                        ed_12h += 1
                sys_area += sys_n * (now - sys_last)
                sys_last = now
                sys_n -= 1
                sojourn_sum += now - origin[p]
                if v == DIED:
                    tot_died += 1
                else:
                    tot_discharged += 1
            else:
                ready[p] = now
                s += 1
                push(heap, (next_discharge_time(now, window), s, HOME, p))
                continue
            area[u] += occ[u] * (now - last[u])
            last[u] = now
            occ[u] -= 1
            if not queues[u] or occ[u] >= cap[u]:
                continue
            drain = (u,)
        elif kind == HOME:
            u = loc[p]
            loc[p] = -1
            waited = now - ready[p]
            observations += obs[p * K + visit[p] - 1] + waited / interval[u]
            if is_ed[u]:
                h = now - ed_in[p]
                ed_n += 1
                if h > t4:
                    ed_4h += 1
                if h > t12:
                    ed_12h += 1
                boarding += waited
            area[u] += occ[u] * (now - last[u])
            last[u] = now
            occ[u] -= 1
            sys_area += sys_n * (now - sys_last)
            sys_last = now
            sys_n -= 1
            sojourn_sum += now - origin[p]
            tot_discharged += 1
            if not queues[u] or occ[u] >= cap[u]:
                continue
            drain = (u,)
        elif kind == SHIFT:
            hour = round(now) % 24
            drain = staffed
            s += 1
            push(heap, (now + 1.0, s, SHIFT, -1))
        elif kind == _CAPACITY:
            change = capacity_changes[p]
            u = change.unit
            beds_now[u], cap_by_hour[u] = change.beds, change.by_hour
            by_hour = cap_by_hour[u]
            cap[u] = beds_now[u] if by_hour is None else by_hour[hour]
            drain = (u,)
        else:
            tally.reset(now)
            sys_area, sys_last = 0.0, now
            observations = boarding = sojourn_sum = 0.0
            ed_n = ed_4h = ed_12h = refused = n_det = n_late = 0
            mark_arrived, mark_discharged, mark_died = i, tot_discharged, tot_died
            continue
        for w0 in drain:
            if kind == SHIFT:
                cap[w0] = cap_by_hour[w0][hour]  # type: ignore[index]
            # Admit from w0's queue while it has beds; each patient admitted frees the bed
            # it was blocking, whose unit admits from its own queue first (depth first).
            stack = [w0]
            while stack:
                w = stack[-1]
                queue = queues[w]
                if not queue or occ[w] >= cap[w]:
                    stack.pop()
                    continue
                q = pop(queue)[3]
                t0 = req_t[q]
                if queue_hours is not None and now > warmup_hours:
                    queue_hours[w] += now - max(t0, warmup_hours)
                area[w] += occ[w] * (now - last[w])
                last[w] = now
                occ[w] += 1
                wait_sum[w] += now - t0
                wait_n[w] += 1
                wait_pos[w] += now > t0
                old = loc[q]
                loc[q] = w
                k = visit[q]
                if hook is not None:
                    hook.admit(q, k, w, now)
                s += 1
                push(heap, (now + los[q * K + k], s, END, q))
                if old < 0:
                    continue
                waited = now - ready[q]
                observations += obs[q * K + k - 1] + waited / interval[old]
                if is_ed[old]:
                    boarders -= 1
                    h = now - ed_in[q]
                    ed_n += 1
                    if h > t4:
                        ed_4h += 1
                    if h > t12:
                        ed_12h += 1
                    boarding += waited
                area[old] += occ[old] * (now - last[old])
                last[old] = now
                occ[old] -= 1
                stack.append(old)
    if queue_hours is not None:
        for u, queue in enumerate(queues):
            for entry in queue:
                queue_hours[u] += max(horizon_hours - max(entry[1], warmup_hours), 0.0)
    discharged, died = tot_discharged - mark_discharged, tot_died - mark_died
    tally.in_system, tally.system_area, tally.system_last = sys_n, sys_area, sys_last
    tally.observations, tally.boarding = observations, boarding
    tally.sojourn_sum, tally.sojourn_n = sojourn_sum, discharged + died
    tally.ed_n, tally.ed_4h, tally.ed_12h = ed_n, ed_4h, ed_12h
    tally.refused, tally.arrived = refused, i - mark_arrived
    tally.discharged, tally.died = discharged, died
    tally.deteriorations, tally.late = n_det, n_late
    tally.totals.update(arrived=i, refused=tot_refused, discharged=tot_discharged, died=tot_died)
    return tally.metrics(horizon_hours)
