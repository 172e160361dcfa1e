"""The dashboard's education view: play a virtual patient in the browser.

``/dashboard/education`` lists the training cases (titles in the chosen language) and starts
one; ``/dashboard/education/{session}`` plays it: vitals and a Plotly chart of the monitor
and of the results shown, buttons and forms for the actions (dose inputs labelled with the
learner's units) and the information requests, "advance" buttons, the message log, and at
the end the score and the debrief bands. Like every dashboard page it holds no data: the
script ``static/education.js`` reads and writes everything through the governed
``/api/v1/education`` routes (:mod:`healthtwin.api.education`), which render the text in
the learner's language and units.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from healthtwin.dashboard.pages import PREFIX, render
from healthtwin.errors import InvalidInputError

__all__ = ["LOCALE_CHOICES", "education_pages_router"]

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


def _page(request: Request, session_id: str) -> HTMLResponse:
    security = getattr(request.app.state, "security", None)
    header = getattr(security, "purpose_header", "X-Purpose-Of-Use")
    title = "Education" if not session_id else "Training session"
    return HTMLResponse(
        render(
            "education.html",
            title=title,
            active="education",
            purpose_header=header,
            session_id=session_id,
            locales=LOCALE_CHOICES,
        )
    )


@education_pages_router.get("", response_class=HTMLResponse)
@education_pages_router.get("/", response_class=HTMLResponse)
def education(request: Request) -> HTMLResponse:
    """Choose a training case, a language and a patient, and start."""
    return _page(request, "")


@education_pages_router.get("/{session_id}", response_class=HTMLResponse)
def education_session(request: Request, session_id: str) -> HTMLResponse:
    """Play (or review) one training session."""
    if not (0 < len(session_id) <= 64 and session_id.replace("-", "").isalnum()):
        raise InvalidInputError(
            f"training session id {session_id[:80]!r} is not an id (letters, digits, '-')"
        )
    return _page(request, session_id)
