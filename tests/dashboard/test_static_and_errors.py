"""Static files are cached by browsers, pages are not, and errors are pages (issue 14).

``plotly.min.js`` (about 4.8 MB) was served with ``Cache-Control: no-store`` and refused
``HEAD``; errors under ``/dashboard`` came back as FHIR JSON to a browser.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.api.v1_server import running
from tests.conftest import require


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """An httpx client on the app served by uvicorn on a free loopback port."""
    require("jinja2", "dashboard")
    require("plotly", "dashboard")
    folder: Path = tmp_path_factory.mktemp("dashboard-static")
    with running(folder) as (root, _, _), httpx.Client(base_url=root, timeout=30) as served:
        yield served


@pytest.mark.parametrize("name", ["plotly.min.js", "app.js", "dashboard.css"])
def test_static_files_are_cached_for_a_day_with_an_etag(client: Any, name: str) -> None:
    got = client.get(f"/dashboard/static/{name}")
    assert got.status_code == 200
    assert got.headers["cache-control"] == "public, max-age=86400"
    tag = got.headers["etag"]
    assert tag.startswith('"')
    assert "content-security-policy" in got.headers
    again = client.get(f"/dashboard/static/{name}", headers={"If-None-Match": tag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["cache-control"] == "public, max-age=86400"


def test_static_files_answer_head_without_a_body(client: Any) -> None:
    full = client.get("/dashboard/static/plotly.min.js")
    head = client.head("/dashboard/static/plotly.min.js")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(full.content)) != "0"
    assert head.headers["cache-control"] == "public, max-age=86400"
    assert client.head("/dashboard/static/app.js").status_code == 200


def test_pages_and_the_api_keep_no_store(client: Any) -> None:
    assert client.get("/dashboard/").headers["cache-control"] == "no-store"
    assert client.get("/dashboard/governance").headers["cache-control"] == "no-store"
    # A missing static file is an error, not something to keep.
    missing = client.get("/dashboard/static/nothing.js")
    assert missing.status_code == 404
    assert missing.headers["cache-control"] == "no-store"


def test_an_unknown_dashboard_page_is_an_html_404(client: Any) -> None:
    got = client.get("/dashboard/nope")
    assert got.status_code == 404
    assert got.headers["content-type"].startswith("text/html")
    assert "<h1>404 Not Found</h1>" in got.text
    assert 'role="alert"' in got.text
    assert '<html lang="en">' in got.text
    assert "resourceType" not in got.text


def test_a_bad_id_is_an_html_400_with_the_input_escaped(client: Any) -> None:
    got = client.get("/dashboard/patients/%3Cscript%3Ealert(1)")
    assert got.status_code == 400
    assert got.headers["content-type"].startswith("text/html")
    assert "<script>alert(1)" not in got.text
    assert "&lt;script&gt;alert(1)" in got.text
    assert "not an id" in got.text


def test_the_api_still_answers_errors_as_json(client: Any) -> None:
    fhir = client.get("/fhir/Patient/does-not-exist")
    assert fhir.status_code == 404
    assert fhir.json()["resourceType"] == "OperationOutcome"
