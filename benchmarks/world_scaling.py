"""End-to-end wall time and peak memory of the world examples, and how they grow.

Each example scenario of ``examples/`` is run at full size, end to end (epidemic, routing,
hospital simulation, feedback, nation, monitor), timed three times: ``run_world`` alone
(in process) and the whole ``healthtwin run`` (load, run and ``write_outputs``: tables,
figures, report) in process (``--cluster none``) and on the default LocalCluster (one
worker per core; its ``summary.json`` must be byte-identical to the in-process one), and
then the 47-region country is grown along three axes, one at a time (``run_world`` only):

- **regions** (each with its hospital): the first 6, 12, 24 and 47 regions;
- **hospitals** per region: the catchment of every region split over 1, 2 or 4 hospitals
  (each with its share of the region's beds);
- **patient twins**: ``course: twins`` on the hospitals of the first 0, 6, 12 or 24 regions
  (every admitted patient there carries an inflammation twin).

Every case runs in a fresh Python process, so that its peak resident memory
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``, which includes the interpreter and its
imports, about 0.23 GB) is its own; wall and CPU time are measured around ``run_world``
only (CPU time is the steadier figure on a shared machine; the run is single-threaded).
The JSON records the date, the load average at the start and end of the run and the
1-minute load before and after each case (``load_1min``), and for the examples the
largest ended child's peak memory after each command (``children_peak_rss_mib``: 0 in
process, the largest LocalCluster worker after the cluster run; forked workers start
with this process's pages).
There is no peer for a linked world run (no open system does this); the comparison the
issue asks for is the growth itself, reported as time per region, hospital or twin.

Run with ``python -m benchmarks.world_scaling [--quick] [--examples-only]``; writes
``benchmarks/results/world_scaling.json`` (``world_scaling_examples.json`` with
``--examples-only``; nothing in quick mode). ``--write-example PATH``
writes the 47-region example scenario (``examples/country-47-regions.yaml``) from
:func:`country_47`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).resolve().parent / "results" / "world_scaling.json"
EXAMPLES = (
    "city-three-hospitals.yaml",
    "country-47-regions.yaml",
    "local-to-global.yaml",
    "three-countries.yaml",
)
AGE_GROUPS = ["0-19", "20-64", "65+"]
AGE_SHARES = [0.21, 0.59, 0.20]
PATHWAYS = {
    "ward": {"icu": 0.12, "discharge": 0.78, "death": 0.10},
    "icu": {"ward": 0.5, "discharge": 0.1, "death": 0.4},
}
#: How the example file writes :data:`PATHWAYS` (YAML would drop the trailing zero).
PATHWAYS_YAML = (
    "{ward: {icu: 0.12, discharge: 0.78, death: 0.10}, "
    "icu: {ward: 0.5, discharge: 0.1, death: 0.4}}"
)
DISEASE = {
    "r0": 2.2,
    "hospitalised_fraction": [0.003, 0.012, 0.07],
    "ward_death_fraction": [0.003, 0.04, 0.18],
    "icu_death_fraction": [0.05, 0.20, 0.50],
}
#: How the example file writes :data:`DISEASE`, with the comment on where it comes from.
DISEASE_YAML = """\
  # Severity by age band (0-19, 20-64, 65+), illustrative: shaped like COVID-19
  # in-hospital fatality by age (ISARIC CCP-UK, Docherty et al. 2020, BMJ 369:m1985;
  # under 1 % in children: Swann et al. 2020, BMJ 370:m3249), not fitted to any data.
  # icu_fraction and icu_stay_days are left out: they come from the hospitals' pathways
  # (12 % of ward patients reach the ICU), so the hospital fatality is 0.88 x ward + 0.12 x
  # ICU death = 0.9 %, 5.9 % and 21.8 %, and the pathways below (15.7 % overall) match
  # the admission-weighted mean (about 15-16 %).
  disease:
    r0: 2.2
    hospitalised_fraction: [0.003, 0.012, 0.07]
    ward_death_fraction: [0.003, 0.04, 0.18]
    icu_death_fraction: [0.05, 0.20, 0.50]
"""


def _regions(n_regions: int, total_population: float, seed: int) -> list[dict[str, Any]]:
    """Region names, sizes and centroids from the seeded synthetic country generator."""
    from healthtwin.population.demography import synthetic_geography

    g = synthetic_geography(n_regions, total_population=total_population, seed=seed)
    assert g.latitude is not None
    assert g.longitude is not None
    return [
        {
            "name": f"R{i + 1:02d}",
            "population": int(round(float(g.population[i].sum()) / 100) * 100),
            "latitude": round(float(g.latitude[i]), 3),
            "longitude": round(float(g.longitude[i]), 3),
        }
        for i in range(n_regions)
    ]


def _hospital(region: dict[str, Any], share: float, suffix: str) -> dict[str, Any]:
    per_10k = region["population"] * share / 10_000
    return {
        "name": f"H-{region['name']}{suffix}",
        "region": region["name"],
        "catchment_share": share,
        "config": {
            "units": {
                "ward": {
                    "kind": "ward",
                    "beds": max(4, round(2.5 * per_10k)),
                    "los_hours": {"dist": "lognormal", "mean": 150, "cv": 0.8},
                },
                "icu": {
                    "kind": "icu",
                    "beds": max(1, round(0.6 * per_10k)),
                    "los_hours": {"dist": "lognormal", "mean": 190, "cv": 0.9},
                },
            },
            "pathways": PATHWAYS,
        },
    }


def country_47(
    *,
    n_regions: int = 47,
    hospitals_per_region: int = 1,
    twin_regions: int = 0,
    days: int = 90,
    replicates: int = 4,
) -> dict[str, Any]:
    """The 47-region ICU-planning country as a world mapping (see the example file).

    Parameters
    ----------
    n_regions
        Keep the first ``n_regions`` of the 47 regions (with their hospitals).
    hospitals_per_region
        Split each region's catchment (and beds) over this many hospitals.
    twin_regions
        Hospitals of the first ``twin_regions`` regions get ``course: twins``.
    days, replicates
        Horizon and replicates.
    """
    regions = _regions(47, 6_000_000, seed=47)[:n_regions]
    share = 1.0 / hospitals_per_region
    hospitals = []
    for i, region in enumerate(regions):
        for k in range(hospitals_per_region):
            suffix = "" if hospitals_per_region == 1 else f"-{k + 1}"
            h = _hospital(region, share, suffix)
            if i < twin_regions:
                h["patients"] = {"course": "twins"}
            hospitals.append(h)
    big = sorted(regions, key=lambda r: -r["population"])[:2]
    return {
        "name": "country-47-regions",
        "seed": 47,
        "days": days,
        "replicates": replicates,
        "start_date": "2024-10-01",
        "countries": [
            {
                "name": "Utopia",
                "geography": {
                    "age_groups": AGE_GROUPS,
                    "age_shares": AGE_SHARES,
                    "regions": regions,
                },
                "mobility": {"model": "gravity", "commuting_fraction": 0.05},
                "disease": DISEASE,
                "initial_infected": {r["name"]: 40 for r in big},
                "hospitals": hospitals,
                "national": {
                    "days": [d for d in range(28, 85, 7) if d < days],
                    "movable_fraction": 0.5,
                    "objective": "expected",
                },
            }
        ],
        "feedback": {
            "icu_overflow": {
                "p_death_with_care": 0.3,
                "p_death_without_care": 0.9,
                "mean_stay_days": 8,
            }
        },
        "surveillance": {"method": "ears-c1", "lookback_weeks": 1},
        "outputs": {"report": True, "tables": True},
    }


HEADER = """\
# A country of 47 regions (6 million people) planning ICU capacity during a respiratory
# epidemic that starts in its two largest regions. Each region has one hospital (2.5 ward
# and 0.6 ICU beds per 10,000 people); regions mix by a gravity model from their centroids;
# every week from day 28 the national planner re-places up to half of every region's ICU
# beds where the next two weeks' forecast ICU demand is (summary.json reports unmet ICU
# bed-days with and without the reallocation, on the same epidemic). Regions are synthetic and seeded (no data
# package needed). Regenerate this file with:
#   python -m benchmarks.world_scaling --write-example examples/country-47-regions.yaml
# Run it with:  healthtwin run examples/country-47-regions.yaml --out results/
"""  # noqa: E501 (the example's header, byte for byte)


def write_example(path: Path) -> None:
    """Write :func:`country_47` as YAML with the header above.

    The disease (with its comment) and the pathways are written as in
    :data:`DISEASE_YAML` and :data:`PATHWAYS_YAML`, which must read back as
    :data:`DISEASE` and :data:`PATHWAYS`; ``tests/integration/test_country_47.py``
    checks that this writes ``examples/country-47-regions.yaml`` byte for byte.
    """
    if yaml.safe_load(DISEASE_YAML) != {"disease": DISEASE}:
        raise ValueError("DISEASE_YAML does not read back as DISEASE: make them agree")
    if yaml.safe_load(PATHWAYS_YAML) != PATHWAYS:
        raise ValueError("PATHWAYS_YAML does not read back as PATHWAYS: make them agree")
    world = country_47()
    country = world["countries"][0]
    tail = {k: country.pop(k) for k in ("disease", "initial_infected", "hospitals", "national")}
    text = yaml.safe_dump(world, sort_keys=False, width=100, default_flow_style=None)
    body, rest = text.split("feedback:", 1)

    def flow(value: Any) -> str:
        return yaml.safe_dump(value, sort_keys=False, default_flow_style=True, width=10_000).strip()

    pathways = flow(PATHWAYS)
    # One hospital per line: 47 flow mappings read better than 600 lines of blocks.
    lines = [DISEASE_YAML.rstrip("\n")]
    lines.append("  initial_infected: " + flow(tail["initial_infected"]))
    lines.append("  hospitals:")
    lines += ["  - " + flow(h).replace(pathways, PATHWAYS_YAML) for h in tail["hospitals"]]
    national = yaml.safe_dump(tail["national"], sort_keys=False, default_flow_style=None)
    lines.append("  national:")
    lines += ["    " + line for line in national.splitlines()]
    path.write_text(HEADER + body + "\n".join(lines) + "\nfeedback:" + rest, encoding="utf-8")


def measure_case(case: dict[str, Any]) -> dict[str, Any]:
    """Run one case in this process: wall seconds of ``run_world`` and peak RSS (MiB)."""
    from healthtwin.scenarios import load_world, parse_world, run_world

    if "example" in case:
        world = load_world(ROOT / "examples" / case["example"])
    else:
        world = parse_world(country_47(**case["country_47"]))
    if "days" in case:
        world = world.model_copy(update={"days": case["days"], "replicates": case["replicates"]})
    start, cpu = time.perf_counter(), time.process_time()
    result = run_world(world)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    whole = _whole_command(case) if "example" in case else {}
    c = result.countries
    return {
        **case,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        **whole,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "regions": sum(x.epidemic.admissions.shape[2] for x in c),
        "hospitals": sum(len(x.hospitals) for x in c),
        "admissions": int(sum(x.routed.sum() for x in c)),
        "twin_patients": int(
            sum(
                p["patients"]
                for x in c
                for p in x.patients
                if p is not None and p["course"] == "twins"
            )
        ),
    }


def _whole_command(case: dict[str, Any]) -> dict[str, Any]:
    """Seconds of ``healthtwin run EXAMPLE --out TMP``: in process, then on the default
    LocalCluster (one worker per core, forked), with the summaries compared."""
    import os
    import tempfile

    from healthtwin.cli import main as cli
    from healthtwin.scenarios import load_world
    from healthtwin.scenarios.distributed import default_replicates_per_task, world_tasks

    args = ["run", str(ROOT / "examples" / case["example"]), "--quiet"]
    if "days" in case:
        args += ["--days", str(case["days"]), "--replicates", str(case["replicates"])]
    out: dict[str, Any] = {}
    summaries = []
    for where, extra in (("", ["--cluster", "none"]), ("_local_cluster", ["--cluster", "local"])):
        with tempfile.TemporaryDirectory() as folder:
            start, cpu = time.perf_counter(), time.process_time()
            code = cli([*args, *extra, "--out", folder])
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            summaries.append((Path(folder) / "summary.json").read_bytes())
        if code != 0:
            raise RuntimeError(f"healthtwin {' '.join(args + extra)} exited {code}")
        out[f"command_wall_s{where}"] = round(wall, 2)
        out[f"command_cpu_s{where}"] = round(cpu, 2)  # this process only (not the workers)
        # The largest ended child process so far: the LocalCluster's workers (0 before).
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        out[f"children_peak_rss_mib{where}"] = round(children, 1)
    world = load_world(ROOT / "examples" / case["example"])
    slots = os.cpu_count() or 1
    out["local_cluster_workers"] = slots
    out["local_cluster_tasks"] = len(world_tasks(world, default_replicates_per_task(world, slots)))
    out["same_summary"] = summaries[0] == summaries[1]
    return out


def _in_child(case: dict[str, Any]) -> dict[str, Any]:
    code = (
        "import json, sys; from benchmarks.world_scaling import measure_case; "
        "print(json.dumps(measure_case(json.loads(sys.argv[1]))))"
    )
    load_before = os.getloadavg()[0]
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(case)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if out.returncode != 0:
        raise RuntimeError(f"case {case} failed:\n{out.stderr[-3000:]}")
    row: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    # 1-minute load average before and after the case (the machine may be shared).
    row["load_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    print(json.dumps(row), flush=True)
    return row


def cases(quick: bool) -> list[dict[str, Any]]:
    """The examples at full size, then the three growth axes of the 47-region country."""
    size = {"days": 35, "replicates": 1} if quick else {}
    out: list[dict[str, Any]] = [{"axis": "example", "example": e, **size} for e in EXAMPLES]
    for n in (6, 12, 24, 47):
        out.append({"axis": "regions", "country_47": {"n_regions": n, **size}})
    for k in (2, 4):
        out.append({"axis": "hospitals", "country_47": {"hospitals_per_region": k, **size}})
    for t in (6, 12, 24):
        out.append({"axis": "twins", "country_47": {"twin_regions": t, **size}})
    return out


def run(quick: bool = False, examples_only: bool = False) -> dict[str, Any]:
    """Measure every case in its own process; write the JSON (not in quick mode).

    ``examples_only`` measures the examples alone and writes
    ``world_scaling_examples.json`` instead.
    """
    todo = [c for c in cases(quick) if not examples_only or c["axis"] == "example"]
    started, load_start = time.strftime("%Y-%m-%dT%H:%M:%S%z"), os.getloadavg()
    rows = [_in_child(c) for c in todo]
    growth = _growth(rows)
    result: dict[str, Any] = {
        "benchmark": "world runs end to end: wall time and peak memory",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpus": os.cpu_count(),
        "started": started,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        # 1-, 5- and 15-minute load averages at the start and the end of the run.
        "load_average_start": [round(x, 2) for x in load_start],
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "quick": quick,
        "runs": rows,
        "growth": growth,
    }
    if not quick:
        path = OUT.with_name("world_scaling_examples.json") if examples_only else OUT
        path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(growth, indent=2))
    return result


def _growth(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Least-squares CPU seconds per region, per hospital and per twin patient."""
    out = {}
    for axis, key in (
        ("regions", "regions"),
        ("hospitals", "hospitals"),
        ("twins", "twin_patients"),
    ):
        base = [r for r in rows if r["axis"] == "regions" and r["regions"] == 47]
        pts = [r for r in rows if r["axis"] == axis] + (base if axis != "regions" else [])
        if len(pts) >= 2:
            x = np.array([r[key] for r in pts], dtype=float)
            y = np.array([r["cpu_s"] for r in pts])
            if np.ptp(x) > 0:
                out[f"cpu_s_per_{key.rstrip('s')}"] = float(np.polyfit(x, y, 1)[0])
    return out


main = run


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.world_scaling")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--examples-only", action="store_true")
    parser.add_argument("--write-example", type=Path, default=None)
    args = parser.parse_args()
    if args.write_example is not None:
        write_example(args.write_example)
    else:
        run(quick=args.quick, examples_only=args.examples_only)
