"""The model both engines run: a config compiled to arrays, and each replication's draws.

Every random quantity that does not depend on congestion is drawn up front, vectorized,
from streams named by replication and component (``hospital/rep3/los/ward``...): arrival
times, triage, the whole route of each patient and each visit's stay, deteriorations and
observation work. Two scenarios that differ only in beds or staff therefore see the very
same patients (common random numbers), and the event loops only do the queueing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from healthtwin.core.random import RandomStreams
from healthtwin.errors import InvalidInputError
from healthtwin.hospital.arrivals import elective_times, thinned_arrivals
from healthtwin.hospital.census import Census
from healthtwin.hospital.config import HospitalConfig

__all__ = [
    "DEATH",
    "DISCHARGE",
    "CapacityChange",
    "CompiledModel",
    "PatientDraws",
    "capacity_change",
    "compile_model",
    "draw_patients",
]

DISCHARGE = -1
DEATH = -2
MAX_VISITS = 16
_WINDOW_KINDS = ("ward", "icu", "step_down")


@dataclass(frozen=True)
class CompiledModel:
    """A :class:`HospitalConfig` as flat tuples indexed by unit number."""

    config: HospitalConfig
    names: tuple[str, ...]
    beds: tuple[int, ...]
    cap_by_hour: tuple[tuple[int, ...] | None, ...]
    obs_interval: tuple[float, ...]
    uses_window: tuple[bool, ...]
    is_ed: tuple[bool, ...]
    hazard_per_hour: tuple[float, ...]
    routes: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]
    step_down_unit: int
    diversion_unit: int
    max_queue: int
    boarding_threshold: int
    nurse_shifts_per_day: int

    def capacity(self, unit: int, hour_of_day: int) -> int:
        """Usable beds in ``unit`` during an hour of the day (beds capped by nurses)."""
        cap = self.cap_by_hour[unit]
        return self.beds[unit] if cap is None else cap[hour_of_day]

    def next_unit(self, unit: int, triage: int, uniform: float) -> int:
        """Where a patient goes after ``unit`` for a uniform draw (``DISCHARGE``, ``DEATH``)."""
        dest, cum = self.routes.get((unit, triage)) or self.routes[(unit, 0)]
        return int(dest[min(int(np.searchsorted(cum, uniform, side="right")), len(dest) - 1)])


def compile_model(config: HospitalConfig) -> CompiledModel:
    """Compile a config once; the result is shared by replications and engines."""
    names = tuple(config.units)
    index = {n: i for i, n in enumerate(names)}
    code = {**index, "discharge": DISCHARGE, "death": DEATH}
    units = [config.units[n] for n in names]
    caps: list[tuple[int, ...] | None] = []
    for u in units:
        if u.staff is None:
            caps.append(None)
        else:
            nurses = u.staff.nurses_at_hour()
            caps.append(tuple(min(u.beds, int(n * u.staff.patients_per_nurse)) for n in nurses))
    routes: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def table(r: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
        dest = np.array([code[d] for d in r], dtype=np.int64)
        return dest, np.cumsum(np.array(list(r.values()), dtype=float))

    for name, r in config.pathways.items():
        routes[(index[name], 0)] = table(r)
    for name, rules in config.triage_pathways.items():
        for triage, r in rules.items():
            routes[(index[name], int(triage))] = table(r)
    step_down = [i for i, u in enumerate(units) if u.kind == "step_down"]
    div = config.diversion
    ed = [i for i, u in enumerate(units) if u.kind == "ed"]
    div_unit = index[div.unit] if div.unit is not None else (ed[0] if ed else -1)
    big = 1 << 60
    return CompiledModel(
        config=config,
        names=names,
        beds=tuple(u.beds for u in units),
        cap_by_hour=tuple(caps),
        obs_interval=tuple(u.observation_interval() for u in units),
        uses_window=tuple(
            config.discharge_hours is not None and u.kind in _WINDOW_KINDS for u in units
        ),
        is_ed=tuple(u.kind == "ed" for u in units),
        hazard_per_hour=tuple(u.deterioration_per_day / 24.0 for u in units),
        routes=routes,
        step_down_unit=step_down[0] if step_down else -1,
        diversion_unit=div_unit,
        max_queue=big if div.max_queue is None else div.max_queue,
        boarding_threshold=big if div.boarding_threshold is None else div.boarding_threshold,
        nurse_shifts_per_day=sum(
            s.nurses for u in units if u.staff is not None for s in u.staff.shifts
        ),
    )


@dataclass(frozen=True)
class CapacityChange:
    """A unit's capacity from ``hours`` on: its beds and, if staffed, usable beds by hour.

    Built from a changed configuration by :func:`capacity_change`.
    """

    hours: float
    unit: int
    beds: int
    by_hour: tuple[int, ...] | None


def capacity_change(hours: float, unit: str, config: HospitalConfig) -> CapacityChange:
    """The capacity ``unit`` has in ``config``, as a change at ``hours`` of another run.

    Examples
    --------
    >>> cfg = HospitalConfig.model_validate({
    ...     "units": {"icu": {"kind": "icu", "beds": 4, "los_hours": {"dist": "fixed", "mean": 9}}},
    ...     "pathways": {"icu": {"discharge": 1.0}}})
    >>> capacity_change(48.0, "icu", cfg.with_capacity("icu", beds=6))
    CapacityChange(hours=48.0, unit=0, beds=6, by_hour=None)
    """
    if not hours >= 0:
        raise InvalidInputError(f"a capacity change needs a time >= 0 hours; got {hours}")
    model = compile_model(config)
    if unit not in model.names:
        raise InvalidInputError(f"no unit {unit!r} to change; units are {list(model.names)}")
    u = model.names.index(unit)
    return CapacityChange(float(hours), u, model.beds[u], model.cap_by_hour[u])


@dataclass(frozen=True)
class PatientDraws:
    """One replication's patients; census patients first, then arrivals in time order.

    Per-visit lists are flat: visit ``k`` of patient ``p`` is at ``p * visits + k``;
    ``path`` has ``visits + 1`` columns (``path[p, k + 1]`` is where visit ``k`` leads).
    """

    n_census: int
    visits: int
    arrival_hours: list[float]
    origin_hours: list[float]
    priority: list[int]
    path: list[int]
    los_hours: list[float]
    deteriorations: list[int]
    caught_late: list[int]
    observations: list[float]
    route_uniform: np.ndarray

    @property
    def n(self) -> int:
        """Patients, census included."""
        return len(self.arrival_hours)


def draw_patients(
    model: CompiledModel,
    horizon_hours: float,
    streams: RandomStreams,
    replication: int,
    census: Census | None = None,
    *,
    full_paths: bool = False,
) -> PatientDraws:
    """Draw every congestion-free random quantity of one replication (vectorized).

    ``full_paths`` keeps room for the longest route (a clinical course may extend routes).
    """
    config = model.config
    index = {n: i for i, n in enumerate(model.names)}

    def rng(name: str) -> np.random.Generator:
        return streams.generator(f"hospital/rep{replication}/{name}")

    entries = census.entries if census is not None else ()
    times = [np.zeros(len(entries))]
    origin = [np.array([-e.elapsed_hours for e in entries])]
    prio = [np.array([e.triage for e in entries], dtype=np.int64)]
    entry = [np.array([_unit(index, e.unit) for e in entries], dtype=np.int64)]
    for k, s in enumerate(config.arrivals):
        t = thinned_arrivals(s, horizon_hours, rng(f"arrivals/{k}"), config.start_weekday)
        mix = np.cumsum(s.triage_mix)
        tri = np.minimum(np.searchsorted(mix, rng(f"triage/{k}").random(t.size), "right"),
                         len(mix) - 1) + 1  # fmt: skip
        times.append(t)
        origin.append(t)
        prio.append(tri)
        entry.append(np.full(t.size, index[s.unit]))
    for e in config.electives:
        t = elective_times(e, horizon_hours, config.start_weekday)
        times.append(t)
        origin.append(t)
        prio.append(np.full(t.size, e.priority))
        entry.append(np.full(t.size, index[e.unit]))
    n_census = len(entries)
    t_all = np.concatenate(times)
    origin_all = np.concatenate(origin)
    prio_all = np.concatenate(prio).astype(np.int64)
    entry_all = np.concatenate(entry).astype(np.int64)
    if sum(t.size > 0 for t in times[1:]) > 1:  # one stream alone is already in time order
        order = np.concatenate(
            [np.arange(n_census), n_census + np.argsort(t_all[n_census:], kind="stable")]
        )
        t_all, origin_all = t_all[order], origin_all[order]
        prio_all, entry_all = prio_all[order], entry_all[order]
    _check_census(model, entry_all[:n_census])
    path, u_route = _routes(model, entry_all, prio_all, rng("routing"), full_paths)
    visits = path.shape[1] - 1
    los = np.zeros((t_all.size, visits))
    for u, name in enumerate(model.names):
        mask = path[:, :visits] == u
        spec = config.units[name].los_hours
        los[mask] = spec.sample(rng(f"los/{name}"), int(mask.sum()))
        first = np.flatnonzero(entry_all[:n_census] == u)
        if first.size:
            elapsed = -origin_all[first]
            los[first, 0] = spec.sample_residual(rng(f"census/{name}"), elapsed)
    hazard = np.append(np.asarray(model.hazard_per_hour), 0.0)
    on_path = np.where(path[:, :visits] >= 0, path[:, :visits], len(model.names))
    if hazard.any():
        det = rng("deterioration").poisson(hazard[on_path] * los)
        late = rng("alerts").binomial(det, 1.0 - config.safety.alert_sensitivity)
        det_list, late_list = det.ravel().tolist(), late.ravel().tolist()
    else:  # Poisson(0) and Binomial(0, p) draw nothing: the streams are left as they are
        det_list, late_list = [0] * los.size, [0] * los.size
    interval = np.append(np.asarray(model.obs_interval), 1.0)
    obs = np.where(path[:, :visits] >= 0, los / interval[on_path], 0.0)
    return PatientDraws(
        n_census=n_census,
        visits=visits,
        arrival_hours=t_all.tolist(),
        origin_hours=origin_all.tolist(),
        priority=prio_all.tolist(),
        path=path.ravel().tolist(),
        los_hours=los.ravel().tolist(),
        deteriorations=det_list,
        caught_late=late_list,
        observations=obs.ravel().tolist(),
        route_uniform=u_route,
    )


def _unit(index: dict[str, int], name: str) -> int:
    if name not in index:
        raise InvalidInputError(f"census: unknown unit {name!r}; units are {sorted(index)}")
    return index[name]


def _check_census(model: CompiledModel, units: np.ndarray) -> None:
    for u, name in enumerate(model.names):
        n = int(np.sum(units == u))
        if n > model.beds[u]:
            raise InvalidInputError(
                f"census: {n} patients in unit {name!r} but it has {model.beds[u]} beds; "
                "fix the census or the config"
            )


def _routes(
    model: CompiledModel,
    entry: np.ndarray,
    triage: np.ndarray,
    rng: np.random.Generator,
    full: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Each patient's sequence of units, shape ``(n, visits + 1)``, and its uniforms.

    Only patients still inside the hospital are routed at each step (their number falls
    fast); a patient who died keeps ``DEATH`` in the later columns routed.
    """
    n = entry.size
    uniforms = rng.random((n, MAX_VISITS))
    path = np.full((n, MAX_VISITS + 1), DISCHARGE, dtype=np.int64)
    path[:, 0] = entry
    special = {u: [t for (v, t) in model.routes if v == u and t] for (u, _) in model.routes}
    tables = sorted(model.routes.items())
    active = np.flatnonzero(entry >= 0)
    dead = np.flatnonzero(entry == DEATH)
    used = 1
    for k in range(MAX_VISITS):
        if not active.size:
            break
        used = k + 2
        everyone = active.size == n
        cur = path[:, k] if everyone else path[active, k]
        tri = triage if everyone else triage[active]
        u_k = None
        nxt = np.full(active.size, DISCHARGE, dtype=np.int64)
        for (u, t), (dest, cum) in tables:
            mask = cur == u
            if t:
                mask &= tri == t
            elif special[u]:
                mask &= ~np.isin(tri, special[u])
            if mask.any():
                if u_k is None:
                    u_k = uniforms[:, k] if everyone else uniforms[active, k]
                pick = np.minimum(np.searchsorted(cum, u_k[mask], "right"), len(dest) - 1)
                nxt[mask] = dest[pick]
        if everyone:
            path[:, k + 1] = nxt
        else:
            path[active, k + 1] = nxt
        dead = np.concatenate([dead, active[nxt == DEATH]]) if (nxt == DEATH).any() else dead
        path[dead, k + 1] = DEATH
        active = active[nxt >= 0]
    if full:
        used = MAX_VISITS + 1
    # A route still inside the hospital after MAX_VISITS visits is sent home.
    path[active, used - 1] = DISCHARGE
    return path[:, :used], uniforms
