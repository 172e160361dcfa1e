"""The interface a learner reads around a case, as message ids for the gettext catalogs.

The cases, the engine, the scoring and the debrief carry their own messages; this module
holds the rest of what a learner reads: the words of the web page (headings, labels,
captions, table headers, buttons), of its script (dose labels, the clock, the score line,
the debrief's variant names, error prefixes) and of the terminal session of
``healthtwin educate`` (the ``help`` text, menus, prompts and report headings).

Every text is an English message id marked with :func:`~healthtwin.education.i18n.N_`,
so that ``scripts/extract_education_messages.py`` puts it in the catalogs, and is known to
the faces by a key. Keys are unique across the three faces (:data:`FACES`): ``page`` for
the template ``dashboard/templates/education.html`` (``{{ t.<key> }}``), ``script`` for
``dashboard/static/education.js`` (``text("<key>")``), ``terminal`` for
``cli/educate.py`` (``self.text["<key>"]``). Values inserted into a text are named
placeholders (``{minutes}``) that every translation keeps. :func:`interface_text` gives
the texts of one face, or of all, in a learner's language.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from healthtwin.education.i18n import N_, Localizer
from healthtwin.errors import InvalidInputError

__all__ = ["FACES", "PAGE_TEXT", "SCRIPT_TEXT", "TERMINAL_TEXT", "interface_text"]

#: The web page (``education.html``): start form, monitor, log, actions, time, score.
PAGE_TEXT: Final[Mapping[str, str]] = MappingProxyType(
    {
        "title_start": N_("Education"),
        "title_session": N_("Training session"),
        # the start form
        "start_heading": N_("Start a training case"),
        "start_summary": N_(
            "A virtual patient whose physiology answers every action, in your language and units."
        ),
        "language_label": N_("Language"),
        "case_label": N_("Case"),
        "seed_label": N_("Patient (seed)"),
        "foreign_label": N_("Keep the case's original patient"),
        "start_button": N_("Start case"),
        # playing
        "vitals_heading": N_("Monitor"),
        "vitals_caption": N_("Vital signs now, in your units"),
        "measure_header": N_("Measure"),
        "value_header": N_("Value"),
        "plot_label": N_("Vital signs and results over the case's minutes"),
        "log_heading": N_("What happens"),
        "actions_heading": N_("Actions"),
        "info_heading": N_("Ask, examine, investigate"),
        "time_heading": N_("Time"),
        "advance_1_button": N_("Advance 1 min"),
        "advance_5_button": N_("Advance 5 min"),
        "debrief_label": N_("Debrief at the end"),
        "draws_label": N_("Patients per debrief variant"),
        "end_button": N_("Finish case"),
        # the score and the debrief
        "score_heading": N_("Score"),
        "score_caption": N_("Rubric items and the points earned"),
        "item_header": N_("Item"),
        "result_header": N_("Result"),
        "points_header": N_("Points"),
        "most_header": N_("Most"),
        "debrief_heading": N_("Debrief: what would have happened"),
        "debrief_caption": N_(
            "Score and outcome bands (5 %, 50 %, 95 % of the patients drawn) for each variant"
        ),
        "variant_header": N_("Variant"),
        "score_band_header": N_("Score (5–50–95 %)"),
        "outcomes_header": N_("Outcomes (5–50–95 %)"),
    }
)

#: What ``education.js`` writes: values arrive as ``{placeholders}`` it fills in.
SCRIPT_TEXT: Final[Mapping[str, str]] = MappingProxyType(
    {
        "dose_label": N_("Dose"),
        "turnaround": N_("result in {minutes} min"),
        "clock": N_("Minute {now} of {total}"),
        "patient_died": N_("The patient has died."),
        "case_ended": N_("The case has ended."),
        "passed_total": N_("Passed: {total} / {max_total} points (pass mark {pass_mark})"),
        "failed_total": N_("Not passed: {total} / {max_total} points (pass mark {pass_mark})"),
        "finishing": N_("Playing the case to its end…"),
        "finishing_debrief": N_("Playing the case to its end and replaying alternatives…"),
        "debrief_job_progress": N_("Replaying alternatives for the debrief: {percent} done…"),
        "debrief_stopped": N_("The debrief did not finish ({status}). {detail}"),
        "minutes_axis": N_("minutes since the start"),
        "request_failed": N_("Request failed ({status}): {detail}"),
        "unreachable": N_("The server cannot be reached: {detail}"),
        # the debrief's variants (ids: played, shift:<k>:<minutes>, without:<k>, expert)
        "variant_played": N_("As played"),
        "variant_earlier": N_("Action {number} {minutes} min earlier"),
        "variant_later": N_("Action {number} {minutes} min later"),
        "variant_without": N_("Without action {number}"),
        "variant_expert": N_("Expert pathway"),
    }
)

#: The terminal session of ``healthtwin educate play`` and the output of ``grade``/``list``.
#: The command words (``actions``, ``info``, ``wait``, ...) are typed as they are in every
#: language; their descriptions and the placeholders in their syntax are translated.
TERMINAL_TEXT: Final[Mapping[str, str]] = MappingProxyType(
    {
        "help_heading": N_("Commands:"),
        "help_act_syntax": N_("<action id or number> [dose]"),
        "help_act": N_("take an action (dose in the unit shown; default if omitted)"),
        "help_actions": N_("list the actions, numbered"),
        "help_info_list": N_("list the information you may ask for, numbered"),
        "help_info_syntax": N_("info <id or number>"),
        "help_info": N_("ask for it (lab results arrive after their turnaround)"),
        "help_wait_syntax": N_("wait [minutes]"),
        "help_wait": N_("let twin time pass (default {minutes})"),
        "help_vitals": N_("show the monitor"),
        "help_help": N_("this text"),
        "help_end": N_("finish: the twin plays on to the case's end without you"),
        "help_note": N_(
            "Type the commands as shown; numbers in your language's format, e.g. {example}."
        ),
        "type_help": N_("Type 'help' for the commands."),
        "error_line": N_("error: {error}"),
        "monitor_line": N_("Monitor: {vitals}"),
        "actions_menu": N_("Actions (type the number or the id, then a dose if you wish):"),
        "info_menu": N_("Information you may ask for (type info, then the number or the id):"),
        "no_action_number": N_("no action number {number}; choose 1-{count}"),
        "unknown_command": N_(
            "unknown command or action {word}; actions are {actions} (type 'help' for the commands)"
        ),
        "no_info_number": N_("no information number {number}; choose 1-{count}"),
        "wait_positive": N_("wait needs a positive number of minutes, got {minutes}"),
        "script_line": N_("line {number}: {line}: {error}"),
        "session_written": N_("session written to {path}"),
        "list_id": N_("Case id"),
        "list_title": N_("Title"),
        "rubric_heading": N_("Rubric items (points / most):"),
        "debrief_report_heading": N_("Debrief: what would have happened"),
        "debrief_progress": N_("debrief on {count} patients"),
        "debrief_variant": N_("debrief: variant {done}/{total}"),
        "xapi_written": N_("xAPI: {count} statements written to {path}"),
        "html_written": N_("HTML report written to {path}"),
    }
)

#: The faces and their texts; keys are unique across faces.
FACES: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {"page": PAGE_TEXT, "script": SCRIPT_TEXT, "terminal": TERMINAL_TEXT}
)


def interface_text(localizer: Localizer, face: str | None = None) -> dict[str, str]:
    """The interface texts by key, in the localizer's language.

    Parameters
    ----------
    localizer : Localizer
        The learner's localizer (only its language is used).
    face : {"page", "script", "terminal"}, optional
        One face's texts; all of them when omitted.

    Returns
    -------
    dict of str to str
        Key -> translated text (English where a catalog lacks the id); placeholders such as
        ``{minutes}`` are left for the face to fill.

    Raises
    ------
    InvalidInputError
        If ``face`` is not one of :data:`FACES`.

    Examples
    --------
    >>> interface_text(Localizer("de"), "page")["end_button"]
    'Fall beenden'
    >>> interface_text(Localizer("en"))["turnaround"].format(minutes=30)
    'result in 30 min'
    """
    if face is None:
        chosen = [text for texts in FACES.values() for text in texts.items()]
    elif face in FACES:
        chosen = list(FACES[face].items())
    else:
        raise InvalidInputError(
            f"no interface face {face!r}; faces are {sorted(FACES)} (or None for all)"
        )
    return {key: localizer.gettext(msgid) for key, msgid in chosen}
