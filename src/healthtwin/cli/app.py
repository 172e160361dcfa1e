"""The Typer application and its global options."""

from __future__ import annotations

import inspect
import re
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

#: Each group's ``--help`` ends with a few example command lines (one per line, kept as is).
GROUP_EXAMPLES = {
    "patient": (
        "healthtwin patient news2 vitals.csv --out scored.csv",
        "healthtwin patient sync --data cgm.csv --meals meals.csv --out posterior.csv",
    ),
    "prognosis": (
        "healthtwin prognosis train --data whas500 --model cox --out model/",
        "healthtwin prognosis predict --model model/ --data patients.csv --out risk.csv",
    ),
    "data": (
        "healthtwin data import bundle.json --database sqlite:///healthtwin.db",
        "healthtwin data export --format omop --out omop/",
    ),
    "hospital": (
        "healthtwin hospital simulate --scenario hospital.yaml --days 90 --out run/",
        "healthtwin hospital plan --scenario hospital.yaml --target 'ed_4h_breach<0.05'",
    ),
    "population": (
        "healthtwin population rt --data flu.csv --si-mean 2.6 --si-sd 1.5 --out rt.csv",
        "healthtwin population simulate --scenario scenario.yaml --out projection/",
    ),
    "surveillance": (
        "healthtwin surveillance evaluate --replicates 30 --out evaluation.md",
        "healthtwin surveillance monitor --data weekly_counts.csv --out alarms.json",
    ),
    "governance": (
        "healthtwin governance cards --model rt-cori --format fhir --out rt.json",
        "healthtwin governance verify-audit --database sqlite:///healthtwin.db",
    ),
    "federation": (
        "healthtwin federation demo --sites 3 --rounds 5 --model cox --dp-epsilon 2.0",
        "healthtwin federation project --out flower-app/",
    ),
    "synth": (
        "healthtwin synth cohort --scenario cohort.yaml --n 1000 --out cohort.parquet",
        "healthtwin synth fit --data real.csv --method aim --epsilon 1.0 --out model/",
    ),
    "educate": (
        "healthtwin educate list --locale fr",
        "healthtwin educate play hypoglycaemia --locale de --out session.json",
    ),
}
#: The root's examples: the first commands a newcomer runs.
ROOT_EXAMPLES = (
    "healthtwin serve --demo",
    "healthtwin run examples/city-three-hospitals.yaml --out city/",
    "healthtwin population --help",
)


def examples_epilog(lines: tuple[str, ...]) -> str:
    """An ``Example:`` epilog with one command line per line.

    Typer's rich help joins the lines of an epilog paragraph; each line is therefore a
    paragraph of its own (a blank line between), shown on its own line.

    Examples
    --------
    >>> examples_epilog(("healthtwin serve --demo", "healthtwin --help"))
    'Example:\\n\\n  healthtwin serve --demo\\n\\n  healthtwin --help'
    """
    return "Example:\n\n" + "\n\n".join(f"  {line}" for line in lines)


def reflowed(text: str) -> str:
    """Help text with each paragraph on one line; ``\\b`` blocks, lists and indented lines
    kept as written.

    Typer's rich help keeps a docstring's line breaks and wraps each line at the panel's
    width, so a source line slightly too long would leave a word alone in mid-paragraph.
    One line per paragraph wraps cleanly at any width.

    Examples
    --------
    >>> reflowed("Simulate a hospital.\\n\\nWrites report.html (occupancy\\nand waits).")
    'Simulate a hospital.\\n\\nWrites report.html (occupancy and waits).'
    >>> reflowed("\\b\\nExample:\\n  healthtwin serve --demo")
    '\\x08\\nExample:\\n  healthtwin serve --demo'
    """
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(
        p if p.startswith("\b") or _LIST_ITEM.search(p) else " ".join(p.split()) for p in paragraphs
    )


#: A list item or an indented line (an example block without ``\\b``): kept as written.
_LIST_ITEM = re.compile(r"^(?:\s*(?:[-*]|\d+\.)\s|\s+\S)", re.MULTILINE)


def reflow_help(typer_app: typer.Typer) -> None:
    """Give every command of ``typer_app`` (and its groups) its docstring, reflowed."""
    for info in typer_app.registered_commands:
        if info.help is None and info.callback is not None and info.callback.__doc__:
            info.help = reflowed(info.callback.__doc__)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            reflow_help(group.typer_instance)


app = typer.Typer(
    name="healthtwin",
    help="Digital twins in healthcare, from one patient to the whole world.",
    epilog=examples_epilog(ROOT_EXAMPLES),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_GROUPS = {
    "patient": patient_app,
    "prognosis": prognosis_app,
    "data": data_app,
    "hospital": hospital_app,
    "population": population_app,
    "surveillance": surveillance_app,
    "governance": governance_app,
    "federation": federation_app,
    "synth": synth_app,
    "educate": educate_app,
}
for _name, _group in _GROUPS.items():
    app.add_typer(_group, name=_name, epilog=examples_epilog(GROUP_EXAMPLES[_name]))
app.command("serve")(serve)
app.command("run")(run)
reflow_help(app)


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
