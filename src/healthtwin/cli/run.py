"""``healthtwin run WORLD.yaml --out results/``: a world scenario end to end.

Reads and validates the world scenario (errors name the field and its line), runs it
through every scale (:func:`healthtwin.scenarios.run_world`) and writes the results and
the HTML report to ``--out``. By default the countries (or chunks of their replicates,
``--replicates-per-task``) run on a Dask ``LocalCluster`` sized to this machine
(``--workers N``); ``--cluster tcp://host:port`` runs them on an existing Dask cluster and
``--cluster none`` in this process (also the fallback, with a one-line note, when Dask,
the extra ``healthtwin[dask]``, is not installed). The numbers are the same wherever they
run, for the same seed. ``HEALTHTWIN_CLUSTER`` sets the default of ``--cluster``. A
progress bar is drawn on stderr at a terminal; ``--json`` prints the summary as one JSON
document, ``--quiet`` prints nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from healthtwin.cli.output import ClusterOption, JsonOption, QuietOption, WorkersOption, output_for
from healthtwin.scenarios import load_world, run_world, write_outputs
from healthtwin.scenarios.distributed import check_cluster, resolve_cluster
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
    cluster: ClusterOption = None,
    workers: WorkersOption = None,
    replicates_per_task: Annotated[
        int | None,
        typer.Option(
            "--replicates-per-task",
            help="Cut each country's run into tasks of this many replicates (default: "
            "about one task per worker).",
        ),
    ] = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Run a world scenario (epidemic, hospitals, nation, global monitor) and report.

    Writes summary.json, CSV tables per scale and report.html to --out.

    Example:
        healthtwin run examples/local-to-global.yaml --out results/
        healthtwin run examples/three-countries.yaml --workers 3
        healthtwin run examples/city-three-hospitals.yaml --cluster none
        healthtwin run examples/three-countries.yaml --cluster tcp://10.0.0.5:8786
    """
    output = output_for(json_output, quiet)
    where = resolve_cluster(cluster, workers, output.warn)
    check_cluster(where, workers)
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

        result = run_world(
            world,
            cluster=where,
            workers=workers,
            progress=advance,
            replicates_per_task=replicates_per_task,
            # The tasks are known once the cluster says how many workers it has.
            on_steps=lambda total: bar.update(bar.completed, total),
        )
        written = write_outputs(result, out)
    summary = result.summary()
    lines = [str(path) for path in written]
    for warning in summary["warnings"]:
        output.warn(warning)
    band = summary["interval"]["label"]  # the range of few replicates, or a 90 % interval
    for name, country in summary["countries"].items():
        q = country["admissions"]
        lines.append(f"{name}: admissions {q[1]:.0f} [{q[0]:.0f}, {q[2]:.0f}] (median [{band}])")
    if "federation" in summary:
        last = summary["federation"]["rounds"][-1]["metrics"]
        metrics = ", ".join(f"{k} {v:.3f}" for k, v in last.items())
        lines.append(f"federated {summary['federation']['model']} model: {metrics}")
    output.result(summary, *lines)
