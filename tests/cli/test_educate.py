"""``healthtwin educate``: scripted play, grading in any locale, xAPI/HTML, clear errors."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from healthtwin.cli import main
from healthtwin.cli.app import app
from healthtwin.cli.educate import _Player, _width
from healthtwin.cli.output import Output, OutputMode
from healthtwin.education.case import load_case
from healthtwin.education.engine import Session
from healthtwin.education.i18n import Localizer
from healthtwin.education.record import SessionRecord
from healthtwin.education.scoring import score

# The hypoglycaemia case's expert pathway, typed as a learner would (numbered menu too):
# 20 g IV glucose, a recheck after it (above 4.0 mmol/L: no repeat), then ~20 g of a
# long-acting carbohydrate; the patient has chronic kidney disease (insulin acts longer),
# so a second recheck finds the glucose drifting down and a second snack follows.
SCRIPT = """# history, then a capillary glucose
info history_nurse
info capillary_glucose
wait 2
1 20
wait 15
info capillary_glucose
wait 3
give_long_acting_carbohydrate 20
wait 12
info capillary_glucose
wait 3
give_long_acting_carbohydrate 20
end
"""

runner = CliRunner()


def _play(tmp_path: Path, locale: str, script: str = SCRIPT) -> tuple[Path, str]:
    commands, out = tmp_path / f"{locale}.txt", tmp_path / f"{locale}.json"
    commands.write_text(script, encoding="utf-8")
    result = runner.invoke(
        app,
        ["educate", "play", "hypoglycaemia", "--locale", locale, "--script", str(commands),
         "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out, result.output


def test_scripted_play_writes_a_record_that_grade_scores(tmp_path: Path) -> None:
    out, text = _play(tmp_path, "en")
    record = SessionRecord.from_json(out.read_text(encoding="utf-8"))
    assert [a.action_id for a in record.actions] == [
        "give_dextrose_iv", "give_long_acting_carbohydrate", "give_long_acting_carbohydrate"
    ]  # fmt: skip
    assert [a.t_min for a in record.actions] == [2.0, 20.0, 35.0]
    assert record.actions[0].dose == 20.0  # "1 20": action number 1 with a dose of 20 g
    assert [r.t_min for r in record.requests if r.info_id == "capillary_glucose"] == [
        0.0, 17.0, 32.0
    ]  # fmt: skip
    assert record.ended_min == 60.0  # "end" lets the twin play on to the case's end
    assert "Capillary glucose: 2" in text
    expected = score(load_case("hypoglycaemia"), record)
    graded = runner.invoke(app, ["educate", "grade", str(out), "--json"])
    assert graded.exit_code == 0, graded.output
    doc = json.loads(graded.output)
    assert doc["score"]["total"] == expected.total == 85
    assert doc["score"]["passed"] is True
    human = runner.invoke(app, ["educate", "grade", str(out)])
    assert "Score: 85 / 85" in human.output


def test_piped_input_plays_without_a_prompt(tmp_path: Path) -> None:
    out = tmp_path / "piped.json"
    result = runner.invoke(
        app, ["educate", "play", "hypoglycaemia", "--out", str(out), "--quiet"], input=SCRIPT
    )
    assert result.exit_code == 0, result.output
    assert result.output == ""
    assert len(SessionRecord.from_json(out.read_text(encoding="utf-8")).actions) == 3


def test_the_same_script_scores_the_same_in_german_and_chinese(tmp_path: Path) -> None:
    en, _ = _play(tmp_path, "en")
    de, de_text = _play(tmp_path, "de")
    zh, zh_text = _play(tmp_path, "zh")
    # The records are identical but for the wall-clock start each play writes.
    docs = [json.loads(p.read_text()) for p in (en, de, zh)]
    assert all(d.pop("started_at") for d in docs)
    assert docs[0] == docs[1] == docs[2]
    totals = set()
    for path, locale in ((de, "de"), (zh, "zh")):
        graded = runner.invoke(app, ["educate", "grade", str(path), "--locale", locale, "--json"])
        totals.add(json.loads(graded.output)["score"]["total"])
    assert totals == {85.0}
    assert "mg/dl" in de_text  # German glucose in mg/dl
    assert "mmol/L" in zh_text


def test_grade_exports_xapi_html_and_a_debrief(tmp_path: Path) -> None:
    out, _ = _play(tmp_path, "en")
    xapi, page = tmp_path / "statements.json", tmp_path / "report.html"
    result = runner.invoke(
        app,
        ["educate", "grade", str(out), "--locale", "fr", "--xapi", str(xapi), "--report", str(page),
         "--started-at", "2026-03-01T09:30:00+00:00", "--debrief", "--draws", "2", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    statements = json.loads(xapi.read_text(encoding="utf-8"))
    assert statements[0]["timestamp"] == "2026-03-01T09:30:00.000Z"
    assert statements[-1]["verb"]["id"].endswith("/passed")
    assert '<html lang="fr">' in page.read_text(encoding="utf-8")
    assert doc["debrief"]["variants"][-1]["id"] == "expert"
    assert len(doc["debrief"]["rendered"]) == len(doc["debrief"]["messages"])
    # --html, the option's first name, still works
    again = tmp_path / "again.html"
    old = runner.invoke(app, ["educate", "grade", str(out), "--html", str(again), "--quiet"])
    assert old.exit_code == 0, old.output
    assert again.read_text(encoding="utf-8").startswith("<!doctype html>")


def test_list_names_the_shipped_cases() -> None:
    result = runner.invoke(app, ["educate", "list", "--json"])
    assert result.exit_code == 0, result.output
    ids = [c["id"] for c in json.loads(result.output)["cases"]]
    assert {"hypoglycaemia", "hyperglycaemia_dka", "septic_shock", "anaesthesia_induction"} <= set(
        ids
    )


@pytest.mark.parametrize("command", ["play", "grade", "list"])
def test_every_command_shows_an_example(command: str) -> None:
    result = runner.invoke(app, ["educate", command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("give_morphine\n", "line 1: 'give_morphine': unknown command or action"),
        ("wait 1\ngive_dextrose_iv 500\n", "line 2: 'give_dextrose_iv 500': The dose 500.0\u00a0g"),
        ("99\n", "no action number 99"),
        ("wait soon\n", "'soon' is not a number"),
    ],
)
def test_bad_play_input_gives_one_clear_line(
    script: str,
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)  # play writes session.json in the working folder
    monkeypatch.setattr("sys.stdin", io.StringIO(script))
    assert main(["educate", "play", "hypoglycaemia", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_german_learners_refused_dose_is_explained_in_german(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("wait 1\ngive_glucagon_im 2,5\n"))
    assert main(["educate", "play", "hypoglycaemia", "--locale", "de", "--quiet"]) == 2
    err = capsys.readouterr().err
    label = Localizer("de").gettext("Give intramuscular glucagon")
    assert label != "Give intramuscular glucagon"
    assert (
        f"Die Dosis 2,5\u00a0mg für „{label}“ liegt außerhalb des erlaubten Bereichs von "
        "0,5\u00a0mg bis 1,0\u00a0mg; geben Sie eine Dosis in diesem Bereich."
    ) in err
    assert "'give_glucagon_im 2,5'" in err  # the line as typed
    assert "outside" not in err
    assert len(err.strip().splitlines()) == 1


def test_an_interactive_learner_reads_refusals_in_their_language(
    capsys: pytest.CaptureFixture[str],
) -> None:
    session = Session(load_case("hypoglycaemia"), seed=0)
    player = _Player(session, Localizer("fr"), None, Output(OutputMode.human))
    player.run(enumerate(["wait 0,5", "give_dextrose_iv 500", "wait abc", "end"], 1), True)
    said = capsys.readouterr().out.splitlines()
    refusals = [line for line in said if line.startswith("erreur")]
    assert len(refusals) == 2
    assert "La dose 500,0\u00a0g pour «\u00a0" in refusals[0]
    assert "«\u00a0abc\u00a0» n'est pas un nombre" in refusals[1]


def test_a_german_learner_types_decimal_commas(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "de.json"
    monkeypatch.setattr("sys.stdin", io.StringIO("give_glucagon_im 0,5\nwait 2,5\nend\n"))
    assert main(["educate", "play", "hypoglycaemia", "--locale", "de", "--quiet",
                 "--out", str(out)]) == 0  # fmt: skip
    record = SessionRecord.from_json(out.read_text(encoding="utf-8"))
    assert record.actions[0].dose == 0.5


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"case_id": "hypoglycaemia"}', "not a healthtwin session record"),
        ("not json at all", "not a healthtwin session record"),
    ],
)
def test_a_malformed_session_file_gives_one_clear_line(
    content: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "session.json"
    bad.write_text(content, encoding="utf-8")
    assert main(["educate", "grade", str(bad)]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_unknown_locale_and_missing_files_are_clear(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["educate", "grade", str(tmp_path / "none.json")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["educate", "list", "--locale", "tlh"]) == 2
    assert "supported locales: en, de, es, fr, zh" in capsys.readouterr().err


def test_interactive_play_paces_waits_and_survives_mistakes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[float] = []
    monkeypatch.setattr("healthtwin.cli.educate.time.sleep", slept.append)
    session = Session(load_case("hypoglycaemia"), seed=0)
    player = _Player(session, Localizer("en"), None, Output(OutputMode.quiet), speed=60.0)
    lines = ["give_morphine", "wait 3", "give_dextrose_iv 15", "end"]
    player.run(enumerate(lines, start=1), interactive=True)
    assert slept == pytest.approx([1 / 60] * 3)  # 3 twin minutes at 60 per second
    assert [a.action_id for a in session.record().actions] == ["give_dextrose_iv"]
    assert session.finished


# --- the session's own words in the learner's language ---------------------------------------

GERMAN_SCRIPT = "help\nactions\ninfo\nvitals\ninfo capillary_glucose\nwait 2\nend\n"
# What an English session prints of its own (none of it may show in a German one).
ENGLISH_INTERFACE = (
    "Commands:",
    "take an action",
    "list the actions",
    "show the monitor",
    "Actions (type the number",
    "Information you may ask for",
    "Monitor:",
    "Score:",
)


def test_a_german_session_prints_german_interface_text(tmp_path: Path) -> None:
    _, en_text = _play(tmp_path, "en", GERMAN_SCRIPT)
    _, text = _play(tmp_path, "de", GERMAN_SCRIPT)
    assert all(english in en_text for english in ENGLISH_INTERFACE)
    # `help` inside the session, in German, the command words unchanged
    assert "Befehle:" in text
    assert "Maßnahme durchführen (Dosis in der angezeigten Einheit" in text
    assert "  wait [Minuten]" in text
    assert "z. B. 2,5." in text
    assert "Maßnahmen (Nummer oder ID eingeben" in text
    assert "Anforderbare Informationen (info und dann Nummer oder ID eingeben):" in text
    assert "Monitoring: Herzfrequenz" in text
    assert "Punktzahl: 0 / 85" in text
    assert "Sitzung gespeichert in" in text
    leftovers = [english for english in ENGLISH_INTERFACE if english in text]
    assert leftovers == []


def test_help_aligns_its_columns_for_wide_characters(tmp_path: Path) -> None:
    _, text = _play(tmp_path, "zh", "help\nend\n")
    rows = [re.match(r"^  (.+?)( {2,})(\S.*)$", line) for line in text.splitlines()]
    found = [row for row in rows if row is not None]
    assert [row.group(1) for row in found][:2] == ["<处置编号或ID> [剂量]", "actions"]
    assert len(found) == 8
    # every description starts in the same terminal column (a CJK character takes two)
    columns = {_width(row.group(1)) + len(row.group(2)) for row in found}
    assert len(columns) == 1


def test_a_bad_line_and_the_grade_report_speak_the_learners_language(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("wait 1\n99\n"))
    assert main(["educate", "play", "hypoglycaemia", "--locale", "fr", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "ligne 2\u00a0: '99'\u00a0: pas d'intervention numéro 99" in err
    out, _ = _play(tmp_path, "en")
    graded = runner.invoke(app, ["educate", "grade", str(out), "--locale", "es"])
    assert graded.exit_code == 0, graded.output
    assert "Criterios de evaluación (puntos / máximo):" in graded.output
    listed = runner.invoke(app, ["educate", "list", "--locale", "de"])
    assert listed.output.splitlines()[0].split() == ["Fall-ID", "Titel"]


# --- the issue's two command lines, from any folder (review fix 3) ----------------------


def test_the_issue_command_lines_work_from_a_fresh_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO(SCRIPT))
    assert main(["educate", "play", "cases/hypoglycaemia.yaml", "--locale", "de"]) == 0
    captured = capsys.readouterr()
    assert "cases/hypoglycaemia.yaml does not exist here" in captured.err
    assert "shipped case 'hypoglycaemia'" in captured.err
    assert "session.json" in captured.out  # says where the record went
    record = SessionRecord.from_json((tmp_path / "session.json").read_text(encoding="utf-8"))
    assert record.case_id == "hypoglycaemia"
    assert record.started_at is not None
    assert main(["educate", "grade", "session.json"]) == 0
    assert "Score: 85 / 85" in capsys.readouterr().out


def test_a_missing_file_that_names_no_shipped_case_is_still_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["educate", "play", "cases/appendicitis.yaml"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "session.json").exists()


def test_grade_refuses_a_tampered_session_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = _play(tmp_path, "en")
    doc = json.loads(out.read_text(encoding="utf-8"))
    doc["actions"] = []  # keep the good measures, drop every action
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(doc), encoding="utf-8")
    assert main(["educate", "grade", str(tampered)]) == 2
    err = capsys.readouterr().err
    assert "does not match a replay of its own actions" in err
    assert len(err.strip().splitlines()) == 1
    assert main(["educate", "grade", str(out)]) == 0


def test_the_seed_chooses_the_virtual_patient(tmp_path: Path) -> None:
    """`--seed`: 0 is the case's own patient, another seed another member, same per seed."""

    def play(seed: int, name: str) -> SessionRecord:
        out = tmp_path / f"{name}.json"
        result = runner.invoke(
            app,
            ["educate", "play", "septic_shock", "--seed", str(seed), "--out", str(out), "--quiet"],
            input="wait 10\nend\n",
        )
        assert result.exit_code == 0, result.output
        return SessionRecord.from_json(out.read_text(encoding="utf-8"))

    own, one, two, again = play(0, "own"), play(1, "one"), play(7, "two"), play(1, "again")
    assert (own.seed, one.seed, two.seed) == (0, 1, 7)
    maps = [r.measures["map_mmhg"] for r in (own, one, two)]
    assert not any(np.allclose(a, b) for k, a in enumerate(maps) for b in maps[k + 1 :])
    np.testing.assert_array_equal(again.measures["map_mmhg"], one.measures["map_mmhg"])
