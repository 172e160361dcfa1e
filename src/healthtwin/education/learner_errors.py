"""Errors a learner reads: a message id of the ``errors`` catalogs plus its parameters.

A dose out of range, a wait that is not positive, an action not available yet, a session
that has ended: the engine (:mod:`healthtwin.education.engine`), the localizer's number
parser and the faces raise these as a :class:`LearnerError` (an
:class:`~healthtwin.errors.InvalidInputError`, so every caller that catches that keeps
working) or a :class:`LearnerConflictError` (a :class:`~healthtwin.errors.ConflictError`).
Each carries

- ``msgid``: an English message id of the gettext domain ``errors``
  (``education/locale/errors.pot``, translated in ``<lang>/LC_MESSAGES/errors.po``),
  one of :data:`LEARNER_MESSAGES`;
- ``params``: the values its ``{placeholders}`` take, typed as in a
  :class:`~healthtwin.education.record.Message` (a dose is a canonical
  :class:`~healthtwin.education.record.Quantity`, a minute a number, a label an English
  message id of the default domain), so that
  :meth:`~healthtwin.education.i18n.Localizer.render_error` writes them in the learner's
  language, units and number format;

while ``str(error)`` stays the English sentence for logs and developers. The error
catalogs are kept apart from the cases' catalogs; :func:`error_catalog_files` gives the
text each catalog file should have (``python -m healthtwin.education.learner_errors``
writes them, keeping every translation).

Examples
--------
>>> from healthtwin.education.record import Quantity
>>> err = LearnerError(ERR_MINUTES_NOT_POSITIVE, {"minutes": -2.0})
>>> str(err), isinstance(err, InvalidInputError)
('The minutes to wait must be a positive number, got -2.', True)
>>> err.plain_params()
{'minutes': -2.0}
"""

from __future__ import annotations

import io
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from healthtwin.education.record import Message, Quantity
from healthtwin.errors import ConflictError, InvalidInputError, InvalidParameterError, TwinError

__all__ = [
    "ERRORS_DOMAIN",
    "ERR_ACTION_NOT_YET",
    "ERR_DOSE_NOT_A_NUMBER",
    "ERR_DOSE_OUT_OF_RANGE",
    "ERR_ENDED_DIED",
    "ERR_ENDED_TIME",
    "ERR_INFO_NEEDS",
    "ERR_INFO_NOT_YET",
    "ERR_MINUTES_NOT_POSITIVE",
    "ERR_NOT_A_NUMBER",
    "ERR_NOT_A_NUMBER_HINT",
    "ERR_NOT_FINITE",
    "ERR_NO_DOSE",
    "ERR_SESSION_CLOSED",
    "ERR_UNKNOWN_ACTION",
    "ERR_UNKNOWN_INFO",
    "LEARNER_MESSAGES",
    "LearnerConflictError",
    "LearnerError",
    "LearnerMessageError",
    "Param",
    "error_catalog_files",
]

#: The gettext domain of the learner-facing errors (apart from the cases' ``healthtwin``).
ERRORS_DOMAIN: Final = "errors"
#: What a parameter may be (as in :class:`~healthtwin.education.record.Message`).
Param = str | float | Quantity

ERR_DOSE_OUT_OF_RANGE: Final = (
    'The dose {dose} for "{action}" is outside the allowed range {low} to {high}; '
    "give a dose in that range."
)
ERR_DOSE_NOT_A_NUMBER: Final = 'The dose for "{action}" must be a finite number, got {dose}.'
ERR_NO_DOSE: Final = '"{action}" takes no dose; got {dose}.'
ERR_ACTION_NOT_YET: Final = (
    '"{action}" is available from minute {from_min}; it is minute {now_min}.'
)
ERR_UNKNOWN_ACTION: Final = "This case has no action {action_id}; its actions are {actions}."
ERR_UNKNOWN_INFO: Final = "This case has no information {info_id}; its items are {items}."
ERR_INFO_NEEDS: Final = (
    '"{info}" cannot be asked for yet: ask for {needed} first. Available now: {available}.'
)
ERR_INFO_NOT_YET: Final = (
    '"{info}" is available from minute {from_min}; it is minute {now_min}. '
    "Available now: {available}."
)
ERR_MINUTES_NOT_POSITIVE: Final = "The minutes to wait must be a positive number, got {minutes}."
ERR_ENDED_DIED: Final = "The session ended at minute {minute}: the patient died. Read the report."
ERR_ENDED_TIME: Final = (
    "The session ended at minute {minute}: the case's time is over. Read the report."
)
ERR_SESSION_CLOSED: Final = "This training session has ended; read its report at {report}."
ERR_NOT_A_NUMBER: Final = (
    "'{text}' is not a number as your language writes it (decimal separator '{separator}')."
)
ERR_NOT_A_NUMBER_HINT: Final = (
    "'{text}' is not a number as your language writes it (decimal separator "
    "'{separator}'); did you mean '{suggestion}'?"
)
ERR_NOT_FINITE: Final = "'{text}' is not a finite number; type a plain value."

#: Every message id of the ``errors`` domain, in catalog order.
LEARNER_MESSAGES: Final = (
    ERR_DOSE_OUT_OF_RANGE,
    ERR_DOSE_NOT_A_NUMBER,
    ERR_NO_DOSE,
    ERR_ACTION_NOT_YET,
    ERR_UNKNOWN_ACTION,
    ERR_UNKNOWN_INFO,
    ERR_INFO_NEEDS,
    ERR_INFO_NOT_YET,
    ERR_MINUTES_NOT_POSITIVE,
    ERR_ENDED_DIED,
    ERR_ENDED_TIME,
    ERR_SESSION_CLOSED,
    ERR_NOT_A_NUMBER,
    ERR_NOT_A_NUMBER_HINT,
    ERR_NOT_FINITE,
)


class LearnerMessageError(TwinError):
    """An error whose text a learner reads: ``msgid`` of the ``errors`` domain + ``params``.

    Parameters
    ----------
    msgid : str
        One of :data:`LEARNER_MESSAGES`.
    params : mapping, optional
        The values of its placeholders (more keys are allowed and travel with the error).
    english : str, optional
        ``str(error)``; default the message id filled in plainly.

    Raises
    ------
    InvalidParameterError
        If ``msgid`` is not in :data:`LEARNER_MESSAGES` (it would have no translation).
    """

    def __init__(
        self,
        msgid: str,
        params: Mapping[str, Param] | None = None,
        *,
        english: str | None = None,
    ) -> None:
        if msgid not in LEARNER_MESSAGES:
            raise InvalidParameterError(
                f"{msgid!r} is not a learner message id; add it to LEARNER_MESSAGES and "
                "regenerate the errors catalogs"
            )
        self.msgid = msgid
        self.params: dict[str, Param] = dict(params or {})
        super().__init__(english if english is not None else _plain(msgid, self.params))

    def message(self) -> Message:
        """The error as a message for :meth:`~healthtwin.education.i18n.Localizer.render_error`."""
        return Message(self.msgid, dict(self.params), "alert")

    def plain_params(self) -> dict[str, Any]:
        """The parameters as JSON (a quantity as ``{"value", "unit"}``, canonical)."""
        return {
            key: {"value": v.value, "unit": v.unit} if isinstance(v, Quantity) else v
            for key, v in self.params.items()
        }


class LearnerError(LearnerMessageError, InvalidInputError):
    """A learner's move or entry that cannot be taken (HTTP 400, CLI exit code 2)."""


class LearnerConflictError(LearnerMessageError, ConflictError):
    """A move on a session that no longer takes moves (HTTP 409)."""


def _plain(msgid: str, params: Mapping[str, Param]) -> str:
    def text(value: Param) -> str:
        if isinstance(value, Quantity):
            return f"{value.value:g} {value.unit}".rstrip()
        return f"{value:g}" if isinstance(value, float | int) else value

    return msgid.format_map({key: text(value) for key, value in params.items()})


# --- the catalogs ---------------------------------------------------------------------------

_HEADER = (
    "# Learner-facing error messages of the healthtwin training sessions.\n"
    "# Generated by python -m healthtwin.education.learner_errors; translate msgstr only."
)
_LANGUAGES = ("de", "es", "fr", "zh")
# Files only, no lines (as in the cases' catalogs): babel's stubs say int, it takes None.
_LOCATIONS: list[Any] = [("src/healthtwin/education/learner_errors.py", None)]


def _catalog(language: str | None) -> Catalog:
    return Catalog(
        locale=language,
        domain=ERRORS_DOMAIN,
        header_comment=_HEADER,
        project="healthtwin",
        version="0.1",
        copyright_holder="healthtwin developers",
        msgid_bugs_address="",
        last_translator="healthtwin developers",
        language_team=f"healthtwin {language or 'template'}",
        fuzzy=False,
    )


def _po_text(catalog: Catalog) -> str:
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=0, omit_header=False, sort_output=False)
    lines = buffer.getvalue().decode("utf-8").splitlines()
    # No dates: regenerating unchanged catalogs changes nothing.
    volatile = ('"POT-Creation-Date', '"PO-Revision-Date', '"Generated-By')
    return "\n".join(line for line in lines if not line.startswith(volatile)) + "\n"


def error_catalog_files(locale_dir: Path | None = None) -> dict[Path, str]:
    """The text each ``errors`` catalog file should have, keyed by its path.

    The template lists :data:`LEARNER_MESSAGES`; each language keeps the translations its
    catalog already has (a fuzzy one is dropped) and gets an empty one for a new id.

    Examples
    --------
    >>> files = error_catalog_files()
    >>> [p.relative_to(p.parents[2]).as_posix() for p in files][1:3]
    ['de/LC_MESSAGES/errors.po', 'es/LC_MESSAGES/errors.po']
    """
    from importlib import resources

    root = locale_dir or Path(str(resources.files("healthtwin.education").joinpath("locale")))
    template = _catalog(None)
    for msgid in LEARNER_MESSAGES:
        template.add(msgid, locations=_LOCATIONS)
    files = {root / f"{ERRORS_DOMAIN}.pot": _po_text(template)}
    for language in _LANGUAGES:
        path = root / language / "LC_MESSAGES" / f"{ERRORS_DOMAIN}.po"
        old: Catalog | None = None
        if path.is_file():
            with path.open("rb") as handle:
                old = read_po(handle, locale=language, domain=ERRORS_DOMAIN)
        catalog = _catalog(language)
        for msgid in LEARNER_MESSAGES:
            found = old.get(msgid) if old is not None else None
            string = found.string if found is not None and not found.fuzzy else ""
            catalog.add(msgid, string, locations=_LOCATIONS)
        files[path] = _po_text(catalog)
    return files


def _main() -> int:
    for path, text in error_catalog_files().items():
        if not path.is_file() or path.read_text("utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, "utf-8")
            print(f"written: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
