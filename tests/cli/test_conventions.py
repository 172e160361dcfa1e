"""One command line, one set of habits: the whole Click tree of ``healthtwin`` is walked.

Every command's help shows an example that starts with ``healthtwin <its path>``; files
are written through ``--out``; the seed is ``--seed`` and replicate counts are
``--replicates`` (older spellings stay as hidden aliases); every command that prints
results takes ``--json`` (one JSON document on stdout, nothing else) and ``--quiet``
(empty stdout, errors still reported with the same exit codes). Exemptions are listed
below with their reason.
"""

from __future__ import annotations

import inspect
import io
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import typer
from tests.conftest import require
from typer.testing import CliRunner

from healthtwin.cli import main
from healthtwin.cli.app import app
from healthtwin.cli.output import (
    Output,
    OutputMode,
    ProgressTask,
    jsonable,
    merge_alias,
    output_for,
)
from healthtwin.hospital.queueing import mmc_mean_wait

EPIESTIM = Path(__file__).resolve().parents[1] / "data" / "epiestim"

#: Commands owned elsewhere or whose output is a running service, with the reason.
EXEMPT_FROM_JSON = {
    "serve": "a long-running server: its output is the address and the development token",
}
EXEMPT_FROM_EXAMPLE: dict[str, str] = {}
#: Example lines wider than the 80-column help panel, in files owned elsewhere.
EXEMPT_FROM_WIDTH: dict[str, str] = {}

#: Commands that write files, and must therefore take ``--out``.
WRITES_FILES = {
    "patient simulate", "patient news2", "patient sync", "patient evaluate",
    "patient recommend", "prognosis train", "prognosis predict", "data export",
    "hospital simulate", "hospital plan", "population rt", "population simulate",
    "population plan", "population chronic", "surveillance detect", "surveillance evaluate",
    "surveillance monitor", "governance cards", "governance fairness", "federation project",
    "synth cohort", "synth impute", "synth fit", "synth sample", "synth report", "run",
    "educate play", "synth trial", "synth pooled-predict", "synth schema",
}  # fmt: skip
#: Spellings of an output location that would compete with ``--out``.
OUTPUT_SYNONYMS = {"--output", "--outdir", "--out-dir", "--output-dir", "--dest", "--to"}
#: Older spellings of a replicate count, accepted only as hidden aliases.
REPLICATE_SYNONYMS = {"--reps", "--replications", "--seeds", "--max-replications"}


def _walk(command: click.Command, path: tuple[str, ...]) -> Iterator[tuple[str, click.Command]]:
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from _walk(sub, (*path, name))
    else:
        yield " ".join(path), command


COMMANDS = list(_walk(typer.main.get_command(app), ()))


def _visible_options(command: click.Command) -> dict[str, click.Option]:
    return {
        opt: param
        for param in command.params
        if isinstance(param, click.Option) and not param.hidden
        for opt in param.opts
    }


def _all_options(command: click.Command) -> set[str]:
    return {opt for param in command.params for opt in getattr(param, "opts", ())}


def test_the_tree_holds_every_scale() -> None:
    groups = {name.split()[0] for name, _ in COMMANDS}
    assert {"patient", "hospital", "population", "surveillance", "synth", "federation"} <= groups
    assert len(COMMANDS) >= 35


@pytest.mark.parametrize("name", [n for n, _ in COMMANDS])
def test_help_has_an_example_command_line(name: str) -> None:
    if name in EXEMPT_FROM_EXAMPLE:
        pytest.skip(EXEMPT_FROM_EXAMPLE[name])
    command = dict(COMMANDS)[name]
    text = inspect.cleandoc(command.help or "") + "\n" + (command.epilog or "")
    assert "Example" in text, f"healthtwin {name} --help has no Example section"
    after = text.split("Example", 1)[1]
    lines = [line.strip() for line in after.splitlines() if line.strip()]
    examples = [line for line in lines if line.startswith(f"healthtwin {name} ")]
    assert examples, f"the example of {name} should be a command line 'healthtwin {name} ...'"
    if name in EXEMPT_FROM_WIDTH:
        return
    # An 80-column help panel wraps longer lines in the middle of an option.
    too_long = [line for line in after.splitlines() if len(line) > 78]
    assert not too_long, f"{name}: example lines over 80 characters: {too_long}"


def test_help_renders_the_example_on_screen() -> None:
    runner = CliRunner()
    contracts = {
        ("synth", "fit"): "healthtwin synth fit --data real.csv --method aim --epsilon 1.0 "
        "--out model/",
        ("federation", "demo"): "healthtwin federation demo --sites 3 --rounds 5 --model cox "
        "--dp-epsilon 2.0",
    }
    for (group, name), line in contracts.items():
        result = runner.invoke(app, [group, name, "--help"], terminal_width=80)
        assert result.exit_code == 0
        assert "Example" in result.output
        assert line in result.output  # the issue's command line, unwrapped at 80 columns


@pytest.mark.parametrize("name", sorted(WRITES_FILES))
def test_commands_that_write_files_take_out(name: str) -> None:
    command = dict(COMMANDS)[name]
    assert "--out" in _visible_options(command), f"{name} writes files but has no --out"


@pytest.mark.parametrize(("name", "command"), COMMANDS)
def test_option_names_are_the_shared_ones(name: str, command: click.Command) -> None:
    visible = set(_visible_options(command))
    assert not visible & OUTPUT_SYNONYMS, f"{name}: use --out, not {visible & OUTPUT_SYNONYMS}"
    assert not visible & REPLICATE_SYNONYMS, (
        f"{name}: replicate counts are --replicates, not {visible & REPLICATE_SYNONYMS}"
    )
    seeds = {opt for opt in visible if "seed" in opt}
    assert seeds <= {"--seed"}, f"{name}: the seed is --seed, not {seeds - {'--seed'}}"


@pytest.mark.parametrize("name", [n for n, _ in COMMANDS])
def test_printing_commands_take_json_and_quiet(name: str) -> None:
    if name in EXEMPT_FROM_JSON:
        pytest.skip(EXEMPT_FROM_JSON[name])
    visible = _visible_options(dict(COMMANDS)[name])
    assert "--json" in visible, f"{name} lacks --json"
    assert "--quiet" in visible, f"{name} lacks --quiet"


def test_exemptions_name_real_commands() -> None:
    names = {n for n, _ in COMMANDS}
    assert set(EXEMPT_FROM_JSON) <= names
    assert set(EXEMPT_FROM_EXAMPLE) <= names
    assert set(EXEMPT_FROM_WIDTH) <= names
    assert names >= WRITES_FILES


def _cheap_commands(tmp_path: Path) -> dict[str, list[str]]:
    """Commands that finish in well under a second each."""
    return {
        "rt": ["population", "rt", "--incidence", str(EPIESTIM / "flu2009_incidence.csv"),
               "--si-mean", "2.6", "--si-sd", "1.5", "--out", str(tmp_path / "rt.csv")],
        "cards": ["governance", "cards"],
        "mmc": ["hospital", "simulate", "--mmc", "9,1,10", "--hours", "2000",
                "--replicates", "2"],
        "project": ["federation", "project", "--out", str(tmp_path / "flower")],
        "server": ["federation", "server", "--ca", "ca.pem", "--cert", "c.pem", "--key",
                   "k.pem", "--dry-run"],
    }  # fmt: skip


def test_json_prints_one_parseable_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    documents = {}
    for label, args in _cheap_commands(tmp_path).items():
        capsys.readouterr()
        assert main([*args, "--json"]) == 0, label
        documents[label] = json.loads(capsys.readouterr().out)  # the whole of stdout
    assert documents["rt"]["windows"] > 0
    assert documents["rt"]["out"] == str(tmp_path / "rt.csv")
    assert any(m["key"].startswith("rt-cori@") for m in documents["cards"]["models"])
    wait = documents["mmc"]["mean_wait_hours"]
    assert wait["low"] <= wait["mean"] <= wait["high"]
    assert wait["erlang_c"] == pytest.approx(float(mmc_mean_wait(10, 9.0, 1.0)))
    assert documents["mmc"]["replicates"] == 2
    assert Path(documents["project"]["out"]).is_file()
    assert documents["server"]["dry_run"] is True
    assert documents["server"]["command"][0].endswith("flower-superlink")


def test_json_before_the_sub_command_applies_too(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--json", "governance", "cards"]) == 0
    assert "models" in json.loads(capsys.readouterr().out)
    assert main(["--quiet", "governance", "cards"]) == 0
    assert capsys.readouterr().out == ""


def test_quiet_prints_nothing_and_keeps_the_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for label, args in _cheap_commands(tmp_path).items():
        capsys.readouterr()
        assert main([*args, "--quiet"]) == 0, label
        captured = capsys.readouterr()
        assert captured.out == "", label
        assert captured.err == "", label
    assert (tmp_path / "rt.csv").stat().st_size > 0


def test_errors_still_reach_stderr_with_their_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "missing.csv")
    for flag in ("--quiet", "--json"):
        capsys.readouterr()
        assert main(["patient", "news2", missing, flag]) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err.startswith("error: ")


def test_news2_json_carries_the_scored_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vitals = tmp_path / "vitals.csv"
    vitals.write_text(
        "patient,respiratory_rate_per_min,spo2_percent,on_oxygen,systolic_bp_mm_hg,"
        "heart_rate_per_min,consciousness,temperature_c\n"
        "A,16,97,air,125,72,A,36.8\nB,24,93,oxygen,98,112,C,38.4\n"
    )
    assert main(["patient", "news2", str(vitals), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [row["news2_total"] for row in document["rows"]] == ["0", "14"]
    assert document["observations"] == 2
    assert sum(document["bands"].values()) == 2


def test_old_spellings_are_hidden_aliases(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["hospital", "simulate", "--mmc", "9,1,10", "--hours", "2000", "--json"]
    assert main([*base, "--replicates", "3"]) == 0
    new = json.loads(capsys.readouterr().out)
    assert main([*base, "--replications", "3"]) == 0
    old = json.loads(capsys.readouterr().out)
    assert new == old
    assert new["replicates"] == 3
    # Both spellings with different values is a usage error, not a silent choice.
    assert main([*base, "--replicates", "4", "--replications", "3"]) == 2


def test_surveillance_evaluate_writes_an_html_report_with_plots(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require("matplotlib", "plot")
    report, table = tmp_path / "evaluation.html", tmp_path / "evaluation.csv"
    args = ["surveillance", "evaluate", "--methods", "cusum", "--reps", "2",
            "--out", str(table), "--report", str(report), "--json"]  # fmt: skip
    assert main(args) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["replicates"] == 2
    fpr = document["summary"]["cusum"]["false_positive_rate"]
    assert 0.0 <= fpr <= 1.0
    page = report.read_text(encoding="utf-8")
    assert "data:image/png;base64," in page
    assert "cusum" in page


# --- the Output object itself -------------------------------------------------------


def test_jsonable_makes_strict_json() -> None:
    np = pytest.importorskip("numpy")
    value = {"x": np.float32(0.5), "bad": [math.nan, -math.inf], 3: np.arange(2)}
    text = json.dumps(jsonable(value), allow_nan=False)
    assert json.loads(text) == {"x": 0.5, "bad": [None, None], "3": [0, 1]}


def test_progress_is_silent_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    for mode in OutputMode:
        with Output(mode).progress("working", total=2) as bar:
            bar.advance()
            bar.describe("still working")
            bar.advance()
        assert bar.completed == 2.0
    captured = capsys.readouterr()
    assert captured.out == captured.err == ""


def test_progress_keeps_stray_prints_off_stdout_for_scripts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with Output(OutputMode.json).progress("library"):
        print("a library talking")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "a library talking" in captured.err


def test_json_wins_over_quiet_and_aliases_merge() -> None:
    assert output_for(json_output=True, quiet=True).mode is OutputMode.json
    assert output_for(quiet=True).mode is OutputMode.quiet
    assert merge_alias(20, None, 20, name="--replicates", old="--reps") == 20
    assert merge_alias(20, 3, 20, name="--replicates", old="--reps") == 3
    with pytest.raises(click.UsageError, match="--replicates"):
        merge_alias(5, 3, 20, name="--replicates", old="--reps")


def test_every_option_is_reachable_by_one_name(tmp_path: Path) -> None:
    """No two parameters of a command share an option string (aliases included)."""
    for name, command in COMMANDS:
        seen: list[str] = []
        for param in command.params:
            seen += list(getattr(param, "opts", ()))
        assert len(seen) == len(set(seen)), name
        assert _all_options(command) >= set(_visible_options(command))


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_on_a_terminal_and_only_for_a_person(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for mode, drawn in ((OutputMode.human, True), (OutputMode.json, False)):
        screen = _Terminal()
        monkeypatch.setattr(sys, "stderr", screen)
        with Output(mode).progress("fitting things", total=3) as bar:
            for _ in range(3):
                bar.advance()
        shown = screen.getvalue()
        assert ("fitting things" in shown) is drawn, mode
        assert ("3/3" in shown) is drawn, mode


def test_warnings_are_silenced_only_by_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    for mode in OutputMode:
        Output(mode).warn("careful")
        captured = capsys.readouterr()
        assert captured.out == ""
        assert ("warning: careful" in captured.err) is (mode is not OutputMode.quiet)


#: The issue's command lines are contracts: they must keep parsing as written.
CONTRACTS = (
    "healthtwin federation demo --sites 3 --rounds 5 --model cox --dp-epsilon 2.0",
    "healthtwin synth fit --data real.csv --method aim --epsilon 1.0 --out model/",
    "healthtwin synth sample --model model/ --n 10000 --format fhir --out DIR",
    "healthtwin synth sample --model model/ --n 10000 --format omop --out DIR",
    "healthtwin synth sample --model model/ --n 10000 --format csv --out DIR",
    "healthtwin synth report --real real.csv --synthetic synth.csv --out report.html",
    "healthtwin synth cohort --spec cohort.yaml --n 1000 --out cohort.parquet",
    "healthtwin synth impute --data incomplete.csv --out completed.csv",
    "healthtwin run examples/local-to-global.yaml --out results/",
    "healthtwin educate play cases/hypoglycaemia.yaml --locale de",
    "healthtwin educate grade session.json",
)


@pytest.mark.parametrize("line", CONTRACTS)
def test_the_issue_command_lines_still_parse(line: str) -> None:
    words = line.split()[1:]
    command: click.Command = typer.main.get_command(app)
    while isinstance(command, click.Group):
        command, words = command.commands[words[0]], words[1:]
    with command.make_context(command.name or "", list(words)) as ctx:
        assert all(not str(v).startswith("--") for v in ctx.params.values())


SMALL_HOSPITAL = (
    "units:\n"
    "  ed: {kind: ed, beds: 10, los_hours: {dist: exponential, mean: 2.0}}\n"
    "  ward: {kind: ward, beds: 40, los_hours: {dist: lognormal, mean: 72.0, cv: 0.8}}\n"
    "arrivals:\n  - {unit: ed, rate_per_hour: [0.4]}\n"
    "pathways:\n  ed: {ward: 0.6, discharge: 0.4}\n  ward: {discharge: 1.0}\n"
)


def test_hospital_simulate_counts_replications_on_its_bar(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bars: list[ProgressTask]
) -> None:
    from healthtwin.hospital import load_hospital_config, simulate

    config = tmp_path / "small.yaml"
    config.write_text(SMALL_HOSPITAL)
    args = ["hospital", "simulate", "--config", str(config), "--days", "5", "--replicates", "3"]
    assert main([*args, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)  # stdout stays one document
    assert [(b.total, b.completed) for b in bars] == [(3, 3.0)]
    # Replication by replication, the run is the engine's own run on the same seed.
    direct = simulate(load_hospital_config(config), days=5, replications=3, seed=0)
    means = {m: jsonable(s.mean) for m, s in direct.summary().items()}
    assert {m: v["mean"] for m, v in document["metrics"].items()} == means
    assert sum(v is not None for v in means.values()) > 10
    assert main([*args, "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.out == captured.err == ""
    assert [(b.total, b.completed) for b in bars[1:]] == [(3, 3.0)]


def test_the_mmc_check_counts_replications_on_its_bar(
    capsys: pytest.CaptureFixture[str], bars: list[ProgressTask]
) -> None:
    args = ["hospital", "simulate", "--mmc", "9,1,10", "--hours", "2000", "--replicates", "4"]
    assert main([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["replicates"] == 4
    assert [(b.total, b.completed) for b in bars] == [(4, 4.0)]


def test_a_person_at_a_terminal_sees_replications_counted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    screen = _Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    args = ["hospital", "simulate", "--mmc", "9,1,10", "--hours", "2000", "--replicates", "3"]
    assert main(args) == 0
    assert "M/M/10" in capsys.readouterr().out
    assert "3/3" in screen.getvalue()


def test_progress_task_update_sets_the_count() -> None:
    with Output(OutputMode.json).progress("counting", total=5) as bar:
        for done in range(1, 6):
            bar.update(done)
    assert (bar.total, bar.completed) == (5, 5.0)
