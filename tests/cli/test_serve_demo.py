"""``healthtwin serve``: a real server process, its port checks and where the demo goes.

The demo test starts ``healthtwin serve --demo`` as a subprocess on a free port, reads the
printed address and development token, asks the twin API and the dashboard, and stops it.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.conftest import require

from healthtwin.cli import main

ADDRESS = re.compile(r"Dashboard: (http://127\.0\.0\.1:(\d+))/dashboard/#token=(\S+)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _environment(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "HEALTHTWIN_DATA_DIR": str(tmp_path / "data"), "PYTHONUNBUFFERED": "1"}
    env.pop("HEALTHTWIN_DATABASE_URL", None)
    return env


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str, subprocess.Popen[str]]]:
    """``healthtwin serve --demo`` on a free port: its root URL, token and process."""
    require("uvicorn", "api")
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "healthtwin", "serve", "--demo", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_environment(tmp_path),
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # the address comes once the port is bound
        found = ADDRESS.search(line)
        if found is None:
            process.kill()
            pytest.fail(f"no dashboard address printed: {line!r} {process.communicate()[1]}")
        assert int(found.group(2)) == port
        root, token = found.group(1), found.group(3)
        deadline = time.monotonic() + 30
        while True:  # the port is bound before uvicorn serves on it
            try:
                httpx.get(f"{root}/dashboard/static/app.js", timeout=5)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail("the server did not answer within 30 s")
                time.sleep(0.05)
        yield root, token, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()


def test_serve_demo_answers_the_api_and_the_dashboard(
    served: tuple[str, str, subprocess.Popen[str]],
) -> None:
    root, token, process = served
    headers = {"Authorization": f"Bearer {token}", "X-Purpose-Of-Use": "TREAT"}
    twins = httpx.get(f"{root}/api/v1/twins", headers=headers, timeout=30)
    assert twins.status_code == 200, twins.text
    assert "twin-demo-" in twins.text  # the demo's patient twins
    assert httpx.get(f"{root}/api/v1/twins", timeout=30).status_code == 401
    page = httpx.get(f"{root}/dashboard/", timeout=30)
    assert page.status_code == 200
    assert "<h1>Overview</h1>" in page.text
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=15)
    assert "temporary SQLite file" in err
    # The temporary demo database went away with the server.
    named = re.search(r"temporary SQLite file, (\S+demo\.sqlite),", err)
    assert named is not None
    assert not Path(named.group(1)).exists()


def test_a_port_out_of_range_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", "99999"]) == 2
    assert "99999" in capsys.readouterr().err
    assert main(["serve", "--port", "0"]) == 2


def test_a_taken_port_is_refused_before_any_address_is_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    require("uvicorn", "api")
    monkeypatch.setenv("HEALTHTWIN_DATA_DIR", str(tmp_path / "data"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code = main(["serve", "--port", str(port), "--database", f"sqlite:///{tmp_path}/s.db"])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""  # no dashboard address for a server that cannot start
    assert f"cannot listen on 127.0.0.1:{port}" in captured.err
    assert "--port" in captured.err
    assert "DEVELOPMENT MODE" not in captured.err
