"""The dashboard's pages, static files and response headers.

:data:`dashboard_router` serves the HTML views (Jinja2, autoescaped) and the static files
(``app.js``, ``dashboard.css`` and ``plotly.min.js`` read from the installed ``plotly``
package; ``GET`` and ``HEAD``, with an ``ETag``). :class:`DashboardHeaders` gives pages
under ``/dashboard`` a Content-Security-Policy that lets them load their own scripts and
styles (and nothing from elsewhere), and lets browsers keep the static files for a day
(:data:`STATIC_CACHE`); pages and the API keep ``Cache-Control: no-store`` and the API
its stricter policy. Errors under ``/dashboard`` are answered for a person, as a small
HTML page (:func:`error_page`), not as FHIR JSON. Jinja2 and plotly are the optional extra
``healthtwin[dashboard]``, imported when a page is first served.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from dataclasses import dataclass
from functools import cache
from http import HTTPStatus
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from healthtwin.errors import InvalidInputError, MissingDependencyError, NotFoundError

__all__ = [
    "DASHBOARD_CSP",
    "NAVIGATION",
    "PREFIX",
    "STATIC_CACHE",
    "DashboardHeaders",
    "NavItem",
    "dashboard_router",
    "error_page",
    "plotly_js_path",
]

PREFIX = "/dashboard"
#: Own scripts only; Plotly sets inline styles on the SVG it draws, hence style 'unsafe-inline'.
DASHBOARD_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; font-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)
_STATIC = {
    "app.js": "text/javascript",
    "dashboard.css": "text/css",
    "education.js": "text/javascript",
    "vitals.js": "text/javascript",
    "worlds.js": "text/javascript",
}
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
#: Static files hold no data and change only with the package: browsers keep them a day.
STATIC_CACHE = "public, max-age=86400"
_STATIC_PREFIX = PREFIX + "/static/"

dashboard_router = APIRouter(prefix=PREFIX, include_in_schema=False)


@dataclass(frozen=True)
class NavItem:
    """One entry of the views' navigation: ``key`` is the ``active`` name of its pages."""

    key: str
    label: str
    href: str


#: The navigation of every page, in order; a new view is one more entry here.
NAVIGATION = (
    NavItem("overview", "Overview", f"{PREFIX}/"),
    NavItem("hospitals", "Hospitals", f"{PREFIX}/hospitals"),
    NavItem("worlds", "Worlds", f"{PREFIX}/worlds"),
    NavItem("global", "Global alarms", f"{PREFIX}/global"),
    NavItem("governance", "Governance", f"{PREFIX}/governance"),
    NavItem("education", "Education", f"{PREFIX}/education"),
)

Scope = Any
Receive = Any
Send = Any


class DashboardHeaders:
    """ASGI middleware: the dashboard's Content-Security-Policy on pages under ``/dashboard``.

    Successful answers for static files (``/dashboard/static/*``) get
    :data:`STATIC_CACHE` instead of ``no-store``. Put it outside any middleware that sets
    the API's policy or ``Cache-Control``, so it has the last word.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return

        static = path.startswith(_STATIC_PREFIX)

        async def send_with_policy(message: Any) -> None:
            if message["type"] == "http.response.start":
                cached = static and message.get("status") in (200, 304)
                replaced = {b"content-security-policy", *([b"cache-control"] if cached else [])}
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in replaced]
                added = [(b"content-security-policy", DASHBOARD_CSP.encode())]
                if cached:
                    added.append((b"cache-control", STATIC_CACHE.encode()))
                message["headers"] = [*kept, *added]
            await send(message)

        await self.app(scope, receive, send_with_policy)


def plotly_js_path() -> Path:
    """The ``plotly.min.js`` shipped inside the installed ``plotly`` Python package.

    Raises
    ------
    MissingDependencyError
        If plotly is not installed, or ships no ``plotly.min.js``.

    Examples
    --------
    >>> plotly_js_path().name
    'plotly.min.js'
    """
    spec = importlib.util.find_spec("plotly")
    if spec is None or spec.origin is None:
        raise MissingDependencyError(
            "the dashboard needs plotly: pip install 'healthtwin[dashboard]'"
        )
    path = Path(spec.origin).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise MissingDependencyError(
            f"the installed plotly ships no {path}; reinstall it with "
            "pip install 'healthtwin[dashboard]'"
        )
    return path


@cache
def _environment() -> Any:
    try:
        import jinja2
    except ImportError as err:
        raise MissingDependencyError(
            "the dashboard needs Jinja2: pip install 'healthtwin[dashboard]'"
        ) from err
    return jinja2.Environment(
        loader=jinja2.PackageLoader("healthtwin.dashboard", "templates"),
        autoescape=jinja2.select_autoescape(("html",)),
        undefined=jinja2.StrictUndefined,
    )


def render(template: str, **context: Any) -> str:
    """A page rendered from ``templates/<template>`` (``navigation`` defaults to the views').

    Examples
    --------
    >>> page = render("governance.html", title="Governance", active="governance",
    ...               purpose_header="X-Purpose-Of-Use")
    >>> "<main" in page
    True
    """
    context.setdefault("navigation", NAVIGATION)
    rendered: str = _environment().get_template(template).render(**context)
    return rendered


def _page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    state = getattr(request.scope.get("app"), "state", None)
    header = getattr(getattr(state, "security", None), "purpose_header", "X-Purpose-Of-Use")
    return HTMLResponse(render(template, purpose_header=header, **context), status_code=status)


def _checked(value: str, what: str) -> str:
    if not _ID.match(value):
        raise InvalidInputError(
            f"{what} {value[:80]!r} is not an id (1-64 letters, digits, '-' or '.')"
        )
    return value


@dashboard_router.get("", response_class=HTMLResponse)
@dashboard_router.get("/", response_class=HTMLResponse)
def overview(request: Request) -> HTMLResponse:
    """Twins, scenario runs and the alarm board."""
    return _page(request, "index.html", title="Overview", active="overview")


@dashboard_router.get("/patients/{twin_id}", response_class=HTMLResponse)
def patient(request: Request, twin_id: str) -> HTMLResponse:
    """One patient twin."""
    twin_id = _checked(twin_id, "twin id")
    return _page(
        request, "patient.html", title=f"Patient twin {twin_id}", active="patients", twin_id=twin_id
    )


@dashboard_router.get("/regions/{job_id}", response_class=HTMLResponse)
def region(request: Request, job_id: str) -> HTMLResponse:
    """One region scenario run."""
    job_id = _checked(job_id, "scenario job id")
    return _page(
        request, "region.html", title=f"Region scenario {job_id}", active="regions", job_id=job_id
    )


@dashboard_router.get("/hospitals", response_class=HTMLResponse)
def hospitals(request: Request) -> HTMLResponse:
    """The first hospital twin (a chooser lists the others)."""
    return _page(request, "hospital.html", title="Hospital", active="hospitals", hospital_id="")


@dashboard_router.get("/hospitals/{hospital_id}", response_class=HTMLResponse)
def hospital(request: Request, hospital_id: str) -> HTMLResponse:
    """One hospital twin: census, predicted occupancy, queues and alerts."""
    hospital_id = _checked(hospital_id, "hospital id")
    return _page(
        request,
        "hospital.html",
        title=f"Hospital {hospital_id}",
        active="hospitals",
        hospital_id=hospital_id,
    )


@dashboard_router.get("/global", response_class=HTMLResponse)
def global_alarms(request: Request) -> HTMLResponse:
    """The global alarm board by country and disease."""
    return _page(request, "global.html", title="Global alarm board", active="global")


@dashboard_router.get("/worlds", response_class=HTMLResponse)
def worlds(request: Request) -> HTMLResponse:
    """The world runs, and the newest finished one by country."""
    return _page(request, "worlds.html", title="World runs", active="worlds", job_id="")


@dashboard_router.get("/worlds/{job_id}", response_class=HTMLResponse)
def world(request: Request, job_id: str) -> HTMLResponse:
    """One world run: key numbers and national bands per country."""
    job_id = _checked(job_id, "world run id")
    return _page(
        request, "worlds.html", title=f"World run {job_id}", active="worlds", job_id=job_id
    )


@dashboard_router.get("/governance", response_class=HTMLResponse)
def governance(request: Request) -> HTMLResponse:
    """Audit trail and model cards."""
    return _page(request, "governance.html", title="Governance", active="governance")


@dashboard_router.api_route("/static/{name}", methods=["GET", "HEAD"])
def static(request: Request, name: str) -> Response:
    """The dashboard's script and style sheet, and Plotly.js from the plotly package.

    Each answer carries an ``ETag``; a request whose ``If-None-Match`` holds it gets
    ``304 Not Modified`` and no body.
    """
    if name == "plotly.min.js":
        path = plotly_js_path()
        stat = path.stat()
        tag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
        if _fresh(request, tag):
            return Response(status_code=304, headers={"ETag": tag})
        return FileResponse(path, media_type="text/javascript", headers={"ETag": tag})
    if name not in _STATIC:
        raise NotFoundError(f"no dashboard file {name[:80]!r}")
    text = _static_text(name)
    tag = f'"{hashlib.sha256(text.encode()).hexdigest()[:32]}"'
    if _fresh(request, tag):
        return Response(status_code=304, headers={"ETag": tag})
    return Response(text, media_type=_STATIC[name], headers={"ETag": tag})


@cache
def _static_text(name: str) -> str:
    return (resources.files("healthtwin.dashboard") / "static" / name).read_text(encoding="utf-8")


def _fresh(request: Request, tag: str) -> bool:
    """Whether the browser's copy (``If-None-Match``) is the current one."""
    asked = request.headers.get("if-none-match", "")
    return tag in {t.strip().removeprefix("W/") for t in asked.split(",")}


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    """An error under ``/dashboard`` as a small, accessible HTML page (status kept).

    ``message`` is escaped (the page may repeat what was asked, such as an id).

    Examples
    --------
    >>> from starlette.requests import Request
    >>> request = Request({"type": "http", "method": "GET", "path": "/dashboard/x",
    ...                    "headers": [], "query_string": b""})
    >>> page = error_page(request, 404, "no page <b>x</b>")
    >>> page.status_code, "no page &lt;b&gt;x&lt;/b&gt;" in page.body.decode()
    (404, True)
    """
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    return _page(
        request, "error.html", status, title=f"{status} {phrase}", active="", code=status,
        phrase=phrase, message=message,
    )  # fmt: skip
