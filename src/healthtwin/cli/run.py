"""``healthtwin run WORLD.yaml --out results/``: a world scenario end to end.

Reads and validates the world scenario (errors name the field and its line), runs it
through every scale (:func:`healthtwin.scenarios.run_world`) and writes the results and
the HTML report to ``--out``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from healthtwin.scenarios import load_world, run_world, write_outputs

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
) -> None:
    """Run a world scenario (epidemic, hospitals, nation, global monitor) and report."""
    world = load_world(scenario)
    update = {
        k: v
        for k, v in {"seed": seed, "replicates": replicates, "days": days}.items()
        if v is not None
    }
    if update:
        world = type(world).model_validate(
            {**world.model_dump(), **update, "base_dir": world.base_dir}
        )
    result = run_world(world)
    for path in write_outputs(result, out):
        typer.echo(str(path))
    summary = result.summary()
    for name, country in summary["countries"].items():
        q = country["admissions"]
        typer.echo(f"{name}: admissions {q[1]:.0f} [{q[0]:.0f}, {q[2]:.0f}] (median [5 %, 95 %])")
