"""Cell-days per CPU-second of the metapopulation epidemic engines.

A cell is one replicate x region x age group; a cell-day is one cell advanced one day.
Sizes of the issue: 16 age groups, 10 replicates, 365 days, for a 47-region country and
for the world's 3,070 admin-1 regions. Inputs are synthetic and seeded (log-normal region
populations, random coordinates, a gravity mobility matrix with 10 % of residents mixing
elsewhere, random contact matrices in four settings, R0 = 2.5, seeds in every fifth
region), so the benchmark needs no data package. The same run times the planning question
of the issue: ICU demand by region for the next 8 weeks, 10 replicates, 3 scenarios
(no change, contacts -30 %, contacts -50 %), for a 50-million-person country of 47
regions. In the same run the agent-based peer, Starsim's SEIR on a random network with
100,000 agents for 365 days (``benchmarks/starsim_peer.py``; the ``bench`` extra installs
it), is timed in agent-days per CPU-s, and ``abm_estimate_cpu_s`` divides the planning
question's agent-days (50 M people x 56 days x 10 replicates x 3 scenarios) by that measured
rate: what the agent-based peer would need for the same answer (an extrapolation: 50 M agents
do not fit in this machine's memory). Without Starsim installed, the rate falls back to the
3.5-4.3 M agent-days per CPU-s of /work/shared/REFERENCES.md and the JSON says so.
The world run uses the real 3,070 admin-1 regions of ``starsim-data`` (the ``popdata``
extra) with radiation mobility when it is installed, else the synthetic ones.

Run with ``python -m benchmarks.epidemic [--quick]``; writes
``benchmarks/results/epidemic.json`` (not in quick mode).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from healthtwin.population.controls import DayControls, Observed
from healthtwin.population.epidemic import simulate_epidemic
from healthtwin.population.epidemic_parameters import EpidemicParameters
from healthtwin.population.geography import AGE_GROUPS_16, Geography
from healthtwin.population.mixing import SETTINGS, ContactMatrices

OUT = Path(__file__).resolve().parent / "results" / "epidemic.json"
STARSIM_AGENT_DAYS_PER_CPU_S = (3.5e6, 4.3e6)  # REFERENCES.md, Starsim 3.7 SEIR


def synthetic_inputs(
    n_regions: int, total_population: float = 5e7, seed: int = 0
) -> tuple[Geography, ContactMatrices, np.ndarray[Any, Any]]:
    """A seeded synthetic country: geography, contacts and gravity mobility ``(R, R)``."""
    rng = np.random.default_rng(seed)
    sizes = rng.lognormal(0.0, 1.0, n_regions)
    pyramid = np.linspace(1.2, 0.4, len(AGE_GROUPS_16))
    pop = np.rint(np.outer(sizes, pyramid) / (sizes.sum() * pyramid.sum()) * total_population)
    xy = rng.uniform(0.0, 1_000.0, (n_regions, 2))  # km
    geo = Geography(
        regions=tuple(f"region-{i}" for i in range(n_regions)),
        age_groups=AGE_GROUPS_16,
        population=pop,
        latitude=xy[:, 0] / 111.0,
        longitude=xy[:, 1] / 111.0,
    )
    base = rng.uniform(0.1, 1.0, (len(SETTINGS), 16, 16))
    contacts = ContactMatrices(
        settings=SETTINGS, age_groups=AGE_GROUPS_16, matrices=(base + base.transpose(0, 2, 1)) * 1.5
    )
    dist = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1]) + 10.0
    kernel = pop.sum(axis=1)[None, :] / dist**2
    np.fill_diagonal(kernel, 0.0)
    travel = 0.1 * kernel / kernel.sum(axis=1, keepdims=True)
    mobility = travel + np.diag(1.0 - travel.sum(axis=1))
    return geo, contacts, mobility


def measure(
    n_regions: int, days: int, replicates: int = 10, engine: str = "stochastic"
) -> dict[str, Any]:
    """Time one run; cell-days count replicates x regions x 16 ages x days."""
    geo, contacts, mobility = synthetic_inputs(n_regions)
    seeds = {geo.regions[i]: 20.0 for i in range(0, n_regions, 5)}
    params = EpidemicParameters(r0=2.5)
    wall, cpu = time.perf_counter(), time.process_time()
    res = simulate_epidemic(
        geo,
        contacts,
        params,
        days=days,
        replicates=replicates,
        mobility=mobility,
        initial_infected=seeds,
        engine=engine,  # type: ignore[arg-type]
    )
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - wall
    cells = (1 if engine == "ode" else replicates) * n_regions * 16
    return {
        "engine": engine,
        "regions": n_regions,
        "replicates": replicates,
        "days": days,
        "cpu_s": round(cpu, 3),
        "wall_s": round(wall, 3),
        "cell_days_per_cpu_s": round(cells * days / cpu),
        "attack_rate": round(float(res.national("incidence").sum(axis=1).mean() / geo.total()), 4),
    }


def scenario(scale: float, replicates: int, n_regions: int) -> Any:
    """A controller that scales work, school and community contacts by ``scale``."""
    contact = np.full((replicates, n_regions, len(SETTINGS)), scale)
    contact[:, :, SETTINGS.index("home")] = 1.0
    none = DayControls.none(reps=replicates, regions=n_regions, settings=4, ages=16)

    def control(observed: Observed) -> DayControls:
        return DayControls(contact, none.mobility_scale, none.isolation, none.vaccine_doses)

    return None if scale == 1.0 else control


def peer_rate(quick: bool) -> tuple[tuple[float, float], dict[str, Any]]:
    """Starsim's agent-days per CPU-s measured now, or the REFERENCES range without it."""
    try:
        from benchmarks.starsim_peer import starsim_seir

        peer = starsim_seir(n_agents=20_000 if quick else 100_000, days=60 if quick else 365)
    except ImportError:
        return STARSIM_AGENT_DAYS_PER_CPU_S, {"peer": "not installed; REFERENCES.md range used"}
    rate = float(peer["agent_days_per_cpu_s"])
    return (rate, rate), peer


def world_run(days: int) -> dict[str, Any]:
    """The world's admin-1 regions from starsim-data (radiation mobility), or synthetic."""
    try:
        from healthtwin.population.demography import world_admin1_geography
        from healthtwin.population.mixing import synthetic_contacts
        from healthtwin.population.mobility import radiation_mobility

        geo = world_admin1_geography()
    except ImportError:
        row = measure(3_070, days)
        row["geography"] = "synthetic (starsim-data not installed)"
        return row
    keep = geo.population.sum(axis=1) > 0
    lat, lon = geo.latitude, geo.longitude
    assert lat is not None
    assert lon is not None
    geo = Geography(
        regions=tuple(r for r, k in zip(geo.regions, keep, strict=True) if k),
        age_groups=geo.age_groups,
        population=geo.population[keep],
        latitude=lat[keep],
        longitude=lon[keep],
    )
    contacts = synthetic_contacts(geo.age_groups)
    mobility = radiation_mobility(geo, commuting_fraction=0.05)
    seeds = {geo.regions[i]: 20.0 for i in range(0, geo.n_regions, 50)}
    wall, cpu = time.perf_counter(), time.process_time()
    res = simulate_epidemic(
        geo, contacts, EpidemicParameters(r0=2.5), days=days, replicates=10,
        mobility=mobility, initial_infected=seeds,
    )  # fmt: skip
    cpu = time.process_time() - cpu
    return {
        "engine": "stochastic",
        "geography": "world admin-1 regions (starsim-data), radiation mobility 5 %",
        "regions": geo.n_regions,
        "replicates": 10,
        "days": days,
        "cpu_s": round(cpu, 3),
        "wall_s": round(time.perf_counter() - wall, 3),
        "cell_days_per_cpu_s": round(10 * geo.n_regions * 16 * days / cpu),
        "attack_rate": round(float(res.national("incidence").sum(axis=1).mean() / geo.total()), 4),
    }


def planning_question(
    weeks: int = 8,
    replicates: int = 10,
    abm_rate: tuple[float, float] = STARSIM_AGENT_DAYS_PER_CPU_S,
) -> dict[str, Any]:
    """ICU demand by region for ``weeks`` weeks, 10 replicates, 3 scenarios, 50 M people."""
    geo, contacts, mobility = synthetic_inputs(47, total_population=5e7)
    seeds = {geo.regions[i]: 500.0 for i in range(0, 47, 3)}
    params = EpidemicParameters(r0=2.5)
    days = 7 * weeks
    wall, cpu = time.perf_counter(), time.process_time()
    peaks = []
    for scale in (1.0, 0.7, 0.5):
        res = simulate_epidemic(
            geo,
            contacts,
            params,
            days=days,
            replicates=replicates,
            mobility=mobility,
            initial_infected=seeds,
            controller=scenario(scale, replicates, 47),
        )
        peaks.append(float(np.median(res.national("icu_occupancy").max(axis=1))))
    cpu = time.process_time() - cpu
    agent_days = 5e7 * days * replicates * 3
    return {
        "question": f"ICU demand by region, {weeks} weeks, {replicates} replicates, 3 scenarios",
        "population": 5e7,
        "regions": 47,
        "cpu_s": round(cpu, 3),
        "wall_s": round(time.perf_counter() - wall, 3),
        "median_peak_icu_national": [round(p) for p in peaks],
        "abm_agent_days": agent_days,
        "abm_estimate_cpu_s": sorted({round(agent_days / r) for r in abm_rate}),
        "abm_over_ours": round(agent_days / max(abm_rate) / cpu),
    }


def run(quick: bool = False) -> dict[str, Any]:
    """Measure both sizes (and the ODE, and the planning question); write the JSON."""
    days_small, days_world = (60, 5) if quick else (365, 365)
    rows = [
        measure(47, days_small),
        measure(47, days_small, engine="ode"),
        world_run(days_world),
    ]
    rate, peer = peer_rate(quick)
    result: dict[str, Any] = {
        "benchmark": "metapopulation epidemic, cell-days (replicate x region x age) per CPU-s",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "quick": quick,
        "runs": rows,
        "peer": peer,
        "planning": planning_question(weeks=2 if quick else 8, abm_rate=rate),
        "reference_cell_days_per_cpu_s": "2-6 M, vectorised SEIR chain binomial (REFERENCES)",
    }
    if not quick:
        OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


main = run


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.epidemic")
    parser.add_argument("--quick", action="store_true")
    run(quick=parser.parse_args().quick)
