"""The same model in SimPy (Müller & Vignaux): patients as processes, beds as resources.

Beds are ``simpy.PriorityResource``s (requests ordered by triage, then time); a patient
requests the next unit's bed while still holding the current one (blocking); a nurse
roster lowers a unit's usable beds by holding top-priority "blocker" requests. Draws,
outputs and rules are those of :mod:`healthtwin.hospital.engine_fast`, so the two agree in
distribution (checked by a test) and the benchmark compares like with like.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from healthtwin.hospital.course import ClinicalCourse
from healthtwin.hospital.engine_fast import next_discharge_time
from healthtwin.hospital.model import DEATH, CompiledModel, PatientDraws
from healthtwin.hospital.tally import CourseHook, Tally

__all__ = ["run_simpy"]

Proc = Generator[simpy.Event, Any, None]


def run_simpy(
    model: CompiledModel,
    draws: PatientDraws,
    horizon_hours: float,
    warmup_hours: float = 0.0,
    course: ClinicalCourse | None = None,
    course_rng: np.random.Generator | None = None,
) -> dict[str, float]:
    """Simulate one replication with SimPy; returns its metrics."""
    env = simpy.Environment()
    tally = Tally(model)
    hook = None
    if course is not None:
        hook = CourseHook(model, draws, course, course_rng or np.random.default_rng(0))
    K = draws.visits
    path = hook.path if hook else draws.path
    los = hook.los if hook else draws.los_hours
    det = hook.det if hook else draws.deteriorations
    late = hook.late if hook else draws.caught_late
    obs = hook.obs if hook else draws.observations
    n_units = len(model.names)
    beds = [simpy.PriorityResource(env, capacity=max(model.beds[u], 1)) for u in range(n_units)]
    blockers: list[list[simpy.resources.resource.PriorityRequest]] = [[] for _ in beds]
    boarders = [0]
    window = model.config.discharge_hours

    def patient(p: int, census: bool) -> Proc:
        u = path[p * (K + 1)]
        ed_in = draws.origin_hours[p] if census else env.now
        req = beds[u].request(priority=draws.priority[p])
        yield req
        if not census:
            tally.waited(u, env.now - draws.arrival_hours[p])
        tally.bed(u, env.now, 1)
        k = 0
        while True:
            if hook is not None:
                hook.admit(p, k, u, env.now)
            i = p * K + k
            yield env.timeout(los[i])
            tally.deteriorations += det[i]
            tally.late += late[i]
            ready = env.now
            k += 1
            nxt = path[p * (K + 1) + k]
            if nxt < 0:
                break
            if model.is_ed[u]:
                boarders[0] += 1
            asked = env.now
            new = beds[nxt].request(priority=draws.priority[p])
            yield new
            tally.waited(nxt, env.now - asked)
            tally.bed(nxt, env.now, 1)
            if model.is_ed[nxt]:
                ed_in = env.now
            if model.is_ed[u]:
                boarders[0] -= 1
            leave(p, u, i, ready, ed_in, req)
            u, req = nxt, new
        if nxt != DEATH and model.uses_window[u]:
            delay = next_discharge_time(env.now, window) - env.now
            if delay > 0:
                yield env.timeout(delay)
        leave(p, u, i, ready, ed_in, req)
        tally.departed(env.now, draws.origin_hours[p], nxt)

    def leave(
        p: int,
        u: int,
        i: int,
        ready: float,
        ed_in: float,
        req: simpy.resources.resource.PriorityRequest,
    ) -> None:
        now = env.now
        tally.observations += obs[i] + (now - ready) / model.obs_interval[u]
        if model.is_ed[u]:
            tally.left_ed(now - ed_in, now - ready)
        tally.bed(u, now, -1)
        beds[u].release(req)

    def patient_queue(u: int) -> int:
        return len(beds[u].queue) - sum(1 for b in blockers[u] if not b.triggered)

    def arrivals() -> Proc:
        div = model.diversion_unit
        for p in range(draws.n_census, draws.n):
            delay = draws.arrival_hours[p] - env.now
            if delay > 0:
                yield env.timeout(delay)
            tally.totals["arrived"] += 1
            tally.arrived += 1
            entry = path[p * (K + 1)]
            if entry == div:
                res = beds[entry]
                full = res.count >= res.capacity and patient_queue(entry) >= model.max_queue
                if full or boarders[0] > model.boarding_threshold:
                    tally.totals["refused"] += 1
                    tally.refused += 1
                    continue
            tally.system(env.now, 1)
            env.process(patient(p, False))

    def roster(u: int) -> Proc:
        res, mine = beds[u], blockers[u]
        while True:
            target = res.capacity - model.capacity(u, round(env.now) % 24)
            while len(mine) < target:
                mine.append(res.request(priority=-1))
            while len(mine) > target:
                b = mine.pop()
                if b.triggered:
                    res.release(b)
                else:
                    b.cancel()
            if model.cap_by_hour[u] is None:
                return
            yield env.timeout(1.0)

    def warm_up() -> Proc:
        yield env.timeout(warmup_hours)
        tally.reset(env.now)

    for p in range(draws.n_census):
        tally.totals["arrived"] += 1
        tally.system(0.0, 1)
        env.process(patient(p, True))
    for u in range(n_units):
        if model.cap_by_hour[u] is not None or model.beds[u] == 0:
            env.process(roster(u))
    env.process(arrivals())
    if warmup_hours > 0:
        env.process(warm_up())
    env.run(until=horizon_hours)
    return tally.metrics(horizon_hours)
