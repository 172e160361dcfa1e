"""``healthtwin run WORLD.yaml --out results/``: a world scenario end to end.

Reads and validates the world scenario (errors name the field and its line), runs it
through every scale (:func:`healthtwin.scenarios.run_world`) and writes the results and
the HTML report to ``--out``. ``--cluster local`` runs the countries on a Dask
``LocalCluster`` (``--workers N`` processes), ``--cluster tcp://host:port`` on an existing
Dask cluster; the numbers are the in-process run's for the same seed. A progress bar is
drawn on stderr at a terminal; ``--json`` prints the summary as one JSON document,
``--quiet`` prints nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from healthtwin.cli.output import JsonOption, QuietOption, output_for
from healthtwin.scenarios import load_world, run_world, write_outputs
from healthtwin.scenarios.distributed import check_cluster
from healthtwin.scenarios.world import parse_world

__all__ = ["run"]


def run(
    scenario: Annotated[Path, typer.Argument(help="World scenario YAML file.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the results.")] = Path("results"),
    seed: Annotated[
        int | None, typer.Option("--seed", help="Override the scenario's seed.")
    ] = None,
    replicates: Annotated[
        int | None, typer.Option("--replicates", help="Override the number of replicates.")
    ] = None,
    days: Annotated[int | None, typer.Option("--days", help="Override the horizon.")] = None,
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster",
            help="Run on Dask: 'local' (a LocalCluster here) or a scheduler address "
            "'tcp://host:port'. Default: in this process.",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="Workers of --cluster local (default: Dask's choice)."),
    ] = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Run a world scenario (epidemic, hospitals, nation, global monitor) and report.

    Writes summary.json, CSV tables per scale and report.html to --out.

    Example:
        healthtwin run examples/local-to-global.yaml --out results/
        healthtwin run examples/three-countries.yaml --cluster local --workers 3
    """
    output = output_for(json_output, quiet)
    check_cluster(cluster, workers)
    world = load_world(scenario)
    update = {
        k: v
        for k, v in {"seed": seed, "replicates": replicates, "days": days}.items()
        if v is not None
    }
    if update:
        # Validated like the file (a one-line error naming the option's field, exit 2).
        world = parse_world(
            {**world.model_dump(), **update, "base_dir": world.base_dir},
            source=f"{scenario} with --{' --'.join(update)}",
        )
    steps = len(world.countries) + (world.federation is not None)
    with output.progress(f"running {world.name}", total=steps) as bar:

        def advance(step: str) -> None:
            bar.describe(f"{world.name}: {step} done")
            bar.advance()

        result = run_world(world, cluster=cluster, workers=workers, progress=advance)
        written = write_outputs(result, out)
    summary = result.summary()
    lines = [str(path) for path in written]
    for name, country in summary["countries"].items():
        q = country["admissions"]
        lines.append(f"{name}: admissions {q[1]:.0f} [{q[0]:.0f}, {q[2]:.0f}] (median [5 %, 95 %])")
    if "federation" in summary:
        last = summary["federation"]["rounds"][-1]["metrics"]
        metrics = ", ".join(f"{k} {v:.3f}" for k, v in last.items())
        lines.append(f"federated {summary['federation']['model']} model: {metrics}")
    output.result(summary, *lines)
