"""The Typer application and its global options."""

from __future__ import annotations

from typing import Annotated

import typer

from healthtwin import __version__
from healthtwin.cli.data import data_app
from healthtwin.cli.educate import educate_app
from healthtwin.cli.federation import federation_app
from healthtwin.cli.governance import governance_app
from healthtwin.cli.hospital import hospital_app
from healthtwin.cli.output import META_JSON, META_QUIET, JsonOption, QuietOption
from healthtwin.cli.patient import patient_app
from healthtwin.cli.population import population_app
from healthtwin.cli.prognosis import prognosis_app
from healthtwin.cli.run import run
from healthtwin.cli.serve import serve
from healthtwin.cli.surveillance import surveillance_app
from healthtwin.cli.synth import synth_app

app = typer.Typer(
    name="healthtwin",
    help="Digital twins in healthcare, from one patient to the whole world.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(patient_app, name="patient")
app.add_typer(prognosis_app, name="prognosis")
app.add_typer(data_app, name="data")
app.add_typer(hospital_app, name="hospital")
app.add_typer(population_app, name="population")
app.add_typer(surveillance_app, name="surveillance")
app.add_typer(governance_app, name="governance")
app.add_typer(federation_app, name="federation")
app.add_typer(synth_app, name="synth")
app.add_typer(educate_app, name="educate")
app.command("serve")(serve)
app.command("run")(run)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"healthtwin {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """healthtwin: model, forecast and decide, from patient to planet.

    --json and --quiet given here apply to the sub-command (see healthtwin.cli.output).
    """
    ctx.meta[META_JSON] = json_output
    ctx.meta[META_QUIET] = quiet
