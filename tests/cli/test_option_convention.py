"""One naming convention for the options of every command (issue 14).

- the command's one main input table or file is ``--data``;
- a scenario or configuration file is ``--scenario``;
- replicate counts are ``--replicates``, the seed ``--seed``, files written ``--out``,
  and every command that prints results takes ``--json`` and ``--quiet``.

New spellings are added as aliases: an older spelling (``--dataset``, ``--input``,
``--incidence``, ``--observations``, ``--config``, ``--spec``) keeps working, and both
show in ``--help``. :data:`MAIN_INPUT` lists every command, so a new command must be
placed in the table (the test fails otherwise) and cannot slip past the convention.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import typer
from typer.testing import CliRunner

from healthtwin.cli.app import app

#: Each command's main input: ``--data`` (a table or file of data), ``--scenario`` (a
#: scenario or configuration file), ``ARGUMENT`` (a positional argument, the file being
#: the command's whole subject), or ``None`` (no main input: the command generates,
#: serves or administers).
ARGUMENT = "argument"
MAIN_INPUT: dict[str, str | None] = {
    "data export": None,
    "data import": ARGUMENT,
    "educate grade": ARGUMENT,
    "educate list": None,
    "educate play": ARGUMENT,
    "federation demo": "--data",  # a shipped data set's name; --dataset is the old spelling
    "federation project": None,
    "federation server": None,
    "federation site": "--data",
    "governance cards": None,
    "governance decide": None,
    "governance disable": None,
    "governance enable": None,
    "governance fairness": "--data",
    "governance verify-audit": None,
    "hospital plan": "--scenario",
    "hospital simulate": "--scenario",
    "patient evaluate": None,
    "patient news2": ARGUMENT,
    "patient recommend": "--data",
    "patient simulate": None,
    "patient sync": "--data",
    "population chronic": None,
    "population plan": "--scenario",
    "population rt": "--data",
    "population simulate": "--scenario",
    "prognosis predict": "--data",
    "prognosis train": "--data",
    "run": ARGUMENT,
    "serve": None,
    "surveillance detect": "--data",
    "surveillance evaluate": None,
    "surveillance monitor": "--data",
    "synth cohort": "--scenario",
    "synth fill-gaps": "--data",  # CGM series (CSV or a FHIR Bundle)
    "synth fit": "--data",
    "synth impute": "--data",
    "synth report": None,  # two inputs of equal rank: --real and --synthetic
    "synth sample": None,
    "synth trial": "--data",  # the cohort file
    "synth schema": "--data",
    "synth pooled-predict": "--data",  # the folder of imputed copies
}

#: Rows whose convention name is still to come (none: every command has it).
PENDING: set[str] = set()

#: Older spellings of a main input, kept as aliases beside the convention's name.
OLD_SPELLINGS = {
    "--data": {"--dataset", "--input", "--incidence", "--observations"},
    "--scenario": {"--config", "--spec"},
}

#: Commands that print results but have nothing to write (no ``--out``), with why.
NO_OUT = {
    "educate grade": "writes through --xapi and --report/--html, each its own format",
    "educate list": "lists cases",
    "federation server": "starts a SuperLink",
    "federation site": "starts a SuperNode",
    "governance decide": "records a decision in --database",
    "governance disable": "records a switch in --database",
    "governance enable": "records a switch in --database",
    "governance verify-audit": "checks the audit chain in --database",
    "data import": "writes into --database",
    "serve": "a long-running server",
}
#: Commands without ``--json``/``--quiet``, with why.
NO_JSON = {"serve": "a long-running server: its output is the address and a token"}


def _walk(command: click.Command, path: tuple[str, ...]) -> Iterator[tuple[str, click.Command]]:
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from _walk(sub, (*path, name))
    else:
        yield " ".join(path), command


COMMANDS = dict(_walk(typer.main.get_command(app), ()))


def _option(command: click.Command, name: str) -> click.Option | None:
    for param in command.params:
        if isinstance(param, click.Option) and name in param.opts:
            return param
    return None


def test_the_table_lists_every_command_and_no_other() -> None:
    assert set(MAIN_INPUT) == set(COMMANDS)
    assert set(COMMANDS) >= PENDING | set(NO_OUT) | set(NO_JSON)


@pytest.mark.parametrize("name", sorted(MAIN_INPUT))
def test_the_main_input_has_the_convention_name(name: str) -> None:
    command, expected = COMMANDS[name], MAIN_INPUT[name]
    if expected == ARGUMENT:
        assert any(isinstance(p, click.Argument) for p in command.params), name
        return
    if expected is None:
        # No main input: no competing spelling of one either.
        names = {opt for p in command.params for opt in getattr(p, "opts", ())}
        assert not names & OLD_SPELLINGS["--data"], name
        return
    wanted = expected
    if name in PENDING and _option(command, wanted) is None:
        pytest.skip(f"{name}: its {wanted} alias is added by another change (PENDING)")
    option = _option(command, wanted)
    assert option is not None, f"{name}: the main input should be {wanted}"
    assert not option.hidden, f"{name}: {wanted} should show in --help"
    old = set(option.opts) - {wanted}
    assert old <= OLD_SPELLINGS[wanted], f"{name}: unexpected spellings {old} of {wanted}"
    # An old spelling may only live on the main input, not on another parameter.
    for other in OLD_SPELLINGS[wanted] - old:
        assert _option(command, other) is None, f"{name}: {other} competes with {wanted}"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_out_json_and_quiet_exist_where_expected(name: str) -> None:
    command = COMMANDS[name]
    has = {opt for p in command.params if not getattr(p, "hidden", False) for opt in p.opts}
    assert ("--out" in has) is (name not in NO_OUT), f"{name}: --out"
    assert ("--json" in has) is (name not in NO_JSON), f"{name}: --json"
    assert ("--quiet" in has) is (name not in NO_JSON), f"{name}: --quiet"


@pytest.mark.parametrize(
    ("name", "new", "old"),
    [
        ("hospital simulate", "--scenario", "--config"),
        ("hospital plan", "--scenario", "--config"),
        ("synth cohort", "--scenario", "--spec"),
        ("patient recommend", "--data", "--observations"),
        ("federation demo", "--data", "--dataset"),
    ],
)
def test_help_shows_both_spellings(name: str, new: str, old: str) -> None:
    option = _option(COMMANDS[name], new)
    assert option is not None
    assert option.opts[:2] == [new, old]
    result = CliRunner().invoke(app, [*name.split(), "--help"], terminal_width=120)
    assert result.exit_code == 0
    assert f"{new},{old}" in result.output.replace(" ", "")


SMALL_HOSPITAL = (
    "units:\n"
    "  ed: {kind: ed, beds: 10, los_hours: {dist: exponential, mean: 2.0}}\n"
    "arrivals:\n  - {unit: ed, rate_per_hour: [2.0]}\n"
    "pathways:\n  ed: {discharge: 1.0}\n"
)


def _json(args: list[str]) -> dict[str, object]:
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    document: dict[str, object] = json.loads(result.stdout)
    return document


def test_hospital_simulate_reads_its_file_under_both_spellings(tmp_path: Path) -> None:
    config = tmp_path / "hospital.yaml"
    config.write_text(SMALL_HOSPITAL)
    run = ["hospital", "simulate", "--days", "2", "--replicates", "2"]
    old = _json([*run, "--config", str(config)])
    new = _json([*run, "--scenario", str(config)])
    assert old["metrics"] == new["metrics"]
    assert old["config"] == new["config"] == str(config)


def test_synth_cohort_reads_its_spec_under_both_spellings(tmp_path: Path) -> None:
    spec = tmp_path / "cohort.yaml"
    spec.write_text("name: demo\ninclusion: {diabetes: false}\ntargets: {female_fraction: 0.5}\n")
    documents = []
    for flag in ("--spec", "--scenario"):
        out = tmp_path / f"cohort{flag}.csv"
        run = ["synth", "cohort", flag, str(spec), "--n", "30", "--oversample", "2"]
        documents.append(_json([*run, "--out", str(out)]))
        assert out.is_file()
    old, new = documents
    assert old["n"] == new["n"] == 30
    assert old["validation"] == new["validation"]


def test_recommend_reads_its_readings_under_both_spellings(tmp_path: Path) -> None:
    cgm = tmp_path / "cgm.csv"
    cgm.write_text("t_min,glucose_mg_dl\n5,140\n10,142\n15,145\n")
    run = ["patient", "recommend", "--patient", "adult#001", "--meal", "40", "--members", "8",
           "--hours", "1", "--boluses", "0,3"]  # fmt: skip
    old = _json([*run, "--observations", str(cgm)])
    new = _json([*run, "--data", str(cgm)])
    assert old["evidence"] == new["evidence"]
    assert old["evidence"]["observations"] == 3  # type: ignore[index]
    assert old["chosen"] == new["chosen"]
