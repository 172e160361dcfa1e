"""The dashboard's education view: play a virtual patient in the browser.

``/dashboard/education`` lists the training cases (titles in the chosen language) and starts
one; ``/dashboard/education/{session}`` plays it: vitals and a Plotly chart of the monitor
and of the results shown, buttons and forms for the actions (dose inputs labelled with the
learner's units) and the information requests, "advance" buttons, the message log, and at
the end the score and the debrief bands. Like every dashboard page it holds no data: the
script ``static/education.js`` reads and writes everything through the governed
``/api/v1/education`` routes (:mod:`healthtwin.api.education`), which render the text in
the learner's language and units.

The page itself is in the learner's language too (:mod:`healthtwin.education.ui_text`):
a session page in its session's language, the start page in ``?locale=`` or else the first
supported language of the browser's ``Accept-Language`` (else English). The template gets
the page's texts; the script gets its own as a JSON data block (not executable, so the
Content-Security-Policy's ``script-src 'self'`` still holds).
"""

from __future__ import annotations

from functools import lru_cache

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from healthtwin.dashboard.pages import PREFIX, render
from healthtwin.education.i18n import LocaleChoice, Localizer, resolve_locale
from healthtwin.education.ui_text import SCRIPT_TEXT, interface_text
from healthtwin.errors import InvalidInputError

__all__ = ["LOCALE_CHOICES", "education_pages_router", "page_locale"]

education_pages_router = APIRouter(prefix=f"{PREFIX}/education", include_in_schema=False)
#: The locales offered on the start form: (tag, name in its own language).
LOCALE_CHOICES = (
    ("en", "English (UK)"),
    ("en_US", "English (US)"),
    ("de", "Deutsch"),
    ("es", "Español"),
    ("fr", "Français"),
    ("zh", "中文"),
)
_MAX_LANGUAGE_RANGES = 20


def page_locale(query: str | None, accept_language: str | None) -> LocaleChoice:
    """The locale of a page: ``query`` if given, else the browser's preference, else en.

    Parameters
    ----------
    query : str or None
        The ``?locale=`` of the address (``de``, ``en_US``...).
    accept_language : str or None
        The ``Accept-Language`` header; its first supported language range by quality
        wins (``*`` and unsupported ranges are skipped).

    Raises
    ------
    InvalidInputError
        If ``query`` is not a supported locale (the supported ones are named).

    Examples
    --------
    >>> page_locale(None, "ja;q=1, fr-CA;q=0.8, de;q=0.9").tag
    'de'
    >>> page_locale("en-US", "de").tag, page_locale(None, None).tag
    ('en_US', 'en')
    """
    if query:
        return resolve_locale(query)
    ranges = []
    for k, part in enumerate((accept_language or "").split(",")[:_MAX_LANGUAGE_RANGES]):
        tag, _, params = part.strip().partition(";")
        quality = params.strip().removeprefix("q=") if params.strip().startswith("q=") else "1"
        try:
            ranges.append((-float(quality), k, tag.strip()))
        except ValueError:
            continue
    for negative_quality, _, tag in sorted(ranges):
        if tag and tag != "*" and negative_quality < 0:
            try:
                return resolve_locale(tag)
            except InvalidInputError:
                continue
    return resolve_locale("en")


@lru_cache(maxsize=8)
def _texts(language: str) -> tuple[tuple[str, str], ...]:
    # Compiling a catalog takes milliseconds: once per language, kept immutable.
    return tuple(interface_text(Localizer(language)).items())


def _page(request: Request, session_id: str, choice: LocaleChoice) -> HTMLResponse:
    security = getattr(request.app.state, "security", None)
    header = getattr(security, "purpose_header", "X-Purpose-Of-Use")
    texts = dict(_texts(choice.language))
    tags = {tag for tag, _ in LOCALE_CHOICES}
    selected = choice.tag if choice.tag in tags else choice.language
    return HTMLResponse(
        render(
            "education.html",
            title=texts["title_session" if session_id else "title_start"],
            active="education",
            purpose_header=header,
            session_id=session_id,
            locales=LOCALE_CHOICES,
            selected_locale=selected,
            language=choice.language,
            t=texts,
            script_text={k: texts[k] for k in SCRIPT_TEXT},
        )
    )


def _locale_query(request: Request) -> str | None:
    value = request.query_params.get("locale")
    if value is not None and not 2 <= len(value) <= 20:
        raise InvalidInputError(f"?locale={value[:40]!r} is not a locale; give e.g. de or en_US")
    return value


@education_pages_router.get("", response_class=HTMLResponse)
@education_pages_router.get("/", response_class=HTMLResponse)
def education(request: Request) -> HTMLResponse:
    """Choose a training case, a language and a patient, and start."""
    choice = page_locale(_locale_query(request), request.headers.get("accept-language"))
    return _page(request, "", choice)


@education_pages_router.get("/{session_id}", response_class=HTMLResponse)
def education_session(request: Request, session_id: str) -> HTMLResponse:
    """Play (or review) one training session, in its own language."""
    if not (0 < len(session_id) <= 64 and session_id.replace("-", "").isalnum()):
        raise InvalidInputError(
            f"training session id {session_id[:80]!r} is not an id (letters, digits, '-')"
        )
    # Only the language of a held session is read here (its id is unguessable); its data
    # stay behind the governed API.
    registry = getattr(request.app.state, "education", None)
    held = registry.find(session_id) if registry is not None else None
    query = getattr(held, "locale", None) or _locale_query(request)
    choice = page_locale(query, request.headers.get("accept-language"))
    return _page(request, session_id, choice)
