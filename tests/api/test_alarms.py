"""Surveillance alarms over a real uvicorn server: series in, ranked alarms out."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tests.api.v1_server import running


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with (
        running(tmp_path_factory.mktemp("alarms")) as (root, _, _),
        httpx.Client(base_url=f"{root}/api/v1", timeout=60) as http,
    ):
        yield http


def test_an_empty_board_has_no_alarms(client: httpx.Client) -> None:
    report = client.get("/alarms").json()
    assert (report["n_series"], report["alarms"]) == (0, [])


def test_an_outbreak_week_is_ranked_first_with_its_neighbour_quiet(client: httpx.Client) -> None:
    steady = [10, 12, 9, 11, 10, 13, 9, 10, 11, 12, 10]
    for country in ("FR", "BE"):
        body = {"country": country, "disease": "measles", "start": "2024-01-01", "counts": steady}
        assert client.post("/alarms/series", json=body).status_code == 201
    week = {
        "week": "2024-03-18",
        "counts": [
            {"country": "FR", "disease": "measles", "count": 80},
            {"country": "BE", "disease": "measles", "count": 11},
        ],
    }
    assert client.post("/alarms/weeks", json=week).status_code == 201
    report = client.get("/alarms").json()
    assert report["week"] == "2024-03-18"
    assert report["n_series"] == 2
    [alarm] = report["alarms"]
    assert (alarm["rank"], alarm["country"], alarm["observed"]) == (1, "FR", 80.0)
    assert alarm["exceedance_ratio"] > 1


def test_a_repeated_series_is_a_problem(client: httpx.Client) -> None:
    body = {"country": "DE", "disease": "flu", "start": "2024-01-01", "counts": [1, 2]}
    assert client.post("/alarms/series", json=body).status_code == 201
    again = client.post("/alarms/series", json=body)
    assert again.status_code == 400
    assert again.headers["content-type"].startswith("application/problem+json")
