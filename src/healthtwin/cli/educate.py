"""``healthtwin educate``: play a virtual-patient case in the terminal, grade it, list cases.

``play`` is an interactive loop (vitals, messages and a prompt) in the learner's language
and units; with ``--script FILE`` or piped input it runs the same commands without a
prompt, for tests and automated graders. The session is saved as a locale-free record
(``session.json`` in the current folder unless ``--out`` says otherwise) that ``grade``
replays to check it, then scores, debriefs and exports as xAPI.

A CASE given as a path that does not exist but names a shipped case
(``cases/hypoglycaemia.yaml``, ``hypoglycaemia.yaml``) plays the shipped case, with a note
on stderr, so the command lines of the documentation work from any folder.

Everything a learner reads is in their ``--locale``: the case's messages through the
catalogs, the session's own words (``help``, menus, headings) through
:mod:`healthtwin.education.ui_text`, and a refused move (a dose out of range, a number
typed the wrong way, an action not available yet) through the ``errors`` catalogs
(:mod:`healthtwin.education.learner_errors`), its dose in the learner's units. The command
words themselves (``actions``, ``info``, ``wait``, ``vitals``, ``help``, ``end``) are typed
the same in every language.
"""

from __future__ import annotations

import html
import json
import sys
import time
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from healthtwin.cli.output import JsonOption, Output, QuietOption, output_for
from healthtwin.errors import InvalidInputError, NotFoundError

if TYPE_CHECKING:
    from healthtwin.education.case import Case
    from healthtwin.education.culture import CultureProfile
    from healthtwin.education.debrief import Debrief
    from healthtwin.education.engine import Session
    from healthtwin.education.i18n import Localizer
    from healthtwin.education.record import Message
    from healthtwin.education.scoring import ScoreReport

educate_app = typer.Typer(
    help="Virtual-patient training cases: play, grade, list.", no_args_is_help=True
)

LocaleOption = Annotated[
    str, typer.Option("--locale", help="Learner's locale: en, de, es, fr, zh (or de_DE, en_US).")
]
UnitsOption = Annotated[
    str | None, typer.Option("--units", help="Override the locale's units: si or conventional.")
]
DEFAULT_WAIT_MIN = 5.0


@educate_app.command("list")
def list_command(
    locale: LocaleOption = "en",
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """List the shipped training cases with their titles in the learner's language.

    \b
    Example:
        healthtwin educate list --locale fr
    """
    from healthtwin.education.case import case_ids, load_case
    from healthtwin.education.i18n import Localizer

    loc = Localizer(locale)
    text = _interface(loc)
    rows: list[dict[str, Any]] = []
    lines = [(text["list_id"], text["list_title"])]
    for case_id in case_ids():
        case = load_case(case_id)
        title = loc.gettext(case.title)
        rows.append({"id": case_id, "version": case.version, "title": title})
        lines.append((case_id, title))
    output_for(json_output, quiet).result(
        {"locale": locale, "cases": rows}, *(f"{_padded(a, 26)} {b}" for a, b in lines)
    )


@educate_app.command("play")
def play_command(
    case: Annotated[str, typer.Argument(help="A case file (.yaml) or a shipped case id.")],
    locale: LocaleOption = "en",
    seed: Annotated[
        int,
        typer.Option(
            help="Seed of the virtual patient: 0 is the case's own, another seed another "
            "patient like it (deterministic)."
        ),
    ] = 0,
    speed: Annotated[
        float,
        typer.Option(help="Twin minutes per real second while waiting (0: at once)."),
    ] = 0.0,
    script: Annotated[
        Path | None, typer.Option(help="Commands to run, one a line (no prompt).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Where to write the session record (JSON).")] = Path(
        "session.json"
    ),
    units: UnitsOption = None,
    keep_foreign: Annotated[
        bool, typer.Option(help="Meet the case's original patient, not a local one.")
    ] = False,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Play a case: act, ask, wait; the twin answers in your language and units.

    Type ``help`` at the prompt for the commands. Without a terminal (``--script`` or piped
    input) the commands run without a prompt and any bad line stops with an error naming it.

    \b
    Example:
        healthtwin educate play hypoglycaemia --locale de --out session.json
        printf 'info capillary_glucose\\nwait 2\\ngive_dextrose_iv 15\\nend\\n' \\
            | healthtwin educate play hypoglycaemia --out session.json
    """
    from healthtwin.education.engine import Session
    from healthtwin.education.scoring import score

    if speed < 0:
        raise InvalidInputError(f"--speed must be >= 0 twin minutes per second, got {speed:g}")
    the_case = _load_case_arg(case)
    loc = _localizer(locale, units)
    output = output_for(json_output, quiet)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    engine = Session(the_case, seed, started_at=started)
    player = _Player(engine, loc, _culture(the_case, locale, keep_foreign), output)
    interactive = script is None and sys.stdin.isatty()
    player.speed = speed if interactive and output.human else 0.0
    prompt = "> " if output.human else ""  # --json keeps stdout to one document
    lines = _script_lines(script) if script is not None else _stdin_lines(interactive, prompt)
    player.run(lines, interactive)
    record = player.session.record()
    out.write_text(record.to_json(), encoding="utf-8")
    report = score(the_case, record)
    summary = _score_line(loc, report)
    text = _interface(loc)
    written = "; " + text["session_written"].format(path=out)
    output.result(
        {
            "case_id": the_case.id,
            "locale": locale,
            "seed": seed,
            "ended_min": record.ended_min,
            "messages": player.transcript,
            "score": report.to_dict(),
            "out": str(out),
        },
        summary + written,
    )


@educate_app.command("grade")
def grade_command(
    session: Annotated[Path, typer.Argument(help="A session record written by 'play --out'.")],
    locale: LocaleOption = "en",
    case: Annotated[str | None, typer.Option(help="The case file, if not a shipped case.")] = None,
    units: UnitsOption = None,
    xapi: Annotated[Path | None, typer.Option(help="Write xAPI statements (JSON).")] = None,
    actor: Annotated[
        str, typer.Option(help="Learner's e-mail for xAPI (mailto:...).")
    ] = "mailto:learner@example.org",
    started_at: Annotated[
        str | None, typer.Option(help="When the session started, ISO 8601 (xAPI timestamps).")
    ] = None,
    debrief: Annotated[
        bool, typer.Option("--debrief", help="Replay counterfactuals and the expert pathway.")
    ] = False,
    draws: Annotated[int, typer.Option(help="Patients per debrief variant.")] = 20,
    shift: Annotated[
        list[float] | None,
        typer.Option(help="Debrief shift of each action, minutes (repeat; default -10)."),
    ] = None,
    html_out: Annotated[
        Path | None,
        typer.Option("--report", "--html", help="Write an HTML report (score, debrief, course)."),
    ] = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Score a played session; optionally debrief it and export it as xAPI or HTML.

    \b
    Example:
        healthtwin educate grade session.json --locale zh --debrief \\
            --xapi statements.json --report report.html
    """
    from healthtwin.education.case import load_case
    from healthtwin.education.debrief import debrief as run_debrief
    from healthtwin.education.record import SessionRecord
    from healthtwin.education.scoring import score
    from healthtwin.education.verify import verified_record
    from healthtwin.education.xapi import xapi_statements

    stored = SessionRecord.from_json(_read(session))
    the_case = _load_case_arg(case) if case is not None else load_case(stored.case_id)
    if the_case.version != stored.case_version:
        raise InvalidInputError(
            f"{session} was played on version {stored.case_version} of case "
            f"{stored.case_id!r} but the case is version {the_case.version}; pass --case "
            "with the file it was played on"
        )
    try:
        # Never trust the stored measures: score what the actions actually produce.
        record = verified_record(the_case, stored)
    except InvalidInputError as err:
        raise InvalidInputError(f"{session}: {err}") from err
    loc = _localizer(locale, units)
    text = _interface(loc)
    culture = _culture(the_case, locale, False)
    report = score(the_case, record)
    headline, items = _score_line(loc, report), _item_lines(the_case, loc, report, culture)
    lines = [headline, text["rubric_heading"], *items]
    doc: dict[str, Any] = {"case_id": the_case.id, "locale": locale, "score": report.to_dict()}
    doc["items"] = items
    output = output_for(json_output, quiet)
    found: Debrief | None = None
    if debrief:
        # The debrief counts its replays; its first report sets the bar's total.
        with output.progress(text["debrief_progress"].format(count=draws), total=0) as bar:

            def replayed(done: int, total: int) -> None:
                bar.update(done, total)
                bar.describe(text["debrief_variant"].format(done=done, total=total))

            found = run_debrief(
                the_case,
                record,
                shifts=tuple(shift or (-10.0,)),
                n_draws=draws,
                progress=replayed,
            )
        rendered = [loc.render(m, culture) for m in found.messages]
        lines += ["", text["debrief_report_heading"], *rendered]
        doc["debrief"] = {**found.to_dict(), "rendered": rendered}
    if xapi is not None:
        start = _timestamp(started_at)
        statements = xapi_statements(the_case, record, report, actor_mbox=actor, started_at=start)
        xapi.write_text(json.dumps(statements, indent=2), encoding="utf-8")
        lines.append(text["xapi_written"].format(count=len(statements), path=xapi))
        doc["xapi"] = str(xapi)
    if html_out is not None:
        html_out.write_text(
            _html(the_case, loc, culture, report, headline, items, found), encoding="utf-8"
        )
        lines.append(text["html_written"].format(path=html_out))
        doc["html"] = str(html_out)
    output.result(doc, *lines)


# --- the interactive player --------------------------------------------------------------


@dataclass
class _Player:
    """Runs play commands against a session and prints what comes back."""

    session: Session
    loc: Localizer
    culture: CultureProfile | None
    output: Output
    speed: float = 0.0
    transcript: list[dict[str, Any]] = field(default_factory=list)
    text: dict[str, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.text = _interface(self.loc)

    def run(self, lines: Iterable[tuple[int, str]], interactive: bool) -> None:
        self.show(self.session.start())
        self.show_vitals()
        if interactive:
            self.output.say(self.text["type_help"])
        for number, line in lines:
            if self.session.finished:
                break
            try:
                if not self.command(line):
                    break
            except InvalidInputError as err:
                error = self.error_text(err)
                if not interactive:
                    where = self.text["script_line"]
                    raise InvalidInputError(
                        where.format(number=number, line=repr(line.strip()), error=error)
                    ) from err
                self.output.say(self.text["error_line"].format(error=error))
        if not self.session.finished:
            self.show(self.session.advance(self.session.case.duration_min - self.session.now_min))

    def command(self, line: str) -> bool:
        """Run one command line; False when the learner ends the session."""
        words = line.split()
        if not words or words[0].startswith("#"):
            return True
        verb, args = words[0].lower(), words[1:]
        if verb == "end":
            return False
        if verb in ("help", "?"):
            self.output.say(self.help())
        elif verb == "actions":
            self.output.say(*self.action_menu())
        elif verb == "vitals":
            self.show_vitals()
        elif verb == "wait":
            self.wait(self._number(args[0]) if args else DEFAULT_WAIT_MIN)
        elif verb == "info":
            if args:
                self.show(self.session.request(self._info_id(args[0])))
            else:
                self.output.say(*self.info_menu())
        else:
            action_id = self._action_id(words[0])
            dose = self._number(args[0]) if args else None
            self.show(self.session.act(action_id, dose))
        return True

    def error_text(self, error: InvalidInputError) -> str:
        """What the learner reads of a refused line, in their language and units."""
        from healthtwin.education.learner_errors import LearnerMessageError

        if isinstance(error, LearnerMessageError):
            return self.loc.render_error(error)
        return str(error)

    def help(self) -> str:
        """The ``help`` text: each command with what it does, in the learner's language."""
        t, number = self.text, self.loc.number
        rows = [
            (t["help_act_syntax"], t["help_act"]),
            ("actions", t["help_actions"]),
            ("info", t["help_info_list"]),
            (t["help_info_syntax"], t["help_info"]),
            (t["help_wait_syntax"], t["help_wait"].format(minutes=number(DEFAULT_WAIT_MIN, 0))),
            ("vitals", t["help_vitals"]),
            ("help", t["help_help"]),
            ("end", t["help_end"]),
        ]
        width = max(_width(syntax) for syntax, _ in rows) + 3
        lines = [f"  {_padded(syntax, width)}{what}" for syntax, what in rows]
        note = t["help_note"].format(example=number(2.5, 1))
        return "\n".join([t["help_heading"], *lines, note])

    def wait(self, minutes: float) -> None:
        if minutes <= 0:
            raise InvalidInputError(
                self.text["wait_positive"].format(minutes=self.loc.number(minutes, 1))
            )
        if self.speed <= 0:
            self.show(self.session.advance(minutes))
            self.show_vitals()
            return
        target = min(self.session.now_min + minutes, self.session.case.duration_min)
        while self.session.now_min < target and not self.session.finished:
            step = min(1.0, target - self.session.now_min)
            self.show(self.session.advance(step))
            self.show_vitals()
            time.sleep(step / self.speed)

    def show(self, messages: Iterable[Message]) -> None:
        for m in messages:
            text = self.loc.render(m, self.culture)
            # An action's feedback is its label; its drug and dose are shown beside it.
            extras = [
                self.loc.drug(p.removeprefix("drug:"))
                if isinstance(p, str)
                else self.loc.quantity(p)
                for key, p in m.params.items()
                if m.kind == "feedback" and key in ("drug", "dose") and not isinstance(p, float)
            ]
            if extras and "{" not in m.msgid:
                text += f" ({', '.join(extras)})"
            self.transcript.append({"t_min": m.t_min, "kind": m.kind, "text": text})
            self.output.say(f"[{_clock(m.t_min)}] {_MARK.get(m.kind, '')}{text}")

    def show_vitals(self) -> None:
        from healthtwin.education.scoring import measure_name

        parts = [
            f"{self.loc.gettext(measure_name(m))} {self.loc.quantity(q, m)}"
            for m, q in self.session.vitals().items()
        ]
        line = self.text["monitor_line"].format(vitals=" | ".join(parts))
        self.output.say(f"[{_clock(self.session.now_min)}] {line}")

    def action_menu(self) -> list[str]:
        from healthtwin.education.record import Quantity

        rows = [self.text["actions_menu"]]
        for k, a in enumerate(self.session.available_actions(), start=1):
            text = f"{k:>2}. {a.id:<32} {self.loc.gettext(a.label)}"
            if a.drug is not None:
                text += f" ({self.loc.drug(a.drug)})"
            if a.dose is not None:
                lo, hi = (
                    self.loc.quantity(Quantity(v, a.dose.unit)) for v in (a.dose.min, a.dose.max)
                )
                text += f" [{lo} - {hi}]"
            rows.append(text)
        return rows

    def info_menu(self) -> list[str]:
        return [self.text["info_menu"]] + [
            f"{k:>2}. {i.id:<32} {self.loc.gettext(i.label)}"
            for k, i in enumerate(self.session.available_information(), start=1)
        ]

    def _action_id(self, word: str) -> str:
        actions = self.session.available_actions()
        if word.isdigit():
            k = int(word)
            if not 1 <= k <= len(actions):
                message = self.text["no_action_number"]
                raise InvalidInputError(message.format(number=k, count=len(actions)))
            return actions[k - 1].id
        if word not in {a.id for a in self.session.case.actions}:
            message = self.text["unknown_command"]
            raise InvalidInputError(
                message.format(word=repr(word), actions=[a.id for a in actions])
            )
        return word

    def _info_id(self, word: str) -> str:
        items = self.session.available_information()
        if word.isdigit():
            k = int(word)
            if not 1 <= k <= len(items):
                message = self.text["no_info_number"]
                raise InvalidInputError(message.format(number=k, count=len(items)))
            return items[k - 1].id
        return word

    def _number(self, text: str) -> float:
        return self.loc.parse_number(text)


_MARK = {"result": "> ", "alert": "!! ", "feedback": "* ", "info": "- "}


def _interface(loc: Localizer) -> dict[str, str]:
    from healthtwin.education.ui_text import interface_text

    return interface_text(loc, "terminal")


def _width(text: str) -> int:
    """Columns ``text`` takes in a terminal (wide CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _padded(text: str, width: int) -> str:
    return text + " " * max(1, width - _width(text))


def _clock(t_min: float) -> str:
    whole = round(t_min)
    return f"{whole // 60}:{whole % 60:02d}"


def _script_lines(path: Path) -> Iterator[tuple[int, str]]:
    yield from enumerate(_read(path).splitlines(), start=1)


def _stdin_lines(interactive: bool, prompt: str) -> Iterator[tuple[int, str]]:
    number = 0
    while True:
        number += 1
        try:
            line = input(prompt) if interactive else sys.stdin.readline()
        except EOFError:
            return
        if not interactive and line == "":
            return
        yield number, line


# --- helpers -----------------------------------------------------------------------------


def _load_case_arg(text: str) -> Case:
    """A case from a path or id; a missing path naming a shipped case plays that case."""
    from healthtwin.education.case import case_ids, load_case

    path = Path(text)
    shipped = path.stem if path.suffix in (".yaml", ".yml") else None
    if shipped is not None and not path.exists() and shipped in case_ids():
        print(
            f"note: {text} does not exist here; playing the shipped case {shipped!r}",
            file=sys.stderr,
        )
        return load_case(shipped)
    return load_case(text)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise InvalidInputError(f"{path} does not exist; check the path") from err


def _localizer(locale: str, units: str | None) -> Localizer:
    from healthtwin.education.i18n import Localizer

    return Localizer(locale, units=units)


def _culture(case: Case, locale: str, keep_foreign: bool) -> CultureProfile | None:
    from healthtwin.education.culture import culture_for

    try:
        return culture_for(case, locale, keep_foreign)
    except NotFoundError:
        # A case without cultural profiles reads with neutral words ("the patient").
        return None


def _timestamp(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError as err:
        raise InvalidInputError(
            f"--started-at {text!r} is not an ISO 8601 time; give e.g. 2026-03-01T09:30:00Z"
        ) from err


def _score_line(loc: Localizer, report: ScoreReport) -> str:
    from healthtwin.education.scoring import MSG_FAILED, MSG_PASSED, MSG_SCORE

    verdict = loc.gettext(MSG_PASSED if report.passed else MSG_FAILED)
    return f"{loc.gettext(MSG_SCORE)}: {loc.number(report.total, 0)} / " + (
        f"{loc.number(report.max_total, 0)} ({verdict})"
    )


def _item_lines(
    case: Case, loc: Localizer, report: ScoreReport, culture: CultureProfile | None
) -> list[str]:
    from healthtwin.education.scoring import measure_name

    lines = []
    for item in report.items:
        if item.kind == "death":
            lines.append(f"{'!!':>8}  {loc.render(item.message(), culture)}")
            continue
        if item.kind in ("harm", "final_state"):
            what = loc.gettext(measure_name(item.ref))
        elif item.kind == "information":
            what = loc.gettext(case.info(item.ref).label)
        else:
            what = loc.gettext(case.action(item.ref).label)
        points = f"{loc.number(item.points, 0)}/{loc.number(item.max_points, 0)}"
        lines.append(f"{points:>8}  {what}: {loc.render(item.message(), culture)}")
    return lines


def _html(
    case: Case,
    loc: Localizer,
    culture: CultureProfile | None,
    report: ScoreReport,
    headline: str,
    items: list[str],
    found: Debrief | None,
) -> str:
    from healthtwin.education.debrief import MSG_DEBRIEF

    esc = html.escape
    title = esc(loc.render(_message(case.title), culture))
    rows = "\n".join(f"<li>{esc(line.strip())}</li>" for line in items)
    parts = [
        f'<!doctype html>\n<html lang="{esc(loc.language)}">\n<head><meta charset="utf-8">',
        f"<title>{title}</title></head>\n<body>\n<h1>{title}</h1>",
        f"<p><strong>{esc(headline)}</strong></p>\n<ul>\n{rows}\n</ul>",
    ]
    if found is not None:
        lines = "\n".join(f"<li>{esc(loc.render(m, culture))}</li>" for m in found.messages)
        head = esc(loc.gettext(MSG_DEBRIEF))
        parts.append(f"<h2>{head}</h2>\n<ul>\n{lines}\n</ul>")
    parts.append("</body>\n</html>\n")
    return "\n".join(parts)


def _message(msgid: str) -> Message:
    from healthtwin.education.record import Message

    return Message(msgid)
